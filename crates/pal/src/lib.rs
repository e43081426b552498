//! The PAL API: the C ABI that enclave runtimes (Occlum, Gramine, WAMR, the Inclavare skeleton,
//! our `liberpal-sim.so`) export so that `rune` can run a container's workload inside them
//! (DESIGN §3.3).
//!
//! What this crate owns:
//! - [`abi`]: the `#[repr(C)]` structs and function pointer types of PAL API v1 to v3, with
//!   compile-time layout assertions.
//! - [`EnclaveRuntime`] (module `loader`): `dlopen`s a PAL from a path or an open fd, negotiates
//!   its version (absent `pal_get_version` is v1; above 3 is refused), resolves the symbols that
//!   version needs, and drives `pal_init` → `pal_create_process` → `pal_exec` → `pal_destroy`
//!   through a safe API that checks call order and reports failures with the call, the path,
//!   the return value and errno.
//! - [`ExitValueKind`] and [`SignalPolicy`]: the two places real runtimes disagree (wait status
//!   or plain exit code; which signals `pal_kill` takes), chosen by the caller.
//! - [`export`]: the PAL side, for writing an enclave runtime in Rust: argument conversion with
//!   null checks and size caps, and [`export::ffi_boundary`] so no panic crosses into C.
//!
//! What it must not do: know about containers, OCI specs or any particular TEE. `unsafe` lives
//! only in the two FFI edge modules, `loader` (host calls PAL) and `export` (PAL is called).
//!
//! Features: `test-support` exposes [`test_support`], which compiles the C conformance PALs in
//! `tests/c/` with the system C compiler, for other crates' tests.
//!
//! ```no_run
//! use pal::{EnclaveRuntime, LogLevel, StdioFds};
//!
//! # fn main() -> Result<(), pal::Error> {
//! let runtime = EnclaveRuntime::open("/usr/lib/liberpal-sim.so")?;
//! runtime.init("", LogLevel::Info, None)?;
//! let pid = runtime.create_process(
//!     "/bin/hello".as_ref(),
//!     &["hello", "world"],
//!     &["PATH=/bin"],
//!     StdioFds::inherit(),
//! )?;
//! let status = runtime.exec(pid)?;
//! runtime.destroy()?;
//! std::process::exit(status.code());
//! # }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod abi;
mod cstrings;
mod error;
pub mod exit;
pub mod export;
mod loader;
mod params;
pub mod signal;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use error::Error;
pub use exit::{ExitStatus, ExitValueError, ExitValueKind};
pub use loader::EnclaveRuntime;
pub use params::{Handover, LogLevel, ParseLogLevelError, Pid, StdioFds};
pub use signal::{SignalError, SignalPolicy};
