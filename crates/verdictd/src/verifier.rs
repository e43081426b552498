//! Evidence verification by TEE: `sgx` (real DCAP quotes, or sim quotes chained to the
//! configured sim root), `tdx` and `sample`; then the report data binding.

use std::time::SystemTime;

use attestation::dcap::{self, CollateralSource};
use attestation::kbs::types::{SgxEvidence, TdxEvidence};
use attestation::kbs::Tee;
use attestation::sim::SimVerifier;
use attestation::{sample, Claims};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::error::{chain, ApiError};

/// Largest quote accepted (a v4 TDX quote with its PCK chain is ~5 KiB).
pub const MAX_QUOTE_LEN: usize = 64 * 1024;

/// The configured verifiers.
#[derive(Debug, Default)]
pub struct Verifiers {
    /// Verifier of sim quotes, when a sim root CA is configured.
    pub sim: Option<SimVerifier>,
    /// Collateral for real DCAP quotes.
    pub collateral: Option<CollateralSource>,
}

impl Verifiers {
    /// Verify `evidence` of `tee` and check it carries `report_data`.
    pub fn verify(
        &self,
        tee: Tee,
        evidence: &Value,
        report_data: &[u8; 64],
        now: SystemTime,
    ) -> Result<Claims, ApiError> {
        let claims = match tee {
            Tee::Sgx => {
                let parsed: SgxEvidence = from_value("sgx evidence", evidence)?;
                let quote = decode_quote(&parsed.quote)?;
                match &self.sim {
                    Some(sim) if sim.is_rooted_here(&quote) => sim
                        .verify(&quote, now)
                        .map_err(|e| ApiError::Attestation(chain(&e)))?,
                    _ => self.dcap(&quote, now)?,
                }
            }
            Tee::Tdx => {
                let parsed: TdxEvidence = from_value("tdx evidence", evidence)?;
                let quote = decode_quote(&parsed.quote)?;
                self.dcap(&quote, now)?
            }
            Tee::Sample => {
                let bytes = serde_json::to_vec(evidence)
                    .map_err(|e| ApiError::BadRequest(format!("sample evidence: {e}")))?;
                sample::verify(&bytes, Some(&report_data[..]))
                    .map_err(|e| ApiError::Attestation(chain(&e)))?
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "tee {other} is not supported by verdictd: expected sgx, tdx or sample"
                )))
            }
        };
        if &claims.report_data != report_data {
            return Err(ApiError::Attestation(format!(
                "report_data {} is not bound to the session nonce and tee-pubkey (expected {})",
                hex(&claims.report_data),
                hex(report_data)
            )));
        }
        Ok(claims)
    }

    fn dcap(&self, quote: &[u8], now: SystemTime) -> Result<Claims, ApiError> {
        let source = self.collateral.as_ref().ok_or_else(|| {
            ApiError::Attestation(
                "no dcap collateral is configured, so hardware quotes cannot be verified \
                 (sim quotes need --sim-root-ca)"
                    .to_owned(),
            )
        })?;
        let collateral = source
            .collateral_for(quote, now)
            .map_err(|e| ApiError::Attestation(chain(&e)))?;
        dcap::verify(quote, &collateral, now).map_err(|e| ApiError::Attestation(chain(&e)))
    }
}

fn from_value<T: serde::de::DeserializeOwned>(what: &str, value: &Value) -> Result<T, ApiError> {
    T::deserialize(value).map_err(|e| ApiError::BadRequest(format!("malformed {what}: {e}")))
}

fn decode_quote(text: &str) -> Result<Vec<u8>, ApiError> {
    // Base64 is 4/3 of the bytes: check before decoding.
    if text.len() > MAX_QUOTE_LEN / 3 * 4 + 4 {
        return Err(ApiError::BadRequest(format!(
            "quote is larger than the {MAX_QUOTE_LEN}-byte limit"
        )));
    }
    STANDARD
        .decode(text)
        .map_err(|e| ApiError::BadRequest(format!("quote is not standard base64: {e}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
