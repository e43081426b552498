//! The workload executors that run in the container's init process, after namespaces, cgroups,
//! pivot_root, capabilities and seccomp are set up.
//!
//! [`RuneExecutor`] is the one extension point: a plain container execs its entrypoint like runc;
//! an enclave container hands it to an enclave runtime (PAL) instead: `pal_init` when the
//! container is created (once the init reported ready to libcontainer, while `rune create`
//! finishes, which waits for the init's report on the stage pipe), then
//! `pal_create_process` + `pal_exec` at start, `pal_destroy` when the workload exits, and the
//! init process exits with the workload's code. Signals sent to the init process (`rune kill`)
//! reach the workload through `pal_kill`.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use pal::{EnclaveRuntime, ExitValueKind, LogLevel, Pid, SignalPolicy, StdioFds};

use crate::acceptor::{Acceptor, AcceptorThread};
use crate::attestation_api::{self, Services};
use crate::bundle::{API_DIR, SECRETS_DIR};
use crate::enclave::{EnclaveConfig, EnclaveType};
use crate::launch::EnclaveStage;

/// The enclave runtime of this init process, loaded at create and used at start.
static ENCLAVE_RUNTIME: OnceLock<EnclaveRuntime> = OnceLock::new();

/// Signals forwarded to an enclave workload through `pal_kill`.
const FORWARDED_SIGNALS: &[i32] = &[
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
    signal_hook::consts::SIGUSR1,
    signal_hook::consts::SIGUSR2,
    signal_hook::consts::SIGWINCH,
];

/// What the init process needs to start an enclave: inherited descriptors and the config.
#[derive(Debug, Clone)]
pub struct EnclaveLaunch {
    /// The validated enclave configuration.
    pub config: EnclaveConfig,
    /// Descriptor of the PAL shared object, opened on the host by `rune create`.
    pub pal_fd: RawFd,
    /// Arguments rune appends to the user's for `pal_init` (e.g. the sim image descriptors).
    pub extra_args: String,
    /// How this runtime reports exit values.
    pub exit_value_kind: ExitValueKind,
    /// Which signals this runtime's `pal_kill` takes.
    pub signal_policy: SignalPolicy,
    /// Listening socket of the enclave agent, served once the enclave is initialised.
    pub agent_fd: Option<RawFd>,
    /// For the software TEE: the platform's sim QE attestation key the init process quotes
    /// with (`qe_attestation_key`, as `attestation::sim::SimQuoter::export` writes it).
    pub sim_quoter_fd: Option<RawFd>,
    /// PEM certificates verdictd's TLS certificate must chain to (`ENCLAVE_KBS_CERT`).
    pub kbs_root_pem: Option<Vec<u8>>,
    /// Whether the container has a new network namespace of its own, where the attestation
    /// API also listens on 127.0.0.1:8006.
    pub own_network: bool,
    /// The connection on which epm answers for this enclave (see `crate::epm::request`), if
    /// rune asked it; the handover it brings becomes `pal_attr_v3_t.fd`.
    pub epm_fd: Option<RawFd>,
    /// epm's socket, for the init's messages (its environment is the container's by then).
    pub epm_socket: PathBuf,
    /// The write end of the pipe on which the init marks each step into the PAL's code
    /// (`launch::EnclaveStage`), for `rune create` to name if the init dies there, and
    /// reports whether the enclave started.
    pub stage_fd: RawFd,
}

impl EnclaveLaunch {
    /// Marks `stage` on the stage pipe; a failure only costs the diagnosis.
    fn mark(&self, stage: EnclaveStage) {
        self.write_stage_pipe(&[stage.byte()]);
    }

    /// Ends the report: the enclave started. The init needs the pipe no more.
    fn report_started(&self) {
        self.write_stage_pipe(&[crate::launch::STARTED]);
        let _ = nix::unistd::close(self.stage_fd);
    }

    /// Ends the report: the enclave did not start, for `reason` (in one write, so that it
    /// arrives whole: at most `PIPE_BUF` bytes).
    fn report_failure(&self, reason: &str) {
        let mut end = reason.len().min(libc::PIPE_BUF - 1);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = vec![crate::launch::FAILED];
        bytes.extend_from_slice(&reason.as_bytes()[..end]);
        self.write_stage_pipe(&bytes);
    }

