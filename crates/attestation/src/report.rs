//! `verify_quote_report`: one call that picks the verifier for a quote, appraises the claims
//! and returns one JSON-ready report. The CLI (`rune attest verify`) prints it as is.

use std::error::Error as StdError;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::claims::{Claims, TeeKind};
use crate::dcap::{self, Collateral, INTEL_SGX_ROOT_CA_DER};
use crate::policy::{AppraisalPolicy, Rejection, Verdict};
use crate::quote::{Quote, TEE_TYPE_TDX};
use crate::sim::SimVerifier;

/// The outcome of [`verify_quote_report`].
///
/// Serialises as one JSON object: the [`Claims`] fields when the quote verified (else only
/// `tee` when it is known), then `verdict` (`accepted` or `rejected`) and, when rejected,
/// `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The TEE the quote claims to be from (known even when verification failed, if the
    /// header parsed).
    pub tee: Option<TeeKind>,
    /// The verified claims; `None` when verification failed.
    pub claims: Option<Claims>,
    /// Accepted, or rejected with the reason.
    pub verdict: Verdict,
}

impl VerifyReport {
    /// Whether the quote verified and the policy accepted it.
    pub fn is_accepted(&self) -> bool {
        self.verdict.is_accepted()
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = match self.claims.as_ref().map(Claims::to_json) {
            Some(serde_json::Value::Object(map)) => map,
            _ => {
                let mut map = serde_json::Map::new();
                if let Some(tee) = self.tee {
                    map.insert("tee".into(), tee.as_str().into());
                }
                map
            }
        };
        match &self.verdict {
            Verdict::Accepted => {
                map.insert("verdict".into(), "accepted".into());
            }
            Verdict::Rejected(reason) => {
                map.insert("verdict".into(), "rejected".into());
                map.insert("reason".into(), reason.to_string().into());
            }
        }
        serde_json::Value::Object(map)
    }

    fn rejected(tee: Option<TeeKind>, reason: String) -> Self {
        Self {
            tee,
            claims: None,
            verdict: Verdict::Rejected(Rejection::Verification(reason)),
        }
    }
}

impl Serialize for VerifyReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// Verify a quote and appraise it: the pure function behind `rune attest verify`.
///
/// The verifier is chosen from the quote: TDX quotes go to DCAP; SGX quotes whose PCK chain
/// ends at Intel's SGX Root CA go to DCAP, others to the sim verifier when `sim_root` (PEM) is
/// configured (without it they are rejected by DCAP with a hint). DCAP needs `collateral`.
/// Verification failures are reported as a rejected verdict with the error chain as reason.
pub fn verify_quote_report(
    quote: &[u8],
    collateral: Option<&Collateral>,
    at: SystemTime,
    policy: &AppraisalPolicy,
    sim_root: Option<&str>,
) -> VerifyReport {
    let parsed = match Quote::parse(quote) {
        Ok(parsed) => parsed,
        Err(e) => return VerifyReport::rejected(None, format!("invalid quote: {e}")),
    };
    let is_tdx = parsed.header.tee_type == TEE_TYPE_TDX;
    let intel_rooted = parsed
        .pck_chain()
        .is_ok_and(|chain| chain.last().map(Vec::as_slice) == Some(INTEL_SGX_ROOT_CA_DER));

    let (tee, result) = match sim_root {
        Some(root) if !is_tdx && !intel_rooted => {
            let result = SimVerifier::new(root)
                .map_err(|e| format!("invalid sim root: {}", chain_text(&e)))
                .and_then(|v| v.verify(quote, at).map_err(|e| chain_text(&e)));
            (TeeKind::Sim, result)
        }
        _ => {
            let tee = if is_tdx { TeeKind::Tdx } else { TeeKind::Sgx };
            let result = match collateral {
                Some(collateral) => dcap::verify(quote, collateral, at).map_err(|e| chain_text(&e)),
                None if !intel_rooted && !is_tdx => Err(chain_text(&dcap::DcapError::NotIntelRoot {
                    root_subject: parsed
                        .pck_chain()
                        .ok()
                        .and_then(|c| c.last().map(|der| dcap::subject_of(der)))
                        .unwrap_or_default(),
                })),
                None => Err(format!(
                    "no collateral given: dcap verification of a {tee} quote needs collateral (a file, a directory or a pccs)"
                )),
            };
            (tee, result)
        }
    };
    match result {
        Ok(claims) => {
            let verdict = policy.appraise(&claims);
            if claims.tee == TeeKind::Sim {
                tracing::debug!(
                    tee = "sim",
                    accepted = verdict.is_accepted(),
                    "quote appraised"
                );
            }
            VerifyReport {
                tee: Some(claims.tee),
                claims: Some(claims),
                verdict,
            }
        }
        Err(reason) => VerifyReport::rejected(Some(tee), reason),
    }
}

/// An error and its sources, joined with `: `.
pub(crate) fn chain_text(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
