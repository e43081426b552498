//! Enclave containers through rune's PAL path, proven against enclave runtimes written in C
//! (the conformance PALs of `crates/pal/tests/c`, compiled here with the system C compiler):
//! argv, env, stdio, exit codes and signals through PAL API v1, v2 (Occlum-like wait statuses)
//! and v3 (skeleton-like plain codes), and clear errors for broken runtimes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pal::test_support::{c_pal_source, compile_c_pal, compile_c_pal_with};
use rune_integration_tests::{
    cgroups_named, processes_matching, require_root, unique_id, Bundle, Outcome, Runtime,
};
use serde_json::json;

/// A bundle configured to run in the given PAL with ENCLAVE_TYPE=sim. The C PALs ignore the sim
/// image, so placeholder files stand in for a signed one.
fn enclave_bundle(args: &[&str], pal: &Path) -> Bundle {
    let bundle = Bundle::busybox(args);
    let pal = pal.to_string_lossy().into_owned();
    bundle.edit(|c| {
        let env = c["process"]["env"].as_array_mut().unwrap();
        env.push(json!("ENCLAVE_TYPE=sim"));
        env.push(json!(format!("ENCLAVE_RUNTIME_PATH={pal}")));
        env.push(json!("GREETING=hello enclave"));
    });
    let image = bundle.path().join("enclave");
    std::fs::create_dir_all(&image).unwrap();
    std::fs::write(image.join("manifest.json"), b"{}").unwrap();
    std::fs::write(image.join("sigstruct.bin"), [0u8; 1808]).unwrap();
    bundle
}

/// Compiles a C PAL. The v2 one returns wait(2) statuses like Occlum, and rune recognises such
/// runtimes by name, as Inclavare deployments name them (`liberpal-occlum.so`).
fn compiled(name: &str, dir: &Path) -> PathBuf {
    let so =
        compile_c_pal(&c_pal_source(name), dir).unwrap_or_else(|e| panic!("compiling {name}: {e}"));
    if name != "pal_v2" {
        return so;
    }
    let renamed = so.with_file_name(format!(
        "liberpal-occlum-{}",
        so.file_name().unwrap().to_string_lossy()
    ));
    std::fs::rename(&so, &renamed).unwrap();
    renamed
}

const SCRIPT: &str = r#"echo "argc=$# 1=[$1] 2=[$2]"; echo "env=[$GREETING] type=[${ENCLAVE_TYPE:-unset}]"; echo to-stderr >&2; exit 7"#;

#[test]
fn workload_runs_through_each_pal_version() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    for version in ["pal_v1", "pal_v2", "pal_v3"] {
        let pal = compiled(version, dir.path());
        let bundle = enclave_bundle(&["sh", "-c", SCRIPT, "sh", "two words", ""], &pal);
        let out = Runtime::rune().run(&bundle, &unique_id(version));
        assert_eq!(out.code, 7, "{version}: {out:#?}");
        // The ENCLAVE_* settings never reach the workload (v1 has no env parameter: its
        // workload inherits the init's environment, which rune set from the spec too).
        let expected_env = "env=[hello enclave] type=[unset]";
        assert_eq!(
            out.stdout,
            format!("argc=2 1=[two words] 2=[]\n{expected_env}\n"),
            "{version}: {out:#?}"
        );
        assert_eq!(out.stderr, "to-stderr\n", "{version}");
    }
}

#[test]
fn state_shows_the_enclave() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pal = compiled("pal_v3", dir.path());
    let bundle = enclave_bundle(&["sleep", "1000"], &pal);
    let rt = Runtime::rune();
    let id = unique_id("enclave-state");
    rt.call(&["create", "--bundle", &bundle.path().to_string_lossy(), &id])
        .ok();
    let state: serde_json::Value =
        serde_json::from_str(&rt.call(&["state", &id]).ok().stdout).unwrap();
    assert_eq!(state["enclave"]["type"], "sim");
    assert_eq!(
        state["enclave"]["runtime_path"],
        pal.to_string_lossy().as_ref()
    );
    assert!(state["enclave"]["note"]
        .as_str()
        .unwrap()
        .starts_with("sim: software TEE"));
    rt.call(&["delete", "--force", &id]).ok();
}

