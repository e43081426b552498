//! MRENCLAVE: the SGX enclave measurement (SDM Vol. 3D §39.1: ECREATE, EADD, EEXTEND).
//!
//! MRENCLAVE is SHA-256 over a log of 64-byte records that the CPU appends as the enclave is
//! built:
//!
//! - ECREATE: `"ECREATE\0"`, SSAFRAMESIZE (u32), SIZE (u64), 44 zero bytes;
//! - EADD, once per page: `"EADD\0\0\0\0"`, the page's offset from the enclave base (u64),
//!   the first 48 bytes of its SECINFO (FLAGS u64, then zeros);
//! - EEXTEND, once per measured 256-byte chunk: `"EEXTEND\0"`, the chunk's offset (u64),
//!   48 zero bytes, then the 256 bytes of the chunk itself.
//!
//! All integers are little-endian. [`Hasher`] replays that log in software, so the same
//! measurement comes out whether a real CPU or the sim TEE builds the enclave.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Size of an enclave page.
pub const PAGE_SIZE: usize = 4096;
/// Size of the chunk one EEXTEND measures.
pub const CHUNK_SIZE: usize = 256;
/// Chunks per page.
pub const CHUNKS_PER_PAGE: usize = PAGE_SIZE / CHUNK_SIZE;

/// Page size as the `u64` enclave offsets use (4096 fits in any integer type).
const PAGE: u64 = 4096;

/// Why a page cannot be added to a measurement.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MeasureError {
    /// ECREATE requires SIZE to be a power of two and at least two pages.
    #[error("invalid enclave size {size:#x}: expected a power of two of at least 0x2000")]
    InvalidSize {
        /// The requested size.
        size: u64,
    },
    /// ECREATE requires at least one page per SSA frame.
    #[error("invalid ssa frame size 0: expected at least one page")]
    ZeroSsaFrameSize,
    /// EADD takes page-aligned offsets.
    #[error("page offset {offset:#x} is not a multiple of 4096")]
    UnalignedOffset {
        /// The offending offset.
        offset: u64,
    },
    /// The page lies outside the enclave.
    #[error("page offset {offset:#x} is outside the enclave (size {size:#x})")]
    OutOfRange {
        /// The offending offset.
        offset: u64,
        /// The enclave size.
        size: u64,
    },
    /// EADD faults on a page that is already part of the enclave.
    #[error("page at offset {offset:#x} was already added")]
    DuplicatePage {
        /// The offending offset.
        offset: u64,
    },
    /// The SECINFO flags are not ones EADD accepts.
    #[error("invalid secinfo flags {flags:#x} for page at offset {offset:#x}: {reason}")]
    InvalidSecInfo {
        /// The page offset.
        offset: u64,
        /// The flags given.
        flags: u64,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// A multi-page region is not a whole number of pages.
    #[error("region of {len} bytes at offset {offset:#x} is not a whole number of pages")]
    PartialPage {
        /// The region's offset.
        offset: u64,
        /// The region's length.
        len: usize,
    },
}

/// SECINFO FLAGS of a page: permissions and page type (SDM Vol. 3D §34.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecInfo {
    flags: u64,
}

impl SecInfo {
    /// Read permission.
    pub const R: u64 = 1 << 0;
    /// Write permission.
    pub const W: u64 = 1 << 1;
    /// Execute permission.
    pub const X: u64 = 1 << 2;
    /// Page type TCS (thread control structure), in bits 8..16.
    pub const PT_TCS: u64 = 1 << 8;
    /// Page type REG (regular page), in bits 8..16.
    pub const PT_REG: u64 = 2 << 8;

    /// SECINFO of a TCS page (type TCS, no permission bits).
    pub const fn tcs() -> Self {
        Self {
            flags: Self::PT_TCS,
        }
    }

    /// SECINFO of a regular page with the given `R`/`W`/`X` bits (other bits are dropped).
    pub const fn reg(perms: u64) -> Self {
        Self {
            flags: Self::PT_REG | (perms & (Self::R | Self::W | Self::X)),
        }
    }

    /// SECINFO with raw FLAGS, checked by [`Hasher::add_page`].
    pub const fn from_flags(flags: u64) -> Self {
        Self { flags }
    }

    /// The raw FLAGS value.
    pub const fn flags(self) -> u64 {
        self.flags
    }

    fn check(self, offset: u64) -> Result<(), MeasureError> {
        let invalid = |reason| {
            Err(MeasureError::InvalidSecInfo {
                offset,
                flags: self.flags,
                reason,
            })
        };
        let perms = Self::R | Self::W | Self::X;
        if self.flags & !(perms | 0xff00) != 0 {
            return invalid("only the r/w/x bits and the page type may be set");
        }
        match self.flags & 0xff00 {
            Self::PT_REG => Ok(()),
            Self::PT_TCS if self.flags & perms == 0 => Ok(()),
            Self::PT_TCS => invalid("a tcs page takes no permission bits"),
            _ => invalid("page type must be tcs (1) or reg (2)"),
        }
    }
}

