//! The command line of `rune`: runc's global flags and subcommands, as clap structs.
//!
//! containerd's runc shim and dockerd drive the runtime through these exact flags, so names,
//! short forms and defaults follow runc 1.1 (`man runc`), not our taste.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Default state directory, as `/run/runc` is for runc.
pub const DEFAULT_ROOT: &str = "/run/rune";

/// rune: a runc-compatible OCI runtime that can run a container inside an enclave.
#[derive(Debug, Parser)]
#[command(name = "rune", version = crate::VERSION_LINE, disable_help_subcommand = true)]
pub struct Cli {
    /// Options every subcommand accepts.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The operation to perform.
    #[command(subcommand)]
    pub command: Command,
}

/// Global flags, as runc's (a repeated flag: the last one wins, as in runc).
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Root directory for storage of container state (tmpfs location recommended).
    #[arg(long, global = true, default_value = DEFAULT_ROOT, overrides_with = "root")]
    pub root: PathBuf,
    /// Write logs to this file instead of stderr.
    #[arg(long, global = true, overrides_with = "log")]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, overrides_with = "log_format")]
    pub log_format: LogFormat,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Path to criu (accepted for compatibility; checkpointing is not supported).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<PathBuf>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, as runc writes for containerd.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle; the process waits for `start`.
    Create(Create),
    /// Start the user process of a created container.
    Start(IdArg),
    /// Create and start a container, and wait for it unless detached.
    Run(Run),
    /// Print the state of a container as OCI state JSON.
    State(IdArg),
    /// Send a signal to the container's init process (or to all its processes).
    Kill(Kill),
    /// Delete a container and everything it holds.
    Delete(Delete),
    /// List containers started by rune under the given root.
    List(List),
    /// Run a new process inside a running container.
    Exec(Exec),
    /// Show the processes running inside a container.
    Ps(Ps),
    /// Suspend all processes of a container.
    Pause(IdArg),
    /// Resume all processes of a paused container.
    Resume(IdArg),
    /// Display container events and resource statistics.
    Events(Events),
    /// Create a new specification file (config.json).
    Spec(SpecArgs),
    /// Show the features this runtime supports, as JSON.
    Features,
    /// Update the resource limits of a container.
    Update(Update),
    /// Get the local report or quote of a running enclave container.
    Attest(Attest),
    /// Enclave image and attestation tooling.
    #[command(subcommand)]
    Enclave(EnclaveCommand),
    /// Checkpoint a running container (not supported).
    Checkpoint(Unsupported),
    /// Restore a container from a checkpoint (not supported).
    Restore(Unsupported),
    /// Check this node for (enclave) containers: cgroups, seccomp, TEE devices, PALs, epm,
    /// verdictd; exits 1 when a check fails.
    Check(Check),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(Completion),
}

impl Command {
    /// True for commands whose processes libcontainer moves into cgroups (see `cgroup_warmup`).
    pub fn attaches_to_cgroups(&self) -> bool {
        matches!(self, Self::Create(_) | Self::Run(_) | Self::Exec(_))
    }

    /// True for commands that only print and run no hooks or containers.
    pub fn only_prints(&self) -> bool {
        matches!(
            self,
            Self::State(_)
                | Self::List(_)
                | Self::Ps(_)
                | Self::Features
                | Self::Spec(_)
                | Self::Events(_)
                | Self::Check(_)
                | Self::Completion(_)
        )
    }
}

/// A command that takes only a container id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// The container id.
    pub id: String,
}

/// Flags shared by `create` and `run`.
#[derive(Debug, Args)]
pub struct CreateOpts {
    /// Path to the bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket that receives the pty master of the container's console.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Path to an AF_UNIX socket that receives a pidfd of the init process (not supported).
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the container's init process id to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root to jail the process inside the rootfs.
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors (from 3 on) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    /// The container id.
    pub id: String,
}

/// `rune create`.
#[derive(Debug, Args)]
pub struct Create {
    /// Creation options.
    #[command(flatten)]
    pub opts: CreateOpts,
}

