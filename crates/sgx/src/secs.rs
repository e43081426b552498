//! SECS, the 4096-byte SGX Enclave Control Structure (SDM Vol. 3D §34.7, Table 34-3).
//!
//! Only ECREATE consumes a SECS, and ECREATE faults on non-zero reserved bytes, so unlike the
//! REPORT family this parser rejects them instead of carrying them along.

use crate::attributes::Attributes;
use crate::codec::{check_len, ParseError, Reader, Writer};

/// The fields of a SECS; everything else in the 4096-byte page is reserved and zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Secs {
    /// Enclave size in bytes (a power of two, at least two pages). Enters MRENCLAVE (ECREATE).
    pub size: u64,
    /// Enclave base linear address.
    pub base_addr: u64,
    /// Size of one SSA frame in pages. Enters MRENCLAVE (ECREATE).
    pub ssa_frame_size: u32,
    /// MISCSELECT: which extended features are saved on an AEX.
    pub misc_select: u32,
    /// Enclave attributes.
    pub attributes: Attributes,
    /// MRENCLAVE (filled by EINIT).
    pub mr_enclave: [u8; 32],
    /// MRSIGNER (filled by EINIT).
    pub mr_signer: [u8; 32],
    /// CONFIGID (KSS).
    pub config_id: [u8; 64],
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV security version.
    pub isv_svn: u16,
    /// CONFIGSVN (KSS).
    pub config_svn: u16,
}

impl Secs {
    /// Encoded size: one page.
    pub const SIZE: usize = 4096;
    /// Offset of SIZE.
    pub const SIZE_OFFSET: usize = 0;
    /// Offset of BASEADDR.
    pub const BASE_ADDR_OFFSET: usize = 8;
    /// Offset of SSAFRAMESIZE.
    pub const SSA_FRAME_SIZE_OFFSET: usize = 16;
    /// Offset of MISCSELECT.
    pub const MISC_SELECT_OFFSET: usize = 20;
    /// Offset of ATTRIBUTES.
    pub const ATTRIBUTES_OFFSET: usize = 48;
    /// Offset of MRENCLAVE.
    pub const MR_ENCLAVE_OFFSET: usize = 64;
    /// Offset of MRSIGNER.
    pub const MR_SIGNER_OFFSET: usize = 128;
    /// Offset of CONFIGID.
    pub const CONFIG_ID_OFFSET: usize = 192;
    /// Offset of ISVPRODID.
    pub const ISV_PROD_ID_OFFSET: usize = 256;
    /// Offset of ISVSVN.
    pub const ISV_SVN_OFFSET: usize = 258;
    /// Offset of CONFIGSVN.
    pub const CONFIG_SVN_OFFSET: usize = 260;

    /// Parses exactly 4096 bytes; reserved bytes must be zero.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        check_len("secs", bytes, Self::SIZE)?;
        let mut r = Reader::new("secs", bytes);
        let size = r.u64("size")?;
        let base_addr = r.u64("base_addr")?;
        let ssa_frame_size = r.u32("ssa_frame_size")?;
        let misc_select = r.u32("misc_select")?;
        r.zeros::<24>("reserved1")?;
        let attributes = Attributes::from_bytes(r.array("attributes")?);
        let mr_enclave = r.array("mr_enclave")?;
        r.zeros::<32>("reserved2")?;
        let mr_signer = r.array("mr_signer")?;
        r.zeros::<32>("reserved3")?;
        let config_id = r.array("config_id")?;
        let isv_prod_id = r.u16("isv_prod_id")?;
        let isv_svn = r.u16("isv_svn")?;
        let config_svn = r.u16("config_svn")?;
        r.zeros::<3834>("reserved4")?;
        r.finish()?;
        Ok(Self {
            size,
            base_addr,
            ssa_frame_size,
            misc_select,
            attributes,
            mr_enclave,
            mr_signer,
            config_id,
            isv_prod_id,
            isv_svn,
            config_svn,
        })
    }

    /// Encodes the 4096-byte page.
    pub fn encode(&self) -> Box<[u8; 4096]> {
        let mut out = Box::new([0u8; Self::SIZE]);
        let mut w = Writer::new(&mut out[..]);
        w.put(&self.size.to_le_bytes());
        w.put(&self.base_addr.to_le_bytes());
        w.put(&self.ssa_frame_size.to_le_bytes());
        w.put(&self.misc_select.to_le_bytes());
        w.skip(24);
        w.put(&self.attributes.encode());
        w.put(&self.mr_enclave);
        w.skip(32);
        w.put(&self.mr_signer);
        w.skip(32);
        w.put(&self.config_id);
        w.put(&self.isv_prod_id.to_le_bytes());
        w.put(&self.isv_svn.to_le_bytes());
        w.put(&self.config_svn.to_le_bytes());
        w.skip(3834);
        w.finish();
        out
    }
}

