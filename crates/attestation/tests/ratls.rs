//! RA-TLS end to end with sim evidence: mutual handshakes over loopback, policy mismatches
//! and tampered certificates refused, the legacy (Gramine) formats, and `inspect_cert`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use attestation::attester::SimAttester;
use attestation::ratls::{
    self, inspect_cert, CertOptions, EvidenceFormat, RaTlsCert, RaTlsError, RaTlsIdentity,
    RaTlsPolicy, RaTlsVerifier,
};
use attestation::sim::{SimPki, SimQuoter, SimVerifier};
use attestation::{Measurements, TeeKind};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use sgx::{Attributes, ReportBody};

const MRENCLAVE_A: [u8; 32] = [0xa1; 32];
const MRENCLAVE_B: [u8; 32] = [0xb2; 32];
const MRSIGNER: [u8; 32] = [0x5e; 32];

/// A sim enclave: its identity, and an attester quoting with the host's sim QE.
fn enclave(pki: &SimPki, mrenclave: [u8; 32], svn: u16, debug: bool) -> SimAttester {
    let mut flags = Attributes::INIT | Attributes::MODE64BIT;
    if debug {
        flags |= Attributes::DEBUG;
    }
    let report = move |report_data: &[u8; 64]| {
        Ok(ReportBody {
            attributes: Attributes::new(flags, 3),
            mr_enclave: mrenclave,
            mr_signer: MRSIGNER,
            isv_prod_id: 7,
            isv_svn: svn,
            report_data: *report_data,
            ..ReportBody::default()
        }
        .encode())
    };
    SimAttester::with_quoter(report, SimQuoter::new(pki).unwrap())
}

fn pki() -> SimPki {
    SimPki::generate("ratls-test", SystemTime::now()).unwrap()
}

fn sim_policy(pki: &SimPki) -> RaTlsPolicy {
    RaTlsPolicy::default().allow_sim(SimVerifier::new(pki.root_cert_pem()).unwrap())
}

fn identity(attester: &SimAttester) -> RaTlsIdentity {
    RaTlsIdentity::generate(attester, SystemTime::now()).unwrap()
}

/// One mutual RA-TLS exchange over loopback: the client sends a line, the server echoes it.
/// Returns the client's and the server's outcome.
fn exchange(
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
) -> (Result<String, String>, Result<String, String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_thread = thread::spawn(move || -> Result<String, String> {
        let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let conn = ServerConnection::new(Arc::new(server)).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, sock);
        let mut line = String::new();
        BufReader::new(&mut tls)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        tls.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        Ok(line)
    });
    let client_result = (|| -> Result<String, String> {
        let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let name = ServerName::try_from("ratls.invalid").unwrap();
        let conn = ClientConnection::new(Arc::new(client), name).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, sock);
        tls.write_all(b"hello enclave\n")
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        BufReader::new(&mut tls)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Ok(line)
    })();
    let server_result = server_thread.join().unwrap();
    (client_result, server_result)
}

#[test]
fn mutual_ratls_between_two_sim_enclaves() {
    let pki = pki();
    let a = identity(&enclave(&pki, MRENCLAVE_A, 2, false));
    let b = identity(&enclave(&pki, MRENCLAVE_B, 2, false));
    let server = ratls::server_config(
        &a,
        Some(RaTlsVerifier::new(
            sim_policy(&pki)
                .expect_mrenclave(MRENCLAVE_B)
                .expect_mrsigner(MRSIGNER),
        )),
    )
    .unwrap();
    let client = ratls::client_config(
        RaTlsVerifier::new(
            sim_policy(&pki)
                .expect_mrenclave(MRENCLAVE_A)
                .expect_isv_prod_id(7)
                .min_isv_svn(2),
        ),
        Some(&b),
    )
    .unwrap();
    let (client, server) = exchange(server, client);
    assert_eq!(client.unwrap(), "hello enclave\n");
    assert_eq!(server.unwrap(), "hello enclave\n");
}

#[test]
fn verified_claims_say_sim() {
    let pki = pki();
    let a = identity(&enclave(&pki, MRENCLAVE_A, 2, false));
    let claims = RaTlsVerifier::new(sim_policy(&pki))
        .verify_cert(a.cert_der(), SystemTime::now())
        .unwrap();
    assert_eq!(claims.tee, TeeKind::Sim);
    assert_eq!(
        claims.measurements,
        Measurements::Sgx {
            mrenclave: MRENCLAVE_A,
            mrsigner: MRSIGNER
        }
    );
    assert_eq!(a.tee(), TeeKind::Sim);
}

fn refusal(policy: RaTlsPolicy, identity: &RaTlsIdentity) -> String {
    let err = RaTlsVerifier::new(policy)
        .verify_cert(identity.cert_der(), SystemTime::now())
        .unwrap_err();
    chain(&err)
}

