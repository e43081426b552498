//! The sim enclave manifest: what the signer vouches for, parsed strictly.
//!
//! `BUNDLE/enclave/manifest.json` is untrusted input until its measurement matches the
//! SIGSTRUCT, so [`Manifest::parse`] caps its size before parsing ([`MAX_MANIFEST_SIZE`]),
//! rejects unknown fields, duplicate keys and trailing bytes, and returns a [`Manifest`] whose
//! invariants hold: absolute normalised paths, trusted files sorted and unique, the entrypoint
//! among them, a power-of-two memory size large enough for the measured pages.
//!
//! The JSON form (written pretty by the signer; field order as below):
//!
//! ```json
//! {
//!   "format": "rune-sim-manifest/1",
//!   "tee": "sim",
//!   "entrypoint": "/bin/busybox",
//!   "argv": { "policy": "fixed", "argv": ["busybox", "sh", "-c", "echo hi"] },
//!   "env": { "policy": "allow", "names": ["HOME", "PATH", "TERM"] },
//!   "trusted_files": [
//!     { "path": "/bin/busybox", "sha256": "<64 lowercase hex>", "size": 2000000 }
//!   ],
//!   "isv_prod_id": 0,
//!   "isv_svn": 0,
//!   "debug": false,
//!   "memory_size": 268435456
//! }
//! ```
//!
//! Argv policy: `fixed` (the workload's argv must equal `argv` exactly, argv\[0\] included) or
//! `any`. Env policy: `fixed` (the environment must be exactly the `env` entries, in any
//! order), `allow` (every variable's name must be in `names`, values are free) or `any`
//! (anything except the dynamic loader's `LD_*` variables, which would load unmeasured code).
//!
//! The measured form is [`Manifest::canonical_bytes`]: compact JSON of the same fields in the
//! same order (serde_json's encoding), so whitespace in the file does not matter but every
//! value does.

use std::fmt;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::measure::{pages_needed, PAGE};

/// The `format` value of this manifest version.
pub const FORMAT: &str = "rune-sim-manifest/1";
/// The `tee` value: manifests are for the software TEE only.
pub const TEE: &str = "sim";
/// Largest manifest accepted, checked before parsing. One MiB holds over 5,000 trusted files;
/// the measurement lays the manifest into enclave pages, so it must stay small.
pub const MAX_MANIFEST_SIZE: usize = 1 << 20;
/// Largest `memory_size`: 64 GiB, the most any SGX enclave of this era is built with.
pub const MAX_MEMORY_SIZE: u64 = 1 << 36;
/// Default `memory_size`: 256 MiB.
pub const DEFAULT_MEMORY_SIZE: u64 = 1 << 28;

/// Why a manifest does not parse or is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest is larger than [`MAX_MANIFEST_SIZE`].
    #[error("sim enclave manifest is {size} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// The bytes are not JSON of the manifest's shape.
    #[error("sim enclave manifest is not valid: {reason}")]
    Json {
        /// serde_json's description, with line and column.
        reason: String,
    },
    /// A field has a value the manifest does not allow.
    #[error("sim enclave manifest field {field} = {value:?} is invalid: {reason}")]
    Field {
        /// The field, e.g. `trusted_files[2].path`.
        field: String,
        /// The offending value (truncated if long).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A SHA-256 digest, written as 64 lowercase hex digits in JSON and messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Sha256Digest {
    /// Parses 64 lowercase hex digits (uppercase is refused so the canonical form is unique).
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Self(out))
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 lowercase hex digits"))
    }
}

/// Which argv the workload may be started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ArgvPolicy {
    /// Exactly this argv, `argv[0]` included (fixed at signing time).
    Fixed {
        /// The argv.
        argv: Vec<String>,
    },
    /// Any argv.
    Any,
}

/// Which environment the workload may be started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EnvPolicy {
    /// Exactly these `NAME=value` entries, in any order.
    Fixed {
        /// The entries.
        env: Vec<String>,
    },
    /// Variables whose names are listed, with any values.
    Allow {
        /// The allowed names.
        names: Vec<String>,
    },
    /// Any variables except the dynamic loader's `LD_*`.
    Any,
}

/// A file whose content is part of the enclave's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedFile {
    /// Absolute path inside the container's root, symlinks resolved.
    pub path: String,
    /// SHA-256 of the content.
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
}

