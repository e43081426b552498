//! `rune spec`.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;

use crate::cli::{GlobalOpts, SpecArgs};

/// Writes a default `config.json` (runc's template) into the bundle directory.
/// `--rootless` is runc's global flag (also accepted after `spec`, as runc does).
pub fn spec(g: &GlobalOpts, args: &SpecArgs) -> Result<i32> {
    let spec = if g.rootless.as_deref() == Some("true") {
        Spec::rootless(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    } else {
        Spec::default()
    };
    let path = args.bundle.join("config.json");
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            bail!("{} exists; remove it first", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    let json = serde_json::to_string_pretty(&spec)?;
    file.write_all(json.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}
