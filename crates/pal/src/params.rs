//! The safe values the loader's API takes and returns: log level, handed-over enclave, standard
//! streams and PAL process ids. Plain data, no FFI.

use std::ffi::c_int;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::str::FromStr;

use crate::abi::PalStdioFds;

/// Log level passed to `pal_init` (`ENCLAVE_RUNTIME_LOGLEVEL`, DESIGN §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogLevel {
    /// `trace`
    Trace,
    /// `debug`
    Debug,
    /// `info`, the default.
    #[default]
    Info,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `off`
    Off,
}

/// A log level string that is not one of the six Inclavare names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid enclave runtime log level {value:?}: expected one of trace, debug, info, warning, error, off")]
pub struct ParseLogLevelError {
    /// The rejected string.
    pub value: String,
}

impl LogLevel {
    /// The string given to the enclave runtime, as Inclavare spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Off => "off",
        }
    }
}

impl FromStr for LogLevel {
    type Err = ParseLogLevelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warning" => Ok(Self::Warning),
            "error" => Ok(Self::Error),
            "off" => Ok(Self::Off),
            _ => Err(ParseLogLevelError {
                value: value.to_owned(),
            }),
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An enclave handed over by the enclave pool manager (epm), passed to a v3 `pal_init` as
/// `pal_attr_v3_t.fd` and `.addr`.
#[derive(Debug, Clone, Copy)]
pub struct Handover<'fd> {
    /// The enclave's file descriptor; must stay open for the whole `pal_init` call.
    pub fd: BorrowedFd<'fd>,
    /// The enclave's base address.
    pub addr: u64,
}

/// The standard streams of a workload, borrowed for the `create_process` call.
#[derive(Debug, Clone, Copy)]
pub struct StdioFds<'fd>(Streams<'fd>);

#[derive(Debug, Clone, Copy)]
enum Streams<'fd> {
    /// This process's fds 0, 1 and 2.
    Inherit,
    /// Three borrowed fds: stdin, stdout, stderr.
    Borrowed([BorrowedFd<'fd>; 3]),
}

impl StdioFds<'static> {
    /// The calling process's own fds 0, 1 and 2, which is what `rune` hands an enclave workload
    /// (the container's init already has its stdio set up by then).
    pub fn inherit() -> Self {
        Self(Streams::Inherit)
    }
}

impl<'fd> StdioFds<'fd> {
    /// Borrows three fds: the workload's stdin, stdout and stderr.
    pub fn new(stdin: BorrowedFd<'fd>, stdout: BorrowedFd<'fd>, stderr: BorrowedFd<'fd>) -> Self {
        Self(Streams::Borrowed([stdin, stdout, stderr]))
    }

    /// The fds as the C struct holds them.
    pub(crate) fn to_abi(self) -> PalStdioFds {
        let [stdin, stdout, stderr] = match self.0 {
            Streams::Inherit => [0, 1, 2],
            Streams::Borrowed(fds) => fds.map(|fd| fd.as_raw_fd()),
        };
        PalStdioFds {
            stdin,
            stdout,
            stderr,
        }
    }

    /// Duplicates the three fds (close-on-exec), for a PAL call that happens after the borrow.
    pub(crate) fn try_clone_to_owned(self) -> io::Result<[OwnedFd; 3]> {
        match self.0 {
            Streams::Inherit => Ok([
                io::stdin().as_fd().try_clone_to_owned()?,
                io::stdout().as_fd().try_clone_to_owned()?,
                io::stderr().as_fd().try_clone_to_owned()?,
            ]),
            Streams::Borrowed([stdin, stdout, stderr]) => Ok([
                stdin.try_clone_to_owned()?,
                stdout.try_clone_to_owned()?,
                stderr.try_clone_to_owned()?,
            ]),
        }
    }
}

/// A process id as the enclave runtime knows it (not necessarily a host pid).
///
/// With PAL API v1, which has no `pal_create_process`, the loader returns `Pid(0)`: "the one
/// pending process", matching `pal_kill`'s "0 = current".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pid(c_int);

impl Pid {
    /// `pal_kill` target meaning "every process of this enclave runtime".
    pub const ALL: Self = Self(-1);
    /// `pal_kill` target meaning "the current process".
    pub const CURRENT: Self = Self(0);

    /// Wraps a raw PAL process id.
    pub const fn from_raw(raw: c_int) -> Self {
        Self(raw)
    }

    /// The raw PAL process id.
    pub const fn as_raw(self) -> c_int {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_round_trip() {
        for level in [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warning,
            LogLevel::Error,
            LogLevel::Off,
        ] {
            assert_eq!(level.as_str().parse::<LogLevel>(), Ok(level));
        }
        assert_eq!(LogLevel::default(), LogLevel::Info);
    }

    #[test]
    fn bad_log_level_names_the_value_and_the_choices() {
        let err = "warn".parse::<LogLevel>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid enclave runtime log level \"warn\": expected one of trace, debug, info, warning, error, off"
        );
    }

    #[test]
    fn inherit_is_0_1_2() {
        let abi = StdioFds::inherit().to_abi();
        assert_eq!((abi.stdin, abi.stdout, abi.stderr), (0, 1, 2));
    }
}
