//! A blocking KBS client: the RCAR handshake and resource retrieval.
//!
//! It behaves as guest-components' `kbs_protocol` client does, so verdictd is tested against
//! the same sequence CoCo clients send: `POST /auth` (the server sets the `kbs-session-id`
//! cookie), `POST /attest` with evidence whose REPORTDATA binds the nonce and the TEE key,
//! then `GET /resource/<repo>/<type>/<tag>`, re-attesting once on 401. In passport mode the
//! resource request carries `Authorization: Bearer <token>` instead of the cookie.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::binding;
use super::jwe::{JweResponse, TeeKeyPair};
use super::resource::ResourcePath;
use super::types::{
    Attestation, AttestationResponse, Challenge, CompositeEvidence, Problem, Request, RuntimeData,
    Tee, PROTOCOL_VERSION,
};
use super::KbsError;

/// Name of the session cookie the KBS sets on `/auth`.
pub const SESSION_COOKIE: &str = "kbs-session-id";
/// Largest response read (resources are small secrets; tokens a few KiB).
const MAX_RESPONSE_LEN: u64 = 16 * 1024 * 1024;
/// Per-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Resource attempts: the first, then one after re-attesting on 401.
const RESOURCE_ATTEMPTS: usize = 2;

/// What produces evidence for the client: a TEE attester (sim, SGX, TDX) or a test double.
pub trait EvidenceProvider: Send + Sync {
    /// The TEE named in the auth request.
    fn tee(&self) -> Tee;

    /// Evidence whose REPORTDATA is `report_data`, as the JSON the KBS expects for
    /// [`EvidenceProvider::tee`] (for `sgx`: `{"quote": "<standard base64>"}`).
    fn evidence(&self, report_data: &[u8; 64]) -> Result<Value, Box<dyn StdError + Send + Sync>>;
}

/// Evidence from a quoting function: `sgx`/`tdx` quotes wrapped as `{"quote": "<base64>"}`.
pub struct QuoteEvidence<F> {
    tee: Tee,
    quote: F,
}

impl<F> fmt::Debug for QuoteEvidence<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuoteEvidence")
            .field("tee", &self.tee)
            .finish_non_exhaustive()
    }
}

impl<F> QuoteEvidence<F>
where
    F: Fn(&[u8; 64]) -> Result<Vec<u8>, Box<dyn StdError + Send + Sync>> + Send + Sync,
{
    /// Quotes of `tee` produced by `quote(report_data)`.
    pub fn new(tee: Tee, quote: F) -> Self {
        Self { tee, quote }
    }
}

impl<F> EvidenceProvider for QuoteEvidence<F>
where
    F: Fn(&[u8; 64]) -> Result<Vec<u8>, Box<dyn StdError + Send + Sync>> + Send + Sync,
{
    fn tee(&self) -> Tee {
        self.tee
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<Value, Box<dyn StdError + Send + Sync>> {
        let quote = (self.quote)(report_data)?;
        Ok(json!({ "quote": STANDARD.encode(quote) }))
    }
}

/// Fixed evidence, whatever the report data: for tests of the binding check.
#[derive(Debug, Clone)]
pub struct StaticEvidence {
    /// The TEE.
    pub tee: Tee,
    /// The evidence.
    pub evidence: Value,
}

impl EvidenceProvider for StaticEvidence {
    fn tee(&self) -> Tee {
        self.tee
    }

    fn evidence(&self, _: &[u8; 64]) -> Result<Value, Box<dyn StdError + Send + Sync>> {
        Ok(self.evidence.clone())
    }
}

/// How the client checks the KBS's TLS certificate.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum ClientTls {
    /// Mozilla's root certificates (webpki-roots).
    #[default]
    WebPkiRoots,
    /// Only these PEM certificates (e.g. verdictd's generated self-signed one).
    RootCertsPem(Vec<u8>),
}

/// How resource requests authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthMode {
    /// The `kbs-session-id` cookie of the RCAR session (background check).
    #[default]
    Cookie,
    /// `Authorization: Bearer <attestation token>` (passport).
    Bearer,
}

