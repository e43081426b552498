//! Enclave containers in the software TEE (`liberpal-sim.so`): signing, measurement, running,
//! tampering, attestation. The sim platform secrets go to a per-test directory (RUNE_SIM_DIR).

use rune_integration_tests::sim::Sim;
use rune_integration_tests::{cgroups_named, require_root, unique_id, Bundle, Outcome};
use serde_json::Value;

/// The workload's own lines, without the enclave runtime's log lines.
fn workload_stderr(out: &Outcome) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| !l.contains(" INFO ") && !l.contains(" ERROR "))
        .collect()
}

#[test]
fn signed_bundle_runs_in_the_sim_enclave() {
    require_root!();
    let sim = Sim::new();
    let bundle = sim.bundle(&["sh", "-c", "echo in-sim-enclave; echo err >&2; exit 6"]);
    let m = sim.sign(&bundle, &sim.key("k1.pem"));
    assert_eq!(m["mrenclave"].as_str().unwrap().len(), 64);
    let out = sim.run(&bundle, "sim-run");
    assert_eq!(out.code, 6, "{out:#?}");
    assert_eq!(out.stdout, "in-sim-enclave\n");
    assert_eq!(workload_stderr(&out), ["err"]);
    assert!(
        out.stderr.contains("tee=\"sim\""),
        "the runtime's log says sim: {out:#?}"
    );
    assert!(
        sim.platform.path().join("sim/platform_secret").exists(),
        "platform created on first use"
    );
}

#[test]
fn an_image_signed_in_its_rootfs_runs_and_its_signature_is_not_followed_out() {
    require_root!();
    let sim = Sim::new();
    let key = sim.key("k1.pem");
    let bundle = sim.bundle(&["sh", "-c", "echo signed-in-rootfs"]);
    // --include / as well: the signature written into the rootfs must not become a trusted file
    // of a later signing.
    sim.sign_with(&bundle, &key, &["--in-rootfs"]);
    let m = sim.sign_with(&bundle, &key, &["--in-rootfs", "--include", "/etc"]);
    assert!(
        !bundle.path().join("enclave").exists(),
        "nothing in the bundle"
    );
    assert!(bundle.rootfs().join(".enclave/sigstruct.bin").exists());
    let out = sim.run(&bundle, "sim-in-rootfs");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "signed-in-rootfs\n"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains(m["mrenclave"].as_str().unwrap()),
        "{out:#?}"
    );

    // An image whose /.enclave leads out of its rootfs is not followed there.
    let elsewhere = tempfile::tempdir().unwrap();
    let signature = bundle.rootfs().join(".enclave");
    std::fs::rename(&signature, elsewhere.path().join("enclave")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("enclave"), &signature).unwrap();
    let id = unique_id("sim-in-rootfs-link");
    let out = sim.rt.run(&bundle, &id);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.is_empty(), "{out:#?}");
    assert!(
        out.stderr
            .contains(".enclave is a symbolic link or not a directory"),
        "{out:#?}"
    );
    assert!(sim.rt.leftover_state().iter().all(|e| e.starts_with('.')));
    assert!(cgroups_named(&id).is_empty());
}

#[test]
fn tampered_trusted_file_is_refused_and_measurement_changes() {
    require_root!();
    let sim = Sim::new();
    let key = sim.key("k1.pem");
    let bundle = sim.bundle(&["sh", "-c", "echo should-not-run"]);
    let before = sim.sign(&bundle, &key);
    let busybox = bundle.rootfs().join("bin/busybox");
    let mut bytes = std::fs::read(&busybox).unwrap();
    bytes.push(0);
    std::fs::write(&busybox, &bytes).unwrap();
    let id = unique_id("sim-tampered");
    let out = sim.rt.run(&bundle, &id);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(!out.stdout.contains("should-not-run"));
    assert!(
        out.stderr
            .contains("trusted file /bin/busybox was modified"),
        "{out:#?}"
    );
    assert!(
        sim.rt.leftover_state().iter().all(|e| e.starts_with('.')),
        "{:?}",
        sim.rt.leftover_state()
    );
    assert!(cgroups_named(&id).is_empty());

    let after = sim.sign(&bundle, &key);
    assert_ne!(
        before["mrenclave"], after["mrenclave"],
        "re-signing a changed file changes MRENCLAVE"
    );
    assert_eq!(before["mrsigner"], after["mrsigner"]);
    let other = sim.sign(&bundle, &sim.key("k2.pem"));
    assert_ne!(
        other["mrsigner"], after["mrsigner"],
        "another key gives another MRSIGNER"
    );
    assert_eq!(other["mrenclave"], after["mrenclave"]);
    assert_eq!(sim.run(&bundle, "sim-resigned").code, 0);
}

