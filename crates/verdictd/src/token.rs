//! Attestation tokens: EAR claims (draft-ietf-rats-ear) in a JWT signed with ES256.
//!
//! Signing and verification are a few lines on `ring`, with the algorithm fixed: a token is
//! accepted only if its header says `ES256` and verifies under verdictd's own key, whatever
//! key the header carries (the `jwk` member is informative, for relying parties).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};
use serde_json::{json, Value};

/// EAR profile of the tokens.
pub const EAR_PROFILE: &str = "tag:github.com,2023:veraison/ear";
/// Largest token accepted in a bearer header.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;
/// Where the TEE key sits in the claims (trustee's `TOKEN_TEE_PUBKEY_PATH_EAR`).
pub const TEE_PUBKEY_POINTER: &str =
    "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey";

/// Why a token could not be issued or was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The signing key is unusable.
    #[error("token signing key: {0}")]
    Key(String),
    /// Signing failed.
    #[error("signing the token failed")]
    Sign,
    /// The token is not one of ours, or has expired.
    #[error("invalid attestation token: {0}")]
    Invalid(&'static str),
}

/// Signs and verifies tokens with one P-256 key.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    header_b64: String,
    ttl: Duration,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("public_key", &hex(self.key.public_key().as_ref()))
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh PKCS#8 P-256 key (secret: store it root-only).
pub fn generate_key() -> Result<Vec<u8>, TokenError> {
    let doc = EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &SystemRandom::new(),
    )
    .map_err(|_| TokenError::Key("generation failed".into()))?;
    Ok(doc.as_ref().to_vec())
}

impl TokenSigner {
    /// A signer from a PKCS#8 key, issuing tokens valid for `ttl`.
    pub fn new(pkcs8: &[u8], ttl: Duration) -> Result<Self, TokenError> {
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|e| TokenError::Key(e.to_string()))?;
        let public = key.public_key().as_ref();
        let (x, y) = (
            public.get(1..33).unwrap_or_default(),
            public.get(33..65).unwrap_or_default(),
        );
        let header = json!({
            "alg": "ES256",
            "typ": "JWT",
            "jwk": {"kty": "EC", "crv": "P-256", "alg": "ES256",
                    "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)},
        });
        Ok(Self {
            key,
            rng,
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            ttl,
        })
    }

    /// Sign `claims` after adding `iat`, `exp` and the EAR profile.
    pub fn issue(&self, mut claims: Value, now: SystemTime) -> Result<String, TokenError> {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if let Value::Object(map) = &mut claims {
            map.insert("eat_profile".into(), EAR_PROFILE.into());
            map.insert("iat".into(), iat.into());
            map.insert("exp".into(), iat.saturating_add(self.ttl.as_secs()).into());
        }
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{}.{payload}", self.header_b64);
        let sig = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| TokenError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }

    /// Verify a token of ours and return its claims (checks `alg`, signature and `exp`).
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Value, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid("too long"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid("not a compact jws"));
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or(TokenError::Invalid("bad header"))?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(TokenError::Invalid("alg is not ES256"));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Invalid("bad signature encoding"))?;
        let signing_input_len = token.len() - sig_len_b64(token);
        let signing_input = token.get(..signing_input_len).unwrap_or_default();
        UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        )
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| TokenError::Invalid("signature does not verify"))?;
        let claims: Value = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or(TokenError::Invalid("bad claims"))?;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        match claims.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp > now => Ok(claims),
            Some(_) => Err(TokenError::Invalid("expired")),
            None => Err(TokenError::Invalid("no exp claim")),
        }
    }
}

/// Length of the last `.`-separated part plus its dot.
fn sig_len_b64(token: &str) -> usize {
    token.rfind('.').map_or(0, |i| token.len() - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_expire_and_tamper() {
        let signer = TokenSigner::new(&generate_key().unwrap(), Duration::from_secs(60)).unwrap();
        let now = SystemTime::now();
        let token = signer
            .issue(
                json!({"submods": {"cpu0": {"ear.status": "affirming"}}}),
                now,
            )
            .unwrap();
        let claims = signer.verify(&token, now).unwrap();
        assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");
        assert_eq!(claims["eat_profile"], EAR_PROFILE);
        assert!(signer
            .verify(&token, now + Duration::from_secs(61))
            .is_err());
        let other = TokenSigner::new(&generate_key().unwrap(), Duration::from_secs(60)).unwrap();
        assert!(other.verify(&token, now).is_err());
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"exp":99999999999}"#);
        parts[1] = forged.as_str();
        assert!(signer.verify(&parts.join("."), now).is_err());
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            forged
        );
        assert!(signer.verify(&none_alg, now).is_err());
    }
}
