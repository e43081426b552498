//! Reading a bundle's `config.json` and preparing the spec that libcontainer receives.
//!
//! libcontainer reads `config.json` from the bundle it is given, so rune writes the prepared spec
//! into a private copy of the bundle (a directory holding only `config.json`, with every path made
//! absolute) and points the state back at the user's bundle once the container exists. The
//! preparation is where rune departs from libcontainer's defaults to behave like runc:
//! - no `linux.cgroupsPath`: the container nests under rune's own cgroup (runc), instead of a
//!   `:youki:<id>` group at the root of each hierarchy;
//! - an enclave container gets private tmpfs directories for its attestation API socket and its
//!   secrets ([`API_DIR`], [`SECRETS_DIR`]), and `ENCLAVE_*` leaves the workload's environment.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};

use crate::enclave::{is_enclave_env, EnclaveConfig, EnclaveType, AESMD_DIR, SGX_DEVICES};

/// Cap on `config.json`: real specs are a few KiB; this bounds what a hostile file can make us parse.
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Where cgroup v1 hierarchies are mounted on the host and in the container.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// In an enclave container: the tmpfs directory holding the attestation API's unix socket.
pub const API_DIR: &str = "/run/enclave";
/// In an enclave container with `ENCLAVE_SECRETS`: the tmpfs directory the secrets are
/// written to, as `repository/type/tag`.
pub const SECRETS_DIR: &str = "/run/secrets";

/// Why a bundle could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle directory is missing or unreadable.
    #[error("bundle {path}: {source}")]
    Bundle {
        /// The bundle path as given.
        path: PathBuf,
        /// Why it could not be opened.
        source: io::Error,
    },
    /// `config.json` is absent.
    #[error("{path} not found: a bundle needs a config.json (create one with `rune spec`)")]
    ConfigMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `config.json` could not be read.
    #[error("reading {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
    /// `config.json` is larger than any sane spec.
    #[error("{path} is {size} bytes, more than the {MAX_CONFIG_BYTES}-byte limit")]
    ConfigTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// `config.json` is not a valid OCI runtime spec.
    #[error("invalid {path}: {reason}")]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the field, line and column.
        reason: String,
    },
    /// A field the runtime needs is absent or empty.
    #[error("invalid {path}: {field} {problem}")]
    Field {
        /// The file.
        path: PathBuf,
        /// JSON path of the field, e.g. `process.args`.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The root filesystem does not exist.
    #[error("rootfs {path} (root.path in {config}) does not exist")]
    RootfsMissing {
        /// Resolved rootfs path.
        path: PathBuf,
        /// The config that named it.
        config: PathBuf,
    },
    /// The private copy of the bundle could not be written.
    #[error("writing prepared spec {path}: {source}")]
    WritePrepared {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
}

/// A bundle whose spec passed validation.
#[derive(Debug)]
pub struct Bundle {
    /// Canonical path of the user's bundle directory.
    pub dir: PathBuf,
    /// The spec, with `root.path` absolute.
    pub spec: Spec,
}

impl Bundle {
    /// Loads and validates `config.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        let dir = fs::canonicalize(dir).map_err(|source| BundleError::Bundle {
            path: dir.to_owned(),
            source,
        })?;
        let config = dir.join("config.json");
        let spec = read_spec(&config)?;
        let mut bundle = Self { dir, spec };
        bundle.validate(&config)?;
        Ok(bundle)
    }

    /// Path of the rootfs, absolute.
    pub fn rootfs(&self) -> PathBuf {
        self.spec
            .root()
            .as_ref()
            .map(|root| self.dir.join(root.path()))
            .unwrap_or_else(|| self.dir.join("rootfs"))
    }

    fn validate(&mut self, config: &Path) -> Result<(), BundleError> {
        let field = |field, problem: &str| BundleError::Field {
            path: config.to_owned(),
            field,
            problem: problem.to_owned(),
        };
        if !self.spec.version().starts_with("1.") {
            return Err(field(
                "ociVersion",
                &format!("is {:?}; rune supports 1.x", self.spec.version()),
            ));
        }
        let root = self
            .spec
            .root()
            .as_ref()
            .ok_or_else(|| field("root", "is missing"))?;
        if root.path().as_os_str().is_empty() {
            return Err(field("root.path", "is empty"));
        }
        let rootfs = self.rootfs();
        if !rootfs.is_dir() {
            return Err(BundleError::RootfsMissing {
                path: rootfs,
                config: config.to_owned(),
            });
        }
        let process = self
            .spec
            .process()
            .as_ref()
            .ok_or_else(|| field("process", "is missing"))?;
        match process.args() {
            Some(args) if !args.is_empty() => {}
            _ => return Err(field("process.args", "is missing or empty")),
        }
        if process.cwd().is_relative() {
            return Err(field("process.cwd", "must be an absolute path"));
        }
        if self.spec.linux().is_none() {
            return Err(field(
                "linux",
                "is missing: rune runs Linux containers only",
            ));
        }
        Ok(())
    }

    /// Turns the spec into the one libcontainer runs, and writes it as `dir/config.json`.
    ///
    /// `dir` must not exist yet; the caller removes it once the container is created.
    pub fn write_prepared(
        &self,
        dir: &Path,
        container_id: &str,
        host: &HostCgroups,
        enclave: Option<&EnclaveConfig>,
    ) -> Result<Spec, BundleError> {
        let spec = self.prepared_spec(container_id, host, enclave);
        let path = dir.join("config.json");
        let write_err = |source| BundleError::WritePrepared {
            path: path.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_err)?;
        let json = serde_json::to_vec(&spec).map_err(|e| write_err(io::Error::other(e)))?;
        fs::write(&path, json).map_err(write_err)?;
        Ok(spec)
    }

    /// The spec libcontainer should run (see the module doc for each change).
    pub fn prepared_spec(
        &self,
        container_id: &str,
        host: &HostCgroups,
        enclave: Option<&EnclaveConfig>,
    ) -> Spec {
        let mut spec = self.spec.clone();
        if let Some(mut process) = spec.process().clone() {
            if let Some(env) = process.env().clone() {
                process.set_env(Some(
                    env.into_iter().filter(|e| !is_enclave_env(e)).collect(),
                ));
            }
            spec.set_process(Some(process));
        }
        if enclave.is_some_and(|e| e.kind == EnclaveType::IntelSgx) {
            add_sgx_devices(&mut spec);
        }
        if let Some(enclave) = enclave {
            add_enclave_tmpfs(&mut spec, enclave);
        }
        let rootfs = self.rootfs();
        if let Some(mut root) = spec.root().clone() {
            root.set_path(rootfs);
            spec.set_root(Some(root));
        }
        if let Some(mounts) = spec.mounts().clone() {
            let mounts: Vec<Mount> = mounts
                .into_iter()
                .map(|mut mount| {
                    if let Some(source) = mount.source() {
                        if source.is_relative() && is_bind(&mount) {
                            let absolute = self.dir.join(source);
                            mount.set_source(Some(absolute));
                        }
                    }
                    mount
                })
                .collect();
            spec.set_mounts(Some(mounts));
        }
        if let Some(mut linux) = spec.linux().clone() {
            if linux.cgroups_path().is_none() {
                linux.set_cgroups_path(Some(host.own_path.join(container_id)));
            }
            spec.set_linux(Some(linux));
        }
        spec
    }
}

