//! The `epm` command line (clap), in the library so the configuration reference test can
//! introspect it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use crate::Limits;

/// What `epm --version` prints: crate version and git commit.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("EPM_GIT_COMMIT")
);

/// The enclave pool manager: pre-initialised sim enclaves for rune.
#[derive(Debug, Parser)]
#[command(name = "epm", version = VERSION_LINE)]
pub struct Cli {
    /// The daemon's socket.
    #[arg(long, global = true, default_value = crate::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Most ready enclaves kept, over all tenants and images.
    #[arg(long, default_value_t = Limits::default().max_enclaves)]
    pub max_enclaves: usize,
    /// Most memory held by ready enclaves (bytes, or with K, M, G).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub max_memory: u64,
    /// Most cached file measurements.
    #[arg(long, default_value_t = Limits::default().max_measurements)]
    pub max_measurements: usize,
    /// Enclaves kept ready per tenant and image after each hand-out, unless the container
    /// sets `enclave.epm.prewarm`.
    #[arg(long, default_value_t = Limits::default().default_prewarm)]
    pub prewarm: u32,
    /// Log level: trace, debug, info, warn, error.
    #[arg(long, default_value = "info")]
    pub log_level: tracing::Level,
    /// Log format on stderr: text, or json (one object per line, for journald and collectors).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `epm` subcommands (none: serve).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the pool's state as JSON.
    Status,
    /// Build enclaves of a signed bundle's image ahead of its first container.
    Warm {
        /// The bundle (signed with `rune enclave sign`).
        #[arg(long)]
        bundle: PathBuf,
        /// How many to keep ready.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// The pod sandbox id the containers will have.
        #[arg(long)]
        sandbox_id: Option<String>,
        /// The tenant label the containers will have (`enclave.epm.tenant`).
        #[arg(long)]
        label: Option<String>,
    },
}

/// Parses `1073741824`, `512M`, `1G`, `64K`.
pub fn parse_size(text: &str) -> Result<u64> {
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'K' | 'k')) => (&text[..i], 10),
        Some((i, 'M' | 'm')) => (&text[..i], 20),
        Some((i, 'G' | 'g')) => (&text[..i], 30),
        _ => (text, 0),
    };
    let n: u64 = digits.parse().with_context(|| {
        format!("invalid size {text:?}: expected bytes, or a number with K, M or G")
    })?;
    let Some(bytes) = n.checked_mul(1u64 << shift) else {
        bail!("size {text:?} is too large");
    };
    Ok(bytes)
}