/// Which 256-byte chunks of a page are measured with EEXTEND: bit `i` selects chunk `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chunks(pub u16);

impl Chunks {
    /// Every chunk: the whole page content enters MRENCLAVE.
    pub const ALL: Chunks = Chunks(u16::MAX);
    /// No chunk: only the page's offset and SECINFO enter MRENCLAVE.
    pub const NONE: Chunks = Chunks(0);
}

/// Computes MRENCLAVE by replaying ECREATE, EADD and EEXTEND.
///
/// ```
/// use sgx::{Chunks, Hasher, SecInfo};
///
/// let mut h = Hasher::new(0x2000, 1)?;
/// h.add_page(0, &[0u8; 4096], SecInfo::tcs(), Chunks::ALL)?;
/// h.add_page(0x1000, &[0x90; 4096], SecInfo::reg(SecInfo::R | SecInfo::X), Chunks::ALL)?;
/// let mrenclave: [u8; 32] = h.finish();
/// # Ok::<(), sgx::MeasureError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Hasher {
    sha: Sha256,
    size: u64,
    added: BTreeSet<u64>,
}

impl Hasher {
    /// Starts a measurement with ECREATE for an enclave of `size` bytes whose SSA frames are
    /// `ssa_frame_size` pages each.
    pub fn new(size: u64, ssa_frame_size: u32) -> Result<Self, MeasureError> {
        if !size.is_power_of_two() || size < 2 * PAGE {
            return Err(MeasureError::InvalidSize { size });
        }
        if ssa_frame_size == 0 {
            return Err(MeasureError::ZeroSsaFrameSize);
        }
        let mut record = [0u8; 64];
        record[..8].copy_from_slice(b"ECREATE\0");
        record[8..12].copy_from_slice(&ssa_frame_size.to_le_bytes());
        record[12..20].copy_from_slice(&size.to_le_bytes());
        let mut sha = Sha256::new();
        sha.update(record);
        Ok(Self {
            sha,
            size,
            added: BTreeSet::new(),
        })
    }

    /// EADDs the page at `offset` (from the enclave base) and EEXTENDs the selected chunks.
    pub fn add_page(
        &mut self,
        offset: u64,
        page: &[u8; PAGE_SIZE],
        secinfo: SecInfo,
        chunks: Chunks,
    ) -> Result<(), MeasureError> {
        if offset % PAGE != 0 {
            return Err(MeasureError::UnalignedOffset { offset });
        }
        if offset >= self.size {
            return Err(MeasureError::OutOfRange {
                offset,
                size: self.size,
            });
        }
        secinfo.check(offset)?;
        if !self.added.insert(offset) {
            return Err(MeasureError::DuplicatePage { offset });
        }

        let mut record = [0u8; 64];
        record[..8].copy_from_slice(b"EADD\0\0\0\0");
        record[8..16].copy_from_slice(&offset.to_le_bytes());
        record[16..24].copy_from_slice(&secinfo.flags.to_le_bytes());
        self.sha.update(record);

        let mut chunk_offset = offset;
        for (i, chunk) in page.chunks_exact(CHUNK_SIZE).enumerate() {
            if chunks.0 & (1 << i) != 0 {
                let mut record = [0u8; 64];
                record[..8].copy_from_slice(b"EEXTEND\0");
                record[8..16].copy_from_slice(&chunk_offset.to_le_bytes());
                self.sha.update(record);
                self.sha.update(chunk);
            }
            // Cannot overflow: offset < size <= 2^63 and the page ends at most at size.
            chunk_offset += 256;
        }
        Ok(())
    }

    /// Adds a run of pages starting at `offset`, all with the same SECINFO, measuring every
    /// chunk when `measure` is set (what the SDK signing tool does for a segment).
    pub fn add_pages(
        &mut self,
        offset: u64,
        data: &[u8],
        secinfo: SecInfo,
        measure: bool,
    ) -> Result<(), MeasureError> {
        if data.len() % PAGE_SIZE != 0 {
            return Err(MeasureError::PartialPage {
                offset,
                len: data.len(),
            });
        }
        let chunks = if measure { Chunks::ALL } else { Chunks::NONE };
        let mut page_offset = offset;
        for page in data.chunks_exact(PAGE_SIZE) {
            // chunks_exact yields PAGE_SIZE-byte slices, so the conversion always succeeds.
            let page: &[u8; PAGE_SIZE] =
                page.try_into().map_err(|_| MeasureError::PartialPage {
                    offset,
                    len: data.len(),
                })?;
            self.add_page(page_offset, page, secinfo, chunks)?;
            page_offset = page_offset
                .checked_add(PAGE)
                .ok_or(MeasureError::OutOfRange {
                    offset: page_offset,
                    size: self.size,
                })?;
        }
        Ok(())
    }