    /// One `write` (atomic up to `PIPE_BUF`); rune reads what arrived.
    fn write_stage_pipe(&self, bytes: &[u8]) {
        if let Ok(fd) = crate::sys::inherited(self.stage_fd) {
            let _ = nix::unistd::write(fd, bytes);
        }
    }

    fn init_args(&self) -> String {
        [self.config.runtime_args.as_str(), self.extra_args.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Chooses how the container's process is started.
#[derive(Debug, Clone, Default)]
pub struct RuneExecutor {
    enclave: Option<EnclaveLaunch>,
    /// Names of `process.env` in spec order: libcontainer hands the environment over as a
    /// hash map, and runc keeps the spec's order.
    env_order: Vec<String>,
}

impl RuneExecutor {
    /// A runc-like executor that execs the entrypoint of `spec`.
    pub fn plain(spec: &Spec) -> Self {
        Self {
            enclave: None,
            env_order: env_names(spec),
        }
    }

    /// An executor that runs the workload of `spec` in an enclave runtime.
    pub fn enclave(launch: EnclaveLaunch, spec: &Spec) -> Self {
        Self {
            enclave: Some(launch),
            env_order: env_names(spec),
        }
    }

    /// For `exec`: the process's environment comes from the exec request.
    pub fn for_exec() -> Self {
        Self::default()
    }
}

fn env_names(spec: &Spec) -> Vec<String> {
    spec.process()
        .as_ref()
        .and_then(|p| p.env().as_ref())
        .into_iter()
        .flatten()
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_owned()))
        .collect()
}

impl Executor for RuneExecutor {
    fn setup_envs(
        &self,
        mut envs: std::collections::HashMap<String, String>,
    ) -> Result<(), libcontainer::workload::ExecutorSetEnvsError> {
        let host: Vec<std::ffi::OsString> = std::env::vars_os().map(|(k, _)| k).collect();
        for key in host {
            // The environment is process-global: libcontainer calls this in the container's
            // init before any thread of ours exists, so nothing reads it concurrently.
            std::env::remove_var(key);
        }
        // Spec order first (first occurrence places a name, as runc), then what libcontainer
        // added (HOME), sorted so the order is stable.
        for name in &self.env_order {
            if let Some(value) = envs.remove(name) {
                std::env::set_var(name, value);
            }
        }
        let mut rest: Vec<(String, String)> = envs.into_iter().collect();
        rest.sort();
        for (name, value) in rest {
            std::env::set_var(name, value);
        }
        Ok(())
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let (program, path_var) = program_and_path(spec)
            .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_owned()))?;
        resolve_executable(program, path_var.as_deref())
            .map_err(ExecutorValidationError::ArgValidationError)?;
        Ok(())
    }

    /// The enclave starts here, after the init reported ready: `rune create` finishes its
    /// own work meanwhile and then waits for [`EnclaveLaunch::report_started`] or
    /// [`EnclaveLaunch::report_failure`].
    fn after_ready(&self, _spec: &Spec) -> Result<(), ExecutorError> {
        let Some(launch) = &self.enclave else {
            return Ok(());
        };
        match init_enclave(launch) {
            Ok(()) => {
                launch.report_started();
                Ok(())
            }
            Err(reason) => {
                launch.report_failure(&reason);
                Err(ExecutorError::Other(reason))
            }
        }
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if self.enclave.is_some() {
            let code = run_in_enclave(spec).unwrap_or_else(|e| {
                tracing::error!(error = %e, "enclave workload did not start");
                // After start, the container's stderr is the only channel to whoever runs it
                // (rune start has already returned), so the reason goes there, as one line.
                let _ = writeln!(
                    std::io::stderr(),
                    "rune: enclave workload did not start: {e}"
                );
                255
            });
            crate::sys::exit_without_destructors(code);
        }
        let (program, path_var) =
            program_and_path(spec).map_err(|e| ExecutorError::Other(e.to_owned()))?;
        let executable =
            resolve_executable(program, path_var.as_deref()).map_err(ExecutorError::Other)?;
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .ok_or(ExecutorError::InvalidArg)?;
        let to_c = |s: &str| {
            CString::new(s).map_err(|_| {
                ExecutorError::Other(format!("process.args element {s:?} contains a NUL byte"))
            })
        };
        let argv = args
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<Vec<_>, _>>()?;
        let path = to_c(&executable.to_string_lossy())?;
        // execv only returns on failure.
        let errno = nix::unistd::execv(&path, &argv).unwrap_err();
        Err(ExecutorError::Other(format!(
            "exec {}: {}",
            executable.display(),
            errno.desc()
        )))
    }
}

