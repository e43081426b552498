//! `rune delete`.

use anyhow::{bail, Context, Result};
use libcontainer::container::ContainerStatus;

use crate::cli::{Delete, GlobalOpts};
use crate::container;
use crate::state::status_name;

/// Deletes a container; `--force` stops it first. As runc, `--force` on a missing container
/// succeeds (containerd relies on this when cleaning up).
pub fn delete(g: &GlobalOpts, args: &Delete) -> Result<i32> {
    container::validate_id(&args.id)?;
    let dir = container::dir(&g.root, &args.id);
    if args.force && !dir.join("state.json").exists() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        return Ok(0);
    }
    let mut c = container::load(&g.root, &args.id)?;
    let status = c.status();
    if !args.force && matches!(status, ContainerStatus::Running | ContainerStatus::Paused) {
        bail!(
            "cannot delete container {:?}: it is {} (stop it first, or use --force)",
            args.id,
            status_name(status)
        );
    }
    c.delete(args.force)
        .with_context(|| format!("deleting container {:?}", args.id))?;
    container::remove_bundle_copy(&g.root, &args.id);
    Ok(0)
}
