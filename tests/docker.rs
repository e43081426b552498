//! dockerd + `docker` with rune as an added runtime (`--add-runtime rune=<path>`): dockerd hands
//! rune to containerd's runc shim as its `BinaryName`, so this drives rune with exactly the flags
//! Docker uses. Each test starts its own dockerd (private socket, data root, exec root, its own
//! containerd; no bridge, no iptables) and stops it at the end even when the test fails.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rune_integration_tests::sim_host::{assert_second_container_hashed_nothing, SimHost};
use rune_integration_tests::{
    built_binary, require_root, require_tool, run_captured, unique_id, wait_until, ImageTar,
    Outcome,
};
use tempfile::TempDir;

const IMAGE: &str = "rune-test/busybox:latest";

struct Dockerd {
    dir: TempDir,
    child: Child,
}

impl Dockerd {
    fn start(rune: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rune-dkr-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        // Our own (empty) daemon.json so a system /etc/docker/daemon.json is never read.
        std::fs::write(d.join("daemon.json"), "{}").expect("daemon.json");
        let log = std::fs::File::create(d.join("dockerd.log")).expect("log");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--userland-proxy=false",
            ])
            .arg("--add-runtime")
            .arg(format!("rune={}", rune.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("starting dockerd");
        let daemon = Self { dir, child };
        assert!(
            wait_until(Duration::from_secs(60), || daemon.docker(&["info"]).code
                == 0),
            "dockerd did not come up: {}",
            daemon.log()
        );
        daemon
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    fn docker(&self, args: &[&str]) -> Outcome {
        // Debian's client (20.10) matches Debian's daemon; a newer client elsewhere on PATH
        // would negotiate down anyway.
        let client = if Path::new("/usr/bin/docker").exists() {
            "/usr/bin/docker"
        } else {
            "docker"
        };
        run_captured(
            Command::new(client)
                .arg("--host")
                .arg(format!(
                    "unix://{}",
                    self.dir.path().join("docker.sock").display()
                ))
                .args(args)
                .stdin(Stdio::null()),
        )
    }

    fn run(&self, extra: &[&str], args: &[&str]) -> Outcome {
        let mut all = vec!["run", "--runtime", "rune", "--network", "none"];
        all.extend(extra);
        all.push(IMAGE);
        all.extend(args);
        self.docker(&all)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]).stdout;
        for id in ids.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let _ = self.docker(&["rm", "-f", id]);
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if !wait_until(Duration::from_secs(20), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("data"))
            .stderr(Stdio::null())
            .status();
        if std::thread::panicking() {
            eprintln!("dockerd log:\n{}", self.log());
        }
    }
}

macro_rules! setup {
    () => {{
        require_root!();
        require_tool!("dockerd");
        require_tool!("containerd");
        require_tool!("umoci");
        let daemon = Dockerd::start(&built_binary("rune"));
        let image = ImageTar::busybox(IMAGE, &[]);
        daemon
            .docker(&["load", "--input", &image.path().to_string_lossy()])
            .ok();
        daemon
    }};
}

#[test]
fn docker_run_exit_codes_and_output() {
    let daemon = setup!();
    let out = daemon.run(&["--rm"], &["sh", "-c", "exit 3"]);
    assert_eq!(out.code, 3, "{out:#?}");
    let out = daemon.run(
        &["--rm"],
        &["sh", "-c", "echo hello from rune; echo oops >&2"],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, "hello from rune\n");
    assert_eq!(out.stderr, "oops\n");
    // A workload killed by a signal exits 128+n, as with runc.
    let name = unique_id("dkill");
    daemon.run(&["-d", "--name", &name], &["sleep", "300"]).ok();
    daemon.docker(&["kill", &name]).ok();
    let waited = daemon.docker(&["wait", &name]).ok();
    assert_eq!(waited.stdout.trim(), "137", "{waited:#?}");
    daemon.docker(&["rm", &name]).ok();
}

