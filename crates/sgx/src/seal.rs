//! Sealed blobs in the Intel SGX SDK's `sgx_sealed_data_t` layout, with AES-128-GCM.
//!
//! ```text
//! sgx_sealed_data_t {                       offset
//!     sgx_key_request_t key_request;           0   (512 bytes, names the seal key)
//!     uint32_t plain_text_offset;            512   (= length of the encrypted text)
//!     uint8_t reserved[12];                  516
//!     sgx_aes_gcm_data_t aes_data {
//!         uint32_t payload_size;             528   (encrypted text + additional MAC text)
//!         uint8_t reserved[12];              532
//!         uint8_t payload_tag[16];           544   (AES-GCM tag)
//!         uint8_t payload[];                 560   (ciphertext, then the plaintext AAD)
//!     }
//! }
//! ```
//!
//! As in the SDK (`sgx_seal_data`), the GCM IV is 12 zero bytes: the key request carries a
//! random 32-byte KEYID, so every seal uses a fresh key and the (key, IV) pair never repeats.
//! The additional MAC text is authenticated, not encrypted.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use rand_core::CryptoRngCore;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::attributes::Attributes;
use crate::codec::{ParseError, Reader};
use crate::keyrequest::{key_name, KeyRequest};
use crate::keys::{egetkey, EnclaveIdentity, KeyError, PlatformSecret};

/// Size of the header in front of the payload.
pub const SEALED_HEADER_SIZE: usize = 560;
/// Offset of `plain_text_offset`.
pub const PLAIN_TEXT_OFFSET_OFFSET: usize = 512;
/// Offset of `aes_data.payload_size`.
pub const PAYLOAD_SIZE_OFFSET: usize = 528;
/// Offset of `aes_data.payload_tag`.
pub const PAYLOAD_TAG_OFFSET: usize = 544;

/// The SDK's default ATTRIBUTEMASK.FLAGS for sealing (`TSEAL_DEFAULT_FLAGSMASK`): every flag
/// except the non-security ones (bits 6..=55, MODE64BIT, PROVISION_KEY, EINITTOKEN_KEY).
pub const DEFAULT_FLAGS_MASK: u64 = 0xFF00_0000_0000_000B;
/// The SDK's default MISCMASK for sealing (`TSEAL_DEFAULT_MISCMASK`).
pub const DEFAULT_MISC_MASK: u32 = 0xF000_0000;

/// Why data cannot be sealed or unsealed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SealError {
    /// The blob is not a well-formed `sgx_sealed_data_t`.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The seal key cannot be derived for this enclave.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The blob would not fit the format's 32-bit sizes.
    #[error("cannot seal {plaintext_len} bytes with {aad_len} bytes of aad: blob exceeds 4 GiB")]
    TooLarge {
        /// Plaintext length.
        plaintext_len: usize,
        /// Additional authenticated data length.
        aad_len: usize,
    },
    /// The blob's key request does not name the seal key.
    #[error("sealed data key_request.key_name is {0}, expected 4 (seal key)")]
    NotSealKey(u16),
    /// AES-GCM authentication failed.
    #[error(
        "sealed data does not authenticate: sealed by another enclave or platform, or modified"
    )]
    Authentication,
}

/// A parsed `sgx_sealed_data_t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedData {
    /// The KEYREQUEST that derives the seal key (its KEYID is random per blob).
    pub key_request: KeyRequest,
    /// AES-GCM tag over the ciphertext and the AAD.
    pub tag: [u8; 16],
    /// The encrypted text.
    pub ciphertext: Vec<u8>,
    /// The additional MAC text (authenticated, stored in clear).
    pub aad: Vec<u8>,
}

