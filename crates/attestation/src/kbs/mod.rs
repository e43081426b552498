//! Confidential Containers' KBS protocol (RCAR, version 0.4.0): messages, the evidence
//! binding, JWE, resource paths and a blocking client.
//!
//! - [`types`]: the JSON messages (`Request`, `Challenge`, `Attestation`, ...), byte-compatible
//!   with kbs-types 0.18;
//! - [`binding`]: `report_data = SHA-384(JCS({"additional-evidence","nonce","tee-pubkey"}))`;
//! - [`jwe`]: `ECDH-ES+A256KW` (P-256) / `RSA-OAEP-256` with `A256GCM`, both directions;
//! - [`resource`]: `<repo>/<type>/<tag>` paths that cannot traverse;
//! - [`client`]: [`KbsClient`] (auth, attest, resource with retry on 401, cookie or passport
//!   mode) over an [`EvidenceProvider`].
//!
//! The server side lives in verdictd; this module is framework-free and does no I/O except
//! in [`client`].

pub mod binding;
pub mod client;
pub mod jwe;
pub mod resource;
pub mod types;

pub use client::{AuthMode, ClientTls, EvidenceProvider, KbsClient, QuoteEvidence, StaticEvidence};
pub use jwe::{JweResponse, TeeKeyPair};
pub use resource::ResourcePath;
pub use types::{
    Attestation, Challenge, CompositeEvidence, InitData, Problem, Request, RuntimeData, Tee,
    TeePubKey, PROTOCOL_VERSION,
};

/// Why a KBS message, key or exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KbsError {
    /// A message does not parse.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which message or field.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A message is larger than accepted.
    #[error("{what} is {len} bytes: larger than the {max}-byte limit")]
    TooLarge {
        /// Which message.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A resource path is not `<repo>/<type>/<tag>` of safe characters.
    #[error("invalid resource path {path:?}: {reason}")]
    InvalidResourcePath {
        /// The offending text (truncated).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A TEE key or JWE uses an algorithm this implementation does not.
    #[error("unsupported tee key: {reason}")]
    UnsupportedKey {
        /// What is unsupported.
        reason: String,
    },
    /// A cryptographic operation failed.
    #[error("{op} failed")]
    Crypto {
        /// The operation.
        op: &'static str,
    },
    /// The KBS could not be reached or the exchange broke off.
    #[error("request to {url} failed: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The KBS answered with an error status.
    #[error("kbs answered {status} to {url}: {detail}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The problem detail the KBS gave.
        detail: String,
    },
    /// The evidence provider failed.
    #[error("evidence provider failed")]
    Evidence(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The client has no evidence provider and no token to authenticate with.
    #[error("no evidence provider or token configured: cannot authenticate to the kbs")]
    NoCredentials,
}

impl KbsError {
    /// The HTTP status the KBS answered, when this is [`KbsError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
