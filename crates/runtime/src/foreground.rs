//! Waiting for a process started in the foreground (`run`, `exec` without `--detach`), forwarding
//! the signals rune receives, and turning its end into runc's exit code.

use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals forwarded to the workload rather than acted on by rune.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// Waits for `pid` (a child of this process) to exit, forwarding signals to it.
///
/// Returns the exit code runc would: the process's own code, or 128 + n if signal n killed it.
pub fn wait_forwarding_signals(pid: Pid) -> nix::Result<i32> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    // Blocked only now, after the container's processes were forked, so they do not inherit it.
    set.thread_block()?;
    loop {
        if let Some(code) = reap(pid)? {
            return Ok(code);
        }
        let sig = set.wait()?;
        if sig != Signal::SIGCHLD {
            tracing::debug!(signal = %sig, pid = pid.as_raw(), "forwarding signal");
            if let Err(e) = signal::kill(pid, sig) {
                tracing::warn!(signal = %sig, error = %e, "could not forward signal");
            }
        }
    }
}

/// Reaps `pid` if it has exited; other exited children are reaped too and ignored.
fn reap(pid: Pid) -> nix::Result<Option<i32>> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => return Ok(Some(exit_code_of_gone(pid))),
            Err(e) => return Err(e),
        }
    }
}

/// A process that is not our child any more (reaped elsewhere): runc reports 255.
fn exit_code_of_gone(pid: Pid) -> i32 {
    tracing::warn!(
        pid = pid.as_raw(),
        "process was reaped elsewhere; exit status unknown"
    );
    255
}