/// `rune run`.
#[derive(Debug, Args)]
pub struct Run {
    /// Creation options.
    #[command(flatten)]
    pub opts: CreateOpts,
    /// Detach from the container's process.
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits.
    #[arg(long)]
    pub keep: bool,
}

/// `rune kill`.
#[derive(Debug, Args)]
pub struct Kill {
    /// Send the signal to all processes of the container.
    #[arg(short, long)]
    pub all: bool,
    /// The container id.
    pub id: String,
    /// Signal name (TERM, SIGTERM) or number; default SIGTERM.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// `rune delete`.
#[derive(Debug, Args)]
pub struct Delete {
    /// Kill the container first if it is still running.
    #[arg(short, long)]
    pub force: bool,
    /// The container id.
    pub id: String,
}

/// Output format of `list` and `ps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// Columns for humans.
    Table,
    /// JSON for programs.
    Json,
}

/// `rune list`.
#[derive(Debug, Args)]
pub struct List {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Print only the container ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `rune exec`.
#[derive(Debug, Args)]
pub struct Exec {
    /// Path to an AF_UNIX socket that receives the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Path to an AF_UNIX socket that receives a pidfd (not supported).
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// Current working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); may repeat.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// User to run as: UID[:GID].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids; may repeat.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Path to a process.json describing the process to run.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Detach from the process.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process id to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process (no SELinux on this host: must be empty).
    #[arg(long)]
    pub process_label: Option<String>,
    /// AppArmor profile of the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privileges for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability; may repeat.
    #[arg(short, long = "cap")]
    pub cap: Vec<String>,
    /// Pass N additional file descriptors to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    /// Run the process in this sub-cgroup of the container.
    #[arg(long)]
    pub cgroup: Option<String>,
    /// Allow exec into a paused container.
    #[arg(long)]
    pub ignore_paused: bool,
    /// The container id.
    pub id: String,
    /// The command and its arguments (when --process is not given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `rune ps`.
#[derive(Debug, Args)]
pub struct Ps {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// The container id.
    pub id: String,
    /// Options passed to ps(1) in table format.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

/// `rune events`.
#[derive(Debug, Args)]
pub struct Events {
    /// Interval between statistics, e.g. 5s or 500ms.
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Print statistics once and exit.
    #[arg(long)]
    pub stats: bool,
    /// The container id.
    pub id: String,
}

/// `rune spec`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Directory to write config.json into.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

/// `rune update`.
#[derive(Debug, Args)]
pub struct Update {
    /// Path to a JSON file of LinuxResources, or - for stdin.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Block IO weight (10 to 1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds.
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds.
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed (e.g. 0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (e.g. 0-3, 0,1).
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a k, m, g suffix).
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit; -1 for unlimited.
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Kernel memory limit (deprecated, accepted and ignored as runc does).
    #[arg(long, hide = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP memory limit (deprecated, accepted and ignored as runc does).
    #[arg(long, hide = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Maximum number of pids; 0 or -1 for unlimited.
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// The container id.
    pub id: String,
}

/// Arguments of commands we accept but do not implement.
#[derive(Debug, Args)]
pub struct Unsupported {
    /// Whatever was passed.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `rune check`.
#[derive(Debug, Args)]
pub struct Check {
    /// The node configuration file (enclave runtimes, epm socket, verdictd URL).
    #[arg(long, default_value = crate::config::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// `rune completion`.
#[derive(Debug, Args)]
pub struct Completion {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `rune enclave ...`.
#[derive(Debug, Subcommand)]
pub enum EnclaveCommand {
    /// Generate an enclave signing key (RSA-3072, e = 3) as PEM.
    Keygen(Keygen),
    /// Sign a bundle for the software TEE: write its manifest and SIGSTRUCT.
    Sign(Sign),
    /// Print the MRENCLAVE and MRSIGNER of a signed bundle.
    Measure(Measure),
    /// Print the manifest and SIGSTRUCT fields of a signed bundle.
    Inspect(BundleArg),
    /// Verify an SGX/TDX/sim quote and print its claims and verdict as one JSON object.
    VerifyQuote(VerifyQuote),
    /// Print the evidence inside an RA-TLS certificate as one JSON object.
    InspectCert(InspectCert),
}

/// `rune enclave inspect-cert`.
#[derive(Debug, Args)]
pub struct InspectCert {
    /// The certificate, PEM or DER.
    pub cert: PathBuf,
}

/// `rune enclave keygen`.
#[derive(Debug, Args)]
pub struct Keygen {
    /// Where to write the private key (PEM, mode 0600).
    #[arg(long)]
    pub output: PathBuf,
}

/// `rune enclave sign`.
#[derive(Debug, Args)]
pub struct Sign {
    /// The bundle to sign.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// The signing key (PEM); without it a new key is generated and written beside the image.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// A path inside the rootfs to trust as well (a directory: all files under it); may repeat.
    #[arg(long)]
    pub include: Vec<PathBuf>,
    /// ISV product id.
    #[arg(long, default_value_t = 0)]
    pub isv_prod_id: u16,
    /// ISV security version number.
    #[arg(long, default_value_t = 0)]
    pub isv_svn: u16,
    /// Sign a debug enclave (verifiers refuse these by default).
    #[arg(long)]
    pub debug: bool,
    /// Let the enclave start any argv of the entrypoint (default: exactly process.args), e.g. for
    /// `rune exec` into it.
    #[arg(long)]
    pub any_args: bool,
    /// Let the enclave start with any environment (default: only the variable names of
    /// process.env), e.g. under Docker (HOSTNAME) or Kubernetes (service variables); the
    /// dynamic loader's LD_* stay refused.
    #[arg(long)]
    pub any_env: bool,
    /// Write the manifest and SIGSTRUCT into the rootfs (`ROOTFS/.enclave/`) instead of the
    /// bundle: for a rootfs that becomes a container image (containerd, Docker, Kubernetes
    /// make the bundle from the image, and only the rootfs travels).
    #[arg(long)]
    pub in_rootfs: bool,
    /// Draw a progress bar on stderr even when it is not a terminal (default: only on one).
    #[arg(long)]
    pub progress: bool,
}

/// `rune enclave measure`.
#[derive(Debug, Args)]
pub struct Measure {
    /// The signed bundle.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// Plain text or JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    /// `key: value` lines.
    Text,
    /// One JSON object.
    Json,
}

/// A command that takes only a bundle.
#[derive(Debug, Args)]
pub struct BundleArg {
    /// The bundle.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

/// `rune attest`.
#[derive(Debug, Args)]
pub struct Attest {
    /// Produce a quote (verifiable remotely) instead of a local report.
    #[arg(long)]
    pub quote: bool,
    /// REPORTDATA to bind, hex (up to 64 bytes, zero-padded).
    #[arg(long)]
    pub report_data: Option<String>,
    /// Write the raw report or quote here instead of printing JSON.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The container id.
    pub id: String,
}

/// `rune enclave verify-quote`.
#[derive(Debug, Args)]
pub struct VerifyQuote {
    /// The quote file (binary).
    #[arg(long)]
    pub quote: PathBuf,
    /// Collateral (JSON, as a PCCS serves it) for real Intel quotes.
    #[arg(long)]
    pub collateral: Option<PathBuf>,
    /// Verification time (RFC 3339), default now.
    #[arg(long)]
    pub at: Option<String>,
    /// Also accept this TCB status (default only UpToDate); may repeat.
    #[arg(long = "allow-status")]
    pub allow_status: Vec<String>,
    /// Root CA (PEM) to verify against instead of Intel's: the host's sim root (sim quotes), or
    /// a private Intel-shaped PKI root (DCAP quotes, with --collateral).
    #[arg(long)]
    pub root_ca: Option<PathBuf>,
}
