//! The KBS protocol logic, framework-free: RCAR (`auth`, `attest`), resources and the admin
//! operations. Handlers in `http` only extract bytes and headers and call these methods.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use attestation::kbs::jwe::{self, JweResponse};
use attestation::kbs::types::AttestationResponse;
use attestation::kbs::{binding, Attestation, Challenge, Request, ResourcePath, TeePubKey};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::policy::{Policy, DEFAULT_ATTESTATION_POLICY, DEFAULT_RESOURCE_POLICY};
use crate::session::{SessionError, Sessions};
use crate::store::{PolicyKind, Store};
use crate::token::{TokenSigner, TEE_PUBKEY_POINTER};
use crate::verifier::Verifiers;

/// The protocol versions accepted at `/auth` (semver requirement).
pub const SUPPORTED_VERSIONS: &str = "^0.4.0";
/// Most values in one reference value list.
const MAX_REFERENCE_VALUES: usize = 1024;

/// base64url, padding optional (kbs-client sends none; be lenient about `=`).
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How a resource request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// Nothing.
    None,
    /// The `kbs-session-id` cookie.
    Session(&'a str),
    /// `Authorization: Bearer` attestation token (passport mode).
    Bearer(&'a str),
}

/// Tunables of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Lifetime of RCAR sessions.
    pub session_ttl: Duration,
    /// Lifetime of attestation tokens.
    pub token_ttl: Duration,
}

struct Policies {
    attestation: Policy,
    attestation_id: &'static str,
    resource: Policy,
}

/// The key broker.
pub struct Kbs {
    store: Store,
    sessions: Sessions,
    policies: RwLock<Arc<Policies>>,
    signer: TokenSigner,
    verifiers: Verifiers,
    /// Request and attestation metrics.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Kbs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kbs").finish_non_exhaustive()
    }
}

/// Admin body of `POST /resource-policy` and `/attestation-policy` (kbs-client's
/// `SetPolicyInput`: `type` and `policy_id` are sent for the attestation policy).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPolicy {
    /// The Rego text, base64url without padding.
    pub policy: String,
    /// Policy language; only `rego`.
    #[serde(default, rename = "type")]
    pub policy_type: Option<String>,
    /// Policy id (verdictd keeps one policy of each kind).
    #[serde(default)]
    pub policy_id: Option<String>,
}

/// Admin body of `POST /reference-value`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetReferenceValue {
    /// Name, e.g. `mrenclave`.
    pub name: String,
    /// The accepted values.
    pub values: Vec<Value>,
}

impl Kbs {
    /// The service over an opened store.
    pub fn new(
        store: Store,
        verifiers: Verifiers,
        signer: TokenSigner,
        config: &ServiceConfig,
    ) -> Result<Self, ApiError> {
        let policies = load_policies(&store)?;
        Ok(Self {
            store,
            sessions: Sessions::new(config.session_ttl),
            policies: RwLock::new(Arc::new(policies)),
            signer,
            verifiers,
            metrics: Metrics::default(),
        })
    }

