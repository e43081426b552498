//! A running sim enclave: what `pal_init` loads and what the other PAL calls act on.
//!
//! [`InitArgs`] parses the `pal_init` argument string, [`Enclave::load`] does the sim EINIT
//! (SIGSTRUCT signature and Q1/Q2, MRENCLAVE recomputed from the manifest, ISV fields and
//! attributes), and [`Enclave::prepare`] the launch checks of `pal_create_process`: the program
//! is the manifest's entrypoint, argv and environment follow its policy, every trusted file
//! hashes to its recorded SHA-256, and the entrypoint's verified bytes sit in a sealed memfd
//! that is what gets executed. [`Processes`] tracks the started workload processes.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::stat::{fchmod, Mode};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;
use pal::export::{ConvertError, PalError};
use rand_core::{OsRng, RngCore};
use sgx::{EnclaveIdentity, PlatformSecret, Report, TargetInfo};
use thiserror::Error;
use zeroize::Zeroize;

use crate::handover::{self, FileIdentity, FileRecord, HandoverError, Package};
use crate::hash;
use crate::image::{self, ImageError};
use crate::manifest::{ArgvPolicy, EnvPolicy, Manifest, Sha256Digest};
use crate::measure::{self, BindError, ImageDigest};
use crate::platform::{self, PlatformError};
use crate::rootfs::{self, RootfsError};

/// The `pal_init` argument keys this runtime knows.
pub const KNOWN_ARGS: &[&str] = &["manifest", "sigstruct", "platform", "root"];

