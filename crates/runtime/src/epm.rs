//! rune's side of the enclave pool manager (`epm`): at `create` of a sim enclave container,
//! ask epm for a pre-initialised enclave of the image; in the container's init, hand it to
//! `pal_init` (`pal_attr_v3_t.fd`/`.addr`, format `erpal_sim::handover`).
//!
//! The pool is an accelerator, never a dependency: `no-epm` in the enclave runtime args opts
//! out; when epm is not running, does not answer in time, refuses, or dies mid-answer, rune
//! logs one line and the PAL measures the image itself; when the PAL refuses a handover,
//! `pal_init` is called again without it. Either way the launch checks are the same.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use pal::{EnclaveRuntime, Handover, LogLevel};

use crate::enclave::EnclaveConfig;

/// Environment variable naming epm's socket (default [`epm::DEFAULT_SOCKET`]).
pub const SOCKET_ENV: &str = "RUNE_EPM_SOCKET";

/// The socket rune asks epm on.
pub fn socket() -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(epm::DEFAULT_SOCKET))
}

/// Asks epm for an enclave of the image open at `manifest`/`sigstruct`, for the container
/// whose rootfs is `rootfs`, without waiting for the answer: epm takes or builds it while
/// libcontainer sets the container up, and the container's init reads it ([`receive`]) on
/// the returned connection, which it inherits. `None` (with one log line saying why) means
/// "launch without".
pub fn request(
    config: &EnclaveConfig,
    rootfs: &Path,
    manifest: BorrowedFd<'_>,
    sigstruct: BorrowedFd<'_>,
) -> Option<OwnedFd> {
    if config.opts_out_of_epm() {
        tracing::debug!(tee = "sim", "no-epm: starting the enclave without the pool");
        return None;
    }
    let tenant = tenant(config);
    let client = epm::Client::new(socket());
    let rootfs = std::fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_owned());
    match client.send_acquire(tenant, &rootfs, manifest, sigstruct, config.epm_prewarm) {
        Ok(pending) => Some(pending.into_fd()),
        Err(e) => {
            no_enclave(&e);
            None
        }
    }
}

/// Reads epm's answer to [`request`] on the inherited connection `conn` (in the container's
/// init) from epm at `socket`: the handover socket for `pal_init`, or `None` with one log line
/// saying why.
fn receive(config: &EnclaveConfig, conn: OwnedFd, socket: &Path) -> Option<OwnedFd> {
    match epm::PendingAcquire::from_fd(socket.to_owned(), conn).finish() {
        Ok(acquired) => {
            tracing::info!(
                tee = "sim",
                tenant = tenant(config),
                hit = acquired.hit,
                hashed_bytes = acquired.hashed_bytes,
                mrenclave = %acquired.mr_enclave,
                "enclave handed over by epm"
            );
            Some(acquired.handover)
        }
        Err(e) => {
            no_enclave(&e);
            None
        }
    }
}

fn tenant(config: &EnclaveConfig) -> &str {
    config.epm_tenant.as_deref().unwrap_or(epm::tenant::HOST)
}

fn no_enclave(error: &epm::ClientError) {
    match error {
        epm::ClientError::Unavailable { .. } => tracing::info!(
            tee = "sim",
            "{error}: starting the enclave without the pool (slower)"
        ),
        other => tracing::warn!(
            tee = "sim",
            error = %epm::server::chain(other),
            "epm gave no enclave: starting without the pool (slower)"
        ),
    }
}

/// `pal_init`, with the enclave epm (at the socket named) hands over on the inherited
/// connection `pending` (see [`request`]) when there is one; if the runtime refuses the
/// handover, again without it.
pub fn init(
    runtime: &EnclaveRuntime,
    config: &EnclaveConfig,
    args: &str,
    level: LogLevel,
    pending: Option<(RawFd, &Path)>,
) -> Result<(), pal::Error> {
    let handover = pending.and_then(|(fd, socket)| match crate::sys::take_inherited(fd) {
        Ok(conn) => receive(config, conn, socket),
        Err(e) => {
            tracing::warn!(fd, error = %e, "epm connection descriptor is gone: initialising without it");
            None
        }
    });
    if let Some(handover) = handover {
        let attr = Handover {
            fd: handover.as_fd(),
            addr: erpal_sim::handover::HANDOVER_ADDR,
        };
        match runtime.init(args, level, Some(attr)) {
            Ok(()) => return Ok(()),
            Err(e) => tracing::warn!(
                tee = "sim",
                fd = handover.as_raw_fd(),
                error = %e,
                "enclave runtime refused the epm handover: initialising without it"
            ),
        }
    }
    runtime.init(args, level, None)
}
