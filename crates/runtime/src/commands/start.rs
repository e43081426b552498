//! `rune start`.

use anyhow::{bail, Context, Result};

use crate::cli::GlobalOpts;
use crate::container;
use crate::state::status_name;

/// Starts the user process of a created container.
pub fn start(g: &GlobalOpts, id: &str) -> Result<i32> {
    let mut c = container::load(&g.root, id)?;
    if !c.can_start() {
        bail!(
            "cannot start container {id:?}: it is {}, not created",
            status_name(c.status())
        );
    }
    c.start()
        .with_context(|| format!("starting container {id:?}"))?;
    Ok(0)
}
