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

/// The cause chain on one line, `outer: inner`, leaving out a cause its outer error already
/// ends with (an error whose message includes its source, as some of libcontainer's and
/// rune's do, would otherwise print it twice).
fn chain_once(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if message.is_empty() {
            message = text;
        } else if !message.ends_with(&text) {
            message = format!("{message}: {text}");
        }
    }
    message
}

/// The whole cause chain on one line, plus the first error libcontainer logged (often in the
/// container process) when the chain does not already say it.
fn user_message(e: &anyhow::Error) -> String {
    // libcontainer wraps what the container's init reported in two stuttering prefixes.
    let mut message = chain_once(e).replace(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_its_outer_message_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        #[derive(Debug, thiserror::Error)]
        #[error("bundle /b: {source}")]
        struct Stutters {
            source: std::io::Error,
        }
        let e = anyhow::Error::new(Stutters { source: io }).context("creating container \"c\"");
        assert_eq!(
            chain_once(&e),
            "creating container \"c\": bundle /b: no such file"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain_once(&plain), "outer: inner");
    }
}
