//! JWE (RFC 7516, flattened JSON) as the KBS protocol uses it for resources.
//!
//! Key management: `ECDH-ES+A256KW` on P-256 (RFC 7518 §4.6: ephemeral-static ECDH, Concat
//! KDF with SHA-256, AES-256 key wrap, RFC 3394) or `RSA-OAEP-256` (RFC 7518 §4.3). Content:
//! `A256GCM` with a fresh 256-bit CEK and 96-bit IV. The additional authenticated data is the
//! ASCII of the base64url protected header (RFC 7516 §5.1 step 14).
//!
//! guest-components does not use the protected header bytes it received: it parses them and
//! re-serialises the kbs-types `ProtectedHeader` (`alg`, `enc`, then the other members in
//! serde_json's sorted map order) to rebuild the AAD. So the header is written compactly in
//! exactly that order: `{"alg","enc","epk":{"crv","kty","x","y"}}`.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use rand_core::OsRng;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::types::TeePubKey;
use super::KbsError;

/// `alg` of ECDH-ES with AES-256 key wrap.
pub const ECDH_ES_A256KW: &str = "ECDH-ES+A256KW";
/// `alg` of RSA-OAEP with SHA-256.
pub const RSA_OAEP_256: &str = "RSA-OAEP-256";
/// `enc` of AES-256-GCM.
pub const A256GCM: &str = "A256GCM";
/// The only curve accepted.
pub const P256: &str = "P-256";

/// RSA modulus size of generated keys.
const RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted from a client (bounds the server's work).
const MAX_RSA_BITS: usize = 8192;

/// A JWE in the flattened JSON serialisation the KBS returns (kbs-types `Response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JweResponse {
    /// base64url of the protected header JSON.
    pub protected: String,
    /// base64url of the wrapped content encryption key.
    pub encrypted_key: String,
    /// base64url of the 12-byte IV.
    pub iv: String,
    /// base64url of the ciphertext.
    pub ciphertext: String,
    /// base64url of the 16-byte GCM tag.
    pub tag: String,
}

/// The protected header of a KBS JWE.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct ProtectedHeader {
    alg: String,
    enc: String,
    #[serde(default)]
    epk: Option<EphemeralKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct EphemeralKey {
    crv: String,
    kty: String,
    x: String,
    y: String,
}

