//! SIGSTRUCT, the 1808-byte enclave signature structure (SDM Vol. 3D §34.13, Table 34-19).
//!
//! This module owns the byte layout; signing and verification live in [`crate::signing`].
//! The RSA values (modulus, signature, Q1, Q2) are stored little-endian, as EINIT reads them.

use crate::attributes::Attributes;
use crate::codec::{check_len, ParseError, Reader, Writer};

/// The fixed HEADER field (SDM: `06000000E10000000000010000000000H`, read as bytes).
pub const HEADER: [u8; 16] = [6, 0, 0, 0, 0xe1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
/// The fixed HEADER2 field (SDM: `01010000600000006000000001000000H`, read as bytes).
pub const HEADER2: [u8; 16] = [1, 1, 0, 0, 0x60, 0, 0, 0, 0x60, 0, 0, 0, 1, 0, 0, 0];
/// The only RSA public exponent EINIT accepts.
pub const EXPONENT: u32 = 3;
/// VENDOR value for enclaves signed by Intel.
pub const VENDOR_INTEL: u32 = 0x8086;

/// A SIGSTRUCT. HEADER, HEADER2 and EXPONENT are constants checked by [`SigStruct::parse`];
/// the reserved regions are kept because the signature covers two of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SigStruct {
    /// VENDOR: [`VENDOR_INTEL`] or 0.
    pub vendor: u32,
    /// DATE as BCD `yyyymmdd` (see [`SigStruct::bcd_date`]).
    pub date: u32,
    /// SWDEFINED: free for the signer's software.
    pub sw_defined: [u8; 4],
    /// Reserved, 84 bytes at offset 44 (signed).
    pub reserved1: [u8; 84],
    /// RSA-3072 modulus, little-endian.
    pub modulus: [u8; 384],
    /// RSA-3072 signature, little-endian.
    pub signature: [u8; 384],
    /// MISCSELECT the enclave must be created with (under `misc_mask`).
    pub misc_select: u32,
    /// Which MISCSELECT bits are enforced.
    pub misc_mask: u32,
    /// CET attributes.
    pub cet_attributes: u8,
    /// Which CET attribute bits are enforced.
    pub cet_attributes_mask: u8,
    /// Reserved, 2 bytes at offset 910 (signed).
    pub reserved2: [u8; 2],
    /// ISV family id (KSS).
    pub isv_family_id: [u8; 16],
    /// Attributes the enclave must have (under `attribute_mask`).
    pub attributes: Attributes,
    /// Which attribute bits are enforced.
    pub attribute_mask: Attributes,
    /// ENCLAVEHASH: the expected MRENCLAVE.
    pub enclave_hash: [u8; 32],
    /// Reserved, 16 bytes at offset 992 (signed).
    pub reserved3: [u8; 16],
    /// Extended ISV product id (KSS).
    pub isv_ext_prod_id: [u8; 16],
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV security version.
    pub isv_svn: u16,
    /// Reserved, 12 bytes at offset 1028 (not signed).
    pub reserved4: [u8; 12],
    /// Q1 = floor(signature² / modulus), little-endian.
    pub q1: [u8; 384],
    /// Q2 = floor((signature³ − Q1·signature·modulus) / modulus), little-endian.
    pub q2: [u8; 384],
}