impl SealedData {
    /// Parses a blob; its length must be exactly the header plus `payload_size`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() < SEALED_HEADER_SIZE {
            return Err(ParseError::TooShort {
                structure: "sealed data",
                actual: bytes.len(),
                expected: SEALED_HEADER_SIZE,
            });
        }
        let mut r = Reader::new("sealed data", bytes);
        let key_request = KeyRequest::read(&mut r)?;
        let plain_text_offset = r.u32("plain_text_offset")?;
        r.zeros::<12>("reserved")?;
        let payload_size = r.u32("aes_data.payload_size")?;
        r.zeros::<12>("aes_data.reserved")?;
        let tag = r.array("aes_data.payload_tag")?;
        if plain_text_offset > payload_size {
            return Err(r.invalid_length(
                "plain_text_offset",
                PLAIN_TEXT_OFFSET_OFFSET,
                u64::from(plain_text_offset),
                format!("larger than payload_size {payload_size}"),
            ));
        }
        let too_big = |field, offset, v: u32| {
            r.invalid_length(field, offset, u64::from(v), "does not fit in memory".into())
        };
        let payload_len = usize::try_from(payload_size)
            .map_err(|_| too_big("aes_data.payload_size", PAYLOAD_SIZE_OFFSET, payload_size))?;
        let split = usize::try_from(plain_text_offset).map_err(|_| {
            too_big(
                "plain_text_offset",
                PLAIN_TEXT_OFFSET_OFFSET,
                plain_text_offset,
            )
        })?;
        let payload = r.take("aes_data.payload", payload_len)?;
        r.finish()?;
        let (ciphertext, aad) = payload.split_at(split);
        Ok(Self {
            key_request,
            tag,
            ciphertext: ciphertext.to_vec(),
            aad: aad.to_vec(),
        })
    }

    /// Encodes the blob.
    pub fn encode(&self) -> Result<Vec<u8>, SealError> {
        let too_large = || SealError::TooLarge {
            plaintext_len: self.ciphertext.len(),
            aad_len: self.aad.len(),
        };
        let total = sealed_size(self.ciphertext.len(), self.aad.len()).ok_or_else(too_large)?;
        let plain_text_offset = u32::try_from(self.ciphertext.len()).map_err(|_| too_large())?;
        let payload_size = u32::try_from(total - SEALED_HEADER_SIZE).map_err(|_| too_large())?;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&self.key_request.encode());
        out.extend_from_slice(&plain_text_offset.to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&payload_size.to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&self.tag);
        out.extend_from_slice(&self.ciphertext);
        out.extend_from_slice(&self.aad);
        Ok(out)
    }
}

/// Size of a sealed blob for `plaintext_len` bytes of text and `aad_len` bytes of additional
/// MAC text (the SDK's `sgx_calc_sealed_data_size`); `None` above the format's 4 GiB limit.
pub fn sealed_size(plaintext_len: usize, aad_len: usize) -> Option<usize> {
    let total = SEALED_HEADER_SIZE
        .checked_add(plaintext_len)?
        .checked_add(aad_len)?;
    u32::try_from(total).ok()?;
    Some(total)
}

/// The KEYREQUEST the SDK's `sgx_seal_data` builds: seal key, `policy`, the enclave's own SVNs,
/// the default attribute and misc masks, and `key_id`.
pub fn seal_key_request(enclave: &EnclaveIdentity, policy: u16, key_id: [u8; 32]) -> KeyRequest {
    KeyRequest {
        key_name: key_name::SEAL,
        key_policy: policy,
        isv_svn: enclave.isv_svn,
        config_svn: enclave.config_svn,
        attribute_mask: Attributes::new(DEFAULT_FLAGS_MASK, 0),
        misc_mask: DEFAULT_MISC_MASK,
        key_id,
        ..KeyRequest::default()
    }
}

/// Seals `plaintext` (and authenticates `aad`) for `enclave` under key `policy`
/// ([`crate::key_policy`] bits), with a fresh random KEYID from `rng`.
pub fn seal<R: CryptoRngCore>(
    secret: &PlatformSecret,
    enclave: &EnclaveIdentity,
    policy: u16,
    plaintext: &[u8],
    aad: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    let mut key_id = [0u8; 32];
    rng.fill_bytes(&mut key_id);
    seal_with_request(
        secret,
        enclave,
        &seal_key_request(enclave, policy, key_id),
        plaintext,
        aad,
    )
}

