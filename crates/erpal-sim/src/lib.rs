//! `liberpal-sim.so`: the software TEE ("sim") enclave runtime, implementing PAL API v3
//! (DESIGN §3.3, §3.4), plus the library side of its tooling: image signing, measuring and
//! inspection, the per-host platform secrets and the sim quoting enclave.
//!
//! # What the sim TEE protects, and what it does not
//!
//! Integrity and measurement: an image whose manifest, SIGSTRUCT or trusted files were changed
//! after signing does not start, and any change to a trusted file changes MRENCLAVE, so no
//! verifier that pins it releases secrets. The runtime and its workload are not dumpable and
//! keep other unprivileged processes out. It gives **no confidentiality against root or the
//! kernel**: memory is ordinary memory and the platform secret is a root-only file. Every log
//! line, error, manifest and inspection says "sim" so it is never mistaken for hardware.
//!
//! # Contract with rune
//!
//! Image files live in the bundle, outside the rootfs: `BUNDLE/enclave/manifest.json` (see
//! [`manifest`]) and `BUNDLE/enclave/sigstruct.bin` (1808 bytes). At `create`, rune calls
//! [`platform::Platform::load_or_create`] (default directory [`platform::DEFAULT_DIR`]), opens
//! the manifest, the SIGSTRUCT and the platform directory (`O_DIRECTORY`) as fds that survive
//! into the container, and calls `pal_init` inside the container (after `pivot_root`) with the
//! argument string:
//!
//! ```text
//! <ENCLAVE_RUNTIME_ARGS> manifest=/proc/self/fd/N sigstruct=/proc/self/fd/M platform=/proc/self/fd/P
//! ```
//!
//! Arguments are space separated. Known keys: `manifest=`, `sigstruct=` (required),
//! `platform=` (default `/var/lib/rune/sim`; the directory or its `platform_secret` file) and
//! `root=` (default `/`: a prefix for program and
//! trusted-file paths, for tests outside a container; rune never passes it). Values may be
//! plain paths. Bare words (such as `no-epm`) are ignored with a debug log; any other
//! `key=value` is an error naming it. `pal_init` makes the `/proc/self/fd/N` fds
//! close-on-exec so the workload never inherits them.
//!
//! The PAL calls:
//! - `pal_init` (v3 attributes; `fd = -1, addr = 0`, or an enclave handed over by `epm`:
//!   `fd` a [`handover`] socket and `addr` [`handover::HANDOVER_ADDR`]): reads the manifest (at most 1 MiB) and SIGSTRUCT, verifies the signature
//!   with Q1/Q2, recomputes MRENCLAVE ([`measure`]) and refuses "sim enclave image measurement
//!   mismatch: manifest gives X, sigstruct says Y"; checks ISVPRODID, ISVSVN and the DEBUG
//!   attribute against the manifest; loads the platform secret; makes itself non-dumpable.
//!   A handed-over enclave must carry this image's MRENCLAVE, MRSIGNER and entrypoint, else
//!   "sim enclave handover is for MRENCLAVE X, the image has Y".
//! - `pal_create_process`: the path (as rune resolved it in the container) must resolve,
//!   symlinks followed, to the manifest's entrypoint; argv and env must satisfy the manifest's
//!   policies; every trusted file must hash to its recorded SHA-256 (the error names the file
//!   and both hashes; after a handover, the first launch skips files whose `fstat` identity
//!   is the one epm measured, and runs the entrypoint from epm's sealed copy); the entrypoint is copied into a private memfd while hashed, the memfd
//!   is sealed and `fexecve`d by a child that shares the runtime's memory until its exec
//!   (`clone(CLONE_VM|CLONE_VFORK)`, as `posix_spawn`); the child is made non-dumpable, gets
//!   RLIMIT_CORE 0 and no_new_privs, default signal dispositions, an empty signal mask and the
//!   given stdio fds on 0/1/2. Returns the child's pid.
//! - `pal_exec`: waits for the pid; `*exit_value` is the plain exit code (128+n for signal n).
//! - `pal_kill(pid, sig)`: -1 = every started process, 0 = the last started one; any signal.
//! - `pal_destroy`: kills and reaps leftover processes, drops the enclave (secrets zeroize).
//! - `pal_get_local_report`: a REPORT of this enclave (MRENCLAVE of the manifest, MRSIGNER of
//!   the SIGSTRUCT key, ISV fields, attributes with DEBUG per manifest) with zero REPORTDATA,
//!   MACed with the target's report key derived from the platform secret. The extension
//!   `erpal_sim_get_report(targetinfo, report_data, report)` takes REPORTDATA ([`ffi`]).
//!
//! Quotes: rune gets a REPORT targeted at [`platform::qe_target_info`] from the running enclave
//! and calls [`platform::Platform::quote`], which checks its MAC and returns a DCAP v3-layout
//! sim quote (verifiable with `attestation::sim::SimVerifier` given the host's sim root).
//!
//! Limitation: shared libraries are verified at `pal_create_process` and then loaded by the
//! dynamic loader by path; a process that can write the rootfs between the two could swap one.
//! The entrypoint itself cannot be swapped (it runs from the sealed copy).
//!
//! # Safety
//!
//! `unsafe` is denied at the root and allowed only in [`ffi`] (the exports and the clone/exec
//! edge), each block with a `// SAFETY:` comment.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod enclave;
pub mod ffi;
pub mod handover;
pub mod hash;
pub mod image;
pub mod manifest;
pub mod measure;
pub mod platform;
pub mod rootfs;
mod runtime;
pub mod seal;

pub use enclave::{EnclaveError, InitArgs};
pub use image::{
    generate_key, inspect_bundle, measure_bundle, sign_bundle, sign_bundle_with_progress,
    ImageError, Inspection, Measurement, SignOptions, SignProgress, SignedImage,
};
pub use manifest::{ArgvPolicy, EnvPolicy, Manifest, ManifestError};
pub use platform::{qe_target_info, Platform, PlatformError};
pub use seal::{seal, unseal, SealPolicy};

/// Any error of this crate's library API, for callers that handle them alike.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Image signing, measuring or inspection failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The platform could not be used.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// A PAL operation failed.
    #[error(transparent)]
    Enclave(#[from] EnclaveError),
    /// Sealing or unsealing failed.
    #[error(transparent)]
    Seal(#[from] sgx::SealError),
}
