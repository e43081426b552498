//! MRENCLAVE of a sim enclave, and the checks that bind a manifest to its SIGSTRUCT.
//!
//! The sim enclave's "memory" is its manifest. MRENCLAVE is computed with the real SGX
//! algorithm ([`sgx::Hasher`]: ECREATE, EADD, EEXTEND) over this exact layout, so anyone can
//! recompute it from `manifest.json`:
//!
//! 1. ECREATE with SIZE = `memory_size` (a power of two) and SSAFRAMESIZE = 1.
//! 2. The header page at offset 0: bytes 0..32 are [`HEADER_MAGIC`]
//!    (`"rune sim enclave manifest v1"` and four NULs), bytes 32..40 the length of the
//!    canonical manifest as a little-endian u64, the rest zero.
//! 3. The canonical manifest bytes ([`Manifest::canonical_bytes`]) at offsets 0x1000,
//!    0x2000, …, 4096 bytes a page, the last page zero-padded.
//! 4. Every page is EADDed with SECINFO.FLAGS = 0x201 (page type REG, read-only) and all 16 of
//!    its 256-byte chunks are EEXTENDed.
//!
//! The enclave's attributes (what EREPORT puts into REPORT.ATTRIBUTES) are FLAGS =
//! INIT | MODE64BIT, plus DEBUG for a debug manifest, and XFRM = 3 (x87, SSE); MISCSELECT = 0.
//! The SIGSTRUCT the signer writes carries the same values without INIT (as SECS has them
//! before EINIT), under [`attribute_mask`].

use sgx::{Attributes, Chunks, EnclaveIdentity, Hasher, SecInfo, SigStruct, PAGE_SIZE};
use thiserror::Error;

use crate::manifest::{Manifest, Sha256Digest};

/// Page size as a `u64`.
pub(crate) const PAGE: u64 = 4096;
/// First 32 bytes of the header page.
pub const HEADER_MAGIC: [u8; 32] = *b"rune sim enclave manifest v1\0\0\0\0";
/// SECINFO of every measured page: REG, R (0x201).
pub const PAGE_SECINFO: SecInfo = SecInfo::reg(SecInfo::R);
/// XFRM of a sim enclave: x87 and SSE state.
pub const XFRM: u64 = 3;

