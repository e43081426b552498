//! Test harness: a real verdictd (in-process on 127.0.0.1:0, or the binary), a sim PKI and
//! quoter, evidence providers bound the way CoCo clients bind them, and an admin client.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use attestation::kbs::{ClientTls, EvidenceProvider, KbsClient, QuoteEvidence, Tee};
use attestation::sim::{SimPki, SimQuoter};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tempfile::TempDir;
use verdictd::{Config, ServerHandle};

/// MRENCLAVE of the test enclave.
pub const MRENCLAVE: [u8; 32] = [0x11; 32];
/// MRENCLAVE of another enclave.
pub const OTHER_MRENCLAVE: [u8; 32] = [0x33; 32];

/// An attestation policy that accepts sim evidence of a non-debug enclave whose MRENCLAVE
/// is a configured reference value.
pub const ALLOW_SIM_POLICY: &str = r#"package policy
import rego.v1
default hardware := 97
hardware := 2 if input.tee == "sim"
default configuration := 96
configuration := 2 if not input.debug
default executables := 33
executables := 2 if input.mrenclave in object.get(data.reference, "mrenclave", [])
trust_vector := {"hardware": hardware, "configuration": configuration, "executables": executables}
"#;

/// A resource policy that also requires the other MRENCLAVE.
pub const OTHER_MRENCLAVE_RESOURCE_POLICY: &str = r#"package policy
import rego.v1
default allow := false
allow if {
    input.submods.cpu0["ear.status"] == "affirming"
    input.submods.cpu0["ear.veraison.annotated-evidence"].mrenclave == "3333333333333333333333333333333333333333333333333333333333333333"
}
"#;

/// Options of a test server.
#[derive(Debug, Clone)]
pub struct Options {
    pub tls: bool,
    pub session_ttl: Duration,
    pub sim: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tls: false,
            session_ttl: Duration::from_secs(300),
            sim: true,
        }
    }
}

/// A running in-process server with its sim PKI.
pub struct Harness {
    pub dir: TempDir,
    pub server: ServerHandle,
    pub quoter: Arc<SimQuoter>,
    pub root_pem: PathBuf,
}

pub fn sim_pki(dir: &Path) -> (Arc<SimQuoter>, PathBuf) {
    let pki = SimPki::generate("verdictd-test", SystemTime::now()).unwrap();
    let root = dir.join("sim-root.pem");
    std::fs::write(&root, pki.root_cert_pem()).unwrap();
    (Arc::new(SimQuoter::new(&pki).unwrap()), root)
}

impl Harness {
    pub fn start(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (quoter, root_pem) = sim_pki(dir.path());
        let mut config = Config::new(dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.insecure_http = !options.tls;
        config.session_ttl = options.session_ttl;
        if options.sim {
            config.sim_root_ca = Some(root_pem.clone());
        }
        let server = verdictd::spawn(&config).unwrap();
        Self {
            dir,
            server,
            quoter,
            root_pem,
        }
    }

    /// The default harness with a policy that accepts the test enclave.
    pub fn allowing_sim(options: Options) -> Self {
        let h = Self::start(options);
        let admin = h.admin();
        admin.set_attestation_policy(ALLOW_SIM_POLICY).ok200();
        admin
            .post_json(
                "/kbs/v0/reference-value",
                &serde_json::json!({"name": "mrenclave", "values": [hex::encode(MRENCLAVE)]}),
            )
            .ok200();
        admin.set_resource("default/key/1", b"the secret").ok200();
        h
    }

    pub fn tls(&self) -> ClientTls {
        match &self.server.tls_cert_pem {
            Some(pem) => ClientTls::RootCertsPem(pem.clone()),
            None => ClientTls::WebPkiRoots,
        }
    }

    pub fn client(&self) -> KbsClient {
        KbsClient::new(&self.server.url(), self.tls()).unwrap()
    }

    pub fn client_for(&self, mrenclave: [u8; 32], debug: bool) -> KbsClient {
        self.client()
            .with_provider(sim_provider(self.quoter.clone(), mrenclave, debug))
    }

    pub fn admin(&self) -> Admin {
        Admin::new(
            &self.server.url(),
            &self.server.admin_token,
            self.server.tls_cert_pem.as_deref(),
        )
    }
}

/// The sim enclave's report body with `report_data`.
pub fn report_body(mrenclave: [u8; 32], debug: bool, report_data: &[u8; 64]) -> [u8; 384] {
    let mut body = [0u8; 384];
    body[48] = if debug { 0x07 } else { 0x05 };
    body[64..96].copy_from_slice(&mrenclave);
    body[128..160].copy_from_slice(&[0x22; 32]);
    body[256..258].copy_from_slice(&1u16.to_le_bytes());
    body[258..260].copy_from_slice(&1u16.to_le_bytes());
    body[320..384].copy_from_slice(report_data);
    body
}

/// A sim enclave's evidence provider (`sgx` quotes chained to the sim root).
pub fn sim_provider(
    quoter: Arc<SimQuoter>,
    mrenclave: [u8; 32],
    debug: bool,
) -> Arc<dyn EvidenceProvider> {
    Arc::new(QuoteEvidence::new(Tee::Sgx, move |rd: &[u8; 64]| {
        quoter
            .quote(&report_body(mrenclave, debug, rd))
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
    }))
}

/// CoCo's sample attester: `{"svn": "1", "report_data": base64(report data)}`.
pub struct SampleProvider;

impl EvidenceProvider for SampleProvider {
    fn tee(&self) -> Tee {
        Tee::Sample
    }