/// Seals with an explicit KEYREQUEST (its KEYID must be unique per blob: the IV is fixed).
pub fn seal_with_request(
    secret: &PlatformSecret,
    enclave: &EnclaveIdentity,
    request: &KeyRequest,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, SealError> {
    if request.key_name != key_name::SEAL {
        return Err(SealError::NotSealKey(request.key_name));
    }
    if sealed_size(plaintext.len(), aad.len()).is_none() {
        return Err(SealError::TooLarge {
            plaintext_len: plaintext.len(),
            aad_len: aad.len(),
        });
    }
    let key = egetkey(secret, request, enclave)?;
    let cipher = Aes128Gcm::new(key.expose().into());
    let mut ciphertext = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(&Nonce::default(), aad, &mut ciphertext)
        // aes-gcm refuses only messages above 2^36 bytes; sealed_size capped us at 4 GiB.
        .map_err(|_| SealError::TooLarge {
            plaintext_len: plaintext.len(),
            aad_len: aad.len(),
        })?;
    SealedData {
        key_request: request.clone(),
        tag: tag.into(),
        ciphertext,
        aad: aad.to_vec(),
    }
    .encode()
}

/// The result of [`unseal`]. `Debug` redacts the plaintext.
#[derive(Clone)]
pub struct Unsealed {
    /// The decrypted text, zeroized on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The additional MAC text that was authenticated with it.
    pub aad: Vec<u8>,
}

impl fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unsealed")
            .field(
                "plaintext",
                &format_args!("<redacted {} bytes>", self.plaintext.len()),
            )
            .field("aad_len", &self.aad.len())
            .finish()
    }
}

