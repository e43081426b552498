//! Enclave ATTRIBUTES (SDM Vol. 3D §34.7.1, "ATTRIBUTES"): 64 flag bits plus the 64-bit XFRM.

/// The 16-byte ATTRIBUTES field of SECS, SIGSTRUCT, REPORT, TARGETINFO and KEYREQUEST masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Attributes {
    /// Flag bits ([`Attributes::INIT`], [`Attributes::DEBUG`], ...).
    pub flags: u64,
    /// XSAVE feature request mask (XFRM).
    pub xfrm: u64,
}

impl Attributes {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// The enclave has been initialized by EINIT.
    pub const INIT: u64 = 1 << 0;
    /// The enclave may be debugged (its memory is readable with EDBGRD).
    pub const DEBUG: u64 = 1 << 1;
    /// The enclave runs in 64-bit mode.
    pub const MODE64BIT: u64 = 1 << 2;
    /// The enclave may request the provisioning key.
    pub const PROVISION_KEY: u64 = 1 << 4;
    /// The enclave may request the EINITTOKEN key.
    pub const EINITTOKEN_KEY: u64 = 1 << 5;
    /// CET is enabled for the enclave.
    pub const CET: u64 = 1 << 6;
    /// Key separation and sharing (KSS) is enabled.
    pub const KSS: u64 = 1 << 7;
    /// Asynchronous exit notification is enabled.
    pub const AEXNOTIFY: u64 = 1 << 10;

    /// Creates attributes from flags and XFRM.
    pub const fn new(flags: u64, xfrm: u64) -> Self {
        Self { flags, xfrm }
    }

    /// Whether the DEBUG flag is set.
    pub const fn is_debug(&self) -> bool {
        self.flags & Self::DEBUG != 0
    }

    /// Bitwise AND of both halves, as hardware applies an ATTRIBUTEMASK.
    #[must_use]
    pub const fn masked(&self, mask: &Attributes) -> Attributes {
        Attributes {
            flags: self.flags & mask.flags,
            xfrm: self.xfrm & mask.xfrm,
        }
    }

    /// The 16-byte little-endian encoding (flags then XFRM).
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.flags.to_le_bytes());
        out[8..].copy_from_slice(&self.xfrm.to_le_bytes());
        out
    }

    /// Decodes the 16-byte encoding; every bit pattern is a valid value.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut flags = [0u8; 8];
        let mut xfrm = [0u8; 8];
        flags.copy_from_slice(&bytes[..8]);
        xfrm.copy_from_slice(&bytes[8..]);
        Self {
            flags: u64::from_le_bytes(flags),
            xfrm: u64::from_le_bytes(xfrm),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_encode_flags_then_xfrm_little_endian() {
        let a = Attributes::new(Attributes::INIT | Attributes::MODE64BIT, 0x3);
        let bytes = a.encode();
        assert_eq!(bytes[0], 0x05);
        assert_eq!(bytes[8], 0x03);
        assert_eq!(Attributes::from_bytes(bytes), a);
        assert!(!a.is_debug());
    }
}
