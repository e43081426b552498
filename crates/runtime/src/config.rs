//! The node configuration file, `/etc/inclavare-containers/config.toml` (Inclavare's location):
//! the enclave runtimes (PALs) installed on this node, the epm socket and the verdictd address.
//!
//! It describes the node, not a container: a container still names its PAL with
//! `ENCLAVE_RUNTIME_PATH` / `enclave.runtime.path`. `rune check` verifies every entry, so an
//! operator learns that a configured PAL is missing before a container fails on it. Unknown keys
//! are refused, as verdictd's config does, so a typo is an error rather than a silent default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the packages install the file.
pub const DEFAULT_CONFIG: &str = "/etc/inclavare-containers/config.toml";
/// epm's default socket (Inclavare's path).
pub const DEFAULT_EPM_SOCKET: &str = "/var/run/epm/epm.sock";

/// The whole file; every table is optional.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Enclave runtimes by name (`sim`, `occlum`, ...).
    #[serde(default)]
    pub enclave_runtime: BTreeMap<String, EnclaveRuntimeEntry>,
    /// The enclave pool manager.
    #[serde(default)]
    pub epm: EpmConfig,
    /// The attestation service.
    #[serde(default)]
    pub verdictd: Option<VerdictdConfig>,
}

/// One installed enclave runtime.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveRuntimeEntry {
    /// Absolute host path of the PAL shared object.
    pub path: PathBuf,
}

/// Where epm listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpmConfig {
    /// The epm unix socket.
    #[serde(default = "default_epm_socket")]
    pub socket: PathBuf,
}

impl Default for EpmConfig {
    fn default() -> Self {
        Self {
            socket: default_epm_socket(),
        }
    }
}

fn default_epm_socket() -> PathBuf {
    PathBuf::from(DEFAULT_EPM_SOCKET)
}

/// Where verdictd serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictdConfig {
    /// Base URL, e.g. `https://127.0.0.1:8080`.
    pub url: String,
}

/// Why the file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (the message names the key and line).
    #[error("parsing {}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// An enclave runtime path is relative.
    #[error("{}: enclave_runtime.{name}.path {path:?} must be absolute", .file.display())]
    RelativePalPath {
        /// The file.
        file: PathBuf,
        /// The entry.
        name: String,
        /// The path given.
        path: PathBuf,
    },
}

impl NodeConfig {
    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Self::parse(&text, path).map(Some)
    }

    /// Parses the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        for (name, entry) in &config.enclave_runtime {
            if entry.path.is_relative() {
                return Err(ConfigError::RelativePalPath {
                    file: path.to_owned(),
                    name: name.clone(),
                    path: entry.path.clone(),
                });
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NodeConfig, String> {
        NodeConfig::parse(text, Path::new("/etc/x.toml")).map_err(|e| {
            let mut s = e.to_string();
            if let Some(src) = std::error::Error::source(&e) {
                s = format!("{s}: {src}");
            }
            s
        })
    }

    #[test]
    fn the_packaged_file_parses() {
        let text = include_str!("../../../packaging/etc/inclavare-containers/config.toml");
        let config = parse(text).unwrap();
        assert_eq!(
            config.enclave_runtime["sim"].path,
            PathBuf::from("/usr/lib/inclavare-containers/liberpal-sim.so")
        );
        assert_eq!(config.epm.socket, PathBuf::from(DEFAULT_EPM_SOCKET));
    }

    #[test]
    fn empty_file_means_defaults() {
        let config = parse("").unwrap();
        assert!(config.enclave_runtime.is_empty());
        assert_eq!(config.epm, EpmConfig::default());
        assert_eq!(config.verdictd, None);
    }

    #[test]
    fn unknown_keys_and_relative_paths_are_refused() {
        let err = parse("[epm]\nsockets = \"/x\"\n").unwrap_err();
        assert!(
            err.contains("/etc/x.toml") && err.contains("sockets"),
            "{err}"
        );
        let err = parse("[enclave_runtime.sim]\npath = \"pal.so\"\n").unwrap_err();
        assert_eq!(
            err,
            "/etc/x.toml: enclave_runtime.sim.path \"pal.so\" must be absolute"
        );
    }
}