    /// Ends the measurement (as EINIT does) and returns MRENCLAVE.
    pub fn finish(self) -> [u8; 32] {
        self.sha.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ENCL_BIN: &[u8] = include_bytes!("../tests/data/encl.bin");
    const ENCL_MRENCLAVE: &str = "b999536238fcf4e9d360ef6cd3e0c20ef8a684c7b93f74a9c4a4c6d517d61fc0";

    #[test]
    fn known_answer_matches_enarx_test_enclave() {
        // tests/data/README.md: size 32768, one SSA frame, page 0 TCS, the rest RWX, all measured.
        let mut h = Hasher::new(32768, 1).unwrap();
        h.add_pages(0, &ENCL_BIN[..PAGE_SIZE], SecInfo::tcs(), true)
            .unwrap();
        let rwx = SecInfo::reg(SecInfo::R | SecInfo::W | SecInfo::X);
        h.add_pages(0x1000, &ENCL_BIN[PAGE_SIZE..], rwx, true)
            .unwrap();
        assert_eq!(hex::encode(h.finish()), ENCL_MRENCLAVE);
    }

    #[test]
    fn records_follow_the_sdm_layout() {
        // Recompute a two-page measurement by hand from the documented records.
        let page = [0xabu8; PAGE_SIZE];
        let mut h = Hasher::new(0x4000, 2).unwrap();
        h.add_page(0x1000, &page, SecInfo::reg(SecInfo::R), Chunks(0b10))
            .unwrap();

        let mut sha = Sha256::new();
        let mut rec = [0u8; 64];
        rec[..8].copy_from_slice(b"ECREATE\0");
        rec[8..12].copy_from_slice(&2u32.to_le_bytes());
        rec[12..20].copy_from_slice(&0x4000u64.to_le_bytes());
        sha.update(rec);
        let mut rec = [0u8; 64];
        rec[..8].copy_from_slice(b"EADD\0\0\0\0");
        rec[8..16].copy_from_slice(&0x1000u64.to_le_bytes());
        rec[16..24].copy_from_slice(&0x201u64.to_le_bytes());
        sha.update(rec);
        let mut rec = [0u8; 64];
        rec[..8].copy_from_slice(b"EEXTEND\0");
        rec[8..16].copy_from_slice(&0x1100u64.to_le_bytes());
        sha.update(rec);
        sha.update([0xab; 256]);
        assert_eq!(h.finish(), <[u8; 32]>::from(sha.finalize()));
    }

    #[test]
    fn invalid_inputs_are_refused_with_names() {
        assert_eq!(
            Hasher::new(0x3000, 1).unwrap_err().to_string(),
            "invalid enclave size 0x3000: expected a power of two of at least 0x2000"
        );
        assert_eq!(
            Hasher::new(0x1000, 1).unwrap_err(),
            MeasureError::InvalidSize { size: 0x1000 }
        );
        assert_eq!(
            Hasher::new(0x2000, 0).unwrap_err(),
            MeasureError::ZeroSsaFrameSize
        );
        let mut h = Hasher::new(0x2000, 1).unwrap();
        let page = [0u8; PAGE_SIZE];
        let reg = SecInfo::reg(SecInfo::R);
        assert_eq!(
            h.add_page(0x10, &page, reg, Chunks::ALL)
                .unwrap_err()
                .to_string(),
            "page offset 0x10 is not a multiple of 4096"
        );
        assert_eq!(
            h.add_page(0x2000, &page, reg, Chunks::ALL)
                .unwrap_err()
                .to_string(),
            "page offset 0x2000 is outside the enclave (size 0x2000)"
        );
        assert_eq!(
            h.add_page(0, &page, SecInfo::from_flags(0x107), Chunks::ALL).unwrap_err().to_string(),
            "invalid secinfo flags 0x107 for page at offset 0x0: a tcs page takes no permission bits"
        );
        assert!(h
            .add_page(0, &page, SecInfo::from_flags(0x308), Chunks::ALL)
            .is_err());
        h.add_page(0, &page, reg, Chunks::ALL).unwrap();
        assert_eq!(
            h.add_page(0, &page, reg, Chunks::ALL)
                .unwrap_err()
                .to_string(),
            "page at offset 0x0 was already added"
        );
        assert_eq!(
            h.add_pages(0x1000, &page[..100], reg, true)
                .unwrap_err()
                .to_string(),
            "region of 100 bytes at offset 0x1000 is not a whole number of pages"
        );
    }

    proptest! {
        #[test]
        fn any_content_change_changes_mrenclave(idx in 0..PAGE_SIZE, bit in 0..8u8) {
            let mut page = [0u8; PAGE_SIZE];
            let measure = |p: &[u8; PAGE_SIZE]| {
                let mut h = Hasher::new(0x2000, 1).unwrap();
                h.add_page(0x1000, p, SecInfo::reg(SecInfo::R), Chunks::ALL).unwrap();
                h.finish()
            };
            let before = measure(&page);
            page[idx] ^= 1 << bit;
            prop_assert_ne!(before, measure(&page));
        }
    }
}
