//! The enclave configuration of a container (DESIGN §3.2): read from the process environment
//! (wins) or the spec's annotations (fallback), validated strictly, and removed from the
//! workload's environment.
//!
//! Unknown `enclave.*` annotations and bad values are errors at `create`: Inclavare silently
//! dropped some, which hid typos until a container ran outside its enclave.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

/// Device nodes an SGX enclave needs (in-kernel driver names, Linux ≥ 5.11).
pub const SGX_DEVICES: &[&str] = &["/dev/sgx_enclave", "/dev/sgx_provision"];
/// The aesmd socket directory bind-mounted into SGX containers, as Inclavare did.
pub const AESMD_DIR: &str = "/var/run/aesmd";

/// The kind of TEE a container runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnclaveType {
    /// Intel SGX hardware, through a PAL such as Occlum or Gramine.
    #[serde(rename = "intelSgx")]
    IntelSgx,
    /// The software TEE: integrity and measurement with real SGX formats, no confidentiality
    /// against root.
    #[serde(rename = "sim")]
    Sim,
}

impl fmt::Display for EnclaveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IntelSgx => "intelSgx",
            Self::Sim => "sim",
        })
    }
}

/// A validated enclave configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveConfig {
    /// The TEE.
    #[serde(rename = "type")]
    pub kind: EnclaveType,
    /// Host path of the enclave runtime (PAL) shared object.
    pub runtime_path: PathBuf,
    /// Arguments for `pal_init`, space separated (commas in the input become spaces).
    pub runtime_args: String,
    /// Log level passed to `pal_init`.
    pub log_level: String,
    /// verdictd address for the in-enclave attestation agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kbs_url: Option<String>,
    /// Secrets (`kbs:///repo/type/tag`) to deliver before the workload starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Host path of the PEM certificates that verdictd's TLS certificate must chain to (its
    /// generated self-signed certificate, or a private CA); default: the web PKI roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kbs_cert: Option<PathBuf>,
    /// The enclave pool tenant of a sim container: its pod sandbox, narrowed by
    /// `ENCLAVE_EPM_TENANT` / `enclave.epm.tenant`, or that label alone, or `host`
    /// (see `epm::tenant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epm_tenant: Option<String>,
    /// How many enclaves of this image epm keeps ready for the tenant
    /// (`ENCLAVE_EPM_PREWARM` / `enclave.epm.prewarm`; default: epm's `--prewarm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epm_prewarm: Option<u32>,
}

impl EnclaveConfig {
    /// True when the runtime args opt out of the enclave pool (`no-epm`).
    pub fn opts_out_of_epm(&self) -> bool {
        self.runtime_args.split_whitespace().any(|a| a == "no-epm")
    }
}

/// One setting: its environment variable and annotation names.
struct Setting {
    env: &'static str,
    annotation: &'static str,
}

const TYPE: Setting = Setting {
    env: "ENCLAVE_TYPE",
    annotation: "enclave.type",
};
const PATH: Setting = Setting {
    env: "ENCLAVE_RUNTIME_PATH",
    annotation: "enclave.runtime.path",
};
const ARGS: Setting = Setting {
    env: "ENCLAVE_RUNTIME_ARGS",
    annotation: "enclave.runtime.args",
};
const LOGLEVEL: Setting = Setting {
    env: "ENCLAVE_RUNTIME_LOGLEVEL",
    annotation: "enclave.runtime.loglevel",
};
const KBS_URL: Setting = Setting {
    env: "ENCLAVE_KBS_URL",
    annotation: "enclave.attestation.kbs_url",
};
const SECRETS: Setting = Setting {
    env: "ENCLAVE_SECRETS",
    annotation: "enclave.secrets",
};
const KBS_CERT: Setting = Setting {
    env: "ENCLAVE_KBS_CERT",
    annotation: "enclave.attestation.kbs_cert",
};
const EPM_TENANT: Setting = Setting {
    env: "ENCLAVE_EPM_TENANT",
    annotation: "enclave.epm.tenant",
};
const EPM_PREWARM: Setting = Setting {
    env: "ENCLAVE_EPM_PREWARM",
    annotation: "enclave.epm.prewarm",
};
const SETTINGS: [Setting; 9] = [
    TYPE,
    PATH,
    ARGS,
    LOGLEVEL,
    KBS_URL,
    KBS_CERT,
    SECRETS,
    EPM_TENANT,
    EPM_PREWARM,
];

/// The annotation containerd's CRI plugin puts on every container of a pod: the pod
/// sandbox's id, which namespaces epm's pool.
pub const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