/// Loads the PAL from its inherited descriptor and calls `pal_init` (at create).
fn init_enclave(launch: &EnclaveLaunch) -> Result<(), String> {
    let services_thread =
        AcceptorThread::start().map_err(|e| format!("starting the enclave's services: {e}"))?;
    start_signal_relay();
    let fd = crate::sys::inherited(launch.pal_fd)
        .map_err(|e| format!("enclave runtime descriptor {}: {e}", launch.pal_fd))?;
    launch.mark(EnclaveStage::Loading);
    let loaded = EnclaveRuntime::open_fd(fd);
    launch.mark(EnclaveStage::Returned);
    let runtime = loaded
        .map_err(|e| {
            format!(
                "loading enclave runtime {}: {e}",
                launch.config.runtime_path.display()
            )
        })?
        .with_exit_value_kind(launch.exit_value_kind)
        .with_signal_policy(launch.signal_policy);
    let level: LogLevel = launch
        .config
        .log_level
        .parse()
        .map_err(|e| format!("enclave log level: {e}"))?;
    launch.mark(EnclaveStage::Initialising);
    let initialised = crate::epm::init(
        &runtime,
        &launch.config,
        &launch.init_args(),
        level,
        launch.epm_fd.map(|fd| (fd, launch.epm_socket.as_path())),
    );
    launch.mark(EnclaveStage::Returned);
    initialised.map_err(|e| format!("{} enclave: {e}", launch.config.kind))?;
    tracing::info!(
        tee = %launch.config.kind,
        runtime = %launch.config.runtime_path.display(),
        version = runtime.version(),
        "enclave initialised"
    );
    ENCLAVE_RUNTIME
        .set(runtime)
        .map_err(|_| "enclave runtime initialised twice".to_owned())?;
    let runtime = ENCLAVE_RUNTIME
        .get()
        .ok_or("enclave runtime was not kept after pal_init")?;
    let mut acceptor = Acceptor::default();
    if let Some(fd) = launch.agent_fd {
        let listener = crate::agent::listener_from_fd(fd)
            .map_err(|e| format!("enclave agent socket descriptor {fd}: {e}"))?;
        acceptor.unix(listener, crate::agent::service(runtime));
    }
    start_attestation_api(launch, runtime, &mut acceptor)?;
    services_thread
        .serve(acceptor)
        .map_err(|e| format!("starting the enclave's services: {e}"))
}

