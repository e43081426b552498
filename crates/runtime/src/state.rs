//! Container state as rune shows it (`state`, `list`) and rune's own record beside libcontainer's.
//!
//! The JSON printed by `state` is runc's `containerState` (ociVersion, id, pid, status, bundle,
//! rootfs, created, owner, annotations): containerd and Docker parse exactly that. rune adds an
//! `enclave` object for enclave containers.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use libcontainer::container::{Container, ContainerStatus};
use serde::{Deserialize, Serialize};

/// File in the container's bundle copy holding [`RuneRecord`].
const RECORD_FILE: &str = "rune.json";

/// What rune remembers about a container beyond libcontainer's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuneRecord {
    /// The user's bundle (libcontainer was given a prepared copy).
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Enclave configuration, for enclave containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclave: Option<serde_json::Value>,
}

impl RuneRecord {
    /// Writes the record into a container's bundle copy (written once, before the container
    /// exists, so no rename dance is needed).
    pub fn save(&self, bundle_copy: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        fs::write(bundle_copy.join(RECORD_FILE), json)
    }

    /// Reads the record from a container's bundle copy; a container created by another runtime
    /// has none.
    pub fn load(bundle_copy: &Path) -> io::Result<Option<Self>> {
        match fs::read(bundle_copy.join(RECORD_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// runc's state JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateView {
    /// OCI runtime spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Init process id; 0 once stopped.
    pub pid: i32,
    /// created, running, paused, stopped or creating.
    pub status: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Root filesystem.
    pub rootfs: PathBuf,
    /// Creation time (RFC 3339).
    pub created: DateTime<Utc>,
    /// Owner user name ("" for root, as runc prints).
    pub owner: String,
    /// The spec's annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The enclave this container runs in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclave: Option<serde_json::Value>,
}

impl StateView {
    /// Builds the view of a loaded container.
    pub fn of(container: &Container, record: Option<&RuneRecord>) -> Self {
        let status = container.status();
        let pid = match status {
            ContainerStatus::Stopped => 0,
            _ => container.pid().map(|p| p.as_raw()).unwrap_or(0),
        };
        let bundle = record
            .map(|r| r.bundle.clone())
            .unwrap_or_else(|| container.bundle().clone());
        let rootfs = record
            .map(|r| r.rootfs.clone())
            .unwrap_or_else(|| bundle.join("rootfs"));
        Self {
            oci_version: oci_spec::runtime::VERSION.to_owned(),
            id: container.id().to_owned(),
            pid,
            status: status_name(status).to_owned(),
            bundle,
            rootfs,
            created: container.created().unwrap_or_default(),
            owner: String::new(),
            annotations: container.state.annotations.clone().unwrap_or_default(),
            enclave: record.and_then(|r| r.enclave.clone()),
        }
    }
}

/// runc's lowercase status names.
pub fn status_name(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}
