//! Harness for integration tests: find the built binaries, build busybox bundles, run rune (and
//! runc/crun for differential tests) on private state roots, and skip with a printed reason when
//! a test needs root or a tool this machine lacks.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde_json::Value;
use tempfile::TempDir;

pub mod sim;
pub mod sim_host;

/// Returns early from a test, printing why, unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!(
                "skipping {}: needs root (namespaces, mounts, cgroups)",
                module_path!()
            );
            return;
        }
    };
}

/// Returns early from a test, printing why, unless the program is installed.
#[macro_export]
macro_rules! require_tool {
    ($tool:expr) => {
        if !$crate::have_tool($tool) {
            eprintln!("skipping {}: {} is not installed", module_path!(), $tool);
            return;
        }
    };
}

/// True when the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True when `tool` is on PATH.
pub fn have_tool(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// Path of a binary built from this workspace (`RUNE_BIN_DIR` overrides the target directory).
pub fn built_binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("RUNE_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace().join("target"));
            target.join("debug")
        });
    let mut path = dir.join(name);
    // `cargo test` leaves a cdylib (liberpal_sim.so) only in deps/; `cargo build` uplifts it.
    // When both exist, the newer is the one that matches the code.
    let in_deps = dir.join("deps").join(name);
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if modified(&in_deps) > modified(&path) {
        path = in_deps;
    }
    if !path.exists() && dir.join("examples").join(name).exists() {
        // Programs that run inside test containers are examples of their crates.
        path = dir.join("examples").join(name);
    }
    assert!(
        path.exists(),
        "{} not found: build it first (cargo test --workspace --no-run)",
        path.display()
    );
    path
}

/// An OCI bundle with a busybox-static rootfs in a temporary directory.
#[derive(Debug)]
pub struct Bundle {
    dir: TempDir,
}

impl Bundle {
    /// Builds a bundle running `args` with runc's default spec (see scripts/mkbundle.sh).
    pub fn busybox(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rune-bundle-")
            .tempdir()
            .expect("temp dir");
        let status = Command::new(workspace().join("scripts/mkbundle.sh"))
            .arg(dir.path())
            .args(args)
            .status()
            .expect("running scripts/mkbundle.sh");
        assert!(status.success(), "mkbundle.sh failed");
        Self { dir }
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Reads config.json.
    pub fn config(&self) -> Value {
        let text = std::fs::read_to_string(self.path().join("config.json")).expect("config.json");
        serde_json::from_str(&text).expect("config.json is JSON")
    }

    /// Rewrites config.json through `edit`.
    pub fn edit(&self, edit: impl FnOnce(&mut Value)) -> &Self {
        let mut config = self.config();
        edit(&mut config);
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&config).expect("serialise"),
        )
        .expect("write config.json");
        self
    }
}

/// An OCI runtime binary with a private state root.
#[derive(Debug)]
pub struct Runtime {
    /// The runtime binary.
    pub bin: PathBuf,
    /// Extra leading arguments (e.g. a wrapper's).
    pub prefix: Vec<String>,
    /// Extra environment for every call.
    pub env: Vec<(String, String)>,
    root: TempDir,
}

/// The outcome of one runtime call.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (signal deaths as 128+n).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    fn from_status(status: ExitStatus, stdout: String, stderr: String) -> Self {
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Self {
            code,
            stdout,
            stderr,
        }
    }

    /// Panics with the whole outcome unless the call succeeded.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "call failed: {self:#?}");
        self
    }
}

impl Runtime {
    /// rune from this workspace.
    pub fn rune() -> Self {
        Self::new(built_binary("rune"))
    }

    /// Any runc-compatible binary.
    pub fn new(bin: PathBuf) -> Self {
        let root = tempfile::Builder::new()
            .prefix("rune-state-")
            .tempdir()
            .expect("temp dir");
        Self {
            bin,
            prefix: Vec::new(),
            env: Vec::new(),
            root,
        }
    }

    /// The state root passed as `--root`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A command with `--root` set and stdin closed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.prefix)
            .arg("--root")
            .arg(self.root.path())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the runtime and collects its outcome.
    ///
    /// Output goes through files, not pipes: a detached container keeps the runtime's stdio open,
    /// and reading a pipe to its end would wait for the container to exit.
    pub fn call(&self, args: &[&str]) -> Outcome {
        run_captured(&mut self.command(args))
    }

    /// `run --bundle B ID` in the foreground.
    pub fn run(&self, bundle: &Bundle, id: &str) -> Outcome {
        self.call(&["run", "--bundle", &bundle.path().to_string_lossy(), id])
    }

    /// The `status` field of `state ID`, or None if the call fails.
    pub fn status(&self, id: &str) -> Option<String> {
        let out = self.call(&["state", id]);
        if out.code != 0 {
            return None;
        }
        let state: Value = serde_json::from_str(&out.stdout).expect("state prints JSON");
        state["status"].as_str().map(str::to_owned)
    }

