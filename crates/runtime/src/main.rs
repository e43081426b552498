//! The `rune` binary: parse the command line, set up logging, run the verb, map errors to runc's
//! exit codes (1 on failure, the workload's status for `run` and `exec`).

use std::process::ExitCode;

use clap::Parser;
use rune::cli::Cli;
use rune::{commands, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.attaches_to_cgroups() {
        rune::cgroup_warmup::start();
    }
    if cli.command.only_prints() {
        rune::sys::default_sigpipe();
    }
    if let Err(e) = logging::init(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        eprintln!("rune: opening log {:?}: {e}", cli.global.log);
        return ExitCode::FAILURE;
    }
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(255)),
        Err(e) => {
            let message = user_message(&e);
            logging::log_failure(&message);
            eprintln!("rune: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The whole cause chain on one line, plus the first error libcontainer logged (often in the
/// container process) when the chain does not already say it.
fn user_message(e: &anyhow::Error) -> String {
    // libcontainer wraps what the container's init reported in two stuttering prefixes.
    let mut message = format!("{e:#}").replace(
        "exec process failed with error error in executing process : ",
        "",
    );
    if let Some(detail) = logging::first_captured_error() {
        // libcontainer often logs the same cause the chain already has, behind its own prefix
        // ("failed to initialize container process: <cause>"): add only what is new.
        let cause = detail
            .split_once(": ")
            .map_or(detail.as_str(), |(_, cause)| cause);
        if !message.contains(&detail) && !message.contains(cause) {
            message = format!("{message} ({detail})");
        }
    }
    message
}
