//! REPORT (432 bytes), its 384-byte REPORT BODY, and TARGETINFO (512 bytes).
//!
//! Layouts follow SDM Vol. 3D §34.18 ("REPORT", "TARGETINFO") with the field names of the
//! Intel SGX SDK's `sgx_report_body_t`, `sgx_report_t` and `sgx_target_info_t`. The same
//! 384-byte body is the ISV enclave report and the QE report inside a DCAP quote.
//!
//! Reserved regions are kept as public fields instead of being dropped: a MAC or a quote
//! signature covers the exact bytes, so `parse` followed by `encode` must give back the input
//! even if a future CPU fills a field that this crate still calls reserved.

use crate::attributes::Attributes;
use crate::codec::{check_len, ParseError, Reader, Writer};

/// The 384-byte REPORT BODY: the identity of the enclave that produced a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReportBody {
    /// Security version of the CPU (opaque 16 bytes).
    pub cpu_svn: [u8; 16],
    /// MISCSELECT the enclave was created with.
    pub misc_select: u32,
    /// Reserved (SDK `reserved1`).
    pub reserved1: [u8; 12],
    /// Extended ISV product id (KSS).
    pub isv_ext_prod_id: [u8; 16],
    /// Enclave attributes.
    pub attributes: Attributes,
    /// MRENCLAVE: the enclave measurement.
    pub mr_enclave: [u8; 32],
    /// Reserved (SDK `reserved2`).
    pub reserved2: [u8; 32],
    /// MRSIGNER: SHA-256 of the SIGSTRUCT signer's little-endian modulus.
    pub mr_signer: [u8; 32],
    /// Reserved (SDK `reserved3`).
    pub reserved3: [u8; 32],
    /// CONFIGID (KSS).
    pub config_id: [u8; 64],
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV security version.
    pub isv_svn: u16,
    /// CONFIGSVN (KSS).
    pub config_svn: u16,
    /// Reserved (SDK `reserved4`).
    pub reserved4: [u8; 42],
    /// ISV family id (KSS).
    pub isv_family_id: [u8; 16],
    /// Data supplied by the enclave (for DCAP: binds a nonce or public key).
    pub report_data: [u8; 64],
}

impl ReportBody {
    /// Encoded size in bytes.
    pub const SIZE: usize = 384;
    /// Offset of CPUSVN.
    pub const CPU_SVN_OFFSET: usize = 0;
    /// Offset of MISCSELECT.
    pub const MISC_SELECT_OFFSET: usize = 16;
    /// Offset of ISVEXTPRODID.
    pub const ISV_EXT_PROD_ID_OFFSET: usize = 32;
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
    /// Offset of ISVFAMILYID.
    pub const ISV_FAMILY_ID_OFFSET: usize = 304;
    /// Offset of REPORTDATA.
    pub const REPORT_DATA_OFFSET: usize = 320;

    /// Parses exactly 384 bytes; every bit pattern of the right length is a valid body.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        check_len("report body", bytes, Self::SIZE)?;
        Self::read(&mut Reader::new("report body", bytes))
    }

    /// Encodes the 384-byte body.
    pub fn encode(&self) -> [u8; 384] {
        let mut out = [0u8; Self::SIZE];
        let mut w = Writer::new(&mut out);
        self.write(&mut w);
        w.finish();
        out
    }

    /// The TARGETINFO that lets another enclave address a report to this one
    /// (what the SDK's `sgx_self_target` returns).
    pub fn target_info(&self) -> TargetInfo {
        TargetInfo {
            mr_enclave: self.mr_enclave,
            attributes: self.attributes,
            config_svn: self.config_svn,
            misc_select: self.misc_select,
            config_id: self.config_id,
            ..TargetInfo::default()
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            cpu_svn: r.array("cpu_svn")?,
            misc_select: r.u32("misc_select")?,
            reserved1: r.array("reserved1")?,
            isv_ext_prod_id: r.array("isv_ext_prod_id")?,
            attributes: Attributes::from_bytes(r.array("attributes")?),
            mr_enclave: r.array("mr_enclave")?,
            reserved2: r.array("reserved2")?,
            mr_signer: r.array("mr_signer")?,
            reserved3: r.array("reserved3")?,
            config_id: r.array("config_id")?,
            isv_prod_id: r.u16("isv_prod_id")?,
            isv_svn: r.u16("isv_svn")?,
            config_svn: r.u16("config_svn")?,
            reserved4: r.array("reserved4")?,
            isv_family_id: r.array("isv_family_id")?,
            report_data: r.array("report_data")?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.put(&self.cpu_svn);
        w.put(&self.misc_select.to_le_bytes());
        w.put(&self.reserved1);
        w.put(&self.isv_ext_prod_id);
        w.put(&self.attributes.encode());
        w.put(&self.mr_enclave);
        w.put(&self.reserved2);
        w.put(&self.mr_signer);
        w.put(&self.reserved3);
        w.put(&self.config_id);
        w.put(&self.isv_prod_id.to_le_bytes());
        w.put(&self.isv_svn.to_le_bytes());
        w.put(&self.config_svn.to_le_bytes());
        w.put(&self.reserved4);
        w.put(&self.isv_family_id);
        w.put(&self.report_data);
    }
}