    /// Polls `state` until the container has status `want` (true) or 10 s pass (false).
    pub fn wait_for_status(&self, id: &str, want: &str) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self.status(id).as_deref() == Some(want) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// Entries in the state root: what a failed create must not leave. The shared `.bundles`
    /// directory stays; a container's bundle copy in it is reported as `bundle copy ID`.
    pub fn leftover_state(&self) -> Vec<String> {
        let names = |dir: &Path| -> Vec<String> {
            std::fs::read_dir(dir)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut left = Vec::new();
        for name in names(self.root.path()) {
            if name == ".bundles" {
                let copies = names(&self.root.path().join(name));
                left.extend(copies.into_iter().map(|id| format!("bundle copy {id}")));
            } else {
                left.push(name);
            }
        }
        left
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Best effort: never leave containers of a failed test running.
        if let Ok(rd) = std::fs::read_dir(self.root.path()) {
            for entry in rd.filter_map(Result::ok) {
                let id = entry.file_name().to_string_lossy().into_owned();
                if !id.starts_with('.') {
                    let _ = self
                        .command(&["delete", "--force", &id])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    }
}

fn read_all(mut file: std::fs::File) -> String {
    let mut text = String::new();
    file.rewind().expect("rewind");
    file.read_to_string(&mut text).expect("read output");
    text
}

/// A free TCP port on loopback (for servers that take an explicit address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// cgroup directories named `id` anywhere under /sys/fs/cgroup: what a deleted container must
/// not leave behind.
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let out = Command::new("find")
        .args([
            "/sys/fs/cgroup",
            "-maxdepth",
            "6",
            "-type",
            "d",
            "-name",
            id,
        ])
        .stderr(Stdio::null())
        .output()
        .expect("find");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// Processes whose command line mentions `needle`.
pub fn processes_matching(needle: &str) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// A container id no other call makes, in this test process or another.
///
/// Tests run in parallel threads, each with its own state root, but the cgroup path comes from
/// the id alone: two containers with one id would share (and delete) one cgroup.
pub fn unique_id(name: &str) -> String {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{name}-{}-{call}", std::process::id())
}

/// An OCI image tar of the busybox rootfs built by scripts/mkimage.sh, accepted by both
/// `ctr image import` and `docker load`; `env` entries (`KEY=VALUE`) go into the image config.
#[derive(Debug)]
pub struct ImageTar {
    dir: TempDir,
    /// The image reference (`NAME:TAG`).
    pub name: String,
}

impl ImageTar {
    /// Builds the image `name` with `env` added to its config.
    pub fn busybox(name: &str, env: &[&str]) -> Self {
        Self::build(name, env, None)
    }

    /// Builds the image `name` with `env` added to its config, its rootfs signed for the
    /// software TEE with `key` (PEM) by rune from this workspace (manifest and SIGSTRUCT in
    /// `/.enclave`, any argv and environment allowed).
    pub fn signed_busybox(name: &str, env: &[&str], key: &Path) -> Self {
        Self::build(name, env, Some(key))
    }

    fn build(name: &str, env: &[&str], sign_key: Option<&Path>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rune-image-")
            .tempdir()
            .expect("temp dir");
        let mut mkimage = Command::new(workspace().join("scripts/mkimage.sh"));
        mkimage
            .arg(dir.path().join("image.tar"))
            .arg(name)
            .args(env);
        if let Some(key) = sign_key {
            mkimage
                .env("MKIMAGE_SIGN_KEY", key)
                .env("MKIMAGE_RUNE", built_binary("rune"));
        }
        let out = mkimage.output().expect("running scripts/mkimage.sh");
        assert!(
            out.status.success(),
            "mkimage.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            name: name.to_owned(),
        }
    }

    /// The tar file.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("image.tar")
    }
}

/// Polls `check` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `cmd` with output captured through files (a detached child may keep pipes open).
pub fn run_captured(cmd: &mut Command) -> Outcome {
    let stdout = tempfile::tempfile().expect("temp file");
    let stderr = tempfile::tempfile().expect("temp file");
    let mut child = cmd
        .stdout(stdout.try_clone().expect("dup"))
        .stderr(stderr.try_clone().expect("dup"))
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match finished.recv_timeout(COMMAND_DEADLINE) {
        Ok(status) => status.unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}")),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!(
                "{cmd:?} did not finish in {COMMAND_DEADLINE:?} (killed)\nstdout: {}\nstderr: {}",
                read_all(stdout),
                read_all(stderr)
            );
        }
    };
    Outcome::from_status(status, read_all(stdout), read_all(stderr))
}

/// How long one command of a test may run before it counts as hung: a hang then fails its
/// test, with what the command printed, instead of stopping the whole suite.
const COMMAND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);
