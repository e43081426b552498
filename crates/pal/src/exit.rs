//! Exit status normalisation: turns the raw `exit_value` a PAL hands back from `pal_exec` into
//! the exit code the container reports.
//!
//! Enclave runtimes disagree on what `exit_value` holds. Occlum stores the wait(2) status of
//! the workload (`0x0300` for `exit(3)`, `0x000f` for death by `SIGTERM`); the Inclavare
//! skeleton and our `liberpal-sim.so` store the plain exit code (`3`). Nothing in the value
//! itself tells the two apart (`9` is "exit 9" in one and "killed by SIGKILL" in the other), so
//! the caller chooses an [`ExitValueKind`], from configuration or from the documented
//! [`ExitValueKind::guess`] heuristic. Either way the container's exit code follows runc: the
//! workload's own code, or 128 + n after death by signal n.

use std::ffi::c_int;
use std::fmt;
use std::path::Path;

/// What the `exit_value` of `pal_exec` holds for a given enclave runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitValueKind {
    /// A wait(2) status, decoded with `WIFEXITED`/`WIFSIGNALED` (Occlum).
    WaitStatus,
    /// A plain exit code in 0..=255, passed through (Inclavare skeleton, `liberpal-sim.so`).
    PlainCode,
}

/// How the workload ended, after normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// The workload exited with this code.
    Exited(u8),
    /// The workload was killed by a signal.
    Signaled {
        /// The signal number.
        signal: c_int,
        /// Whether the kernel wrote a core dump.
        core_dumped: bool,
    },
}

/// A raw exit value that the chosen [`ExitValueKind`] cannot decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExitValueError {
    /// A plain exit code outside 0..=255.
    #[error("exit value {value} is not an exit code (expected 0 to 255); is this runtime returning a wait status?")]
    CodeOutOfRange {
        /// The raw value.
        value: c_int,
    },
    /// A wait status that is neither "exited" nor "killed by a signal" (stopped or continued).
    #[error("exit value {value:#06x} is a wait status of a process that has not terminated")]
    NotTerminated {
        /// The raw value.
        value: c_int,
    },
}

impl ExitValueKind {
    /// Guesses the kind from the enclave runtime's file name, for when configuration is silent.
    ///
    /// The rule: a file name containing `occlum` (as in `liberpal-occlum.so`) returns wait
    /// statuses, everything else plain codes. That matches every runtime we know of (Occlum
    /// copies the status from its `wait4`; the skeleton and `liberpal-sim.so` report codes),
    /// but it is a guess: configuration should say so explicitly for any other runtime.
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
            Self::WaitStatus
        } else {
            Self::PlainCode
        }
    }

    /// Decodes `raw` as this kind of exit value.
    pub fn normalise(self, raw: c_int) -> Result<ExitStatus, ExitValueError> {
        match self {
            Self::PlainCode => u8::try_from(raw)
                .map(ExitStatus::Exited)
                .map_err(|_| ExitValueError::CodeOutOfRange { value: raw }),
            Self::WaitStatus => {
                if libc::WIFEXITED(raw) {
                    let code = u8::try_from(libc::WEXITSTATUS(raw))
                        .map_err(|_| ExitValueError::CodeOutOfRange { value: raw })?;
                    Ok(ExitStatus::Exited(code))
                } else if libc::WIFSIGNALED(raw) {
                    Ok(ExitStatus::Signaled {
                        signal: libc::WTERMSIG(raw),
                        core_dumped: libc::WCOREDUMP(raw),
                    })
                } else {
                    Err(ExitValueError::NotTerminated { value: raw })
                }
            }
        }
    }
}

impl fmt::Display for ExitValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WaitStatus => "wait status",
            Self::PlainCode => "plain exit code",
        })
    }
}

impl ExitStatus {
    /// The container's exit code, as runc reports it: the workload's code, or 128 + signal.
    pub fn code(self) -> i32 {
        match self {
            Self::Exited(code) => i32::from(code),
            Self::Signaled { signal, .. } => 128 + signal,
        }
    }

    /// Whether the workload exited with code 0.
    pub fn success(self) -> bool {
        self == Self::Exited(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(code) => write!(f, "exited with code {code}"),
            Self::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by signal {signal}")?;
                if *core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_exit_codes() {
        for code in [0, 3, 42, 255] {
            let status = ExitValueKind::WaitStatus.normalise(code << 8).unwrap();
            assert_eq!(status, ExitStatus::Exited(u8::try_from(code).unwrap()));
            assert_eq!(status.code(), code);
        }
    }

    #[test]
    fn wait_status_signals_are_128_plus_n() {
        let status = ExitValueKind::WaitStatus.normalise(libc::SIGTERM).unwrap();
        assert_eq!(
            status,
            ExitStatus::Signaled {
                signal: libc::SIGTERM,
                core_dumped: false
            }
        );
        assert_eq!(status.code(), 143);
        let status = ExitValueKind::WaitStatus
            .normalise(libc::SIGSEGV | 0x80)
            .unwrap();
        assert_eq!(status.code(), 139);
        assert_eq!(status.to_string(), "killed by signal 11 (core dumped)");
    }

    #[test]
    fn wait_status_of_a_stopped_process_is_refused() {
        let stopped = (libc::SIGSTOP << 8) | 0x7f;
        let err = ExitValueKind::WaitStatus.normalise(stopped).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exit value 0x137f is a wait status of a process that has not terminated"
        );
    }

    #[test]
    fn plain_codes_pass_through() {
        for code in [0, 3, 42, 137, 255] {
            assert_eq!(
                ExitValueKind::PlainCode.normalise(code).unwrap().code(),
                code
            );
        }
    }

    #[test]
    fn plain_code_out_of_range_is_refused() {
        let err = ExitValueKind::PlainCode.normalise(768).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exit value 768 is not an exit code (expected 0 to 255); is this runtime returning a wait status?"
        );
        assert!(ExitValueKind::PlainCode.normalise(-1).is_err());
    }

    #[test]
    fn the_same_raw_value_means_different_things() {
        assert_eq!(ExitValueKind::PlainCode.normalise(9).unwrap().code(), 9);
        assert_eq!(ExitValueKind::WaitStatus.normalise(9).unwrap().code(), 137);
    }

    #[test]
    fn guess_picks_wait_status_for_occlum_only() {
        assert_eq!(
            ExitValueKind::guess(Path::new("/opt/occlum/build/lib/liberpal-occlum.so")),
            ExitValueKind::WaitStatus
        );
        assert_eq!(
            ExitValueKind::guess(Path::new("/usr/lib/liberpal-sim.so")),
            ExitValueKind::PlainCode
        );
        assert_eq!(
            ExitValueKind::guess(Path::new("/occlum/liberpal-skeleton-v3.so")),
            ExitValueKind::PlainCode
        );
    }
}