/// A KBS client (blocking; one per TEE key).
pub struct KbsClient {
    base: String,
    agent: ureq::Agent,
    key: TeeKeyPair,
    provider: Option<Arc<dyn EvidenceProvider>>,
    mode: AuthMode,
    cookie: Option<String>,
    token: Option<String>,
    init_data: Option<super::types::InitData>,
}

impl fmt::Debug for KbsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KbsClient")
            .field("base", &self.base)
            .field("mode", &self.mode)
            .field("has_session", &self.cookie.is_some())
            .field("has_token", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl KbsClient {
    /// A client of the KBS at `url` (e.g. `https://kbs.example:8080`), with a fresh P-256
    /// TEE key.
    pub fn new(url: &str, tls: ClientTls) -> Result<Self, KbsError> {
        let roots = match tls {
            ClientTls::WebPkiRoots => ureq::tls::RootCerts::WebPki,
            ClientTls::RootCertsPem(pem) => {
                let certs = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| KbsError::Malformed {
                        what: "kbs root certificate pem",
                        reason: e.to_string(),
                    })?;
                if certs.is_empty() {
                    return Err(KbsError::Malformed {
                        what: "kbs root certificate pem",
                        reason: "no certificate found".to_owned(),
                    });
                }
                ureq::tls::RootCerts::Specific(Arc::new(certs))
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            agent,
            key: TeeKeyPair::generate_ec(),
            provider: None,
            mode: AuthMode::Cookie,
            cookie: None,
            token: None,
            init_data: None,
        })
    }

    /// Use this TEE key instead of the generated P-256 one.
    #[must_use]
    pub fn with_key(mut self, key: TeeKeyPair) -> Self {
        self.key = key;
        self.cookie = None;
        self.token = None;
        self
    }

    /// Attest with this provider (also used to re-attest when a session expires).
    #[must_use]
    pub fn with_provider(mut self, provider: Arc<dyn EvidenceProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Send this init data with the attestation.
    #[must_use]
    pub fn with_init_data(mut self, init_data: super::types::InitData) -> Self {
        self.init_data = Some(init_data);
        self
    }

    /// Authenticate resource requests with the cookie (default) or the token.
    #[must_use]
    pub fn with_mode(mut self, mode: AuthMode) -> Self {
        self.mode = mode;
        self
    }

    /// Passport mode with a token obtained earlier for `key` (no provider needed).
    #[must_use]
    pub fn with_token(mut self, token: String, key: TeeKeyPair) -> Self {
        self.key = key;
        self.token = Some(token);
        self.mode = AuthMode::Bearer;
        self
    }

    /// The TEE key resources are encrypted to.
    pub fn tee_key(&self) -> &TeeKeyPair {
        &self.key
    }

    /// The last attestation token.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The session cookie value (`kbs-session-id=...`), if a session is open.
    pub fn session_cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// Forget the session and token (the next resource request re-attests).
    pub fn reset_session(&mut self) {
        self.cookie = None;
        self.token = None;
    }

    /// Run the RCAR handshake with the configured provider; returns the token.
    pub fn attest(&mut self) -> Result<String, KbsError> {
        let provider = self.provider.clone().ok_or(KbsError::NoCredentials)?;
        self.attest_with(provider.as_ref())
    }

    /// Run the RCAR handshake with `provider`; returns the attestation token.
    pub fn attest_with(&mut self, provider: &dyn EvidenceProvider) -> Result<String, KbsError> {
        let challenge = self.auth(provider.tee())?;
        let tee_pubkey =
            serde_json::to_value(self.key.public_jwk()).map_err(|e| KbsError::Malformed {
                what: "tee-pubkey",
                reason: e.to_string(),
            })?;
        let additional_evidence = String::new();
        let report_data =
            binding::report_data(&challenge.nonce, &tee_pubkey, &additional_evidence)?;
        let primary_evidence = provider
            .evidence(&report_data)
            .map_err(KbsError::Evidence)?;
        let attestation = Attestation {
            init_data: self.init_data.clone(),
            runtime_data: RuntimeData {
                nonce: challenge.nonce,
                tee_pubkey,
            },
            tee_evidence: CompositeEvidence {
                primary_evidence,
                additional_evidence,
            },
        };
        self.attest_raw(&attestation)
    }

    /// `POST /auth`: open a session and return its challenge.
    pub fn auth(&mut self, tee: Tee) -> Result<Challenge, KbsError> {
        let request = Request {
            version: PROTOCOL_VERSION.to_owned(),
            tee,
            extra_params: json!({ "supported-hash-algorithms": ["sha384"] }),
        };
        let url = format!("{}/kbs/v0/auth", self.base);
        let body = to_json(&request)?;
        let mut response = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.as_slice())
            .map_err(|e| http_error(&url, e))?;
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|pair| pair.trim_start().starts_with(&format!("{SESSION_COOKIE}=")))
            .map(|pair| pair.trim().to_owned());
        let body = read_ok(&url, &mut response)?;
        self.cookie = Some(cookie.ok_or_else(|| KbsError::Malformed {
            what: "auth response",
            reason: format!("no {SESSION_COOKIE} cookie"),
        })?);
        self.token = None;
        super::types::parse_json("challenge", &body)
    }

    /// `POST /attest` with a prepared attestation (in the current session).
    pub fn attest_raw(&mut self, attestation: &Attestation) -> Result<String, KbsError> {
        let url = format!("{}/kbs/v0/attest", self.base);
        let body = to_json(attestation)?;
        let mut request = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json");
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        let mut response = request
            .send(body.as_slice())
            .map_err(|e| http_error(&url, e))?;
        let body = read_ok(&url, &mut response)?;
        let parsed: AttestationResponse = super::types::parse_json("attest response", &body)?;
        self.token = Some(parsed.token.clone());
        Ok(parsed.token)
    }

    /// Fetch and decrypt a resource, attesting first when there is no session or token and
    /// once more when the KBS answers 401.
    pub fn get_resource(&mut self, path: &ResourcePath) -> Result<Zeroizing<Vec<u8>>, KbsError> {
        let mut last = None;
        for attempt in 0..RESOURCE_ATTEMPTS {
            let has_credentials = match self.mode {
                AuthMode::Cookie => self.cookie.is_some() && self.token.is_some(),
                AuthMode::Bearer => self.token.is_some(),
            };
            if !has_credentials || attempt > 0 {
                if self.provider.is_some() {
                    self.attest()?;
                } else if attempt > 0 {
                    break;
                } else {
                    return Err(KbsError::NoCredentials);
                }
            }
            match self.get_resource_once(path) {
                Err(e) if e.status() == Some(401) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or(KbsError::NoCredentials))
    }

    /// One `GET /resource/...` with the current credentials, no retry.
    pub fn get_resource_once(&self, path: &ResourcePath) -> Result<Zeroizing<Vec<u8>>, KbsError> {
        let url = format!("{}/kbs/v0/resource/{path}", self.base);
        let mut request = self.agent.get(&url);
        match self.mode {
            AuthMode::Cookie => {
                if let Some(cookie) = &self.cookie {
                    request = request.header("Cookie", cookie);
                }
            }
            AuthMode::Bearer => {
                if let Some(token) = &self.token {
                    request = request.header("Authorization", &format!("Bearer {token}"));
                }
            }
        }
        let mut response = request.call().map_err(|e| http_error(&url, e))?;
        let body = read_ok(&url, &mut response)?;
        let jwe: JweResponse = super::types::parse_json("resource response", &body)?;
        self.key.decrypt(&jwe)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, KbsError> {
    serde_json::to_vec(value).map_err(|e| KbsError::Malformed {
        what: "request",
        reason: e.to_string(),
    })
}

fn http_error(url: &str, e: ureq::Error) -> KbsError {
    KbsError::Http {
        url: url.to_owned(),
        reason: e.to_string(),
    }
}

/// The body of a 2xx response, or [`KbsError::Status`] with the problem detail.
fn read_ok(
    url: &str,
    response: &mut ureq::http::Response<ureq::Body>,
) -> Result<Vec<u8>, KbsError> {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_LEN)
        .read_to_vec()
        .map_err(|e| KbsError::Http {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let detail = serde_json::from_slice::<Problem>(&body)
        .map(|p| p.detail)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(300).collect());
    Err(KbsError::Status {
        url: url.to_owned(),
        status,
        detail,
    })
}
