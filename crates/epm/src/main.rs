//! `epm`: the enclave pool manager daemon (`epm [--socket PATH]`), and `epm status` /
//! `epm warm` to inspect and pre-warm it.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use epm::server::{self, State};
use epm::{Client, Limits};

/// The enclave pool manager: pre-initialised sim enclaves for rune.
#[derive(Debug, Parser)]
#[command(name = "epm", version)]
struct Cli {
    /// The daemon's socket.
    #[arg(long, global = true, default_value = epm::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Most ready enclaves kept, over all tenants and images.
    #[arg(long, default_value_t = Limits::default().max_enclaves)]
    max_enclaves: usize,
    /// Most memory held by ready enclaves (bytes, or with K, M, G).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    max_memory: u64,
    /// Most cached file measurements.
    #[arg(long, default_value_t = Limits::default().max_measurements)]
    max_measurements: usize,
    /// Enclaves kept ready per tenant and image after each hand-out, unless the container
    /// sets `enclave.epm.prewarm`.
    #[arg(long, default_value_t = Limits::default().default_prewarm)]
    prewarm: u32,
    /// Log level: trace, debug, info, warn, error.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("epm: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        None => serve(&cli),
        Some(Command::Status) => {
            let status = Client::new(cli.socket.clone()).status()?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
        Some(Command::Warm {
            bundle,
            count,
            sandbox_id,
            label,
        }) => {
            let tenant = epm::tenant::tenant(sandbox_id.as_deref(), label.as_deref())?;
            let (manifest, sigstruct) = erpal_sim::image::image_paths(bundle);
            let open = |p: &Path| File::open(p).with_context(|| format!("opening {}", p.display()));
            let (manifest, sigstruct) = (open(&manifest)?, open(&sigstruct)?);
            let rootfs = bundle_rootfs(bundle)?;
            let ready = Client::new(cli.socket.clone()).warm(
                &tenant,
                &rootfs,
                manifest.as_fd(),
                sigstruct.as_fd(),
                *count,
            )?;
            println!("{ready} enclave(s) ready for tenant {tenant}");
            Ok(())
        }
    }
}

fn serve(cli: &Cli) -> Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(cli.log_level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .init();
    let limits = Limits {
        max_enclaves: cli.max_enclaves,
        max_memory: cli.max_memory,
        max_measurements: cli.max_measurements,
        default_prewarm: cli.prewarm,
    };
    let listener = server::bind_socket(&cli.socket)
        .with_context(|| format!("listening on {}", cli.socket.display()))?;
    let socket = cli.socket.clone();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("installing signal handlers")?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracing::info!(signal, "epm stopping");
            let _ = std::fs::remove_file(&socket);
            std::process::exit(0);
        }
    });
    let (state, refills) = State::new(limits);
    let worker = std::sync::Arc::clone(&state);
    std::thread::spawn(move || server::refill_worker(worker, refills));
    tracing::info!(
        tee = "sim",
        socket = %cli.socket.display(),
        max_enclaves = limits.max_enclaves,
        max_memory = limits.max_memory,
        prewarm = limits.default_prewarm,
        "epm listening (sim enclaves: integrity and measurement only, no confidentiality against root)"
    );
    server::serve(listener, state).context("accepting connections")
}

/// The bundle's rootfs: `root.path` of its config.json, relative to the bundle.
fn bundle_rootfs(bundle: &Path) -> Result<PathBuf> {
    let config = bundle.join("config.json");
    let text = std::fs::read_to_string(&config)
        .with_context(|| format!("reading {}", config.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
    let root = value["root"]["path"].as_str().unwrap_or("rootfs");
    let path = bundle.join(root);
    let abs = std::fs::canonicalize(&path).with_context(|| format!("rootfs {}", path.display()))?;
    Ok(abs)
}

/// Parses `1073741824`, `512M`, `1G`, `64K`.
fn parse_size(text: &str) -> Result<u64> {
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
