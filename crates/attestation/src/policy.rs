//! Appraisal policy: which verified claims are acceptable.
//!
//! Verification answers "is this evidence genuine and what does it say"; appraisal answers
//! "do we accept it". The default accepts only `UpToDate` platforms and non-debug enclaves.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::claims::{Claims, TcbStatus};

/// What verified claims must satisfy to be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppraisalPolicy {
    /// TCB statuses accepted. Default: only `UpToDate`.
    pub accepted_statuses: Vec<TcbStatus>,
    /// Advisory ids (e.g. `INTEL-SA-00615`) whose presence rejects the claims.
    #[serde(default)]
    pub rejected_advisories: Vec<String>,
    /// Whether debug enclaves / TDs are accepted. Default: no (their memory is readable).
    #[serde(default)]
    pub allow_debug: bool,
}

impl Default for AppraisalPolicy {
    fn default() -> Self {
        Self {
            accepted_statuses: vec![TcbStatus::UpToDate],
            rejected_advisories: Vec::new(),
            allow_debug: false,
        }
    }
}

impl AppraisalPolicy {
    /// The default policy accepting these statuses instead of only `UpToDate`.
    pub fn accepting(statuses: impl IntoIterator<Item = TcbStatus>) -> Self {
        Self {
            accepted_statuses: statuses.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Also reject claims carrying any of these advisory ids.
    #[must_use]
    pub fn rejecting_advisories(
        mut self,
        ids: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.rejected_advisories
            .extend(ids.into_iter().map(Into::into));
        self
    }

    /// Accept debug enclaves too.
    #[must_use]
    pub fn allowing_debug(mut self, allow: bool) -> Self {
        self.allow_debug = allow;
        self
    }

    /// Appraise verified claims.
    pub fn appraise(&self, claims: &Claims) -> Verdict {
        if !self.accepted_statuses.contains(&claims.tcb_status) {
            return Verdict::Rejected(Rejection::TcbStatus {
                status: claims.tcb_status,
                accepted: self.accepted_statuses.clone(),
            });
        }
        if let Some(id) = claims.advisory_ids.iter().find(|id| {
            self.rejected_advisories
                .iter()
                .any(|r| r.eq_ignore_ascii_case(id))
        }) {
            return Verdict::Rejected(Rejection::Advisory { id: id.clone() });
        }
        if claims.debug && !self.allow_debug {
            return Verdict::Rejected(Rejection::Debug);
        }
        Verdict::Accepted
    }
}

/// The outcome of appraisal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The claims satisfy the policy.
    Accepted,
    /// The evidence is rejected, and why.
    Rejected(Rejection),
}

impl Verdict {
    /// Whether the verdict is [`Verdict::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted)
    }
}

/// Why evidence was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The TCB status is not among the accepted ones.
    TcbStatus {
        /// The platform's status.
        status: TcbStatus,
        /// The statuses the policy accepts.
        accepted: Vec<TcbStatus>,
    },
    /// An advisory the policy rejects applies.
    Advisory {
        /// The advisory id.
        id: String,
    },
    /// The enclave or TD is in debug mode.
    Debug,
    /// The evidence did not verify; the text is the error chain.
    Verification(String),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TcbStatus { status, accepted } => {
                let accepted: Vec<&str> = accepted.iter().map(|s| s.as_str()).collect();
                write!(
                    f,
                    "tcb status {status} is not accepted (accepted: {})",
                    if accepted.is_empty() {
                        "none".to_owned()
                    } else {
                        accepted.join(", ")
                    }
                )
            }
            Self::Advisory { id } => write!(f, "advisory {id} is rejected by policy"),
            Self::Debug => f.write_str("debug enclave rejected by policy"),
            Self::Verification(reason) => f.write_str(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{Measurements, TeeKind};

    fn claims(status: TcbStatus, advisories: &[&str], debug: bool) -> Claims {
        Claims {
            tee: TeeKind::Sgx,
            measurements: Measurements::Sgx {
                mrenclave: [0; 32],
                mrsigner: [0; 32],
            },
            isv_prod_id: Some(0),
            isv_svn: Some(0),
            debug,
            tcb_status: status,
            advisory_ids: advisories.iter().map(|s| (*s).to_owned()).collect(),
            report_data: [0; 64],
        }
    }

    #[test]
    fn default_accepts_only_up_to_date() {
        let policy = AppraisalPolicy::default();
        assert!(policy
            .appraise(&claims(TcbStatus::UpToDate, &[], false))
            .is_accepted());
        let verdict = policy.appraise(&claims(TcbStatus::SWHardeningNeeded, &[], false));
        let Verdict::Rejected(reason) = verdict else {
            panic!("accepted")
        };
        assert_eq!(
            reason.to_string(),
            "tcb status SWHardeningNeeded is not accepted (accepted: UpToDate)"
        );
    }

    #[test]
    fn rejected_advisory_and_debug() {
        let policy =
            AppraisalPolicy::accepting([TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded])
                .rejecting_advisories(["INTEL-SA-00615"]);
        let verdict = policy.appraise(&claims(
            TcbStatus::SWHardeningNeeded,
            &["INTEL-SA-00289", "INTEL-SA-00615"],
            false,
        ));
        assert_eq!(
            verdict,
            Verdict::Rejected(Rejection::Advisory {
                id: "INTEL-SA-00615".into()
            })
        );
        let verdict = policy.appraise(&claims(TcbStatus::UpToDate, &[], true));
        assert_eq!(verdict, Verdict::Rejected(Rejection::Debug));
        assert_eq!(
            Rejection::Debug.to_string(),
            "debug enclave rejected by policy"
        );
        assert!(policy
            .allowing_debug(true)
            .appraise(&claims(TcbStatus::UpToDate, &[], true))
            .is_accepted());
    }
}
