//! Signal policy for `pal_kill`: which signals an enclave runtime accepts, and what to do with
//! the others.
//!
//! The PAL API passes any signal number through, but runtimes accept different sets: Occlum's
//! `pal_kill` takes only `SIGKILL` and `SIGTERM` and fails on the rest. Rather than let the
//! runtime fail with a bare `-1`, the caller picks a [`SignalPolicy`] and the loader applies it
//! before calling `pal_kill`, so a refused signal is a clear error naming the signal and the
//! rule, and nothing is sent.

use std::ffi::c_int;
use std::fmt;
use std::path::Path;

/// Highest signal number on Linux (`SIGRTMAX`).
const SIGNAL_MAX: c_int = 64;

/// Which signals `pal_kill` may deliver, chosen per enclave runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalPolicy {
    /// Pass every signal (0 to 64) through unchanged: skeleton, `liberpal-sim.so`.
    Forward,
    /// Deliver only `SIGKILL` and `SIGTERM`; refuse everything else (Occlum, strict).
    KillTermOnly,
    /// Like [`SignalPolicy::KillTermOnly`], but turn the terminal's stop requests `SIGINT` and
    /// `SIGQUIT` into `SIGTERM`, so `docker stop --signal INT` and Ctrl-C still stop the
    /// workload. Other signals are refused: mapping `SIGHUP` or `SIGUSR1` (usually "reload")
    /// to `SIGTERM` would kill a workload that was only asked to reload.
    KillTermMapped,
}

/// A signal the policy will not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// Not a Linux signal number.
    #[error("signal {signal} is not a valid signal number (expected 0 to 64)")]
    OutOfRange {
        /// The requested number.
        signal: c_int,
    },
    /// A valid signal that the enclave runtime does not accept.
    #[error("signal {} ({}) cannot be delivered: {policy}", signal, SignalName(*signal))]
    Refused {
        /// The requested number.
        signal: c_int,
        /// The policy that refused it.
        policy: SignalPolicy,
    },
}

impl SignalPolicy {
    /// Guesses the policy from the enclave runtime's file name, for when configuration is
    /// silent: a name containing `occlum` gets [`SignalPolicy::KillTermOnly`], every other
    /// runtime [`SignalPolicy::Forward`].
    pub fn guess(runtime_path: &Path) -> Self {
        let is_occlum = runtime_path
            .file_name()
            .map(|name| {
                name.to_string_lossy()
                    .to_ascii_lowercase()
                    .contains("occlum")
            })
            .unwrap_or(false);
        if is_occlum {
            Self::KillTermOnly
        } else {
            Self::Forward
        }
    }

    /// Returns the signal to hand to `pal_kill` for a request to send `signal`, or why none
    /// can be sent.
    pub fn apply(self, signal: c_int) -> Result<c_int, SignalError> {
        if !(0..=SIGNAL_MAX).contains(&signal) {
            return Err(SignalError::OutOfRange { signal });
        }
        let refused = Err(SignalError::Refused {
            signal,
            policy: self,
        });
        match (self, signal) {
            (Self::Forward, _) => Ok(signal),
            (Self::KillTermOnly | Self::KillTermMapped, libc::SIGKILL | libc::SIGTERM) => {
                Ok(signal)
            }
            (Self::KillTermMapped, libc::SIGINT | libc::SIGQUIT) => Ok(libc::SIGTERM),
            (Self::KillTermOnly | Self::KillTermMapped, _) => refused,
        }
    }
}

impl fmt::Display for SignalPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Forward => "every signal is forwarded",
            Self::KillTermOnly => "this enclave runtime accepts only SIGKILL and SIGTERM",
            Self::KillTermMapped => {
                "this enclave runtime accepts only SIGKILL and SIGTERM (SIGINT and SIGQUIT become SIGTERM)"
            }
        })
    }
}

/// Displays a signal number as its conventional name.
#[derive(Debug, Clone, Copy)]
pub struct SignalName(pub c_int);