impl Default for Secs {
    fn default() -> Self {
        Self {
            size: 0,
            base_addr: 0,
            ssa_frame_size: 0,
            misc_select: 0,
            attributes: Attributes::default(),
            mr_enclave: [0; 32],
            mr_signer: [0; 32],
            config_id: [0; 64],
            isv_prod_id: 0,
            isv_svn: 0,
            config_svn: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample() -> Secs {
        Secs {
            size: u64::from_le_bytes([1; 8]),
            base_addr: u64::from_le_bytes([2; 8]),
            ssa_frame_size: u32::from_le_bytes([3; 4]),
            misc_select: u32::from_le_bytes([4; 4]),
            attributes: Attributes::new(u64::from_le_bytes([5; 8]), u64::from_le_bytes([6; 8])),
            mr_enclave: [7; 32],
            mr_signer: [8; 32],
            config_id: [9; 64],
            isv_prod_id: 0x0a0a,
            isv_svn: 0x0b0b,
            config_svn: 0x0c0c,
        }
    }

    #[test]
    fn secs_offsets_match_sdm() {
        assert_eq!(Secs::SIZE, 4096);
        let b = sample().encode();
        let field =
            |off: usize, len: usize, v: u8| assert!(b[off..off + len].iter().all(|&x| x == v));
        field(Secs::SIZE_OFFSET, 8, 1);
        field(Secs::BASE_ADDR_OFFSET, 8, 2);
        field(Secs::SSA_FRAME_SIZE_OFFSET, 4, 3);
        field(Secs::MISC_SELECT_OFFSET, 4, 4);
        field(24, 24, 0);
        field(Secs::ATTRIBUTES_OFFSET, 8, 5);
        field(Secs::ATTRIBUTES_OFFSET + 8, 8, 6);
        field(Secs::MR_ENCLAVE_OFFSET, 32, 7);
        field(96, 32, 0);
        field(Secs::MR_SIGNER_OFFSET, 32, 8);
        field(160, 32, 0);
        field(Secs::CONFIG_ID_OFFSET, 64, 9);
        field(Secs::ISV_PROD_ID_OFFSET, 2, 0x0a);
        field(Secs::ISV_SVN_OFFSET, 2, 0x0b);
        field(Secs::CONFIG_SVN_OFFSET, 2, 0x0c);
        field(262, 4096 - 262, 0);
    }

    #[test]
    fn secs_rejects_reserved_bytes() {
        let mut b = sample().encode();
        b[4000] = 1;
        let err = Secs::parse(&b[..]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secs reserved bytes reserved4 (offset 262) are not zero"
        );
    }

    proptest! {
        #[test]
        fn secs_round_trips(
            size in any::<u64>(), base in any::<u64>(), ssa in any::<u32>(), misc in any::<u32>(),
            flags in any::<u64>(), xfrm in any::<u64>(), mre in any::<[u8; 32]>(),
            mrs in any::<[u8; 32]>(), prod in any::<u16>(), svn in any::<u16>(), csvn in any::<u16>(),
        ) {
            let secs = Secs {
                size, base_addr: base, ssa_frame_size: ssa, misc_select: misc,
                attributes: Attributes::new(flags, xfrm), mr_enclave: mre, mr_signer: mrs,
                config_id: [0x5a; 64], isv_prod_id: prod, isv_svn: svn, config_svn: csvn,
            };
            prop_assert_eq!(Secs::parse(&secs.encode()[..]).unwrap(), secs);
        }

        #[test]
        fn secs_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 4090..4100)) {
            let _ = Secs::parse(&bytes);
        }
    }
}