/// The JSON shape, in the measured field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    format: String,
    tee: String,
    entrypoint: String,
    argv: ArgvPolicy,
    env: EnvPolicy,
    trusted_files: Vec<TrustedFile>,
    isv_prod_id: u16,
    isv_svn: u16,
    debug: bool,
    memory_size: u64,
}

/// A valid sim enclave manifest. Build one with [`Manifest::new`] or [`Manifest::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    raw: RawManifest,
}

/// The signer-chosen fields of a manifest, for [`Manifest::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFields {
    /// Absolute in-root path of the program, symlinks resolved.
    pub entrypoint: String,
    /// Argv policy.
    pub argv: ArgvPolicy,
    /// Environment policy.
    pub env: EnvPolicy,
    /// Trusted files (any order; sorted by [`Manifest::new`]).
    pub trusted_files: Vec<TrustedFile>,
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV security version.
    pub isv_svn: u16,
    /// Whether the enclave is a debug enclave (ATTRIBUTES.DEBUG).
    pub debug: bool,
    /// Enclave size for ECREATE: a power of two.
    pub memory_size: u64,
}

impl Manifest {
    /// Builds and validates a manifest; trusted files are sorted by path.
    pub fn new(fields: ManifestFields) -> Result<Self, ManifestError> {
        let mut trusted_files = fields.trusted_files;
        trusted_files.sort_by(|a, b| a.path.cmp(&b.path));
        Self::validated(RawManifest {
            format: FORMAT.to_owned(),
            tee: TEE.to_owned(),
            entrypoint: fields.entrypoint,
            argv: fields.argv,
            env: fields.env,
            trusted_files,
            isv_prod_id: fields.isv_prod_id,
            isv_svn: fields.isv_svn,
            debug: fields.debug,
            memory_size: fields.memory_size,
        })
    }