    fn policies(&self) -> Arc<Policies> {
        self.policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn reload_policies(&self) -> Result<(), ApiError> {
        let fresh = Arc::new(load_policies(&self.store)?);
        *self.policies.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// `POST /auth`: check the version (first), open a session; returns its id and challenge.
    pub fn auth(&self, body: &[u8]) -> Result<(String, Challenge), ApiError> {
        let request = Request::parse(body)?;
        let version = semver::Version::parse(&request.version).map_err(|e| {
            ApiError::BadRequest(format!(
                "protocol version {:?} is not semver: {e}",
                request.version
            ))
        })?;
        let supported = semver::VersionReq::parse(SUPPORTED_VERSIONS)
            .map_err(|e| ApiError::internal("parsing the supported versions", e))?;
        if !supported.matches(&version) {
            return Err(ApiError::BadRequest(format!(
                "protocol version {version} is not supported: verdictd speaks {}",
                attestation::kbs::PROTOCOL_VERSION
            )));
        }
        let (id, nonce) = self.sessions.open(request.tee).map_err(session_error)?;
        Ok((
            id,
            Challenge {
                nonce,
                extra_params: json!({ "selected-hash-algorithm": "sha384" }),
            },
        ))
    }

    /// `POST /attest`: verify evidence bound to the session's nonce; issue a token.
    pub fn attest(
        &self,
        session_id: Option<&str>,
        body: &[u8],
    ) -> Result<AttestationResponse, ApiError> {
        let id = session_id.ok_or_else(|| {
            ApiError::Unauthenticated("no kbs-session-id cookie: call /auth first".to_owned())
        })?;
        let attestation = Attestation::parse(body)?;
        let session = self.sessions.take_challenge(id).map_err(session_error)?;
        let tee = session.tee.as_str();
        let result = self.appraise(&session.nonce, session.tee, &attestation);
        match result {
            Ok((token, claims, key, status)) => {
                self.sessions.attested(id, claims, key);
                self.metrics.attestation(&status.0, status.1);
                self.metrics.handshake(session.created.elapsed());
                tracing::info!(tee = %status.0, status = status.1, "attestation token issued");
                Ok(AttestationResponse { token })
            }
            Err(e) => {
                self.metrics.attestation(tee, "failed");
                Err(e)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn appraise(
        &self,
        nonce: &str,
        tee: attestation::kbs::Tee,
        attestation: &Attestation,
    ) -> Result<(String, Value, TeePubKey, (String, &'static str)), ApiError> {
        if attestation.runtime_data.nonce != nonce {
            return Err(ApiError::Attestation(
                "runtime-data nonce does not match the session's challenge".to_owned(),
            ));
        }
        let key = attestation.tee_pubkey()?;
        check_key(&key)?;
        let report_data = binding::report_data(
            nonce,
            &attestation.runtime_data.tee_pubkey,
            &attestation.tee_evidence.additional_evidence,
        )?;
        let evidence = attestation.primary_evidence()?;
        let now = SystemTime::now();
        let claims = self.verifiers.verify(tee, &evidence, &report_data, now)?;
        let claims_json = claims.to_json();
        let policies = self.policies();
        let appraisal = policies
            .attestation
            .appraise(&claims_json)
            .map_err(|e| ApiError::internal("evaluating the attestation policy", e))?;
        let mut annotated = claims_json;
        if let Value::Object(map) = &mut annotated {
            map.insert(
                "runtime_data_claims".into(),
                json!({ "nonce": nonce, "tee-pubkey": attestation.runtime_data.tee_pubkey }),
            );
            if let Some(init) = &attestation.init_data {
                map.insert(
                    "init_data_claims".into(),
                    json!({ "format": init.format, "body": init.body }),
                );
            }
        }
        let token_claims = json!({
            "ear.verifier-id": {
                "developer": "rune verdictd",
                "build": concat!("verdictd ", env!("CARGO_PKG_VERSION")),
            },
            "submods": {
                "cpu0": {
                    "ear.status": appraisal.status.as_str(),
                    "ear.trustworthiness-vector": appraisal.trust_vector,
                    "ear.appraisal-policy-id": policies.attestation_id,
                    "ear.veraison.annotated-evidence": annotated,
                }
            }
        });
        let token = self
            .signer
            .issue(token_claims.clone(), now)
            .map_err(|e| ApiError::internal("signing the token", e))?;
        Ok((
            token,
            token_claims,
            key,
            (claims.tee.as_str().to_owned(), appraisal.status.as_str()),
        ))
    }

    /// `GET /resource/<path>`: policy check, then the resource as a JWE to the TEE key.
    pub fn resource(
        &self,
        path: &str,
        credential: Credential<'_>,
    ) -> Result<JweResponse, ApiError> {
        let path = ResourcePath::parse(path)?;
        let (claims, key) = match credential {
            Credential::None => {
                return Err(ApiError::Unauthenticated(
                    "no kbs-session-id cookie or bearer token: attest first".to_owned(),
                ))
            }
            Credential::Session(id) => self.sessions.attested_state(id).map_err(session_error)?,
            Credential::Bearer(token) => {
                let claims = self
                    .signer
                    .verify(token, SystemTime::now())
                    .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
                let key = claims
                    .pointer(TEE_PUBKEY_POINTER)
                    .and_then(|v| TeePubKey::deserialize(v).ok())
                    .ok_or_else(|| {
                        ApiError::Unauthenticated("attestation token has no tee-pubkey".to_owned())
                    })?;
                (claims, key)
            }
        };
        let text = path.to_string();
        let allowed = self
            .policies()
            .resource
            .allows(&claims, &text)
            .map_err(|e| ApiError::internal("evaluating the resource policy", e))?;
        if !allowed {
            let status = claims
                .pointer("/submods/cpu0/ear.status")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            // Name the claims that kept the attestation from affirming, so a refused tenant
            // sees why (e.g. `executables=33`: the measurement is not a reference value).
            let unaffirmed: Vec<String> = claims
                .pointer("/submods/cpu0/ear.trustworthiness-vector")
                .and_then(Value::as_object)
                .map(|vector| {
                    vector
                        .iter()
                        .filter(|(_, v)| v.as_i64().is_some_and(|v| v != 0 && v != 2))
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect()
                })
                .unwrap_or_default();
            let why = if unaffirmed.is_empty() {
                String::new()
            } else {
                format!(": {}", unaffirmed.join(", "))
            };
            return Err(ApiError::Forbidden(format!(
                "resource policy denies {text} (attestation status {status}{why})"
            )));
        }
        let bytes = self
            .store
            .resource(&text)
            .map_err(|e| ApiError::internal("reading the resource", e))?
            .ok_or_else(|| ApiError::NotFound(format!("resource {text} does not exist")))?;
        jwe::encrypt(&key, &bytes).map_err(ApiError::from)
    }

    /// Admin: store a resource.
    pub fn set_resource(&self, path: &str, bytes: &[u8]) -> Result<(), ApiError> {
        let path = ResourcePath::parse(path)?;
        self.store
            .put_resource(&path.to_string(), bytes)
            .map_err(|e| ApiError::internal("writing the resource", e))?;
        tracing::info!(path = %path, len = bytes.len(), "resource set");
        Ok(())
    }

    /// Admin: delete a resource (404 if it does not exist).
    pub fn delete_resource(&self, path: &str) -> Result<(), ApiError> {
        let path = ResourcePath::parse(path)?;
        let existed = self
            .store
            .delete_resource(&path.to_string())
            .map_err(|e| ApiError::internal("deleting the resource", e))?;
        if !existed {
            return Err(ApiError::NotFound(format!(
                "resource {path} does not exist"
            )));
        }
        tracing::info!(path = %path, "resource deleted");
        Ok(())
    }

    /// Admin: every resource path.
    pub fn list_resources(&self) -> Result<Vec<String>, ApiError> {
        self.store
            .list_resources()
            .map_err(|e| ApiError::internal("listing resources", e))
    }

    /// Admin: set a policy from a kbs-client body.
    pub fn set_policy(&self, kind: PolicyKind, body: &[u8]) -> Result<(), ApiError> {
        let input: SetPolicy = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("malformed policy request: {e}")))?;
        if let Some(t) = &input.policy_type {
            if !t.eq_ignore_ascii_case("rego") {
                return Err(ApiError::BadRequest(format!(
                    "policy type {t:?} is not supported: expected rego"
                )));
            }
        }
        let bytes = B64URL.decode(input.policy.as_bytes()).map_err(|e| {
            ApiError::BadRequest(format!("policy is not base64url without padding: {e}"))
        })?;
        let rego = String::from_utf8(bytes)
            .map_err(|_| ApiError::BadRequest("policy is not utf-8".to_owned()))?;
        let name = match kind {
            PolicyKind::Attestation => "attestation",
            PolicyKind::Resource => "resource",
        };
        Policy::compile(name, &rego, &self.references()?)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.store
            .put_policy(kind, &rego)
            .map_err(|e| ApiError::internal("writing the policy", e))?;
        self.reload_policies()?;
        tracing::info!(kind = name, policy_id = ?input.policy_id, "policy set");
        Ok(())
    }

    /// Admin: set a reference value list.
    pub fn set_reference_value(&self, body: &[u8]) -> Result<(), ApiError> {
        let input: SetReferenceValue = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("malformed reference value request: {e}")))?;
        let valid_name = !input.name.is_empty()
            && input.name.len() <= 64
            && input
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_name {
            return Err(ApiError::BadRequest(format!(
                "invalid reference value name {:?}: 1 to 64 letters, digits, '_', '-' or '.'",
                input.name.chars().take(80).collect::<String>()
            )));
        }
        if input.values.len() > MAX_REFERENCE_VALUES {
            return Err(ApiError::BadRequest(format!(
                "{} reference values: at most {MAX_REFERENCE_VALUES}",
                input.values.len()
            )));
        }
        let text = Value::Array(input.values).to_string();
        self.store
            .put_reference(&input.name, &text)
            .map_err(|e| ApiError::internal("writing the reference value", e))?;
        self.reload_policies()?;
        tracing::info!(name = %input.name, "reference value set");
        Ok(())
    }

    fn references(&self) -> Result<BTreeMap<String, Value>, ApiError> {
        references(&self.store)
    }

    /// Drop expired sessions (called periodically).
    pub fn sweep_sessions(&self) -> usize {
        self.sessions.sweep()
    }
}

fn references(store: &Store) -> Result<BTreeMap<String, Value>, ApiError> {
    let mut out = BTreeMap::new();
    for (name, text) in store
        .references()
        .map_err(|e| ApiError::internal("reading reference values", e))?
    {
        let value = serde_json::from_str(&text)
            .map_err(|e| ApiError::internal("parsing a stored reference value", e))?;
        out.insert(name, value);
    }
    Ok(out)
}

fn load_policies(store: &Store) -> Result<Policies, ApiError> {
    let reference = references(store)?;
    let stored = |kind| {
        store
            .policy(kind)
            .map_err(|e| ApiError::internal("reading a policy", e))
    };
    let (attestation_text, attestation_id) = match stored(PolicyKind::Attestation)? {
        Some(text) => (text, "operator"),
        None => (DEFAULT_ATTESTATION_POLICY.to_owned(), "default"),
    };
    let resource_text =
        stored(PolicyKind::Resource)?.unwrap_or_else(|| DEFAULT_RESOURCE_POLICY.to_owned());
    let compile = |kind, text: &str| {
        Policy::compile(kind, text, &reference)
            .map_err(|e| ApiError::internal("compiling a stored policy", e))
    };
    Ok(Policies {
        attestation: compile("attestation", &attestation_text)?,
        attestation_id,
        resource: compile("resource", &resource_text)?,
    })
}

fn check_key(key: &TeePubKey) -> Result<(), ApiError> {
    let ok = match key {
        TeePubKey::Ec { crv, alg, .. } => crv == jwe::P256 && alg == jwe::ECDH_ES_A256KW,
        TeePubKey::Rsa { alg, .. } => alg == jwe::RSA_OAEP_256,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "tee-pubkey must be an EC P-256 key for ECDH-ES+A256KW or an RSA key for RSA-OAEP-256"
                .to_owned(),
        ))
    }
}

fn session_error(e: SessionError) -> ApiError {
    match e {
        SessionError::Full | SessionError::Random => ApiError::internal("opening a session", e),
        other => ApiError::Unauthenticated(other.to_string()),
    }
}
