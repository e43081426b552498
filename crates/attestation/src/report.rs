//! `verify_quote_report`: one call that picks the verifier for a quote, appraises the claims
//! and returns one JSON-ready report. The CLI (`rune attest verify`) prints it as is.

use std::error::Error as StdError;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::claims::{Claims, TeeKind};
use crate::dcap::{self, Collateral, INTEL_SGX_ROOT_CA_DER};
use crate::policy::{AppraisalPolicy, Rejection, Verdict};
use crate::quote::{Quote, TEE_TYPE_TDX};
use crate::sim::{SimVerifier, SIM_QE_VENDOR_ID};

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
/// ends at Intel's SGX Root CA go to DCAP. `root_ca` (PEM) is an explicitly configured root:
/// sim quotes (the sim QE vendor id) and any SGX quote not chained to it go to the sim
/// verifier, which accepts only that root; other SGX quotes chained to it (a private
/// Intel-shaped PKI) go to DCAP with that root instead of Intel's. Without `root_ca`, quotes
/// not chained to Intel's root are rejected with a hint. DCAP needs `collateral`.
/// Verification failures are reported as a rejected verdict with the error chain as reason.
pub fn verify_quote_report(
    quote: &[u8],
    collateral: Option<&Collateral>,
    at: SystemTime,
    policy: &AppraisalPolicy,
    root_ca: Option<&str>,
) -> VerifyReport {
    let parsed = match Quote::parse(quote) {
        Ok(parsed) => parsed,
        Err(e) => return VerifyReport::rejected(None, format!("invalid quote: {e}")),
    };
    let is_tdx = parsed.header.tee_type == TEE_TYPE_TDX;
    let chain_root = parsed.pck_chain().ok().and_then(|mut chain| chain.pop());
    let intel_rooted = chain_root.as_deref() == Some(INTEL_SGX_ROOT_CA_DER);
    // An Intel-shaped quote chained to the configured root: DCAP against that root.
    let configured_root = root_ca
        .filter(|_| !is_tdx && parsed.header.qe_vendor_id != SIM_QE_VENDOR_ID)
        .and_then(single_pem_cert)
        .filter(|der| chain_root.as_ref() == Some(der));

    let (tee, result) = match (root_ca, configured_root) {
        (_, Some(root_der)) => {
            let result = match collateral {
                Some(collateral) => dcap::verify_with_root(quote, collateral, at, &root_der)
                    .map_err(|e| chain_text(&e)),
                None => Err("no collateral given: dcap verification of an sgx quote chained to the configured root ca needs collateral".to_owned()),
            };
            (TeeKind::Sgx, result)
        }
        (Some(root), None) if !is_tdx && !intel_rooted => {
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
                    root_subject: chain_root
                        .as_deref()
                        .map(dcap::subject_of)
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

/// The DER of a PEM holding exactly one certificate.
fn single_pem_cert(pem: &str) -> Option<Vec<u8>> {
    let mut certs = crate::quote::parse_pem_chain(pem.as_bytes()).ok()?;
    match (certs.pop(), certs.is_empty()) {
        (Some(der), true) => Some(der),
        _ => None,
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
