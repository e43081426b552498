//! The per-host sim platform: the secret that keys REPORT MACs and seal keys, the sim PKI that
//! certifies quotes, and the sim quoting enclave ("QE") that turns REPORTs into quotes.
//!
//! Files in the platform directory (default [`DEFAULT_DIR`], mode 0700, files 0600, created on
//! first use by [`Platform::load_or_create`]):
//!
//! | file | content |
//! |---|---|
//! | `platform_secret` | 32 random bytes |
//! | `root_ca.pem`, `root_ca.key` | the sim root CA certificate and its key |
//! | `pck.pem`, `pck.key` | the sim PCK certificate and its key |
//! | `qe_attestation_key` | the sim QE's attestation key, certified by the PCK key ([`SimQuoter::export`]) |
//!
//! The attestation key is made once, with the PKI, as Intel's quoting enclave keeps one
//! attestation key (certified by the PCE with the PCK key) until it is provisioned again, rather
//! than one per quote or per enclave: whoever holds it can sign quotes of this host either way.
//! An enclave container's init gets this file's descriptor and quotes with it; the PCK and root
//! keys never leave the host ([`LaunchFiles`]).
//!
//! Creation takes an exclusive `flock` on `DIR/.lock`, writes each file to a temporary name,
//! fsyncs it and renames it into place, so two processes creating the platform at once end up
//! with one consistent set. A directory readable by group or others is refused.
//!
//! The sim QE's identity is fixed: MRENCLAVE = SHA-256(`"rune sim quoting enclave v1"`),
//! MRSIGNER = SHA-256(`"rune sim quoting enclave signer v1"`), attributes INIT | MODE64BIT,
//! XFRM 3 ([`qe_target_info`]). An enclave proves itself to it with a REPORT targeted at that
//! TARGETINFO; [`Platform::quote`] checks the MAC and signs a DCAP v3-layout sim quote.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use attestation::sim::{SimError, SimPki, SimQuoter, SimVerifier};
use nix::fcntl::{Flock, FlockArg};
use rand_core::{OsRng, RngCore};
use sgx::{Attributes, EnclaveIdentity, PlatformSecret, Report, TargetInfo};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::measure::XFRM;

/// Default platform directory.
pub const DEFAULT_DIR: &str = "/var/lib/rune/sim";
/// File holding the 32-byte platform secret.
pub const SECRET_FILE: &str = "platform_secret";
/// Sim root CA certificate (PEM).
pub const ROOT_CERT_FILE: &str = "root_ca.pem";
/// Sim root CA key (PEM).
pub const ROOT_KEY_FILE: &str = "root_ca.key";
/// Sim PCK certificate (PEM).
pub const PCK_CERT_FILE: &str = "pck.pem";
/// Sim PCK key (PEM).
pub const PCK_KEY_FILE: &str = "pck.key";
/// File name of the sim QE's attestation key, as [`SimQuoter::export`] writes it.
pub const QE_KEY_FILE: &str = "qe_attestation_key";
/// Bound on the exported attestation key file (key, QE report, certificate chain).
const MAX_QE_KEY_SIZE: u64 = 64 * 1024;
/// Label whose SHA-256 is the sim QE's MRENCLAVE.
pub const QE_LABEL: &str = "rune sim quoting enclave v1";
/// Label whose SHA-256 is the sim QE's MRSIGNER.
pub const QE_SIGNER_LABEL: &str = "rune sim quoting enclave signer v1";
/// Largest PEM file read.
const MAX_PEM_SIZE: u64 = 64 * 1024;

