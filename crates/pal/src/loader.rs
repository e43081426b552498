//! The loader: `dlopen`s an enclave runtime, negotiates its PAL API version, resolves the
//! symbols that version requires, and drives it through a safe API ([`EnclaveRuntime`]).
//!
//! This is the crate's host-side FFI edge and one of its two modules allowed `unsafe` (the other
//! is `export`, the PAL-side edge). Every `unsafe` block here is one of three things: loading
//! the library, resolving a symbol with the type DESIGN §3.3 gives it, or calling a resolved
//! function with pointers into buffers this module owns for the duration of the call.
//!
//! Trust: opening a PAL runs its ELF initialisers, and every call runs its code, inside this
//! process. An enclave runtime is code the operator configured `rune` to run, exactly like the
//! binary `runc` execs; the checks here make a wrong file fail cleanly (not ELF, not a PAL,
//! wrong version), they do not make a malicious one safe.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use nix::errno::Errno;

use crate::abi::{
    self, GetReportWithDataFn, PalAttrV1, PalAttrV3, PalCreateProcessArgs, PalCreateProcessFn,
    PalDestroyFn, PalExecArgs, PalExecV1Fn, PalExecV2Fn, PalGetLocalReportFn, PalGetVersionFn,
    PalInitV1Fn, PalInitV3Fn, PalKillFn, PalStdioFds,
};
use crate::cstrings::{c_bytes, ArrayKind, CStringArray};
use crate::error::Error;
use crate::exit::{ExitStatus, ExitValueKind};
use crate::params::{Handover, LogLevel, Pid, StdioFds};
use crate::signal::SignalPolicy;

/// A loaded enclave runtime (a PAL shared object), ready for `init`.
///
/// The call order follows DESIGN §3.3: [`init`](Self::init) once, then any number of
/// [`create_process`](Self::create_process) / [`exec`](Self::exec) pairs, with
/// [`kill`](Self::kill) allowed from another thread while `exec` blocks, then
/// [`destroy`](Self::destroy). Calls out of order are [`Error::OutOfOrder`], not a crash in
/// the runtime. Dropping an initialised runtime calls `pal_destroy` (a failure is logged), then
/// `dlclose`s the library.
///
/// PAL API v1 has no `pal_create_process`: there `create_process` records the process and
/// returns [`Pid::CURRENT`], and `exec` runs it with the v1 `pal_exec`, so callers drive every
/// version the same way.
#[derive(Debug)]
pub struct EnclaveRuntime {
    path: PathBuf,
    version: u32,
    entries: Entries,
    exit_kind: ExitValueKind,
    signal_policy: SignalPolicy,
    state: Mutex<State>,
    pending_v1: Mutex<Option<PendingV1>>,
    /// Declared last so it is dropped last: the function pointers in `entries` point into it.
    _library: Library,
}

/// The resolved entry points, per PAL API version.
#[derive(Debug, Clone, Copy)]
enum Entries {
    V1 {
        init: PalInitV1Fn,
        exec: PalExecV1Fn,
        destroy: PalDestroyFn,
    },
    V2 {
        init: PalInitV1Fn,
        create_process: PalCreateProcessFn,
        exec: PalExecV2Fn,
        kill: PalKillFn,
        destroy: PalDestroyFn,
    },
    V3 {
        init: PalInitV3Fn,
        create_process: PalCreateProcessFn,
        exec: PalExecV2Fn,
        kill: PalKillFn,
        destroy: PalDestroyFn,
        local_report: Option<PalGetLocalReportFn>,
        report_with_data: Option<GetReportWithDataFn>,
    },
}

/// Where the runtime is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Loaded,
    Initialized,
    Destroyed,
}

/// A v1 process recorded by `create_process`, run by `exec`.
#[derive(Debug)]
struct PendingV1 {
    path: Vec<u8>,
    argv: CStringArray,
    /// Duplicates of the caller's fds: v1 uses them at `exec`, after the borrow has ended.
    stdio: [OwnedFd; 3],
}

/// The first bytes of every ELF file.
const ELF_MAGIC: [u8; 4] = *b"\x7fELF";

