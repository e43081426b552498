//! The error type of the loader and of the safe API over a loaded enclave runtime.
//!
//! Every message names the enclave runtime's path, the PAL call, and the value that was wrong,
//! so `rune` can print it as the one line a user sees. Three kinds are kept apart, as rustls
//! does: the file is not a usable PAL (not found, not ELF, missing symbol, version), the PAL
//! failed a call (`CallFailed`, with its return value and errno), and the caller used the API
//! out of order (`OutOfOrder`, `NotInVersion`).

use std::ffi::c_int;
use std::path::PathBuf;

use crate::exit::ExitValueError;
use crate::signal::SignalError;

/// Everything that can go wrong loading or driving an enclave runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path does not exist.
    #[error("enclave runtime {} does not exist", .path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read enclave runtime {}", .path.display())]
    Read {
        /// The path given.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the ELF magic.
    #[error("{} is not a PAL: not an ELF shared object", .path.display())]
    NotElf {
        /// The path given.
        path: PathBuf,
    },
    /// `dlopen` refused the file (wrong architecture, missing dependency, unresolved symbol).
    #[error("cannot load enclave runtime {}", .path.display())]
    Load {
        /// The path given.
        path: PathBuf,
        /// The `dlerror` text.
        #[source]
        source: libloading::Error,
    },
    /// A symbol the reported PAL API version requires is not exported.
    #[error("{} is not a PAL: missing symbol {symbol} (required by PAL API v{version})", .path.display())]
    MissingSymbol {
        /// The enclave runtime.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
        /// The version whose symbol set was checked.
        version: u32,
    },
    /// `pal_get_version` returned a version outside 1..=3.
    #[error("{} reports PAL API version {version}; rune supports 1 to 3", .path.display())]
    UnsupportedVersion {
        /// The enclave runtime.
        path: PathBuf,
        /// What `pal_get_version` returned.
        version: c_int,
    },
    /// A PAL call returned failure.
    #[error("{call} in {} failed: returned {returned}{}", .path.display(), ErrnoSuffix(*.errno))]
    CallFailed {
        /// The PAL function.
        call: &'static str,
        /// The enclave runtime.
        path: PathBuf,
        /// The return value.
        returned: c_int,
        /// `errno` after the call, if the runtime set it.
        errno: Option<c_int>,
    },
    /// The PAL call succeeded but left an out-parameter unusable.
    #[error("{call} in {} returned success but {problem}", .path.display())]
    BadOutput {
        /// The PAL function.
        call: &'static str,
        /// The enclave runtime.
        path: PathBuf,
        /// What was wrong with the output.
        problem: String,
    },
    /// Duplicating the stdio fds for a v1 `pal_exec` failed.
    #[error("cannot duplicate the stdio fds for {}", .path.display())]
    Dup {
        /// The enclave runtime.
        path: PathBuf,
        /// Why `dup` failed.
        #[source]
        source: std::io::Error,
    },
    /// The exit value of `pal_exec` does not decode as the configured kind.
    #[error("pal_exec in {} returned a bad exit value", .path.display())]
    ExitValue {
        /// The enclave runtime.
        path: PathBuf,
        /// Why it does not decode.
        #[source]
        source: ExitValueError,
    },
    /// The signal policy refused a signal; nothing was sent.
    #[error("cannot send a signal to process {pid} of {}", .path.display())]
    Signal {
        /// The target process.
        pid: c_int,
        /// The enclave runtime.
        path: PathBuf,
        /// Why the signal was refused.
        #[source]
        source: SignalError,
    },
    /// The call does not exist in the runtime's PAL API version.
    #[error("{call} is not available in PAL API v{version} ({})", .path.display())]
    NotInVersion {
        /// The PAL function or feature.
        call: &'static str,
        /// The enclave runtime.
        path: PathBuf,
        /// Its PAL API version.
        version: u32,
    },
    /// `pal_get_local_report` is optional and this runtime does not export it.
    #[error("{} does not export pal_get_local_report, so it cannot produce local reports", .path.display())]
    NoLocalReport {
        /// The enclave runtime.
        path: PathBuf,
    },
    /// The caller used the API out of order (for example `create_process` before `init`).
    #[error("{call} on {} called {when}", .path.display())]
    OutOfOrder {
        /// The PAL function.
        call: &'static str,
        /// The enclave runtime.
        path: PathBuf,
        /// What was wrong about the timing, e.g. `before pal_init`.
        when: &'static str,
    },
    /// A string for the PAL contains a NUL byte and cannot become a C string.
    #[error("{field} contains a NUL byte at offset {offset}")]
    InteriorNul {
        /// Which string: `argv[2]`, `env[0] (KEY)`, `path`, `runtime args`.
        field: String,
        /// Byte offset of the first NUL.
        offset: usize,
    },
}

/// Formats ` (errno 22: Invalid argument)`, or nothing when errno was not set.
struct ErrnoSuffix(Option<c_int>);

impl std::fmt::Display for ErrnoSuffix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(errno) => write!(
                f,
                " (errno {errno}: {})",
                nix::errno::Errno::from_raw(errno).desc()
            ),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_failed_names_call_path_value_and_errno() {
        let err = Error::CallFailed {
            call: "pal_init",
            path: PathBuf::from("/x/liberpal-occlum.so"),
            returned: -1,
            errno: Some(22),
        };
        assert_eq!(
            err.to_string(),
            "pal_init in /x/liberpal-occlum.so failed: returned -1 (errno 22: Invalid argument)"
        );
        let err = Error::CallFailed {
            call: "pal_destroy",
            path: PathBuf::from("/x/lib.so"),
            returned: -5,
            errno: None,
        };
        assert_eq!(
            err.to_string(),
            "pal_destroy in /x/lib.so failed: returned -5"
        );
    }

    #[test]
    fn not_a_pal_messages() {
        let err = Error::MissingSymbol {
            path: PathBuf::from("/x/lib.so"),
            symbol: "pal_exec",
            version: 2,
        };
        assert_eq!(
            err.to_string(),
            "/x/lib.so is not a PAL: missing symbol pal_exec (required by PAL API v2)"
        );
        let err = Error::UnsupportedVersion {
            path: PathBuf::from("/x/lib.so"),
            version: 4,
        };
        assert_eq!(
            err.to_string(),
            "/x/lib.so reports PAL API version 4; rune supports 1 to 3"
        );
    }

    #[test]
    fn error_is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
