//! SIGSTRUCT signing and verification with RSA-3072, public exponent 3 (SDM Vol. 3D §34.13).
//!
//! The signature is RSASSA-PKCS1-v1_5 with SHA-256 over [`SigStruct::signed_bytes`]. EINIT
//! reads the modulus, the signature and two helper values Q1 and Q2 little-endian; Q1 and Q2
//! let the CPU check `signature³ mod modulus` without a division:
//!
//! - `Q1 = floor(signature² / modulus)`
//! - `Q2 = floor((signature³ − Q1 · signature · modulus) / modulus)`
//!
//! MRSIGNER is SHA-256 of the 384-byte little-endian modulus.

use std::fmt;

use rand_core::CryptoRngCore;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::sigstruct::{SigStruct, EXPONENT};

/// Bits in an SGX signing modulus.
pub const MODULUS_BITS: usize = 3072;
/// Bytes in an SGX signing modulus, signature, Q1 and Q2.
pub const MODULUS_BYTES: usize = 384;

/// Why a key cannot be used, or a SIGSTRUCT cannot be signed or does not verify.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The key's modulus is not 3072 bits long.
    #[error("rsa modulus is {bits} bits, expected 3072")]
    ModulusSize {
        /// Bit length of the key's modulus.
        bits: usize,
    },
    /// The key's public exponent is not 3.
    #[error("rsa public exponent is {exponent}, expected 3")]
    Exponent {
        /// The key's exponent (decimal).
        exponent: String,
    },
    /// The PEM text is not an RSA private key in PKCS#1 or PKCS#8 form.
    #[error("invalid rsa private key pem: {reason}")]
    PrivateKeyPem {
        /// The decoder's reason.
        reason: String,
    },
    /// The PEM text is not an RSA public key (SubjectPublicKeyInfo).
    #[error("invalid rsa public key pem: {reason}")]
    PublicKeyPem {
        /// The decoder's reason.
        reason: String,
    },
    /// Encoding a key as PEM failed.
    #[error("cannot encode rsa key as pem: {reason}")]
    PemEncode {
        /// The encoder's reason.
        reason: String,
    },
    /// RSA key generation failed.
    #[error("rsa-3072 key generation failed: {reason}")]
    KeyGeneration {
        /// The generator's reason.
        reason: String,
    },
    /// The RSA signing operation failed.
    #[error("rsa signing failed: {reason}")]
    Sign {
        /// The signer's reason.
        reason: String,
    },
    /// SIGSTRUCT.SIGNATURE is not a valid signature of the signed bytes under SIGSTRUCT.MODULUS.
    #[error("sigstruct signature does not verify with its modulus")]
    BadSignature,
    /// The SIGSTRUCT is signed by another key than the one required.
    #[error("sigstruct is signed by mrsigner {actual}, expected {expected}")]
    UnexpectedSigner {
        /// MRSIGNER (hex) of the required key.
        expected: String,
        /// MRSIGNER (hex) of the SIGSTRUCT's modulus.
        actual: String,
    },
    /// SIGSTRUCT.Q1 is not `floor(signature² / modulus)`.
    #[error("sigstruct q1 (offset 1040) does not match the signature")]
    BadQ1,
    /// SIGSTRUCT.Q2 is not `floor((signature³ − q1·signature·modulus) / modulus)`.
    #[error("sigstruct q2 (offset 1424) does not match the signature")]
    BadQ2,
}

/// An RSA-3072 private key with public exponent 3, as SGX enclave signing requires.
///
/// The inner key zeroizes its private parts on drop; `Debug` prints only MRSIGNER.
#[derive(Clone)]
pub struct SigningKey {
    key: RsaPrivateKey,
}

impl SigningKey {
    /// Wraps an RSA key after checking it is 3072 bits with exponent 3.
    pub fn from_rsa(key: RsaPrivateKey) -> Result<Self, SigningError> {
        check_public(key.n(), key.e())?;
        Ok(Self { key })
    }

    /// Reads a PEM private key, PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, SigningError> {
        let key = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| SigningError::PrivateKeyPem {
                reason: e.to_string(),
            })?
        } else {
            RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| SigningError::PrivateKeyPem {
                reason: e.to_string(),
            })?
        };
        Self::from_rsa(key)
    }

    /// Writes the key as PKCS#1 PEM (`RSA PRIVATE KEY`, what the SGX SDK signer reads).
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, SigningError> {
        self.key
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| SigningError::PemEncode {
                reason: e.to_string(),
            })
    }

    /// Writes the key as PKCS#8 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, SigningError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SigningError::PemEncode {
                reason: e.to_string(),
            })
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            key: self.key.to_public_key(),
        }
    }

    /// MRSIGNER of enclaves signed with this key.
    pub fn mr_signer(&self) -> [u8; 32] {
        self.verifying_key().mr_signer()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("mr_signer", &crate::codec::hex(&self.mr_signer()))
            .field("private", &"<redacted>")
            .finish()
    }
}

