//! `verdictd`: parse arguments, set up logging, serve or run an admin operation.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use verdictd::cli::{Cli, Command, LogFormat};
use verdictd::config::{Config, FileConfig};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VERDICTD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdictd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Admin(args)) => {
            print!("{}", verdictd::admin::run(args)?);
            return Ok(());
        }
        Some(Command::Completion { shell }) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "verdictd", &mut std::io::stdout());
            return Ok(());
        }
        None => {}
    }
    let file = match &cli.serve.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let config = Config::resolve(file, cli.serve.to_file_config())?;
    let app = verdictd::build(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr,
            tls = !config.insecure_http,
            data_dir = %config.data_dir.display(),
            "verdictd listening"
        );
        let shutdown = async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutting down");
        };
        verdictd::serve(listener, app, shutdown).await
    })
}