/// Why the platform cannot be loaded or created, or a quote made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// A platform file or the directory cannot be read or written.
    #[error("sim platform {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The directory is accessible by other users.
    #[error("sim platform directory {path} has mode {mode:o}, it must not be accessible by group or others (chmod 700)")]
    Permissions {
        /// The directory.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// A platform file has the wrong content.
    #[error("sim platform file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The sim PKI could not be generated, loaded or used.
    #[error("sim platform pki")]
    Pki(#[source] SimError),
    /// A REPORT given to the sim QE does not parse.
    #[error("report for the sim quoting enclave does not parse")]
    ReportParse(#[source] sgx::ParseError),
    /// A REPORT's MAC does not verify for the sim QE.
    #[error("report is not targeted at the sim quoting enclave or was not made on this host")]
    ReportMac(#[source] sgx::KeyError),
}

/// The host's sim platform: secret and PKI.
pub struct Platform {
    dir: PathBuf,
    secret: PlatformSecret,
    pki: SimPki,
    quoter: OnceLock<SimQuoter>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("dir", &self.dir)
            .field("secret", &self.secret)
            .field("pki", &self.pki)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Loads the platform in `dir`, creating the directory (0700) and the files (0600) on
    /// first use; safe against a concurrent first use by another process.
    pub fn load_or_create(dir: &Path) -> Result<Self, PlatformError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| PlatformError::Io { path, source }
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir))?;
        check_dir(dir)?;
        let lock_path = dir.join(".lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            PlatformError::Io {
                path: lock_path.clone(),
                source: io::Error::from(errno),
            }
        })?;
        if !dir.join(SECRET_FILE).exists() {
            let mut bytes = Zeroizing::new([0u8; 32]);
            OsRng.fill_bytes(bytes.as_mut());
            write_secret_file(&dir.join(SECRET_FILE), bytes.as_ref())?;
            tracing::info!(tee = "sim", dir = %dir.display(), "created sim platform secret");
        }
        if !dir.join(PCK_KEY_FILE).exists() {
            let host = nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_owned());
            let pki = SimPki::generate(&host, SystemTime::now()).map_err(PlatformError::Pki)?;
            // The PCK key is written last: its presence means the set is complete.
            write_secret_file(&dir.join(ROOT_CERT_FILE), pki.root_cert_pem().as_bytes())?;
            write_secret_file(&dir.join(ROOT_KEY_FILE), pki.root_key_pem().as_bytes())?;
            write_secret_file(&dir.join(PCK_CERT_FILE), pki.pck_cert_pem().as_bytes())?;
            write_secret_file(&dir.join(PCK_KEY_FILE), pki.pck_key_pem().as_bytes())?;
            tracing::info!(tee = "sim", dir = %dir.display(), "created sim platform pki");
            // Certified by the PCK key just made: an attestation key of a previous PKI would
            // only make quotes that fail verification.
            let _ = std::fs::remove_file(dir.join(QE_KEY_FILE));
        }
        let platform = Self::load(dir)?;
        if !dir.join(QE_KEY_FILE).exists() {
            let quoter = SimQuoter::new(&platform.pki).map_err(PlatformError::Pki)?;
            write_secret_file(&dir.join(QE_KEY_FILE), &quoter.export())?;
            tracing::info!(tee = "sim", dir = %dir.display(), "created sim qe attestation key");
        }
        Ok(platform)
    }

    /// Opens what an enclave container's init needs of the platform, creating the platform on
    /// first use: the secret and the QE's attestation key, as files the init reads through
    /// inherited descriptors (container root may not reach the 0700 directory, e.g. in a user
    /// namespace). Once the platform exists this opens two files and parses nothing.
    pub fn launch_files(dir: &Path) -> Result<LaunchFiles, PlatformError> {
        let open = || -> Result<Option<LaunchFiles>, PlatformError> {
            check_dir(dir)?;
            let open_one = |name: &str| match File::open(dir.join(name)) {
                Ok(file) => Ok(Some(file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(PlatformError::Io {
                    path: dir.join(name),
                    source,
                }),
            };
            let secret = open_one(SECRET_FILE)?;
            let qe_key = open_one(QE_KEY_FILE)?;
            Ok(secret
                .zip(qe_key)
                .map(|(secret, qe_key)| LaunchFiles { secret, qe_key }))
        };
        if dir.exists() {
            if let Some(files) = open()? {
                return Ok(files);
            }
        }
        Self::load_or_create(dir)?;
        open()?.ok_or_else(|| PlatformError::Corrupt {
            path: dir.to_owned(),
            reason: format!("{SECRET_FILE} or {QE_KEY_FILE} missing after creation"),
        })
    }

    /// Loads an existing platform (no creation).
    pub fn load(dir: &Path) -> Result<Self, PlatformError> {
        check_dir(dir)?;
        let secret = load_secret(dir)?;
        let pem = |name: &str| -> Result<Zeroizing<String>, PlatformError> {
            let path = dir.join(name);
            let bytes = read_capped(&path, MAX_PEM_SIZE)?;
            String::from_utf8(bytes.to_vec())
                .map(Zeroizing::new)
                .map_err(|_| PlatformError::Corrupt {
                    path,
                    reason: "not UTF-8 PEM".to_owned(),
                })
        };
        let pki = SimPki::from_pem(
            &pem(ROOT_CERT_FILE)?,
            &pem(ROOT_KEY_FILE)?,
            &pem(PCK_CERT_FILE)?,
            &pem(PCK_KEY_FILE)?,
        )
        .map_err(PlatformError::Pki)?;
        Ok(Self {
            dir: dir.to_owned(),
            secret,
            pki,
            quoter: OnceLock::new(),
        })
    }

    /// The platform directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The platform secret (keys REPORT MACs and seal keys).
    pub fn secret(&self) -> &PlatformSecret {
        &self.secret
    }

    /// The sim PKI.
    pub fn pki(&self) -> &SimPki {
        &self.pki
    }

    /// The sim root CA certificate (PEM) a verifier must be configured with.
    pub fn root_cert_pem(&self) -> &str {
        self.pki.root_cert_pem()
    }

    /// A verifier for quotes of this platform.
    pub fn verifier(&self) -> Result<SimVerifier, PlatformError> {
        SimVerifier::new(self.pki.root_cert_pem()).map_err(PlatformError::Pki)
    }

    /// The sim QE: verifies that `report` is a REPORT made on this host and targeted at
    /// [`qe_target_info`], then returns a DCAP v3-layout sim quote over its body.
    pub fn quote(&self, report: &[u8; 432]) -> Result<Vec<u8>, PlatformError> {
        let report = Report::parse(report).map_err(PlatformError::ReportParse)?;
        sgx::verify_report(&self.secret, &report, &qe_target_info())
            .map_err(PlatformError::ReportMac)?;
        let quoter = match self.quoter.get() {
            Some(quoter) => quoter,
            None => {
                let quoter = self.stored_quoter()?;
                self.quoter.get_or_init(|| quoter)
            }
        };
        let quote = quoter
            .quote(&report.body.encode())
            .map_err(PlatformError::Pki)?;
        tracing::debug!(
            tee = "sim",
            mrenclave = %hex::encode(report.body.mr_enclave),
            "sim quote issued"
        );
        Ok(quote)
    }

    /// The QE with the platform's attestation key ([`QE_KEY_FILE`]); a platform made before
    /// the key was stored gets a key of its own process, which quotes as well.
    fn stored_quoter(&self) -> Result<SimQuoter, PlatformError> {
        let path = self.dir.join(QE_KEY_FILE);
        match read_capped(&path, MAX_QE_KEY_SIZE) {
            Ok(bytes) => SimQuoter::import(&bytes).map_err(|e| PlatformError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(PlatformError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                SimQuoter::new(&self.pki).map_err(PlatformError::Pki)
            }
            Err(e) => Err(e),
        }
    }
}

/// The platform files an enclave container's init process reads ([`Platform::launch_files`]).
#[derive(Debug)]
pub struct LaunchFiles {
    /// `platform_secret`: keys REPORT MACs and seal keys.
    pub secret: File,
    /// `qe_attestation_key`: the QE's attestation key and its certification, to quote with.
    pub qe_key: File,
}

/// The identity of the sim quoting enclave.
pub fn qe_identity() -> EnclaveIdentity {
    EnclaveIdentity {
        mr_enclave: Sha256::digest(QE_LABEL.as_bytes()).into(),
        mr_signer: Sha256::digest(QE_SIGNER_LABEL.as_bytes()).into(),
        isv_prod_id: 1,
        isv_svn: 1,
        config_svn: 0,
        attributes: Attributes::new(Attributes::INIT | Attributes::MODE64BIT, XFRM),
        misc_select: 0,
    }
}

/// The TARGETINFO of the sim quoting enclave: target REPORTs meant for quoting at it.
pub fn qe_target_info() -> TargetInfo {
    qe_identity().target_info()
}

/// Loads only the platform secret (what `pal_init` needs): `dir` is the platform directory,
/// or the `platform_secret` file itself (useful when the container's user cannot traverse the
/// root-only directory, e.g. in a user namespace: open the file before entering it).
pub fn load_secret(dir: &Path) -> Result<PlatformSecret, PlatformError> {
    let path = if std::fs::metadata(dir).is_ok_and(|m| m.is_file()) {
        dir.to_owned()
    } else {
        dir.join(SECRET_FILE)
    };
    let bytes = read_capped(&path, 32)?;
    let secret: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| PlatformError::Corrupt {
            path: path.clone(),
            reason: format!("{} bytes, expected 32", bytes.len()),
        })?;
    Ok(PlatformSecret::new(secret))
}

fn check_dir(dir: &Path) -> Result<(), PlatformError> {
    let meta = std::fs::metadata(dir).map_err(|source| PlatformError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PlatformError::Permissions {
            path: dir.to_owned(),
            mode,
        });
    }
    Ok(())
}

