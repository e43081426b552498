//! Host-side preparation of an enclave container at `create`: open the files the container's
//! init process needs (the PAL, and for the software TEE the signed image and the platform
//! secrets) so it inherits them as descriptors across pivot_root; then wait for the init's
//! report that it started the enclave, and when it failed or died in the enclave runtime's
//! code, say why (see [`EnclaveStage`]).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use pal::{ExitValueKind, SignalPolicy};

use crate::enclave::{EnclaveConfig, EnclaveType};
use crate::executor::EnclaveLaunch;

/// Why an enclave container could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The PAL file could not be opened.
    #[error("opening enclave runtime {path}")]
    OpenRuntime {
        /// The host path.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
    /// The PAL is not a shared object.
    #[error("enclave runtime {path} is not an ELF shared object")]
    NotElf {
        /// The host path.
        path: PathBuf,
    },
    /// A sim container whose bundle and rootfs have no signed image.
    #[error("ENCLAVE_TYPE=sim needs a signed bundle: {path} not found, nor /.enclave/manifest.json in the rootfs (sign it with `rune enclave sign --bundle {bundle}`, or an image's rootfs with `--in-rootfs`)")]
    Unsigned {
        /// The missing file.
        path: PathBuf,
        /// The bundle.
        bundle: PathBuf,
    },
    /// The sim platform secrets could not be loaded or created.
    #[error("sim platform {path}: {reason}")]
    Platform {
        /// The platform directory.
        path: PathBuf,
        /// The cause chain.
        reason: String,
    },
    /// The agent socket could not be bound.
    #[error("{0}")]
    Agent(io::Error),
    /// The pipe of the enclave's stages could not be made.
    #[error("enclave stage pipe: {0}")]
    StagePipe(io::Error),
    /// An image file could not be opened.
    #[error("opening {path}")]
    OpenImage {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
    /// The signature an image carries in its rootfs is, or is under, a symbolic link.
    #[error("{path} is a symbolic link or not a directory and file: rune does not follow an image's links on the host")]
    ImageLink {
        /// The path in the rootfs.
        path: PathBuf,
    },
}

/// The descriptors of one enclave launch; they must stay open until the create returns.
#[derive(Debug)]
pub struct HostLaunch {
    /// What the init process receives.
    pub launch: EnclaveLaunch,
    /// The read end of the stage pipe.
    stages: File,
    /// rune's copy of the write end, dropped once the init holds its own.
    stage_writer: Option<OwnedFd>,
    _open: Vec<OwnedFd>,
}

/// How far the container's init got into the enclave runtime's code, as it writes it on the
/// launch's stage pipe (one byte per step). A PAL is native code that can exit or crash the
/// init in its initialisers or in `pal_init`; `rune create` then uses the last stage to say
/// where the init ended.
///
/// The init starts the enclave after it reported ready to libcontainer, while rune finishes the
/// create, and ends the report with [`STARTED`], or with [`FAILED`] and the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnclaveStage {
    /// Loading the PAL: `dlopen`, which runs its initialisers, and `pal_get_version`.
    Loading,
    /// In `pal_init`.
    Initialising,
    /// The PAL's code returned, from loading or from `pal_init` (what it returned is reported
    /// as usual).
    Returned,
}

/// Stage-pipe byte: the enclave started; nothing follows.
pub const STARTED: u8 = b'S';
/// Stage-pipe byte: the enclave did not start; the reason (UTF-8) follows until the pipe ends.
pub const FAILED: u8 = b'F';

/// What the init reported, once the report is complete or the pipe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Report {
    /// [`STARTED`].
    Started,
    /// [`FAILED`] and the reason.
    Failed(String),
    /// Neither: the init ended, in this stage if it was in the runtime's code.
    Ended(Option<EnclaveStage>),
}

impl Report {
    /// Reads the bytes written so far; `complete` when the pipe has ended.
    fn of(bytes: &[u8], complete: bool) -> Option<Self> {
        // The reason after FAILED is text: stage bytes are only looked for before it.
        let (stages, reason) = match bytes.iter().position(|&b| b == FAILED) {
            Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
            None => (bytes, None),
        };
        match reason {
            Some(reason) if complete => Some(Self::Failed(
                String::from_utf8_lossy(reason).trim_end().to_owned(),
            )),
            Some(_) => None,
            None if stages.contains(&STARTED) => Some(Self::Started),
            None if complete => Some(Self::Ended(EnclaveStage::last_in(stages))),
            None => None,
        }
    }
}

