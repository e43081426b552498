//! The evidence binding of the KBS protocol: what a TEE puts in its REPORTDATA.
//!
//! `report_data = SHA-384(JCS({"additional-evidence", "nonce", "tee-pubkey"}))`, zero-padded
//! to 64 bytes (guest-components `get_composite_evidence`, RFC 8785 canonical JSON). The
//! values are hashed as the client sent them, so the server recomputes it from the raw JSON.

use serde_json::{json, Value};

use super::KbsError;

/// SHA-384 output length: the bound bytes; the rest of REPORTDATA is zero.
pub const BINDING_LEN: usize = 48;

/// The 64-byte REPORTDATA binding `nonce`, `tee_pubkey` and `additional_evidence`.
pub fn report_data(
    nonce: &str,
    tee_pubkey: &Value,
    additional_evidence: &str,
) -> Result<[u8; 64], KbsError> {
    let runtime = json!({
        "additional-evidence": additional_evidence,
        "nonce": nonce,
        "tee-pubkey": tee_pubkey,
    });
    let canonical =
        serde_json_canonicalizer::to_vec(&runtime).map_err(|e| KbsError::Malformed {
            what: "runtime data",
            reason: e.to_string(),
        })?;
    let digest = ring::digest::digest(&ring::digest::SHA384, &canonical);
    let mut out = [0u8; 64];
    out[..BINDING_LEN].copy_from_slice(digest.as_ref());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_is_sha384_of_canonical_json() {
        let key = json!({"y": "b", "x": "a", "kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW"});
        let rd = report_data("bm9uY2U=", &key, "").unwrap();
        let canonical = r#"{"additional-evidence":"","nonce":"bm9uY2U=","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"a","y":"b"}}"#;
        let expected = ring::digest::digest(&ring::digest::SHA384, canonical.as_bytes());
        assert_eq!(&rd[..48], expected.as_ref());
        assert_eq!(&rd[48..], &[0u8; 16]);
        assert_ne!(rd, report_data("bm9uY2V=", &key, "").unwrap());
    }
}