    /// Parses manifest bytes: at most [`MAX_MANIFEST_SIZE`], strict JSON, valid fields.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge {
                size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
                max: MAX_MANIFEST_SIZE,
            });
        }
        let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Json {
            reason: e.to_string(),
        })?;
        Self::validated(raw)
    }

    /// The bytes MRENCLAVE covers: compact JSON in the documented field order.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serialising plain strings, integers and bools into a Vec cannot fail.
        serde_json::to_vec(&self.raw).unwrap_or_default()
    }

    /// The human-readable form written to `manifest.json`.
    pub fn to_pretty_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.raw).unwrap_or_default();
        text.push('\n');
        text
    }

    /// A JSON value of the manifest (for `inspect`).
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(&self.raw).unwrap_or(serde_json::Value::Null)
    }

    /// Absolute in-root path of the program.
    pub fn entrypoint(&self) -> &str {
        &self.raw.entrypoint
    }

    /// The argv policy.
    pub fn argv(&self) -> &ArgvPolicy {
        &self.raw.argv
    }

    /// The environment policy.
    pub fn env(&self) -> &EnvPolicy {
        &self.raw.env
    }

    /// Trusted files, sorted by path.
    pub fn trusted_files(&self) -> &[TrustedFile] {
        &self.raw.trusted_files
    }

    /// The trusted file at `path`, if any.
    pub fn trusted_file(&self, path: &str) -> Option<&TrustedFile> {
        self.raw
            .trusted_files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .and_then(|i| self.raw.trusted_files.get(i))
    }

    /// ISV product id.
    pub fn isv_prod_id(&self) -> u16 {
        self.raw.isv_prod_id
    }

    /// ISV security version.
    pub fn isv_svn(&self) -> u16 {
        self.raw.isv_svn
    }

    /// Whether this is a debug enclave.
    pub fn debug(&self) -> bool {
        self.raw.debug
    }

    /// Enclave size (ECREATE SIZE).
    pub fn memory_size(&self) -> u64 {
        self.raw.memory_size
    }

    /// Returns a copy with one trusted file's recorded hash replaced (for tests and tooling
    /// that demonstrate tamper detection). `None` if there is no such file.
    pub fn with_trusted_hash(&self, path: &str, sha256: Sha256Digest) -> Option<Self> {
        let mut raw = self.raw.clone();
        raw.trusted_files
            .iter_mut()
            .find(|f| f.path == path)?
            .sha256 = sha256;
        Some(Self { raw })
    }

    fn validated(raw: RawManifest) -> Result<Self, ManifestError> {
        let bad = |field: &str, value: &dyn fmt::Display, reason| ManifestError::Field {
            field: field.to_owned(),
            value: truncate(&value.to_string()),
            reason,
        };
        if raw.format != FORMAT {
            return Err(bad(
                "format",
                &raw.format,
                "expected \"rune-sim-manifest/1\"",
            ));
        }
        if raw.tee != TEE {
            return Err(bad("tee", &raw.tee, "expected \"sim\""));
        }
        check_path(&raw.entrypoint).map_err(|reason| bad("entrypoint", &raw.entrypoint, reason))?;
        for (i, file) in raw.trusted_files.iter().enumerate() {
            let field = format!("trusted_files[{i}].path");
            check_path(&file.path).map_err(|reason| bad(&field, &file.path, reason))?;
            if i > 0 && raw.trusted_files[i - 1].path >= file.path {
                return Err(bad(
                    &field,
                    &file.path,
                    "trusted files must be sorted by path and unique",
                ));
            }
        }
        if raw
            .trusted_files
            .binary_search_by(|f| f.path.cmp(&raw.entrypoint))
            .is_err()
        {
            return Err(bad(
                "entrypoint",
                &raw.entrypoint,
                "the entrypoint must be one of the trusted files",
            ));
        }
        match &raw.argv {
            ArgvPolicy::Fixed { argv } if argv.is_empty() => {
                return Err(bad(
                    "argv.argv",
                    &"[]",
                    "a fixed argv needs at least argv[0]",
                ))
            }
            ArgvPolicy::Fixed { argv } => {
                for (i, arg) in argv.iter().enumerate() {
                    if arg.contains('\0') {
                        return Err(bad(&format!("argv.argv[{i}]"), arg, "contains a nul byte"));
                    }
                }
            }
            ArgvPolicy::Any => {}
        }
        match &raw.env {
            EnvPolicy::Fixed { env } => {
                for (i, entry) in env.iter().enumerate() {
                    if entry.contains('\0')
                        || entry.split_once('=').is_none_or(|(n, _)| n.is_empty())
                    {
                        return Err(bad(
                            &format!("env.env[{i}]"),
                            entry,
                            "expected NAME=value without nul bytes",
                        ));
                    }
                }
            }
            EnvPolicy::Allow { names } => {
                for (i, name) in names.iter().enumerate() {
                    if name.is_empty() || name.contains('=') || name.contains('\0') {
                        return Err(bad(
                            &format!("env.names[{i}]"),
                            name,
                            "expected a variable name without '=' or nul bytes",
                        ));
                    }
                }
            }
            EnvPolicy::Any => {}
        }
        let size = raw.memory_size;
        if !size.is_power_of_two() || size > MAX_MEMORY_SIZE {
            return Err(bad(
                "memory_size",
                &size,
                "expected a power of two of at most 64 GiB",
            ));
        }
        let manifest = Self { raw };
        let canonical_len = manifest.canonical_bytes().len();
        if canonical_len > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge {
                size: u64::try_from(canonical_len).unwrap_or(u64::MAX),
                max: MAX_MANIFEST_SIZE,
            });
        }
        // The measured pages (a header page plus the manifest) must fit in the enclave.
        let needed = pages_needed(canonical_len)
            .saturating_mul(PAGE)
            .max(2 * PAGE);
        if size < needed {
            return Err(bad(
                "memory_size",
                &size,
                "smaller than the measured manifest pages; use a larger power of two",
            ));
        }
        Ok(manifest)
    }
}

/// Checks an in-root path is absolute, normalised (no `.`, `..`, empty or trailing
/// components) and free of nul bytes.
fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("expected an absolute path");
    }
    if path.contains('\0') {
        return Err("contains a nul byte");
    }
    if path.len() > 1 && (path.ends_with('/') || path.contains("//")) {
        return Err("expected a normalised path");
    }
    if Path::new(path)
        .components()
        .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
    {
        return Err("expected a path without . or .. components");
    }
    if path == "/" {
        return Err("expected a file, not the root directory");
    }
    Ok(())
}