impl EnclaveStage {
    /// The byte the init writes for this stage.
    pub fn byte(self) -> u8 {
        match self {
            Self::Loading => b'L',
            Self::Initialising => b'I',
            Self::Returned => b'R',
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        [Self::Loading, Self::Initialising, Self::Returned]
            .into_iter()
            .find(|stage| stage.byte() == byte)
    }

    /// The last stage named in `bytes` (other bytes are ignored).
    fn last_in(bytes: &[u8]) -> Option<Self> {
        bytes.iter().rev().find_map(|&b| Self::from_byte(b))
    }
}

impl HostLaunch {
    /// If the init ended inside the enclave runtime's code (`stage`), why, as one phrase
    /// naming the runtime (its exit status comes from reaping it: the init is a child of rune,
    /// a sibling of libcontainer's intermediate process).
    fn ended_in(&self, stage: EnclaveStage) -> Option<String> {
        let place = match stage {
            EnclaveStage::Loading => "while loading",
            EnclaveStage::Initialising => "in pal_init of",
            EnclaveStage::Returned => return None,
        };
        Some(format!(
            "the container's init process {} {place} enclave runtime {}",
            reap_failed_children(),
            self.launch.config.runtime_path.display()
        ))
    }

    /// After libcontainer's create succeeded: waits until the container's init (`init`) has
    /// started the enclave, which it does once it reported ready (so that it overlaps with the
    /// rest of rune's create). `Err` is why it did not: the runtime's or the launch's reason,
    /// or where and how the init ended.
    ///
    /// The report ends with the pipe, or with the init: a process the PAL started may hold
    /// the pipe open after the init is gone.
    pub fn wait_until_started(&mut self, init: i32) -> Result<(), String> {
        use rustix::event::{poll, PollFd, PollFlags};
        // The init holds its own write end: without rune's, the pipe ends when the init does.
        self.stage_writer = None;
        let reading = |e: io::Error| format!("reading the enclave's start report: {e}");
        let init_fd = rustix::process::Pid::from_raw(init).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let report = loop {
            let mut fds = vec![PollFd::new(&self.stages, PollFlags::IN)];
            if let Some(fd) = &init_fd {
                fds.push(PollFd::new(fd, PollFlags::IN));
            }
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) => return Err(reading(errno.into())),
            }
            let init_ended = fds.get(1).is_some_and(|fd| !fd.revents().is_empty());
            let pipe_ready = !fds[0].revents().is_empty();
            if init_ended && !pipe_ready {
                // Whatever the init wrote is in the pipe already.
                break Report::of(&bytes, true).unwrap_or(Report::Ended(None));
            }
            let n = match (&self.stages).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(reading(e)),
            };
            bytes.extend_from_slice(&buf[..n]);
            if let Some(report) = Report::of(&bytes, n == 0) {
                break report;
            }
        };
        match report {
            Report::Started => Ok(()),
            Report::Failed(reason) => Err(reason),
            Report::Ended(stage) => Err(stage
                .and_then(|stage| self.ended_in(stage))
                .unwrap_or_else(|| {
                    format!(
                        "the container's init process {} before its enclave started",
                        reap_failed_children()
                    )
                })),
        }
    }
}

/// Reaps the container's processes left by a failed create (the init, and libcontainer's
/// intermediate process, which exits 0) and says how the one that failed ended. Waits at most
/// two seconds for them to exit.
fn reap_failed_children() -> String {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let mut ended = None;
    for _ in 0..200 {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(_, 0)) => {}
            Ok(WaitStatus::Exited(_, code)) => ended = Some(format!("exited with code {code}")),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                ended = Some(format!("was killed by {signal}"));
            }
            Ok(WaitStatus::StillAlive) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    ended.unwrap_or_else(|| "ended".to_owned())
}

