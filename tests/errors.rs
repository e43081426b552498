//! Bad input to `rune`: each case fails with one clear line on stderr, a non-zero exit, and a
//! failed create leaves no state directory, cgroup, mount or process behind.

use rune_integration_tests::{
    cgroups_named, processes_matching, require_root, unique_id, Bundle, Outcome, Runtime,
};
use serde_json::json;

/// Asserts a failure with exactly one `rune: ` line on stderr that contains `needle`.
fn assert_fails_with(out: &Outcome, needle: &str) {
    assert_ne!(out.code, 0, "expected failure: {out:#?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {out:#?}");
    assert!(lines[0].starts_with("rune: "), "{out:#?}");
    assert!(
        lines[0].contains(needle),
        "stderr lacks {needle:?}: {out:#?}"
    );
}

fn create(rt: &Runtime, bundle: &Bundle, id: &str) -> Outcome {
    rt.call(&["create", "--bundle", &bundle.path().to_string_lossy(), id])
}

/// Nothing of container `id` may remain after a failed create.
fn assert_nothing_left(rt: &Runtime, id: &str, bundle: &Bundle) {
    assert!(
        rt.leftover_state().is_empty(),
        "state left: {:?}",
        rt.leftover_state()
    );
    assert!(
        cgroups_named(id).is_empty(),
        "cgroups left: {:?}",
        cgroups_named(id)
    );
    let rootfs = bundle.rootfs().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&rootfs), "mounts left under {rootfs}");
    assert!(
        processes_matching(id).is_empty(),
        "processes left: {:?}",
        processes_matching(id)
    );
}

#[test]
fn missing_config_json() {
    let rt = Runtime::rune();
    let dir = tempfile::tempdir().unwrap();
    let out = rt.call(&["create", "--bundle", &dir.path().to_string_lossy(), "x"]);
    assert_fails_with(&out, "config.json not found");
}

#[test]
fn missing_bundle_directory() {
    let out = Runtime::rune().call(&["create", "--bundle", "/nonexistent/bundle", "x"]);
    assert_fails_with(
        &out,
        "bundle /nonexistent/bundle: No such file or directory",
    );
}

#[test]
fn invalid_config_names_field_and_position() {
    let rt = Runtime::rune();
    let bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["process"]["args"] = json!("not-a-list"));
    let out = create(&rt, &bundle, "x");
    assert_fails_with(
        &out,
        "invalid type: string \"not-a-list\", expected a sequence at line",
    );

    std::fs::write(bundle.path().join("config.json"), "{ not json").unwrap();
    assert_fails_with(
        &create(&rt, &bundle, "x"),
        "key must be a string at line 1 column 3",
    );

    let bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["process"]["args"] = json!([]));
    assert_fails_with(
        &create(&rt, &bundle, "x"),
        "process.args is missing or empty",
    );

    let bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["ociVersion"] = json!("0.9"));
    assert_fails_with(
        &create(&rt, &bundle, "x"),
        "ociVersion is \"0.9\"; rune supports 1.x",
    );
}

#[test]
fn missing_rootfs() {
    let rt = Runtime::rune();
    let bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    let out = create(&rt, &bundle, "x");
    assert_fails_with(&out, "no-such-rootfs (root.path in");
    assert!(rt.leftover_state().is_empty());
}

#[test]
fn invalid_container_ids() {
    let rt = Runtime::rune();
    let bundle = Bundle::busybox(&["true"]);
    for (id, why) in [
        ("a/b", "character '/' not allowed"),
        ("..", "cannot be . or .."),
        ("a b", "character ' '"),
    ] {
        assert_fails_with(&create(&rt, &bundle, id), why);
    }
}

