//! `rune enclave ...`: enclave image tooling and quote verification.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use attestation::{AppraisalPolicy, Collateral, TcbStatus};
use erpal_sim::image;
use erpal_sim::image::SignProgress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::cli::{
    BundleArg, EnclaveCommand, InspectCert, Keygen, Measure, Sign, TextOrJson, VerifyQuote,
};

/// Runs an `enclave` subcommand.
pub fn dispatch(cmd: &EnclaveCommand) -> Result<i32> {
    match cmd {
        EnclaveCommand::Keygen(args) => keygen(args),
        EnclaveCommand::Sign(args) => sign(args),
        EnclaveCommand::Measure(args) => measure(args),
        EnclaveCommand::Inspect(args) => inspect(args),
        EnclaveCommand::VerifyQuote(args) => verify_quote(args),
        EnclaveCommand::InspectCert(args) => inspect_cert(args),
    }
}

/// Prints the evidence an RA-TLS certificate carries (ours, Gramine's, rats-tls'): TEE,
/// measurements, report_data and whether the key is bound. The quote is not verified here.
fn inspect_cert(args: &InspectCert) -> Result<i32> {
    let bytes = std::fs::read(&args.cert)
        .with_context(|| format!("reading certificate {}", args.cert.display()))?;
    let inspection = attestation::inspect_cert(&bytes)
        .with_context(|| format!("certificate {}", args.cert.display()))?;
    println!("{}", serde_json::to_string_pretty(&inspection.to_json())?);
    Ok(0)
}

fn keygen(args: &Keygen) -> Result<i32> {
    let key = image::generate_key().context("generating an RSA-3072 e=3 signing key")?;
    write_key(&args.output, &key)?;
    eprintln!(
        "rune: wrote enclave signing key {} (MRSIGNER {})",
        args.output.display(),
        hex::encode(key.mr_signer())
    );
    Ok(0)
}

fn write_key(path: &Path, key: &sgx::SigningKey) -> Result<()> {
    let pem = key.to_pkcs1_pem().context("encoding the signing key")?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(pem.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn sign(args: &Sign) -> Result<i32> {
    let key = match &args.key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading signing key {}", path.display()))?;
            sgx::SigningKey::from_pem(&pem)
                .with_context(|| format!("signing key {}", path.display()))?
        }
        None => {
            let key = image::generate_key().context("generating a signing key")?;
            let path = args.bundle.join(image::ENCLAVE_DIR).join("signing-key.pem");
            std::fs::create_dir_all(path.parent().unwrap_or(&args.bundle)).with_context(|| {
                format!(
                    "creating {}",
                    args.bundle.join(image::ENCLAVE_DIR).display()
                )
            })?;
            let _ = std::fs::remove_file(&path);
            write_key(&path, &key)?;
            eprintln!(
                "rune: warning: no --key given; generated a new signing key {} — keep it to re-sign with the same MRSIGNER",
                path.display()
            );
            key
        }
    };
    let options = image::SignOptions {
        isv_prod_id: args.isv_prod_id,
        isv_svn: args.isv_svn,
        debug: args.debug,
        argv: args
            .any_args
            .then_some(erpal_sim::manifest::ArgvPolicy::Any),
        env: args.any_env.then_some(erpal_sim::manifest::EnvPolicy::Any),
        in_rootfs: args.in_rootfs,
        ..image::SignOptions::default()
    };
    let target = if std::io::stderr().is_terminal() {
        Some(ProgressDrawTarget::stderr())
    } else if args.progress {
        // Not a terminal (a CI log, a file): one plain line a second instead of redraws.
        Some(ProgressDrawTarget::term_like_with_hz(Box::new(LineTerm), 1))
    } else {
        None
    };
    let signed = match target {
        Some(target) => sign_with_progress_bar(args, &key, &options, target),
        None => image::sign_bundle(&args.bundle, &key, &args.include, &options),
    }
    .with_context(|| format!("signing bundle {}", args.bundle.display()))?;
    println!("manifest: {}", signed.manifest_path.display());
    println!("sigstruct: {}", signed.sigstruct_path.display());
    println!("trusted files: {}", signed.manifest.trusted_files().len());
    println!("mrenclave: {}", hex::encode(signed.measurement.mrenclave));
    println!("mrsigner: {}", hex::encode(signed.measurement.mrsigner));
    println!("tee: sim (software TEE: integrity and measurement, no confidentiality against root)");
    Ok(0)
}

/// Signs with a progress bar on stderr (stdout carries the result). The bar's length is an
/// estimate, the bytes under the `--include` paths, measured before hashing starts; the
/// entrypoint and its libraries come on top, so the length grows if hashing passes it.
fn sign_with_progress_bar(
    args: &Sign,
    key: &sgx::SigningKey,
    options: &image::SignOptions,
    target: ProgressDrawTarget,
) -> Result<image::SignedImage, image::ImageError> {
    let rootfs = rootfs_of(&args.bundle);
    let estimate: u64 = args
        .include
        .iter()
        .map(|include| {
            let relative = include.strip_prefix("/").unwrap_or(include);
            tree_size(&rootfs.join(relative))
        })
        .sum();
    let bar = ProgressBar::with_draw_target(Some(estimate), target);
    bar.set_style(progress_style());
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut files = 0u64;
    let result =
        image::sign_bundle_with_progress(&args.bundle, key, &args.include, options, &mut |step| {
            match step {
                SignProgress::Hashed { path, bytes } => {
                    files += 1;
                    bar.inc(bytes);
                    if bar.position() > bar.length().unwrap_or(0) {
                        bar.set_length(bar.position());
                    }
                    bar.set_message(format!("{files} files, {path}"));
                }
                SignProgress::Signing { files } => {
                    bar.set_message(format!("{files} files hashed; signing (RSA-3072)"));
                }
                _ => {}
            }
        });
    if bar.is_hidden() || std::io::stderr().is_terminal() {
        bar.finish_and_clear();
    } else {
        // A log keeps the final figures (files, bytes, rate) as its last line.
        bar.finish();
    }
    result
}

/// A progress target for stderr that is not a terminal: each frame becomes one plain line,
/// without the cursor movements a terminal redraw uses.
#[derive(Debug)]
struct LineTerm;

impl TermLike for LineTerm {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        if s.trim().is_empty() {
            return Ok(());
        }
        writeln!(std::io::stderr(), "{}", s.trim_end())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write_line(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn progress_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} sign [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {wide_msg}",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The rootfs directory of `bundle` (its `config.json` `root.path`; `rootfs` when unreadable,
/// in which case signing itself reports the problem).
fn rootfs_of(bundle: &Path) -> PathBuf {
    let root = std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|config| config["root"]["path"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    bundle.join(root)
}

/// Bytes in the regular files under `path`, not following symlinks (an estimate for the bar).
fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| tree_size(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

fn measure(args: &Measure) -> Result<i32> {
    let m = image::measure_bundle(&args.bundle)
        .with_context(|| format!("measuring bundle {}", args.bundle.display()))?;
    match args.format {
        TextOrJson::Json => println!("{}", serde_json::to_string(&m)?),
        TextOrJson::Text => {
            println!("mrenclave: {}", hex::encode(m.mrenclave));
            println!("mrsigner: {}", hex::encode(m.mrsigner));
        }
    }
    Ok(0)
}

fn inspect(args: &BundleArg) -> Result<i32> {
    let inspection = image::inspect_bundle(&args.bundle)
        .with_context(|| format!("inspecting bundle {}", args.bundle.display()))?;
    println!("{}", serde_json::to_string_pretty(&inspection)?);
    Ok(if inspection.valid { 0 } else { 1 })
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