/// Encrypt `plaintext` to a TEE public key.
pub fn encrypt(key: &TeePubKey, plaintext: &[u8]) -> Result<JweResponse, KbsError> {
    let rng = SystemRandom::new();
    let mut cek = Zeroizing::new([0u8; 32]);
    rng.fill(&mut cek[..]).map_err(|_| KbsError::Crypto {
        op: "generating a content key",
    })?;

    let (header, encrypted_key) = match key {
        TeePubKey::Ec { crv, alg, x, y } => {
            if alg != ECDH_ES_A256KW || crv != P256 {
                return Err(KbsError::UnsupportedKey {
                    reason: format!(
                        "ec key with alg {alg:?} on {crv:?}: expected {ECDH_ES_A256KW} on {P256}"
                    ),
                });
            }
            // The ephemeral half runs on ring (used once, as ring requires; several times
            // faster than the portable p256 arithmetic); ring also checks the peer point.
            let peer = p256_public(x, y)?.to_encoded_point(false);
            let ephemeral =
                ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng)
                    .map_err(|_| KbsError::Crypto {
                    op: "generating the ephemeral key",
                })?;
            let epk = ephemeral
                .compute_public_key()
                .map_err(|_| KbsError::Crypto {
                    op: "encoding the ephemeral key",
                })?;
            let kek = ring::agreement::agree_ephemeral(
                ephemeral,
                &ring::agreement::UnparsedPublicKey::new(
                    &ring::agreement::ECDH_P256,
                    peer.as_bytes(),
                ),
                concat_kdf_a256kw,
            )
            .map_err(|_| KbsError::Crypto { op: "ecdh" })?;
            let wrapped = aes_kw_wrap(&kek, &cek)?;
            // Uncompressed SEC1: 0x04 || x || y.
            let (ex, ey) = match (epk.as_ref().get(1..33), epk.as_ref().get(33..65)) {
                (Some(ex), Some(ey)) => (URL_SAFE_NO_PAD.encode(ex), URL_SAFE_NO_PAD.encode(ey)),
                _ => {
                    return Err(KbsError::Crypto {
                        op: "encoding the ephemeral key",
                    })
                }
            };
            // Written by hand so the member order cannot depend on serde_json features:
            // base64url text needs no JSON escaping.
            let header = format!(
                r#"{{"alg":"{ECDH_ES_A256KW}","enc":"{A256GCM}","epk":{{"crv":"{P256}","kty":"EC","x":"{ex}","y":"{ey}"}}}}"#
            );
            (header, wrapped)
        }
        TeePubKey::Rsa { alg, n, e } => {
            if alg != RSA_OAEP_256 {
                return Err(KbsError::UnsupportedKey {
                    reason: format!("rsa key with alg {alg:?}: expected {RSA_OAEP_256}"),
                });
            }
            let n = b64url("n", n)?;
            let e = b64url("e", e)?;
            if n.len() * 8 > MAX_RSA_BITS {
                return Err(KbsError::UnsupportedKey {
                    reason: format!(
                        "rsa modulus of {} bits: at most {MAX_RSA_BITS}",
                        n.len() * 8
                    ),
                });
            }
            let public = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
            )
            .map_err(|e| KbsError::UnsupportedKey {
                reason: format!("invalid rsa key: {e}"),
            })?;
            let wrapped = public
                .encrypt(&mut OsRng, rsa::Oaep::new::<rsa::sha2::Sha256>(), &cek[..])
                .map_err(|_| KbsError::Crypto {
                    op: "rsa-oaep key wrapping",
                })?;
            (
                format!(r#"{{"alg":"{RSA_OAEP_256}","enc":"{A256GCM}"}}"#),
                wrapped,
            )
        }
    };

    let protected = URL_SAFE_NO_PAD.encode(header.as_bytes());
    let mut iv = [0u8; 12];
    rng.fill(&mut iv).map_err(|_| KbsError::Crypto {
        op: "generating an iv",
    })?;
    let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek[..]).map_err(|_| {
        KbsError::Crypto {
            op: "aes-gcm key setup",
        }
    })?);
    let mut buffer = plaintext.to_vec();
    let tag = aead
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(protected.as_bytes()),
            &mut buffer,
        )
        .map_err(|_| KbsError::Crypto {
            op: "aes-gcm encryption",
        })?;
    Ok(JweResponse {
        protected,
        encrypted_key: URL_SAFE_NO_PAD.encode(encrypted_key),
        iv: URL_SAFE_NO_PAD.encode(iv),
        ciphertext: URL_SAFE_NO_PAD.encode(&buffer),
        tag: URL_SAFE_NO_PAD.encode(tag.as_ref()),
    })
}

/// The TEE's key pair: the private half decrypts the resources sent to its public half.
pub struct TeeKeyPair {
    inner: KeyInner,
}

enum KeyInner {
    Ec(p256::SecretKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl fmt::Debug for TeeKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            KeyInner::Ec(_) => "ec p-256",
            KeyInner::Rsa(_) => "rsa",
        };
        f.debug_struct("TeeKeyPair")
            .field("kind", &kind)
            .field("private", &"<redacted>")
            .finish()
    }
}

impl TeeKeyPair {
    /// A fresh P-256 key for `ECDH-ES+A256KW` (guest-components' default).
    pub fn generate_ec() -> Self {
        Self {
            inner: KeyInner::Ec(p256::SecretKey::random(&mut OsRng)),
        }
    }

