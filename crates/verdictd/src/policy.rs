//! Attestation and resource policies in Rego, evaluated with `regorus`.
//!
//! A policy is compiled once (when set or at start) into an engine holding the reference
//! values as `data.reference`; each evaluation clones that engine, so requests never wait on
//! each other. The defaults are the files in `policies/`, embedded at build time.

use std::collections::BTreeMap;

use serde_json::Value;

/// The default attestation policy (denies sim, sample, debug and non-UpToDate TCBs).
pub const DEFAULT_ATTESTATION_POLICY: &str = include_str!("../policies/attestation.rego");
/// The default resource policy (allows affirming attestations only).
pub const DEFAULT_RESOURCE_POLICY: &str = include_str!("../policies/resource.rego");

/// Why a policy could not be compiled or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The Rego text does not compile.
    #[error("invalid {kind} policy: {reason}")]
    Compile {
        /// Which policy.
        kind: &'static str,
        /// The compiler's message.
        reason: String,
    },
    /// Evaluation failed (a runtime error in the policy).
    #[error("evaluating the {kind} policy: {reason}")]
    Eval {
        /// Which policy.
        kind: &'static str,
        /// The engine's message.
        reason: String,
    },
    /// The policy's result has the wrong shape.
    #[error("the {kind} policy's {rule} is {found}: {expected}")]
    Shape {
        /// Which policy.
        kind: &'static str,
        /// The rule.
        rule: &'static str,
        /// What was found.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// EAR status tiers (draft-ietf-rats-ar4si §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EarStatus {
    /// No claim made.
    None,
    /// Trustworthy.
    Affirming,
    /// Trustworthy with reservations.
    Warning,
    /// Not trustworthy.
    Contraindicated,
}

impl EarStatus {
    /// EAR's name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Affirming => "affirming",
            Self::Warning => "warning",
            Self::Contraindicated => "contraindicated",
        }
    }

    /// The tier of one trustworthiness claim value.
    pub fn of_claim(value: i64) -> Self {
        match value {
            2..=31 => Self::Affirming,
            32..=95 => Self::Warning,
            96..=127 => Self::Contraindicated,
            _ => Self::None,
        }
    }
}

/// The attestation policy's appraisal.
#[derive(Debug, Clone, PartialEq)]
pub struct Appraisal {
    /// The worst tier of the trustworthiness vector.
    pub status: EarStatus,
    /// The trustworthiness vector (AR4SI claim name ⇒ value).
    pub trust_vector: BTreeMap<String, i64>,
}

/// A compiled policy (with the reference values it was compiled with).
#[derive(Debug, Clone)]
pub struct Policy {
    kind: &'static str,
    engine: regorus::Engine,
}

impl Policy {
    /// Compile a policy, with `reference` (name ⇒ list) as `data.reference`. Rego v1 is
    /// tried first, then v0 (trustee's sample policies use v0 syntax).
    pub fn compile(
        kind: &'static str,
        rego: &str,
        reference: &BTreeMap<String, Value>,
    ) -> Result<Self, PolicyError> {
        let compile = |v0: bool| -> Result<regorus::Engine, String> {
            let mut engine = regorus::Engine::new();
            engine.set_rego_v0(v0);
            engine
                .add_policy(format!("{kind}.rego"), rego.to_owned())
                .map_err(|e| e.to_string())?;
            let data = serde_json::json!({ "reference": reference });
            engine
                .add_data_json(&data.to_string())
                .map_err(|e| e.to_string())?;
            Ok(engine)
        };
        let engine = match compile(false) {
            Ok(engine) => engine,
            Err(v1_error) => compile(true).map_err(|_| PolicyError::Compile {
                kind,
                reason: v1_error,
            })?,
        };
        Ok(Self { kind, engine })
    }

    fn eval(
        &self,
        rule: &'static str,
        input: &Value,
        data: Option<&Value>,
    ) -> Result<Value, PolicyError> {
        let mut engine = self.engine.clone();
        let fail = |e: String| PolicyError::Eval {
            kind: self.kind,
            reason: e,
        };
        // Values go across as values, not through JSON text: on the attestation path this
        // conversion was a fifth of the policy's cost.
        engine.set_input(regorus::Value::from(input.clone()));
        if let Some(data) = data {
            engine
                .add_data(regorus::Value::from(data.clone()))
                .map_err(|e| fail(e.to_string()))?;
        }
        let value = engine
            .eval_rule(format!("data.policy.{rule}"))
            .map_err(|e| fail(e.to_string()))?;
        if value == regorus::Value::Undefined {
            return Ok(Value::Null);
        }
        serde_json::to_value(&value).map_err(|e| fail(e.to_string()))
    }

