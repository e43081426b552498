//! epm's socket protocol: typed requests and responses, their size caps and validation.
//!
//! Transport: an `AF_UNIX` `SOCK_SEQPACKET` socket (default [`DEFAULT_SOCKET`], mode 0600,
//! root only). One connection carries one request message and one response message, each
//! UTF-8 JSON of at most [`MAX_MESSAGE`] bytes, with descriptors attached as `SCM_RIGHTS`
//! ([`erpal_sim::handover::send_fds`]):
//!
//! | request (`op`) | descriptors sent | response (`result`) | descriptors back |
//! |---|---|---|---|
//! | `acquire` {tenant, rootfs, prewarm?} | manifest, sigstruct | `enclave` {hit, hashed_bytes, mr_enclave, mr_signer} | the handover socket |
//! | `warm` {tenant, rootfs, count} | manifest, sigstruct | `warmed` {ready, mr_enclave, mr_signer} | none |
//! | `status` | none | `status` {...} | none |
//!
//! Any request may get `error` {message}. Requests are wrapped as `{"version": 1, "request":
//! {...}}`; unknown fields, another version, a bad tenant or a relative rootfs are refused
//! before anything is opened.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Where the daemon listens by default, and where rune looks for it.
pub const DEFAULT_SOCKET: &str = "/var/run/epm/epm.sock";
/// Largest request or response message.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Longest tenant name: a sandbox id (64 hex digits) and a label, with their prefixes.
pub const MAX_TENANT_LEN: usize = 512;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not JSON of the message's shape.
    #[error("epm message is not valid: {reason}")]
    Json {
        /// serde_json's description.
        reason: String,
    },
    /// Another protocol version.
    #[error("epm protocol version {got} is not supported (this epm speaks {PROTOCOL_VERSION})")]
    Version {
        /// The version sent.
        got: u32,
    },
    /// A tenant name that is empty, too long or has characters outside the allowed set.
    #[error("epm tenant {value:?} is invalid: {reason}")]
    Tenant {
        /// The tenant given (truncated).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The rootfs is not an absolute host path.
    #[error("epm rootfs {path:?} must be an absolute host path")]
    Rootfs {
        /// The path given.
        path: PathBuf,
    },
    /// A warm count of zero or a prewarm setting above the limit.
    #[error("epm {field} {value} is out of range 1..={max}")]
    Count {
        /// `count` or `prewarm`.
        field: &'static str,
        /// The value given.
        value: u32,
        /// The largest accepted.
        max: u32,
    },
}

/// The largest `count`/`prewarm` a request may ask for.
pub const MAX_COUNT: u32 = 64;

/// A request as sent on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMessage {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The request.
    pub request: Request,
}

/// What a client asks of epm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Hand over a pre-initialised enclave of the image whose manifest and SIGSTRUCT come
    /// as descriptors, for a container of `tenant` whose rootfs is `rootfs`.
    Acquire {
        /// The tenant namespace (see [`crate::tenant`]).
        tenant: String,
        /// Host path of the container's rootfs.
        rootfs: PathBuf,
        /// How many enclaves of this image to keep ready for this tenant (default: the
        /// daemon's `--prewarm`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prewarm: Option<u32>,
    },
    /// Build `count` enclaves of the image ahead of the first container.
    Warm {
        /// The tenant namespace.
        tenant: String,
        /// Host path of the rootfs the image's files are read from.
        rootfs: PathBuf,
        /// How many to keep ready.
        count: u32,
    },
    /// Report the pool's state. (A struct variant, so that unknown fields are refused.)
    Status {},
}

/// What epm answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Response {
    /// An enclave is attached (the handover socket).
    Enclave {
        /// A pre-initialised enclave was ready in the pool.
        hit: bool,
        /// Bytes of trusted files hashed to answer (0 when every measurement was cached).
        hashed_bytes: u64,
        /// MRENCLAVE, hex.
        mr_enclave: String,
        /// MRSIGNER, hex.
        mr_signer: String,
    },
    /// The pool holds `ready` enclaves of the image for the tenant.
    Warmed {
        /// Enclaves ready.
        ready: u32,
        /// MRENCLAVE, hex.
        mr_enclave: String,
        /// MRSIGNER, hex.
        mr_signer: String,
    },
    /// The pool's state.
    Status(Status),
    /// The request failed; nothing was handed over.
    Error {
        /// The cause chain.
        message: String,
    },
}

/// The pool's state, for `epm status` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// Always `sim`: the pool holds software TEE enclaves only.
    pub tee: String,
    /// Pre-initialised enclaves ready.
    pub enclaves: u32,
    /// Their memory (sealed entrypoint copies), bytes.
    pub memory: u64,
    /// `--max-enclaves`.
    pub max_enclaves: u32,
    /// `--max-memory`.
    pub max_memory: u64,
    /// Cached measurements (file identity to digest).
    pub measurements: u32,
    /// Acquires served from a ready enclave.
    pub hits: u64,
    /// Acquires that had to build one.
    pub misses: u64,
    /// Ready enclaves evicted to stay within the bounds.
    pub evictions: u64,
    /// Acquires refused because a trusted file no longer matches the image.
    pub stale: u64,
    /// Per tenant and image.
    pub pools: Vec<PoolStatus>,
}

/// One tenant's enclaves of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolStatus {
    /// The tenant.
    pub tenant: String,
    /// MRENCLAVE, hex.
    pub mr_enclave: String,
    /// MRSIGNER, hex.
    pub mr_signer: String,
    /// Enclaves ready.
    pub ready: u32,
    /// How many are kept ready.
    pub prewarm: u32,
}