#[test]
fn changed_manifest_is_refused_at_create() {
    require_root!();
    let sim = Sim::new();
    let bundle = sim.bundle(&["true"]);
    sim.sign(&bundle, &sim.key("k1.pem"));
    let manifest = bundle.path().join("enclave/manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"isv_svn\": 0", "\"isv_svn\": 1");
    std::fs::write(&manifest, text).unwrap();
    let out = sim.rt.call(&[
        "create",
        "--bundle",
        &bundle.path().to_string_lossy(),
        &unique_id("sim-manifest"),
    ]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("measurement mismatch"), "{out:#?}");
    assert!(
        out.stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("rune: creating container"),
        "{out:#?}"
    );
    assert!(sim.rt.leftover_state().iter().all(|e| e.starts_with('.')));
}

#[test]
fn attest_gives_a_report_and_a_quote_that_verifies() {
    require_root!();
    let sim = Sim::new();
    let bundle = sim.bundle(&["sleep", "1000"]);
    let m = sim.sign(&bundle, &sim.key("k1.pem"));
    let id = unique_id("sim-attest");
    sim.rt
        .call(&[
            "run",
            "-d",
            "--bundle",
            &bundle.path().to_string_lossy(),
            &id,
        ])
        .ok();

    let report: Value = serde_json::from_str(
        &sim.rt
            .call(&["attest", &id, "--report-data", "cafe"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(report["tee"], "sim");
    let report = hex_decode(report["report"].as_str().unwrap());
    assert_eq!(report.len(), 432);
    assert_eq!(
        hex_encode(&report[64..96]),
        m["mrenclave"].as_str().unwrap()
    );
    assert_eq!(&report[320..322], &[0xca, 0xfe]);

    let dir = tempfile::tempdir().unwrap();
    let quote = dir.path().join("quote");
    sim.rt
        .call(&[
            "attest",
            &id,
            "--quote",
            "--report-data",
            "beef",
            "--output",
            &quote.to_string_lossy(),
        ])
        .ok();
    let root = sim.platform.path().join("sim/root_ca.pem");
    let out = sim.rt.call(&[
        "enclave",
        "verify-quote",
        "--quote",
        &quote.to_string_lossy(),
        "--root-ca",
        &root.to_string_lossy(),
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    let verdict: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(verdict["tee"], "sim");
    assert_eq!(verdict["mrenclave"], m["mrenclave"]);
    assert_eq!(verdict["mrsigner"], m["mrsigner"]);
    assert!(verdict["report_data"]
        .as_str()
        .unwrap()
        .starts_with("beef00"));
    // Without the sim root, a sim quote is never accepted.
    let out = sim.rt.call(&[
        "enclave",
        "verify-quote",
        "--quote",
        &quote.to_string_lossy(),
    ]);
    assert_eq!(out.code, 1, "{out:#?}");

    let plain = unique_id("not-enclave");
    let plain_bundle = Bundle::busybox(&["sleep", "100"]);
    sim.rt
        .call(&[
            "run",
            "-d",
            "--bundle",
            &plain_bundle.path().to_string_lossy(),
            &plain,
        ])
        .ok();
    let out = sim.rt.call(&["attest", &plain]);
    assert!(
        out.stderr.contains("is not an enclave container"),
        "{out:#?}"
    );
}

#[test]
fn inspect_shows_manifest_and_sigstruct() {
    let sim = Sim::new();
    let bundle = sim.bundle(&["true"]);
    sim.sign(&bundle, &sim.key("k1.pem"));
    let out = sim
        .rt
        .call(&[
            "enclave",
            "inspect",
            "--bundle",
            &bundle.path().to_string_lossy(),
        ])
        .ok();
    let inspection: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(inspection["tee"], "sim");
    assert_eq!(inspection["valid"], true);
    assert!(inspection["sigstruct"]["mrsigner"].is_string());
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn exec_into_a_sim_enclave_signed_for_any_args() {
    require_root!();
    let sim = Sim::new();
    let bundle = sim.bundle(&["sleep", "1000"]);
    let key = sim.key("k1.pem");
    sim.sign_with(&bundle, &key, &["--any-args"]);
    let id = unique_id("sim-exec");
    sim.rt
        .call(&[
            "run",
            "-d",
            "--bundle",
            &bundle.path().to_string_lossy(),
            &id,
        ])
        .ok();
    let out = sim
        .rt
        .call(&["exec", &id, "sh", "-c", "echo exec in sim; exit 3"]);
    assert_eq!(out.code, 3, "{out:#?}");
    assert_eq!(out.stdout, "exec in sim\n");
    sim.rt.call(&["delete", "--force", &id]).ok();
}