/// An RSA-3072 public key with exponent 3: the identity behind MRSIGNER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    key: RsaPublicKey,
}

impl VerifyingKey {
    /// Builds the key from a SIGSTRUCT's little-endian modulus (exponent 3).
    pub fn from_modulus_le(modulus: &[u8; MODULUS_BYTES]) -> Result<Self, SigningError> {
        let n = BigUint::from_bytes_le(modulus);
        let e = BigUint::from(EXPONENT);
        check_public(&n, &e)?;
        // check_public accepted a 3072-bit modulus and e = 3, which RsaPublicKey::new accepts
        // (it refuses only moduli above 4096 bits and exponents outside 2..2^33).
        let key = RsaPublicKey::new(n, e)
            .map_err(|_| SigningError::ModulusSize { bits: MODULUS_BITS })?;
        Ok(Self { key })
    }

    /// Reads a SubjectPublicKeyInfo PEM (`PUBLIC KEY`).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, SigningError> {
        let key =
            RsaPublicKey::from_public_key_pem(pem).map_err(|e| SigningError::PublicKeyPem {
                reason: e.to_string(),
            })?;
        check_public(key.n(), key.e())?;
        Ok(Self { key })
    }

    /// Writes the key as SubjectPublicKeyInfo PEM (`PUBLIC KEY`).
    pub fn to_public_key_pem(&self) -> Result<String, SigningError> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| SigningError::PemEncode {
                reason: e.to_string(),
            })
    }

    /// The 384-byte little-endian modulus, as SIGSTRUCT.MODULUS stores it.
    pub fn modulus_le(&self) -> [u8; MODULUS_BYTES] {
        // check_public guaranteed a 3072-bit modulus, so it fits in 384 bytes.
        to_le_fixed(self.key.n()).unwrap_or([0; MODULUS_BYTES])
    }

    /// MRSIGNER: SHA-256 of the little-endian modulus.
    pub fn mr_signer(&self) -> [u8; 32] {
        Sha256::digest(self.modulus_le()).into()
    }
}

/// Generates a fresh RSA-3072 signing key with public exponent 3.
pub fn generate_signing_key<R: CryptoRngCore>(rng: &mut R) -> Result<SigningKey, SigningError> {
    let key =
        RsaPrivateKey::new_with_exp(rng, MODULUS_BITS, &BigUint::from(EXPONENT)).map_err(|e| {
            SigningError::KeyGeneration {
                reason: e.to_string(),
            }
        })?;
    SigningKey::from_rsa(key)
}

impl SigStruct {
    /// Signs this SIGSTRUCT: fills MODULUS, SIGNATURE, Q1 and Q2 from `key`.
    ///
    /// PKCS#1 v1.5 is deterministic, so the result does not depend on `rng`; the RNG blinds
    /// the private-key operation against timing side channels.
    pub fn sign<R: CryptoRngCore>(
        mut self,
        key: &SigningKey,
        rng: &mut R,
    ) -> Result<SigStruct, SigningError> {
        let digest = Sha256::digest(self.signed_bytes());
        let sig_be = key
            .key
            .sign_with_rng(rng, Pkcs1v15Sign::new::<Sha256>(), &digest)
            .map_err(|e| SigningError::Sign {
                reason: e.to_string(),
            })?;
        let s = BigUint::from_bytes_be(&sig_be);
        let n = key.key.n();
        let (q1, q2) = q1_q2(&s, n);
        self.modulus = key.verifying_key().modulus_le();
        // s < n and q1, q2 < s, so each fits in 384 bytes; a failure here is a bug in rsa.
        let too_big = || SigningError::Sign {
            reason: "signature larger than modulus".into(),
        };
        self.signature = to_le_fixed(&s).ok_or_else(too_big)?;
        self.q1 = to_le_fixed(&q1).ok_or_else(too_big)?;
        self.q2 = to_le_fixed(&q2).ok_or_else(too_big)?;
        Ok(self)
    }

