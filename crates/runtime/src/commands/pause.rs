//! `rune pause` and `rune resume`.

use anyhow::{bail, Context, Result};

use crate::cli::GlobalOpts;
use crate::container;
use crate::state::status_name;

/// Freezes every process of a running container.
pub fn pause(g: &GlobalOpts, id: &str) -> Result<i32> {
    let mut c = container::load(&g.root, id)?;
    if !c.can_pause() {
        bail!(
            "cannot pause container {id:?}: it is {}, not running",
            status_name(c.status())
        );
    }
    c.pause()
        .with_context(|| format!("pausing container {id:?}"))?;
    Ok(0)
}

/// Thaws a paused container.
pub fn resume(g: &GlobalOpts, id: &str) -> Result<i32> {
    let mut c = container::load(&g.root, id)?;
    if !c.can_resume() {
        bail!(
            "cannot resume container {id:?}: it is {}, not paused",
            status_name(c.status())
        );
    }
    c.resume()
        .with_context(|| format!("resuming container {id:?}"))?;
    Ok(0)
}