#[test]
fn signals_reach_the_workload_through_pal_kill() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    for version in ["pal_v2", "pal_v3"] {
        let pal = compiled(version, dir.path());
        let bundle = enclave_bundle(&["sleep", "1000"], &pal);
        let rt = Runtime::rune();
        let id = unique_id(&format!("{version}-signal"));
        let mut run = rt
            .command(&["run", "--bundle", &bundle.path().to_string_lossy(), &id])
            .spawn()
            .unwrap();
        assert!(rt.wait_for_status(&id, "running"));
        // Give the init time to start the workload and install its forwarding.
        std::thread::sleep(Duration::from_millis(300));
        rt.call(&["kill", &id, "TERM"]).ok();
        let status = run.wait().unwrap();
        assert_eq!(status.code(), Some(143), "{version}: SIGTERM gives 128+15");
        assert!(rt.status(&id).is_none(), "run deletes the container");
    }
}

#[test]
fn signals_before_start_are_dropped_and_later_ones_relayed() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pal = compiled("pal_v3", dir.path());
    let bundle = enclave_bundle(&["sleep", "1000"], &pal);
    let rt = Runtime::rune();
    let id = unique_id("early-signal");
    rt.call(&["create", "--bundle", &bundle.path().to_string_lossy(), &id])
        .ok();
    // Before start there is no workload: PID 1 drops the signal, as it would one it has no
    // handler for, rather than keep it for the workload.
    rt.call(&["kill", &id, "TERM"]).ok();
    assert_eq!(rt.status(&id).as_deref(), Some("created"));
    std::thread::sleep(Duration::from_millis(100));
    rt.call(&["start", &id]).ok();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        rt.status(&id).as_deref(),
        Some("running"),
        "a TERM sent before start reached the workload"
    );
    rt.call(&["kill", &id, "TERM"]).ok();
    assert!(rt.wait_for_status(&id, "stopped"), "TERM after start");
    rt.call(&["delete", &id]).ok();
    assert!(processes_matching(&id).is_empty());
}

fn assert_create_fails(bundle: &Bundle, needle: &str) -> Outcome {
    assert_fails(&["create"], bundle, needle)
}

/// Runs `rune VERB... --bundle BUNDLE ID`: it must fail with one line of stderr holding
/// `needle`, and leave no state, cgroup or process.
fn assert_fails(verb: &[&str], bundle: &Bundle, needle: &str) -> Outcome {
    let rt = Runtime::rune();
    let id = unique_id("bad-pal");
    let path = bundle.path().to_string_lossy();
    let args: Vec<&str> = verb
        .iter()
        .copied()
        .chain(["--bundle", path.as_ref(), id.as_str()])
        .collect();
    let out = rt.call(&args);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains(needle),
        "stderr lacks {needle:?}: {out:#?}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");
    assert!(
        rt.leftover_state().is_empty(),
        "state left: {:?}",
        rt.leftover_state()
    );
    assert!(cgroups_named(&id).is_empty());
    assert!(processes_matching(&id).is_empty());
    out
}

#[test]
fn broken_runtimes_are_refused_clearly() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-pal.so");
    assert_create_fails(
        &enclave_bundle(&["true"], &missing),
        &format!(
            "enclave runtime {} (ENCLAVE_RUNTIME_PATH) does not exist",
            missing.display()
        ),
    );

    let text = dir.path().join("not-a-library.so");
    std::fs::write(&text, "just text").unwrap();
    assert_create_fails(
        &enclave_bundle(&["true"], &text),
        &format!(
            "enclave runtime {} is not an ELF shared object",
            text.display()
        ),
    );

    let no_kill = compiled("pal_missing_kill", dir.path());
    assert_create_fails(
        &enclave_bundle(&["true"], &no_kill),
        "missing symbol pal_kill",
    );

    let v4 = compile_c_pal_with(
        &c_pal_source("pal_bad_version"),
        dir.path(),
        &["PAL_VERSION=4"],
    )
    .unwrap();
    let out = assert_create_fails(
        &enclave_bundle(&["true"], &v4),
        "reports PAL API version 4; rune supports 1 to 3",
    );
    // The PAL's code returned: the reason is the loader's, not a guess about the init's end.
    assert!(!out.stderr.contains("init process exited"), "{out:#?}");
}