/// Every enclave setting as `(env var, annotation)`, in the order DESIGN §3.2 lists them (for
/// tooling and the configuration reference's drift test).
pub fn settings() -> impl Iterator<Item = (&'static str, &'static str)> {
    SETTINGS.iter().map(|s| (s.env, s.annotation))
}

/// The log levels Inclavare PALs accept.
const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warning", "error", "off"];

/// Why an enclave configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnclaveConfigError {
    /// An `enclave.*` annotation rune does not know.
    #[error("unknown annotation {key:?}: enclave annotations are {known}")]
    UnknownAnnotation {
        /// The annotation key.
        key: String,
        /// The accepted keys.
        known: String,
    },
    /// A value outside the accepted set.
    #[error("invalid {source_name} {value:?}: expected {expected}")]
    InvalidValue {
        /// `ENCLAVE_TYPE` or `enclave.type`, as the value came.
        source_name: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A setting that an enclave container needs is missing.
    #[error("{what} is set but {missing} is not: {hint}")]
    Missing {
        /// What was set.
        what: String,
        /// What is missing.
        missing: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// Enclave settings without a type.
    #[error("{name} is set but ENCLAVE_TYPE / enclave.type is not: set the enclave type, or remove the enclave settings")]
    NoType {
        /// The setting given.
        name: &'static str,
    },
    /// The PAL shared object does not exist.
    #[error("enclave runtime {path} ({source_name}) does not exist")]
    RuntimeMissing {
        /// The host path.
        path: PathBuf,
        /// Which setting named it.
        source_name: &'static str,
    },
    /// The PAL path is relative.
    #[error("enclave runtime path {path:?} ({source_name}) must be absolute (a host path)")]
    RuntimeRelative {
        /// The path given.
        path: PathBuf,
        /// Which setting named it.
        source_name: &'static str,
    },
    /// SGX requested on a host without SGX.
    #[error("ENCLAVE_TYPE=intelSgx but this host has no SGX device nodes ({missing}): use ENCLAVE_TYPE=sim for the software TEE, or run on an SGX host")]
    NoSgxDevice {
        /// The device nodes that are absent.
        missing: String,
    },
}

/// The setting's value and whether it came from the environment.
fn lookup<'a>(
    env: &'a HashMap<String, String>,
    annotations: &'a HashMap<String, String>,
    setting: &Setting,
) -> Option<(&'a str, &'static str)> {
    env.get(setting.env)
        .map(|v| (v.as_str(), setting.env))
        .or_else(|| {
            annotations
                .get(setting.annotation)
                .map(|v| (v.as_str(), setting.annotation))
        })
}

