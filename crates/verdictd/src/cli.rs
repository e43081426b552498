//! Command-line arguments (clap).
//!
//! `verdictd --listen ADDR:PORT --data-dir DIR [--insecure-http] [--admin-token-file F]
//! [--sim-root-ca PEM] [--config F]` serves; `verdictd admin --url URL --token-file F <op>`
//! administers a running server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::FileConfig;

/// What `verdictd --version` prints: crate version and git commit.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("VERDICTD_GIT_COMMIT")
);

/// verdictd: attestation service and key broker (Confidential Containers KBS protocol).
#[derive(Debug, Parser)]
#[command(
    name = "verdictd",
    version = VERSION_LINE,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// An operation on a running server instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log format on stderr: text, or json (one object per line, for journald and collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Server options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Options of the server.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Data directory: store, token key, admin token, generated TLS certificate.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve plain HTTP instead of TLS (tests and local development only).
    #[arg(long)]
    pub insecure_http: bool,
    /// Admin token file (created with a fresh random token when missing).
    #[arg(long, value_name = "F")]
    pub admin_token_file: Option<PathBuf>,
    /// Accept sim quotes chained to this root CA (PEM); their claims say `tee: sim`.
    #[arg(long, value_name = "PEM")]
    pub sim_root_ca: Option<PathBuf>,
    /// DCAP collateral for hardware quotes: a JSON file or a directory of them.
    #[arg(long, value_name = "PATH")]
    pub collateral: Option<PathBuf>,
    /// Session lifetime in seconds.
    #[arg(long, value_name = "SECS")]
    pub session_ttl: Option<u64>,
    /// Configuration file (TOML); flags override it.
    #[arg(long, value_name = "F")]
    pub config: Option<PathBuf>,
}

impl ServeArgs {
    /// The flags as a partial config.
    pub fn to_file_config(&self) -> FileConfig {
        FileConfig {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            insecure_http: self.insecure_http.then_some(true),
            admin_token_file: self.admin_token_file.clone(),
            sim_root_ca: self.sim_root_ca.clone(),
            collateral: self.collateral.clone(),
            session_ttl_secs: self.session_ttl,
            ..FileConfig::default()
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Administer a running verdictd.
    Admin(AdminArgs),
    /// Print a shell completion script.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Options of `verdictd admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Base URL of verdictd, e.g. https://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// File holding the admin token.
    #[arg(long, value_name = "F")]
    pub token_file: PathBuf,
    /// CA certificate (PEM) to trust for https, e.g. DATA_DIR/tls/cert.pem.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// The operation.
    #[command(subcommand)]
    pub op: AdminOp,
}

/// Admin operations.
#[derive(Debug, Subcommand)]
pub enum AdminOp {
    /// Print every resource path, one `repo/type/tag` per line.
    ListResources,
    /// Store FILE's bytes as the resource at PATH (`repo/type/tag`).
    SetResource {
        /// `repo/type/tag`.
        path: String,
        /// File with the resource bytes.
        file: PathBuf,
    },
    /// Delete the resource at PATH.
    DeleteResource {
        /// `repo/type/tag`.
        path: String,
    },
    /// Set the resource policy (Rego) from FILE.
    SetResourcePolicy {
        /// Rego file.
        file: PathBuf,
    },
    /// Set the attestation policy (Rego) from FILE.
    SetAttestationPolicy {
        /// Rego file.
        file: PathBuf,
    },
    /// Set the reference values NAME (e.g. mrenclave) to VALUE...
    SetReferenceValue {
        /// Name, e.g. `mrenclave`.
        name: String,
        /// One or more accepted values.
        #[arg(required = true)]
        values: Vec<String>,
    },
}
