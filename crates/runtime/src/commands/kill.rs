//! `rune kill`.

use anyhow::{bail, Context, Result};
use libcontainer::container::state::StateError;
use libcontainer::container::ContainerStatus;
use libcontainer::error::LibcontainerError;
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
    let was_created = c.status() == ContainerStatus::Created;
    match c.kill(signal, args.all) {
        Ok(()) => {}
        // libcontainer signals, then records the container as stopped; a `rune run` waiting
        // for it may reap and delete it in between. The signal was delivered (runc, which
        // writes no state here, answers 0).
        Err(e) if state_file_vanished(&e) => {
            tracing::debug!(container_id = %args.id, "container deleted right after the signal");
            return Ok(0);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("signalling container {:?}", args.id));
        }
    }
    // libcontainer marks the container stopped after any signal. A created container's init is
    // PID 1 of its namespace, waiting for start: a signal other than SIGKILL that it has no
    // handler for leaves it waiting, so it is still created and `start` must work (as crun).
    if was_created && !is_sigkill(&args.signal) {
        c.set_status(ContainerStatus::Created)
            .save()
            .with_context(|| format!("saving the state of container {:?}", args.id))?;
    }
    Ok(0)
}

/// Whether `kill` failed only at its last step, saving the state, because the container's
/// state directory is gone: the only step of it that opens the state file.
fn state_file_vanished(error: &LibcontainerError) -> bool {
    matches!(
        error,
        LibcontainerError::State(StateError::OpenStateFile { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound
    )
}

/// Whether `signal`, as libcontainer's `Signal::try_from` parsed it, is SIGKILL: the same
/// spellings, in any case (its `Signal` cannot be compared).
fn is_sigkill(signal: &str) -> bool {
    matches!(
        signal.to_ascii_uppercase().as_str(),
        "9" | "KILL" | "SIGKILL"
    )
}

#[cfg(test)]
mod tests {
    use super::{is_sigkill, state_file_vanished};
    use libcontainer::container::state::StateError;
    use libcontainer::error::LibcontainerError;

    #[test]
    fn only_a_missing_state_file_counts_as_deleted_after_the_signal() {
        let open = |kind: std::io::ErrorKind| {
            LibcontainerError::State(StateError::OpenStateFile {
                state_file_path: "/run/rune/x/state.json".into(),
                source: std::io::Error::from(kind),
            })
        };
        assert!(state_file_vanished(&open(std::io::ErrorKind::NotFound)));
        assert!(!state_file_vanished(&open(
            std::io::ErrorKind::PermissionDenied
        )));
        assert!(!state_file_vanished(&LibcontainerError::OtherSyscall(
            nix::errno::Errno::EPERM
        )));
    }

    #[test]
    fn sigkill_is_known_by_name_and_number() {
        for kill in ["KILL", "SIGKILL", "sigkill", "9"] {
            assert!(is_sigkill(kill), "{kill}");
        }
        for other in ["TERM", "SIGTERM", "15", "KILLX", "19"] {
            assert!(!is_sigkill(other), "{other}");
        }
    }
}
