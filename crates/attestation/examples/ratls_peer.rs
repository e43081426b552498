//! One side of mutual RA-TLS between two enclave containers.
//!
//! Runs inside a rune enclave container: its RA-TLS certificate carries a quote of its own
//! enclave, fetched from the container's attestation API (`/run/enclave/api.sock`,
//! `GET /aa/evidence`), and it accepts the peer only if the peer's certificate carries a sim
//! quote chained to the host's sim root with the expected MRENCLAVE (and MRSIGNER, if given).
//!
//! ```text
//! ratls_peer serve   --listen 127.0.0.1:7443 --peer-mrenclave HEX --sim-root PEM [--peer-mrsigner HEX]
//! ratls_peer connect --to 127.0.0.1:7443     --peer-mrenclave HEX --sim-root PEM [--peer-mrsigner HEX]
//! ```
//!
//! The server takes one connection: it reads the client's line, answers, prints what it
//! verified and exits 0; a refused peer is an error (exit 1) naming the reason. `tests/ratls.rs`
//! (in the workspace's integration tests) runs two sim enclave containers with it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::SystemTime;

use attestation::local_api::{LocalApi, LocalApiAttester};
use attestation::ratls::{self, RaTlsIdentity, RaTlsPolicy, RaTlsVerifier};
use attestation::sim::SimVerifier;
use attestation::TeeKind;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, StreamOwned};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Args {
    mode: String,
    address: String,
    peer_mrenclave: [u8; 32],
    peer_mrsigner: Option<[u8; 32]>,
    sim_root: String,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("usage: ratls_peer serve|connect ...")?;
    let (mut address, mut mrenclave, mut mrsigner, mut root) = (None, None, None, None);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" | "--to" => address = Some(value),
            "--peer-mrenclave" => mrenclave = Some(hex32(&value, &flag)?),
            "--peer-mrsigner" => mrsigner = Some(hex32(&value, &flag)?),
            "--sim-root" => root = Some(value),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(Args {
        mode,
        address: address.ok_or("--listen or --to is required")?,
        peer_mrenclave: mrenclave.ok_or("--peer-mrenclave is required")?,
        peer_mrsigner: mrsigner,
        sim_root: root.ok_or("--sim-root is required")?,
    })
}

fn hex32(text: &str, flag: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text).map_err(|e| format!("{flag}: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{flag}: expected 32 bytes of hex").into())
}

fn verifier(args: &Args) -> Result<RaTlsVerifier> {
    let root = std::fs::read_to_string(&args.sim_root)
        .map_err(|e| format!("reading --sim-root {}: {e}", args.sim_root))?;
    let mut policy = RaTlsPolicy::default()
        .allow_sim(SimVerifier::new(&root)?)
        .expect_mrenclave(args.peer_mrenclave);
    if let Some(mrsigner) = args.peer_mrsigner {
        policy = policy.expect_mrsigner(mrsigner);
    }
    Ok(RaTlsVerifier::new(policy))
}

fn main() {
    if let Err(e) = run() {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        eprintln!("ratls_peer: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    // A fresh key, bound to this enclave's quote by the container's attestation API.
    let attester = LocalApiAttester::new(LocalApi::default(), TeeKind::Sim);
    let identity = RaTlsIdentity::generate(&attester, SystemTime::now())?;
    let peer = verifier(&args)?;
    match args.mode.as_str() {
        "serve" => {
            let config = ratls::server_config(&identity, Some(verifier(&args)?))?;
            let listener = TcpListener::bind(&args.address)?;
            println!("listening on {}", args.address);
            std::io::stdout().flush()?;
            let (sock, _) = listener.accept()?;
            let mut tls = StreamOwned::new(ServerConnection::new(Arc::new(config))?, sock);
            let mut line = String::new();
            BufReader::new(&mut tls).read_line(&mut line)?;
            report(&peer, tls.conn.peer_certificates(), "client")?;
            println!("received: {}", line.trim_end());
            tls.write_all(b"hello from the server enclave\n")?;
            tls.flush()?;
            tls.conn.send_close_notify();
            tls.flush()?;
        }
        "connect" => {
            let config = ratls::client_config(verifier(&args)?, Some(&identity))?;
            let sock = TcpStream::connect(&args.address)?;
            let name = ServerName::try_from("ratls.invalid")?;
            let mut tls = StreamOwned::new(ClientConnection::new(Arc::new(config), name)?, sock);
            tls.write_all(b"hello from the client enclave\n")?;
            let mut line = String::new();
            BufReader::new(&mut tls).read_line(&mut line)?;
            report(&peer, tls.conn.peer_certificates(), "server")?;
            println!("received: {}", line.trim_end());
        }
        other => return Err(format!("unknown mode {other:?}: serve or connect").into()),
    }
    Ok(())
}

/// Prints the peer's verified claims (the handshake already checked them; this shows them).
fn report(
    verifier: &RaTlsVerifier,
    certs: Option<&[rustls::pki_types::CertificateDer<'_>]>,
    who: &str,
) -> Result<()> {
    let cert = certs
        .and_then(|c| c.first())
        .ok_or_else(|| format!("the {who} sent no certificate"))?;
    let claims = verifier.verify_cert(cert.as_ref(), SystemTime::now())?;
    let json = claims.to_json();
    println!(
        "{who} attested: tee={} mrenclave={}",
        json["tee"].as_str().unwrap_or_default(),
        json["mrenclave"].as_str().unwrap_or_default()
    );
    Ok(())
}