/// Unseals a blob as `enclave`: derives the key from the blob's KEYREQUEST (refused if it asks
/// for a newer SVN than the enclave has) and checks the AES-GCM tag.
pub fn unseal(
    secret: &PlatformSecret,
    enclave: &EnclaveIdentity,
    blob: &[u8],
) -> Result<Unsealed, SealError> {
    let sealed = SealedData::parse(blob)?;
    if sealed.key_request.key_name != key_name::SEAL {
        return Err(SealError::NotSealKey(sealed.key_request.key_name));
    }
    let key = egetkey(secret, &sealed.key_request, enclave)?;
    let cipher = Aes128Gcm::new(key.expose().into());
    let mut plaintext = Zeroizing::new(sealed.ciphertext);
    cipher
        .decrypt_in_place_detached(
            &Nonce::default(),
            &sealed.aad,
            plaintext.as_mut_slice(),
            Tag::from_slice(&sealed.tag),
        )
        .map_err(|_| SealError::Authentication)?;
    Ok(Unsealed {
        plaintext,
        aad: sealed.aad,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::keyrequest::key_policy;

    fn secret() -> PlatformSecret {
        PlatformSecret::new([0x17; 32])
    }

    fn enclave() -> EnclaveIdentity {
        EnclaveIdentity {
            mr_enclave: [1; 32],
            mr_signer: [2; 32],
            isv_prod_id: 0,
            isv_svn: 2,
            config_svn: 0,
            attributes: Attributes::new(Attributes::INIT | Attributes::MODE64BIT, 3),
            misc_select: 0,
        }
    }

    #[test]
    fn header_layout_matches_sdk() {
        assert_eq!(SEALED_HEADER_SIZE, KeyRequest::SIZE + 4 + 12 + 4 + 12 + 16);
        let blob = seal_with_request(
            &secret(),
            &enclave(),
            &seal_key_request(&enclave(), key_policy::MRSIGNER, [5; 32]),
            b"hello",
            b"ab",
        )
        .unwrap();
        assert_eq!(blob.len(), 560 + 5 + 2);
        assert_eq!(Some(blob.len()), sealed_size(5, 2));
        assert_eq!(&blob[..2], &key_name::SEAL.to_le_bytes());
        assert_eq!(
            &blob[KeyRequest::KEY_ID_OFFSET..KeyRequest::KEY_ID_OFFSET + 32],
            &[5; 32]
        );
        assert_eq!(&blob[PLAIN_TEXT_OFFSET_OFFSET..516], &5u32.to_le_bytes());
        assert_eq!(&blob[PAYLOAD_SIZE_OFFSET..532], &7u32.to_le_bytes());
        assert_eq!(&blob[565..], b"ab");
        assert_ne!(&blob[560..565], b"hello");
    }

    #[test]
    fn seal_unseal_round_trip_and_policy() {
        let mut rng = StdRng::seed_from_u64(1);
        let blob = seal(
            &secret(),
            &enclave(),
            key_policy::MRSIGNER,
            b"secret",
            b"label",
            &mut rng,
        )
        .unwrap();
        let out = unseal(&secret(), &enclave(), &blob).unwrap();
        assert_eq!(out.plaintext.as_slice(), b"secret");
        assert_eq!(out.aad, b"label");
        assert_eq!(
            format!("{out:?}"),
            "Unsealed { plaintext: <redacted 6 bytes>, aad_len: 5 }"
        );

        // MRSIGNER policy: a newer enclave from the same signer unseals; another signer cannot.
        let mut upgraded = enclave();
        upgraded.mr_enclave = [9; 32];
        upgraded.isv_svn = 3;
        unseal(&secret(), &upgraded, &blob).unwrap();
        let mut other = enclave();
        other.mr_signer = [9; 32];
        assert!(matches!(
            unseal(&secret(), &other, &blob),
            Err(SealError::Authentication)
        ));
        // An older enclave may not unseal data sealed at a newer SVN.
        let mut older = enclave();
        older.isv_svn = 1;
        assert_eq!(
            unseal(&secret(), &older, &blob).unwrap_err().to_string(),
            "keyrequest isv_svn 2 is above the enclave's isv_svn 1"
        );
        // Two seals of the same data differ (fresh key id).
        let again = seal(
            &secret(),
            &enclave(),
            key_policy::MRSIGNER,
            b"secret",
            b"label",
            &mut rng,
        )
        .unwrap();
        assert_ne!(blob, again);
    }

    #[test]
    fn tampering_and_bad_blobs_are_refused() {
        let mut rng = StdRng::seed_from_u64(2);
        let blob = seal(
            &secret(),
            &enclave(),
            key_policy::MRENCLAVE,
            b"payload",
            b"aad",
            &mut rng,
        )
        .unwrap();
        for i in [0usize, 100, 520, 545, 561, blob.len() - 1] {
            let mut t = blob.clone();
            t[i] ^= 1;
            assert!(unseal(&secret(), &enclave(), &t).is_err(), "flip at {i}");
        }
        let err = unseal(&secret(), &enclave(), &blob[..blob.len() - 1]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sealed data truncated at aes_data.payload (offset 560): need 10 bytes, 9 left"
        );
        let mut long = blob.clone();
        long.push(0);
        assert_eq!(
            unseal(&secret(), &enclave(), &long)
                .unwrap_err()
                .to_string(),
            "sealed data has 1 trailing bytes at offset 570"
        );
        let mut bad = blob.clone();
        bad[512..516].copy_from_slice(&11u32.to_le_bytes());
        assert_eq!(
            SealedData::parse(&bad).unwrap_err().to_string(),
            "sealed data field plain_text_offset (offset 512) is 11, larger than payload_size 10"
        );
        assert_eq!(
            SealedData::parse(&blob[..100]).unwrap_err().to_string(),
            "sealed data too short: 100 bytes, expected 560"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sealed_data_round_trips(
            text in proptest::collection::vec(any::<u8>(), 0..300),
            aad in proptest::collection::vec(any::<u8>(), 0..300),
            key_id in any::<[u8; 32]>(),
        ) {
            let req = seal_key_request(&enclave(), key_policy::MRENCLAVE, key_id);
            let blob = seal_with_request(&secret(), &enclave(), &req, &text, &aad).unwrap();
            let parsed = SealedData::parse(&blob).unwrap();
            prop_assert_eq!(parsed.encode().unwrap(), blob.clone());
            let out = unseal(&secret(), &enclave(), &blob).unwrap();
            prop_assert_eq!(out.plaintext.as_slice(), text.as_slice());
            prop_assert_eq!(out.aad, aad);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
            let _ = SealedData::parse(&bytes);
            let _ = unseal(&secret(), &enclave(), &bytes);
        }
    }
}