/// Sets up the attestation API of this enclave, delivers `ENCLAVE_SECRETS` (a refusal fails the
/// create with the KBS's reason) and adds the API's sockets to `acceptor`: the unix socket
/// always, 127.0.0.1:8006 when the container has its own network namespace (bound now; rune
/// brings `lo` up after the create, and connections arrive from then on).
fn start_attestation_api(
    launch: &EnclaveLaunch,
    runtime: &'static EnclaveRuntime,
    acceptor: &mut Acceptor,
) -> Result<(), String> {
    let attester: Arc<dyn attestation::Attester> = match launch.config.kind {
        EnclaveType::Sim => {
            let fd = launch
                .sim_quoter_fd
                .ok_or("sim enclave launched without its quoter")?;
            let exported = read_sim_quoter(fd)?;
            // Imported at the first quote, not while the container starts: most workloads
            // never ask for evidence, and the import (a P-256 key and its certification) is
            // a tenth of a millisecond of every start.
            let quoter = OnceLock::new();
            Arc::new(attestation::attester::SimAttester::new(
                move |report_data| sim_report_body(runtime, report_data),
                move |body| {
                    quoter
                        .get_or_init(|| {
                            attestation::sim::SimQuoter::import(&exported)
                                .map_err(|e| format!("sim quoter: {e}"))
                        })
                        .as_ref()
                        .map_err(|e| -> attestation::attester::BoxError { e.clone().into() })?
                        .quote(body)
                        .map_err(|e| -> attestation::attester::BoxError { Box::new(e) })
                },
            ))
        }
        EnclaveType::IntelSgx => Arc::new(attestation::attester::DcapAttester::new(
            attestation::attester::AesmClient::default(),
            move |target_info, report_data| {
                runtime
                    .report_with_data(target_info, report_data)
                    .map(|r| r.to_vec())
                    .map_err(|e| -> attestation::attester::BoxError { Box::new(e) })
            },
        )),
    };
    let kbs = match &launch.config.kbs_url {
        None => None,
        Some(url) => {
            let tls = match &launch.kbs_root_pem {
                Some(pem) => attestation::kbs::ClientTls::RootCertsPem(pem.clone()),
                None => attestation::kbs::ClientTls::WebPkiRoots,
            };
            Some(
                attestation::kbs::KbsClient::new(url, tls)
                    .map_err(|e| format!("kbs client for {url}: {e}"))?,
            )
        }
    };
    let services = Arc::new(Services::new(attester, kbs));
    if !launch.config.secrets.is_empty() {
        attestation_api::deliver_secrets(
            &services,
            &launch.config.secrets,
            Path::new(SECRETS_DIR),
        )?;
    }
    let listener = attestation_api::bind_unix(Path::new(API_DIR))
        .map_err(|e| format!("attestation api socket: {e}"))?;
    acceptor.unix(
        listener,
        attestation_api::unix_service(Arc::clone(&services)),
    );
    if !launch.own_network {
        tracing::info!("attestation api on the unix socket only: the container shares a network namespace (the host's or a pod's)");
        return Ok(());
    }
    match std::net::TcpListener::bind(attestation_api::TCP_ADDR) {
        Ok(listener) => acceptor.tcp(listener, attestation_api::tcp_service(services)),
        Err(e) => {
            tracing::warn!(addr = attestation_api::TCP_ADDR, error = %e, "attestation api not served over tcp")
        }
    }
    Ok(())
}

/// The REPORT BODY of this enclave with `report_data`, targeted at the sim quoting enclave.
fn sim_report_body(
    runtime: &EnclaveRuntime,
    report_data: &[u8; 64],
) -> Result<[u8; 384], attestation::attester::BoxError> {
    let target = erpal_sim::platform::qe_target_info().encode();
    let report = runtime.report_with_data(&target, report_data)?;
    let mut body = [0u8; 384];
    body.copy_from_slice(&report[..384]);
    Ok(body)
}

/// Reads the exported sim quoter whose file `rune create` opened, and marks its descriptor
/// close-on-exec.
fn read_sim_quoter(fd: RawFd) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    use std::io::{Read, Seek};
    let borrowed =
        crate::sys::inherited(fd).map_err(|e| format!("sim quoter descriptor {fd}: {e}"))?;
    let mut file = std::fs::File::from(
        borrowed
            .try_clone_to_owned()
            .map_err(|e| format!("sim quoter descriptor {fd}: {e}"))?,
    );
    // The workload must never inherit the quoting key.
    nix::fcntl::fcntl(fd, nix::fcntl::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
        .map_err(|e| format!("sim quoter descriptor {fd}: {e}"))?;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bytes))
        .map_err(|e| format!("reading the sim quoter: {e}"))?;
    Ok(bytes)
}

/// Starts the workload in the enclave, forwards signals, and returns its exit code (at start).
fn run_in_enclave(spec: &Spec) -> Result<i32, String> {
    let runtime = ENCLAVE_RUNTIME
        .get()
        .ok_or("enclave runtime was not initialised at create")?;
    let (program, path_var) = program_and_path(spec)?;
    let executable = resolve_executable(program, path_var.as_deref())?;
    let argv = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    // Exactly the spec's environment (the prepared spec has no ENCLAVE_* entries): an enclave
    // image's env policy was signed against it, so nothing the runtime adds (HOME) goes in.
    let env = spec
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default();
    relay_signals(RelayEvent::Start);
    let pid = runtime
        .create_process(&executable, &argv, &env, StdioFds::inherit())
        .map_err(|e| e.to_string())?;
    relay_signals(RelayEvent::Workload(pid));
    let status = runtime.exec(pid).map_err(|e| e.to_string())?;
    if let Err(e) = runtime.destroy() {
        tracing::warn!(error = %e, "pal_destroy failed after the workload exited");
    }
    Ok(status.code())
}

