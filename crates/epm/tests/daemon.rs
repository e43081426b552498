//! The `epm` binary as a daemon, driven through its socket with the library's client: the
//! handover it gives, staleness, tenants, bad requests, and its lifecycle (stale socket,
//! second instance, SIGTERM). Needs no root: the rootfs is a temp dir readable by the user.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use epm::{Client, ClientError};
use erpal_sim::handover::{self, HANDOVER_ADDR};
use erpal_sim::SignOptions;

const BUSYBOX: &str = "/bin/busybox";

struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, args: &[&str]) -> Self {
        let socket = dir.join("run/epm.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_epm"))
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Client::new(socket.clone()).status().is_err() {
            assert!(Instant::now() < deadline, "epm did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, socket }
    }

    fn client(&self) -> Client {
        Client::new(self.socket.clone())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signed bundle: busybox as entrypoint and `/data.bin` trusted; `None` without busybox.
fn signed_bundle(dir: &Path) -> Option<PathBuf> {
    if !Path::new(BUSYBOX).exists() {
        eprintln!("skipping: {BUSYBOX} is not installed (apt-get install busybox-static)");
        return None;
    }
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    std::fs::write(rootfs.join("data.bin"), vec![b'x'; 100_000]).unwrap();
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": { "path": "rootfs" },
        "process": { "args": ["/bin/busybox", "true"], "env": ["PATH=/bin"], "cwd": "/" }
    });
    std::fs::write(bundle.join("config.json"), config.to_string()).unwrap();
    let key =
        sgx::SigningKey::from_pem(include_str!("../../erpal-sim/tests/data/test-key.pem")).unwrap();
    erpal_sim::sign_bundle(
        &bundle,
        &key,
        &[PathBuf::from("/data.bin")],
        &SignOptions::default(),
    )
    .unwrap();
    Some(bundle)
}

fn acquire(client: &Client, tenant: &str, bundle: &Path) -> Result<epm::Acquired, ClientError> {
    let (manifest, sigstruct) = erpal_sim::image::image_paths(bundle);
    let (manifest, sigstruct) = (
        File::open(manifest).unwrap(),
        File::open(sigstruct).unwrap(),
    );
    client.acquire(
        tenant,
        &bundle.join("rootfs"),
        manifest.as_fd(),
        sigstruct.as_fd(),
        None,
    )
}

fn wait_ready(client: &Client, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.status().unwrap().enclaves != n {
        assert!(Instant::now() < deadline, "{:?}", client.status());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn handover_carries_the_image_and_every_file_measured() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bundle) = signed_bundle(dir.path()) else {
        return;
    };
    let daemon = Daemon::start(dir.path(), &[]);
    let client = daemon.client();

    let first = acquire(&client, "host", &bundle).unwrap();
    assert!(!first.hit);
    let busybox = std::fs::metadata(BUSYBOX).unwrap().len();
    assert_eq!(first.hashed_bytes, busybox + 100_000);
    let package = handover::receive(first.handover.as_fd(), HANDOVER_ADDR).unwrap();
    assert_eq!(package.header.tenant, "host");
    assert_eq!(package.header.entrypoint, "/bin/busybox");
    let paths: Vec<&str> = package
        .header
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(paths, ["/bin/busybox", "/data.bin"]);
    assert_eq!(hex::encode(package.header.mr_enclave.0), first.mr_enclave);
    let (manifest, sigstruct) = erpal_sim::image::image_paths(&bundle);
    assert_eq!(
        package.header.verified_image,
        Some(erpal_sim::measure::ImageDigest::of(
            &std::fs::read(&manifest).unwrap(),
            &std::fs::read(&sigstruct).unwrap()
        )),
        "the handover names the bytes epm verified"
    );
    let mut bytes = Vec::new();
    handover::read_all_at(&File::from(package.entrypoint), &mut bytes, u64::MAX).unwrap();
    assert_eq!(bytes, std::fs::read(BUSYBOX).unwrap());

    wait_ready(&client, 1);
    let second = acquire(&client, "host", &bundle).unwrap();
    assert!(second.hit);
    assert_eq!(
        second.hashed_bytes, 0,
        "every measurement came from the cache"
    );
    // Another tenant never gets it.
    wait_ready(&client, 1);
    let other = acquire(&client, "label:other", &bundle).unwrap();
    assert!(!other.hit);
    assert_eq!(
        other.hashed_bytes, busybox,
        "only the entrypoint copy is made anew"
    );
    let status = client.status().unwrap();
    assert_eq!((status.hits, status.misses), (1, 2));
}