/// Reads the enclave configuration of `spec`, or `None` for a plain container.
///
/// `host_root` prefixes host paths when checking they exist (tests use a temp dir; rune "/").
pub fn from_spec(
    spec: &Spec,
    host_root: &Path,
) -> Result<Option<EnclaveConfig>, EnclaveConfigError> {
    let env: HashMap<String, String> = spec
        .process()
        .as_ref()
        .and_then(|p| p.env().as_ref())
        .into_iter()
        .flatten()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let annotations = spec.annotations().clone().unwrap_or_default();
    for key in annotations.keys() {
        if key.starts_with("enclave.") && !SETTINGS.iter().any(|s| s.annotation == key) {
            return Err(EnclaveConfigError::UnknownAnnotation {
                key: key.clone(),
                known: SETTINGS
                    .iter()
                    .map(|s| s.annotation)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let get = |s: &Setting| lookup(&env, &annotations, s);

    let kind = match get(&TYPE) {
        None | Some(("", _)) => {
            if let Some((_, name)) = SETTINGS[1..]
                .iter()
                .find_map(|s| get(s).filter(|(v, _)| !v.is_empty()))
            {
                return Err(EnclaveConfigError::NoType { name });
            }
            return Ok(None);
        }
        Some(("intelSgx", _)) => EnclaveType::IntelSgx,
        Some(("sim", _)) => EnclaveType::Sim,
        Some((value, source_name)) => {
            return Err(EnclaveConfigError::InvalidValue {
                source_name,
                value: value.to_owned(),
                expected: "one of intelSgx, sim (or empty for a plain container)".to_owned(),
            })
        }
    };

    let (path, path_source) =
        get(&PATH)
            .filter(|(v, _)| !v.is_empty())
            .ok_or_else(|| EnclaveConfigError::Missing {
                what: format!("ENCLAVE_TYPE={kind}"),
                missing: "ENCLAVE_RUNTIME_PATH / enclave.runtime.path",
                hint: "name the host path of the enclave runtime (PAL) shared object",
            })?;
    let runtime_path = PathBuf::from(path);
    if runtime_path.is_relative() {
        return Err(EnclaveConfigError::RuntimeRelative {
            path: runtime_path,
            source_name: path_source,
        });
    }
    let on_host = host_root.join(runtime_path.strip_prefix("/").unwrap_or(&runtime_path));
    if !on_host.exists() {
        return Err(EnclaveConfigError::RuntimeMissing {
            path: runtime_path,
            source_name: path_source,
        });
    }

    let runtime_args = get(&ARGS)
        .map(|(v, _)| {
            v.replace(',', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();

    let log_level = match get(&LOGLEVEL) {
        None | Some(("", _)) => "info".to_owned(),
        Some((value, source_name)) => {
            let lower = value.to_ascii_lowercase();
            if !LOG_LEVELS.contains(&lower.as_str()) {
                return Err(EnclaveConfigError::InvalidValue {
                    source_name,
                    value: value.to_owned(),
                    expected: format!("one of {}", LOG_LEVELS.join(", ")),
                });
            }
            lower
        }
    };

    let kbs_url = match get(&KBS_URL) {
        None | Some(("", _)) => None,
        Some((value, source_name)) => {
            if !(value.starts_with("http://") || value.starts_with("https://")) {
                return Err(EnclaveConfigError::InvalidValue {
                    source_name,
                    value: value.to_owned(),
                    expected: "an http:// or https:// URL of verdictd".to_owned(),
                });
            }
            Some(value.to_owned())
        }
    };

    let secrets: Vec<String> = match get(&SECRETS) {
        None | Some(("", _)) => Vec::new(),
        Some((value, source_name)) => {
            let list: Vec<String> = value.split(',').map(|s| s.trim().to_owned()).collect();
            for secret in &list {
                if !is_kbs_resource_uri(secret) {
                    return Err(EnclaveConfigError::InvalidValue {
                        source_name,
                        value: secret.clone(),
                        expected: "kbs:///repository/type/tag (a comma list of them)".to_owned(),
                    });
                }
            }
            list
        }
    };
    if !secrets.is_empty() && kbs_url.is_none() {
        return Err(EnclaveConfigError::Missing {
            what: "ENCLAVE_SECRETS".to_owned(),
            missing: "ENCLAVE_KBS_URL / enclave.attestation.kbs_url",
            hint: "secrets are fetched from verdictd at that address",
        });
    }

    let kbs_cert = match get(&KBS_CERT) {
        None | Some(("", _)) => None,
        Some((value, source_name)) => {
            let path = PathBuf::from(value);
            if !path.is_absolute() {
                return Err(EnclaveConfigError::InvalidValue {
                    source_name,
                    value: value.to_owned(),
                    expected: "an absolute host path of a PEM certificate file".to_owned(),
                });
            }
            if !host_root.join(value.trim_start_matches('/')).is_file() {
                return Err(EnclaveConfigError::InvalidValue {
                    source_name,
                    value: value.to_owned(),
                    expected: "an existing PEM certificate file on the host".to_owned(),
                });
            }
            if !kbs_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
            {
                return Err(EnclaveConfigError::Missing {
                    what: source_name.to_owned(),
                    missing: "an https:// ENCLAVE_KBS_URL / enclave.attestation.kbs_url",
                    hint: "the certificate checks verdictd's TLS certificate",
                });
            }
            Some(path)
        }
    };
    let label = match get(&EPM_TENANT) {
        None | Some(("", _)) => None,
        Some((value, source_name)) => {
            epm::tenant::validate("label", value).map_err(|_| {
                EnclaveConfigError::InvalidValue {
                    source_name,
                    value: value.to_owned(),
                    expected: "1 to 128 ASCII letters, digits, '-', '_' or '.'".to_owned(),
                }
            })?;
            Some(value)
        }
    };
    let epm_prewarm = match get(&EPM_PREWARM) {
        None | Some(("", _)) => None,
        Some((value, source_name)) => Some(
            value
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= epm::protocol::MAX_COUNT)
                .ok_or_else(|| EnclaveConfigError::InvalidValue {
                    source_name,
                    value: value.to_owned(),
                    expected: format!("a number from 0 to {}", epm::protocol::MAX_COUNT),
                })?,
        ),
    };
    let epm_tenant = if kind == EnclaveType::Sim {
        let sandbox = annotations.get(SANDBOX_ID_ANNOTATION).map(String::as_str);
        Some(
            epm::tenant::tenant(sandbox, label).map_err(|e| EnclaveConfigError::InvalidValue {
                source_name: SANDBOX_ID_ANNOTATION,
                value: e.value,
                expected: "1 to 128 ASCII letters, digits, '-', '_' or '.'".to_owned(),
            })?,
        )
    } else {
        None
    };

    if kind == EnclaveType::IntelSgx {
        let missing: Vec<&str> = SGX_DEVICES
            .iter()
            .copied()
            .filter(|d| !host_root.join(d.trim_start_matches('/')).exists())
            .collect();
        if !missing.is_empty() {
            return Err(EnclaveConfigError::NoSgxDevice {
                missing: missing.join(", "),
            });
        }
    }

    Ok(Some(EnclaveConfig {
        kind,
        runtime_path,
        runtime_args,
        log_level,
        kbs_url,
        secrets,
        kbs_cert,
        epm_tenant,
        epm_prewarm,
    }))
}

/// `kbs:///repo/type/tag` with three non-empty, traversal-free segments.
fn is_kbs_resource_uri(uri: &str) -> bool {
    let Some(path) = uri.strip_prefix("kbs:///") else {
        return false;
    };
    let parts: Vec<&str> = path.split('/').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// True for the environment variables that configure the enclave (removed from the workload).
pub fn is_enclave_env(entry: &str) -> bool {
    let key = entry.split_once('=').map_or(entry, |(k, _)| k);
    SETTINGS.iter().any(|s| s.env == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{ProcessBuilder, SpecBuilder};

    fn spec(env: &[&str], annotations: &[(&str, &str)]) -> Spec {
        let process = ProcessBuilder::default()
            .env(env.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .build()
            .unwrap();
        SpecBuilder::default()
            .process(process)
            .annotations(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            )
            .build()
            .unwrap()
    }

    fn host_with_pal() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("opt")).unwrap();
        std::fs::write(dir.path().join("opt/pal.so"), b"").unwrap();
        dir
    }

    #[test]
    fn plain_container_has_no_enclave() {
        let host = host_with_pal();
        assert_eq!(
            from_spec(&spec(&["PATH=/bin"], &[]), host.path()).unwrap(),
            None
        );
        assert_eq!(
            from_spec(&spec(&["ENCLAVE_TYPE="], &[]), host.path()).unwrap(),
            None
        );
    }

    #[test]
    fn env_wins_over_annotation() {
        let host = host_with_pal();
        let s = spec(
            &[
                "ENCLAVE_TYPE=sim",
                "ENCLAVE_RUNTIME_PATH=/opt/pal.so",
                "ENCLAVE_RUNTIME_ARGS=a,b c",
            ],
            &[
                ("enclave.type", "intelSgx"),
                ("enclave.runtime.loglevel", "DEBUG"),
            ],
        );
        let config = from_spec(&s, host.path()).unwrap().unwrap();
        assert_eq!(config.kind, EnclaveType::Sim);
        assert_eq!(config.runtime_args, "a b c");
        assert_eq!(config.log_level, "debug");
    }

    #[test]
    fn annotations_alone_configure_an_enclave() {
        let host = host_with_pal();
        let s = spec(
            &[],
            &[
                ("enclave.type", "sim"),
                ("enclave.runtime.path", "/opt/pal.so"),
            ],
        );
        let config = from_spec(&s, host.path()).unwrap().unwrap();
        assert_eq!(config.runtime_path, PathBuf::from("/opt/pal.so"));
        assert_eq!(config.log_level, "info");
    }

    #[test]
    fn errors_name_the_setting_and_value() {
        let host = host_with_pal();
        let err = |env: &[&str], ann: &[(&str, &str)]| {
            from_spec(&spec(env, ann), host.path())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&["ENCLAVE_TYPE=sgx2"], &[]),
            "invalid ENCLAVE_TYPE \"sgx2\": expected one of intelSgx, sim (or empty for a plain container)"
        );
        // One-character values are refused, not dropped (Inclavare dropped them).
        assert!(err(&[], &[("enclave.type", "s")]).starts_with("invalid enclave.type \"s\""));
        assert_eq!(
            err(&[], &[("enclave.runtime.pth", "/x")]),
            "unknown annotation \"enclave.runtime.pth\": enclave annotations are enclave.type, \
             enclave.runtime.path, enclave.runtime.args, enclave.runtime.loglevel, \
             enclave.attestation.kbs_url, enclave.attestation.kbs_cert, enclave.secrets, \
             enclave.epm.tenant, enclave.epm.prewarm"
        );
        assert!(err(&["ENCLAVE_TYPE=sim"], &[]).contains("ENCLAVE_RUNTIME_PATH"));
        assert_eq!(
            err(
                &["ENCLAVE_TYPE=sim", "ENCLAVE_RUNTIME_PATH=/opt/missing.so"],
                &[]
            ),
            "enclave runtime /opt/missing.so (ENCLAVE_RUNTIME_PATH) does not exist"
        );
        assert!(
            err(&["ENCLAVE_TYPE=sim", "ENCLAVE_RUNTIME_PATH=pal.so"], &[])
                .contains("must be absolute")
        );
        assert!(err(
            &[
                "ENCLAVE_TYPE=sim",
                "ENCLAVE_RUNTIME_PATH=/opt/pal.so",
                "ENCLAVE_RUNTIME_LOGLEVEL=loud"
            ],
            &[]
        )
        .starts_with("invalid ENCLAVE_RUNTIME_LOGLEVEL \"loud\""));
        assert!(err(&["ENCLAVE_RUNTIME_PATH=/opt/pal.so"], &[])
            .starts_with("ENCLAVE_RUNTIME_PATH is set but ENCLAVE_TYPE"));
        assert!(err(
            &[
                "ENCLAVE_TYPE=sim",
                "ENCLAVE_RUNTIME_PATH=/opt/pal.so",
                "ENCLAVE_KBS_URL=http://k",
                "ENCLAVE_SECRETS=kbs:///a/b"
            ],
            &[]
        )
        .starts_with("invalid ENCLAVE_SECRETS \"kbs:///a/b\""));
        assert!(err(
            &[
                "ENCLAVE_TYPE=sim",
                "ENCLAVE_RUNTIME_PATH=/opt/pal.so",
                "ENCLAVE_SECRETS=kbs:///a/b/c"
            ],
            &[]
        )
        .contains("ENCLAVE_KBS_URL"));
    }

    #[test]
    fn epm_tenant_comes_from_the_sandbox_narrowed_by_the_label() {
        let host = host_with_pal();
        let sim = ["ENCLAVE_TYPE=sim", "ENCLAVE_RUNTIME_PATH=/opt/pal.so"];
        let config = |env: &[&str], ann: &[(&str, &str)]| {
            let mut all = sim.to_vec();
            all.extend_from_slice(env);
            from_spec(&spec(&all, ann), host.path())
        };
        let tenant =
            |env: &[&str], ann: &[(&str, &str)]| config(env, ann).unwrap().unwrap().epm_tenant;
        assert_eq!(tenant(&[], &[]).as_deref(), Some("host"));
        assert_eq!(
            tenant(&[], &[("enclave.epm.tenant", "team-a")]).as_deref(),
            Some("label:team-a")
        );
        assert_eq!(
            tenant(
                &["ENCLAVE_EPM_TENANT=team-b"],
                &[
                    (SANDBOX_ID_ANNOTATION, "abc123"),
                    ("enclave.epm.tenant", "team-a")
                ]
            )
            .as_deref(),
            Some("sandbox:abc123/label:team-b")
        );
        assert_eq!(
            config(&[], &[("enclave.epm.tenant", "a b")]).unwrap_err().to_string(),
            "invalid enclave.epm.tenant \"a b\": expected 1 to 128 ASCII letters, digits, '-', '_' or '.'"
        );
        assert_eq!(
            config(&["ENCLAVE_EPM_PREWARM=3"], &[])
                .unwrap()
                .unwrap()
                .epm_prewarm,
            Some(3)
        );
        assert_eq!(
            config(&["ENCLAVE_EPM_PREWARM=65"], &[])
                .unwrap_err()
                .to_string(),
            "invalid ENCLAVE_EPM_PREWARM \"65\": expected a number from 0 to 64"
        );
        assert!(is_enclave_env("ENCLAVE_EPM_TENANT=x"));
    }

    #[test]
    fn sgx_without_devices_names_them() {
        let host = host_with_pal();
        let err = from_spec(
            &spec(
                &["ENCLAVE_TYPE=intelSgx", "ENCLAVE_RUNTIME_PATH=/opt/pal.so"],
                &[],
            ),
            host.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("no SGX device nodes (/dev/sgx_enclave, /dev/sgx_provision)"),
            "{err}"
        );
    }

    #[test]
    fn enclave_env_is_recognised() {
        assert!(is_enclave_env("ENCLAVE_TYPE=sim"));
        assert!(is_enclave_env("ENCLAVE_SECRETS="));
        assert!(!is_enclave_env("ENCLAVE_TYPES=x"));
        assert!(!is_enclave_env("PATH=/bin"));
    }
}
