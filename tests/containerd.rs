//! containerd + `ctr` driving containerd-shim-rune-v2 (`--runtime io.containerd.rune.v2`),
//! each test on its own containerd with private sockets, root and state, stopped at the end
//! even when the test fails. Needs root and Debian's `containerd` (and `umoci` for the image).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rune_integration_tests::sim_host::{assert_second_container_hashed_nothing, SimHost};
use rune_integration_tests::{
    built_binary, require_root, require_tool, run_captured, unique_id, wait_until, ImageTar,
    Outcome,
};
use tempfile::TempDir;

const NAMESPACE: &str = "rune-test";
const RUNTIME: &str = "io.containerd.rune.v2";
const IMAGE: &str = "rune-test/busybox:latest";

/// A private containerd whose PATH starts with a directory holding the shim and `rune`.
struct Containerd {
    dir: TempDir,
    child: Child,
}

impl Containerd {
    /// Starts containerd; `rune` is the binary the shim finds next to itself.
    fn start(rune: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rune-ctd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        let bin = d.join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        // A copy, not a link: the shim looks for `rune` next to its own (resolved) path.
        std::fs::copy(
            built_binary("containerd-shim-rune-v2"),
            bin.join("containerd-shim-rune-v2"),
        )
        .expect("copy the shim");
        std::os::unix::fs::symlink(rune, bin.join("rune")).expect("link rune");
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
            d = d.display()
        );
        std::fs::write(d.join("config.toml"), config).expect("config.toml");
        let child = Self::spawn(d);
        let daemon = Self { dir, child };
        daemon.wait_ready();
        daemon
    }

    fn spawn(d: &Path) -> Child {
        let path = format!(
            "{}:{}",
            d.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("containerd.log"))
            .expect("log file");
        Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .arg("--log-level")
            .arg("debug")
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("starting containerd")
    }

    fn wait_ready(&self) {
        assert!(
            wait_until(Duration::from_secs(20), || self.ctr(&["version"]).code == 0),
            "containerd did not come up: {}",
            self.log()
        );
    }

    /// Stops containerd (not its shims) and starts it again on the same state.
    fn restart(&mut self) {
        stop(&mut self.child);
        self.child = Self::spawn(self.dir.path());
        self.wait_ready();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .arg("--namespace")
            .arg(NAMESPACE)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn ctr(&self, args: &[&str]) -> Outcome {
        run_captured(&mut self.ctr_command(args))
    }

    fn import(&self, image: &ImageTar) {
        let path = image.path();
        self.ctr(&["image", "import", &path.to_string_lossy()]).ok();
    }

    /// `ctr run --runtime io.containerd.rune.v2 [extra] IMAGE ID ARGS...`.
    fn run(&self, extra: &[&str], id: &str, args: &[&str]) -> Outcome {
        let mut all = vec!["run", "--runtime", RUNTIME];
        all.extend(extra);
        all.extend([IMAGE, id]);
        all.extend(args);
        self.ctr(&all)
    }

    /// The STATUS column of `ctr task ls` for `id`.
    fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr(&["task", "ls"]);
        out.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cols| cols.first() == Some(&id))
            .and_then(|cols| cols.get(2).map(|s| (*s).to_owned()))
    }

    fn wait_status(&self, id: &str, status: &str) -> bool {
        wait_until(Duration::from_secs(20), || {
            self.task_status(id).as_deref() == Some(status)
        })
    }

    fn remove(&self, id: &str) {
        let _ = self.ctr(&["task", "kill", "--all", "--signal", "KILL", id]);
        self.wait_status(id, "STOPPED");
        let _ = self.ctr(&["task", "delete", id]);
        let _ = self.ctr(&["container", "delete", id]);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Best effort: remove every task (stopping its shim) before containerd goes.
        let tasks = self.ctr(&["task", "ls", "-q"]).stdout;
        for id in tasks.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let _ = self.ctr(&["task", "kill", "--all", "--signal", "KILL", id]);
            let _ = self.ctr(&["task", "delete", "--force", id]);
        }
        let containers = self.ctr(&["container", "ls", "-q"]).stdout;
        for id in containers.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let _ = self.ctr(&["container", "delete", id]);
        }
        stop(&mut self.child);
        // Snapshot mounts under the root must go before the temp dir can be removed.
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("root"))
            .stderr(Stdio::null())
            .status();
        if std::thread::panicking() {
            eprintln!("containerd log:\n{}", self.log());
        }
    }
}

fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if !wait_until(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    }) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Skips unless root with containerd, ctr and umoci; then a containerd with the image imported.
macro_rules! setup {
    () => {{
        require_root!();
        require_tool!("containerd");
        require_tool!("ctr");
        require_tool!("umoci");
        let daemon = Containerd::start(&built_binary("rune"));
        daemon.import(&ImageTar::busybox(IMAGE, &[]));
        daemon
    }};
}

