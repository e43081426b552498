//! Load generator for verdictd: N concurrent clients, each doing the full RCAR handshake
//! (auth, attest with a fresh TEE key and a sim quote) and a resource GET, bounded in count
//! and time, on loopback. Prints handshakes/s and p50/p99 latency.
//!
//! It starts the `verdictd` binary it is given on a free loopback port with a fresh data dir
//! and sim PKI, configures a policy that accepts the sim enclave, runs, and stops it.
//!
//! `verdictd-load --verdictd target/release/verdictd [--clients 8] [--handshakes 5000]
//!  [--seconds 20] [--tls] [--new-connection]`

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use attestation::kbs::{
    ClientTls, EvidenceProvider, KbsClient, QuoteEvidence, ResourcePath, Tee, TeeKeyPair,
};
use attestation::sim::{SimPki, SimQuoter};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const POLICY: &str = r#"package policy
import rego.v1
default hardware := 97
hardware := 2 if input.tee == "sim"
default configuration := 96
configuration := 2 if not input.debug
default executables := 33
executables := 2 if input.mrenclave in object.get(data.reference, "mrenclave", [])
trust_vector := {"hardware": hardware, "configuration": configuration, "executables": executables}
"#;

struct Args {
    verdictd: String,
    clients: usize,
    handshakes: usize,
    seconds: u64,
    tls: bool,
    new_connection: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        verdictd: "target/release/verdictd".into(),
        clients: 8,
        handshakes: 5000,
        seconds: 20,
        tls: false,
        new_connection: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--verdictd" => args.verdictd = value(),
            "--clients" => args.clients = value().parse().expect("--clients N"),
            "--handshakes" => args.handshakes = value().parse().expect("--handshakes N"),
            "--seconds" => args.seconds = value().parse().expect("--seconds N"),
            "--tls" => args.tls = true,
            "--new-connection" => args.new_connection = true,
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = SimPki::generate("verdictd-load", SystemTime::now()).expect("sim pki");
    let root = dir.path().join("sim-root.pem");
    std::fs::write(&root, pki.root_cert_pem()).expect("write root");
    let quoter = Arc::new(SimQuoter::new(&pki).expect("quoter"));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = dir.path().join("data");
    let mut command = Command::new(&args.verdictd);
    command
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data)
        .arg("--sim-root-ca")
        .arg(&root)
        .env("VERDICTD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if !args.tls {
        command.arg("--insecure-http");
    }
    let mut child = command.spawn().expect("start verdictd");
    let url = if args.tls {
        format!("https://localhost:{port}")
    } else {
        format!("http://127.0.0.1:{port}")
    };
    let result = std::panic::catch_unwind(|| run(&args, &url, &data, quoter));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn run(args: &Args, url: &str, data: &std::path::Path, quoter: Arc<SimQuoter>) {
    let cert = data.join("tls/cert.pem");
    let deadline = Instant::now() + Duration::from_secs(20);
    let token_file = data.join("admin-token");
    while !(token_file.exists() && (!args.tls || cert.exists())) {
        assert!(Instant::now() < deadline, "verdictd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tls = if args.tls {
        ClientTls::RootCertsPem(std::fs::read(&cert).expect("cert"))
    } else {
        ClientTls::WebPkiRoots
    };
    let mut tls_config = ureq::tls::TlsConfig::builder();
    if let ClientTls::RootCertsPem(pem) = &tls {
        let certs: Vec<_> = ureq::tls::parse_pem(pem)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        tls_config = tls_config.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls_config.build())
        .build()
        .into();
    let token = std::fs::read_to_string(&token_file).expect("admin token");
    let auth = format!("Bearer {}", token.trim());
    loop {
        if agent
            .get(&format!("{url}/healthz"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        assert!(Instant::now() < deadline, "verdictd did not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    let admin = |path: &str, body: String| {
        let r = agent
            .post(&format!("{url}/kbs/v0/{path}"))
            .header("Authorization", &auth)
            .send(body.as_bytes())
            .expect("admin request");
        assert_eq!(r.status(), 200, "admin {path}");
    };
    let mrenclave = [0x11u8; 32];
    admin(
        "attestation-policy",
        serde_json::json!({"type": "rego", "policy_id": "default", "policy": URL_SAFE_NO_PAD.encode(POLICY)}).to_string(),
    );
    admin(
        "reference-value",
        serde_json::json!({"name": "mrenclave", "values": [hex(&mrenclave)]}).to_string(),
    );
    admin("resource/default/key/bench", "bench secret".to_owned());

    let provider: Arc<dyn EvidenceProvider> =
        Arc::new(QuoteEvidence::new(Tee::Sgx, move |rd: &[u8; 64]| {
            let mut body = [0u8; 384];
            body[48] = 0x05;
            body[64..96].copy_from_slice(&mrenclave);
            body[320..384].copy_from_slice(rd);
            quoter
                .quote(&body)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        }));
    let path = ResourcePath::parse("default/key/bench").unwrap();
    let issued = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(args.handshakes)));
    let stop_at = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..args.clients {
            let (issued, failures, latencies) =
                (issued.clone(), failures.clone(), latencies.clone());
            let (provider, tls, path) = (provider.clone(), tls.clone(), path.clone());
            scope.spawn(move || {
                let mut client = KbsClient::new(url, tls.clone())
                    .expect("client")
                    .with_provider(provider.clone());
                let mut mine = Vec::new();
                while issued.fetch_add(1, Ordering::Relaxed) < args.handshakes
                    && Instant::now() < stop_at
                {
                    client = if args.new_connection {
                        KbsClient::new(url, tls.clone())
                            .expect("client")
                            .with_provider(provider.clone())
                    } else {
                        client.with_key(TeeKeyPair::generate_ec())
                    };
                    let t = Instant::now();
                    match client.get_resource(&path) {
                        Ok(secret) if secret.as_slice() == b"bench secret" => {
                            mine.push(t.elapsed())
                        }
                        Ok(_) => panic!("wrong secret"),
                        Err(e) => {
                            if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("handshake failed: {e}");
                            }
                        }
                    }
                }
                latencies.lock().unwrap().extend(mine);
            });
        }
    });
    let elapsed = start.elapsed();
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    let n = latencies.len();
    let pct = |p: usize| {
        latencies
            .get((n * p / 100).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "verdictd-load: {} clients, {} handshakes (+GET) in {:.2}s, {} failed, {}{}",
        args.clients,
        n,
        elapsed.as_secs_f64(),
        failures.load(Ordering::Relaxed),
        if args.tls { "tls" } else { "plain http" },
        if args.new_connection {
            ", new connection per handshake"
        } else {
            ", keep-alive"
        },
    );
    println!(
        "verdictd-load: {:.0} handshakes/s, p50 {:.2} ms, p99 {:.2} ms",
        n as f64 / elapsed.as_secs_f64(),
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