impl fmt::Display for SignalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 32] = [
            "signal 0",
            "SIGHUP",
            "SIGINT",
            "SIGQUIT",
            "SIGILL",
            "SIGTRAP",
            "SIGABRT",
            "SIGBUS",
            "SIGFPE",
            "SIGKILL",
            "SIGUSR1",
            "SIGSEGV",
            "SIGUSR2",
            "SIGPIPE",
            "SIGALRM",
            "SIGTERM",
            "SIGSTKFLT",
            "SIGCHLD",
            "SIGCONT",
            "SIGSTOP",
            "SIGTSTP",
            "SIGTTIN",
            "SIGTTOU",
            "SIGURG",
            "SIGXCPU",
            "SIGXFSZ",
            "SIGVTALRM",
            "SIGPROF",
            "SIGWINCH",
            "SIGIO",
            "SIGPWR",
            "SIGSYS",
        ];
        match usize::try_from(self.0).ok().and_then(|n| NAMES.get(n)) {
            Some(name) => f.write_str(name),
            // glibc reserves 32 and 33, so SIGRTMIN as applications see it is 34.
            None if (34..=SIGNAL_MAX).contains(&self.0) => write!(f, "SIGRTMIN+{}", self.0 - 34),
            None => write!(f, "signal {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_passes_everything_valid() {
        for signal in 0..=64 {
            assert_eq!(SignalPolicy::Forward.apply(signal), Ok(signal));
        }
    }

    #[test]
    fn out_of_range_is_refused_by_every_policy() {
        for policy in [
            SignalPolicy::Forward,
            SignalPolicy::KillTermOnly,
            SignalPolicy::KillTermMapped,
        ] {
            for signal in [-1, 65, c_int::MAX] {
                assert_eq!(
                    policy.apply(signal),
                    Err(SignalError::OutOfRange { signal })
                );
            }
        }
        assert_eq!(
            SignalPolicy::Forward.apply(65).unwrap_err().to_string(),
            "signal 65 is not a valid signal number (expected 0 to 64)"
        );
    }

    #[test]
    fn kill_term_only_refuses_the_rest() {
        let policy = SignalPolicy::KillTermOnly;
        assert_eq!(policy.apply(libc::SIGKILL), Ok(libc::SIGKILL));
        assert_eq!(policy.apply(libc::SIGTERM), Ok(libc::SIGTERM));
        for signal in [
            0,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGSTOP,
            40,
        ] {
            assert!(policy.apply(signal).is_err(), "signal {signal}");
        }
        assert_eq!(
            policy.apply(libc::SIGUSR1).unwrap_err().to_string(),
            "signal 10 (SIGUSR1) cannot be delivered: this enclave runtime accepts only SIGKILL and SIGTERM"
        );
    }

    #[test]
    fn kill_term_mapped_maps_stop_requests_only() {
        let policy = SignalPolicy::KillTermMapped;
        assert_eq!(policy.apply(libc::SIGKILL), Ok(libc::SIGKILL));
        assert_eq!(policy.apply(libc::SIGTERM), Ok(libc::SIGTERM));
        assert_eq!(policy.apply(libc::SIGINT), Ok(libc::SIGTERM));
        assert_eq!(policy.apply(libc::SIGQUIT), Ok(libc::SIGTERM));
        for signal in [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH] {
            assert!(policy.apply(signal).is_err(), "signal {signal}");
        }
    }

    #[test]
    fn signal_names() {
        assert_eq!(SignalName(9).to_string(), "SIGKILL");
        assert_eq!(SignalName(31).to_string(), "SIGSYS");
        assert_eq!(SignalName(34).to_string(), "SIGRTMIN+0");
        assert_eq!(SignalName(64).to_string(), "SIGRTMIN+30");
        assert_eq!(SignalName(99).to_string(), "signal 99");
    }

    #[test]
    fn guess_restricts_occlum_only() {
        assert_eq!(
            SignalPolicy::guess(Path::new("/x/liberpal-occlum.so")),
            SignalPolicy::KillTermOnly
        );
        assert_eq!(
            SignalPolicy::guess(Path::new("/x/liberpal-sim.so")),
            SignalPolicy::Forward
        );
    }
}
