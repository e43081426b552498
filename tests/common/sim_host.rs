//! A sim enclave host for the containerd and Docker tests: a signing key, an epm daemon on a
//! private socket, and rune behind a wrapper that points it at that epm and a private sim
//! platform (containerd's and dockerd's environment reaches rune, and they must not use the
//! host's).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::{built_binary, run_captured, wait_until, Outcome};

/// The key, epm and the wrapped rune; epm is stopped when this is dropped.
#[derive(Debug)]
pub struct SimHost {
    dir: TempDir,
    epm: Child,
}

impl SimHost {
    /// Makes a signing key and starts epm.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rune-simhost-")
            .tempdir()
            .expect("temp dir");
        run_captured(
            Command::new(built_binary("rune"))
                .args(["enclave", "keygen", "--output"])
                .arg(dir.path().join("signing-key.pem")),
        )
        .ok();
        let log = std::fs::File::create(dir.path().join("epm.log")).expect("epm log");
        let epm = Command::new(built_binary("epm"))
            .arg("--socket")
            .arg(dir.path().join("epm/epm.sock"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting epm");
        let host = Self { dir, epm };
        assert!(
            wait_until(Duration::from_secs(10), || host.epm_status().code == 0),
            "epm did not come up"
        );
        host
    }

    /// The signing key (PEM).
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("signing-key.pem")
    }

    /// An executable that runs rune from this workspace with `RUNE_EPM_SOCKET` and
    /// `RUNE_SIM_DIR` set to this host's.
    pub fn rune(&self) -> PathBuf {
        let path = self.dir.path().join("rune");
        let script = format!(
            "#!/bin/sh\nexport RUNE_EPM_SOCKET='{}'\nexport RUNE_SIM_DIR='{}'\nexec '{}' \"$@\"\n",
            self.dir.path().join("epm/epm.sock").display(),
            self.dir.path().join("sim").display(),
            built_binary("rune").display()
        );
        std::fs::write(&path, script).expect("writing the rune wrapper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn epm_status(&self) -> Outcome {
        run_captured(
            Command::new(built_binary("epm"))
                .arg("status")
                .arg("--socket")
                .arg(self.dir.path().join("epm/epm.sock")),
        )
    }

    /// Waits until epm holds `n` ready enclaves (its refill after a hand-out is done).
    pub fn wait_ready_enclaves(&self, n: u64) -> bool {
        wait_until(Duration::from_secs(20), || {
            let status: Value = serde_json::from_str(&self.epm_status().stdout).unwrap_or_default();
            status["enclaves"] == n
        })
    }

    /// epm's log lines about hand-outs (`hit=…`, `hashed_bytes=…`), oldest first.
    pub fn handovers(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("epm.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("enclave handed over"))
            .map(str::to_owned)
            .collect()
    }

    /// The sim PAL's path.
    pub fn pal() -> PathBuf {
        built_binary("liberpal_sim.so")
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        let _ = self.epm.kill();
        let _ = self.epm.wait();
    }
}

/// Asserts that the first of two containers of one image was a miss and the second, on a new
/// overlay of the same layers, a hit that hashed nothing.
pub fn assert_second_container_hashed_nothing(handovers: &[String]) {
    assert_eq!(handovers.len(), 2, "{handovers:#?}");
    assert!(handovers[0].contains("hit=false"), "{handovers:#?}");
    assert!(
        handovers[1].contains("hit=true") && handovers[1].contains("hashed_bytes=0"),
        "{handovers:#?}"
    );
}