#[test]
fn docker_exec_into_a_rune_container() {
    let daemon = setup!();
    let name = unique_id("dexec");
    daemon.run(&["-d", "--name", &name], &["sleep", "300"]).ok();
    let out = daemon.docker(&["exec", &name, "sh", "-c", "echo inside; exit 4"]);
    assert_eq!(out.code, 4, "{out:#?}");
    assert_eq!(out.stdout, "inside\n");
    let top = daemon.docker(&["top", &name]).ok();
    assert!(top.stdout.contains("sleep 300"), "{top:#?}");
    let inspect = daemon
        .docker(&["inspect", "--format", "{{.HostConfig.Runtime}}", &name])
        .ok();
    assert_eq!(inspect.stdout.trim(), "rune");
    daemon.docker(&["rm", "-f", &name]).ok();
}

#[test]
fn docker_passes_enclave_env_to_rune() {
    require_root!();
    require_tool!("dockerd");
    require_tool!("umoci");
    require_tool!("jq");
    // The same recording idea as the containerd test: a wrapper records the config.json that
    // `rune create` receives, then strips the enclave settings and runs rune.
    let scratch = tempfile::tempdir().expect("temp dir");
    let record = scratch.path().join("config.json");
    let wrapper = scratch.path().join("rune-recording");
    std::fs::write(
        &wrapper,
        format!(
            r#"#!/bin/sh
bundle=""; prev=""
for a in "$@"; do [ "$prev" = "--bundle" ] && bundle=$a; prev=$a; done
case " $* " in *" create "*)
  cp "$bundle/config.json" "{record}"
  jq '.process.env |= map(select(startswith("ENCLAVE_") | not)) | .annotations |= (. // {{}} | with_entries(select(.key | startswith("enclave.") | not)))' \
    "$bundle/config.json" > "$bundle/c.plain" && mv "$bundle/c.plain" "$bundle/config.json" ;;
esac
exec "{rune}" "$@"
"#,
            record = record.display(),
            rune = built_binary("rune").display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &wrapper,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .expect("chmod");
    let daemon = Dockerd::start(&wrapper);
    let image = ImageTar::busybox(IMAGE, &["ENCLAVE_TYPE=sim"]);
    daemon
        .docker(&["load", "--input", &image.path().to_string_lossy()])
        .ok();
    let out = daemon.run(
        &["--rm", "--env", "ENCLAVE_RUNTIME_LOGLEVEL=debug"],
        &["true"],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).expect("recorded")).expect("JSON");
    let env = recorded["process"]["env"].to_string();
    assert!(env.contains("ENCLAVE_TYPE=sim"), "{env}");
    assert!(env.contains("ENCLAVE_RUNTIME_LOGLEVEL=debug"), "{env}");
}

#[test]
fn a_signed_sim_image_runs_in_an_enclave_under_docker() {
    require_root!();
    require_tool!("dockerd");
    require_tool!("containerd");
    require_tool!("umoci");
    require_tool!("jq");
    let host = SimHost::start();
    let daemon = Dockerd::start(&host.rune());
    let image = ImageTar::signed_busybox(IMAGE, &["ENCLAVE_TYPE=sim"], &host.key());
    daemon
        .docker(&["load", "--input", &image.path().to_string_lossy()])
        .ok();
    let pal = format!("ENCLAVE_RUNTIME_PATH={}", SimHost::pal().display());

    // The first container keeps running, and its overlay mounted: the second one's overlay
    // gets another device number.
    let first = unique_id("dsim");
    daemon
        .run(&["-d", "--name", &first, "--env", &pal], &["sleep", "300"])
        .ok();
    assert!(host.wait_ready_enclaves(1));
    let out = daemon.run(
        &["--rm", "--env", &pal],
        &[
            "sh",
            "-c",
            "echo in the sim enclave; grep -c . /.enclave/manifest.json",
        ],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.starts_with("in the sim enclave\n"), "{out:#?}");
    assert_second_container_hashed_nothing(&host.handovers());
    daemon.docker(&["rm", "-f", &first]).ok();
}
