//! Two sim "enclaves" doing mutual RA-TLS over loopback.
//!
//! Each endpoint has its own MRENCLAVE, gets a REPORT body from its (here simulated) enclave
//! runtime, has it quoted by the host's sim QE, and puts the quote in a fresh RA-TLS
//! certificate. Each side accepts the other only if its evidence chains to the host's sim root
//! and carries the expected MRENCLAVE. In rune the report function is the enclave runtime's
//! (`liberpal-sim.so`) and the quoter is the host's sim QE; everything else is the same.
//!
//! Run: `cargo run -p attestation --example ratls_mutual`

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::SystemTime;

use attestation::attester::SimAttester;
use attestation::ratls::{self, RaTlsIdentity, RaTlsPolicy, RaTlsVerifier};
use attestation::sim::{SimPki, SimQuoter, SimVerifier};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use sgx::{Attributes, ReportBody};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MRSIGNER: [u8; 32] = [0x5e; 32];

/// A sim enclave with this MRENCLAVE, quoting with the host's sim QE.
fn sim_enclave(pki: &SimPki, mrenclave: [u8; 32]) -> Result<SimAttester> {
    let report = move |report_data: &[u8; 64]| {
        Ok(ReportBody {
            attributes: Attributes::new(Attributes::INIT | Attributes::MODE64BIT, 3),
            mr_enclave: mrenclave,
            mr_signer: MRSIGNER,
            isv_prod_id: 1,
            isv_svn: 1,
            report_data: *report_data,
            ..ReportBody::default()
        }
        .encode())
    };
    Ok(SimAttester::with_quoter(report, SimQuoter::new(pki)?))
}

/// Accept peers with this MRENCLAVE whose sim quotes chain to `pki`'s root.
fn expecting(pki: &SimPki, mrenclave: [u8; 32]) -> Result<RaTlsVerifier> {
    Ok(RaTlsVerifier::new(
        RaTlsPolicy::default()
            .allow_sim(SimVerifier::new(pki.root_cert_pem())?)
            .expect_mrenclave(mrenclave)
            .expect_mrsigner(MRSIGNER),
    ))
}

fn main() -> Result<()> {
    let now = SystemTime::now();
    // The host's sim PKI (in rune: /var/lib/rune/sim, created on first use).
    let pki = SimPki::generate("example-host", now)?;
    let (server_mr, client_mr) = ([0xaa; 32], [0xbb; 32]);

    let server_id = RaTlsIdentity::generate(&sim_enclave(&pki, server_mr)?, now)?;
    let client_id = RaTlsIdentity::generate(&sim_enclave(&pki, client_mr)?, now)?;
    let server_cfg = ratls::server_config(&server_id, Some(expecting(&pki, client_mr)?))?;
    let client_cfg = ratls::client_config(expecting(&pki, server_mr)?, Some(&client_id))?;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server_verifier = expecting(&pki, client_mr)?;
    let server = thread::spawn(move || -> Result<()> {
        let (sock, _) = listener.accept()?;
        let mut tls = StreamOwned::new(ServerConnection::new(Arc::new(server_cfg))?, sock);
        let mut line = String::new();
        BufReader::new(&mut tls).read_line(&mut line)?;
        let peer = tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no client certificate")?;
        let claims = server_verifier.verify_cert(peer.as_ref(), SystemTime::now())?;
        println!("server: client attested: {}", claims.to_json());
        println!("server: received {:?}", line.trim_end());
        tls.write_all(b"hello from the server enclave\n")?;
        tls.flush()?;
        Ok(())
    });

    let sock = TcpStream::connect(addr)?;
    let name = ServerName::try_from("ratls.invalid")?;
    let mut tls = StreamOwned::new(ClientConnection::new(Arc::new(client_cfg), name)?, sock);
    tls.write_all(b"hello from the client enclave\n")?;
    let mut line = String::new();
    BufReader::new(&mut tls).read_line(&mut line)?;
    let peer = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no server certificate")?;
    let claims = expecting(&pki, server_mr)?.verify_cert(peer.as_ref(), SystemTime::now())?;
    println!("client: server attested: {}", claims.to_json());
    println!("client: received {:?}", line.trim_end());
    server.join().map_err(|_| "server thread panicked")??;
    Ok(())
}
