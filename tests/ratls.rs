//! Mutual RA-TLS between two sim enclave containers: each peer (the `ratls_peer` example of
//! the attestation crate, a measured entrypoint) puts a quote of its own enclave, from its
//! container's attestation API, into a fresh certificate, and accepts only the other's
//! MRENCLAVE chained to the host's sim root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rune_integration_tests::sim::Sim;
use rune_integration_tests::{
    built_binary, free_port, require_root, unique_id, wait_until, Bundle,
};
use serde_json::json;

/// Where the sim root CA certificate is mounted in the peers.
const ROOT_IN_CONTAINER: &str = "/etc/rune-sim-root.pem";

/// A peer bundle: busybox, the `ratls_peer` binary with the shared libraries it needs (all
/// trusted files of the image), the host's sim root mounted read-only. Signed with
/// `--any-args` (the peer's address and expectations are arguments) and its own product id,
/// so each peer has its own MRENCLAVE. Returns the bundle and its MRENCLAVE.
fn peer(sim: &Sim, key: &Path, prod_id: u16) -> (Bundle, String) {
    let bundle = sim.bundle(&["/bin/ratls_peer"]);
    let rootfs = bundle.rootfs();
    let program = built_binary("ratls_peer");
    let mut includes = Vec::new();
    for lib in shared_libraries(&program) {
        let inside = rootfs.join(lib.strip_prefix("/").unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::copy(&lib, &inside).unwrap();
        includes.push(lib);
    }
    std::fs::copy(&program, rootfs.join("bin/ratls_peer")).unwrap();
    let root = sim.platform.path().join("sim/root_ca.pem");
    bundle.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": ROOT_IN_CONTAINER, "type": "bind",
            "source": root.to_string_lossy(), "options": ["rbind", "ro"],
        }));
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|ns| ns["type"] != "network");
    });
    let prod_id = prod_id.to_string();
    let mut flags = vec!["--any-args", "--isv-prod-id", &prod_id];
    let includes: Vec<String> = includes
        .iter()
        .map(|l| l.to_string_lossy().into_owned())
        .collect();
    for lib in &includes {
        flags.extend(["--include", lib.as_str()]);
    }
    sim.sign_with(&bundle, key, &flags);
    let mrenclave = sim.measure(&bundle)["mrenclave"]
        .as_str()
        .unwrap()
        .to_owned();
    (bundle, mrenclave)
}

/// The shared libraries (and loader) `program` links, from `ldd`.
fn shared_libraries(program: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(program).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            line.split_whitespace()
                .find(|word| word.starts_with('/'))
                .map(PathBuf::from)
        })
        .collect()
}

/// `ratls_peer serve --listen ADDRESS` or `connect --to ADDRESS`, expecting `peer_mrenclave`.
fn set_peer_args(bundle: &Bundle, mode: &str, address: &str, peer_mrenclave: &str) {
    let flag = if mode == "serve" { "--listen" } else { "--to" };
    bundle.edit(|c| {
        c["process"]["args"] = json!([
            "/bin/ratls_peer",
            mode,
            flag,
            address,
            "--peer-mrenclave",
            peer_mrenclave,
            "--sim-root",
            ROOT_IN_CONTAINER
        ])
    });
}

#[test]
fn two_sim_enclave_containers_attest_each_other() {
    require_root!();
    let sim = Sim::new();
    let key = sim.key("vendor.pem");
    sim.create_platform(&key);
    let (server, server_mr) = peer(&sim, &key, 1);
    let (client, client_mr) = peer(&sim, &key, 2);
    let (stranger, stranger_mr) = peer(&sim, &key, 3);
    assert!(server_mr != client_mr && client_mr != stranger_mr);

    // The genuine client is accepted, both ways.
    let address = format!("127.0.0.1:{}", free_port());
    set_peer_args(&server, "serve", &address, &client_mr);
    set_peer_args(&client, "connect", &address, &server_mr);
    let server_id = unique_id("ratls-server");
    let logs = tempfile::tempdir().unwrap();
    let server_out = logs.path().join("server.out");
    let server_run = spawn_detached(&sim, &server, &server_id, &server_out);
    assert!(
        wait_until(Duration::from_secs(60), || read(&server_out)
            .contains("listening")),
        "server did not start: {}",
        read(&server_out)
    );
    let out = sim.run(&client, "ratls-client");
    assert_eq!(out.code, 0, "{out:#?}\nserver: {}", read(&server_out));
    assert!(
        out.stdout
            .contains(&format!("server attested: tee=sim mrenclave={server_mr}")),
        "{out:#?}"
    );
    assert!(out
        .stdout
        .contains("received: hello from the server enclave"));
    let status = server_run.wait_with_output().unwrap();
    let server_log = read(&server_out);
    assert!(status.status.success(), "{server_log}");
    assert!(
        server_log.contains(&format!("client attested: tee=sim mrenclave={client_mr}")),
        "{server_log}"
    );

    // Another enclave of the same vendor, same key, is refused by the server's policy.
    let address = format!("127.0.0.1:{}", free_port());
    set_peer_args(&server, "serve", &address, &client_mr);
    set_peer_args(&stranger, "connect", &address, &server_mr);
    let server_out = logs.path().join("server2.out");
    let server_run = spawn_detached(&sim, &server, &unique_id("ratls-server2"), &server_out);
    assert!(wait_until(Duration::from_secs(60), || read(&server_out)
        .contains("listening")));
    let out = sim.run(&stranger, "ratls-stranger");
    assert_ne!(out.code, 0, "the stranger was accepted: {out:#?}");
    let status = server_run.wait_with_output().unwrap();
    let server_log = read(&server_out);
    assert!(!status.status.success());
    assert!(
        server_log.contains("mrenclave") && server_log.contains(&stranger_mr[..16]),
        "the server names the refused measurement: {server_log}"
    );
}

/// `rune run` of `bundle` in the background, stdout and stderr to `out`.
fn spawn_detached(sim: &Sim, bundle: &Bundle, id: &str, out: &Path) -> std::process::Child {
    let file = std::fs::File::create(out).unwrap();
    sim.rt
        .command(&["run", "--bundle", &bundle.path().to_string_lossy(), id])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