impl Default for ReportBody {
    fn default() -> Self {
        Self {
            cpu_svn: [0; 16],
            misc_select: 0,
            reserved1: [0; 12],
            isv_ext_prod_id: [0; 16],
            attributes: Attributes::default(),
            mr_enclave: [0; 32],
            reserved2: [0; 32],
            mr_signer: [0; 32],
            reserved3: [0; 32],
            config_id: [0; 64],
            isv_prod_id: 0,
            isv_svn: 0,
            config_svn: 0,
            reserved4: [0; 42],
            isv_family_id: [0; 16],
            report_data: [0; 64],
        }
    }
}

/// A 432-byte REPORT: body, the key id the report key was derived with, and the AES-CMAC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Report {
    /// The reporting enclave's identity and report data.
    pub body: ReportBody,
    /// Key id mixed into the report key derivation.
    pub key_id: [u8; 32],
    /// AES-128-CMAC over the encoded body, keyed with the target's report key.
    pub mac: [u8; 16],
}

impl Report {
    /// Encoded size in bytes.
    pub const SIZE: usize = 432;
    /// Offset of KEYID.
    pub const KEY_ID_OFFSET: usize = 384;
    /// Offset of MAC.
    pub const MAC_OFFSET: usize = 416;

    /// Parses exactly 432 bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        check_len("report", bytes, Self::SIZE)?;
        let mut r = Reader::new("report", bytes);
        let report = Self {
            body: ReportBody::read(&mut r)?,
            key_id: r.array("key_id")?,
            mac: r.array("mac")?,
        };
        r.finish()?;
        Ok(report)
    }

    /// Encodes the 432-byte report.
    pub fn encode(&self) -> [u8; 432] {
        let mut out = [0u8; Self::SIZE];
        let mut w = Writer::new(&mut out);
        self.body.write(&mut w);
        w.put(&self.key_id);
        w.put(&self.mac);
        w.finish();
        out
    }
}

/// The 512-byte TARGETINFO: names the enclave a REPORT is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetInfo {
    /// MRENCLAVE of the target enclave.
    pub mr_enclave: [u8; 32],
    /// Attributes of the target enclave.
    pub attributes: Attributes,
    /// Reserved (SDK `reserved1`).
    pub reserved1: [u8; 2],
    /// CONFIGSVN of the target enclave.
    pub config_svn: u16,
    /// MISCSELECT of the target enclave.
    pub misc_select: u32,
    /// Reserved (SDK `reserved2`).
    pub reserved2: [u8; 8],
    /// CONFIGID of the target enclave.
    pub config_id: [u8; 64],
    /// Reserved (SDK `reserved3`).
    pub reserved3: [u8; 384],
}

impl TargetInfo {
    /// Encoded size in bytes.
    pub const SIZE: usize = 512;
    /// Offset of MRENCLAVE.
    pub const MR_ENCLAVE_OFFSET: usize = 0;
    /// Offset of ATTRIBUTES.
    pub const ATTRIBUTES_OFFSET: usize = 32;
    /// Offset of CONFIGSVN.
    pub const CONFIG_SVN_OFFSET: usize = 50;
    /// Offset of MISCSELECT.
    pub const MISC_SELECT_OFFSET: usize = 52;
    /// Offset of CONFIGID.
    pub const CONFIG_ID_OFFSET: usize = 64;

    /// Parses exactly 512 bytes; every bit pattern of the right length is valid.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        check_len("targetinfo", bytes, Self::SIZE)?;
        let mut r = Reader::new("targetinfo", bytes);
        let ti = Self {
            mr_enclave: r.array("mr_enclave")?,
            attributes: Attributes::from_bytes(r.array("attributes")?),
            reserved1: r.array("reserved1")?,
            config_svn: r.u16("config_svn")?,
            misc_select: r.u32("misc_select")?,
            reserved2: r.array("reserved2")?,
            config_id: r.array("config_id")?,
            reserved3: r.array("reserved3")?,
        };
        r.finish()?;
        Ok(ti)
    }

    /// Encodes the 512-byte TARGETINFO.
    pub fn encode(&self) -> [u8; 512] {
        let mut out = [0u8; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.put(&self.mr_enclave);
        w.put(&self.attributes.encode());
        w.put(&self.reserved1);
        w.put(&self.config_svn.to_le_bytes());
        w.put(&self.misc_select.to_le_bytes());
        w.put(&self.reserved2);
        w.put(&self.config_id);
        w.put(&self.reserved3);
        w.finish();
        out
    }
}