#[test]
fn policy_mismatches_are_refused_with_clear_errors() {
    let pki = pki();
    let a = identity(&enclave(&pki, MRENCLAVE_A, 2, false));
    assert_eq!(
        refusal(RaTlsPolicy::default(), &a),
        "evidence is a sim quote (software TEE, no hardware protection) and the policy does not allow sim: configure a sim root to accept it"
    );
    assert_eq!(
        refusal(sim_policy(&pki).expect_mrenclave(MRENCLAVE_B), &a),
        format!(
            "mrenclave {} does not match the expected {}",
            hex::encode(MRENCLAVE_A),
            hex::encode(MRENCLAVE_B)
        )
    );
    assert_eq!(
        refusal(sim_policy(&pki).expect_mrsigner([0; 32]), &a),
        format!(
            "mrsigner {} does not match the expected {}",
            hex::encode(MRSIGNER),
            "00".repeat(32)
        )
    );
    assert_eq!(
        refusal(sim_policy(&pki).expect_isv_prod_id(8), &a),
        "isv_prod_id 7 does not match the expected 8"
    );
    assert_eq!(
        refusal(sim_policy(&pki).min_isv_svn(3), &a),
        "isv_svn 2 is below the minimum 3"
    );
    let other_root = SimPki::generate("other-host", SystemTime::now()).unwrap();
    assert!(
        refusal(sim_policy(&other_root), &a)
            .starts_with("sim quote verification failed: pck certificate chain ends at"),
        "{}",
        refusal(sim_policy(&other_root), &a)
    );

    let debug = identity(&enclave(&pki, MRENCLAVE_A, 2, true));
    assert_eq!(
        refusal(sim_policy(&pki), &debug),
        "evidence rejected by policy: debug enclave rejected by policy"
    );
    RaTlsVerifier::new(sim_policy(&pki).allow_debug(true))
        .verify_cert(debug.cert_der(), SystemTime::now())
        .unwrap();
}

#[test]
fn handshake_fails_when_the_peer_does_not_satisfy_the_policy() {
    let pki = pki();
    let a = identity(&enclave(&pki, MRENCLAVE_A, 2, false));
    let b = identity(&enclave(&pki, MRENCLAVE_B, 2, false));
    // The client wants MRENCLAVE_B from the server, which is A.
    let server = ratls::server_config(&a, Some(RaTlsVerifier::new(sim_policy(&pki)))).unwrap();
    let client = ratls::client_config(
        RaTlsVerifier::new(sim_policy(&pki).expect_mrenclave(MRENCLAVE_B)),
        Some(&b),
    )
    .unwrap();
    let (client, server) = exchange(server, client);
    let client = client.unwrap_err();
    assert!(client.contains("mrenclave"), "{client}");
    assert!(server.is_err());

    // The server refuses a client without sim allowed.
    let server =
        ratls::server_config(&a, Some(RaTlsVerifier::new(RaTlsPolicy::default()))).unwrap();
    let client = ratls::client_config(RaTlsVerifier::new(sim_policy(&pki)), Some(&b)).unwrap();
    let (_, server) = exchange(server, client);
    let server = server.unwrap_err();
    // rustls prints verifier errors with Debug; `ratls::ratls_error` recovers the message.
    assert!(server.contains("SimNotAllowed"), "{server}");

    // A client without a certificate is refused by a mutual server.
    let server = ratls::server_config(&a, Some(RaTlsVerifier::new(sim_policy(&pki)))).unwrap();
    let client = ratls::client_config(RaTlsVerifier::new(sim_policy(&pki)), None).unwrap();
    let (_, server) = exchange(server, client);
    assert!(server.is_err());
}

#[test]
fn tampered_certificates_are_refused() {
    let pki = pki();
    let a = identity(&enclave(&pki, MRENCLAVE_A, 2, false));
    let verifier = RaTlsVerifier::new(sim_policy(&pki));
    let der = a.cert_der().to_vec();

    // Any flipped byte of the certificate fails (signature, encoding, binding or quote).
    for pos in (0..der.len()).step_by(97) {
        let mut bad = der.clone();
        bad[pos] ^= 0x01;
        assert!(
            verifier.verify_cert(&bad, SystemTime::now()).is_err(),
            "flipping byte {pos} was accepted"
        );
    }

    // Evidence from one certificate grafted onto another key: the binding fails.
    let b = identity(&enclave(&pki, MRENCLAVE_A, 2, false));
    let cert_a = RaTlsCert::parse_der(a.cert_der()).unwrap();
    let cert_b = RaTlsCert::parse_der(b.cert_der()).unwrap();
    let grafted = RaTlsCert {
        spki_der: cert_b.spki_der.clone(),
        ..cert_a.clone()
    };
    assert!(matches!(
        grafted.check_binding(),
        Err(RaTlsError::PubkeyHash)
    ));
    // A certificate with a different claims buffer (e.g. a nonce) but the same quote.
    let grafted = RaTlsCert {
        claims_buffer: cert_b.claims_buffer.clone(),
        spki_der: cert_b.spki_der,
        ..cert_a
    };
    let err = grafted.check_binding().unwrap_err();
    assert!(err
        .to_string()
        .starts_with("quote report_data does not bind the certificate: expected"));

    // Outside its validity window.
    let err = verifier
        .verify_cert(
            a.cert_der(),
            SystemTime::now() + Duration::from_secs(3 * 86400),
        )
        .unwrap_err();
    assert!(
        err.to_string().starts_with("certificate is valid from"),
        "{err}"
    );
}