    /// A fresh RSA-2048 key for `RSA-OAEP-256` (slow: prefer [`TeeKeyPair::generate_ec`]).
    pub fn generate_rsa() -> Result<Self, KbsError> {
        let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).map_err(|_| KbsError::Crypto {
            op: "rsa key generation",
        })?;
        Ok(Self {
            inner: KeyInner::Rsa(Box::new(key)),
        })
    }

    /// The private key as PKCS#8 PEM, as an attestation agent hands it to a workload that
    /// decrypts JWE resources itself (`/aa/token`'s `tee_keypair`).
    pub fn private_key_pem(&self) -> Result<Zeroizing<String>, KbsError> {
        use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
        let pem = match &self.inner {
            KeyInner::Ec(secret) => secret.to_pkcs8_pem(LineEnding::LF),
            KeyInner::Rsa(key) => {
                rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(key.as_ref(), LineEnding::LF)
            }
        }
        .map_err(|_| KbsError::Crypto {
            op: "tee key pem encoding",
        })?;
        Ok(Zeroizing::new(pem.as_str().to_owned()))
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> TeePubKey {
        match &self.inner {
            KeyInner::Ec(secret) => {
                let point = secret.public_key().to_encoded_point(false);
                let coord = |c: Option<&p256::FieldBytes>| {
                    c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default()
                };
                TeePubKey::Ec {
                    crv: P256.to_owned(),
                    alg: ECDH_ES_A256KW.to_owned(),
                    x: coord(point.x()),
                    y: coord(point.y()),
                }
            }
            KeyInner::Rsa(key) => TeePubKey::Rsa {
                alg: RSA_OAEP_256.to_owned(),
                n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            },
        }
    }

    /// Decrypt a JWE addressed to this key.
    pub fn decrypt(&self, jwe: &JweResponse) -> Result<Zeroizing<Vec<u8>>, KbsError> {
        let header_bytes = b64url("protected", &jwe.protected)?;
        let header: ProtectedHeader =
            serde_json::from_slice(&header_bytes).map_err(|e| KbsError::Malformed {
                what: "jwe protected header",
                reason: e.to_string(),
            })?;
        if header.enc != A256GCM {
            return Err(KbsError::UnsupportedKey {
                reason: format!("jwe enc {:?}: expected {A256GCM}", header.enc),
            });
        }
        let wrapped = b64url("encrypted_key", &jwe.encrypted_key)?;
        let cek: Zeroizing<Vec<u8>> = match (&self.inner, header.alg.as_str()) {
            (KeyInner::Ec(secret), ECDH_ES_A256KW) => {
                let epk = header.epk.ok_or_else(|| KbsError::Malformed {
                    what: "jwe protected header",
                    reason: "missing epk".to_owned(),
                })?;
                if epk.kty != "EC" || epk.crv != P256 {
                    return Err(KbsError::UnsupportedKey {
                        reason: format!("epk {} on {:?}: expected EC on {P256}", epk.kty, epk.crv),
                    });
                }
                let peer = p256_public(&epk.x, &epk.y)?;
                let shared =
                    p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
                let kek = concat_kdf_a256kw(shared.raw_secret_bytes().as_slice());
                aes_kw_unwrap(&kek, &wrapped)?
            }
            (KeyInner::Rsa(key), RSA_OAEP_256) => Zeroizing::new(
                key.decrypt(rsa::Oaep::new::<rsa::sha2::Sha256>(), &wrapped)
                    .map_err(|_| KbsError::Crypto {
                        op: "rsa-oaep key unwrapping",
                    })?,
            ),
            (_, alg) => {
                return Err(KbsError::UnsupportedKey {
                    reason: format!("jwe alg {alg:?} does not match this tee key"),
                })
            }
        };
        let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek).map_err(|_| {
            KbsError::Crypto {
                op: "aes-gcm key setup",
            }
        })?);
        let iv: [u8; 12] = b64url("iv", &jwe.iv)?
            .try_into()
            .map_err(|_| KbsError::Malformed {
                what: "jwe iv",
                reason: "expected 12 bytes".to_owned(),
            })?;
        let mut buffer = b64url("ciphertext", &jwe.ciphertext)?;
        let tag = b64url("tag", &jwe.tag)?;
        if tag.len() != 16 {
            return Err(KbsError::Malformed {
                what: "jwe tag",
                reason: "expected 16 bytes".to_owned(),
            });
        }
        buffer.extend_from_slice(&tag);
        let plain_len = aead
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(jwe.protected.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| KbsError::Crypto {
                op: "aes-gcm decryption (wrong key or tampered response)",
            })?
            .len();
        buffer.truncate(plain_len);
        Ok(Zeroizing::new(buffer))
    }
}

