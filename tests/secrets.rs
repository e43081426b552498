//! The in-enclave attestation API and secret delivery, end to end: sim enclave containers
//! attesting to a real verdictd (TLS on its generated certificate), CoCo's api-server-rest
//! paths on 127.0.0.1:8006 and on the container's unix socket.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use attestation::local_api::{Endpoint, LocalApi};
use base64::Engine as _;
use rune_integration_tests::sim::Sim;
use rune_integration_tests::{
    built_binary, free_port, require_root, unique_id, wait_until, Bundle,
};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A verdictd on a free loopback port with its own data directory, trusting `sim`'s root.
struct Verdictd {
    child: Child,
    data: TempDir,
    url: String,
}

impl Verdictd {
    fn start(sim: &Sim) -> Self {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(data.path().join("verdictd.log")).unwrap();
        let child = Command::new(built_binary("verdictd"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data.path().join("store"))
            .arg("--sim-root-ca")
            .arg(sim.platform.path().join("sim/root_ca.pem"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting verdictd");
        let verdictd = Self {
            child,
            data,
            url: format!("https://127.0.0.1:{port}"),
        };
        let up = wait_until(Duration::from_secs(20), || {
            verdictd.admin(&["list-resources"]).status.success()
        });
        assert!(up, "verdictd did not start: {}", verdictd.log());
        verdictd
    }

    fn cert(&self) -> PathBuf {
        self.data.path().join("store/tls/cert.pem")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("verdictd.log")).unwrap_or_default()
    }

    fn admin(&self, args: &[&str]) -> std::process::Output {
        Command::new(built_binary("verdictd"))
            .args(["admin", "--url", &self.url, "--token-file"])
            .arg(self.data.path().join("store/admin-token"))
            .arg("--ca-cert")
            .arg(self.cert())
            .args(args)
            .output()
            .expect("verdictd admin")
    }

    fn admin_ok(&self, args: &[&str]) {
        let out = self.admin(args);
        assert!(
            out.status.success(),
            "verdictd admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Accepts this host's sim TEE for the given MRENCLAVE values (the demo's policy).
    fn allow_sim_for(&self, mrenclaves: &[&str]) {
        let policy = rune_integration_tests::workspace().join("examples/demo/attestation-sim.rego");
        self.admin_ok(&["set-attestation-policy", &policy.to_string_lossy()]);
        let mut args = vec!["set-reference-value", "mrenclave"];
        args.extend_from_slice(mrenclaves);
        self.admin_ok(&args);
    }

    fn set_resource(&self, path: &str, bytes: &[u8]) {
        let file = self.data.path().join("resource.bin");
        std::fs::write(&file, bytes).unwrap();
        self.admin_ok(&["set-resource", path, &file.to_string_lossy()]);
    }
}

impl Drop for Verdictd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sim enclave bundle that reaches `verdictd` (host network namespace) for `secrets`.
fn kbs_bundle(sim: &Sim, verdictd: &Verdictd, secrets: &[&str], args: &[&str]) -> Bundle {
    let bundle = sim.bundle(args);
    let cert = verdictd.cert().to_string_lossy().into_owned();
    bundle.edit(|c| {
        let env = c["process"]["env"].as_array_mut().unwrap();
        env.push(json!(format!("ENCLAVE_KBS_URL={}", verdictd.url)));
        env.push(json!(format!("ENCLAVE_KBS_CERT={cert}")));
        if !secrets.is_empty() {
            env.push(json!(format!("ENCLAVE_SECRETS={}", secrets.join(","))));
        }
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|ns| ns["type"] != "network");
    });
    bundle
}

fn mrenclave(measure: &Value) -> String {
    measure["mrenclave"].as_str().unwrap().to_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn secrets_reach_the_registered_image_on_a_tmpfs_and_a_changed_image_is_refused() {
    require_root!();
    let sim = Sim::new();
    let key = sim.key("tenant.pem");
    // The platform (and its root CA) exists once a first enclave has been signed and run.
    sim.create_platform(&key);
    let verdictd = Verdictd::start(&sim);
    let secret = b"tenant secret: 0123456789abcdef";
    verdictd.set_resource("tenant/keys/db", secret);

    let script = "cat /run/secrets/tenant/keys/db; echo; grep ' /run/secrets ' /proc/mounts; \
                  stat -c '%a %s' /run/secrets/tenant/keys/db";
    let bundle = kbs_bundle(
        &sim,
        &verdictd,
        &["kbs:///tenant/keys/db"],
        &["sh", "-c", script],
    );
    let measured = sim.sign(&bundle, &key);
    verdictd.allow_sim_for(&[&mrenclave(&measured)]);

    let out = sim.run(&bundle, "secret-ok");
    assert_eq!(out.code, 0, "{out:#?}\nverdictd: {}", verdictd.log());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], std::str::from_utf8(secret).unwrap());
    assert!(
        lines[1].starts_with("tmpfs /run/secrets tmpfs "),
        "{lines:?}"
    );
    assert_eq!(lines[2], format!("400 {}", secret.len()));
    // Never on the container's writable layer (nor anywhere in the bundle).
    let leaked: Vec<PathBuf> = files_under(bundle.path())
        .into_iter()
        .filter(|p| std::fs::read(p).is_ok_and(|b| b.windows(secret.len()).any(|w| w == secret)))
        .collect();
    assert!(leaked.is_empty(), "secret found in {leaked:?}");

    // Another command, re-signed with the same key: another MRENCLAVE, no secret, no start.
    bundle.edit(|c| c["process"]["args"] = json!(["sh", "-c", "echo started-anyway"]));
    let changed = sim.sign(&bundle, &key);
    assert_ne!(mrenclave(&changed), mrenclave(&measured));
    let id = unique_id("secret-changed");
    let out = sim.rt.run(&bundle, &id);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(!out.stdout.contains("started-anyway"));
    let reason = out
        .stderr
        .lines()
        .find(|l| l.starts_with("rune:"))
        .unwrap_or("");
    assert!(
        reason.contains("secret kbs:///tenant/keys/db was not delivered")
            && reason.contains("403")
            && reason.contains("executables=33"),
        "{out:#?}"
    );
    assert!(
        sim.rt.leftover_state().iter().all(|e| e.starts_with('.')),
        "state left behind: {:?}",
        sim.rt.leftover_state()
    );
    assert_eq!(sim.rt.status(&id), None);
}

#[test]
fn missing_secret_or_unreachable_kbs_fail_the_create_with_the_reason() {
    require_root!();
    let sim = Sim::new();
    let key = sim.key("tenant.pem");
    sim.create_platform(&key);
    let verdictd = Verdictd::start(&sim);

    let bundle = kbs_bundle(&sim, &verdictd, &["kbs:///tenant/keys/absent"], &["true"]);
    let measured = sim.sign(&bundle, &key);
    verdictd.allow_sim_for(&[&mrenclave(&measured)]);
    let out = sim.run(&bundle, "secret-missing");
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("kbs:///tenant/keys/absent was not delivered")
            && out.stderr.contains("404"),
        "{out:#?}"
    );

    // The default policy denies sim evidence.
    let strict = Verdictd::start(&sim);
    strict.set_resource("tenant/keys/db", b"x");
    let bundle = kbs_bundle(&sim, &strict, &["kbs:///tenant/keys/db"], &["true"]);
    sim.sign(&bundle, &key);
    let out = sim.run(&bundle, "secret-default-policy");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("contraindicated"), "{out:#?}");