/// A bundle running `true` with the v3 test PAL and `ENCLAVE_RUNTIME_ARGS=args`.
fn pal_v3_bundle_with_args(dir: &Path, args: &str) -> (PathBuf, Bundle) {
    let pal = compiled("pal_v3", dir);
    let bundle = enclave_bundle(&["true"], &pal);
    bundle.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(format!("ENCLAVE_RUNTIME_ARGS={args}")))
    });
    (pal, bundle)
}

#[test]
fn failing_pal_init_fails_create() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let (_, bundle) = pal_v3_bundle_with_args(dir.path(), "fail-init");
    assert_create_fails(&bundle, "pal_init");
}

#[test]
fn a_pal_that_ends_the_init_while_loading_or_in_pal_init_fails_create() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let (pal, bundle) = pal_v3_bundle_with_args(dir.path(), "exit-in-init");
    assert_create_fails(
        &bundle,
        &format!(
            "the container's init process exited with code 70 in pal_init of enclave runtime {}",
            pal.display()
        ),
    );

    // A PAL whose initialiser ends the process: the init ends while loading it.
    let exits_on_load =
        compile_c_pal_with(&c_pal_source("pal_v3"), dir.path(), &["PAL_EXIT_ON_LOAD"]).unwrap();
    assert_create_fails(
        &enclave_bundle(&["true"], &exits_on_load),
        &format!(
            "the container's init process exited with code 71 while loading enclave runtime {}",
            exits_on_load.display()
        ),
    );
}

/// `run` waits for the enclave after the start signal, which the init takes only once its
/// enclave started: an enclave that does not start still fails `run` as it fails `create`,
/// with the runtime's reason, and leaves nothing.
#[test]
fn an_enclave_that_does_not_start_fails_run_as_it_fails_create() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let (_, failing) = pal_v3_bundle_with_args(dir.path(), "fail-init");
    // Slow to fail: the start signal is sent while the init is still in pal_init.
    let (_, slow) = pal_v3_bundle_with_args(dir.path(), "slow-fail-init");
    let (pal, exiting) = pal_v3_bundle_with_args(dir.path(), "exit-in-init");
    for verb in [&["run"][..], &["run", "--detach"]] {
        for bundle in [&failing, &slow] {
            let out = assert_fails(verb, bundle, "pal_init");
            assert!(out.stderr.contains("creating container"), "{out:#?}");
        }
        assert_fails(
            verb,
            &exiting,
            &format!(
                "the container's init process exited with code 70 in pal_init of enclave runtime {}",
                pal.display()
            ),
        );
    }
}

/// Poststart hooks run once rune has sent the start signal: `run` of a spec that has them
/// waits for the enclave first, so they never run for an enclave that did not start.
#[test]
fn poststart_hooks_run_only_for_an_enclave_that_started() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    // Slow to fail, so that the start signal finds the init still in pal_init.
    for (args, starts) in [("slow-fail-init", false), ("", true)] {
        let (_, bundle) = pal_v3_bundle_with_args(dir.path(), args);
        let log = bundle.path().join("hooks.log");
        let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} >> {}", log.display())]});
        bundle.edit(|c| {
            c["hooks"] = json!({"poststart": [hook("poststart")], "poststop": [hook("poststop")]});
        });
        let out = Runtime::rune().run(&bundle, &unique_id("hooks"));
        let ran = std::fs::read_to_string(&log).unwrap_or_default();
        if starts {
            assert_eq!(out.code, 0, "{out:#?}");
            assert_eq!(ran, "poststart\npoststop\n");
        } else {
            assert_ne!(out.code, 0, "{out:#?}");
            assert!(out.stderr.contains("pal_init"), "{out:#?}");
            assert!(!ran.contains("poststart"), "poststart ran: {ran:?}");
        }
    }
}