/// What the signal relay thread is told at start.
enum RelayEvent {
    /// The container was started: signals from now on are for the workload.
    Start,
    /// The workload runs as this process of the enclave runtime.
    Workload(Pid),
}

/// Feeds the signal relay thread (see [`start_signal_relay`]).
static SIGNAL_RELAY: OnceLock<std::sync::mpsc::Sender<RelayEvent>> = OnceLock::new();

/// Starts the thread that relays the signals the init process receives to the workload through
/// `pal_kill`. It is started at create, with the handlers, so that its own start is off the way
/// from the start signal to the workload (it runs while the enclave initialises or while the
/// init waits for start). Signals
/// that arrive before start are dropped, as PID 1 drops those it has no handler for; from start
/// on they wait for the workload's pid, so none sent right after start is lost.
fn start_signal_relay() {
    let mut signals = match signal_hook::iterator::Signals::new(FORWARDED_SIGNALS) {
        Ok(signals) => signals,
        Err(e) => {
            tracing::warn!(error = %e, "cannot forward signals to the enclave workload");
            return;
        }
    };
    let (events, received) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("enclave-signals".to_owned())
        .spawn(move || {
            if !matches!(received.recv(), Ok(RelayEvent::Start)) {
                return;
            }
            for _dropped_before_start in signals.pending() {}
            let Ok(RelayEvent::Workload(pid)) = received.recv() else {
                return;
            };
            let Some(runtime) = ENCLAVE_RUNTIME.get() else {
                return;
            };
            for signal in signals.forever() {
                if let Err(e) = runtime.kill(pid, signal) {
                    tracing::warn!(signal, error = %e, "pal_kill failed");
                }
            }
        });
    match spawned {
        Ok(_) => {
            let _ = SIGNAL_RELAY.set(events);
        }
        Err(e) => tracing::warn!(error = %e, "cannot forward signals to the enclave workload"),
    }
}

fn relay_signals(event: RelayEvent) {
    if let Some(relay) = SIGNAL_RELAY.get() {
        let _ = relay.send(event);
    }
}

fn program_and_path(spec: &Spec) -> Result<(&str, Option<String>), &'static str> {
    let process = spec.process().as_ref().ok_or("spec has no process")?;
    let program = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .ok_or("process.args is empty")?;
    let path = process
        .env()
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_owned));
    Ok((program, path))
}

/// Resolves `program` as runc does: a name with a `/` is used as is, others are looked up in the
/// container's `PATH` (an absent PATH finds nothing).
pub fn resolve_executable(program: &str, path_var: Option<&str>) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return match path.metadata() {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(path),
            Ok(_) => Err(format!("exec {program:?}: not an executable file")),
            Err(e) => Err(format!("exec {program:?}: {e}")),
        };
    }
    let search = path_var.unwrap_or("");
    search
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| format!("executable {program:?} not found in $PATH ({search:?})"))
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_a_slash_are_not_searched() {
        assert_eq!(
            resolve_executable("/bin/sh", None).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let err = resolve_executable("/nonexistent", Some("/bin")).unwrap_err();
        assert!(
            err.starts_with("exec \"/nonexistent\": No such file"),
            "{err}"
        );
    }

    #[test]
    fn missing_program_names_program_and_path() {
        let err = resolve_executable("no-such-program-xyz", Some("/bin:/usr/bin")).unwrap_err();
        assert_eq!(
            err,
            r#"executable "no-such-program-xyz" not found in $PATH ("/bin:/usr/bin")"#
        );
    }

    #[test]
    fn finds_sh_in_path() {
        assert!(resolve_executable("sh", Some("/nonexistent:/bin")).is_ok());
    }
}
