//! Finding containers under the state root, and the id rules runc enforces.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::Container;

/// Checks a container id against runc's rule: `^[\w+\-\.]+$`, and not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("invalid container id: it is empty");
    }
    if id == "." || id == ".." {
        bail!("invalid container id {id:?}: it cannot be . or ..");
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.')))
    {
        bail!(
            "invalid container id {id:?}: character {bad:?} not allowed \
             (use letters, digits, '_', '+', '-' and '.')"
        );
    }
    Ok(())
}

/// The state directory of container `id`.
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// The prepared copy of container `id`'s bundle (its spec as libcontainer runs it, rune's
/// record, the enclave agent socket), kept beside the state directories.
pub fn bundle_copy(root: &Path, id: &str) -> PathBuf {
    root.join(".bundles").join(id)
}

/// Removes container `id`'s bundle copy (after delete); a missing one is fine.
pub fn remove_bundle_copy(root: &Path, id: &str) {
    let dir = bundle_copy(root, id);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %dir.display(), error = %e, "removing bundle copy"),
    }
    // The parent (`<root>/.bundles`) is shared by all containers and stays: removing and
    // recreating it would cost two directory operations per container.
}

/// Loads container `id`, with an error naming it when it does not exist.
pub fn load(root: &Path, id: &str) -> Result<Container> {
    validate_id(id)?;
    let dir = dir(root, id);
    if !dir.join("state.json").exists() {
        bail!(
            "container {id:?} does not exist (state root {})",
            root.display()
        );
    }
    Container::load(dir).with_context(|| format!("loading state of container {id:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        for ok in ["a", "A-b_c.d+e", "0123456789abcdef"] {
            validate_id(ok).unwrap();
        }
        let err = validate_id("a/b").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid container id \"a/b\": character '/' not allowed \
             (use letters, digits, '_', '+', '-' and '.')"
        );
        assert!(validate_id("..").is_err());
        assert!(validate_id("").is_err());
        assert!(validate_id("a b").is_err());
    }
}