/// Why a PAL call of the sim enclave failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EnclaveError {
    /// A raw PAL argument did not convert.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// `pal_init` got `key=value` arguments it does not know.
    #[error("unknown sim enclave runtime argument(s): {names} (known: manifest, sigstruct, platform, root)")]
    UnknownArgs {
        /// The offending arguments, comma separated.
        names: String,
    },
    /// A required `pal_init` argument is missing.
    #[error("sim enclave runtime argument {name}= is missing")]
    MissingArg {
        /// The key.
        name: &'static str,
    },
    /// A `pal_init` argument is given twice.
    #[error("sim enclave runtime argument {name}= is given twice")]
    DuplicateArg {
        /// The key.
        name: String,
    },
    /// The enclave handed over by epm (`pal_attr_v3_t.fd`) could not be read.
    #[error("sim enclave handover (pal_attr_v3_t.fd {fd})")]
    Handover {
        /// The fd passed.
        fd: i32,
        /// The cause.
        #[source]
        source: HandoverError,
    },
    /// The handed-over enclave was built for another image.
    #[error("sim enclave handover is for {what} {handed}, the image has {image}")]
    HandoverMismatch {
        /// `MRENCLAVE`, `MRSIGNER` or `entrypoint`.
        what: &'static str,
        /// The handover's value.
        handed: String,
        /// The image's value.
        image: String,
    },
    /// `pal_init` was called on an initialised runtime.
    #[error("sim enclave runtime is already initialised")]
    AlreadyInitialised,
    /// A call other than `pal_init` came before `pal_init`.
    #[error("sim enclave runtime is not initialised (call pal_init first)")]
    NotInitialised,
    /// The image files could not be loaded.
    #[error("loading the sim enclave image")]
    Image(#[source] Box<ImageError>),
    /// The SIGSTRUCT does not sign the manifest.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The platform secret could not be loaded.
    #[error("loading the sim platform secret")]
    Platform(#[source] PlatformError),
    /// The program path does not resolve in the container root.
    #[error("sim enclave program {path}")]
    Program {
        /// The path given.
        path: String,
        /// The cause.
        #[source]
        source: RootfsError,
    },
    /// The program is not the manifest's entrypoint.
    #[error("sim enclave refuses program {path} (resolves to {resolved}): the signed entrypoint is {entrypoint}")]
    NotEntrypoint {
        /// The path given.
        path: String,
        /// Where it resolves.
        resolved: String,
        /// The manifest's entrypoint.
        entrypoint: String,
    },
    /// argv is not allowed by the manifest.
    #[error("sim enclave refuses argv {argv:?}: the manifest fixes it to {expected:?}")]
    Argv {
        /// The argv given.
        argv: Vec<String>,
        /// The signed argv.
        expected: Vec<String>,
    },
    /// An environment variable is not allowed by the manifest.
    #[error("sim enclave refuses environment variable {name}: {reason}")]
    Env {
        /// The variable name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A trusted file could not be read.
    #[error("sim enclave cannot read trusted file {path}")]
    TrustedRead {
        /// The in-root path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A trusted file's content changed since signing.
    #[error("sim enclave trusted file {path} was modified: sha256 is {actual}, the signed manifest says {expected}")]
    TrustedMismatch {
        /// The in-root path.
        path: String,
        /// The recorded hash.
        expected: Sha256Digest,
        /// The hash now.
        actual: Sha256Digest,
    },
    /// Creating, sealing or starting the workload failed.
    #[error("sim enclave cannot start {path}: {step}")]
    Spawn {
        /// The entrypoint.
        path: String,
        /// What failed.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The TARGETINFO does not parse.
    #[error("sim enclave got an invalid targetinfo")]
    TargetInfo(#[source] sgx::ParseError),
    /// No started process has this id.
    #[error("sim enclave has no process {pid}")]
    NoProcess {
        /// The id asked for.
        pid: i32,
    },
    /// Waiting for or signalling a process failed.
    #[error("sim enclave process {pid}: {step}")]
    Process {
        /// The process.
        pid: i32,
        /// What failed.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl PalError for EnclaveError {
    fn errno(&self) -> i32 {
        match self {
            Self::Convert(e) => e.errno(),
            Self::UnknownArgs { .. }
            | Self::MissingArg { .. }
            | Self::DuplicateArg { .. }
            | Self::Argv { .. }
            | Self::Env { .. }
            | Self::TargetInfo(_) => libc::EINVAL,
            Self::Handover { .. } => libc::EPROTO,
            Self::HandoverMismatch { .. } => libc::EACCES,
            Self::AlreadyInitialised | Self::NotInitialised => libc::EBUSY,
            Self::Image(_) | Self::Platform(_) | Self::TrustedRead { .. } => libc::EIO,
            Self::Bind(_) | Self::NotEntrypoint { .. } | Self::TrustedMismatch { .. } => {
                libc::EACCES
            }
            Self::Program { .. } => libc::ENOENT,
            Self::NoProcess { .. } => libc::ESRCH,
            Self::Spawn { source, .. } | Self::Process { source, .. } => {
                source.raw_os_error().unwrap_or(libc::EIO)
            }
        }
    }
}

/// The parsed `pal_init` argument string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitArgs {
    /// `manifest=`: the manifest file (rune passes `/proc/self/fd/N`).
    pub manifest: PathBuf,
    /// `sigstruct=`: the SIGSTRUCT file.
    pub sigstruct: PathBuf,
    /// `platform=`: the platform directory (default [`platform::DEFAULT_DIR`]) or its
    /// `platform_secret` file.
    pub platform: PathBuf,
    /// `root=`: prefix of program and trusted-file paths (default `/`; for tests outside a
    /// container, rune never passes it).
    pub root: PathBuf,
    /// Bare words (such as `no-epm`), ignored.
    pub ignored: Vec<String>,
}

impl InitArgs {
    /// Parses space-separated arguments: `key=value` for the [`KNOWN_ARGS`], bare words
    /// ignored, any other `key=value` an error naming them all.
    pub fn parse(args: &str) -> Result<Self, EnclaveError> {
        let mut values: BTreeMap<&str, &str> = BTreeMap::new();
        let mut unknown = Vec::new();
        let mut ignored = Vec::new();
        for word in args.split_whitespace() {
            match word.split_once('=') {
                Some((key, value)) if KNOWN_ARGS.contains(&key) => {
                    if values.insert(key, value).is_some() {
                        return Err(EnclaveError::DuplicateArg {
                            name: key.to_owned(),
                        });
                    }
                }
                Some(_) => unknown.push(word.to_owned()),
                None => ignored.push(word.to_owned()),
            }
        }
        if !unknown.is_empty() {
            return Err(EnclaveError::UnknownArgs {
                names: unknown.join(", "),
            });
        }
        let required = |name: &'static str| {
            values
                .get(name)
                .map(PathBuf::from)
                .ok_or(EnclaveError::MissingArg { name })
        };
        Ok(Self {
            manifest: required("manifest")?,
            sigstruct: required("sigstruct")?,
            platform: values
                .get("platform")
                .map_or_else(|| PathBuf::from(platform::DEFAULT_DIR), PathBuf::from),
            root: values
                .get("root")
                .map_or_else(|| PathBuf::from("/"), PathBuf::from),
            ignored,
        })
    }
}

/// An initialised sim enclave.
pub struct Enclave {
    manifest: Manifest,
    identity: EnclaveIdentity,
    secret: PlatformSecret,
    root: PathBuf,
    key_id: [u8; 32],
    /// The measurements epm handed over, used by the first `pal_create_process` only.
    handed: Mutex<Option<Handed>>,
}

/// What a handover contributes to the first launch.
#[derive(Debug)]
struct Handed {
    files: BTreeMap<String, FileRecord>,
    entrypoint: OwnedFd,
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("mr_enclave", &hex::encode(self.identity.mr_enclave))
            .field("mr_signer", &hex::encode(self.identity.mr_signer))
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Drop for Enclave {
    fn drop(&mut self) {
        // The platform secret zeroizes itself; the report key id is ours.
        self.key_id.zeroize();
    }
}

/// A workload ready to start: the verified entrypoint in a sealed memfd, argv and env.
#[derive(Debug)]
pub struct Prepared {
    /// In-root path of the entrypoint.
    pub entrypoint: String,
    /// Sealed memfd holding exactly the bytes whose hash was checked.
    pub executable: OwnedFd,
    /// Whether the entrypoint is a `#!` script (its interpreter reads it through /dev/fd).
    pub is_script: bool,
    /// argv.
    pub argv: Vec<CString>,
    /// env.
    pub env: Vec<CString>,
}

impl Enclave {
    /// The sim EINIT: reads the image, verifies the SIGSTRUCT against the manifest and loads
    /// the platform secret.
    ///
    /// `verified` is the digest of an image epm verified (from its handover): an image of
    /// exactly those bytes is not verified again, only bound field by field.
    pub fn load(args: &InitArgs, verified: Option<&ImageDigest>) -> Result<Self, EnclaveError> {
        let (manifest, sigstruct, digest) = image::load_image(&args.manifest, &args.sigstruct)
            .map_err(|e| EnclaveError::Image(Box::new(e)))?;
        let identity = if verified == Some(&digest) {
            measure::bind_verified(&manifest, &sigstruct)?
        } else {
            measure::bind(&manifest, &sigstruct)?
        };
        let secret = platform::load_secret(&args.platform).map_err(EnclaveError::Platform)?;
        let mut key_id = [0u8; 32];
        OsRng.fill_bytes(&mut key_id);
        tracing::info!(
            tee = "sim",
            mrenclave = %hex::encode(identity.mr_enclave),
            mrsigner = %hex::encode(identity.mr_signer),
            isv_prod_id = identity.isv_prod_id,
            isv_svn = identity.isv_svn,
            debug = manifest.debug(),
            entrypoint = manifest.entrypoint(),
            "sim enclave initialised (integrity and measurement only, no confidentiality against root)"
        );
        Ok(Self {
            manifest,
            identity,
            secret,
            root: args.root.clone(),
            key_id,
            handed: Mutex::new(None),
        })
    }

    /// Takes an enclave handed over by epm: it must be for this image (same MRENCLAVE,
    /// MRSIGNER and entrypoint). Its measurements then spare the first
    /// [`prepare`](Self::prepare) the hashing of every trusted file still unchanged.
    pub fn adopt(&self, package: Package) -> Result<(), EnclaveError> {
        let header = &package.header;
        let checks = [
            ("MRENCLAVE", header.mr_enclave.0, self.identity.mr_enclave),
            ("MRSIGNER", header.mr_signer.0, self.identity.mr_signer),
        ];
        for (what, handed, image) in checks {
            if handed != image {
                return Err(EnclaveError::HandoverMismatch {
                    what,
                    handed: hex::encode(handed),
                    image: hex::encode(image),
                });
            }
        }
        if header.entrypoint != self.manifest.entrypoint() {
            return Err(EnclaveError::HandoverMismatch {
                what: "entrypoint",
                handed: header.entrypoint.clone(),
                image: self.manifest.entrypoint().to_owned(),
            });
        }
        let files = package
            .header
            .files
            .into_iter()
            .map(|f| (f.path.clone(), f))
            .collect();
        *self.handed.lock().unwrap_or_else(PoisonError::into_inner) = Some(Handed {
            files,
            entrypoint: package.entrypoint,
        });
        Ok(())
    }

    /// The enclave's identity (what its REPORTs carry).
    pub fn identity(&self) -> &EnclaveIdentity {
        &self.identity
    }

    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The platform secret (for sealing inside the enclave).
    pub fn secret(&self) -> &PlatformSecret {
        &self.secret
    }

    /// EREPORT: a REPORT of this enclave with `report_data`, MACed for `target`.
    pub fn report(&self, target: &TargetInfo, report_data: [u8; 64]) -> Report {
        sgx::create_report(
            &self.secret,
            self.identity.report_body(report_data),
            target,
            self.key_id,
        )
    }

    /// Checks argv and env against the manifest's policy.
    pub fn check_policy(&self, argv: &[String], env: &[String]) -> Result<(), EnclaveError> {
        if let ArgvPolicy::Fixed { argv: expected } = self.manifest.argv() {
            if argv != expected.as_slice() {
                return Err(EnclaveError::Argv {
                    argv: argv.to_vec(),
                    expected: expected.clone(),
                });
            }
        }
        let name_of = |entry: &str| entry.split_once('=').map_or(entry, |(n, _)| n).to_owned();
        match self.manifest.env() {
            EnvPolicy::Fixed { env: expected } => {
                for entry in env {
                    if !expected.contains(entry) {
                        return Err(EnclaveError::Env {
                            name: name_of(entry),
                            reason: "its value is not the one the manifest fixes",
                        });
                    }
                }
                for entry in expected {
                    if !env.contains(entry) {
                        return Err(EnclaveError::Env {
                            name: name_of(entry),
                            reason: "the manifest requires it and it is missing",
                        });
                    }
                }
            }
            EnvPolicy::Allow { names } => {
                for entry in env {
                    let name = name_of(entry);
                    if !names.contains(&name) {
                        return Err(EnclaveError::Env {
                            name,
                            reason: "not in the manifest's allowed names",
                        });
                    }
                }
            }
            EnvPolicy::Any => {
                for entry in env {
                    let name = name_of(entry);
                    if name.starts_with("LD_") {
                        return Err(EnclaveError::Env {
                            name,
                            reason: "dynamic loader variables would load unmeasured code",
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The launch checks of `pal_create_process` (see the module doc).
    pub fn prepare(
        &self,
        path: &str,
        argv: &[String],
        env: &[String],
    ) -> Result<Prepared, EnclaveError> {
        let resolved = rootfs::resolve(&self.root, Path::new(path)).map_err(|source| {
            EnclaveError::Program {
                path: path.to_owned(),
                source,
            }
        })?;
        if resolved != self.manifest.entrypoint() {
            return Err(EnclaveError::NotEntrypoint {
                path: path.to_owned(),
                resolved,
                entrypoint: self.manifest.entrypoint().to_owned(),
            });
        }
        self.check_policy(argv, env)?;
        let spawn_err = |step| {
            let path = resolved.clone();
            move |source| EnclaveError::Spawn { path, step, source }
        };
        // A handover is used once: a second process (or a retry) measures again.
        let handed = self
            .handed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut executable: Option<File> = None;
        let (mut reused, mut hashed) = (0usize, 0usize);
        for file in self.manifest.trusted_files() {
            let read_err = |source| EnclaveError::TrustedRead {
                path: file.path.clone(),
                source,
            };
            let host = rootfs::host_path(&self.root, Path::new(&file.path));
            // O_NOFOLLOW: the manifest records resolved paths, so a symlink here was planted
            // after signing.
            let source = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&host)
                .map_err(read_err)?;
            if let Some(handed) = &handed {
                if let Some(entry) = handed.reusable(file, &source) {
                    reused += 1;
                    if file.path == resolved {
                        let copy = entry
                            .try_clone()
                            .map_err(spawn_err("dup of the handed-over entrypoint"))?;
                        executable = Some(File::from(copy));
                    }
                    continue;
                }
            }
            hashed += 1;
            let actual = if file.path == resolved {
                let memfd = memfd_create(
                    c"rune-sim-entrypoint",
                    MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
                )
                .map_err(|e| spawn_err("memfd_create")(io::Error::from(e)))?;
                let mut memfd = File::from(memfd);
                // One read pass: the bytes written to the private memfd are the bytes hashed.
                // (Copying in the kernel, sealing, then hashing the memfd measured 10-30%
                // slower here: the shmem page allocation dominates either way; see the
                // `measure` bench.)
                let (actual, _) = hash::copy_and_hash(&source, &mut memfd).map_err(read_err)?;
                fcntl(memfd.as_raw_fd(), FcntlArg::F_ADD_SEALS(handover::SEALS))
                    .map_err(|e| spawn_err("sealing the memfd")(io::Error::from(e)))?;
                executable = Some(memfd);
                actual
            } else {
                hash::sha256_reader(&source).map_err(read_err)?.0
            };
            if actual != file.sha256 {
                return Err(EnclaveError::TrustedMismatch {
                    path: file.path.clone(),
                    expected: file.sha256,
                    actual,
                });
            }
        }
        if handed.is_some() {
            tracing::info!(
                tee = "sim",
                reused,
                hashed,
                "sim enclave launched from an epm handover: unchanged trusted files not hashed again"
            );
        }
        // The manifest's invariants put the entrypoint among the trusted files.
        let memfd = executable.ok_or_else(|| {
            spawn_err("the entrypoint is not a trusted file")(io::Error::from(
                io::ErrorKind::NotFound,
            ))
        })?;
        let mut magic = [0u8; 2];
        let is_script = std::os::unix::fs::FileExt::read_exact_at(&memfd, &mut magic, 0).is_ok()
            && magic == *b"#!";
        // Execute-only for an ELF program: the kernel then keeps a non-root workload
        // non-dumpable after execve (fs/exec.c would_dump), which PR_SET_DUMPABLE alone does
        // not survive. A script must stay readable for its interpreter.
        let mode = if is_script { 0o555 } else { 0o111 };
        fchmod(memfd.as_raw_fd(), Mode::from_bits_truncate(mode))
            .map_err(|e| spawn_err("fchmod on the memfd")(io::Error::from(e)))?;
        let cstrings = |items: &[String]| {
            items
                .iter()
                .map(|s| CString::new(s.as_bytes()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    spawn_err("nul byte in argv or env")(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        e,
                    ))
                })
        };
        Ok(Prepared {
            entrypoint: resolved.clone(),
            executable: OwnedFd::from(memfd),
            is_script,
            argv: cstrings(argv)?,
            env: cstrings(env)?,
        })
    }
}

impl Handed {
    /// The handed-over measurement of `file` if it still holds: same digest as the manifest,
    /// and the open file has the identity it had when measured. For the entrypoint, the
    /// handed-over sealed bytes are returned to be executed.
    fn reusable(&self, file: &crate::manifest::TrustedFile, source: &File) -> Option<&OwnedFd> {
        let record = self.files.get(&file.path)?;
        if record.sha256 != file.sha256 || FileIdentity::of(source).ok()? != record.identity {
            return None;
        }
        Some(&self.entrypoint)
    }
}

/// The workload processes started by this runtime, by pid.
#[derive(Debug, Default)]
pub struct Processes {
    /// `true` until `pal_exec` takes the process to wait for it; the entry stays (so
    /// `pal_kill` can reach the process) until the exit is observed, before the zombie is
    /// reaped.
    table: Mutex<BTreeMap<i32, bool>>,
    last: Mutex<Option<i32>>,
}

impl Processes {
    /// Records a started child process of this process.
    pub fn insert(&self, pid: i32) {
        self.lock_table().insert(pid, true);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(pid);
    }

    /// Waits for `pid` to exit and returns its plain exit code (128+n for signal n).
    pub fn wait(&self, pid: i32) -> Result<i32, EnclaveError> {
        let waitable = self
            .lock_table()
            .get_mut(&pid)
            .is_some_and(|waitable| std::mem::replace(waitable, false));
        if !waitable {
            return Err(EnclaveError::NoProcess { pid });
        }
        let process_err = |step| move |source| EnclaveError::Process { pid, step, source };
        // Wait without reaping, drop the table entry, then reap: while the entry exists the
        // pid is alive or a zombie, so pal_kill never signals a recycled pid.
        loop {
            match waitid(
                Id::Pid(Pid::from_raw(pid)),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
            ) {
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(process_err("waiting")(io::Error::from(e))),
            }
        }
        self.lock_table().remove(&pid);
        let code = reap(pid).map_err(process_err("reaping"))?;
        tracing::info!(tee = "sim", pid, code, "sim enclave process exited");
        Ok(code)
    }

    /// Sends `signal` to `pid` (-1: every started process; 0: the last started one).
    pub fn kill(&self, pid: i32, signal: i32) -> Result<(), EnclaveError> {
        let table = self.lock_table();
        let targets: Vec<i32> = match pid {
            -1 => table.keys().copied().collect(),
            0 => {
                let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
                last.filter(|p| table.contains_key(p))
                    .map(|p| vec![p])
                    .ok_or(EnclaveError::NoProcess { pid })?
            }
            pid if table.contains_key(&pid) => vec![pid],
            pid => return Err(EnclaveError::NoProcess { pid }),
        };
        for target in targets {
            crate::ffi::sys::send_signal(target, signal).map_err(|source| {
                EnclaveError::Process {
                    pid: target,
                    step: "sending a signal",
                    source,
                }
            })?;
            tracing::debug!(tee = "sim", pid = target, signal, "signal forwarded");
        }
        Ok(())
    }

    /// Kills and reaps every process not yet waited for (at `pal_destroy`).
    pub fn kill_all(&self) {
        let children = std::mem::take(&mut *self.lock_table());
        for (pid, waitable) in children {
            if waitable {
                let killed = crate::ffi::sys::send_signal(pid, libc::SIGKILL)
                    .and_then(|()| reap(pid).map(drop));
                if let Err(error) = killed {
                    tracing::warn!(tee = "sim", pid, %error, "cannot kill a leftover workload process");
                }
            }
        }
    }

    fn lock_table(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, bool>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reaps child `pid` and returns its plain exit code (128+n for signal n).
fn reap(pid: i32) -> io::Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_args_parse_known_keys_and_ignore_bare_words() {
        let args = InitArgs::parse("no-epm debug manifest=/proc/self/fd/5 sigstruct=/proc/self/fd/6 platform=/proc/self/fd/7").unwrap();
        assert_eq!(args.manifest, Path::new("/proc/self/fd/5"));
        assert_eq!(args.sigstruct, Path::new("/proc/self/fd/6"));
        assert_eq!(args.platform, Path::new("/proc/self/fd/7"));
        assert_eq!(args.root, Path::new("/"));
        assert_eq!(args.ignored, ["no-epm", "debug"]);
        let defaults = InitArgs::parse("manifest=m sigstruct=s").unwrap();
        assert_eq!(defaults.platform, Path::new(platform::DEFAULT_DIR));
    }

    #[test]
    fn init_args_errors_name_the_arguments() {
        assert_eq!(
            InitArgs::parse("manifest=m sigstruct=s foo=1 bar=2").unwrap_err().to_string(),
            "unknown sim enclave runtime argument(s): foo=1, bar=2 (known: manifest, sigstruct, platform, root)"
        );
        assert_eq!(
            InitArgs::parse("sigstruct=s").unwrap_err().to_string(),
            "sim enclave runtime argument manifest= is missing"
        );
        assert!(matches!(
            InitArgs::parse("manifest=a manifest=b sigstruct=s"),
            Err(EnclaveError::DuplicateArg { .. })
        ));
    }
}