#[test]
fn exit_code_comes_back_through_ctr_run() {
    let daemon = setup!();
    let out = daemon.run(&["--rm"], &unique_id("exit"), &["/bin/sh", "-c", "exit 3"]);
    assert_eq!(out.code, 3, "{out:#?}");
}

#[test]
fn output_reaches_ctr() {
    let daemon = setup!();
    let out = daemon.run(
        &["--rm"],
        &unique_id("out"),
        &["/bin/sh", "-c", "echo hello from rune; echo to stderr >&2"],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, "hello from rune\n", "{out:#?}");
    assert_eq!(out.stderr, "to stderr\n", "{out:#?}");
}

#[test]
fn stdin_reaches_the_container() {
    let daemon = setup!();
    let id = unique_id("stdin");
    let mut cmd = daemon.ctr_command(&["run", "--runtime", RUNTIME, "--rm", IMAGE, &id, "cat"]);
    let scratch = tempfile::tempdir().expect("temp dir");
    let input = scratch.path().join("input");
    std::fs::write(&input, "piped through the shim\n").expect("write input");
    let input = std::fs::File::open(&input).expect("open input");
    cmd.stdin(input);
    let out = run_captured(&mut cmd);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, "piped through the shim\n");
}

#[test]
fn exec_kill_pids_and_state() {
    let daemon = setup!();
    let id = unique_id("exec");
    daemon.run(&["-d"], &id, &["sleep", "300"]).ok();
    assert!(daemon.wait_status(&id, "RUNNING"));

    let out = daemon.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "/bin/sh",
        "-c",
        "echo in the container; exit 5",
    ]);
    assert_eq!(out.code, 5, "{out:#?}");
    assert_eq!(out.stdout, "in the container\n");

    let ps = daemon.ctr(&["task", "ps", &id]).ok();
    assert!(ps.stdout.lines().count() >= 2, "{ps:#?}");

    daemon.ctr(&["task", "kill", "--signal", "KILL", &id]).ok();
    assert!(
        daemon.wait_status(&id, "STOPPED"),
        "{:?}",
        daemon.task_status(&id)
    );
    // A finished task cannot be signalled: containerd hears NOT_FOUND.
    let again = daemon.ctr(&["task", "kill", "--signal", "KILL", &id]);
    assert_ne!(again.code, 0);
    daemon.ctr(&["task", "delete", &id]).ok();
    daemon.ctr(&["container", "delete", &id]).ok();
}

#[test]
fn kill_all_stops_every_process() {
    let daemon = setup!();
    let id = unique_id("killall");
    daemon
        .run(&["-d"], &id, &["sh", "-c", "sleep 300 & sleep 300"])
        .ok();
    assert!(daemon.wait_status(&id, "RUNNING"));
    daemon
        .ctr(&["task", "kill", "--all", "--signal", "KILL", &id])
        .ok();
    assert!(daemon.wait_status(&id, "STOPPED"));
    let out = daemon.ctr(&["task", "delete", &id]).ok();
    assert!(
        out.stderr.contains("137"),
        "exit status of a SIGKILL: {out:#?}"
    );
    daemon.ctr(&["container", "delete", &id]).ok();
}

