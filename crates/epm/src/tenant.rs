//! Tenant namespaces: which containers may share pre-initialised enclaves.
//!
//! A pool entry is only ever handed to a container of the tenant it was built for. The tenant
//! of a container is its pod sandbox (containerd's `io.kubernetes.cri.sandbox-id`
//! annotation), narrowed by an explicit label if one is given (`enclave.epm.tenant`), or the
//! label alone outside Kubernetes, or `host` for containers with neither. A label never
//! widens a sandbox's namespace: pod authors write annotations, so a label that named another
//! pod's namespace would let them draw from its pool.

/// The tenant of containers started with neither a sandbox id nor a label.
pub const HOST: &str = "host";
/// Longest label.
pub const MAX_LABEL_LEN: usize = 128;

/// Why a label or sandbox id cannot name a tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: expected 1 to 128 ASCII letters, digits, '-', '_' or '.'")]
pub struct TenantError {
    /// `label` or `sandbox id`.
    pub what: &'static str,
    /// The value given (truncated).
    pub value: String,
}

/// Checks a label or sandbox id: 1 to [`MAX_LABEL_LEN`] of `[A-Za-z0-9._-]`.
pub fn validate(what: &'static str, value: &str) -> Result<(), TenantError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_LABEL_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(TenantError {
            what,
            value: value.chars().take(80).collect(),
        })
    }
}

/// The tenant namespace of a container (see the module doc).
pub fn tenant(sandbox_id: Option<&str>, label: Option<&str>) -> Result<String, TenantError> {
    if let Some(id) = sandbox_id {
        validate("sandbox id", id)?;
    }
    if let Some(label) = label {
        validate("label", label)?;
    }
    Ok(match (sandbox_id, label) {
        (Some(id), Some(label)) => format!("sandbox:{id}/label:{label}"),
        (Some(id), None) => format!("sandbox:{id}"),
        (None, Some(label)) => format!("label:{label}"),
        (None, None) => HOST.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_narrow_sandboxes_and_never_collide_with_them() {
        assert_eq!(tenant(None, None).unwrap(), "host");
        assert_eq!(tenant(None, Some("a")).unwrap(), "label:a");
        assert_eq!(tenant(Some("a"), None).unwrap(), "sandbox:a");
        assert_eq!(tenant(Some("p1"), Some("a")).unwrap(), "sandbox:p1/label:a");
        assert_ne!(tenant(Some("p2"), Some("a")), tenant(Some("p1"), Some("a")));
        assert_eq!(
            tenant(None, Some("a/b")).unwrap_err().to_string(),
            "label \"a/b\" is invalid: expected 1 to 128 ASCII letters, digits, '-', '_' or '.'"
        );
        for t in [
            tenant(Some("p1"), Some("a")).unwrap(),
            tenant(None, None).unwrap(),
        ] {
            crate::protocol::validate_tenant(&t).unwrap();
        }
    }
}
