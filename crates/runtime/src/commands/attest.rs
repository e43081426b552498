//! `rune attest`: the local report or quote of a running enclave container, as Inclavare's
//! `rune attest` gave.
//!
//! The report comes from the enclave instance through its agent, targeted at the quoting
//! enclave; for the software TEE, rune plays that quoting enclave on the host: it checks the
//! report's MAC with the platform secret and signs a DCAP v3-layout quote with the sim PCK key.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use erpal_sim::platform::{self, Platform};

use crate::agent;
use crate::cli::{Attest, GlobalOpts};
use crate::container;
use crate::enclave::EnclaveType;
use crate::state::RuneRecord;

/// Where the software TEE keeps its per-host secrets (`RUNE_SIM_DIR` overrides, for tests).
pub fn sim_platform_dir() -> PathBuf {
    std::env::var_os("RUNE_SIM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(platform::DEFAULT_DIR))
}

/// Prints (or writes) the report or quote.
pub fn attest(g: &GlobalOpts, args: &Attest) -> Result<i32> {
    let id = &args.id;
    let c = container::load(&g.root, id)?;
    let record = RuneRecord::load(c.bundle())
        .with_context(|| format!("reading rune state of container {id:?}"))?;
    let enclave = record
        .and_then(|r| r.enclave)
        .with_context(|| format!("container {id:?} is not an enclave container"))?;
    let kind: EnclaveType = serde_json::from_value(enclave["type"].clone())
        .with_context(|| format!("enclave type in the state of container {id:?}"))?;
    let report_data = parse_report_data(args.report_data.as_deref())?;
    let target = platform::qe_target_info().encode();
    let request = agent::Request::Report {
        target_info: hex::encode(target.as_slice()),
        report_data: hex::encode(report_data),
    };
    let reply = agent::Client::send(c.bundle(), &request, &[])
        .and_then(|mut client| client.reply())
        .with_context(|| format!("getting a report from enclave container {id:?}"))?;
    let agent::Reply::Report(report_hex) = reply else {
        bail!("unexpected reply from the enclave agent: {reply:?}");
    };
    let report: [u8; 432] = hex::decode(&report_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("the enclave agent returned a malformed report")?;
    let (label, bytes) = if args.quote {
        if kind != EnclaveType::Sim {
            bail!("rune attest --quote supports the software TEE (sim) only; for {kind}, use the platform's quoting service");
        }
        let platform = Platform::load_or_create(&sim_platform_dir())
            .with_context(|| format!("sim platform {}", sim_platform_dir().display()))?;
        let quote = platform
            .quote(&report)
            .context("sim quoting enclave refused the report")?;
        ("quote", quote)
    } else {
        ("report", report.to_vec())
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = serde_json::json!({"tee": kind.to_string(), label: hex::encode(&bytes)});
            if kind == EnclaveType::Sim {
                out["note"] = "sim: software TEE; integrity and measurement only, no confidentiality against root".into();
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(0)
}

fn parse_report_data(text: Option<&str>) -> Result<[u8; 64]> {
    let mut data = [0u8; 64];
    if let Some(text) = text {
        let bytes = hex::decode(text)
            .with_context(|| format!("invalid --report-data {text:?}: expected hex"))?;
        if bytes.len() > 64 {
            bail!("invalid --report-data: {} bytes, at most 64", bytes.len());
        }
        data[..bytes.len()].copy_from_slice(&bytes);
    }
    Ok(data)
}