/// Why a SIGSTRUCT does not sign a manifest.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BindError {
    /// The recomputed MRENCLAVE differs from SIGSTRUCT.ENCLAVEHASH.
    #[error("sim enclave image measurement mismatch: manifest gives {manifest}, sigstruct says {sigstruct}")]
    Mismatch {
        /// MRENCLAVE recomputed from the manifest (hex).
        manifest: String,
        /// SIGSTRUCT.ENCLAVEHASH (hex).
        sigstruct: String,
    },
    /// A SIGSTRUCT field disagrees with the manifest.
    #[error("sim enclave sigstruct {field} is {sigstruct} but the manifest says {manifest}")]
    Field {
        /// The field.
        field: &'static str,
        /// SIGSTRUCT's value.
        sigstruct: String,
        /// The manifest's value.
        manifest: String,
    },
    /// The signature (or Q1/Q2) does not verify.
    #[error("sim enclave sigstruct does not verify")]
    Signature(#[source] sgx::SigningError),
    /// The manifest cannot be measured (a bug: `Manifest` guarantees a valid size).
    #[error("sim enclave manifest cannot be measured")]
    Measure(#[source] sgx::MeasureError),
}

/// Number of measured pages for a canonical manifest of `len` bytes (header page included).
pub(crate) fn pages_needed(len: usize) -> u64 {
    let data_pages = len.div_ceil(PAGE_SIZE);
    u64::try_from(data_pages)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// MRENCLAVE of the enclave `manifest` describes, laid out as the module doc says.
pub fn mr_enclave(manifest: &Manifest) -> Result<[u8; 32], sgx::MeasureError> {
    let bytes = manifest.canonical_bytes();
    let mut hasher = Hasher::new(manifest.memory_size(), 1)?;
    let mut header = [0u8; PAGE_SIZE];
    header[..32].copy_from_slice(&HEADER_MAGIC);
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    header[32..40].copy_from_slice(&len.to_le_bytes());
    hasher.add_page(0, &header, PAGE_SECINFO, Chunks::ALL)?;
    let mut offset = PAGE;
    for chunk in bytes.chunks(PAGE_SIZE) {
        let mut page = [0u8; PAGE_SIZE];
        page[..chunk.len()].copy_from_slice(chunk);
        hasher.add_page(offset, &page, PAGE_SECINFO, Chunks::ALL)?;
        offset = offset.saturating_add(PAGE);
    }
    Ok(hasher.finish())
}

/// SECS attributes of the enclave before EINIT (what the SIGSTRUCT carries).
pub fn secs_attributes(debug: bool) -> Attributes {
    let debug = if debug { Attributes::DEBUG } else { 0 };
    Attributes::new(Attributes::MODE64BIT | debug, XFRM)
}

/// ATTRIBUTEMASK the signer writes: every flag but INIT enforced, every XFRM bit enforced.
pub fn attribute_mask() -> Attributes {
    Attributes::new(!Attributes::INIT, !0)
}

/// The identity a running sim enclave of `manifest` signed by `sigstruct` has.
pub fn identity(manifest: &Manifest, mr_enclave: [u8; 32], mr_signer: [u8; 32]) -> EnclaveIdentity {
    let secs = secs_attributes(manifest.debug());
    EnclaveIdentity {
        mr_enclave,
        mr_signer,
        isv_prod_id: manifest.isv_prod_id(),
        isv_svn: manifest.isv_svn(),
        config_svn: 0,
        attributes: Attributes::new(secs.flags | Attributes::INIT, secs.xfrm),
        misc_select: 0,
    }
}

/// What EINIT checks, for the sim enclave: the SIGSTRUCT verifies (signature, Q1, Q2), its
/// ENCLAVEHASH is the manifest's MRENCLAVE, and its ISV fields and attributes match the
/// manifest. Returns the enclave's identity.
pub fn bind(manifest: &Manifest, sigstruct: &SigStruct) -> Result<EnclaveIdentity, BindError> {
    sigstruct.verify().map_err(BindError::Signature)?;
    let measured = mr_enclave(manifest).map_err(BindError::Measure)?;
    if measured != sigstruct.enclave_hash {
        return Err(BindError::Mismatch {
            manifest: hex::encode(measured),
            sigstruct: hex::encode(sigstruct.enclave_hash),
        });
    }
    bind_fields(manifest, sigstruct, measured)
}

/// [`bind`] for an image whose exact bytes [`bind`] accepted before, which the caller knows by
/// their [`ImageDigest`] (epm's handover carries the digest of the image it verified): the
/// signature and the measurement depend on those bytes only, so they are not computed again
/// (an RSA-3072 verification, a tenth of a millisecond). The manifest's fields are still
/// checked against the SIGSTRUCT's.
pub(crate) fn bind_verified(
    manifest: &Manifest,
    sigstruct: &SigStruct,
) -> Result<EnclaveIdentity, BindError> {
    bind_fields(manifest, sigstruct, sigstruct.enclave_hash)
}

/// SHA-256 of the exact manifest and SIGSTRUCT bytes of an image: the content key under which
/// a verification by [`bind`] is remembered (by epm) and trusted again (by `pal_init` with a
/// handover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDigest {
    /// Of the manifest file's bytes.
    pub manifest: Sha256Digest,
    /// Of the SIGSTRUCT file's bytes.
    pub sigstruct: Sha256Digest,
}

impl ImageDigest {
    /// The digest of an image read as these bytes.
    pub fn of(manifest: &[u8], sigstruct: &[u8]) -> Self {
        use sha2::Digest;
        Self {
            manifest: Sha256Digest(sha2::Sha256::digest(manifest).into()),
            sigstruct: Sha256Digest(sha2::Sha256::digest(sigstruct).into()),
        }
    }
}

fn bind_fields(
    manifest: &Manifest,
    sigstruct: &SigStruct,
    measured: [u8; 32],
) -> Result<EnclaveIdentity, BindError> {
    let field = |field, sigstruct: String, manifest: String| {
        Err(BindError::Field {
            field,
            sigstruct,
            manifest,
        })
    };
    if sigstruct.isv_prod_id != manifest.isv_prod_id() {
        return field(
            "isv_prod_id",
            sigstruct.isv_prod_id.to_string(),
            manifest.isv_prod_id().to_string(),
        );
    }
    if sigstruct.isv_svn != manifest.isv_svn() {
        return field(
            "isv_svn",
            sigstruct.isv_svn.to_string(),
            manifest.isv_svn().to_string(),
        );
    }
    if sigstruct.attributes.is_debug() != manifest.debug() {
        return field(
            "attributes.debug",
            sigstruct.attributes.is_debug().to_string(),
            manifest.debug().to_string(),
        );
    }
    let expected = secs_attributes(manifest.debug());
    let mask = sigstruct.attribute_mask;
    if sigstruct.attributes.masked(&mask) != expected.masked(&mask) {
        return field(
            "attributes",
            format!(
                "flags {:#x} xfrm {:#x}",
                sigstruct.attributes.flags, sigstruct.attributes.xfrm
            ),
            format!("flags {:#x} xfrm {:#x}", expected.flags, expected.xfrm),
        );
    }
    if sigstruct.misc_select & sigstruct.misc_mask != 0 {
        return field(
            "misc_select",
            format!("{:#x}", sigstruct.misc_select),
            "0".to_owned(),
        );
    }
    Ok(identity(manifest, measured, sigstruct.mr_signer()))
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::manifest::tests::sample;
    use crate::manifest::Sha256Digest;

    #[test]
    fn mr_enclave_follows_the_documented_layout() {
        let m = sample();
        let bytes = m.canonical_bytes();
        // Recompute by hand from the SGX log format (SDM Vol. 3D §39.1), not via sgx::Hasher.
        let mut sha = Sha256::new();
        let mut rec = [0u8; 64];
        rec[..8].copy_from_slice(b"ECREATE\0");
        rec[8..12].copy_from_slice(&1u32.to_le_bytes());
        rec[12..20].copy_from_slice(&m.memory_size().to_le_bytes());
        sha.update(rec);
        let mut image = vec![0u8; 4096];
        image[..32].copy_from_slice(&HEADER_MAGIC);
        image[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        image.extend_from_slice(&bytes);
        image.resize(image.len().div_ceil(4096) * 4096, 0);
        for (p, page) in image.chunks(4096).enumerate() {
            let offset = (p * 4096) as u64;
            let mut rec = [0u8; 64];
            rec[..8].copy_from_slice(b"EADD\0\0\0\0");
            rec[8..16].copy_from_slice(&offset.to_le_bytes());
            rec[16..24].copy_from_slice(&0x201u64.to_le_bytes());
            sha.update(rec);
            for (c, chunk) in page.chunks(256).enumerate() {
                let mut rec = [0u8; 64];
                rec[..8].copy_from_slice(b"EEXTEND\0");
                rec[8..16].copy_from_slice(&(offset + (c * 256) as u64).to_le_bytes());
                sha.update(rec);
                sha.update(chunk);
            }
        }
        let expected: [u8; 32] = sha.finalize().into();
        assert_eq!(mr_enclave(&m).unwrap(), expected);
    }

    #[test]
    fn changing_a_trusted_hash_changes_mr_enclave() {
        let m = sample();
        let tampered = m
            .with_trusted_hash("/lib/x.so", Sha256Digest([9; 32]))
            .unwrap();
        assert_ne!(mr_enclave(&m).unwrap(), mr_enclave(&tampered).unwrap());
    }
}
