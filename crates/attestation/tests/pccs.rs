//! Collateral sources: a file, a directory, and a PCCS served by a tiny local HTTP server.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use attestation::dcap::{self, CollateralError, QuotePlatform};
use attestation::pccs::PccsClient;
use attestation::{CollateralSource, TcbStatus};
use common::*;

/// Every byte but unreserved ones as %XX, as Intel's PCS encodes issuer chain headers.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A PCCS on 127.0.0.1 serving the SGX sample collateral over the PCS v4 paths. Serves at
/// most `max_requests` connections, then its thread ends.
fn serve_pccs(max_requests: usize) -> (String, Arc<AtomicUsize>) {
    let c: serde_json::Value = serde_json::from_slice(SGX_COLLATERAL).unwrap();
    let s = move |k: &str| c[k].as_str().unwrap().to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let mut stream: TcpStream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_owned();
            counter.fetch_add(1, Ordering::SeqCst);
            let (status, header, body): (&str, Option<(&str, String)>, Vec<u8>) =
                match path.as_str() {
                    "/sgx/certification/v4/pckcrl?ca=processor&encoding=der" => (
                        "200 OK",
                        Some(("SGX-PCK-CRL-Issuer-Chain", s("pck_crl_issuer_chain"))),
                        hex::decode(s("pck_crl")).unwrap(),
                    ),
                    "/sgx/certification/v4/tcb?fmspc=00A067110000" => (
                        "200 OK",
                        Some(("TCB-Info-Issuer-Chain", s("tcb_info_issuer_chain"))),
                        format!(
                            r#"{{"tcbInfo":{},"signature":"{}"}}"#,
                            s("tcb_info"),
                            s("tcb_info_signature")
                        )
                        .into_bytes(),
                    ),
                    "/sgx/certification/v4/qe/identity" => (
                        "200 OK",
                        Some((
                            "SGX-Enclave-Identity-Issuer-Chain",
                            s("qe_identity_issuer_chain"),
                        )),
                        format!(
                            r#"{{"enclaveIdentity":{},"signature":"{}"}}"#,
                            s("qe_identity"),
                            s("qe_identity_signature")
                        )
                        .into_bytes(),
                    ),
                    "/sgx/certification/v4/rootcacrl" => {
                        ("200 OK", None, s("root_ca_crl").into_bytes())
                    }
                    _ => ("404 Not Found", None, b"not found".to_vec()),
                };
            let mut response = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            if let Some((name, value)) = header {
                response.push_str(&format!("{name}: {}\r\n", percent_encode(&value)));
            }
            response.push_str("\r\n");
            stream.write_all(response.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
            let _ = stream.flush();
            let mut rest = Vec::new();
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = reader.read_to_end(&mut rest);
        }
    });
    (base, served)
}

#[test]
fn pccs_fetch_matches_the_sample_and_verifies() {
    let (base, served) = serve_pccs(8);
    let platform = QuotePlatform::of(SGX_QUOTE).unwrap();
    let fetched = PccsClient::new(&base).fetch(&platform).unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 4);
    assert_eq!(fetched, sgx_collateral());
    let claims = dcap::verify(SGX_QUOTE, &fetched, at()).unwrap();
    assert_eq!(
        claims.tcb_status,
        TcbStatus::ConfigurationAndSWHardeningNeeded
    );
}

#[test]
fn pccs_cache_is_keyed_by_fmspc_and_ca_and_works_offline() {
    let (base, served) = serve_pccs(8);
    let cache = tempfile::tempdir().unwrap();
    let source = CollateralSource::Pccs(PccsClient::new(&base).with_cache_dir(cache.path()));
    let first = source.collateral_for(SGX_QUOTE, at()).unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 4);
    assert!(cache
        .path()
        .join("sgx-00A067110000-processor.json")
        .is_file());

    // A fresh cache entry is used without any request.
    let second = source.collateral_for(SGX_QUOTE, at()).unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 4);
    assert_eq!(first, second);

    // The cache is an offline collateral directory.
    let offline = CollateralSource::Dir(cache.path().to_owned());
    let collateral = offline.collateral_for(SGX_QUOTE, at()).unwrap();
    dcap::verify(SGX_QUOTE, &collateral, at()).unwrap();
}

#[test]
fn unreachable_pccs_is_a_clear_error() {
    // Bind then drop: nothing listens on the port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = CollateralSource::Pccs(PccsClient::new(&format!("http://127.0.0.1:{port}")));
    let err = source.collateral_for(SGX_QUOTE, at()).unwrap_err();
    let text = chain(&err);
    assert!(
        text.starts_with(&format!(
            "fetching collateral from the pccs: request to http://127.0.0.1:{port}/sgx/certification/v4/pckcrl?ca=processor&encoding=der failed"
        )),
        "{text}"
    );
}

#[test]
fn pccs_error_status_is_named() {
    let (base, _) = serve_pccs(2);
    let mut platform = QuotePlatform::of(SGX_QUOTE).unwrap();
    platform.ca = "platform";
    let err = PccsClient::new(&base).fetch(&platform).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{base}/sgx/certification/v4/pckcrl?ca=platform&encoding=der answered http 404")
    );
}

#[test]
fn file_and_dir_sources() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("collateral.json");
    std::fs::write(&file, SGX_COLLATERAL).unwrap();
    let collateral = CollateralSource::File(file)
        .collateral_for(SGX_QUOTE, at())
        .unwrap();
    assert_eq!(collateral, sgx_collateral());

    let err = CollateralSource::Dir(dir.path().to_owned())
        .collateral_for(TDX_QUOTE, at())
        .unwrap_err();
    assert!(matches!(err, CollateralError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "no collateral for tdx fmspc B0C06F000000 (pck ca platform): expected {}",
            dir.path().join("tdx-B0C06F000000-platform.json").display()
        )
    );
    std::fs::write(
        dir.path().join("tdx-B0C06F000000-platform.json"),
        TDX_COLLATERAL,
    )
    .unwrap();
    let collateral = CollateralSource::Dir(dir.path().to_owned())
        .collateral_for(TDX_QUOTE, at())
        .unwrap();
    dcap::verify(TDX_QUOTE, &collateral, at()).unwrap();

    let err = CollateralSource::File(dir.path().join("missing.json"))
        .collateral_for(SGX_QUOTE, at())
        .unwrap_err();
    assert!(chain(&err).starts_with("reading collateral file "), "{err}");
}