fn truncate(text: &str) -> String {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest::new(ManifestFields {
            entrypoint: "/bin/busybox".into(),
            argv: ArgvPolicy::Fixed {
                argv: vec!["busybox".into(), "sh".into()],
            },
            env: EnvPolicy::Allow {
                names: vec!["PATH".into()],
            },
            trusted_files: vec![
                TrustedFile {
                    path: "/lib/x.so".into(),
                    sha256: Sha256Digest([2; 32]),
                    size: 3,
                },
                TrustedFile {
                    path: "/bin/busybox".into(),
                    sha256: Sha256Digest([1; 32]),
                    size: 10,
                },
            ],
            isv_prod_id: 7,
            isv_svn: 2,
            debug: false,
            memory_size: DEFAULT_MEMORY_SIZE,
        })
        .unwrap()
    }

    #[test]
    fn round_trips_through_pretty_and_canonical_json() {
        let m = sample();
        assert_eq!(Manifest::parse(m.to_pretty_json().as_bytes()).unwrap(), m);
        assert_eq!(Manifest::parse(&m.canonical_bytes()).unwrap(), m);
        assert_eq!(m.trusted_files()[0].path, "/bin/busybox");
        assert!(m.trusted_file("/lib/x.so").is_some());
    }

    #[test]
    fn canonical_form_is_compact_and_ordered() {
        let text = String::from_utf8(sample().canonical_bytes()).unwrap();
        assert!(text.starts_with(r#"{"format":"rune-sim-manifest/1","tee":"sim","entrypoint":"/bin/busybox","argv":{"policy":"fixed","argv":["busybox","sh"]}"#), "{text}");
        assert!(
            text.ends_with(r#""isv_prod_id":7,"isv_svn":2,"debug":false,"memory_size":268435456}"#),
            "{text}"
        );
    }

    #[test]
    fn rejects_unknown_fields_and_bad_values() {
        let good = String::from_utf8(sample().canonical_bytes()).unwrap();
        let cases = [
            (
                good.replace("\"debug\"", "\"extra\":1,\"debug\""),
                "unknown field",
            ),
            (
                good.replace("\"tee\":\"sim\"", "\"tee\":\"sgx\""),
                "field tee",
            ),
            (good.replace("268435456", "268435457"), "memory_size"),
            (good.replace("268435456", "4096"), "memory_size"),
            (
                good.replace(
                    "\"entrypoint\":\"/bin/busybox\"",
                    "\"entrypoint\":\"/bin/sh\"",
                ),
                "one of the trusted files",
            ),
            (good.replace("/lib/x.so", "/lib/../x.so"), ".. components"),
            (good.replace("0101010101", "0101X10101"), "hex"),
            (format!("{good} x"), "trailing"),
        ];
        for (text, expected) in cases {
            let err = Manifest::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
    }

    #[test]
    fn size_is_capped_before_parsing() {
        let big = vec![b' '; MAX_MANIFEST_SIZE + 1];
        assert!(matches!(
            Manifest::parse(&big),
            Err(ManifestError::TooLarge { .. })
        ));
    }

    #[test]
    fn error_messages_name_field_and_value() {
        let good = String::from_utf8(sample().canonical_bytes()).unwrap();
        let err = Manifest::parse(good.replace("268435456", "12345").as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sim enclave manifest field memory_size = \"12345\" is invalid: expected a power of two of at most 64 GiB"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Manifest::parse(&bytes);
        }

        #[test]
        fn mutated_manifests_never_panic(index in 0usize..400, byte in any::<u8>()) {
            let mut bytes = sample().canonical_bytes();
            let i = index % bytes.len();
            bytes[i] = byte;
            if let Ok(m) = Manifest::parse(&bytes) {
                prop_assert_eq!(Manifest::parse(&m.canonical_bytes()).unwrap(), m);
            }
        }

        #[test]
        fn built_manifests_round_trip(
            svn in any::<u16>(),
            prod in any::<u16>(),
            debug in any::<bool>(),
            shift in 13u32..36,
            names in proptest::collection::btree_set("[a-z]{1,8}", 1..6),
            args in proptest::collection::vec(".{0,12}", 1..4),
        ) {
            let files: Vec<TrustedFile> = names
                .iter()
                .map(|n| TrustedFile { path: format!("/{n}"), sha256: Sha256Digest([3; 32]), size: 1 })
                .collect();
            let args: Vec<String> = args.into_iter().map(|a| a.replace('\0', "")).collect();
            let m = Manifest::new(ManifestFields {
                entrypoint: files[0].path.clone(),
                argv: ArgvPolicy::Fixed { argv: args },
                env: EnvPolicy::Any,
                trusted_files: files,
                isv_prod_id: prod,
                isv_svn: svn,
                debug,
                memory_size: 1u64 << shift,
            }).unwrap();
            prop_assert_eq!(Manifest::parse(m.to_pretty_json().as_bytes()).unwrap(), m.clone());
            prop_assert_eq!(Manifest::parse(&m.canonical_bytes()).unwrap(), m);
        }
    }
}