impl EnclaveRuntime {
    /// Loads the enclave runtime at `path` with `dlopen(RTLD_NOW)`.
    ///
    /// A path without a `/` is taken relative to the current directory, never searched for in
    /// the library path. The exit value kind and signal policy start as
    /// [`ExitValueKind::guess`] and [`SignalPolicy::guess`] of the file name; set them from
    /// configuration with [`with_exit_value_kind`](Self::with_exit_value_kind) and
    /// [`with_signal_policy`](Self::with_signal_policy).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let dl_path = if path.as_os_str().as_bytes().contains(&b'/') {
            path.to_owned()
        } else {
            Path::new(".").join(path)
        };
        Self::load(path.to_owned(), &dl_path, path)
    }

    /// Loads the enclave runtime open at `fd`, through `/proc/self/fd/N`.
    ///
    /// This is how `rune` loads a host-path PAL inside the container: it opens the file before
    /// `pivot_root`, keeps the fd across it, and loads it from the container's init. The fd only
    /// has to stay open during this call. The kind guesses use the name `/proc/self/fd/N`
    /// resolves to, which is the host path the file was opened by.
    pub fn open_fd(fd: BorrowedFd<'_>) -> Result<Self, Error> {
        let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let name = std::fs::read_link(&path).unwrap_or_else(|_| path.clone());
        Self::load(path.clone(), &path, &name)
    }

    /// Sets how `exec` decodes the runtime's exit values.
    pub fn with_exit_value_kind(mut self, kind: ExitValueKind) -> Self {
        self.exit_kind = kind;
        self
    }

    /// Sets which signals `kill` passes to the runtime.
    pub fn with_signal_policy(mut self, policy: SignalPolicy) -> Self {
        self.signal_policy = policy;
        self
    }

    /// The path the runtime was loaded from (`/proc/self/fd/N` for [`open_fd`](Self::open_fd)).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The negotiated PAL API version, 1 to 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// How `exec` decodes exit values.
    pub fn exit_value_kind(&self) -> ExitValueKind {
        self.exit_kind
    }

    /// Which signals `kill` passes on.
    pub fn signal_policy(&self) -> SignalPolicy {
        self.signal_policy
    }

    /// Whether the runtime exports the optional `pal_get_local_report` (v3 only).
    pub fn has_local_report(&self) -> bool {
        matches!(
            self.entries,
            Entries::V3 {
                local_report: Some(_),
                ..
            }
        )
    }

    /// Calls `pal_init` with the runtime arguments and log level, and for v3 the enclave
    /// handed over by epm (`fd = -1, addr = 0` when `handover` is `None`).
    ///
    /// A handover with a v1 or v2 runtime is [`Error::NotInVersion`]: those have no field to
    /// carry it. On failure the runtime stays loaded and `init` may be called again.
    pub fn init(
        &self,
        args: &str,
        log_level: LogLevel,
        handover: Option<Handover<'_>>,
    ) -> Result<(), Error> {
        let mut state = self.lock_state();
        match *state {
            State::Loaded => {}
            State::Initialized => return Err(self.out_of_order(abi::SYM_INIT, "twice")),
            State::Destroyed => return Err(self.out_of_order(abi::SYM_INIT, "after pal_destroy")),
        }
        let args_c = c_bytes(OsStr::new(args), || "runtime args".to_owned())?;
        let level_c = c_bytes(OsStr::new(log_level.as_str()), || "log level".to_owned())?;
        let attr_v1 = PalAttrV1 {
            args: args_c.as_ptr().cast::<c_char>(),
            log_level: level_c.as_ptr().cast::<c_char>(),
        };
        tracing::debug!(
            path = %self.path.display(),
            version = self.version,
            args,
            log_level = %log_level,
            handover = handover.is_some(),
            "pal_init"
        );
        match self.entries {
            Entries::V1 { init, .. } | Entries::V2 { init, .. } => {
                if handover.is_some() {
                    return Err(self.not_in_version("enclave handover (pal_attr_v3_t)"));
                }
                self.call(abi::SYM_INIT, || {
                    // SAFETY: `init` is `pal_init` resolved with the v1/v2 type of DESIGN §3.3
                    // and the library is loaded for as long as `self` lives. `attr_v1` and the
                    // buffers its pointers point into (`args_c`, `level_c`, NUL-terminated by
                    // `c_bytes`) live until after the call returns.
                    unsafe { init(&attr_v1) }
                })?;
            }
            Entries::V3 { init, .. } => {
                let attr = PalAttrV3 {
                    attr_v1,
                    fd: handover.map_or(-1, |h| h.fd.as_raw_fd()),
                    addr: handover.map_or(0, |h| h.addr),
                };
                self.call(abi::SYM_INIT, || {
                    // SAFETY: `init` is `pal_init` resolved with the v3 type; `attr`, and the
                    // strings and the borrowed handover fd it refers to, outlive the call.
                    unsafe { init(&attr) }
                })?;
            }
        }
        *state = State::Initialized;
        tracing::info!(path = %self.path.display(), version = self.version, "enclave runtime initialised");
        Ok(())
    }

    /// Creates the workload process: `path` inside the container, its `argv` (`argv[0]`
    /// first) and `env` (`KEY=value`), with `stdio` as its standard streams.
    ///
    /// The fds must stay open until the process has exited: some runtimes (Occlum) keep the
    /// numbers and use them later. With PAL API v1, which has no environment parameter, `env`
    /// is dropped with a warning and the process is only recorded here (see the type docs).
    pub fn create_process<A, E>(
        &self,
        path: &Path,
        argv: &[A],
        env: &[E],
        stdio: StdioFds<'_>,
    ) -> Result<Pid, Error>
    where
        A: AsRef<OsStr>,
        E: AsRef<OsStr>,
    {
        self.require_initialized(abi::SYM_CREATE_PROCESS)?;
        let mut path_c = c_bytes(path.as_os_str(), || "path".to_owned())?;
        let mut argv_c = CStringArray::new(ArrayKind::Argv, argv)?;
        let mut env_c = CStringArray::new(ArrayKind::Env, env)?;
        tracing::debug!(
            path = %self.path.display(),
            program = %path.display(),
            argc = argv_c.len(),
            envc = env_c.len(),
            "pal_create_process"
        );
        let create_process = match self.entries {
            Entries::V1 { .. } => return self.record_v1(path_c, argv_c, env_c.len(), stdio),
            Entries::V2 { create_process, .. } | Entries::V3 { create_process, .. } => {
                create_process
            }
        };
        let argv_ptrs = argv_c.pointers();
        let env_ptrs = env_c.pointers();
        let mut stdio_abi = stdio.to_abi();
        // -1 is never a process ("all processes" in pal_kill): it detects a PAL that reports
        // success without writing the pid.
        let mut pid: c_int = -1;
        let mut args = PalCreateProcessArgs {
            path: path_c.as_mut_ptr().cast::<c_char>(),
            argv: argv_ptrs.as_ptr().cast::<*const c_char>(),
            env: env_ptrs.as_ptr().cast::<*const c_char>(),
            stdio: &mut stdio_abi,
            pid: &mut pid,
        };
        self.call(abi::SYM_CREATE_PROCESS, || {
            // SAFETY: `create_process` is `pal_create_process` resolved with the v2+ type.
            // Every pointer in `args` points to a live local: `path_c` is NUL-terminated,
            // `argv_ptrs`/`env_ptrs` are NULL-terminated arrays of pointers into `argv_c` and
            // `env_c`, which are not touched again until the call returns; `stdio_abi` and
            // `pid` are plain ints the callee may write.
            unsafe { create_process(&mut args) }
        })?;
        if pid < 0 {
            return Err(Error::BadOutput {
                call: abi::SYM_CREATE_PROCESS,
                path: self.path.clone(),
                problem: format!("set pid to {pid}"),
            });
        }
        tracing::info!(path = %self.path.display(), pid, "enclave process created");
        Ok(Pid::from_raw(pid))
    }

    /// Runs the process `pid` to completion (`pal_exec` blocks) and returns its normalised
    /// exit status, decoded with this runtime's [`ExitValueKind`].
    pub fn exec(&self, pid: Pid) -> Result<ExitStatus, Error> {
        self.require_initialized(abi::SYM_EXEC)?;
        tracing::debug!(path = %self.path.display(), %pid, "pal_exec");
        let mut exit_value: c_int = 0;
        match self.entries {
            Entries::V1 { exec, .. } => {
                let pending = self
                    .pending_v1
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                let Some(mut pending) = pending else {
                    return Err(self.out_of_order(abi::SYM_EXEC, "before create_process"));
                };
                let mut argv_ptrs = pending.argv.pointers();
                let [stdin, stdout, stderr] = &pending.stdio;
                let mut stdio_abi = PalStdioFds {
                    stdin: stdin.as_raw_fd(),
                    stdout: stdout.as_raw_fd(),
                    stderr: stderr.as_raw_fd(),
                };
                let path_ptr = pending.path.as_mut_ptr().cast::<c_char>();
                self.call(abi::SYM_EXEC, || {
                    // SAFETY: `exec` is the v1 `pal_exec` resolved with its §3.3 type. `path_ptr`
                    // points into `pending.path` (NUL-terminated, owned and writable), the argv
                    // array is NULL-terminated and points into `pending.argv`, the stdio fds are
                    // open (owned by `pending`), and `exit_value` is a live local; `pending` is
                    // not touched until the call returns.
                    unsafe {
                        exec(
                            path_ptr,
                            argv_ptrs.as_mut_ptr(),
                            &mut stdio_abi,
                            &mut exit_value,
                        )
                    }
                })?;
                drop(pending);
            }
            Entries::V2 { exec, .. } | Entries::V3 { exec, .. } => {
                let mut args = PalExecArgs {
                    pid: pid.as_raw(),
                    exit_value: &mut exit_value,
                };
                self.call(abi::SYM_EXEC, || {
                    // SAFETY: `exec` is the v2+ `pal_exec` resolved with its §3.3 type; `args`
                    // and the `exit_value` it points to are live locals for the whole call.
                    unsafe { exec(&mut args) }
                })?;
            }
        }
        let status = self
            .exit_kind
            .normalise(exit_value)
            .map_err(|source| Error::ExitValue {
                path: self.path.clone(),
                source,
            })?;
        tracing::info!(
            path = %self.path.display(),
            %pid,
            exit_value,
            exit_kind = %self.exit_kind,
            code = status.code(),
            "enclave process exited"
        );
        Ok(status)
    }

    /// Sends `signal` to `pid` ([`Pid::ALL`] = every process, [`Pid::CURRENT`] = the current
    /// one) after passing it through this runtime's [`SignalPolicy`]; a refused signal is
    /// [`Error::Signal`] and nothing is sent. PAL API v1 has no `pal_kill`.
    pub fn kill(&self, pid: Pid, signal: c_int) -> Result<(), Error> {
        self.require_initialized(abi::SYM_KILL)?;
        let kill = match self.entries {
            Entries::V1 { .. } => return Err(self.not_in_version(abi::SYM_KILL)),
            Entries::V2 { kill, .. } | Entries::V3 { kill, .. } => kill,
        };
        let delivered = self
            .signal_policy
            .apply(signal)
            .map_err(|source| Error::Signal {
                pid: pid.as_raw(),
                path: self.path.clone(),
                source,
            })?;
        tracing::debug!(path = %self.path.display(), %pid, signal, delivered, "pal_kill");
        self.call(abi::SYM_KILL, || {
            // SAFETY: `kill` is `pal_kill` resolved with its §3.3 type; it takes two ints.
            unsafe { kill(pid.as_raw(), delivered) }
        })?;
        Ok(())
    }

    /// Calls `pal_destroy`. Before a successful `init` there is nothing to destroy and this
    /// returns `Ok`; a second call is [`Error::OutOfOrder`]. After it, only dropping is left.
    pub fn destroy(&self) -> Result<(), Error> {
        let mut state = self.lock_state();
        match *state {
            State::Loaded => return Ok(()),
            State::Initialized => {}
            State::Destroyed => return Err(self.out_of_order(abi::SYM_DESTROY, "twice")),
        }
        // Whatever pal_destroy returns, it must not be called again (by Drop either).
        *state = State::Destroyed;
        let destroy = match self.entries {
            Entries::V1 { destroy, .. }
            | Entries::V2 { destroy, .. }
            | Entries::V3 { destroy, .. } => destroy,
        };
        tracing::debug!(path = %self.path.display(), "pal_destroy");
        self.call(abi::SYM_DESTROY, || {
            // SAFETY: `destroy` is `pal_destroy` resolved with its §3.3 type; it takes no
            // arguments. The state lock held here keeps it from running twice.
            unsafe { destroy() }
        })?;
        tracing::info!(path = %self.path.display(), "enclave runtime destroyed");
        Ok(())
    }

    /// Asks the enclave for a REPORT targeted at `targetinfo` carrying `report_data`, through
    /// rune's `erpal_sim_get_report` extension; without it, through `pal_get_local_report` when
    /// `report_data` is all zero (the only REPORTDATA that call can give).
    pub fn report_with_data(
        &self,
        targetinfo: &[u8; abi::TARGETINFO_SIZE],
        report_data: &[u8; 64],
    ) -> Result<[u8; abi::REPORT_SIZE], Error> {
        self.require_initialized(abi::SYM_GET_REPORT_WITH_DATA)?;
        let extension = match self.entries {
            Entries::V3 {
                report_with_data, ..
            } => report_with_data,
            _ => None,
        };
        let Some(get_report) = extension else {
            if report_data.iter().all(|b| *b == 0) {
                return self.local_report(targetinfo);
            }
            return Err(self.not_in_version(abi::SYM_GET_REPORT_WITH_DATA));
        };
        let mut report = [0u8; abi::REPORT_SIZE];
        Errno::clear();
        // SAFETY: `get_report` was resolved with the extension's documented type; `targetinfo`
        // (512 bytes) and `report_data` (64 bytes) are live borrows it only reads, and `report`
        // is a live 432-byte local it writes; all outlive the call.
        let returned = unsafe {
            get_report(
                targetinfo.as_ptr().cast::<c_void>(),
                report_data.as_ptr().cast::<c_void>(),
                report.as_mut_ptr().cast::<c_void>(),
            )
        };
        if returned != 0 {
            return Err(self.call_failed(abi::SYM_GET_REPORT_WITH_DATA, returned));
        }
        Ok(report)
    }

    /// Asks the enclave for an SGX REPORT targeted at `targetinfo` (`pal_get_local_report`,
    /// optional in v3).
    pub fn local_report(
        &self,
        targetinfo: &[u8; abi::TARGETINFO_SIZE],
    ) -> Result<[u8; abi::REPORT_SIZE], Error> {
        self.require_initialized(abi::SYM_GET_LOCAL_REPORT)?;
        let local_report = match self.entries {
            Entries::V1 { .. } | Entries::V2 { .. } => {
                return Err(self.not_in_version(abi::SYM_GET_LOCAL_REPORT))
            }
            Entries::V3 { local_report, .. } => {
                local_report.ok_or_else(|| Error::NoLocalReport {
                    path: self.path.clone(),
                })?
            }
        };
        // The C signature takes `void *`, so give it a copy it may write rather than the
        // caller's shared array.
        let mut targetinfo = *targetinfo;
        let mut report = [0u8; abi::REPORT_SIZE];
        let mut report_len = c_int::try_from(abi::REPORT_SIZE).unwrap_or(c_int::MAX);
        let targetinfo_len = c_int::try_from(abi::TARGETINFO_SIZE).unwrap_or(c_int::MAX);
        Errno::clear();
        // SAFETY: `local_report` is `pal_get_local_report` resolved with its §3.3 type.
        // `targetinfo` is a live 512-byte local and `targetinfo_len` says so; `report` is a live
        // 432-byte local and `report_len` (in: capacity) says so; all outlive the call.
        let returned = unsafe {
            local_report(
                targetinfo.as_mut_ptr().cast::<c_void>(),
                targetinfo_len,
                report.as_mut_ptr().cast::<c_void>(),
                &mut report_len,
            )
        };
        if returned != 0 {
            return Err(self.call_failed(abi::SYM_GET_LOCAL_REPORT, returned));
        }
        if usize::try_from(report_len) != Ok(abi::REPORT_SIZE) {
            return Err(Error::BadOutput {
                call: abi::SYM_GET_LOCAL_REPORT,
                path: self.path.clone(),
                problem: format!(
                    "set report_len to {report_len}, expected {}",
                    abi::REPORT_SIZE
                ),
            });
        }
        Ok(report)
    }

    /// Checks the file, loads it and negotiates the version. `name` feeds the kind guesses.
    fn load(path: PathBuf, dl_path: &Path, name: &Path) -> Result<Self, Error> {
        check_elf(&path, dl_path)?;
        // SAFETY: dlopen runs the library's ELF initialisers, which libloading requires to be
        // sound to run now. The file is the enclave runtime the caller chose to execute in this
        // process (see the module doc: it is trusted code, like the binary runc execs); it has
        // just been checked to be ELF, and RTLD_LOCAL keeps its symbols out of the global
        // namespace so it cannot interpose on ours.
        let library =
            unsafe { Library::open(Some(dl_path), RTLD_NOW | RTLD_LOCAL) }.map_err(|source| {
                Error::Load {
                    path: path.clone(),
                    source,
                }
            })?;
        // SAFETY: `pal_get_version` has type `int (void)` in every PAL version that has it.
        let get_version = unsafe { resolve::<PalGetVersionFn>(&library, abi::SYM_GET_VERSION) };
        let version = match get_version {
            None => abi::MIN_VERSION,
            Some(get_version) => {
                // SAFETY: `get_version` was resolved just above from `library`, which is alive;
                // it takes no arguments.
                let reported = unsafe { get_version() };
                u32::try_from(reported)
                    .ok()
                    .filter(|v| (abi::MIN_VERSION..=abi::MAX_VERSION).contains(v))
                    .ok_or_else(|| Error::UnsupportedVersion {
                        path: path.clone(),
                        version: reported,
                    })?
            }
        };
        let entries = resolve_entries(&library, &path, version)?;
        tracing::info!(
            path = %path.display(),
            version,
            local_report = matches!(entries, Entries::V3 { local_report: Some(_), .. }),
            "enclave runtime loaded"
        );
        Ok(Self {
            exit_kind: ExitValueKind::guess(name),
            signal_policy: SignalPolicy::guess(name),
            path,
            version,
            entries,
            state: Mutex::new(State::Loaded),
            pending_v1: Mutex::new(None),
            _library: library,
        })
    }

    /// v1 `create_process`: records the process for `exec`.
    fn record_v1(
        &self,
        path: Vec<u8>,
        argv: CStringArray,
        envc: usize,
        stdio: StdioFds<'_>,
    ) -> Result<Pid, Error> {
        if envc > 0 {
            tracing::warn!(
                path = %self.path.display(),
                envc,
                "PAL API v1 has no environment parameter; the workload's env is not passed"
            );
        }
        let stdio = stdio.try_clone_to_owned().map_err(|source| Error::Dup {
            path: self.path.clone(),
            source,
        })?;
        let mut pending = self
            .pending_v1
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pending.is_some() {
            return Err(self.out_of_order(
                abi::SYM_CREATE_PROCESS,
                "again before pal_exec (PAL API v1 runs one process at a time)",
            ));
        }
        *pending = Some(PendingV1 { path, argv, stdio });
        Ok(Pid::CURRENT)
    }

    /// Runs a PAL call that returns negative on failure, capturing errno for the error.
    fn call(&self, call: &'static str, f: impl FnOnce() -> c_int) -> Result<c_int, Error> {
        // errno is only meaningful if the callee set it, so clear it first.
        Errno::clear();
        let returned = f();
        if returned < 0 {
            Err(self.call_failed(call, returned))
        } else {
            Ok(returned)
        }
    }

    fn call_failed(&self, call: &'static str, returned: c_int) -> Error {
        let errno = Errno::last_raw();
        Error::CallFailed {
            call,
            path: self.path.clone(),
            returned,
            errno: (errno != 0).then_some(errno),
        }
    }

    fn require_initialized(&self, call: &'static str) -> Result<(), Error> {
        match *self.lock_state() {
            State::Initialized => Ok(()),
            State::Loaded => Err(self.out_of_order(call, "before pal_init")),
            State::Destroyed => Err(self.out_of_order(call, "after pal_destroy")),
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // The state is a plain enum written in one assignment: a panic elsewhere cannot leave it
        // half-updated, so a poisoned lock still holds a valid value.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn out_of_order(&self, call: &'static str, when: &'static str) -> Error {
        Error::OutOfOrder {
            call,
            path: self.path.clone(),
            when,
        }
    }

    fn not_in_version(&self, call: &'static str) -> Error {
        Error::NotInVersion {
            call,
            path: self.path.clone(),
            version: self.version,
        }
    }
}

