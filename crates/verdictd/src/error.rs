//! The errors a KBS request can end with, and the one mapping to HTTP statuses.
//!
//! Protocol logic returns [`ApiError`]; `http` turns it into an RFC 7807 response using
//! [`ApiError::status`] and [`ApiError::public_detail`]. Internal faults show a generic
//! detail to the client; their cause chain goes to the log only.

use std::error::Error as StdError;

use attestation::kbs::KbsError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed (bad JSON, bad path, unsupported version or tee).
    #[error("{0}")]
    BadRequest(String),
    /// The request body is larger than the configured limit.
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// No valid session, token or admin credential.
    #[error("{0}")]
    Unauthenticated(String),
    /// Evidence did not verify or is not bound to the session.
    #[error("attestation failed: {0}")]
    Attestation(String),
    /// A policy denied the request.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An internal fault (storage, crypto, policy engine).
    #[error("internal error: {context}")]
    Internal {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl ApiError {
    /// The HTTP status of this error (STYLE: 400 malformed, 401 unauthenticated, 403 policy
    /// deny, 404 missing, 413 too large, 500 internal).
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::TooLarge { .. } => 413,
            Self::Unauthenticated(_) | Self::Attestation(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Internal { .. } => 500,
        }
    }

    /// The problem `type` URI (KBS clients read `type` and `detail`).
    pub fn problem_type(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "https://rune.invalid/kbs/errors/bad-request",
            Self::TooLarge { .. } => "https://rune.invalid/kbs/errors/payload-too-large",
            Self::Unauthenticated(_) => "https://rune.invalid/kbs/errors/unauthenticated",
            Self::Attestation(_) => "https://rune.invalid/kbs/errors/attestation-failed",
            Self::Forbidden(_) => "https://rune.invalid/kbs/errors/policy-denied",
            Self::NotFound(_) => "https://rune.invalid/kbs/errors/not-found",
            Self::Internal { .. } => "https://rune.invalid/kbs/errors/internal",
        }
    }

    /// The short title of the problem.
    pub fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad request",
            Self::TooLarge { .. } => "payload too large",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Attestation(_) => "attestation failed",
            Self::Forbidden(_) => "forbidden by policy",
            Self::NotFound(_) => "not found",
            Self::Internal { .. } => "internal error",
        }
    }

    /// The detail shown to the client: the message, except for internal faults.
    pub fn public_detail(&self) -> String {
        match self {
            Self::Internal { .. } => "internal error; see the verdictd log".to_owned(),
            other => other.to_string(),
        }
    }

    /// An internal fault with its cause.
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context,
            source: source.into(),
        }
    }
}

impl From<KbsError> for ApiError {
    fn from(e: KbsError) -> Self {
        match e {
            KbsError::TooLarge { max, .. } => Self::TooLarge { limit: max },
            KbsError::Crypto { .. } => Self::internal("kbs crypto", e),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

/// An error and its sources, joined with `: ` (for the log).
pub fn chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_details() {
        assert_eq!(ApiError::Forbidden("x".into()).status(), 403);
        assert_eq!(ApiError::Attestation("x".into()).status(), 401);
        let internal = ApiError::internal("reading the store", "disk on fire");
        assert_eq!(internal.status(), 500);
        assert!(!internal.public_detail().contains("disk"));
        assert_eq!(
            chain(&internal),
            "internal error: reading the store: disk on fire"
        );
        assert_eq!(
            ApiError::TooLarge { limit: 10 }.to_string(),
            "request body is larger than the 10-byte limit"
        );
    }
}
