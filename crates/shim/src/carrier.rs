//! Inclavare's `RUNE_CARRIER`: the image env var that named the enclave runtime ("carrier") an
//! enclave container runs on. Inclavare's shim-rune used it to pick carrier-specific handling;
//! here rune itself handles the enclave, so the shim only derives the enclave type from it when
//! the container says nothing else:
//!
//! * `RUNE_CARRIER` unset, empty or `empty`: nothing (a plain container unless `ENCLAVE_TYPE`
//!   or `enclave.type` say otherwise).
//! * `ENCLAVE_TYPE` in the env or an `enclave.type` annotation present: nothing; explicit
//!   configuration wins and reaches rune unchanged.
//! * otherwise the shim adds the annotation `enclave.type`: `intelSgx` for the hardware carriers
//!   (`occlum`, `graphene`, `gramine`, `wamr`), `sim` for `skeleton` and `sim` (our software TEE
//!   takes the place of Inclavare's liberpal-skeleton). Any other carrier is refused at create.
//!
//! The env itself (including `RUNE_CARRIER` and every `ENCLAVE_*` variable) and every other
//! annotation are left exactly as containerd wrote them.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// The env var Inclavare users set.
pub const RUNE_CARRIER: &str = "RUNE_CARRIER";

/// Applies `RUNE_CARRIER` to `bundle/config.json` (see the module doc).
pub fn apply(bundle: &Path) -> Result<()> {
    let path = bundle.join("config.json");
    let text =
        std::fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut spec: Value = serde_json::from_slice(&text).map_err(|source| Error::Json {
        path: path.clone(),
        source,
    })?;
    if let Some(enclave_type) = derived_type(&spec)? {
        let annotations = spec
            .as_object_mut()
            .ok_or_else(|| Error::InvalidArgument {
                field: "config.json",
                reason: "not a JSON object".into(),
            })?
            .entry("annotations")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(map) = annotations.as_object_mut() {
            map.insert("enclave.type".into(), Value::String(enclave_type.into()));
        }
        let bytes = serde_json::to_vec(&spec).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, bytes)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        log::info!(
            "RUNE_CARRIER: set enclave.type={enclave_type} in {}",
            path.display()
        );
    }
    Ok(())
}

/// The `enclave.type` to add, if any.
fn derived_type(spec: &Value) -> Result<Option<&'static str>> {
    let env: Vec<&str> = spec
        .pointer("/process/env")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let lookup = |key: &str| {
        env.iter()
            .rev()
            .find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    };
    let carrier = match lookup(RUNE_CARRIER) {
        None | Some("" | "empty") => return Ok(None),
        Some(c) => c,
    };
    let explicit_env = lookup("ENCLAVE_TYPE").is_some_and(|v| !v.is_empty());
    let explicit_annotation = spec.pointer("/annotations/enclave.type").is_some();
    if explicit_env || explicit_annotation {
        return Ok(None);
    }
    match carrier {
        "occlum" | "graphene" | "gramine" | "wamr" => Ok(Some("intelSgx")),
        "skeleton" | "sim" => Ok(Some("sim")),
        other => Err(Error::InvalidArgument {
            field: "RUNE_CARRIER",
            reason: format!(
                "unknown carrier {other:?}: expected occlum, graphene, gramine, wamr, skeleton, sim or empty"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(env: &[&str], annotations: Value) -> Value {
        json!({"process": {"env": env}, "annotations": annotations})
    }

    #[test]
    fn no_carrier_changes_nothing() {
        assert_eq!(
            derived_type(&spec(&["PATH=/bin"], json!({}))).unwrap(),
            None
        );
        assert_eq!(
            derived_type(&spec(&["RUNE_CARRIER=empty"], json!({}))).unwrap(),
            None
        );
    }

    #[test]
    fn explicit_enclave_type_wins() {
        let s = spec(&["RUNE_CARRIER=occlum", "ENCLAVE_TYPE=sim"], json!({}));
        assert_eq!(derived_type(&s).unwrap(), None);
        let s = spec(&["RUNE_CARRIER=occlum"], json!({"enclave.type": "sim"}));
        assert_eq!(derived_type(&s).unwrap(), None);
    }

    #[test]
    fn carriers_map_to_enclave_types() {
        let s = spec(&["RUNE_CARRIER=occlum"], json!({}));
        assert_eq!(derived_type(&s).unwrap(), Some("intelSgx"));
        let s = spec(&["RUNE_CARRIER=skeleton"], json!({}));
        assert_eq!(derived_type(&s).unwrap(), Some("sim"));
    }

    #[test]
    fn unknown_carrier_is_refused_by_name() {
        let s = spec(&["RUNE_CARRIER=enclavex"], json!({}));
        let err = derived_type(&s).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid RUNE_CARRIER: unknown carrier \"enclavex\""),
            "{err}"
        );
    }

    #[test]
    fn apply_adds_only_the_annotation() {
        let dir = tempfile::tempdir().unwrap();
        let original = json!({
            "process": {"env": ["RUNE_CARRIER=skeleton", "ENCLAVE_RUNTIME_ARGS=a,b"]},
            "annotations": {"enclave.runtime.loglevel": "debug"}
        });
        std::fs::write(dir.path().join("config.json"), original.to_string()).unwrap();
        apply(dir.path()).unwrap();
        let after: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(after["process"], original["process"]);
        assert_eq!(after["annotations"]["enclave.type"], "sim");
        assert_eq!(after["annotations"]["enclave.runtime.loglevel"], "debug");
    }
}