impl Drop for EnclaveRuntime {
    fn drop(&mut self) {
        let initialized = *self.lock_state() == State::Initialized;
        if initialized {
            if let Err(error) = self.destroy() {
                tracing::warn!(%error, "pal_destroy on drop failed");
            }
        }
        // `_library` is dropped (dlclose) after this, as the last field.
        tracing::debug!(path = %self.path.display(), "unloading enclave runtime");
    }
}

/// Reads the first bytes through `dl_path` and checks for the ELF magic, so a missing or
/// non-ELF file gets a clear error instead of `dlerror` text.
fn check_elf(path: &Path, dl_path: &Path) -> Result<(), Error> {
    let mut file = File::open(dl_path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => Error::NotFound {
            path: path.to_owned(),
        },
        _ => Error::Read {
            path: path.to_owned(),
            source,
        },
    })?;
    let mut magic = [0u8; 4];
    match file.read_exact(&mut magic) {
        Ok(()) if magic == ELF_MAGIC => Ok(()),
        Ok(()) => Err(Error::NotElf {
            path: path.to_owned(),
        }),
        Err(source) if source.kind() == io::ErrorKind::UnexpectedEof => Err(Error::NotElf {
            path: path.to_owned(),
        }),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Resolves the symbols `version` requires; the first missing one is named in the error.
fn resolve_entries(library: &Library, path: &Path, version: u32) -> Result<Entries, Error> {
    let missing = |symbol| Error::MissingSymbol {
        path: path.to_owned(),
        symbol,
        version,
    };
    // Each `resolve` below names the type DESIGN §3.3 gives that symbol in `version`.
    macro_rules! required {
        ($ty:ty, $name:expr) => {
            // SAFETY: `$ty` is the §3.3 type of `$name` in the negotiated `version`; a library
            // that reports this version and exports the name with another type is not a PAL.
            unsafe { resolve::<$ty>(library, $name) }.ok_or_else(|| missing($name))?
        };
    }
    Ok(match version {
        1 => Entries::V1 {
            init: required!(PalInitV1Fn, abi::SYM_INIT),
            exec: required!(PalExecV1Fn, abi::SYM_EXEC),
            destroy: required!(PalDestroyFn, abi::SYM_DESTROY),
        },
        2 => Entries::V2 {
            init: required!(PalInitV1Fn, abi::SYM_INIT),
            create_process: required!(PalCreateProcessFn, abi::SYM_CREATE_PROCESS),
            exec: required!(PalExecV2Fn, abi::SYM_EXEC),
            kill: required!(PalKillFn, abi::SYM_KILL),
            destroy: required!(PalDestroyFn, abi::SYM_DESTROY),
        },
        _ => Entries::V3 {
            init: required!(PalInitV3Fn, abi::SYM_INIT),
            create_process: required!(PalCreateProcessFn, abi::SYM_CREATE_PROCESS),
            exec: required!(PalExecV2Fn, abi::SYM_EXEC),
            kill: required!(PalKillFn, abi::SYM_KILL),
            destroy: required!(PalDestroyFn, abi::SYM_DESTROY),
            // SAFETY: as for the required symbols: this is its §3.3 type in v3.
            local_report: unsafe {
                resolve::<PalGetLocalReportFn>(library, abi::SYM_GET_LOCAL_REPORT)
            },
            // SAFETY: the extension's documented C type (abi::GetReportWithDataFn).
            report_with_data: unsafe {
                resolve::<GetReportWithDataFn>(library, abi::SYM_GET_REPORT_WITH_DATA)
            },
        },
    })
}

/// Looks up `name` in `library` as a function pointer of type `F`; `None` if it is absent or
/// null.
///
/// # Safety
///
/// `F` must be an `extern "C" fn` pointer type matching the symbol's real C type. The returned
/// pointer is only valid while `library` stays loaded; the caller keeps them together.
unsafe fn resolve<F: Copy>(library: &Library, name: &str) -> Option<F> {
    // Reading the symbol as `Option<F>` makes a null symbol value `None` instead of an invalid
    // non-null function pointer (`Option<fn>` has the null-pointer niche).
    // SAFETY: the caller guarantees `F` is a function pointer type, so `Option<F>` is
    // pointer-sized with null as `None`, which is exactly what dlsym's `void *` holds.
    let symbol = unsafe { library.get::<Option<F>>(name.as_bytes()) };
    symbol.ok().and_then(|symbol| *symbol)
}

/// `kill` is called from a signal-forwarding thread while `exec` blocks in another: the runtime
/// must be shareable across threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EnclaveRuntime>();
};