/// Opens what the enclave container's init process needs; its agent socket is bound in
/// `agent_dir`.
pub fn prepare(
    config: &EnclaveConfig,
    bundle: &Path,
    rootfs: &Path,
    agent_dir: &Path,
    own_network: bool,
) -> Result<HostLaunch, LaunchError> {
    let pal = open_pal(&config.runtime_path)?;
    let (stages, stage_writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| LaunchError::StagePipe(io::Error::from(errno)))?;
    let mut launch = EnclaveLaunch {
        config: config.clone(),
        pal_fd: pal.as_raw_fd(),
        extra_args: String::new(),
        exit_value_kind: ExitValueKind::guess(&config.runtime_path),
        signal_policy: SignalPolicy::guess(&config.runtime_path),
        agent_fd: None,
        sim_quoter_fd: None,
        kbs_root_pem: None,
        own_network,
        epm_fd: None,
        epm_socket: crate::epm::socket(),
        stage_fd: stage_writer.as_raw_fd(),
    };
    if let Some(path) = &config.kbs_cert {
        let pem = std::fs::read(path).map_err(|source| LaunchError::OpenImage {
            path: path.clone(),
            source,
        })?;
        launch.kbs_root_pem = Some(pem);
    }
    let agent = OwnedFd::from(crate::agent::bind(agent_dir).map_err(LaunchError::Agent)?);
    launch.agent_fd = Some(agent.as_raw_fd());
    let mut open = vec![pal, agent];
    if config.kind == EnclaveType::Sim {
        // The image layout (BUNDLE/enclave/{manifest.json,sigstruct.bin}, or ROOTFS/.enclave/
        // for an image) is liberpal-sim's; its tooling writes it.
        let image = open_sim_image(bundle, rootfs)?;
        let mut args = Vec::new();
        for (name, fd) in ["manifest", "sigstruct"].iter().zip(&image) {
            args.push(format!("{name}=/proc/self/fd/{}", fd.as_raw_fd()));
        }
        // First, so that epm prepares the enclave while the platform is loaded and the
        // container set up; the container's init reads the answer.
        if let [manifest, sigstruct] = image.as_slice() {
            if let Some(conn) =
                crate::epm::request(config, rootfs, manifest.as_fd(), sigstruct.as_fd())
            {
                launch.epm_fd = Some(conn.as_raw_fd());
                open.push(conn);
            }
        }
        // Only the platform secret and the QE's attestation key go in (the PCK and root keys
        // stay on the host), as descriptors: container root may not reach the 0700 directory,
        // e.g. in a user namespace.
        let platform_dir = crate::commands::attest::sim_platform_dir();
        let files =
            erpal_sim::platform::Platform::launch_files(&platform_dir).map_err(|source| {
                LaunchError::Platform {
                    path: platform_dir.clone(),
                    reason: format!("{:#}", anyhow::Error::new(source)),
                }
            })?;
        let qe_key = OwnedFd::from(files.qe_key);
        launch.sim_quoter_fd = Some(qe_key.as_raw_fd());
        open.push(qe_key);
        let secret = OwnedFd::from(files.secret);
        args.push(format!("platform=/proc/self/fd/{}", secret.as_raw_fd()));
        open.push(secret);
        launch.extra_args = args.join(" ");
        open.extend(image);
    }
    Ok(HostLaunch {
        launch,
        stages: File::from(stages),
        stage_writer: Some(stage_writer),
        _open: open,
    })
}

/// Opens the sim image's manifest and SIGSTRUCT: the bundle's (`BUNDLE/enclave/`), or, when
/// the bundle has none, those the image carries in its rootfs (`ROOTFS/.enclave/`, see
/// `erpal_sim::image`). The rootfs is the image's: neither the directory nor the files may
/// be symlinks, which would lead rune, on the host, out of it.
fn open_sim_image(bundle: &Path, rootfs: &Path) -> Result<[OwnedFd; 2], LaunchError> {
    let (manifest, sigstruct) = erpal_sim::image::image_paths(bundle);
    match File::open(&manifest) {
        Ok(file) => {
            let sigstruct_file =
                File::open(&sigstruct).map_err(|source| LaunchError::OpenImage {
                    path: sigstruct,
                    source,
                })?;
            return Ok([file.into(), sigstruct_file.into()]);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(LaunchError::OpenImage {
                path: manifest,
                source,
            })
        }
    }
    let nofollow = |path: &Path, directory: bool| {
        let flags =
            libc::O_NOFOLLOW | libc::O_CLOEXEC | if directory { libc::O_DIRECTORY } else { 0 };
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path)
    };
    let dir_path = rootfs.join(erpal_sim::image::ROOTFS_ENCLAVE_DIR);
    // O_NOFOLLOW on a symlink fails with ELOOP, and with O_DIRECTORY with ENOTDIR.
    let refused = |path: PathBuf, source: io::Error| match source.raw_os_error() {
        Some(libc::ELOOP | libc::ENOTDIR) => LaunchError::ImageLink { path },
        _ => LaunchError::OpenImage { path, source },
    };
    let dir = match nofollow(&dir_path, true) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(LaunchError::Unsigned {
                path: manifest,
                bundle: bundle.to_owned(),
            })
        }
        Err(source) => return Err(refused(dir_path, source)),
    };
    let open_in_dir = |name: &str| {
        // Through the directory already opened: a rename of a path component cannot
        // redirect it.
        let through = PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()));
        nofollow(&through, false)
            .map(OwnedFd::from)
            .map_err(|source| refused(dir_path.join(name), source))
    };
    Ok([
        open_in_dir(erpal_sim::image::MANIFEST_FILE)?,
        open_in_dir(erpal_sim::image::SIGSTRUCT_FILE)?,
    ])
}