/// RFC 7518 §4.6.2 Concat KDF (NIST SP 800-56A §5.8.1) for `ECDH-ES+A256KW`: one SHA-256
/// round over `counter || Z || OtherInfo`, where OtherInfo = AlgorithmID (length-prefixed
/// `ECDH-ES+A256KW`) || PartyUInfo (empty) || PartyVInfo (empty) || SuppPubInfo (256, the
/// key length in bits, big-endian u32).
fn concat_kdf_a256kw(z: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&1u32.to_be_bytes());
    ctx.update(z);
    // The algorithm id is a 14-byte constant.
    ctx.update(&[0, 0, 0, 14]);
    ctx.update(ECDH_ES_A256KW.as_bytes());
    ctx.update(&0u32.to_be_bytes());
    ctx.update(&0u32.to_be_bytes());
    ctx.update(&256u32.to_be_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn aes_kw_wrap(kek: &[u8; 32], cek: &[u8; 32]) -> Result<Vec<u8>, KbsError> {
    let kek = aes_kw::KekAes256::new(&(*kek).into());
    let mut out = vec![0u8; 40];
    kek.wrap(cek, &mut out)
        .map_err(|_| KbsError::Crypto { op: "aes key wrap" })?;
    Ok(out)
}

fn aes_kw_unwrap(kek: &[u8; 32], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KbsError> {
    if wrapped.len() != 40 {
        return Err(KbsError::Malformed {
            what: "jwe encrypted_key",
            reason: format!("{} bytes: expected 40", wrapped.len()),
        });
    }
    let kek = aes_kw::KekAes256::new(&(*kek).into());
    let mut out = Zeroizing::new(vec![0u8; 32]);
    kek.unwrap(wrapped, &mut out)
        .map_err(|_| KbsError::Crypto {
            op: "aes key unwrap (wrong key or tampered response)",
        })?;
    Ok(out)
}

fn p256_public(x: &str, y: &str) -> Result<p256::PublicKey, KbsError> {
    let x: [u8; 32] = b64url("x", x)?
        .try_into()
        .map_err(|_| KbsError::UnsupportedKey {
            reason: "p-256 x coordinate is not 32 bytes".to_owned(),
        })?;
    let y: [u8; 32] = b64url("y", y)?
        .try_into()
        .map_err(|_| KbsError::UnsupportedKey {
            reason: "p-256 y coordinate is not 32 bytes".to_owned(),
        })?;
    let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
    Option::from(p256::PublicKey::from_encoded_point(&point)).ok_or_else(|| {
        KbsError::UnsupportedKey {
            reason: "p-256 point is not on the curve".to_owned(),
        }
    })
}

fn b64url(what: &'static str, text: &str) -> Result<Vec<u8>, KbsError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| KbsError::Malformed {
            what,
            reason: format!("not base64url without padding: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_round_trip_and_header_order() {
        let key = TeeKeyPair::generate_ec();
        let jwe = encrypt(&key.public_jwk(), b"top secret").unwrap();
        assert_eq!(key.decrypt(&jwe).unwrap().as_slice(), b"top secret");
        let header = String::from_utf8(URL_SAFE_NO_PAD.decode(&jwe.protected).unwrap()).unwrap();
        assert!(
            header.starts_with(
                r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"P-256","kty":"EC","x":""#
            ),
            "{header}"
        );
        let other = TeeKeyPair::generate_ec();
        assert!(other.decrypt(&jwe).is_err());
    }

    #[test]
    fn rsa_round_trip() {
        let key = TeeKeyPair::generate_rsa().unwrap();
        let jwe = encrypt(&key.public_jwk(), b"rsa secret").unwrap();
        assert_eq!(key.decrypt(&jwe).unwrap().as_slice(), b"rsa secret");
        let header = String::from_utf8(URL_SAFE_NO_PAD.decode(&jwe.protected).unwrap()).unwrap();
        assert_eq!(header, r#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#);
    }

    #[test]
    fn tampering_is_detected() {
        let key = TeeKeyPair::generate_ec();
        let mut jwe = encrypt(&key.public_jwk(), b"abc").unwrap();
        jwe.ciphertext = URL_SAFE_NO_PAD.encode(b"abd");
        assert!(key.decrypt(&jwe).is_err());
        assert!(format!("{key:?}").contains("redacted"));
    }

    #[test]
    fn wrong_algorithms_are_refused() {
        let bad = TeePubKey::Rsa {
            alg: "RSA1_5".into(),
            n: "AQAB".into(),
            e: "AQAB".into(),
        };
        let err = encrypt(&bad, b"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported tee key: rsa key with alg \"RSA1_5\": expected RSA-OAEP-256"
        );
    }
}