    /// Verifies SIGNATURE against MODULUS (exponent 3) and checks Q1 and Q2, as EINIT does.
    pub fn verify(&self) -> Result<(), SigningError> {
        let key = VerifyingKey::from_modulus_le(&self.modulus)?;
        let s = BigUint::from_bytes_le(&self.signature);
        let mut sig_be = self.signature;
        sig_be.reverse();
        let mut modulus_be = self.modulus;
        modulus_be.reverse();
        let exponent_be = EXPONENT.to_be_bytes();
        let first_nonzero = exponent_be.iter().position(|b| *b != 0).unwrap_or(0);
        // ring, not rsa: every enclave start verifies a SIGSTRUCT, and rsa's generic big-number
        // exponentiation took 0.7 ms of it; ring accepts exponent 3 for verification.
        ring::signature::RsaPublicKeyComponents {
            n: &modulus_be[..],
            e: &exponent_be[first_nonzero..],
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.signed_bytes(),
            &sig_be,
        )
        .map_err(|_| SigningError::BadSignature)?;
        check_q1_q2(
            &s,
            key.key.n(),
            &BigUint::from_bytes_le(&self.q1),
            &BigUint::from_bytes_le(&self.q2),
        )
    }

    /// Verifies the signature and additionally requires the signer to be `expected`.
    pub fn verify_with(&self, expected: &VerifyingKey) -> Result<(), SigningError> {
        if self.modulus != expected.modulus_le() {
            return Err(SigningError::UnexpectedSigner {
                expected: crate::codec::hex(&expected.mr_signer()),
                actual: crate::codec::hex(&self.mr_signer()),
            });
        }
        self.verify()
    }

    /// MRSIGNER of the enclave this SIGSTRUCT signs: SHA-256 of MODULUS.
    pub fn mr_signer(&self) -> [u8; 32] {
        Sha256::digest(self.modulus).into()
    }
}

/// Q1 = floor(s² / n); Q2 = floor((s³ − Q1·s·n) / n) = floor(s · (s² mod n) / n).
fn q1_q2(s: &BigUint, n: &BigUint) -> (BigUint, BigUint) {
    let s2 = s * s;
    let q1 = &s2 / n;
    let r = &s2 - &q1 * n;
    let q2 = (s * &r) / n;
    (q1, q2)
}

/// Checks that `q1` and `q2` are [`q1_q2`]'s quotients for `s` and `n`, with products and
/// comparisons only: `0 ≤ s² − q1·n < n` and `0 ≤ s·(s² − q1·n) − q2·n < n`. The divisions
/// `q1_q2` makes were most of a SIGSTRUCT verification, which every enclave start runs.
fn check_q1_q2(s: &BigUint, n: &BigUint, q1: &BigUint, q2: &BigUint) -> Result<(), SigningError> {
    let remainder = |product: BigUint, quotient: &BigUint| {
        let multiple = quotient * n;
        (multiple <= product)
            .then(|| product - multiple)
            .filter(|r| r < n)
    };
    let r1 = remainder(s * s, q1).ok_or(SigningError::BadQ1)?;
    remainder(s * r1, q2).ok_or(SigningError::BadQ2)?;
    Ok(())
}

fn check_public(n: &BigUint, e: &BigUint) -> Result<(), SigningError> {
    if *e != BigUint::from(EXPONENT) {
        return Err(SigningError::Exponent {
            exponent: e.to_string(),
        });
    }
    let bits = n.bits();
    if bits != MODULUS_BITS {
        return Err(SigningError::ModulusSize { bits });
    }
    Ok(())
}

