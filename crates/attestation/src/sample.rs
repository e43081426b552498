//! Confidential Containers' `sample` TEE evidence: JSON, no hardware, no signature.
//!
//! The shape is trustee's sample verifier's: `{"svn": "1", "report_data": "<base64>",
//! "init_data": "<base64>"}` (`init_data` optional), with standard base64. Verifying it only
//! checks the form and the report data binding; claims say `tee: sample`.

use base64::Engine as _;
use serde::Deserialize;

use crate::claims::{Claims, Measurements, TcbStatus, TeeKind};

/// Largest sample evidence accepted (real ones are ~200 bytes).
pub const MAX_SAMPLE_EVIDENCE_LEN: usize = 64 * 1024;

/// Why sample evidence was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// The evidence is larger than any real one.
    #[error("sample evidence is {len} bytes: larger than the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not the sample evidence JSON.
    #[error("invalid sample evidence json")]
    Json(#[source] serde_json::Error),
    /// A field is malformed.
    #[error("invalid sample evidence field {field}: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The report data is not the expected one.
    #[error("sample evidence report_data {found} does not match the expected {expected}")]
    ReportData {
        /// Found, hex.
        found: String,
        /// Expected, hex.
        expected: String,
    },
}

// Unknown fields are ignored: newer trustee sample attesters add some (e.g. an event log).
#[derive(Deserialize)]
struct Raw {
    svn: String,
    #[serde(default)]
    report_data: String,
    #[serde(default)]
    init_data: String,
}

/// Parsed sample evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEvidence {
    /// Security version number.
    pub svn: u16,
    /// Report data, zero-padded to 64 bytes.
    pub report_data: [u8; 64],
    /// Init data digest, if present.
    pub init_data: Option<Vec<u8>>,
}

impl SampleEvidence {
    /// Parse sample evidence JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, SampleError> {
        if bytes.len() > MAX_SAMPLE_EVIDENCE_LEN {
            return Err(SampleError::TooLarge {
                len: bytes.len(),
                max: MAX_SAMPLE_EVIDENCE_LEN,
            });
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(SampleError::Json)?;
        let svn = raw
            .svn
            .trim()
            .parse::<u16>()
            .map_err(|e| SampleError::Field {
                field: "svn",
                reason: format!("{:?} is not a number from 0 to 65535: {e}", raw.svn),
            })?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let data = b64
            .decode(&raw.report_data)
            .map_err(|e| SampleError::Field {
                field: "report_data",
                reason: format!("not standard base64: {e}"),
            })?;
        if data.len() > 64 {
            return Err(SampleError::Field {
                field: "report_data",
                reason: format!("{} bytes: at most 64", data.len()),
            });
        }
        let mut report_data = [0u8; 64];
        report_data[..data.len()].copy_from_slice(&data);
        let init_data = if raw.init_data.is_empty() {
            None
        } else {
            Some(b64.decode(&raw.init_data).map_err(|e| SampleError::Field {
                field: "init_data",
                reason: format!("not standard base64: {e}"),
            })?)
        };
        Ok(Self {
            svn,
            report_data,
            init_data,
        })
    }

    /// The claims of this evidence (nothing is verified: there is no signature).
    pub fn claims(&self) -> Claims {
        Claims {
            tee: TeeKind::Sample,
            measurements: Measurements::None {},
            isv_prod_id: None,
            isv_svn: Some(self.svn),
            debug: false,
            tcb_status: TcbStatus::UpToDate,
            advisory_ids: Vec::new(),
            report_data: self.report_data,
        }
    }
}

/// Parse sample evidence and, when given, check its report data (zero-padded to 64 bytes).
pub fn verify(evidence: &[u8], expected_report_data: Option<&[u8]>) -> Result<Claims, SampleError> {
    let parsed = SampleEvidence::parse(evidence)?;
    if let Some(expected) = expected_report_data {
        let mut padded = [0u8; 64];
        let n = expected.len().min(64);
        padded[..n].copy_from_slice(&expected[..n]);
        if expected.len() > 64 || padded != parsed.report_data {
            return Err(SampleError::ReportData {
                found: hex::encode(parsed.report_data),
                expected: hex::encode(expected),
            });
        }
    }
    tracing::debug!(tee = "sample", "sample evidence parsed");
    Ok(parsed.claims())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trustee_sample_evidence() {
        let rd = base64::engine::general_purpose::STANDARD.encode([7u8; 48]);
        let json = format!(r#"{{"svn":"1","report_data":"{rd}"}}"#);
        let claims = verify(json.as_bytes(), Some(&[7u8; 48])).unwrap();
        assert_eq!(claims.tee, TeeKind::Sample);
        assert_eq!(claims.isv_svn, Some(1));
        assert_eq!(&claims.report_data[..48], &[7u8; 48]);
        assert_eq!(&claims.report_data[48..], &[0u8; 16]);
        let value = claims.to_json();
        assert_eq!(value["tee"], "sample");
        assert!(value.get("mrenclave").is_none());
    }

    #[test]
    fn report_data_mismatch_is_an_error() {
        let json = r#"{"svn":"1","report_data":"AAAA"}"#;
        let err = verify(json.as_bytes(), Some(b"x")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("sample evidence report_data 0000"));
    }

    #[test]
    fn bad_fields_are_named() {
        let err = SampleEvidence::parse(br#"{"svn":"one"}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid sample evidence field svn: \"one\""),
            "{err}"
        );
        let err = SampleEvidence::parse(br#"{"svn":"1","report_data":"!!"}"#).unwrap_err();
        assert!(err.to_string().contains("report_data"));
        assert!(SampleEvidence::parse(b"{}").is_err());
        assert!(SampleEvidence::parse(br#"{"svn":"1","extra":1}"#).is_ok());
    }
}