    let down = format!("https://127.0.0.1:{}", free_port());
    bundle.edit(|c| {
        for e in c["process"]["env"].as_array_mut().unwrap() {
            if e.as_str().unwrap().starts_with("ENCLAVE_KBS_URL=") {
                *e = json!(format!("ENCLAVE_KBS_URL={down}"));
            }
        }
    });
    let out = sim.run(&bundle, "secret-kbs-down");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains(&down), "{out:#?}");
    assert!(sim.rt.leftover_state().iter().all(|e| e.starts_with('.')));
}

#[test]
fn evidence_on_127_0_0_1_8006_in_the_container_network_namespace() {
    require_root!();
    let sim = Sim::new();
    let script = "wget -q -O - 'http://127.0.0.1:8006/aa/evidence?runtime_data=rune-nonce-42'";
    let bundle = sim.bundle(&["sh", "-c", script]);
    let measured = sim.sign(&bundle, &sim.key("k.pem"));
    let out = sim.run(&bundle, "api-tcp");
    assert_eq!(out.code, 0, "{out:#?}");
    let evidence: Value = serde_json::from_str(out.stdout.trim()).expect("evidence json");
    let quote = base64::engine::general_purpose::STANDARD
        .decode(evidence["quote"].as_str().unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let quote_file = dir.path().join("quote.bin");
    std::fs::write(&quote_file, &quote).unwrap();
    let root = sim.platform.path().join("sim/root_ca.pem");
    let verified = sim
        .rt
        .call(&[
            "enclave",
            "verify-quote",
            "--quote",
            &quote_file.to_string_lossy(),
            "--root-ca",
            &root.to_string_lossy(),
        ])
        .ok();
    let claims: Value = serde_json::from_str(&verified.stdout).unwrap();
    assert_eq!(claims["tee"], "sim");
    assert_eq!(claims["mrenclave"], measured["mrenclave"]);
    let mut report_data = b"rune-nonce-42".to_vec();
    report_data.resize(64, 0);
    assert_eq!(claims["report_data"], hex(&report_data));
}

#[test]
fn token_and_resources_over_the_container_unix_socket() {
    require_root!();
    let sim = Sim::new();
    let key = sim.key("k.pem");
    sim.create_platform(&key);
    let verdictd = Verdictd::start(&sim);
    verdictd.set_resource("tenant/keys/api", b"resource-over-socket");
    let bundle = kbs_bundle(&sim, &verdictd, &[], &["sleep", "60"]);
    let measured = sim.sign(&bundle, &key);
    verdictd.allow_sim_for(&[&mrenclave(&measured)]);
    let id = unique_id("api-unix");
    sim.rt
        .call(&[
            "run",
            "--detach",
            "--bundle",
            &bundle.path().to_string_lossy(),
            &id,
        ])
        .ok();
    let pid = sim.rt.call(&["state", &id]).ok().stdout;
    let pid = serde_json::from_str::<Value>(&pid).unwrap()["pid"]
        .as_i64()
        .unwrap();
    // The socket lives in the container's mount namespace: reach it through its root.
    let socket = PathBuf::from(format!("/proc/{pid}/root/run/enclave/api.sock"));
    let api = LocalApi::new(Endpoint::Unix(socket));
    let get = |target: &str| {
        let (status, body) = api.get(target).unwrap();
        (status, body.to_vec())
    };

    let (status, body) = get("/cdh/resource/tenant/keys/api");
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"resource-over-socket"[..])
    );
    let (status, body) = get("/aa/token?token_type=kbs");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let token: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(token["token"].as_str().unwrap().split('.').count(), 3);
    assert!(token["tee_keypair"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    let (status, body) = get("/cdh/resource/tenant/keys/none");
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    let (status, _) = get("/cdh/resource/tenant/../etc");
    assert_eq!(status, 400);
    // The host network namespace: no TCP listener on the host's loopback.
    assert!(std::net::TcpStream::connect("127.0.0.1:8006").is_err());
    sim.rt.call(&["delete", "--force", &id]).ok();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