impl Default for TargetInfo {
    fn default() -> Self {
        Self {
            mr_enclave: [0; 32],
            attributes: Attributes::default(),
            reserved1: [0; 2],
            config_svn: 0,
            misc_select: 0,
            reserved2: [0; 8],
            config_id: [0; 64],
            reserved3: [0; 384],
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample_body() -> ReportBody {
        ReportBody {
            cpu_svn: [0x11; 16],
            misc_select: 0x2222_2222,
            isv_ext_prod_id: [0x33; 16],
            attributes: Attributes::new(0x4444_4444_4444_4444, 0x4545_4545_4545_4545),
            mr_enclave: [0x55; 32],
            mr_signer: [0x66; 32],
            config_id: [0x77; 64],
            isv_prod_id: 0x8888,
            isv_svn: 0x9999,
            config_svn: 0xaaaa,
            isv_family_id: [0xbb; 16],
            report_data: [0xcc; 64],
            ..ReportBody::default()
        }
    }

    #[test]
    fn report_body_offsets_match_sdm() {
        // SDM Vol. 3D Table 34-21 (REPORT) and the SDK's sgx_report_body_t.
        assert_eq!(ReportBody::SIZE, 384);
        assert_eq!(Report::SIZE, 432);
        assert_eq!(Report::KEY_ID_OFFSET, 384);
        assert_eq!(Report::MAC_OFFSET, 416);
        assert_eq!(ReportBody::MR_ENCLAVE_OFFSET, 64);
        assert_eq!(ReportBody::MR_SIGNER_OFFSET, 128);
        assert_eq!(ReportBody::ISV_PROD_ID_OFFSET, 256);
        assert_eq!(ReportBody::ISV_SVN_OFFSET, 258);
        assert_eq!(ReportBody::REPORT_DATA_OFFSET, 320);

        let b = sample_body().encode();
        let at = |off: usize, len: usize| &b[off..off + len];
        assert_eq!(at(ReportBody::CPU_SVN_OFFSET, 16), &[0x11; 16]);
        assert_eq!(at(ReportBody::MISC_SELECT_OFFSET, 4), &[0x22; 4]);
        assert_eq!(at(ReportBody::ISV_EXT_PROD_ID_OFFSET, 16), &[0x33; 16]);
        assert_eq!(at(ReportBody::ATTRIBUTES_OFFSET, 8), &[0x44; 8]);
        assert_eq!(at(ReportBody::ATTRIBUTES_OFFSET + 8, 8), &[0x45; 8]);
        assert_eq!(at(ReportBody::MR_ENCLAVE_OFFSET, 32), &[0x55; 32]);
        assert_eq!(at(ReportBody::MR_SIGNER_OFFSET, 32), &[0x66; 32]);
        assert_eq!(at(ReportBody::CONFIG_ID_OFFSET, 64), &[0x77; 64]);
        assert_eq!(at(ReportBody::ISV_PROD_ID_OFFSET, 2), &[0x88; 2]);
        assert_eq!(at(ReportBody::ISV_SVN_OFFSET, 2), &[0x99; 2]);
        assert_eq!(at(ReportBody::CONFIG_SVN_OFFSET, 2), &[0xaa; 2]);
        assert_eq!(at(ReportBody::ISV_FAMILY_ID_OFFSET, 16), &[0xbb; 16]);
        assert_eq!(at(ReportBody::REPORT_DATA_OFFSET, 64), &[0xcc; 64]);
    }

    #[test]
    fn targetinfo_offsets_match_sdk() {
        assert_eq!(TargetInfo::SIZE, 512);
        let ti = sample_body().target_info();
        let b = ti.encode();
        assert_eq!(&b[TargetInfo::MR_ENCLAVE_OFFSET..32], &[0x55; 32]);
        assert_eq!(&b[TargetInfo::ATTRIBUTES_OFFSET..40], &[0x44; 8]);
        assert_eq!(&b[TargetInfo::CONFIG_SVN_OFFSET..52], &[0xaa; 2]);
        assert_eq!(&b[TargetInfo::MISC_SELECT_OFFSET..56], &[0x22; 4]);
        assert_eq!(&b[TargetInfo::CONFIG_ID_OFFSET..128], &[0x77; 64]);
        assert!(b[128..].iter().all(|&x| x == 0));
    }

    #[test]
    fn wrong_lengths_are_named() {
        let err = Report::parse(&[0; 431]).unwrap_err();
        assert_eq!(err.to_string(), "report too short: 431 bytes, expected 432");
        let err = ReportBody::parse(&[0; 385]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "report body too long: 385 bytes, expected 384"
        );
        let err = TargetInfo::parse(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "targetinfo too short: 0 bytes, expected 512"
        );
    }

    proptest! {
        #[test]
        fn report_round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 432)) {
            let report = Report::parse(&bytes).unwrap();
            let encoded = report.encode();
            prop_assert_eq!(encoded.as_slice(), bytes.as_slice());
            let body = ReportBody::parse(&bytes[..384]).unwrap();
            prop_assert_eq!(&body, &report.body);
        }

        #[test]
        fn targetinfo_round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 512)) {
            let ti = TargetInfo::parse(&bytes).unwrap();
            let encoded = ti.encode();
            prop_assert_eq!(encoded.as_slice(), bytes.as_slice());
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Report::parse(&bytes);
            let _ = ReportBody::parse(&bytes);
            let _ = TargetInfo::parse(&bytes);
        }
    }
}