fn open_pal(path: &Path) -> Result<OwnedFd, LaunchError> {
    let mut file = File::open(path).map_err(|source| LaunchError::OpenRuntime {
        path: path.to_owned(),
        source,
    })?;
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"\x7fELF" {
        return Err(LaunchError::NotElf {
            path: path.to_owned(),
        });
    }
    Ok(OwnedFd::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_stage_written_wins_and_other_bytes_are_ignored() {
        use EnclaveStage::{Initialising, Loading, Returned};
        assert_eq!(EnclaveStage::last_in(b""), None);
        assert_eq!(EnclaveStage::last_in(b"L"), Some(Loading));
        assert_eq!(EnclaveStage::last_in(b"LRI"), Some(Initialising));
        assert_eq!(EnclaveStage::last_in(b"LRIR"), Some(Returned));
        assert_eq!(EnclaveStage::last_in(b"I\0x"), Some(Initialising));
        for stage in [Loading, Initialising, Returned] {
            assert_eq!(EnclaveStage::from_byte(stage.byte()), Some(stage));
        }
    }

    #[test]
    fn a_report_is_read_up_to_its_end_and_a_reason_is_never_read_as_stages() {
        use EnclaveStage::{Initialising, Loading};
        assert_eq!(Report::of(b"LRIR", false), None);
        assert_eq!(Report::of(b"LRIRS", false), Some(Report::Started));
        assert_eq!(Report::of(b"LRIRS", true), Some(Report::Started));
        // A reason is complete only at the end of the pipe, and its letters are not stages.
        assert_eq!(Report::of(b"LRIRFsim enclave: S", false), None);
        assert_eq!(
            Report::of(b"LRIRFsim enclave: SIGSTRUCT refused\n", true),
            Some(Report::Failed("sim enclave: SIGSTRUCT refused".into()))
        );
        assert_eq!(Report::of(b"F", true), Some(Report::Failed(String::new())));
        assert_eq!(
            Report::of(b"LRI", true),
            Some(Report::Ended(Some(Initialising)))
        );
        assert_eq!(Report::of(b"L", true), Some(Report::Ended(Some(Loading))));
        assert_eq!(Report::of(b"", true), Some(Report::Ended(None)));
        for byte in [STARTED, FAILED] {
            assert_eq!(EnclaveStage::from_byte(byte), None);
        }
    }

    proptest::proptest! {
        /// The report comes from the container's init, where the PAL's code runs: any bytes
        /// read, whole or not, give an answer without panicking, and never a start that the
        /// bytes before a FAILED do not hold.
        #[test]
        fn any_report_is_read_without_panicking(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            complete in proptest::prelude::any::<bool>(),
        ) {
            let failed_at = bytes.iter().position(|&b| b == FAILED);
            match Report::of(&bytes, complete) {
                Some(Report::Started) => proptest::prop_assert!(
                    bytes[..failed_at.unwrap_or(bytes.len())].contains(&STARTED)
                ),
                Some(Report::Failed(_)) => proptest::prop_assert!(complete && failed_at.is_some()),
                Some(Report::Ended(_)) => proptest::prop_assert!(complete),
                None => proptest::prop_assert!(!complete),
            }
        }
    }
}