#[test]
fn legacy_and_gramine_formats_verify_and_inspect() {
    let pki = pki();
    let attester = enclave(&pki, MRENCLAVE_A, 2, false);
    for format in [
        EvidenceFormat::LegacyQuote,
        EvidenceFormat::GramineLegacyQuote,
    ] {
        let options = CertOptions {
            format,
            ..CertOptions::default()
        };
        let id = RaTlsIdentity::generate_with(&attester, SystemTime::now(), &options).unwrap();
        let parsed = RaTlsCert::parse_der(id.cert_der()).unwrap();
        assert_eq!(parsed.format, format);
        assert!(parsed.claims_buffer.is_none());
        RaTlsVerifier::new(sim_policy(&pki).expect_mrenclave(MRENCLAVE_A))
            .verify_cert(id.cert_der(), SystemTime::now())
            .unwrap();
        let inspection = inspect_cert(id.cert_pem().as_bytes()).unwrap();
        assert!(inspection.pubkey_bound);
        assert_eq!(inspection.oid, format.oid());
    }
}

#[test]
fn gramine_cert_with_the_raw_oid_bytes_is_read() {
    // Build the extension the way older Gramine did: OID content 06 09 2a 86 48 86 f8 4d 8a 39
    // 06 inside the OID, value = the raw quote, REPORTDATA[0..32] = SHA-256(SPKI DER).
    let pki = pki();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    let mut report_data = [0u8; 64];
    report_data[..32].copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &spki).as_ref());
    let quote = attestation::attester::Attester::evidence(
        &enclave(&pki, MRENCLAVE_A, 2, false),
        &report_data,
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "RATLS");
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            &[0, 6, 9, 42, 840, 113741, 1337, 6],
            quote,
        ));
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().to_vec();
    let oid_bytes = [
        0x06, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x8a, 0x39, 0x06,
    ];
    assert!(der.windows(oid_bytes.len()).any(|w| w == oid_bytes));

    let inspection = inspect_cert(&der).unwrap();
    assert_eq!(inspection.format, EvidenceFormat::GramineLegacyQuote);
    assert!(inspection.pubkey_bound);
    let json = inspection.to_json();
    assert_eq!(json["format"], "gramine-legacy-quote");
    assert_eq!(json["tee"], "sim");
    assert_eq!(json["mrenclave"], hex::encode(MRENCLAVE_A));
    assert_eq!(json["pubkey_bound"], true);
    RaTlsVerifier::new(sim_policy(&pki))
        .verify_cert(&der, SystemTime::now())
        .unwrap();
}

#[test]
fn inspect_dice_cert_prints_one_object() {
    let pki = pki();
    let a = identity(&enclave(&pki, MRENCLAVE_A, 3, false));
    let json = inspect_cert(a.cert_pem().as_bytes()).unwrap().to_json();
    let object = json.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    for key in [
        "format",
        "oid",
        "tee",
        "mrenclave",
        "mrsigner",
        "isv_prod_id",
        "isv_svn",
        "debug",
        "report_data",
        "pubkey_bound",
    ] {
        assert!(keys.contains(&key), "missing {key} in {json}");
    }
    assert_eq!(json["format"], "tcg-dice");
    assert_eq!(json["oid"], "2.23.133.5.4.9");
    assert_eq!(json["tee"], "sim");
    assert_eq!(json["isv_svn"], 3);
    assert_eq!(json["pubkey_bound"], true);
    assert!(json.get("binding_error").is_none());
    assert_eq!(json["report_data"].as_str().unwrap().len(), 128);
    assert!(json["report_data"]
        .as_str()
        .unwrap()
        .ends_with(&"00".repeat(32)));

    // A certificate without evidence.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let plain = rcgen::CertificateParams::new(vec!["x".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let err = inspect_cert(plain.pem().as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate has no ra-tls evidence extension (2.23.133.5.4.9, 1.2.840.113741.1337.6 or 0.6.9.42.840.113741.1337.6)"
    );
}

#[test]
fn inspect_reports_an_unbound_key() {
    // Legacy-format cert whose REPORTDATA hashes some other key.
    let pki = pki();
    let quote =
        attestation::attester::Attester::evidence(&enclave(&pki, MRENCLAVE_A, 2, false), &[7; 64])
            .unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            ratls::OID_LEGACY_QUOTE,
            quote,
        ));
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let inspection = inspect_cert(&der).unwrap();
    assert!(!inspection.pubkey_bound);
    let json = inspection.to_json();
    assert_eq!(json["pubkey_bound"], false);
    assert!(json["binding_error"]
        .as_str()
        .unwrap()
        .contains("sha-256 of the public key"));
    let err = RaTlsVerifier::new(sim_policy(&pki))
        .verify_cert(&der, SystemTime::now())
        .unwrap_err();
    assert!(matches!(err, RaTlsError::ReportData { .. }), "{err}");
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