/// The init's report ends with the init, even when a process the PAL started outlives it
/// holding the report's pipe (possible without a PID namespace of the container's own).
#[test]
fn an_init_that_ends_in_pal_init_is_reported_while_its_child_holds_the_pipe() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let (pal, bundle) = pal_v3_bundle_with_args(dir.path(), "leave-child-in-init");
    bundle.edit(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|ns| ns["type"] != "pid");
    });
    let started = std::time::Instant::now();
    assert_create_fails(
        &bundle,
        &format!(
            "the container's init process exited with code 70 in pal_init of enclave runtime {}",
            pal.display()
        ),
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "create waited for the PAL's child: {:?}",
        started.elapsed()
    );
}

#[test]
fn sim_on_an_unsigned_bundle_is_refused() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pal = compiled("pal_v3", dir.path());
    let bundle = enclave_bundle(&["true"], &pal);
    std::fs::remove_dir_all(bundle.path().join("enclave")).unwrap();
    assert_create_fails(&bundle, "ENCLAVE_TYPE=sim needs a signed bundle");
}

#[test]
fn invalid_enclave_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pal = dir.path().join("x.so");
    std::fs::write(&pal, b"\x7fELF").unwrap();
    let bundle = enclave_bundle(&["true"], &pal);
    bundle.edit(|c| {
        c["annotations"] = json!({"enclave.runtime.pth": "/x"});
    });
    let out = Runtime::rune().call(&["create", "--bundle", &bundle.path().to_string_lossy(), "x"]);
    assert!(
        out.stderr
            .contains("unknown annotation \"enclave.runtime.pth\""),
        "{out:#?}"
    );
    let bundle = enclave_bundle(&["true"], &pal);
    bundle.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("ENCLAVE_TYPE=intelSgx"));
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .retain(|e| e != "ENCLAVE_TYPE=sim");
    });
    if !Path::new("/dev/sgx_enclave").exists() {
        let out =
            Runtime::rune().call(&["create", "--bundle", &bundle.path().to_string_lossy(), "x"]);
        assert!(
            out.stderr
                .contains("no SGX device nodes (/dev/sgx_enclave, /dev/sgx_provision)"),
            "{out:#?}"
        );
    }
}

#[test]
fn exec_runs_inside_the_enclave_instance() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let pal = compiled("pal_v3", dir.path());
    let bundle = enclave_bundle(&["sleep", "1000"], &pal);
    let rt = Runtime::rune();
    let id = unique_id("enclave-exec");
    rt.call(&[
        "run",
        "-d",
        "--bundle",
        &bundle.path().to_string_lossy(),
        &id,
    ])
    .ok();
    let out = rt.call(&[
        "exec",
        "--env",
        "X=with space",
        &id,
        "sh",
        "-c",
        "echo \"in enclave [$X] [$GREETING]\"; echo err >&2; exit 4",
    ]);
    assert_eq!(out.code, 4, "{out:#?}");
    assert_eq!(out.stdout, "in enclave [with space] [hello enclave]\n");
    assert_eq!(out.stderr, "err\n");

    let pid_file = bundle.path().join("exec.pid");
    let out = rt.call(&[
        "exec",
        "--detach",
        "--pid-file",
        &pid_file.to_string_lossy(),
        &id,
        "sh",
        "-c",
        "exit 0",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0);

    let tty = rt.call(&[
        "exec",
        "--tty",
        "--console-socket",
        "/nonexistent",
        &id,
        "true",
    ]);
    assert!(tty.stderr.contains("is not supported"), "{tty:#?}");
    rt.call(&["delete", "--force", &id]).ok();
}
