//! Shared fixtures: a bundle whose rootfs holds a copy of busybox, signed with a test key.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use erpal_sim::{sign_bundle, SignOptions, SignedImage};
use sgx::SigningKey;

/// Where Debian's busybox-static installs busybox.
pub const BUSYBOX: &str = "/bin/busybox";

/// A fixed RSA-3072, e = 3 test key (the sgx crate's known-answer signing key): generating
/// one takes seconds in a debug build.
pub fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_pem(include_str!("../data/test-key.pem")).unwrap())
}

/// A second fixed test key, for MRSIGNER tests.
pub fn other_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_pem(include_str!("../data/other-key.pem")).unwrap())
}

/// A temp dir with `bundle/` (config.json, rootfs/bin/busybox, rootfs/bin/sh -> busybox)
/// and `platform/`.
#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// A bundle running `args` with PATH=/bin; `None` if busybox is not installed.
    pub fn new(args: &[&str]) -> Option<Self> {
        if !Path::new(BUSYBOX).exists() {
            eprintln!("skipping: {BUSYBOX} is not installed (apt-get install busybox-static)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc/app")).unwrap();
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
        std::fs::write(rootfs.join("etc/app/config"), b"greeting=hi\n").unwrap();
        let config = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": { "path": "rootfs" },
            "process": { "args": args, "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/" }
        });
        std::fs::write(
            dir.path().join("bundle/config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        Some(Self { dir })
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }

    pub fn platform_dir(&self) -> PathBuf {
        self.dir.path().join("platform")
    }

    pub fn sign(&self, options: &SignOptions) -> SignedImage {
        sign_bundle(&self.bundle(), key(), &[PathBuf::from("/etc/app")], options).unwrap()
    }

    /// The pal_init argument string for this fixture (plain paths and root=).
    pub fn init_args(&self) -> String {
        let enclave = self.bundle().join("enclave");
        format!(
            "no-epm manifest={} sigstruct={} platform={} root={}",
            enclave.join("manifest.json").display(),
            enclave.join("sigstruct.bin").display(),
            self.platform_dir().display(),
            self.rootfs().display()
        )
    }
}