#[test]
fn metrics_and_pause_resume() {
    let daemon = setup!();
    let id = unique_id("metrics");
    daemon.run(&["-d"], &id, &["sleep", "300"]).ok();
    assert!(daemon.wait_status(&id, "RUNNING"));

    let metrics = daemon
        .ctr(&["task", "metrics", "--format", "json", &id])
        .ok();
    let value: serde_json::Value =
        serde_json::from_str(&metrics.stdout).expect("ctr task metrics prints JSON");
    let memory = &value["memory"];
    assert!(
        memory["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "memory usage missing: {value:#}"
    );
    assert!(
        value["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{value:#}"
    );
    let table = daemon.ctr(&["task", "metrics", &id]).ok();
    assert!(table.stdout.contains("memory.usage_in_bytes"), "{table:#?}");

    daemon.ctr(&["task", "pause", &id]).ok();
    assert!(daemon.wait_status(&id, "PAUSED"));
    daemon.ctr(&["task", "resume", &id]).ok();
    assert!(daemon.wait_status(&id, "RUNNING"));
    daemon.remove(&id);
}

#[test]
fn tasks_survive_a_containerd_restart() {
    let mut daemon = setup!();
    let id = unique_id("restart");
    daemon.run(&["-d"], &id, &["sleep", "300"]).ok();
    assert!(daemon.wait_status(&id, "RUNNING"));
    daemon.restart();
    assert_eq!(daemon.task_status(&id).as_deref(), Some("RUNNING"));
    let out = daemon.ctr(&["task", "exec", "--exec-id", "after", &id, "true"]);
    assert_eq!(out.code, 0, "{out:#?}");
    daemon.remove(&id);
}

#[test]
fn a_killed_shim_is_cleaned_up() {
    let daemon = setup!();
    let id = unique_id("crash");
    // A duration no other test uses, to find this container's process by its command line.
    daemon.run(&["-d"], &id, &["sleep", "313"]).ok();
    assert!(daemon.wait_status(&id, "RUNNING"));
    let shims = rune_integration_tests::processes_matching(&format!("-id {id}"));
    let shim_pid: i32 = shims
        .iter()
        .find(|l| l.contains("containerd-shim-rune-v2"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no shim for {id}: {shims:?}"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the shim");
    // containerd notices, runs `containerd-shim-rune-v2 delete`, and the task is gone or stopped.
    assert!(wait_until(Duration::from_secs(20), || {
        !matches!(daemon.task_status(&id).as_deref(), Some("RUNNING"))
    }));
    let _ = daemon.ctr(&["task", "delete", "--force", &id]);
    daemon.ctr(&["container", "delete", &id]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || {
            rune_integration_tests::processes_matching("sleep 313").is_empty()
        }),
        "the container's processes must not outlive the cleanup"
    );
}

/// A `rune` wrapper that records the config.json each `create` receives, then hands rune a copy
/// without the enclave settings (the enclave runtime is not what this test is about).
fn recording_wrapper(dir: &Path, rune: &Path) -> PathBuf {
    let record = dir.join("recorded");
    std::fs::create_dir_all(&record).expect("record dir");
    let script = format!(
        r#"#!/bin/sh
# Records config.json at create, strips enclave settings, then runs the real rune.
bundle=""
prev=""
for a in "$@"; do
  if [ "$prev" = "--bundle" ] || [ "$prev" = "-b" ]; then bundle=$a; fi
  prev=$a
done
case " $* " in
  *" create "*)
    if [ -n "$bundle" ]; then
      cp "$bundle/config.json" "{record}/config.json"
      jq '.process.env |= map(select(startswith("ENCLAVE_") | not)) | .annotations |= (. // {{}} | with_entries(select(.key | startswith("enclave.") | not)))' \
        "$bundle/config.json" > "$bundle/config.json.plain" && mv "$bundle/config.json.plain" "$bundle/config.json"
    fi ;;
esac
exec "{rune}" "$@"
"#,
        record = record.display(),
        rune = rune.display()
    );
    let path = dir.join("rune-recording");
    std::fs::write(&path, script).expect("write wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn enclave_env_and_annotations_reach_rune_unchanged() {
    require_root!();
    require_tool!("containerd");
    require_tool!("umoci");
    require_tool!("jq");
    let scratch = tempfile::tempdir().expect("temp dir");
    let wrapper = recording_wrapper(scratch.path(), &built_binary("rune"));
    let daemon = Containerd::start(&wrapper);
    daemon.import(&ImageTar::busybox(
        IMAGE,
        &[
            "ENCLAVE_TYPE=sim",
            "ENCLAVE_RUNTIME_ARGS=a,b",
            "RUNE_CARRIER=skeleton",
        ],
    ));
    let out = daemon.run(
        &[
            "--rm",
            "--annotation",
            "enclave.type=sim",
            "--annotation",
            "enclave.runtime.loglevel=debug",
        ],
        &unique_id("enclave"),
        &["/bin/sh", "-c", "exit 0"],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    let recorded: serde_json::Value = serde_json::from_slice(
        &std::fs::read(scratch.path().join("recorded/config.json")).expect("recorded config"),
    )
    .expect("JSON");
    let env: Vec<&str> = recorded["process"]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for wanted in [
        "ENCLAVE_TYPE=sim",
        "ENCLAVE_RUNTIME_ARGS=a,b",
        "RUNE_CARRIER=skeleton",
    ] {
        assert!(env.contains(&wanted), "{wanted} missing from {env:?}");
    }
    assert_eq!(recorded["annotations"]["enclave.type"], "sim");
    assert_eq!(recorded["annotations"]["enclave.runtime.loglevel"], "debug");
}

#[test]
fn a_signed_sim_image_runs_in_an_enclave_and_epm_measures_its_layers_once() {
    require_root!();
    require_tool!("containerd");
    require_tool!("ctr");
    require_tool!("umoci");
    require_tool!("jq");
    let host = SimHost::start();
    let daemon = Containerd::start(&host.rune());
    daemon.import(&ImageTar::signed_busybox(IMAGE, &[], &host.key()));
    let pal = format!("enclave.runtime.path={}", SimHost::pal().display());
    let enclave = ["--annotation", "enclave.type=sim", "--annotation", &pal];

    // The first container keeps running, and its overlay mounted, as on a node: the second
    // one's overlay gets another device number.
    let first = unique_id("sim-first");
    let out = daemon.run(&[&["-d"], &enclave[..]].concat(), &first, &["sleep", "60"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(daemon.wait_status(&first, "RUNNING"));
    assert!(host.wait_ready_enclaves(1));

    let out = daemon.run(
        &[&["--rm"], &enclave[..]].concat(),
        &unique_id("sim-second"),
        &["/bin/sh", "-c", "echo again"],
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, "again\n"), "{out:#?}");
    assert_second_container_hashed_nothing(&host.handovers());
    daemon.remove(&first);
}

#[test]
fn oom_kill_publishes_a_task_oom_event() {
    let daemon = setup!();
    let events_file = tempfile::tempfile().expect("temp file");
    let mut events = daemon
        .ctr_command(&["events"])
        .stdout(events_file.try_clone().expect("dup"))
        .stderr(Stdio::null())
        .spawn()
        .expect("ctr events");
    std::thread::sleep(Duration::from_millis(300));
    let id = unique_id("oom");
    let out = daemon.run(
        &["--rm", "--memory-limit", "16777216"],
        &id,
        &[
            "sh",
            "-c",
            "a=$(head -c 64000000 /dev/zero | tr '\\0' x); echo survived",
        ],
    );
    assert_eq!(out.code, 137, "the workload must be OOM-killed: {out:#?}");
    let seen = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&events_file)
        ))
        .is_ok_and(|text| text.contains("/tasks/oom") && text.contains(&id))
    });
    let _ = events.kill();
    let _ = events.wait();
    assert!(seen, "no /tasks/oom event for {id}");
}