fn read_capped(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, PlatformError> {
    let io_err = |source| PlatformError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(PlatformError::Corrupt {
            path: path.to_owned(),
            reason: format!("larger than {max} bytes"),
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` with mode 0600 through a temporary file and a rename.
fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), PlatformError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|source| PlatformError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use attestation::{Measurements, TeeKind};

    use super::*;

    fn enclave() -> EnclaveIdentity {
        EnclaveIdentity {
            mr_enclave: [1; 32],
            mr_signer: [2; 32],
            isv_prod_id: 3,
            isv_svn: 4,
            config_svn: 0,
            attributes: Attributes::new(Attributes::INIT | Attributes::MODE64BIT, XFRM),
            misc_select: 0,
        }
    }

    #[test]
    fn created_once_with_private_modes_and_reloaded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim");
        let first = Platform::load_or_create(&dir).unwrap();
        let second = Platform::load_or_create(&dir).unwrap();
        assert_eq!(first.secret().expose(), second.secret().expose());
        assert_eq!(first.root_cert_pem(), second.root_cert_pem());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for file in [
            SECRET_FILE,
            ROOT_KEY_FILE,
            PCK_KEY_FILE,
            ROOT_CERT_FILE,
            PCK_CERT_FILE,
            QE_KEY_FILE,
        ] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        assert_eq!(std::fs::read(dir.join(SECRET_FILE)).unwrap().len(), 32);
        assert!(!format!("{first:?}").contains(&hex::encode(first.secret().expose())));
    }

    #[test]
    fn launch_files_are_the_secret_and_an_attestation_key_the_pck_certifies() {
        use std::io::Read as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim");
        // First use creates the platform.
        let mut files = Platform::launch_files(&dir).unwrap();
        let platform = Platform::load(&dir).unwrap();
        let mut secret = Vec::new();
        files.secret.read_to_end(&mut secret).unwrap();
        assert_eq!(secret, platform.secret().expose());
        let mut exported = Vec::new();
        files.qe_key.read_to_end(&mut exported).unwrap();
        let quoter = SimQuoter::import(&exported).unwrap();
        let quote = quoter
            .quote(&enclave().report_body([7; 64]).encode())
            .unwrap();
        let claims = platform
            .verifier()
            .unwrap()
            .verify(&quote, SystemTime::now())
            .unwrap();
        assert_eq!(claims.report_data, [7; 64]);
        // The host's QE quotes with the same key.
        let report = sgx::create_report(
            platform.secret(),
            enclave().report_body([7; 64]),
            &qe_target_info(),
            [9; 32],
        );
        let host_quote = platform.quote(&report.encode()).unwrap();
        // Header, body and signature length, then the ISV signature (random), then the
        // attestation key and its certification: the same for both.
        let tail = 48 + 384 + 4 + 64;
        assert_eq!(host_quote[tail..], quote[tail..]);
    }

    #[test]
    fn a_new_pki_gets_a_new_attestation_key_and_an_old_platform_gets_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim");
        Platform::load_or_create(&dir).unwrap();
        let first = std::fs::read(dir.join(QE_KEY_FILE)).unwrap();
        // A platform from before the key was stored.
        std::fs::remove_file(dir.join(QE_KEY_FILE)).unwrap();
        Platform::launch_files(&dir).unwrap();
        let second = std::fs::read(dir.join(QE_KEY_FILE)).unwrap();
        assert_ne!(first, second);
        // The PKI made again: the old key, certified by the old PCK, is not kept.
        std::fs::remove_file(dir.join(PCK_KEY_FILE)).unwrap();
        let platform = Platform::load_or_create(&dir).unwrap();
        let third = std::fs::read(dir.join(QE_KEY_FILE)).unwrap();
        assert_ne!(second, third);
        let quote = SimQuoter::import(&third)
            .unwrap()
            .quote(&enclave().report_body([1; 64]).encode())
            .unwrap();
        platform
            .verifier()
            .unwrap()
            .verify(&quote, SystemTime::now())
            .unwrap();
    }

    #[test]
    fn launch_files_refuse_a_corrupt_or_open_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim");
        Platform::load_or_create(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = Platform::launch_files(&dir).unwrap_err().to_string();
        assert!(err.contains("mode 755"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.join(QE_KEY_FILE), b"not a key").unwrap();
        let platform = Platform::load(&dir).unwrap();
        let report = sgx::create_report(
            platform.secret(),
            enclave().report_body([0; 64]),
            &qe_target_info(),
            [9; 32],
        );
        let err = platform.quote(&report.encode()).unwrap_err().to_string();
        assert!(
            err.contains(QE_KEY_FILE) && err.contains("corrupt"),
            "{err}"
        );
    }

    #[test]
    fn concurrent_first_use_agrees_on_one_platform() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim");
        let secrets: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| *Platform::load_or_create(&dir).unwrap().secret().expose()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(secrets.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn the_secret_loads_from_the_directory_or_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim");
        let platform = Platform::load_or_create(&dir).unwrap();
        let from_dir = load_secret(&dir).unwrap();
        let from_file = load_secret(&dir.join(SECRET_FILE)).unwrap();
        assert_eq!(from_dir.expose(), platform.secret().expose());
        assert_eq!(from_file.expose(), platform.secret().expose());
        std::fs::write(dir.join(SECRET_FILE), [1u8; 31]).unwrap();
        let err = load_secret(&dir).unwrap_err().to_string();
        assert!(err.ends_with("is corrupt: 31 bytes, expected 32"), "{err}");
    }

    #[test]
    fn refuses_a_directory_others_can_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = Platform::load_or_create(&dir).unwrap_err().to_string();
        assert!(
            err.contains("mode 755") && err.contains("chmod 700"),
            "{err}"
        );
    }

    #[test]
    fn qe_quotes_only_reports_targeted_at_it_and_quotes_verify_as_sim() {
        let tmp = tempfile::tempdir().unwrap();
        let platform = Platform::load_or_create(&tmp.path().join("sim")).unwrap();
        let body = enclave().report_body([0x5a; 64]);
        let report =
            sgx::create_report(platform.secret(), body.clone(), &qe_target_info(), [9; 32]);
        let quote = platform.quote(&report.encode()).unwrap();
        let claims = platform
            .verifier()
            .unwrap()
            .verify(&quote, SystemTime::now())
            .unwrap();
        assert_eq!(claims.tee, TeeKind::Sim);
        assert!(!claims.is_hardware());
        assert_eq!(claims.report_data, [0x5a; 64]);
        assert_eq!(
            claims.measurements,
            Measurements::Sgx {
                mrenclave: [1; 32],
                mrsigner: [2; 32]
            }
        );

        // Targeted at another enclave: the QE cannot verify the MAC.
        let elsewhere = sgx::create_report(
            platform.secret(),
            body.clone(),
            &enclave().target_info(),
            [9; 32],
        );
        let err = platform.quote(&elsewhere.encode()).unwrap_err();
        assert!(matches!(err, PlatformError::ReportMac(_)), "{err}");
        // Made with another host's secret.
        let forged = sgx::create_report(
            &PlatformSecret::new([0; 32]),
            body,
            &qe_target_info(),
            [9; 32],
        );
        assert!(matches!(
            platform.quote(&forged.encode()),
            Err(PlatformError::ReportMac(_))
        ));
    }
}
