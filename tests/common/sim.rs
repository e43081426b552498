//! A sim enclave environment for tests: rune with a private platform directory, signing keys,
//! and bundles configured for `liberpal-sim.so`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{built_binary, unique_id, Bundle, Outcome, Runtime};

/// A rune with its own sim platform directory (RUNE_SIM_DIR) and a directory of signing keys.
#[derive(Debug)]
pub struct Sim {
    /// rune, with RUNE_SIM_DIR set.
    pub rt: Runtime,
    /// Holds the platform directory `sim/`.
    pub platform: TempDir,
    keys: TempDir,
}

impl Sim {
    /// A fresh platform and key directory.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let platform = tempfile::tempdir().unwrap();
        let mut rt = Runtime::rune();
        // A directory rune creates itself, root-only, as it does /var/lib/rune/sim.
        let dir = platform.path().join("sim");
        rt.env
            .push(("RUNE_SIM_DIR".into(), dir.to_string_lossy().into_owned()));
        Self {
            rt,
            platform,
            keys: tempfile::tempdir().unwrap(),
        }
    }

    /// The signing key `name`, generated on first use.
    pub fn key(&self, name: &str) -> PathBuf {
        let path = self.keys.path().join(name);
        if !path.exists() {
            self.rt
                .call(&["enclave", "keygen", "--output", &path.to_string_lossy()])
                .ok();
        }
        path
    }

    /// A busybox bundle configured for the sim enclave runtime.
    pub fn bundle(&self, args: &[&str]) -> Bundle {
        let bundle = Bundle::busybox(args);
        let pal = built_binary("liberpal_sim.so")
            .to_string_lossy()
            .into_owned();
        bundle.edit(|c| {
            let env = c["process"]["env"].as_array_mut().unwrap();
            env.push(json!("ENCLAVE_TYPE=sim"));
            env.push(json!(format!("ENCLAVE_RUNTIME_PATH={pal}")));
        });
        bundle
    }

    /// Signs `bundle` with `key`; returns `rune enclave measure --format json`.
    pub fn sign(&self, bundle: &Bundle, key: &Path) -> Value {
        self.sign_with(bundle, key, &[])
    }

    /// Signs `bundle` with `key` and more `rune enclave sign` flags; returns the measurement.
    pub fn sign_with(&self, bundle: &Bundle, key: &Path, flags: &[&str]) -> Value {
        let (bundle_dir, key) = (bundle.path().to_string_lossy(), key.to_string_lossy());
        let mut args = vec!["enclave", "sign", "--bundle", &bundle_dir, "--key", &key];
        args.extend_from_slice(flags);
        self.rt.call(&args).ok();
        self.measure(bundle)
    }

    /// Runs a first enclave container (signed with `key`), so the host's sim platform and its
    /// root CA exist: rune creates them on first use.
    pub fn create_platform(&self, key: &Path) {
        let first = self.bundle(&["true"]);
        self.sign(&first, key);
        self.run(&first, "first-use").ok();
    }

    /// `rune enclave measure --format json` of `bundle`.
    pub fn measure(&self, bundle: &Bundle) -> Value {
        let out = self
            .rt
            .call(&[
                "enclave",
                "measure",
                "--bundle",
                &bundle.path().to_string_lossy(),
                "--format",
                "json",
            ])
            .ok();
        serde_json::from_str(&out.stdout).unwrap()
    }

    /// Runs `bundle` in the foreground under a unique id made from `name`.
    pub fn run(&self, bundle: &Bundle, name: &str) -> Outcome {
        self.rt.run(bundle, &unique_id(name))
    }
}
