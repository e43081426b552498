//! The `rune` binary's command line, without containers (no root needed). Having an integration
//! test here also makes `cargo test` build the `rune` binary that the root-only suites in
//! `tests/` drive.

use std::process::Command;

fn rune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rune"))
        .args(args)
        .output()
        .expect("running rune")
}

#[test]
fn version_names_the_commit_and_spec() {
    let out = rune(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("rune "), "{text}");
    assert!(text.contains("\ncommit: "), "{text}");
    assert!(text.contains("\nspec: "), "{text}");
}

#[test]
fn unknown_subcommand_fails() {
    let out = rune(&["frobnicate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[test]
fn completion_scripts_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _rune"),
        ("zsh", "#compdef rune"),
        ("fish", "complete -c rune"),
    ] {
        let out = rune(&["completion", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(marker),
            "{shell} script lacks {marker:?}"
        );
    }
    let out = rune(&["completion", "tcsh"]);
    assert!(!out.status.success());
}

/// `rune check` exits 1 exactly when a line says FAIL, and ends with the summary.
#[test]
fn check_exit_status_follows_its_findings() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[enclave_runtime.gone]\npath = \"/nonexistent/liberpal-x.so\"\n",
    )
    .unwrap();
    let out = rune(&["check", "--config", config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  pal gone"), "{text}");
    assert!(
        text.contains("hint: install the enclave runtime or fix enclave_runtime.gone.path"),
        "{text}"
    );

    std::fs::write(&config, "").unwrap();
    let out = rune(&[
        "check",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let failed = findings.iter().any(|f| f["status"] == "FAIL");
    assert_eq!(out.status.code(), Some(i32::from(failed)), "{findings:?}");
    for name in ["cgroups", "seccomp", "sgx", "aesmd", "epm", "verdictd"] {
        assert!(
            findings.iter().any(|f| f["name"] == name),
            "no {name} finding"
        );
    }
}

/// `--progress` draws on stderr when it is not a terminal; stdout keeps only the result.
#[test]
fn sign_progress_goes_to_stderr() {
    let busybox = std::path::Path::new("/bin/busybox");
    if !busybox.exists() {
        eprintln!("skipping: /bin/busybox is not installed (apt-get install busybox-static)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    std::fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
    std::fs::create_dir_all(bundle.join("rootfs/data")).unwrap();
    std::fs::copy(busybox, bundle.join("rootfs/bin/busybox")).unwrap();
    std::fs::write(bundle.join("rootfs/data/blob"), vec![7u8; 1 << 20]).unwrap();
    std::fs::write(
        bundle.join("config.json"),
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["/bin/busybox","true"],"cwd":"/"}}"#,
    )
    .unwrap();
    let key = dir.path().join("key.pem");
    let out = rune(&["enclave", "keygen", "--output", key.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let args = [
        "enclave",
        "sign",
        "--bundle",
        bundle.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--include",
        "/data",
    ];
    let quiet = rune(&args);
    assert!(quiet.status.success(), "{quiet:?}");
    assert!(
        !String::from_utf8_lossy(&quiet.stderr).contains("sign ["),
        "a bar without a terminal or --progress"
    );
    let out = rune(&[&args[..], &["--progress"]].concat());
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.starts_with("manifest: "), "{stdout}");
    assert!(!stdout.contains("sign ["), "progress on stdout: {stdout}");
    assert!(stderr.contains("sign ["), "no progress on stderr: {stderr}");
    assert!(stderr.contains("files hashed; signing"), "{stderr}");
}
