//! `rune state`.

use anyhow::{Context, Result};

use crate::cli::GlobalOpts;
use crate::container;
use crate::state::{RuneRecord, StateView};

/// Prints the container's state as runc's state JSON.
pub fn state(g: &GlobalOpts, id: &str) -> Result<i32> {
    let c = container::load(&g.root, id)?;
    let record = RuneRecord::load(c.bundle())
        .with_context(|| format!("reading rune state of container {id:?}"))?;
    let view = StateView::of(&c, record.as_ref());
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(0)
}