    /// Appraise verified claims: `data.policy.trust_vector` ⇒ EAR status.
    pub fn appraise(&self, claims: &Value) -> Result<Appraisal, PolicyError> {
        let value = self.eval("trust_vector", claims, None)?;
        let shape = |found: &Value| PolicyError::Shape {
            kind: self.kind,
            rule: "trust_vector",
            found: found.to_string().chars().take(200).collect(),
            expected: "an object of ar4si claim names to integers",
        };
        let object = match &value {
            Value::Object(map) => map,
            Value::Null => {
                return Ok(Appraisal {
                    status: EarStatus::None,
                    trust_vector: BTreeMap::new(),
                })
            }
            other => return Err(shape(other)),
        };
        let mut trust_vector = BTreeMap::new();
        for (name, claim) in object {
            let n = claim.as_i64().ok_or_else(|| shape(claim))?;
            trust_vector.insert(name.clone(), n);
        }
        let status = trust_vector
            .values()
            .map(|v| EarStatus::of_claim(*v))
            .max()
            .unwrap_or(EarStatus::None);
        Ok(Appraisal {
            status,
            trust_vector,
        })
    }

    /// Whether `data.policy.allow` holds for these token claims and resource path.
    pub fn allows(&self, token_claims: &Value, resource_path: &str) -> Result<bool, PolicyError> {
        let data = serde_json::json!({ "resource-path": resource_path, "plugin": "resource" });
        match self.eval("allow", token_claims, Some(&data))? {
            Value::Bool(allow) => Ok(allow),
            Value::Null => Ok(false),
            other => Err(PolicyError::Shape {
                kind: self.kind,
                rule: "allow",
                found: other.to_string().chars().take(200).collect(),
                expected: "a boolean",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(tee: &str, debug: bool, tcb: &str) -> Value {
        json!({"tee": tee, "mrenclave": "11", "mrsigner": "22", "debug": debug, "tcb_status": tcb,
               "isv_prod_id": 0, "isv_svn": 0, "advisory_ids": [], "report_data": "00"})
    }

    #[test]
    fn default_attestation_policy_denies_sim_sample_debug_and_old_tcb() {
        let none = BTreeMap::new();
        let policy = Policy::compile("attestation", DEFAULT_ATTESTATION_POLICY, &none).unwrap();
        let ok = policy.appraise(&claims("sgx", false, "UpToDate")).unwrap();
        assert_eq!(ok.status, EarStatus::Affirming, "{ok:?}");
        for bad in [
            claims("sim", false, "UpToDate"),
            claims("sample", false, "UpToDate"),
            claims("sgx", true, "UpToDate"),
            claims("sgx", false, "OutOfDate"),
        ] {
            assert_eq!(
                policy.appraise(&bad).unwrap().status,
                EarStatus::Contraindicated,
                "{bad}"
            );
        }
        let mut reference = BTreeMap::new();
        reference.insert("mrenclave".to_owned(), json!(["33"]));
        let policy =
            Policy::compile("attestation", DEFAULT_ATTESTATION_POLICY, &reference).unwrap();
        let warn = policy.appraise(&claims("sgx", false, "UpToDate")).unwrap();
        assert_eq!(warn.status, EarStatus::Warning);
    }

    #[test]
    fn resource_policy_sees_path_and_v0_syntax_compiles() {
        let none = BTreeMap::new();
        let policy = Policy::compile("resource", DEFAULT_RESOURCE_POLICY, &none).unwrap();
        let token = json!({"submods": {"cpu0": {"ear.status": "affirming"}}});
        assert!(policy.allows(&token, "a/b/c").unwrap());
        assert!(!policy.allows(&json!({}), "a/b/c").unwrap());
        let v0 =
            "package policy\ndefault allow = false\nallow { data[\"resource-path\"] == \"a/b/c\" }";
        let policy = Policy::compile("resource", v0, &none).unwrap();
        assert!(policy.allows(&json!({}), "a/b/c").unwrap());
        assert!(!policy.allows(&json!({}), "a/b/d").unwrap());
        let err = Policy::compile("resource", "package", &none).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid resource policy"),
            "{err}"
        );
    }
}