impl SigStruct {
    /// Encoded size in bytes.
    pub const SIZE: usize = 1808;
    /// Offset of VENDOR.
    pub const VENDOR_OFFSET: usize = 16;
    /// Offset of DATE.
    pub const DATE_OFFSET: usize = 20;
    /// Offset of HEADER2.
    pub const HEADER2_OFFSET: usize = 24;
    /// Offset of SWDEFINED.
    pub const SW_DEFINED_OFFSET: usize = 40;
    /// Offset of MODULUS.
    pub const MODULUS_OFFSET: usize = 128;
    /// Offset of EXPONENT.
    pub const EXPONENT_OFFSET: usize = 512;
    /// Offset of SIGNATURE.
    pub const SIGNATURE_OFFSET: usize = 516;
    /// Offset of MISCSELECT (start of the second signed region).
    pub const MISC_SELECT_OFFSET: usize = 900;
    /// Offset of MISCMASK.
    pub const MISC_MASK_OFFSET: usize = 904;
    /// Offset of CET_ATTRIBUTES.
    pub const CET_ATTRIBUTES_OFFSET: usize = 908;
    /// Offset of ISVFAMILYID.
    pub const ISV_FAMILY_ID_OFFSET: usize = 912;
    /// Offset of ATTRIBUTES.
    pub const ATTRIBUTES_OFFSET: usize = 928;
    /// Offset of ATTRIBUTEMASK.
    pub const ATTRIBUTE_MASK_OFFSET: usize = 944;
    /// Offset of ENCLAVEHASH.
    pub const ENCLAVE_HASH_OFFSET: usize = 960;
    /// Offset of ISVEXTPRODID.
    pub const ISV_EXT_PROD_ID_OFFSET: usize = 1008;
    /// Offset of ISVPRODID.
    pub const ISV_PROD_ID_OFFSET: usize = 1024;
    /// Offset of ISVSVN.
    pub const ISV_SVN_OFFSET: usize = 1026;
    /// Offset of Q1.
    pub const Q1_OFFSET: usize = 1040;
    /// Offset of Q2.
    pub const Q2_OFFSET: usize = 1424;
    /// The signed bytes are `[0, 128)` followed by `[900, 1028)` (SDM §34.13).
    pub const SIGNED_RANGES: [(usize, usize); 2] = [(0, 128), (900, 1028)];

    /// Parses exactly 1808 bytes and checks HEADER, HEADER2 and EXPONENT.
    ///
    /// This checks the layout only; call [`SigStruct::verify`] to check the signature.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        check_len("sigstruct", bytes, Self::SIZE)?;
        let mut r = Reader::new("sigstruct", bytes);
        let header: [u8; 16] = r.array("header")?;
        if header != HEADER {
            return Err(r.invalid_constant("header", 0, &header, &HEADER));
        }
        let vendor = r.u32("vendor")?;
        let date = r.u32("date")?;
        let header2: [u8; 16] = r.array("header2")?;
        if header2 != HEADER2 {
            return Err(r.invalid_constant("header2", Self::HEADER2_OFFSET, &header2, &HEADER2));
        }
        let sw_defined = r.array("sw_defined")?;
        let reserved1 = r.array("reserved1")?;
        let modulus = r.array("modulus")?;
        let exponent = r.u32("exponent")?;
        if exponent != EXPONENT {
            return Err(r.invalid_constant(
                "exponent",
                Self::EXPONENT_OFFSET,
                &exponent.to_le_bytes(),
                &EXPONENT.to_le_bytes(),
            ));
        }
        let sig = Self {
            vendor,
            date,
            sw_defined,
            reserved1,
            modulus,
            signature: r.array("signature")?,
            misc_select: r.u32("misc_select")?,
            misc_mask: r.u32("misc_mask")?,
            cet_attributes: r.u8("cet_attributes")?,
            cet_attributes_mask: r.u8("cet_attributes_mask")?,
            reserved2: r.array("reserved2")?,
            isv_family_id: r.array("isv_family_id")?,
            attributes: Attributes::from_bytes(r.array("attributes")?),
            attribute_mask: Attributes::from_bytes(r.array("attribute_mask")?),
            enclave_hash: r.array("enclave_hash")?,
            reserved3: r.array("reserved3")?,
            isv_ext_prod_id: r.array("isv_ext_prod_id")?,
            isv_prod_id: r.u16("isv_prod_id")?,
            isv_svn: r.u16("isv_svn")?,
            reserved4: r.array("reserved4")?,
            q1: r.array("q1")?,
            q2: r.array("q2")?,
        };
        r.finish()?;
        Ok(sig)
    }

    /// Encodes the 1808-byte SIGSTRUCT.
    pub fn encode(&self) -> Box<[u8; 1808]> {
        let mut out = Box::new([0u8; Self::SIZE]);
        let mut w = Writer::new(&mut out[..]);
        w.put(&HEADER);
        w.put(&self.vendor.to_le_bytes());
        w.put(&self.date.to_le_bytes());
        w.put(&HEADER2);
        w.put(&self.sw_defined);
        w.put(&self.reserved1);
        w.put(&self.modulus);
        w.put(&EXPONENT.to_le_bytes());
        w.put(&self.signature);
        w.put(&self.misc_select.to_le_bytes());
        w.put(&self.misc_mask.to_le_bytes());
        w.put(&[self.cet_attributes, self.cet_attributes_mask]);
        w.put(&self.reserved2);
        w.put(&self.isv_family_id);
        w.put(&self.attributes.encode());
        w.put(&self.attribute_mask.encode());
        w.put(&self.enclave_hash);
        w.put(&self.reserved3);
        w.put(&self.isv_ext_prod_id);
        w.put(&self.isv_prod_id.to_le_bytes());
        w.put(&self.isv_svn.to_le_bytes());
        w.put(&self.reserved4);
        w.put(&self.q1);
        w.put(&self.q2);
        w.finish();
        out
    }

    /// The 256 bytes the RSA signature covers: bytes `[0, 128)` then `[900, 1028)`.
    pub fn signed_bytes(&self) -> [u8; 256] {
        let encoded = self.encode();
        let mut out = [0u8; 256];
        out[..128].copy_from_slice(&encoded[..128]);
        out[128..].copy_from_slice(&encoded[900..1028]);
        out
    }

    /// Encodes a calendar date as the BCD `yyyymmdd` value of the DATE field
    /// (e.g. 2024-01-15 becomes `0x2024_0115`). `None` if a part is out of range.
    pub fn bcd_date(year: u16, month: u8, day: u8) -> Option<u32> {
        if year > 9999 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let digits =
            |v: u32, n: u32| (0..n).fold(0u32, |acc, i| acc | ((v / 10u32.pow(i)) % 10) << (4 * i));
        Some(
            digits(u32::from(year), 4) << 16
                | digits(u32::from(month), 2) << 8
                | digits(u32::from(day), 2),
        )
    }
}

