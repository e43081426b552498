//! `rune enclave ...`: enclave image tooling and quote verification.

use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use attestation::{AppraisalPolicy, Collateral, TcbStatus};

use crate::cli::{EnclaveCommand, VerifyQuote};

/// Runs an `enclave` subcommand.
pub fn dispatch(cmd: &EnclaveCommand) -> Result<i32> {
    match cmd {
        EnclaveCommand::VerifyQuote(args) => verify_quote(args),
    }
}

/// Prints one JSON object with the quote's claims and the verdict; exits 0 only when accepted.
fn verify_quote(args: &VerifyQuote) -> Result<i32> {
    let quote = std::fs::read(&args.quote)
        .with_context(|| format!("reading quote {}", args.quote.display()))?;
    let collateral = args
        .collateral
        .as_ref()
        .map(|path| {
            Collateral::from_file(path).with_context(|| format!("collateral {}", path.display()))
        })
        .transpose()?;
    let at = match &args.at {
        Some(text) => {
            let time = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
                format!("invalid --at {text:?}: expected RFC 3339, e.g. 2025-07-01T00:00:00Z")
            })?;
            SystemTime::from(time)
        }
        None => SystemTime::now(),
    };
    let mut statuses = vec![TcbStatus::UpToDate];
    for text in &args.allow_status {
        let status: TcbStatus = text.parse().map_err(|_| {
            anyhow::anyhow!(
                "invalid --allow-status {text:?}: expected an Intel TCB status such as \
                 SWHardeningNeeded or ConfigurationAndSWHardeningNeeded"
            )
        })?;
        statuses.push(status);
    }
    let root = args
        .root_ca
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("reading root CA {}", path.display()))
        })
        .transpose()?;
    if quote.is_empty() {
        bail!("quote {} is empty", args.quote.display());
    }
    let report = attestation::verify_quote_report(
        &quote,
        collateral.as_ref(),
        at,
        &AppraisalPolicy::accepting(statuses),
        root.as_deref(),
    );
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.is_accepted() { 0 } else { 1 })
}
