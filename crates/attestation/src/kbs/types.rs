//! The KBS protocol messages (RCAR, protocol version 0.4.0), as JSON.
//!
//! The shapes are those of Confidential Containers' `kbs-types` 0.18 (the crate trustee and
//! guest-components use). We keep our own serde types because that crate's default feature
//! pulls in `ear` (OpenSSL and aws-lc) and we need strict, size-capped parsing of untrusted
//! requests with typed errors.
//!
//! Field names are kebab-case where kbs-types has them so: `extra-params`, `init-data`,
//! `runtime-data`, `tee-pubkey`, `tee-evidence`, but `primary_evidence`/`additional_evidence`
//! inside the evidence object.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::KbsError;

/// The KBS protocol version verdictd and [`super::KbsClient`] speak.
pub const PROTOCOL_VERSION: &str = "0.4.0";

/// Largest KBS request body parsed (a TDX quote with an event log stays well below).
pub const MAX_REQUEST_LEN: usize = 1024 * 1024;

/// TEE names of the KBS protocol (kbs-types `Tee`, lowercase on the wire).
///
/// Sim enclaves send `sgx`: their quotes have the SGX DCAP layout and the verifier tells
/// them apart by their root CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Tee {
    /// Intel SGX (and the sim TEE, whose quotes are SGX-shaped).
    #[serde(rename = "sgx")]
    Sgx,
    /// Intel TDX.
    #[serde(rename = "tdx")]
    Tdx,
    /// Confidential Containers' test TEE.
    #[serde(rename = "sample")]
    Sample,
    /// Confidential Containers' test device TEE.
    #[serde(rename = "sampledevice")]
    SampleDevice,
    /// AMD SEV-SNP.
    #[serde(rename = "snp")]
    Snp,
    /// Azure SEV-SNP with vTPM.
    #[serde(rename = "az-snp-vtpm")]
    AzSnpVtpm,
    /// Azure TDX with vTPM.
    #[serde(rename = "az-tdx-vtpm")]
    AzTdxVtpm,
    /// Arm CCA.
    #[serde(rename = "cca")]
    Cca,
    /// Hygon CSV.
    #[serde(rename = "csv")]
    Csv,
    /// IBM Secure Execution.
    #[serde(rename = "se")]
    Se,
    /// TPM.
    #[serde(rename = "tpm")]
    Tpm,
    /// NVIDIA GPU.
    #[serde(rename = "nvidia")]
    Nvidia,
}

impl Tee {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sgx => "sgx",
            Self::Tdx => "tdx",
            Self::Sample => "sample",
            Self::SampleDevice => "sampledevice",
            Self::Snp => "snp",
            Self::AzSnpVtpm => "az-snp-vtpm",
            Self::AzTdxVtpm => "az-tdx-vtpm",
            Self::Cca => "cca",
            Self::Csv => "csv",
            Self::Se => "se",
            Self::Tpm => "tpm",
            Self::Nvidia => "nvidia",
        }
    }
}

impl fmt::Display for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tee {
    type Err = KbsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(Value::String(s.to_owned())).map_err(|_| KbsError::Malformed {
            what: "tee",
            reason: format!("unknown tee {s:?}"),
        })
    }
}

/// `POST /kbs/v0/auth` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version of the client (semver).
    pub version: String,
    /// The client's TEE.
    pub tee: Tee,
    /// TEE-specific parameters (guest-components sends `supported-hash-algorithms`).
    #[serde(rename = "extra-params", default)]
    pub extra_params: Value,
}

/// `POST /kbs/v0/auth` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 random bytes, standard base64.
    pub nonce: String,
    /// Server parameters (`selected-hash-algorithm`).
    #[serde(rename = "extra-params", default)]
    pub extra_params: Value,
}

/// A TEE public key as a JWK (RFC 7517), the key resources are encrypted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
#[non_exhaustive]
pub enum TeePubKey {
    /// RSA key (`alg` `RSA-OAEP-256`); `n`, `e` base64url without padding.
    #[serde(rename = "RSA")]
    Rsa {
        /// Key wrapping algorithm.
        alg: String,
        /// Modulus.
        n: String,
        /// Public exponent.
        e: String,
    },
    /// Elliptic curve key (`alg` `ECDH-ES+A256KW`, `crv` `P-256`); coordinates base64url.
    #[serde(rename = "EC")]
    Ec {
        /// Curve name.
        crv: String,
        /// Key agreement algorithm.
        alg: String,
        /// X coordinate.
        x: String,
        /// Y coordinate.
        y: String,
    },
}

/// Data bound into the evidence: the server's nonce and the client's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeData {
    /// The challenge nonce, as received.
    pub nonce: String,
    /// The TEE public key, as sent (kept as JSON so the binding hash covers exactly the
    /// bytes' meaning the client hashed, including any member we do not model).
    #[serde(rename = "tee-pubkey")]
    pub tee_pubkey: Value,
}

/// Evidence of the primary TEE plus additional devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompositeEvidence {
    /// The primary TEE's evidence (for `sgx`: `{"quote": "<base64>"}`).
    pub primary_evidence: Value,
    /// Additional devices' evidence as a JSON string; empty when there are none.
    #[serde(default)]
    pub additional_evidence: String,
}

