//! `verdictd admin`: the admin API client (CoCo kbs-client's paths and bodies).

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;

use crate::cli::{AdminArgs, AdminOp};

/// Run one admin operation; returns what to print on stdout.
pub fn run(args: &AdminArgs) -> anyhow::Result<String> {
    let token = fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading {}", args.token_file.display()))?;
    let token = token.trim();
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = &args.ca_cert {
        let pem = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parsing {}", path.display()))?;
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into();
    let base = format!("{}/kbs/v0", args.url.trim_end_matches('/'));
    let auth = format!("Bearer {token}");
    let (url, method, body): (String, &str, Option<Vec<u8>>) = match &args.op {
        AdminOp::ListResources => (format!("{base}/resources"), "GET", None),
        AdminOp::SetResource { path, file } => (
            format!("{base}/resource/{}", path.trim_start_matches('/')),
            "POST",
            Some(fs::read(file).with_context(|| format!("reading {}", file.display()))?),
        ),
        AdminOp::DeleteResource { path } => (
            format!("{base}/resource/{}", path.trim_start_matches('/')),
            "DELETE",
            None,
        ),
        AdminOp::SetResourcePolicy { file } => (
            format!("{base}/resource-policy"),
            "POST",
            Some(policy_body(file, None)?),
        ),
        AdminOp::SetAttestationPolicy { file } => (
            format!("{base}/attestation-policy"),
            "POST",
            Some(policy_body(file, Some("default"))?),
        ),
        AdminOp::SetReferenceValue { name, values } => (
            format!("{base}/reference-value"),
            "POST",
            Some(
                json!({ "name": name, "values": values })
                    .to_string()
                    .into_bytes(),
            ),
        ),
    };
    let result = match (method, body) {
        ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
        ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
        (_, body) => agent
            .post(&url)
            .header("Authorization", &auth)
            .send(body.unwrap_or_default().as_slice()),
    };
    let mut response = result.with_context(|| format!("{method} {url}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .with_context(|| format!("reading the answer to {method} {url}"))?;
    if !(200..300).contains(&status) {
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or(text);
        bail!("{method} {url} answered {status}: {detail}");
    }
    Ok(match &args.op {
        AdminOp::ListResources => {
            let paths: Vec<String> =
                serde_json::from_str(&text).context("parsing the resource list")?;
            paths.iter().map(|p| format!("{p}\n")).collect()
        }
        _ => String::new(),
    })
}

/// kbs-client's `SetPolicyInput`: the policy base64url without padding (plus `type` and
/// `policy_id` for the attestation policy).
fn policy_body(file: &std::path::Path, policy_id: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let rego = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let policy = URL_SAFE_NO_PAD.encode(rego);
    let body = match policy_id {
        Some(id) => json!({ "type": "rego", "policy_id": id, "policy": policy }),
        None => json!({ "policy": policy }),
    };
    Ok(body.to_string().into_bytes())
}
