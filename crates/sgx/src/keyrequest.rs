//! KEYREQUEST (512 bytes): the input of EGETKEY (SDM Vol. 3D §34.18.7, SDK `sgx_key_request_t`).

use crate::attributes::Attributes;
use crate::codec::{check_len, ParseError, Reader, Writer};

/// KEYREQUEST.KEYNAME values (SDM Vol. 3D Table 34-24).
pub mod key_name {
    /// EINITTOKEN key (launch enclave only).
    pub const EINITTOKEN: u16 = 0;
    /// Provisioning key.
    pub const PROVISION: u16 = 1;
    /// Provisioning seal key.
    pub const PROVISION_SEAL: u16 = 2;
    /// Report key (verifies REPORTs addressed to the calling enclave).
    pub const REPORT: u16 = 3;
    /// Seal key.
    pub const SEAL: u16 = 4;
}

/// KEYREQUEST.KEYPOLICY bits (SDM Vol. 3D Table 34-25).
pub mod key_policy {
    /// Derive from the enclave's MRENCLAVE.
    pub const MRENCLAVE: u16 = 1 << 0;
    /// Derive from the enclave's MRSIGNER.
    pub const MRSIGNER: u16 = 1 << 1;
    /// Leave ISVPRODID out of the derivation.
    pub const NOISVPRODID: u16 = 1 << 2;
    /// Include CONFIGID (KSS).
    pub const CONFIGID: u16 = 1 << 3;
    /// Include ISVFAMILYID (KSS).
    pub const ISVFAMILYID: u16 = 1 << 4;
    /// Include ISVEXTPRODID (KSS).
    pub const ISVEXTPRODID: u16 = 1 << 5;
}

/// The 512-byte KEYREQUEST.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRequest {
    /// Which key ([`key_name`]).
    pub key_name: u16,
    /// Which identity the key is bound to ([`key_policy`] bits).
    pub key_policy: u16,
    /// ISV SVN to derive for; may not exceed the enclave's own.
    pub isv_svn: u16,
    /// Reserved (SDK `reserved1`).
    pub reserved1: [u8; 2],
    /// CPU SVN to derive for.
    pub cpu_svn: [u8; 16],
    /// Which attribute bits enter the derivation.
    pub attribute_mask: Attributes,
    /// Caller-chosen diversifier (random per seal in the SDK).
    pub key_id: [u8; 32],
    /// Which MISCSELECT bits enter the derivation.
    pub misc_mask: u32,
    /// CONFIGSVN to derive for (KSS).
    pub config_svn: u16,
    /// Reserved (SDK `reserved2`).
    pub reserved2: [u8; 434],
}

impl KeyRequest {
    /// Encoded size in bytes.
    pub const SIZE: usize = 512;
    /// Offset of ISVSVN.
    pub const ISV_SVN_OFFSET: usize = 4;
    /// Offset of CPUSVN.
    pub const CPU_SVN_OFFSET: usize = 8;
    /// Offset of ATTRIBUTEMASK.
    pub const ATTRIBUTE_MASK_OFFSET: usize = 24;
    /// Offset of KEYID.
    pub const KEY_ID_OFFSET: usize = 40;
    /// Offset of MISCMASK.
    pub const MISC_MASK_OFFSET: usize = 72;
    /// Offset of CONFIGSVN.
    pub const CONFIG_SVN_OFFSET: usize = 76;

    /// Parses exactly 512 bytes; every bit pattern of the right length is a valid layout
    /// (EGETKEY-style derivation checks the values).
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        check_len("keyrequest", bytes, Self::SIZE)?;
        let mut r = Reader::new("keyrequest", bytes);
        let req = Self::read(&mut r)?;
        r.finish()?;
        Ok(req)
    }

    /// Encodes the 512-byte KEYREQUEST.
    pub fn encode(&self) -> [u8; 512] {
        let mut out = [0u8; Self::SIZE];
        let mut w = Writer::new(&mut out);
        self.write(&mut w);
        w.finish();
        out
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            key_name: r.u16("key_name")?,
            key_policy: r.u16("key_policy")?,
            isv_svn: r.u16("isv_svn")?,
            reserved1: r.array("reserved1")?,
            cpu_svn: r.array("cpu_svn")?,
            attribute_mask: Attributes::from_bytes(r.array("attribute_mask")?),
            key_id: r.array("key_id")?,
            misc_mask: r.u32("misc_mask")?,
            config_svn: r.u16("config_svn")?,
            reserved2: r.array("reserved2")?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.put(&self.key_name.to_le_bytes());
        w.put(&self.key_policy.to_le_bytes());
        w.put(&self.isv_svn.to_le_bytes());
        w.put(&self.reserved1);
        w.put(&self.cpu_svn);
        w.put(&self.attribute_mask.encode());
        w.put(&self.key_id);
        w.put(&self.misc_mask.to_le_bytes());
        w.put(&self.config_svn.to_le_bytes());
        w.put(&self.reserved2);
    }
}

impl Default for KeyRequest {
    fn default() -> Self {
        Self {
            key_name: 0,
            key_policy: 0,
            isv_svn: 0,
            reserved1: [0; 2],
            cpu_svn: [0; 16],
            attribute_mask: Attributes::default(),
            key_id: [0; 32],
            misc_mask: 0,
            config_svn: 0,
            reserved2: [0; 434],
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn keyrequest_offsets_match_sdk() {
        assert_eq!(KeyRequest::SIZE, 512);
        let req = KeyRequest {
            key_name: 0x0101,
            key_policy: 0x0202,
            isv_svn: 0x0303,
            cpu_svn: [4; 16],
            attribute_mask: Attributes::new(u64::from_le_bytes([5; 8]), u64::from_le_bytes([6; 8])),
            key_id: [7; 32],
            misc_mask: 0x0808_0808,
            config_svn: 0x0909,
            ..KeyRequest::default()
        };
        let b = req.encode();
        assert_eq!(&b[0..6], &[1, 1, 2, 2, 3, 3]);
        assert_eq!(&b[KeyRequest::CPU_SVN_OFFSET..24], &[4; 16]);
        assert_eq!(&b[KeyRequest::ATTRIBUTE_MASK_OFFSET..32], &[5; 8]);
        assert_eq!(&b[32..40], &[6; 8]);
        assert_eq!(&b[KeyRequest::KEY_ID_OFFSET..72], &[7; 32]);
        assert_eq!(&b[KeyRequest::MISC_MASK_OFFSET..76], &[8; 4]);
        assert_eq!(&b[KeyRequest::CONFIG_SVN_OFFSET..78], &[9; 2]);
        assert!(b[78..].iter().all(|&x| x == 0));
    }

    proptest! {
        #[test]
        fn keyrequest_round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 512)) {
            let req = KeyRequest::parse(&bytes).unwrap();
            let encoded = req.encode();
            prop_assert_eq!(encoded.as_slice(), bytes.as_slice());
        }

        #[test]
        fn keyrequest_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = KeyRequest::parse(&bytes);
        }
    }
}