/// Parses and validates a request message.
pub fn decode_request(bytes: &[u8]) -> Result<RequestMessage, ProtocolError> {
    let message: RequestMessage =
        serde_json::from_slice(bytes).map_err(|e| ProtocolError::Json {
            reason: e.to_string(),
        })?;
    if message.version != PROTOCOL_VERSION {
        return Err(ProtocolError::Version {
            got: message.version,
        });
    }
    match &message.request {
        Request::Acquire {
            tenant,
            rootfs,
            prewarm,
        } => {
            validate_tenant(tenant)?;
            validate_rootfs(rootfs)?;
            if let Some(value) = *prewarm {
                check_count("prewarm", value, 0)?;
            }
        }
        Request::Warm {
            tenant,
            rootfs,
            count,
        } => {
            validate_tenant(tenant)?;
            validate_rootfs(rootfs)?;
            check_count("count", *count, 1)?;
        }
        Request::Status {} => {}
    }
    Ok(message)
}

/// Parses a response message.
pub fn decode_response(bytes: &[u8]) -> Result<Response, ProtocolError> {
    serde_json::from_slice(bytes).map_err(|e| ProtocolError::Json {
        reason: e.to_string(),
    })
}

/// Encodes a message (requests are wrapped in [`RequestMessage`] by the caller).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serialising these plain structs and enums cannot fail: no maps with non-string keys,
    // no custom serialisers that error.
    serde_json::to_vec(message).unwrap_or_default()
}

/// Tenant names: 1 to [`MAX_TENANT_LEN`] bytes of ASCII letters, digits and `-_.:/`.
pub fn validate_tenant(tenant: &str) -> Result<(), ProtocolError> {
    let bad = |reason| ProtocolError::Tenant {
        value: tenant.chars().take(80).collect(),
        reason,
    };
    if tenant.is_empty() {
        return Err(bad("empty"));
    }
    if tenant.len() > MAX_TENANT_LEN {
        return Err(bad("longer than 512 bytes"));
    }
    if !tenant
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
    {
        return Err(bad("only ASCII letters, digits and -_.:/ are allowed"));
    }
    Ok(())
}

fn validate_rootfs(rootfs: &std::path::Path) -> Result<(), ProtocolError> {
    if rootfs.is_absolute() && rootfs.as_os_str().len() <= 4096 {
        Ok(())
    } else {
        Err(ProtocolError::Rootfs {
            path: rootfs.to_owned(),
        })
    }
}

fn check_count(field: &'static str, value: u32, min: u32) -> Result<(), ProtocolError> {
    if (min..=MAX_COUNT).contains(&value) {
        Ok(())
    } else {
        Err(ProtocolError::Count {
            field,
            value,
            max: MAX_COUNT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acquire(tenant: &str, rootfs: &str) -> Vec<u8> {
        encode(&RequestMessage {
            version: PROTOCOL_VERSION,
            request: Request::Acquire {
                tenant: tenant.to_owned(),
                rootfs: PathBuf::from(rootfs),
                prewarm: None,
            },
        })
    }

    #[test]
    fn wire_form_is_stable() {
        assert_eq!(
            String::from_utf8(acquire("host", "/b/rootfs")).unwrap(),
            r#"{"version":1,"request":{"op":"acquire","tenant":"host","rootfs":"/b/rootfs"}}"#
        );
        assert_eq!(
            String::from_utf8(encode(&Response::Error {
                message: "x".into()
            }))
            .unwrap(),
            r#"{"result":"error","message":"x"}"#
        );
    }

    #[test]
    fn errors_name_the_offending_value() {
        let err = |bytes: &[u8]| decode_request(bytes).unwrap_err().to_string();
        assert_eq!(
            err(&acquire("a b", "/r")),
            "epm tenant \"a b\" is invalid: only ASCII letters, digits and -_.:/ are allowed"
        );
        assert_eq!(err(&acquire("", "/r")), "epm tenant \"\" is invalid: empty");
        assert_eq!(
            err(&acquire("t", "rootfs")),
            "epm rootfs \"rootfs\" must be an absolute host path"
        );
        assert_eq!(
            err(br#"{"version":2,"request":{"op":"status"}}"#),
            "epm protocol version 2 is not supported (this epm speaks 1)"
        );
        assert!(err(br#"{"version":1,"request":{"op":"status","x":1}}"#)
            .starts_with("epm message is not valid: unknown field `x`"));
        assert_eq!(
            err(br#"{"version":1,"request":{"op":"warm","tenant":"t","rootfs":"/r","count":0}}"#),
            "epm count 0 is out of range 1..=64"
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }

        #[test]
        fn valid_requests_round_trip(tenant in "[a-z0-9:/._-]{1,64}", path in "(/[a-z0-9]{1,8}){1,4}",
                                     prewarm in proptest::option::of(0u32..=MAX_COUNT)) {
            let message = RequestMessage {
                version: PROTOCOL_VERSION,
                request: Request::Acquire { tenant, rootfs: PathBuf::from(path), prewarm },
            };
            prop_assert_eq!(decode_request(&encode(&message)).unwrap(), message);
        }

        #[test]
        fn responses_round_trip(hit in any::<bool>(), hashed in any::<u64>(), mr in "[0-9a-f]{64}") {
            let response = Response::Enclave { hit, hashed_bytes: hashed, mr_enclave: mr.clone(), mr_signer: mr };
            prop_assert_eq!(decode_response(&encode(&response)).unwrap(), response);
        }
    }
}