/// A daemon that handed out one enclave of a signed bundle and refilled its pool.
fn handed_out_once(dir: &Path) -> Option<(PathBuf, Daemon, Client)> {
    let bundle = signed_bundle(dir)?;
    let daemon = Daemon::start(dir, &[]);
    let client = daemon.client();
    acquire(&client, "host", &bundle).unwrap();
    wait_ready(&client, 1);
    Some((bundle, daemon, client))
}

#[test]
fn a_changed_file_is_refused_and_its_image_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let Some((bundle, _daemon, client)) = handed_out_once(dir.path()) else {
        return;
    };
    std::fs::write(bundle.join("rootfs/data.bin"), vec![b'y'; 100_000]).unwrap();
    let err = acquire(&client, "host", &bundle).unwrap_err().to_string();
    assert!(
        err.starts_with("epm refused: trusted file /data.bin in rootfs ")
            && err.contains("was modified: sha256 is "),
        "{err}"
    );
    let status = client.status().unwrap();
    assert_eq!((status.stale, status.enclaves), (1, 0));
    assert!(status.pools.is_empty(), "{status:?}");
}

#[test]
fn an_image_verified_before_is_verified_again_when_its_bytes_change() {
    let dir = tempfile::tempdir().unwrap();
    let Some((bundle, _daemon, client)) = handed_out_once(dir.path()) else {
        return;
    };
    // Same MRENCLAVE and MRSIGNER, a byte of the signature flipped: verified again, refused.
    let (_, sigstruct) = erpal_sim::image::image_paths(&bundle);
    let mut bytes = std::fs::read(&sigstruct).unwrap();
    bytes[600] ^= 1;
    std::fs::write(&sigstruct, &bytes).unwrap();
    let err = acquire(&client, "host", &bundle).unwrap_err().to_string();
    assert!(
        err.starts_with("epm refused: ") && err.contains("does not verify"),
        "{err}"
    );
    bytes[600] ^= 1;
    std::fs::write(&sigstruct, &bytes).unwrap();
    assert!(acquire(&client, "host", &bundle).unwrap().hit);
}

#[test]
fn bad_requests_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bundle) = signed_bundle(dir.path()) else {
        return;
    };
    let daemon = Daemon::start(dir.path(), &[]);
    let client = daemon.client();
    let err = acquire(&client, "a tenant", &bundle)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "epm refused: epm tenant \"a tenant\" is invalid: only ASCII letters, digits and -_.:/ are allowed"
    );
    // The SIGSTRUCT of another manifest does not sign this one.
    let (manifest, _) = erpal_sim::image::image_paths(&bundle);
    let wrong = File::open(&manifest).unwrap();
    let err = client
        .acquire(
            "host",
            &bundle.join("rootfs"),
            wrong.as_fd(),
            wrong.as_fd(),
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("epm refused: the image's sigstruct is not valid"),
        "{err}"
    );
}

#[test]
fn lifecycle_stale_socket_second_instance_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/epm.sock");
    let missing = Client::new(socket.clone()).status().unwrap_err();
    assert!(
        matches!(missing, ClientError::Unavailable { .. }),
        "{missing}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_epm"))
        .args(["status", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "epm: epm is not running at {}: No such file or directory (os error 2)\n",
            socket.display()
        )
    );

    let mut first = Daemon::start(dir.path(), &[]);
    let second = Command::new(env!("CARGO_BIN_EXE_epm"))
        .arg("--socket")
        .arg(&socket)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another epm is listening"));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(first.child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(first.child.wait().unwrap().success());
    assert!(!socket.exists(), "SIGTERM removes the socket");

    // A socket left by a killed daemon is replaced.
    let mut killed = Daemon::start(dir.path(), &[]);
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    assert!(socket.exists());
    let _again = Daemon::start(dir.path(), &[]);

    let out = Command::new(env!("CARGO_BIN_EXE_epm"))
        .args(["--max-memory", "12X"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("invalid size \"12X\": expected bytes, or a number with K, M or G"));
}