    fn evidence(
        &self,
        rd: &[u8; 64],
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        use base64::engine::general_purpose::STANDARD;
        Ok(serde_json::json!({"svn": "1", "report_data": STANDARD.encode(rd)}))
    }
}

/// A minimal admin client.
pub struct Admin {
    base: String,
    token: String,
    agent: ureq::Agent,
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn ok200(&self) -> &Self {
        assert_eq!(self.status, 200, "{}", self.body);
        self
    }

    pub fn problem(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not json: {}", self.body))
    }
}

pub fn agent(cert: Option<&[u8]>) -> ureq::Agent {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(pem) = cert {
        let certs: Vec<_> = ureq::tls::parse_pem(pem)
            .filter_map(|i| match i.unwrap() {
                ureq::tls::PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
    }
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(tls.build())
        .build()
        .into()
}

pub fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.unwrap();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    Reply { status, body }
}

impl Admin {
    pub fn new(base: &str, token: &str, cert: Option<&[u8]>) -> Self {
        Self {
            base: base.to_owned(),
            token: token.to_owned(),
            agent: agent(cert),
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            base: self.base.clone(),
            token: token.to_owned(),
            agent: self.agent.clone(),
        }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.post(&url);
        if !self.token.is_empty() {
            req = req.header("Authorization", &self.auth());
        }
        reply(req.send(body))
    }

    pub fn post_json(&self, path: &str, value: &serde_json::Value) -> Reply {
        self.post(path, value.to_string().as_bytes())
    }

    pub fn get(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        if !self.token.is_empty() {
            req = req.header("Authorization", &self.auth());
        }
        reply(req.call())
    }

    pub fn delete(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.delete(&url);
        if !self.token.is_empty() {
            req = req.header("Authorization", &self.auth());
        }
        reply(req.call())
    }

    pub fn set_resource(&self, path: &str, bytes: &[u8]) -> Reply {
        self.post(&format!("/kbs/v0/resource/{path}"), bytes)
    }

    pub fn set_attestation_policy(&self, rego: &str) -> Reply {
        self.post_json(
            "/kbs/v0/attestation-policy",
            &serde_json::json!({"type": "rego", "policy_id": "default", "policy": URL_SAFE_NO_PAD.encode(rego)}),
        )
    }

    pub fn set_resource_policy(&self, rego: &str) -> Reply {
        self.post_json(
            "/kbs/v0/resource-policy",
            &serde_json::json!({"policy": URL_SAFE_NO_PAD.encode(rego)}),
        )
    }
}

/// A free loopback port (for the binary, which takes an explicit --listen).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The verdictd binary, started with plain HTTP on `port`.
pub struct Binary {
    pub child: Child,
    pub url: String,
}

impl Binary {
    pub fn start(data: &Path, port: u16, sim_root: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_verdictd"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data)
            .arg("--insecure-http")
            .arg("--sim-root-ca")
            .arg(sim_root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let agent = agent(None);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = agent.get(&format!("{url}/healthz")).call() {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "verdictd did not come up on {url}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