/// Mounts the private tmpfs directories of an enclave container, owned by the workload's user:
/// [`API_DIR`] for the attestation API socket and, when secrets are configured,
/// [`SECRETS_DIR`]. Secrets written there never reach the container's writable layer or the
/// host's disk (tmpfs is memory; these mounts are not swapped out to a file the container
/// could name).
fn add_enclave_tmpfs(spec: &mut Spec, enclave: &EnclaveConfig) {
    use oci_spec::runtime::MountBuilder;
    let (uid, gid) = spec
        .process()
        .as_ref()
        .map(|p| (p.user().uid(), p.user().gid()))
        .unwrap_or((0, 0));
    let mut dirs = vec![API_DIR];
    if !enclave.secrets.is_empty() {
        dirs.push(SECRETS_DIR);
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for dir in dirs {
        let mount = MountBuilder::default()
            .destination(dir)
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec![
                "nosuid".to_owned(),
                "nodev".to_owned(),
                "noexec".to_owned(),
                "mode=0700".to_owned(),
                format!("uid={uid}"),
                format!("gid={gid}"),
                "size=16m".to_owned(),
            ])
            .build()
            .expect("every field of the tmpfs mount is set");
        mounts.push(mount);
    }
    spec.set_mounts(Some(mounts));
}

