//! `epm`: the enclave pool manager daemon (`epm [--socket PATH]`), and `epm status` /
//! `epm warm` to inspect and pre-warm it.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use epm::cli::{Cli, Command, LogFormat};
use epm::server::{self, State};
use epm::{Client, Limits};

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
        Some(Command::Completion { shell }) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "epm", &mut std::io::stdout());
            Ok(())
        }
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
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(cli.log_level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    match cli.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }
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
