//! Host-side preparation of an enclave container at `create`: open the files the container's
//! init process needs (the PAL, and for the software TEE the signed image and the platform
//! secrets) so it inherits them as descriptors across pivot_root.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use pal::{ExitValueKind, SignalPolicy};

use crate::enclave::{EnclaveConfig, EnclaveType};
use crate::executor::EnclaveLaunch;

/// Why an enclave container could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The PAL file could not be opened.
    #[error("opening enclave runtime {path}: {source}")]
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
    /// A sim container whose bundle has no signed image.
    #[error("ENCLAVE_TYPE=sim needs a signed bundle: {path} not found (sign it with `rune enclave sign --bundle {bundle}`)")]
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
    /// An image file could not be opened.
    #[error("opening {path}: {source}")]
    OpenImage {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
}

/// The descriptors of one enclave launch; they must stay open until the create returns.
#[derive(Debug)]
pub struct HostLaunch {
    /// What the init process receives.
    pub launch: EnclaveLaunch,
    _open: Vec<OwnedFd>,
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
        // The image layout (BUNDLE/enclave/{manifest.json,sigstruct.bin}, outside the rootfs) is
        // liberpal-sim's; its tooling writes it.
        let (manifest, sigstruct) = erpal_sim::image::image_paths(bundle);
        let mut args = Vec::new();
        let mut image = Vec::new();
        for (name, path) in [("manifest", manifest), ("sigstruct", sigstruct)] {
            let fd = match File::open(&path) {
                Ok(f) => OwnedFd::from(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(LaunchError::Unsigned {
                        path,
                        bundle: bundle.to_owned(),
                    })
                }
                Err(source) => return Err(LaunchError::OpenImage { path, source }),
            };
            args.push(format!("{name}=/proc/self/fd/{}", fd.as_raw_fd()));
            image.push(fd);
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
        let platform_dir = crate::commands::attest::sim_platform_dir();
        let platform =
            erpal_sim::platform::Platform::load_or_create(&platform_dir).map_err(|source| {
                LaunchError::Platform {
                    path: platform_dir.clone(),
                    reason: format!("{:#}", anyhow::Error::new(source)),
                }
            })?;
        let quoter = sim_quoter_memfd(&platform).map_err(|reason| LaunchError::Platform {
            path: platform_dir.clone(),
            reason,
        })?;
        launch.sim_quoter_fd = Some(quoter.as_raw_fd());
        open.push(quoter);
        // Only the platform secret goes in (the PCK and root keys stay with the host's quoting
        // enclave), as a descriptor: container root may not reach the 0700 directory, e.g. in
        // a user namespace.
        let secret_path = platform_dir.join(erpal_sim::platform::SECRET_FILE);
        let secret = File::open(&secret_path).map_err(|source| LaunchError::OpenImage {
            path: secret_path,
            source,
        })?;
        let secret = OwnedFd::from(secret);
        args.push(format!("platform=/proc/self/fd/{}", secret.as_raw_fd()));
        open.push(secret);
        launch.extra_args = args.join(" ");
        open.extend(image);
    }
    Ok(HostLaunch {
        launch,
        _open: open,
    })
}

/// A sealed memfd holding a fresh sim quoter of `platform` (an attestation key certified by the
/// sim PCK key, never the PCK key itself): the container's init process quotes with it, as a
/// quoting enclave instance would, so the enclave's workload gets quotes from inside.
fn sim_quoter_memfd(platform: &erpal_sim::platform::Platform) -> Result<OwnedFd, String> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    use std::io::Write as _;
    let quoter = attestation::sim::SimQuoter::new(platform.pki())
        .map_err(|e| format!("starting the sim quoter: {e}"))?;
    let fd = memfd_create(
        c"rune-sim-quoter",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(|e| format!("memfd for the sim quoter: {e}"))?;
    let mut file = File::from(fd);
    file.write_all(&quoter.export())
        .map_err(|e| format!("writing the sim quoter: {e}"))?;
    let seals = SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_SEAL;
    fcntl(file.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
        .map_err(|e| format!("sealing the sim quoter memfd: {e}"))?;
    Ok(OwnedFd::from(file))
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
