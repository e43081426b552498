//! Configuration: a TOML file plus command-line flags (flags win), turned once into a
//! validated [`Config`] with safe defaults (loopback listener, TLS on, capped bodies).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Deserialize;

/// Default listen address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default request body limit: resources are small secrets; quotes are a few KiB.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Default session lifetime (trustee's default is 5 minutes).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(300);
/// Default token lifetime.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);

/// The config file's contents (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `ADDR:PORT` to listen on.
    pub listen: Option<SocketAddr>,
    /// Data directory (store, keys, generated certificate).
    pub data_dir: Option<PathBuf>,
    /// Serve plain HTTP (tests only).
    pub insecure_http: Option<bool>,
    /// File holding the admin token (created with a fresh token if missing).
    pub admin_token_file: Option<PathBuf>,
    /// PEM of the sim root CA whose quotes are accepted (as `tee: sim`).
    pub sim_root_ca: Option<PathBuf>,
    /// DCAP collateral: a JSON file or a directory of `<tee>-<fmspc>-<ca>.json`.
    pub collateral: Option<PathBuf>,
    /// TLS certificate chain (PEM); generated into the data dir when absent.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Session lifetime in seconds.
    pub session_ttl_secs: Option<u64>,
    /// Token lifetime in seconds.
    pub token_ttl_secs: Option<u64>,
    /// Request body limit in bytes.
    pub max_body_bytes: Option<usize>,
}

impl FileConfig {
    /// Read a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Plain HTTP instead of TLS.
    pub insecure_http: bool,
    /// Admin token file.
    pub admin_token_file: PathBuf,
    /// Sim root CA PEM file.
    pub sim_root_ca: Option<PathBuf>,
    /// DCAP collateral file or directory.
    pub collateral: Option<PathBuf>,
    /// TLS certificate and key files (generated in the data dir when `None`).
    pub tls_cert_key: Option<(PathBuf, PathBuf)>,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Request body limit.
    pub max_body: usize,
}

impl Config {
    /// Defaults for a data directory (used by tests and as the base of [`Config::resolve`]).
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| ([127, 0, 0, 1], 8080).into()),
            admin_token_file: data_dir.join("admin-token"),
            data_dir,
            insecure_http: false,
            sim_root_ca: None,
            collateral: None,
            tls_cert_key: None,
            session_ttl: DEFAULT_SESSION_TTL,
            token_ttl: DEFAULT_TOKEN_TTL,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Merge a config file (optional) with flag values (which win).
    pub fn resolve(file: FileConfig, flags: FileConfig) -> anyhow::Result<Self> {
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .context("no data directory: pass --data-dir DIR or set data_dir in --config")?;
        let mut config = Self::new(data_dir);
        if let Some(listen) = flags.listen.or(file.listen) {
            config.listen = listen;
        }
        config.insecure_http = flags.insecure_http.or(file.insecure_http).unwrap_or(false);
        if let Some(path) = flags.admin_token_file.or(file.admin_token_file) {
            config.admin_token_file = path;
        }
        config.sim_root_ca = flags.sim_root_ca.or(file.sim_root_ca);
        config.collateral = flags.collateral.or(file.collateral);
        match (
            flags.tls_cert.or(file.tls_cert),
            flags.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => config.tls_cert_key = Some((cert, key)),
            (None, None) => {}
            _ => bail!("tls_cert and tls_key must be set together"),
        }
        if let Some(secs) = flags.session_ttl_secs.or(file.session_ttl_secs) {
            if secs == 0 {
                bail!("session_ttl_secs must be at least 1");
            }
            config.session_ttl = Duration::from_secs(secs);
        }
        if let Some(secs) = flags.token_ttl_secs.or(file.token_ttl_secs) {
            if secs == 0 {
                bail!("token_ttl_secs must be at least 1");
            }
            config.token_ttl = Duration::from_secs(secs);
        }
        if let Some(max) = flags.max_body_bytes.or(file.max_body_bytes) {
            if max < 1024 {
                bail!("max_body_bytes {max} is too small: at least 1024");
            }
            config.max_body = max;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_and_unknown_keys_are_refused() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/a\"\nsession_ttl_secs = 10\n",
        )
        .unwrap();
        let flags = FileConfig {
            data_dir: Some("/b".into()),
            ..FileConfig::default()
        };
        let config = Config::resolve(file, flags).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/b"));
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.session_ttl, Duration::from_secs(10));
        assert_eq!(config.admin_token_file, PathBuf::from("/b/admin-token"));
        assert!(!config.insecure_http);
        assert!(toml::from_str::<FileConfig>("lisen = 1").is_err());
        let err = Config::resolve(FileConfig::default(), FileConfig::default()).unwrap_err();
        assert!(err.to_string().starts_with("no data directory"));
    }
}