impl Default for SigStruct {
    /// An unsigned SIGSTRUCT with every field zero (vendor 0: not an Intel enclave).
    fn default() -> Self {
        Self {
            vendor: 0,
            date: 0,
            sw_defined: [0; 4],
            reserved1: [0; 84],
            modulus: [0; 384],
            signature: [0; 384],
            misc_select: 0,
            misc_mask: 0,
            cet_attributes: 0,
            cet_attributes_mask: 0,
            reserved2: [0; 2],
            isv_family_id: [0; 16],
            attributes: Attributes::default(),
            attribute_mask: Attributes::default(),
            enclave_hash: [0; 32],
            reserved3: [0; 16],
            isv_ext_prod_id: [0; 16],
            isv_prod_id: 0,
            isv_svn: 0,
            reserved4: [0; 12],
            q1: [0; 384],
            q2: [0; 384],
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ENCL_SS: &[u8] = include_bytes!("../tests/data/encl.ss");

    #[test]
    fn sigstruct_offsets_match_sdm() {
        assert_eq!(SigStruct::SIZE, 1808);
        let s = SigStruct {
            vendor: u32::from_le_bytes([1; 4]),
            date: u32::from_le_bytes([2; 4]),
            sw_defined: [3; 4],
            modulus: [4; 384],
            signature: [5; 384],
            misc_select: u32::from_le_bytes([6; 4]),
            misc_mask: u32::from_le_bytes([7; 4]),
            cet_attributes: 8,
            cet_attributes_mask: 9,
            isv_family_id: [10; 16],
            attributes: Attributes::new(u64::from_le_bytes([11; 8]), u64::from_le_bytes([11; 8])),
            attribute_mask: Attributes::new(
                u64::from_le_bytes([12; 8]),
                u64::from_le_bytes([12; 8]),
            ),
            enclave_hash: [13; 32],
            isv_ext_prod_id: [14; 16],
            isv_prod_id: 0x0f0f,
            isv_svn: 0x1010,
            q1: [17; 384],
            q2: [18; 384],
            ..SigStruct::default()
        };
        let b = s.encode();
        let field = |off: usize, len: usize, v: u8| {
            assert!(b[off..off + len].iter().all(|&x| x == v), "field at {off}");
        };
        assert_eq!(&b[..16], &HEADER);
        field(SigStruct::VENDOR_OFFSET, 4, 1);
        field(SigStruct::DATE_OFFSET, 4, 2);
        assert_eq!(&b[SigStruct::HEADER2_OFFSET..40], &HEADER2);
        field(SigStruct::SW_DEFINED_OFFSET, 4, 3);
        field(44, 84, 0);
        field(SigStruct::MODULUS_OFFSET, 384, 4);
        assert_eq!(&b[SigStruct::EXPONENT_OFFSET..516], &[3, 0, 0, 0]);
        field(SigStruct::SIGNATURE_OFFSET, 384, 5);
        field(SigStruct::MISC_SELECT_OFFSET, 4, 6);
        field(SigStruct::MISC_MASK_OFFSET, 4, 7);
        field(SigStruct::CET_ATTRIBUTES_OFFSET, 1, 8);
        field(SigStruct::CET_ATTRIBUTES_OFFSET + 1, 1, 9);
        field(SigStruct::ISV_FAMILY_ID_OFFSET, 16, 10);
        field(SigStruct::ATTRIBUTES_OFFSET, 16, 11);
        field(SigStruct::ATTRIBUTE_MASK_OFFSET, 16, 12);
        field(SigStruct::ENCLAVE_HASH_OFFSET, 32, 13);
        field(992, 16, 0);
        field(SigStruct::ISV_EXT_PROD_ID_OFFSET, 16, 14);
        field(SigStruct::ISV_PROD_ID_OFFSET, 2, 15);
        field(SigStruct::ISV_SVN_OFFSET, 2, 16);
        field(1028, 12, 0);
        field(SigStruct::Q1_OFFSET, 384, 17);
        field(SigStruct::Q2_OFFSET, 384, 18);

        let signed = s.signed_bytes();
        assert_eq!(&signed[..128], &b[..128]);
        assert_eq!(&signed[128..], &b[900..1028]);
    }

    #[test]
    fn known_sigstruct_parses_and_round_trips() {
        let s = SigStruct::parse(ENCL_SS).unwrap();
        assert_eq!(
            s.enclave_hash,
            *b"\xb9\x99\x53\x62\x38\xfc\xf4\xe9\xd3\x60\xef\x6c\xd3\xe0\xc2\x0e\
               \xf8\xa6\x84\xc7\xb9\x3f\x74\xa9\xc4\xa4\xc6\xd5\x17\xd6\x1f\xc0"
        );
        assert_eq!(s.attributes, Attributes::new(Attributes::MODE64BIT, 3));
        assert_eq!(s.attribute_mask, Attributes::default());
        assert_eq!(s.encode().as_slice(), ENCL_SS);
    }

    #[test]
    fn wrong_header_and_exponent_are_named() {
        let mut b = *SigStruct::default().encode();
        b[0] = 7;
        let err = SigStruct::parse(&b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sigstruct field header (offset 0) is 07000000e10000000000010000000000, \
             expected 06000000e10000000000010000000000"
        );
        let mut b = *SigStruct::default().encode();
        b[512] = 65;
        let err = SigStruct::parse(&b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sigstruct field exponent (offset 512) is 41000000, expected 03000000"
        );
        let err = SigStruct::parse(&b[..1000]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sigstruct too short: 1000 bytes, expected 1808"
        );
    }

    #[test]
    fn bcd_date_encodes_digits() {
        assert_eq!(SigStruct::bcd_date(2024, 1, 15), Some(0x2024_0115));
        assert_eq!(SigStruct::bcd_date(1999, 12, 31), Some(0x1999_1231));
        assert_eq!(SigStruct::bcd_date(2024, 13, 1), None);
    }

    proptest! {
        #[test]
        fn sigstruct_round_trips(mut bytes in proptest::collection::vec(any::<u8>(), 1808)) {
            bytes[..16].copy_from_slice(&HEADER);
            bytes[24..40].copy_from_slice(&HEADER2);
            bytes[512..516].copy_from_slice(&3u32.to_le_bytes());
            let s = SigStruct::parse(&bytes).unwrap();
            let encoded = s.encode();
            prop_assert_eq!(encoded.as_slice(), bytes.as_slice());
        }

        #[test]
        fn sigstruct_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = SigStruct::parse(&bytes);
        }
    }
}