/// Init data handed to the TEE by the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitData {
    /// Format of `body` (guest-components sends `toml`).
    pub format: String,
    /// The init data.
    pub body: String,
}

/// `POST /kbs/v0/attest` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attestation {
    /// Init data, when the TEE has some.
    #[serde(rename = "init-data", default, skip_serializing_if = "Option::is_none")]
    pub init_data: Option<InitData>,
    /// Nonce and TEE public key.
    #[serde(rename = "runtime-data")]
    pub runtime_data: RuntimeData,
    /// The evidence.
    #[serde(rename = "tee-evidence")]
    pub tee_evidence: CompositeEvidence,
}

/// `POST /kbs/v0/attest` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationResponse {
    /// The attestation token (EAR JWT).
    pub token: String,
}

/// An RFC 7807 problem document, as KBS error responses carry (kbs-types
/// `ErrorInformation` reads `type` and `detail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Problem type URI.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, for a person.
    #[serde(default)]
    pub detail: String,
}

/// The evidence `sgx` attesters send as primary evidence (guest-components'
/// `SgxDcapAttesterEvidence`): the quote in standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgxEvidence {
    /// The DCAP quote, standard base64.
    pub quote: String,
}

/// The evidence `tdx` attesters send: the quote in standard base64, plus event logs we ignore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TdxEvidence {
    /// The TD quote, standard base64.
    pub quote: String,
    /// CCEL event log, base64 (not replayed by verdictd yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_eventlog: Option<String>,
}

/// Parse a JSON body of at most [`MAX_REQUEST_LEN`] bytes.
pub fn parse_json<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, KbsError> {
    if bytes.len() > MAX_REQUEST_LEN {
        return Err(KbsError::TooLarge {
            what,
            len: bytes.len(),
            max: MAX_REQUEST_LEN,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| KbsError::Malformed {
        what,
        reason: e.to_string(),
    })
}

impl Request {
    /// Parse an auth request body.
    pub fn parse(bytes: &[u8]) -> Result<Self, KbsError> {
        parse_json("auth request", bytes)
    }
}

impl Attestation {
    /// Parse an attest request body.
    pub fn parse(bytes: &[u8]) -> Result<Self, KbsError> {
        parse_json("attestation request", bytes)
    }

    /// The TEE public key, typed.
    pub fn tee_pubkey(&self) -> Result<TeePubKey, KbsError> {
        TeePubKey::deserialize(&self.runtime_data.tee_pubkey).map_err(|e| KbsError::Malformed {
            what: "tee-pubkey",
            reason: e.to_string(),
        })
    }

    /// The primary evidence as a JSON value: an object, or a string holding JSON (older
    /// clients sent the evidence serialised).
    pub fn primary_evidence(&self) -> Result<Value, KbsError> {
        match &self.tee_evidence.primary_evidence {
            Value::String(text) => parse_json("primary evidence", text.as_bytes()),
            other => Ok(other.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_guest_components_attestation() {
        let body = br#"{
            "runtime-data": {"nonce": "bm9uY2U=", "tee-pubkey": {"kty": "EC", "crv": "P-256",
                "alg": "ECDH-ES+A256KW", "x": "eA", "y": "eQ"}},
            "tee-evidence": {"primary_evidence": {"quote": "AAAA"}, "additional_evidence": ""}
        }"#;
        let att = Attestation::parse(body).unwrap();
        assert!(att.init_data.is_none());
        assert_eq!(att.runtime_data.nonce, "bm9uY2U=");
        assert!(matches!(att.tee_pubkey().unwrap(), TeePubKey::Ec { crv, .. } if crv == "P-256"));
        assert_eq!(att.primary_evidence().unwrap()["quote"], "AAAA");
    }

    #[test]
    fn request_and_challenge_use_kebab_case() {
        let req = Request {
            version: PROTOCOL_VERSION.into(),
            tee: Tee::Sgx,
            extra_params: serde_json::json!({}),
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"version":"0.4.0","tee":"sgx","extra-params":{}}"#
        );
        let parsed =
            Request::parse(br#"{"version":"0.4.0","tee":"az-tdx-vtpm","extra-params":""}"#)
                .unwrap();
        assert_eq!(parsed.tee, Tee::AzTdxVtpm);
        assert!(Request::parse(br#"{"version":"0.4.0","tee":"sim"}"#).is_err());
        assert_eq!("tdx".parse::<Tee>().unwrap(), Tee::Tdx);
    }

    #[test]
    fn rsa_and_ec_jwks_round_trip() {
        let rsa: TeePubKey =
            serde_json::from_str(r#"{"kty":"RSA","alg":"RSA-OAEP-256","n":"AQAB","e":"AQAB"}"#)
                .unwrap();
        assert!(matches!(rsa, TeePubKey::Rsa { .. }));
        let text = serde_json::to_string(&rsa).unwrap();
        assert!(text.starts_with(r#"{"kty":"RSA""#), "{text}");
    }
}