/// Little-endian, zero-padded to 384 bytes; `None` if the value is longer.
fn to_le_fixed(v: &BigUint) -> Option<[u8; MODULUS_BYTES]> {
    let bytes = v.to_bytes_le();
    if bytes.len() > MODULUS_BYTES {
        return None;
    }
    let mut out = [0u8; MODULUS_BYTES];
    out[..bytes.len()].copy_from_slice(&bytes);
    Some(out)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const ENCL_SS: &[u8] = include_bytes!("../tests/data/encl.ss");
    const ENCL_PEM: &str = include_str!("../tests/data/encl.pem");

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn known_sigstruct_verifies_with_its_key() {
        let ss = SigStruct::parse(ENCL_SS).unwrap();
        ss.verify().unwrap();
        let key = SigningKey::from_pem(ENCL_PEM).unwrap();
        ss.verify_with(&key.verifying_key()).unwrap();
        assert_eq!(key.verifying_key().modulus_le(), ss.modulus);
        assert_eq!(
            ss.mr_signer(),
            <[u8; 32]>::from(Sha256::digest(&ENCL_SS[128..512]))
        );
        assert_eq!(key.mr_signer(), ss.mr_signer());
    }

    #[test]
    fn resigning_reproduces_the_known_sigstruct() {
        let ss = SigStruct::parse(ENCL_SS).unwrap();
        let key = SigningKey::from_pem(ENCL_PEM).unwrap();
        let unsigned = SigStruct {
            modulus: [0; 384],
            signature: [0; 384],
            q1: [0; 384],
            q2: [0; 384],
            ..ss.clone()
        };
        let resigned = unsigned.sign(&key, &mut rng()).unwrap();
        assert_eq!(resigned.signature, ss.signature);
        assert_eq!(resigned.q1, ss.q1);
        assert_eq!(resigned.q2, ss.q2);
        assert_eq!(resigned.encode().as_slice(), ENCL_SS);
    }

    #[test]
    fn q1_and_q2_one_off_either_way_are_refused() {
        let ss = SigStruct::parse(ENCL_SS).unwrap();
        let s = BigUint::from_bytes_le(&ss.signature);
        let n = BigUint::from_bytes_le(&ss.modulus);
        let (q1, q2) = q1_q2(&s, &n);
        check_q1_q2(&s, &n, &q1, &q2).unwrap();
        let one = BigUint::from(1u8);
        for (bad_q1, bad_q2) in [
            (&q1 + &one, q2.clone()),
            (&q1 - &one, q2.clone()),
            (q1.clone(), &q2 + &one),
            (q1.clone(), &q2 - &one),
        ] {
            let refused = check_q1_q2(&s, &n, &bad_q1, &bad_q2).unwrap_err();
            let expected = if bad_q1 == q1 { "q2" } else { "q1" };
            assert!(refused.to_string().contains(expected), "{refused}");
        }
    }

    #[test]
    fn tampering_is_detected() {
        let ss = SigStruct::parse(ENCL_SS).unwrap();
        let mut t = ss.clone();
        t.enclave_hash[0] ^= 1;
        assert!(matches!(t.verify(), Err(SigningError::BadSignature)));
        let mut t = ss.clone();
        t.isv_svn += 1;
        assert!(matches!(t.verify(), Err(SigningError::BadSignature)));
        let mut t = ss.clone();
        t.q1[0] ^= 1;
        assert_eq!(
            t.verify().unwrap_err().to_string(),
            "sigstruct q1 (offset 1040) does not match the signature"
        );
        let mut t = ss.clone();
        t.q2[5] ^= 1;
        assert!(matches!(t.verify(), Err(SigningError::BadQ2)));
        // Bytes outside the signed ranges (e.g. reserved4 at 1028) are not covered.
        let mut t = ss.clone();
        t.reserved4[0] = 1;
        t.verify().unwrap();
        let mut t = ss;
        t.modulus[0] ^= 2;
        assert!(t.verify().is_err());
    }

    #[test]
    fn pem_round_trips_in_both_formats() {
        let key = SigningKey::from_pem(ENCL_PEM).unwrap();
        let pkcs8 = key.to_pkcs8_pem().unwrap();
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            SigningKey::from_pem(&pkcs8).unwrap().mr_signer(),
            key.mr_signer()
        );
        let pkcs1 = key.to_pkcs1_pem().unwrap();
        assert_eq!(
            SigningKey::from_pem(&pkcs1).unwrap().mr_signer(),
            key.mr_signer()
        );
        let public = key.verifying_key().to_public_key_pem().unwrap();
        assert_eq!(
            VerifyingKey::from_public_key_pem(&public).unwrap(),
            key.verifying_key()
        );
        let debug = format!("{key:?}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(SigningKey::from_pem("not a key")
            .unwrap_err()
            .to_string()
            .starts_with("invalid rsa private key pem: "));
    }

    #[test]
    fn wrong_exponent_is_refused() {
        let key = RsaPrivateKey::new(&mut rng(), 1024).unwrap();
        assert_eq!(
            SigningKey::from_rsa(key).unwrap_err().to_string(),
            "rsa public exponent is 65537, expected 3"
        );
    }

    #[test]
    fn generated_key_signs_and_verifies() {
        let key = generate_signing_key(&mut rng()).unwrap();
        let unsigned = SigStruct {
            enclave_hash: [9; 32],
            isv_prod_id: 1,
            isv_svn: 2,
            ..SigStruct::default()
        };
        let signed = unsigned.sign(&key, &mut rng()).unwrap();
        signed.verify().unwrap();
        assert_eq!(signed.mr_signer(), key.mr_signer());
        let reparsed = SigStruct::parse(signed.encode().as_slice()).unwrap();
        reparsed.verify_with(&key.verifying_key()).unwrap();
        let other = SigningKey::from_pem(ENCL_PEM).unwrap().verifying_key();
        let err = reparsed.verify_with(&other).unwrap_err().to_string();
        assert!(err.starts_with("sigstruct is signed by mrsigner "), "{err}");
    }
}
