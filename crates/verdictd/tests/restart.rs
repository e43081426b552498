//! Persistence: the real binary, stopped cleanly or killed with SIGKILL, keeps its data.

mod common;

use std::process::Command;

use common::*;

fn admin_cli(url: &str, token_file: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_verdictd"))
        .args(["admin", "--url", url, "--token-file"])
        .arg(token_file)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn data_survives_restart_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (quoter, root) = sim_pki(dir.path());
    let data = dir.path().join("data");
    let token_file = data.join("admin-token");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"persisted secret").unwrap();
    let policy = dir.path().join("attestation.rego");
    std::fs::write(&policy, ALLOW_SIM_POLICY).unwrap();

    let port = free_port();
    let mut server = Binary::start(&data, port, &root);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    admin_cli(
        &server.url,
        &token_file,
        &["set-resource", "default/key/1", secret.to_str().unwrap()],
    );
    admin_cli(
        &server.url,
        &token_file,
        &["set-resource", "default/key/2", secret.to_str().unwrap()],
    );
    admin_cli(
        &server.url,
        &token_file,
        &["set-attestation-policy", policy.to_str().unwrap()],
    );
    admin_cli(
        &server.url,
        &token_file,
        &["set-reference-value", "mrenclave", &hex::encode(MRENCLAVE)],
    );
    admin_cli(
        &server.url,
        &token_file,
        &["delete-resource", "default/key/2"],
    );

    // Clean stop (SIGTERM), restart.
    let pid = i32::try_from(server.child.id()).unwrap();
    assert!(send_signal(pid, "TERM"));
    server.child.wait().unwrap();
    let server = Binary::start(&data, port, &root);
    assert_eq!(
        admin_cli(&server.url, &token_file, &["list-resources"]),
        "default/key/1\n"
    );

    // Write, then SIGKILL at once, restart.
    std::fs::write(&secret, b"written before kill").unwrap();
    admin_cli(
        &server.url,
        &token_file,
        &["set-resource", "default/key/3", secret.to_str().unwrap()],
    );
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let server = Binary::start(&data, port, &root);
    assert_eq!(
        admin_cli(&server.url, &token_file, &["list-resources"]),
        "default/key/1\ndefault/key/3\n"
    );
    // The policy and reference values survived too: the secret is delivered.
    let mut client =
        attestation::kbs::KbsClient::new(&server.url, attestation::kbs::ClientTls::WebPkiRoots)
            .unwrap()
            .with_provider(sim_provider(quoter, MRENCLAVE, false));
    let got = client
        .get_resource(&attestation::kbs::ResourcePath::parse("default/key/3").unwrap())
        .unwrap();
    assert_eq!(got.as_slice(), b"written before kill");
}

/// Send a signal with kill(1), keeping this crate free of unsafe code.
fn send_signal(pid: i32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success()
}

#[test]
fn cli_version_and_bad_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_verdictd"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("verdictd "));
    let out = Command::new(env!("CARGO_BIN_EXE_verdictd"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no data directory"));
}
