//! The PAL state machine behind the exported symbols: one enclave per process, as the PAL API
//! assumes (`pal_init` once, any number of processes, `pal_destroy` once).
//!
//! Safe code only; [`crate::ffi`] converts the C arguments and calls these functions.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use pal::export::InitAttr;
use sgx::TargetInfo;

use crate::enclave::{Enclave, EnclaveError, InitArgs, Processes};
use crate::handover;

/// An initialised runtime: the enclave and its processes.
#[derive(Debug)]
struct Running {
    enclave: Enclave,
    processes: Processes,
}

static RUNNING: Mutex<Option<Arc<Running>>> = Mutex::new(None);

fn running() -> Result<Arc<Running>, EnclaveError> {
    RUNNING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or(EnclaveError::NotInitialised)
}

/// `pal_init`; `handover` is a duplicate of `attr.handover`'s fd, when epm handed over an
/// enclave (see [`crate::handover`]).
pub(crate) fn init(attr: InitAttr, handover: Option<OwnedFd>) -> Result<(), EnclaveError> {
    init_logging(&attr.log_level);
    let mut slot = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.is_some() {
        return Err(EnclaveError::AlreadyInitialised);
    }
    // Nothing in this process may be read through ptrace or /proc/PID/mem by the workload:
    // it holds the platform secret and the fds of the image and platform directory.
    if let Err(errno) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(tee = "sim", %errno, "cannot make the sim enclave runtime non-dumpable");
    }
    let args = InitArgs::parse(&attr.args)?;
    for word in &args.ignored {
        tracing::debug!(tee = "sim", arg = %word, "ignoring sim enclave runtime argument");
    }
    // rune keeps these fds open across pivot_root; the workload must not inherit them (the
    // platform directory holds the secret).
    for path in [&args.manifest, &args.sigstruct, &args.platform] {
        if let Some(fd) = path
            .to_str()
            .and_then(|p| p.strip_prefix("/proc/self/fd/"))
            .and_then(|n| n.parse::<i32>().ok())
        {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
    }
    let package = match (attr.handover, handover) {
        (Some((fd, addr)), Some(owned)) => {
            // The caller's copy stays open in this process; the workload must not inherit it.
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
            let package = handover::receive(owned.as_fd(), addr)
                .map_err(|source| EnclaveError::Handover { fd, source })?;
            Some(package)
        }
        _ => None,
    };
    let verified = package
        .as_ref()
        .and_then(|p| p.header.verified_image.as_ref());
    let enclave = Enclave::load(&args, verified)?;
    if let Some(package) = package {
        let files = package.header.files.len();
        let tenant = package.header.tenant.clone();
        enclave.adopt(package)?;
        tracing::info!(tee = "sim", %tenant, files, "sim enclave initialised from an epm handover");
    }
    *slot = Some(Arc::new(Running {
        enclave,
        processes: Processes::default(),
    }));
    Ok(())
}

/// `pal_create_process`: verify, then start the workload; returns its pid.
pub(crate) fn create_process(
    path: &str,
    argv: &[String],
    env: &[String],
    stdio: [Option<OwnedFd>; 3],
) -> Result<i32, EnclaveError> {
    let running = running()?;
    let prepared = running.enclave.prepare(path, argv, env)?;
    let pid = crate::ffi::sys::spawn(&prepared, stdio).map_err(|e| EnclaveError::Spawn {
        path: prepared.entrypoint.clone(),
        step: e.step,
        source: e.source,
    })?;
    running.processes.insert(pid);
    tracing::info!(
        tee = "sim",
        pid,
        entrypoint = %prepared.entrypoint,
        memfd = prepared.executable.as_raw_fd(),
        "sim enclave process started from verified bytes"
    );
    Ok(pid)
}

/// `pal_exec`: waits for `pid`; returns its plain exit code.
pub(crate) fn exec(pid: i32) -> Result<i32, EnclaveError> {
    running()?.processes.wait(pid)
}

/// `pal_kill`.
pub(crate) fn kill(pid: i32, signal: i32) -> Result<(), EnclaveError> {
    running()?.processes.kill(pid, signal)
}

/// `pal_destroy`: kills leftover processes and drops the enclave (its secrets zeroize).
pub(crate) fn destroy() -> Result<(), EnclaveError> {
    let running = RUNNING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .ok_or(EnclaveError::NotInitialised)?;
    running.processes.kill_all();
    tracing::info!(tee = "sim", "sim enclave destroyed");
    Ok(())
}

/// `erpal_sim_get_report` / `pal_get_local_report`.
pub(crate) fn report(target: &[u8; 512], report_data: [u8; 64]) -> Result<[u8; 432], EnclaveError> {
    let target = TargetInfo::parse(target).map_err(EnclaveError::TargetInfo)?;
    Ok(running()?.enclave.report(&target, report_data).encode())
}

/// Installs this library's own tracing subscriber (a cdylib has its own copy of `tracing`,
/// so the host's subscriber does not see our events): stderr, at `level`.
fn init_logging(level: &str) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let level = match level.to_ascii_lowercase().as_str() {
            "off" => return,
            "trace" => tracing::Level::TRACE,
            "debug" => tracing::Level::DEBUG,
            "warning" | "warn" => tracing::Level::WARN,
            "error" => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        };
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(false)
            .try_init();
    });
}
