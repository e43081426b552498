use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use procfs::ProcError;
use procfs::process::MountInfo;

use super::ControllerType;
use super::controller_type::CONTROLLERS;

#[derive(thiserror::Error, Debug)]
pub enum V1MountPointError {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("failed to get mountinfo: {0}")]
    MountInfo(ProcError),
    #[error("could not find mountpoint for {subsystem}")]
    NotFound { subsystem: ControllerType },
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),
}

/// List all cgroup v1 subsystem mount points on the system. This can include unsupported
/// subsystems, comounted controllers and named hierarchies.
pub fn list_subsystem_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    list_cgroup_mounts().map(|(mount_points, _)| mount_points)
}

/// The hierarchies beside the controllers' that a process of a container joins, as runc does:
/// the named `name=systemd` one and, on a hybrid host, the unified (cgroup v2) one. systemd
/// tracks services by them, so a container left in its caller's would count as part of the
/// caller's service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingHierarchies {
    /// Mount point of the `name=systemd` hierarchy.
    pub systemd: Option<PathBuf>,
    /// Mount point of the cgroup v2 hierarchy under /sys/fs/cgroup (hybrid hosts).
    pub unified: Option<PathBuf>,
}

/// The cgroup v1 mount points (as [`list_subsystem_mount_points`]) and the tracking
/// hierarchies, from one read of mountinfo.
pub fn list_cgroup_mounts() -> Result<(Vec<PathBuf>, TrackingHierarchies), V1MountPointError> {
    let reader = BufReader::new(ProcfsHandle::new()?.open(
        ProcfsBase::ProcSelf,
        "mountinfo",
        OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC,
    )?);
    let mut mount_points = Vec::new();
    let mut tracking = TrackingHierarchies::default();
    for line in reader.lines() {
        let line = line?;
        let m = MountInfo::from_line(&line).map_err(V1MountPointError::MountInfo)?;
        match m.fs_type.as_str() {
            "cgroup" => {
                let named_systemd = m
                    .super_options
                    .get("name")
                    .is_some_and(|name| name.as_deref() == Some("systemd"));
                if named_systemd {
                    tracking.systemd = Some(m.mount_point.clone());
                }
                mount_points.push(m.mount_point);
            }
            "cgroup2" if m.mount_point.starts_with("/sys/fs/cgroup/") => {
                tracking.unified = Some(m.mount_point);
            }
            _ => {}
        }
    }
    Ok((mount_points, tracking))
}

/// List the mount points of all currently supported cgroup subsystems.
pub fn list_supported_mount_points() -> Result<HashMap<ControllerType, PathBuf>, V1MountPointError>
{
    let mut mount_paths = HashMap::with_capacity(CONTROLLERS.len());
    let mount_points = list_subsystem_mount_points()?;

    for controller in CONTROLLERS {
        if let Ok(mount_point) = find_subsystem_mount_point(&mount_points, controller) {
            mount_paths.insert(controller.to_owned(), mount_point);
        }
    }

    Ok(mount_paths)
}

pub fn get_subsystem_mount_point(subsystem: &ControllerType) -> Result<PathBuf, V1MountPointError> {
    find_subsystem_mount_point(&list_subsystem_mount_points()?, subsystem)
}

/// Picks the mount point of `subsystem` among the cgroup v1 `mount_points` (as listed by
/// [`list_subsystem_mount_points`]), so that callers looking up several subsystems read
/// mountinfo once.
pub fn find_subsystem_mount_point(
    mount_points: &[PathBuf],
    subsystem: &ControllerType,
) -> Result<PathBuf, V1MountPointError> {
    let subsystem_name = subsystem.to_string();
    mount_points
        .iter()
        .find(|mount_point| {
            // Some systems mount net_prio and net_cls in the same directory
            // other systems mount them in their own directories. This
            // should handle both cases.
            match subsystem_name.as_str() {
                "net_cls" => ["net_cls,net_prio", "net_prio,net_cls", "net_cls"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "net_prio" => ["net_cls,net_prio", "net_prio,net_cls", "net_prio"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpu" => ["cpu,cpuacct", "cpu"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpuacct" => ["cpu,cpuacct", "cpuacct"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                _ => mount_point.ends_with(&subsystem_name),
            }
        })
        .cloned()
        .ok_or(V1MountPointError::NotFound {
            subsystem: *subsystem,
        })
}