/// Gives an SGX container the enclave device nodes and the aesmd socket, as Inclavare's rune did.
fn add_sgx_devices(spec: &mut Spec) {
    use oci_spec::runtime::{
        LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, MountBuilder,
    };
    let Some(mut linux) = spec.linux().clone() else {
        return;
    };
    let mut devices = linux.devices().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    for path in SGX_DEVICES {
        let Ok(meta) = fs::metadata(path) else {
            continue;
        };
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let rdev = meta.rdev();
        let (major, minor) = (
            i64::try_from(nix::sys::stat::major(rdev)).unwrap_or(-1),
            i64::try_from(nix::sys::stat::minor(rdev)).unwrap_or(-1),
        );
        if let Ok(device) = LinuxDeviceBuilder::default()
            .path(PathBuf::from(path))
            .typ(LinuxDeviceType::C)
            .major(major)
            .minor(minor)
            .file_mode(meta.permissions().mode() & 0o777)
            .build()
        {
            devices.push(device);
        }
        if let Ok(rule) = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(major)
            .minor(minor)
            .access("rwm")
            .build()
        {
            rules.push(rule);
        }
    }
    linux.set_devices(Some(devices));
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    if Path::new(AESMD_DIR).is_dir() {
        if let Ok(mount) = MountBuilder::default()
            .destination(AESMD_DIR)
            .typ("bind")
            .source(AESMD_DIR)
            .options(vec!["rbind".to_owned(), "rw".to_owned()])
            .build()
        {
            let mut mounts = spec.mounts().clone().unwrap_or_default();
            mounts.push(mount);
            spec.set_mounts(Some(mounts));
        }
    }
}

fn is_bind(mount: &Mount) -> bool {
    mount.typ().as_deref() == Some("bind")
        || mount
            .options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

fn read_spec(path: &Path) -> Result<Spec, BundleError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BundleError::ConfigMissing {
                path: path.to_owned(),
            })
        }
        Err(source) => {
            return Err(BundleError::ConfigRead {
                path: path.to_owned(),
                source,
            })
        }
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(BundleError::ConfigTooLarge {
            path: path.to_owned(),
            size: meta.len(),
        });
    }
    let bytes = fs::read(path).map_err(|source| BundleError::ConfigRead {
        path: path.to_owned(),
        source,
    })?;
    parse_spec(&bytes).map_err(|reason| BundleError::ConfigInvalid {
        path: path.to_owned(),
        reason,
    })
}

/// Parses an OCI runtime spec; the error names the field, line and column.
pub fn parse_spec(bytes: &[u8]) -> Result<Spec, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Why a new container cannot have the cgroup its spec gives it.
#[derive(Debug, thiserror::Error)]
pub enum CgroupUnfit {
    /// Processes already live in it: another container's, or anything else's.
    #[error(
        "cgroup {path} is not empty: {count} process(es) already in it; a container needs a \
         cgroup of its own (linux.cgroupsPath, or a container id no other container uses)"
    )]
    NotEmpty {
        /// The cgroup directory.
        path: PathBuf,
        /// How many processes `cgroup.procs` lists.
        count: usize,
    },
    /// It is frozen: the container's init would stop as soon as it joined.
    #[error("cgroup {path} is frozen: a container's init could not run in it")]
    Frozen {
        /// The cgroup directory.
        path: PathBuf,
    },
}

/// The host's cgroup facts that shape a prepared spec.
#[derive(Debug, Clone, Default)]
pub struct HostCgroups {
    /// rune's own cgroup (the unified one on v2, the memory hierarchy's on v1).
    pub own_path: PathBuf,
    /// Names of the cgroup v1 hierarchies mounted under /sys/fs/cgroup (empty on pure v2).
    pub v1_subsystems: Vec<String>,
}

impl HostCgroups {
    /// Reads `/proc/self/cgroup` and `/proc/self/mountinfo`.
    pub fn detect() -> io::Result<Self> {
        let cgroup = fs::read_to_string("/proc/self/cgroup")?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
        Ok(Self::from_proc(&cgroup, &mountinfo))
    }

    /// Refuses a cgroup that already holds processes or is frozen, as runc does: containers
    /// sharing a cgroup share its limits, pause together and are killed together, and the
    /// first one deleted removes the cgroup under the others. A cgroup that does not exist yet
    /// (the usual case) or cannot be read is left to libcontainer.
    pub fn check_unused(&self, cgroups_path: &Path) -> Result<(), CgroupUnfit> {
        self.check_unused_under(Path::new(CGROUP_ROOT), cgroups_path)
    }