#[test]
fn unknown_subcommand_and_flag() {
    let rt = Runtime::rune();
    let out = rt.call(&["frobnicate"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{out:#?}"
    );
    let out = rt.call(&["list", "--no-such-flag"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("unexpected argument '--no-such-flag'"),
        "{out:#?}"
    );
}

#[test]
fn checkpoint_is_clearly_unsupported() {
    let out = Runtime::rune().call(&["checkpoint", "x"]);
    assert_fails_with(&out, "checkpoint is not supported");
}

#[test]
fn unwritable_state_root() {
    require_root!();
    let bundle = Bundle::busybox(&["true"]);
    let out = Runtime::rune().call(&[
        "--root",
        "/proc/rune-state",
        "create",
        "--bundle",
        &bundle.path().to_string_lossy(),
        "x",
    ]);
    assert_fails_with(&out, "creating state root /proc/rune-state");
}

#[test]
fn operations_on_missing_containers() {
    let rt = Runtime::rune();
    for verb in ["start", "state", "pause", "resume", "ps"] {
        assert_fails_with(
            &rt.call(&[verb, "ghost"]),
            "container \"ghost\" does not exist",
        );
    }
    assert_fails_with(&rt.call(&["kill", "ghost", "KILL"]), "does not exist");
    assert_fails_with(&rt.call(&["exec", "ghost", "true"]), "does not exist");
}

#[test]
fn duplicate_id_is_refused_and_keeps_the_first() {
    require_root!();
    let rt = Runtime::rune();
    let bundle = Bundle::busybox(&["sleep", "100"]);
    let id = unique_id("dup");
    create(&rt, &bundle, &id).ok();
    assert_fails_with(&create(&rt, &bundle, &id), "already exists");
    assert_eq!(rt.status(&id).as_deref(), Some("created"));
    rt.call(&["delete", "--force", &id]).ok();
}

#[test]
fn wrong_state_operations() {
    require_root!();
    let rt = Runtime::rune();
    let bundle = Bundle::busybox(&["true"]);
    let id = unique_id("states");
    create(&rt, &bundle, &id).ok();
    assert_fails_with(&rt.call(&["pause", &id]), "it is created, not running");
    assert_fails_with(&rt.call(&["resume", &id]), "not paused");
    assert_fails_with(
        &rt.call(&["exec", &id, "true"]),
        "it is created, not running",
    );
    rt.call(&["start", &id]).ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(rt.status(&id).as_deref(), Some("stopped"));
    assert_fails_with(&rt.call(&["start", &id]), "it is stopped, not created");
    assert_fails_with(&rt.call(&["kill", &id, "TERM"]), "it is stopped");
    rt.call(&["delete", &id]).ok();
}

#[test]
fn failed_create_leaves_nothing_behind() {
    require_root!();
    let rt = Runtime::rune();
    let pid_files = tempfile::tempdir().unwrap();
    let create_with_pid_file = |bundle: &Bundle, id: &str, pid_file: &std::path::Path| {
        rt.call(&[
            "create",
            "--pid-file",
            &pid_file.to_string_lossy(),
            "--bundle",
            &bundle.path().to_string_lossy(),
            id,
        ])
    };
    // Fails inside the container's init, after namespaces and cgroups exist, and after
    // libcontainer knows the init's pid: the pid file is written only for a created container.
    let bundle = Bundle::busybox(&["/no/such/program"]);
    let id = unique_id("leak-exec");
    let pid_file = pid_files.path().join("exec.pid");
    assert_fails_with(
        &create_with_pid_file(&bundle, &id, &pid_file),
        "exec \"/no/such/program\": No such file or directory",
    );
    assert_nothing_left(&rt, &id, &bundle);
    assert!(!pid_file.exists(), "pid file of a failed create");

    // Fails while mounting; a pid file that was there is left as it was, as runc does.
    let bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind", "source": "/nonexistent-source", "options": ["bind"]
        }));
    });
    let id = unique_id("leak-mount");
    let pid_file = pid_files.path().join("mount.pid");
    std::fs::write(&pid_file, "4242").unwrap();
    assert_fails_with(
        &create_with_pid_file(&bundle, &id, &pid_file),
        "/nonexistent-source",
    );
    assert_nothing_left(&rt, &id, &bundle);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), "4242");

    // Fails applying cgroup limits (hugetlb has no usable controller on this host class).
    let bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| {
        c["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 1048576}]);
    });
    let id = unique_id("leak-cgroup");
    let out = create(&rt, &bundle, &id);
    if out.code != 0 {
        assert_nothing_left(&rt, &id, &bundle);
    } else {
        rt.call(&["delete", "--force", &id]).ok();
    }
}