/// The shim processes serving this containerd.
fn shims_of(daemon: &Containerd) -> Vec<String> {
    let address = daemon.dir.path().join("containerd.sock");
    rune_integration_tests::processes_matching("containerd-shim-rune-v2")
        .into_iter()
        .filter(|l| l.contains(&*address.to_string_lossy()))
        .collect()
}

#[test]
fn containers_of_one_pod_share_a_shim() {
    let daemon = setup!();
    let pod = unique_id("pod");
    let sandbox = format!("io.kubernetes.cri.sandbox-id={pod}");
    let (a, b) = (unique_id("pod-a"), unique_id("pod-b"));
    for id in [&a, &b] {
        daemon
            .run(&["-d", "--annotation", &sandbox], id, &["sleep", "300"])
            .ok();
        assert!(daemon.wait_status(id, "RUNNING"));
    }
    assert_eq!(shims_of(&daemon).len(), 1, "{:?}", shims_of(&daemon));
    // The shim keeps serving the pod's other container after the first one is gone.
    daemon.remove(&a);
    assert_eq!(daemon.task_status(&b).as_deref(), Some("RUNNING"));
    let out = daemon.ctr(&["task", "exec", "--exec-id", "x", &b, "true"]);
    assert_eq!(out.code, 0, "{out:#?}");
    daemon.remove(&b);
    assert!(
        wait_until(Duration::from_secs(10), || shims_of(&daemon).is_empty()),
        "the shim must exit with its last container: {:?}",
        shims_of(&daemon)
    );
}

#[test]
fn terminal_and_resize_through_the_console_socket() {
    let daemon = setup!();
    require_tool!("script");
    // `ctr run -t` needs a terminal: script(1) gives it one of 30 rows by 100 columns, which ctr
    // passes on with ResizePty once the task has its pty.
    let ctr = format!(
        "ctr --address {} --namespace {NAMESPACE} run --runtime {RUNTIME} --rm -t {IMAGE} {} sh -c {}",
        daemon.dir.path().join("containerd.sock").display(),
        unique_id("tty"),
        // ctr resizes after start: poll until the size has arrived.
        "'for i in $(seq 50); do s=$(stty size 2>/dev/null); [ -n \"$s\" ] && [ \"$s\" != \"0 0\" ] && break; \
         sleep 0.2; done; tty; echo \"$s\"; exit 4'"
    );
    let out = run_captured(
        Command::new("script")
            .args([
                "-qec",
                &format!("stty cols 100 rows 30; {ctr}"),
                "/dev/null",
            ])
            .stdin(Stdio::null()),
    );
    assert_eq!(out.code, 4, "{out:#?}");
    assert!(out.stdout.contains("/dev/pts/0"), "{out:#?}");
    assert!(out.stdout.contains("30 100"), "{out:#?}");
}