    fn check_unused_under(&self, root: &Path, cgroups_path: &Path) -> Result<(), CgroupUnfit> {
        let relative = cgroups_path.strip_prefix("/").unwrap_or(cgroups_path);
        let dirs: Vec<PathBuf> = if self.v1_subsystems.is_empty() {
            vec![root.join(relative)]
        } else {
            self.v1_subsystems
                .iter()
                .map(|name| root.join(name).join(relative))
                .collect()
        };
        for dir in dirs {
            let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) else {
                continue;
            };
            let count = procs.lines().filter(|line| !line.trim().is_empty()).count();
            if count > 0 {
                return Err(CgroupUnfit::NotEmpty { path: dir, count });
            }
            let frozen = read_trimmed(&dir.join("cgroup.freeze")).is_some_and(|v| v == "1")
                || read_trimmed(&dir.join("freezer.state"))
                    .is_some_and(|v| v == "FROZEN" || v == "FREEZING");
            if frozen {
                return Err(CgroupUnfit::Frozen { path: dir });
            }
        }
        Ok(())
    }

    /// Parses the two proc files (split out so it is testable without a host).
    pub fn from_proc(cgroup: &str, mountinfo: &str) -> Self {
        let v1_subsystems: Vec<String> = mountinfo
            .lines()
            .filter_map(|line| {
                // mountinfo: ... mount_point ... - fstype source options
                let (left, right) = line.split_once(" - ")?;
                let fstype = right.split_whitespace().next()?;
                let mount_point = left.split_whitespace().nth(4)?;
                let name = mount_point.strip_prefix("/sys/fs/cgroup/")?;
                (fstype == "cgroup" && !name.contains('/')).then(|| name.to_owned())
            })
            .collect();
        let mut own_path = None;
        for line in cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let wanted = if v1_subsystems.is_empty() {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == "memory")
            };
            if wanted {
                own_path = Some(PathBuf::from(path));
            }
        }
        Self {
            own_path: own_path.unwrap_or_else(|| PathBuf::from("/")),
            v1_subsystems,
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host_nests_under_memory_cgroup() {
        let cgroup = "5:memory:/user.slice\n4:cpu:/other\n0::/unified-path\n";
        let host = HostCgroups::from_proc(cgroup, HYBRID_MOUNTINFO);
        assert_eq!(host.v1_subsystems, ["cpu", "memory", "systemd"]);
        assert_eq!(host.own_path, PathBuf::from("/user.slice"));
    }

    #[test]
    fn pure_v2_host_nests_under_unified_cgroup() {
        let mountinfo = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let host = HostCgroups::from_proc("0::/system.slice/x.service\n", mountinfo);
        assert!(host.v1_subsystems.is_empty());
        assert_eq!(host.own_path, PathBuf::from("/system.slice/x.service"));
    }

    fn fake_cgroup(root: &Path, dir: &str, files: &[(&str, &str)]) {
        let dir = root.join(dir);
        fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn a_new_cgroup_must_be_absent_or_empty_and_thawed() {
        let v2 = HostCgroups::default();
        let root = tempfile::tempdir().unwrap();
        let path = Path::new("/pods/c1");
        assert!(v2.check_unused_under(root.path(), path).is_ok(), "absent");

        fake_cgroup(
            root.path(),
            "pods/c1",
            &[("cgroup.procs", ""), ("cgroup.freeze", "0\n")],
        );
        assert!(v2.check_unused_under(root.path(), path).is_ok(), "empty");

        fake_cgroup(root.path(), "pods/c1", &[("cgroup.freeze", "1\n")]);
        let err = v2.check_unused_under(root.path(), path).unwrap_err();
        assert!(matches!(err, CgroupUnfit::Frozen { .. }), "{err}");

        fake_cgroup(root.path(), "pods/c1", &[("cgroup.procs", "41\n42\n")]);
        let err = v2
            .check_unused_under(root.path(), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pods/c1 is not empty: 2 process(es)"), "{err}");
    }

    #[test]
    fn on_v1_every_hierarchy_is_checked() {
        let v1 = HostCgroups {
            own_path: PathBuf::from("/"),
            v1_subsystems: vec!["memory".into(), "freezer".into()],
        };
        let root = tempfile::tempdir().unwrap();
        let path = Path::new("c1");
        fake_cgroup(root.path(), "memory/c1", &[("cgroup.procs", "")]);
        fake_cgroup(
            root.path(),
            "freezer/c1",
            &[("cgroup.procs", ""), ("freezer.state", "THAWED\n")],
        );
        assert!(v1.check_unused_under(root.path(), path).is_ok());

        fake_cgroup(root.path(), "freezer/c1", &[("freezer.state", "FROZEN\n")]);
        let err = v1
            .check_unused_under(root.path(), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("freezer/c1 is frozen"), "{err}");

        fake_cgroup(root.path(), "memory/c1", &[("cgroup.procs", "7\n")]);
        let err = v1
            .check_unused_under(root.path(), path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("memory/c1 is not empty: 1 process(es)"),
            "{err}"
        );
    }

    #[test]
    fn parse_error_names_the_field() {
        let err = parse_spec(br#"{"ociVersion": "1.0.2", "process": {"args": 5}}"#).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        let err = parse_spec(br#"{"process": {}}"#).unwrap_err();
        assert_eq!(err, "missing field `user` at line 1 column 14");
    }
}
