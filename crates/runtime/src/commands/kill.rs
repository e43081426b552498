//! `rune kill`.

use anyhow::{bail, Context, Result};
use libcontainer::signal::Signal;

use crate::cli::{GlobalOpts, Kill};
use crate::container;
use crate::state::status_name;

/// Sends a signal (name like `TERM`/`SIGTERM` or number) to the container.
pub fn kill(g: &GlobalOpts, args: &Kill) -> Result<i32> {
    let signal = Signal::try_from(args.signal.as_str()).map_err(|_| {
        anyhow::anyhow!(
            "invalid signal {:?}: use a name like TERM or SIGKILL, or a number from 1 to 31",
            args.signal
        )
    })?;
    let mut c = container::load(&g.root, &args.id)?;
    if !c.can_kill() {
        bail!(
            "cannot kill container {:?}: it is {}",
            args.id,
            status_name(c.status())
        );
    }
    c.kill(signal, args.all)
        .with_context(|| format!("signalling container {:?}", args.id))?;
    Ok(0)
}
