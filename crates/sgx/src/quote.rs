//! DCAP ECDSA quotes: SGX quote v3, SGX quote v4 and TDX quote v4 (Intel "SGX ECDSA Quote
//! Library API" and "TDX DCAP Quote Generation Library" specifications, appendix "Quote
//! Format").
//!
//! ```text
//! quote v3 (SGX)                               quote v4 (TDX, tee_type 0x81; SGX, tee_type 0)
//!   header                    48                 header                    48
//!   ISV enclave report body  384                 TD report body (TD 1.0)  584
//!                                                  or ISV enclave report body 384 (SGX)
//!   signature data length    u32                 signature data length    u32
//!   signature data:                              signature data:
//!     ISV report signature    64 (r‖s)             quote signature         64
//!     attestation key         64 (x‖y)             attestation key         64
//!     QE report body         384                   certification data (type 6) =
//!     QE report signature     64                     QE report body, QE report signature,
//!     QE auth data     u16 len + bytes               QE auth data, certification data
//!     certification data  u16 type,
//!                         u32 len + bytes
//! ```
//!
//! Integers are little-endian; signatures and keys are raw big-endian P-256 values.
//!
//! Parsing is bounded: every length is checked against what is left of its enclosing region
//! before anything is copied, and inside the signature data every byte must be accounted
//! for. Bytes *after* the declared signature data are tolerated by [`Quote::parse`], as
//! Intel's QVL and `dcap-qvl` do (the signature data length delimits the quote and real TDX
//! quotes arrive zero-padded); [`Quote::parse_exact`] refuses them.
//!
//! Building a quote (what the sim attester does): fill a [`QuoteV3`] with the report body,
//! the attestation public key and the QE data (its report data from [`qe_report_data`],
//! signed by the PCK key), sign [`QuoteV3::signed_bytes`] with the attestation key, store the
//! signature in `isv_report_signature` and call [`QuoteV3::encode`].

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::codec::{check_len, ParseError, Reader, Writer};
use crate::report::ReportBody;

/// Size of the quote header.
pub const QUOTE_HEADER_SIZE: usize = 48;
/// Size of a TD 1.0 report body in a v4 quote.
pub const TD_REPORT_BODY_SIZE: usize = 584;
/// Attestation key type ECDSA-256-with-P-256 curve.
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// TEE type of an SGX quote (in v3 this field is reserved and zero).
pub const TEE_TYPE_SGX: u32 = 0;
/// TEE type of a TDX quote.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Certification data type: PCK leaf certificate, PCK CA and root CA, concatenated PEM.
pub const CERT_TYPE_PCK_CERT_CHAIN: u16 = 5;
/// Certification data type: QE report certification data (the v4 nesting).
pub const CERT_TYPE_QE_REPORT: u16 = 6;
/// QE vendor id of Intel's quoting enclave (`939A7233-F79C-4CA9-940A-0DB3957F0607`).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// Largest quote accepted. Real quotes are about 5 KB (their PCK chain is most of it); the cap
/// bounds the work and memory an attacker-supplied quote can cost before it is verified.
pub const MAX_QUOTE_SIZE: usize = 64 * 1024;

/// Why a quote cannot be parsed or encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The bytes do not follow the quote layout.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The input exceeds [`MAX_QUOTE_SIZE`].
    #[error("quote is {len} bytes, larger than the {max}-byte limit")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The quote version / TEE type combination is not one this crate parses.
    #[error("unsupported quote version {version} with tee_type {tee_type:#x}: expected 3 (sgx), 4 with tee_type 0 (sgx) or 4 with tee_type 0x81 (tdx)")]
    UnsupportedVersion {
        /// Header version.
        version: u16,
        /// Header TEE type.
        tee_type: u32,
    },
    /// The attestation key type is not ECDSA P-256.
    #[error("unsupported attestation key type {0}: expected 2 (ecdsa-p256)")]
    UnsupportedKeyType(u16),
    /// Certification data of an unexpected type.
    #[error("certification data type is {actual}, expected {expected}")]
    CertificationType {
        /// Required type.
        expected: u16,
        /// Type found.
        actual: u16,
    },
    /// A variable-length field is too long for its length prefix.
    #[error("quote field {field} is {len} bytes, more than its length prefix allows ({max})")]
    FieldTooLong {
        /// Field name.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The most the prefix can express.
        max: usize,
    },
}

/// The 48-byte quote header (versions 3, 4 and 5 share it; this crate writes 3 and 4, the
/// attestation crate's parser reads all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuoteHeader {
    /// Quote format version.
    pub version: u16,
    /// Attestation key type ([`ATT_KEY_TYPE_ECDSA_P256`]).
    pub att_key_type: u16,
    /// TEE type (v4); reserved and zero in v3.
    pub tee_type: u32,
    /// QE security version (v3); reserved in v4.
    pub qe_svn: u16,
    /// PCE security version (v3); reserved in v4.
    pub pce_svn: u16,
    /// Vendor of the quoting enclave ([`INTEL_QE_VENDOR_ID`] for Intel's).
    pub qe_vendor_id: [u8; 16],
    /// Custom data of the QE (Intel's: the first 16 bytes are the platform identifier).
    pub user_data: [u8; 20],
}

impl QuoteHeader {
    /// Offset of the TEE type.
    pub const TEE_TYPE_OFFSET: usize = 4;
    /// Offset of the QE vendor id.
    pub const QE_VENDOR_ID_OFFSET: usize = 12;
    /// Offset of the user data.
    pub const USER_DATA_OFFSET: usize = 28;

    /// A version-3 SGX header with ECDSA-P256 keys.
    pub fn sgx_v3(qe_svn: u16, pce_svn: u16, qe_vendor_id: [u8; 16], user_data: [u8; 20]) -> Self {
        Self {
            version: 3,
            att_key_type: ATT_KEY_TYPE_ECDSA_P256,
            tee_type: TEE_TYPE_SGX,
            qe_svn,
            pce_svn,
            qe_vendor_id,
            user_data,
        }
    }

    /// A version-4 SGX header with ECDSA-P256 keys (bytes 8..12 are reserved in v4; the QE
    /// report in the signature data carries the QE's SVN).
    pub fn sgx_v4(qe_vendor_id: [u8; 16], user_data: [u8; 20]) -> Self {
        Self {
            version: 4,
            att_key_type: ATT_KEY_TYPE_ECDSA_P256,
            tee_type: TEE_TYPE_SGX,
            qe_svn: 0,
            pce_svn: 0,
            qe_vendor_id,
            user_data,
        }
    }

    /// A version-4 TDX header with ECDSA-P256 keys (bytes 8..12 are reserved in v4).
    pub fn tdx_v4(qe_vendor_id: [u8; 16], user_data: [u8; 20]) -> Self {
        Self {
            version: 4,
            att_key_type: ATT_KEY_TYPE_ECDSA_P256,
            tee_type: TEE_TYPE_TDX,
            qe_svn: 0,
            pce_svn: 0,
            qe_vendor_id,
            user_data,
        }
    }

    /// Parses exactly 48 bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        check_len("quote header", bytes, QUOTE_HEADER_SIZE)?;
        Self::read(&mut Reader::new("quote header", bytes))
    }

    /// Encodes the 48-byte header.
    pub fn encode(&self) -> [u8; QUOTE_HEADER_SIZE] {
        let mut out = [0u8; QUOTE_HEADER_SIZE];
        let mut w = Writer::new(&mut out);
        w.put(&self.version.to_le_bytes());
        w.put(&self.att_key_type.to_le_bytes());
        w.put(&self.tee_type.to_le_bytes());
        w.put(&self.qe_svn.to_le_bytes());
        w.put(&self.pce_svn.to_le_bytes());
        w.put(&self.qe_vendor_id);
        w.put(&self.user_data);
        w.finish();
        out
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            version: r.u16("version")?,
            att_key_type: r.u16("att_key_type")?,
            tee_type: r.u32("tee_type")?,
            qe_svn: r.u16("qe_svn")?,
            pce_svn: r.u16("pce_svn")?,
            qe_vendor_id: r.array("qe_vendor_id")?,
            user_data: r.array("user_data")?,
        })
    }
}

/// Certification data: how a verifier finds the PCK certificate behind the QE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificationData {
    /// Type ([`CERT_TYPE_PCK_CERT_CHAIN`], [`CERT_TYPE_QE_REPORT`], ...).
    pub cert_type: u16,
    /// Type-specific data (for type 5: the PEM chain, leaf first).
    pub data: Vec<u8>,
}

impl CertificationData {
    fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let cert_type = r.u16("certification_data.type")?;
        let len = r.u32("certification_data.size")?;
        let offset = r.offset();
        let len = usize::try_from(len).map_err(|_| {
            r.invalid_length(
                "certification_data.size",
                offset,
                u64::from(len),
                "too large".into(),
            )
        })?;
        Ok(Self {
            cert_type,
            data: r.take("certification_data.data", len)?.to_vec(),
        })
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), QuoteError> {
        out.extend_from_slice(&self.cert_type.to_le_bytes());
        out.extend_from_slice(&len_u32("certification_data.data", self.data.len())?.to_le_bytes());
        out.extend_from_slice(&self.data);
        Ok(())
    }

    /// For type 6 data, the nested QE report certification data.
    pub fn qe_report_certification(&self) -> Result<QeReportCertificationData, QuoteError> {
        if self.cert_type != CERT_TYPE_QE_REPORT {
            return Err(QuoteError::CertificationType {
                expected: CERT_TYPE_QE_REPORT,
                actual: self.cert_type,
            });
        }
        let mut r = Reader::new("qe report certification data", &self.data);
        let qe = QeReportCertificationData::read(&mut r)?;
        r.finish()?;
        Ok(qe)
    }
}

/// The quoting enclave's evidence: its REPORT (whose report data binds the attestation key),
/// the PCK signature over that report, auth data, and the PCK certification data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QeReportCertificationData {
    /// The QE's report body.
    pub qe_report: ReportBody,
    /// ECDSA-P256 signature (r‖s) by the PCK key over the 384-byte QE report body.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data (hashed into the QE report data).
    pub qe_auth_data: Vec<u8>,
    /// Certification data for the PCK key (normally type 5, the PEM chain).
    pub certification_data: CertificationData,
}

impl QeReportCertificationData {
    fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let qe_report =
            ReportBody::read(&mut r.sub("qe report body", "qe_report", ReportBody::SIZE)?)?;
        Ok(Self {
            qe_report,
            qe_report_signature: r.array("qe_report_signature")?,
            qe_auth_data: r.vec_u16("qe_auth_data")?.to_vec(),
            certification_data: CertificationData::read(r)?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), QuoteError> {
        out.extend_from_slice(&self.qe_report.encode());
        out.extend_from_slice(&self.qe_report_signature);
        let auth_len =
            u16::try_from(self.qe_auth_data.len()).map_err(|_| QuoteError::FieldTooLong {
                field: "qe_auth_data",
                len: self.qe_auth_data.len(),
                max: usize::from(u16::MAX),
            })?;
        out.extend_from_slice(&auth_len.to_le_bytes());
        out.extend_from_slice(&self.qe_auth_data);
        self.certification_data.write(out)
    }

    /// Encodes this as the payload of a type-6 [`CertificationData`].
    pub fn to_certification_data(&self) -> Result<CertificationData, QuoteError> {
        let mut data = Vec::new();
        self.write(&mut data)?;
        Ok(CertificationData {
            cert_type: CERT_TYPE_QE_REPORT,
            data,
        })
    }
}

/// The QE report data that binds an attestation key: SHA-256(attestation key ‖ QE auth data)
/// followed by 32 zero bytes.
pub fn qe_report_data(attestation_key: &[u8; 64], qe_auth_data: &[u8]) -> [u8; 64] {
    let mut sha = Sha256::new();
    sha.update(attestation_key);
    sha.update(qe_auth_data);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&sha.finalize());
    out
}

/// An SGX ECDSA quote, version 3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuoteV3 {
    /// The header (version 3, key type 2).
    pub header: QuoteHeader,
    /// The attested enclave's report body.
    pub report_body: ReportBody,
    /// ECDSA-P256 signature (r‖s) by the attestation key over header ‖ report body.
    pub isv_report_signature: [u8; 64],
    /// The attestation public key (x‖y).
    pub attestation_key: [u8; 64],
    /// The QE report, its PCK signature, auth data and certification data.
    pub qe: QeReportCertificationData,
}

impl QuoteV3 {
    /// Offset of the report body.
    pub const REPORT_BODY_OFFSET: usize = 48;
    /// Offset of the signature data length.
    pub const SIGNATURE_DATA_LEN_OFFSET: usize = 432;
    /// Offset of the signature data.
    pub const SIGNATURE_DATA_OFFSET: usize = 436;

    /// The 432 bytes the ISV report signature covers: header ‖ report body.
    pub fn signed_bytes(&self) -> Vec<u8> {
        sgx_signed_bytes(&self.header, &self.report_body)
    }

    /// Encodes the quote.
    pub fn encode(&self) -> Result<Vec<u8>, QuoteError> {
        encode_sgx(
            self.signed_bytes(),
            &self.isv_report_signature,
            &self.attestation_key,
            |sig| self.qe.write(sig),
        )
    }

    fn read(header: QuoteHeader, r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let report_body = ReportBody::read(r)?;
        let mut sig = signature_data(r)?;
        let quote = Self {
            header,
            report_body,
            isv_report_signature: sig.array("isv_report_signature")?,
            attestation_key: sig.array("attestation_key")?,
            qe: QeReportCertificationData::read(&mut sig)?,
        };
        sig.finish()?;
        Ok(quote)
    }
}

/// A TD 1.0 report body (584 bytes), as carried in a TDX v4 quote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TdReportBody {
    /// TEE TCB SVN.
    pub tee_tcb_svn: [u8; 16],
    /// Measurement of the TDX module.
    pub mr_seam: [u8; 48],
    /// Signer of the TDX module (zero for Intel's).
    pub mr_signer_seam: [u8; 48],
    /// TDX module attributes.
    pub seam_attributes: [u8; 8],
    /// TD attributes (bit 0: debug).
    pub td_attributes: [u8; 8],
    /// XFAM.
    pub xfam: [u8; 8],
    /// MRTD: measurement of the initial TD contents.
    pub mr_td: [u8; 48],
    /// MRCONFIGID.
    pub mr_config_id: [u8; 48],
    /// MROWNER.
    pub mr_owner: [u8; 48],
    /// MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// RTMR0..RTMR3, the runtime measurement registers.
    pub rtmr: [[u8; 48]; 4],
    /// Data supplied by the TD.
    pub report_data: [u8; 64],
}

impl TdReportBody {
    /// Offset of MRTD.
    pub const MR_TD_OFFSET: usize = 136;
    /// Offset of RTMR0.
    pub const RTMR0_OFFSET: usize = 328;
    /// Offset of REPORTDATA.
    pub const REPORT_DATA_OFFSET: usize = 520;

    /// Parses exactly 584 bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        check_len("td report body", bytes, TD_REPORT_BODY_SIZE)?;
        Self::read(&mut Reader::new("td report body", bytes))
    }

    /// Encodes the 584-byte body.
    pub fn encode(&self) -> [u8; TD_REPORT_BODY_SIZE] {
        let mut out = [0u8; TD_REPORT_BODY_SIZE];
        let mut w = Writer::new(&mut out);
        w.put(&self.tee_tcb_svn);
        w.put(&self.mr_seam);
        w.put(&self.mr_signer_seam);
        w.put(&self.seam_attributes);
        w.put(&self.td_attributes);
        w.put(&self.xfam);
        w.put(&self.mr_td);
        w.put(&self.mr_config_id);
        w.put(&self.mr_owner);
        w.put(&self.mr_owner_config);
        for rtmr in &self.rtmr {
            w.put(rtmr);
        }
        w.put(&self.report_data);
        w.finish();
        out
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            tee_tcb_svn: r.array("tee_tcb_svn")?,
            mr_seam: r.array("mr_seam")?,
            mr_signer_seam: r.array("mr_signer_seam")?,
            seam_attributes: r.array("seam_attributes")?,
            td_attributes: r.array("td_attributes")?,
            xfam: r.array("xfam")?,
            mr_td: r.array("mr_td")?,
            mr_config_id: r.array("mr_config_id")?,
            mr_owner: r.array("mr_owner")?,
            mr_owner_config: r.array("mr_owner_config")?,
            rtmr: [
                r.array("rtmr0")?,
                r.array("rtmr1")?,
                r.array("rtmr2")?,
                r.array("rtmr3")?,
            ],
            report_data: r.array("report_data")?,
        })
    }
}

/// A TDX ECDSA quote, version 4 (TEE type 0x81).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TdxQuoteV4 {
    /// The header (version 4, TEE type 0x81).
    pub header: QuoteHeader,
    /// The TD's report body.
    pub td_report: TdReportBody,
    /// ECDSA-P256 signature (r‖s) by the attestation key over header ‖ TD report body.
    pub quote_signature: [u8; 64],
    /// The attestation public key (x‖y).
    pub attestation_key: [u8; 64],
    /// Certification data, normally type 6 (see [`CertificationData::qe_report_certification`]).
    pub certification_data: CertificationData,
}

impl TdxQuoteV4 {
    /// The bytes the quote signature covers: header ‖ TD report body.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(QUOTE_HEADER_SIZE + TD_REPORT_BODY_SIZE);
        out.extend_from_slice(&self.header.encode());
        out.extend_from_slice(&self.td_report.encode());
        out
    }

    /// Encodes the quote.
    pub fn encode(&self) -> Result<Vec<u8>, QuoteError> {
        let mut sig = Vec::with_capacity(1024);
        sig.extend_from_slice(&self.quote_signature);
        sig.extend_from_slice(&self.attestation_key);
        self.certification_data.write(&mut sig)?;
        let mut out = self.signed_bytes();
        out.extend_from_slice(&len_u32("signature_data", sig.len())?.to_le_bytes());
        out.extend_from_slice(&sig);
        Ok(out)
    }

    fn read(header: QuoteHeader, r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let td_report = TdReportBody::read(r)?;
        let mut sig = signature_data(r)?;
        let quote = Self {
            header,
            td_report,
            quote_signature: sig.array("quote_signature")?,
            attestation_key: sig.array("attestation_key")?,
            certification_data: CertificationData::read(&mut sig)?,
        };
        sig.finish()?;
        Ok(quote)
    }
}

/// An SGX ECDSA quote, version 4 (TEE type 0): the v3 header and ISV report body with the v4
/// signature data, whose QE report, auth data and PCK chain sit in type-6 certification data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SgxQuoteV4 {
    /// The header (version 4, TEE type 0).
    pub header: QuoteHeader,
    /// The attested enclave's report body.
    pub report_body: ReportBody,
    /// ECDSA-P256 signature (r‖s) by the attestation key over header ‖ report body.
    pub quote_signature: [u8; 64],
    /// The attestation public key (x‖y).
    pub attestation_key: [u8; 64],
    /// Certification data, normally type 6 (see [`CertificationData::qe_report_certification`]).
    pub certification_data: CertificationData,
}

impl SgxQuoteV4 {
    /// The 432 bytes the quote signature covers: header ‖ report body.
    pub fn signed_bytes(&self) -> Vec<u8> {
        sgx_signed_bytes(&self.header, &self.report_body)
    }

    /// Encodes the quote.
    pub fn encode(&self) -> Result<Vec<u8>, QuoteError> {
        encode_sgx(
            self.signed_bytes(),
            &self.quote_signature,
            &self.attestation_key,
            |sig| self.certification_data.write(sig),
        )
    }

    fn read(header: QuoteHeader, r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let report_body = ReportBody::read(r)?;
        let mut sig = signature_data(r)?;
        let quote = Self {
            header,
            report_body,
            quote_signature: sig.array("quote_signature")?,
            attestation_key: sig.array("attestation_key")?,
            certification_data: CertificationData::read(&mut sig)?,
        };
        sig.finish()?;
        Ok(quote)
    }
}

/// Header ‖ SGX report body: what the signature of an SGX quote (v3 or v4) covers.
fn sgx_signed_bytes(header: &QuoteHeader, body: &ReportBody) -> Vec<u8> {
    let mut out = Vec::with_capacity(QUOTE_HEADER_SIZE + ReportBody::SIZE);
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&body.encode());
    out
}

/// An SGX quote's bytes: the signed part, then the signature data (signature, attestation key
/// and the certification part `write_certification` appends) behind its length.
fn encode_sgx(
    signed: Vec<u8>,
    signature: &[u8],
    attestation_key: &[u8],
    write_certification: impl FnOnce(&mut Vec<u8>) -> Result<(), QuoteError>,
) -> Result<Vec<u8>, QuoteError> {
    let mut sig = Vec::with_capacity(1024);
    sig.extend_from_slice(signature);
    sig.extend_from_slice(attestation_key);
    write_certification(&mut sig)?;
    let mut out = signed;
    out.extend_from_slice(&len_u32("signature_data", sig.len())?.to_le_bytes());
    out.extend_from_slice(&sig);
    Ok(out)
}

/// A parsed DCAP quote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Quote {
    /// SGX quote, version 3.
    SgxV3(Box<QuoteV3>),
    /// SGX quote, version 4.
    SgxV4(Box<SgxQuoteV4>),
    /// TDX quote, version 4.
    TdxV4(Box<TdxQuoteV4>),
}

impl Quote {
    /// Parses a quote, tolerating bytes after the declared signature data (see module docs).
    pub fn parse(bytes: &[u8]) -> Result<Self, QuoteError> {
        Self::parse_prefix(bytes).map(|(quote, _)| quote)
    }

    /// Parses a quote that must end exactly where its signature data ends.
    pub fn parse_exact(bytes: &[u8]) -> Result<Self, QuoteError> {
        let (quote, used) = Self::parse_prefix(bytes)?;
        if used != bytes.len() {
            return Err(ParseError::TrailingBytes {
                structure: "quote",
                count: bytes.len() - used,
                offset: used,
            }
            .into());
        }
        Ok(quote)
    }

    /// Parses a quote at the start of `bytes`; returns it and the number of bytes it occupies.
    pub fn parse_prefix(bytes: &[u8]) -> Result<(Self, usize), QuoteError> {
        if bytes.len() > MAX_QUOTE_SIZE {
            return Err(QuoteError::TooLarge {
                len: bytes.len(),
                max: MAX_QUOTE_SIZE,
            });
        }
        let mut r = Reader::new("quote", bytes);
        let header = QuoteHeader::read(&mut r)?;
        if header.att_key_type != ATT_KEY_TYPE_ECDSA_P256 {
            return Err(QuoteError::UnsupportedKeyType(header.att_key_type));
        }
        let quote = match (header.version, header.tee_type) {
            (3, TEE_TYPE_SGX) => Quote::SgxV3(Box::new(QuoteV3::read(header, &mut r)?)),
            (4, TEE_TYPE_SGX) => Quote::SgxV4(Box::new(SgxQuoteV4::read(header, &mut r)?)),
            (4, TEE_TYPE_TDX) => Quote::TdxV4(Box::new(TdxQuoteV4::read(header, &mut r)?)),
            (version, tee_type) => {
                return Err(QuoteError::UnsupportedVersion { version, tee_type })
            }
        };
        Ok((quote, r.offset()))
    }

    /// The header.
    pub fn header(&self) -> &QuoteHeader {
        match self {
            Quote::SgxV3(q) => &q.header,
            Quote::SgxV4(q) => &q.header,
            Quote::TdxV4(q) => &q.header,
        }
    }

    /// The 64-byte report data of the attested enclave or TD.
    pub fn report_data(&self) -> &[u8; 64] {
        match self {
            Quote::SgxV3(q) => &q.report_body.report_data,
            Quote::SgxV4(q) => &q.report_body.report_data,
            Quote::TdxV4(q) => &q.td_report.report_data,
        }
    }

    /// Encodes the quote (without any trailing padding the input may have had).
    pub fn encode(&self) -> Result<Vec<u8>, QuoteError> {
        match self {
            Quote::SgxV3(q) => q.encode(),
            Quote::SgxV4(q) => q.encode(),
            Quote::TdxV4(q) => q.encode(),
        }
    }
}

/// Reads the u32 signature data length and returns a reader bounded to that many bytes.
fn signature_data<'a>(r: &mut Reader<'a>) -> Result<Reader<'a>, ParseError> {
    let offset = r.offset();
    let len = r.u32("signature_data_len")?;
    let len = usize::try_from(len).map_err(|_| {
        r.invalid_length(
            "signature_data_len",
            offset,
            u64::from(len),
            "too large".into(),
        )
    })?;
    r.sub("quote signature data", "signature_data", len)
}

fn len_u32(field: &'static str, len: usize) -> Result<u32, QuoteError> {
    u32::try_from(len).map_err(|_| QuoteError::FieldTooLong {
        field,
        len,
        max: usize::try_from(u32::MAX).unwrap_or(usize::MAX),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::attributes::Attributes;

    const SGX_QUOTE: &[u8] = include_bytes!("../tests/data/dcap/sgx_quote");
    const TDX_QUOTE: &[u8] = include_bytes!("../tests/data/dcap/tdx_quote");

    #[test]
    fn real_sgx_quote_parses_with_known_values() {
        let Quote::SgxV3(q) = Quote::parse_exact(SGX_QUOTE).unwrap() else {
            panic!("not sgx v3")
        };
        assert_eq!(q.header.version, 3);
        assert_eq!(q.header.qe_vendor_id, INTEL_QE_VENDOR_ID);
        let body = &q.report_body;
        assert_eq!(
            hex::encode(body.mr_enclave),
            "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
        );
        assert_eq!(
            hex::encode(body.mr_signer),
            "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
        );
        assert_eq!((body.isv_prod_id, body.isv_svn), (0, 0));
        assert_eq!(
            body.attributes.flags,
            Attributes::INIT | Attributes::MODE64BIT
        );
        assert_eq!(&body.report_data[..13], b"Hello, world!");
        assert!(body.report_data[13..].iter().all(|&b| b == 0));
        assert_eq!(q.qe.certification_data.cert_type, CERT_TYPE_PCK_CERT_CHAIN);
        assert!(q
            .qe
            .certification_data
            .data
            .starts_with(b"-----BEGIN CERTIFICATE-----"));
        // The QE report binds the attestation key.
        assert_eq!(
            q.qe.qe_report.report_data,
            qe_report_data(&q.attestation_key, &q.qe.qe_auth_data)
        );
        assert_eq!(q.encode().unwrap(), SGX_QUOTE);
    }

    /// The v3 sample's parts in the v4 layout: the body and signature keep their offsets, the
    /// QE data moves into type-6 certification data right after the attestation key.
    #[test]
    fn sgx_v4_layout_matches_spec() {
        let Quote::SgxV3(v3) = Quote::parse_exact(SGX_QUOTE).unwrap() else {
            panic!("not sgx v3")
        };
        let v4 = SgxQuoteV4 {
            header: QuoteHeader::sgx_v4(INTEL_QE_VENDOR_ID, v3.header.user_data),
            report_body: v3.report_body.clone(),
            quote_signature: v3.isv_report_signature,
            attestation_key: v3.attestation_key,
            certification_data: v3.qe.to_certification_data().unwrap(),
        };
        let bytes = v4.encode().unwrap();
        assert_eq!(&bytes[..12], &[4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[48..432], &SGX_QUOTE[48..432]);
        let sig_len = u32::from_le_bytes(bytes[432..436].try_into().unwrap());
        assert_eq!(usize::try_from(sig_len).unwrap(), bytes.len() - 436);
        assert_eq!(&bytes[436..564], &SGX_QUOTE[436..564]);
        assert_eq!(&bytes[564..566], &CERT_TYPE_QE_REPORT.to_le_bytes());
        let inner_len = u32::from_le_bytes(bytes[566..570].try_into().unwrap());
        assert_eq!(usize::try_from(inner_len).unwrap(), bytes.len() - 570);
        // The nested QE report certification data is the v3 signature data's tail verbatim.
        assert_eq!(&bytes[570..], &SGX_QUOTE[564..]);
        assert_eq!(v4.signed_bytes()[48..], v3.signed_bytes()[48..]);
        let parsed = Quote::parse_exact(&bytes).unwrap();
        assert_eq!(parsed, Quote::SgxV4(Box::new(v4)));
        assert_eq!(parsed.report_data(), &v3.report_body.report_data);
        assert_eq!(parsed.encode().unwrap(), bytes);
        // A v4 SGX quote whose certification data is cut short names the field.
        let mut cut = bytes.clone();
        cut[566..570].copy_from_slice(&(inner_len + 1).to_le_bytes());
        assert!(Quote::parse(&cut).is_err());
    }

    #[test]
    fn real_tdx_quote_parses_and_tolerates_padding() {
        let (quote, used) = Quote::parse_prefix(TDX_QUOTE).unwrap();
        assert!(used < TDX_QUOTE.len());
        assert!(TDX_QUOTE[used..].iter().all(|&b| b == 0));
        let Quote::TdxV4(q) = &quote else {
            panic!("not tdx v4")
        };
        assert_eq!(
            hex::encode(q.td_report.mr_td),
            "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
        );
        let qe = q.certification_data.qe_report_certification().unwrap();
        assert_eq!(qe.certification_data.cert_type, CERT_TYPE_PCK_CERT_CHAIN);
        assert_eq!(
            qe.qe_report.report_data,
            qe_report_data(&q.attestation_key, &qe.qe_auth_data)
        );
        assert_eq!(quote.encode().unwrap(), &TDX_QUOTE[..used]);
        let err = Quote::parse_exact(TDX_QUOTE).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "quote has {} trailing bytes at offset {used}",
                TDX_QUOTE.len() - used
            )
        );
    }

    #[test]
    fn td_report_offsets_match_spec() {
        let Quote::TdxV4(q) = Quote::parse(TDX_QUOTE).unwrap() else {
            panic!()
        };
        let body = &TDX_QUOTE[48..48 + TD_REPORT_BODY_SIZE];
        assert_eq!(
            &body[TdReportBody::MR_TD_OFFSET..][..48],
            &q.td_report.mr_td
        );
        assert_eq!(
            &body[TdReportBody::RTMR0_OFFSET..][..48],
            &q.td_report.rtmr[0]
        );
        assert_eq!(
            &body[TdReportBody::REPORT_DATA_OFFSET..][..64],
            &q.td_report.report_data
        );
        assert_eq!(TdReportBody::parse(body).unwrap(), q.td_report);
        assert_eq!(q.td_report.encode().as_slice(), body);
    }

    #[test]
    fn header_offsets_match_spec() {
        let h = QuoteHeader::sgx_v3(0x0a0b, 0x0c0d, [0xee; 16], [0xff; 20]);
        let b = h.encode();
        assert_eq!(&b[..12], &[3, 0, 2, 0, 0, 0, 0, 0, 0x0b, 0x0a, 0x0d, 0x0c]);
        assert_eq!(&b[QuoteHeader::QE_VENDOR_ID_OFFSET..28], &[0xee; 16]);
        assert_eq!(&b[QuoteHeader::USER_DATA_OFFSET..], &[0xff; 20]);
        assert_eq!(QuoteHeader::parse(&b).unwrap(), h);
        assert_eq!(
            QuoteV3::SIGNATURE_DATA_LEN_OFFSET,
            QUOTE_HEADER_SIZE + ReportBody::SIZE
        );
    }

    #[test]
    fn malformed_quotes_are_named() {
        let mut q = SGX_QUOTE.to_vec();
        q[0] = 5;
        assert_eq!(
            Quote::parse(&q).unwrap_err().to_string(),
            "unsupported quote version 5 with tee_type 0x0: expected 3 (sgx), 4 with tee_type 0 (sgx) or 4 with tee_type 0x81 (tdx)"
        );
        let mut q = SGX_QUOTE.to_vec();
        q[2] = 3;
        assert_eq!(
            Quote::parse(&q).unwrap_err().to_string(),
            "unsupported attestation key type 3: expected 2 (ecdsa-p256)"
        );
        assert_eq!(
            Quote::parse(&SGX_QUOTE[..1000]).unwrap_err().to_string(),
            "quote truncated at signature_data (offset 436): need 4164 bytes, 564 left"
        );
        // A signature data length one byte too long leaves a byte unaccounted for inside it.
        let mut q = SGX_QUOTE.to_vec();
        q[432..436].copy_from_slice(&4165u32.to_le_bytes());
        q.push(0);
        assert_eq!(
            Quote::parse(&q).unwrap_err().to_string(),
            "quote signature data has 1 trailing bytes at offset 4600"
        );
        // A certification data size running past the signature data.
        let mut q = SGX_QUOTE.to_vec();
        let Quote::SgxV3(parsed) = Quote::parse(SGX_QUOTE).unwrap() else {
            panic!()
        };
        let size_at = 436 + 64 + 64 + 384 + 64 + 2 + parsed.qe.qe_auth_data.len() + 2;
        q[size_at..size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Quote::parse(&q),
            Err(QuoteError::Parse(ParseError::Truncated { .. }))
        ));
        let big = vec![0u8; MAX_QUOTE_SIZE + 1];
        assert_eq!(
            Quote::parse(&big).unwrap_err().to_string(),
            "quote is 65537 bytes, larger than the 65536-byte limit"
        );
    }

    fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    fn arb_report_body() -> impl Strategy<Value = ReportBody> {
        proptest::collection::vec(any::<u8>(), 384).prop_map(|b| ReportBody::parse(&b).unwrap())
    }

    fn arb_qe() -> impl Strategy<Value = QeReportCertificationData> {
        (
            arb_report_body(),
            any::<[u8; 32]>(),
            arb_bytes(64),
            any::<u16>(),
            arb_bytes(300),
        )
            .prop_map(|(qe_report, sig, auth, cert_type, data)| {
                QeReportCertificationData {
                    qe_report,
                    qe_report_signature: [sig, sig].concat().try_into().unwrap(),
                    qe_auth_data: auth,
                    certification_data: CertificationData { cert_type, data },
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sgx_quote_round_trips(
            body in arb_report_body(), qe in arb_qe(), key in any::<[u8; 32]>(),
            svn in any::<(u16, u16)>(), user in any::<[u8; 20]>(),
        ) {
            let quote = QuoteV3 {
                header: QuoteHeader::sgx_v3(svn.0, svn.1, INTEL_QE_VENDOR_ID, user),
                report_body: body,
                isv_report_signature: [key, key].concat().try_into().unwrap(),
                attestation_key: [key, [1; 32]].concat().try_into().unwrap(),
                qe,
            };
            let bytes = quote.encode().unwrap();
            prop_assert_eq!(Quote::parse_exact(&bytes).unwrap(), Quote::SgxV3(Box::new(quote)));
        }

        #[test]
        fn tdx_quote_round_trips(qe in arb_qe(), td in proptest::collection::vec(any::<u8>(), 584)) {
            let quote = TdxQuoteV4 {
                header: QuoteHeader::tdx_v4(INTEL_QE_VENDOR_ID, [0; 20]),
                td_report: TdReportBody::parse(&td).unwrap(),
                quote_signature: [3; 64],
                attestation_key: [4; 64],
                certification_data: qe.to_certification_data().unwrap(),
            };
            let bytes = quote.encode().unwrap();
            let Quote::TdxV4(parsed) = Quote::parse_exact(&bytes).unwrap() else { panic!() };
            prop_assert_eq!(parsed.certification_data.qe_report_certification().unwrap(), qe);
            prop_assert_eq!(*parsed, quote);
        }

        #[test]
        fn sgx_v4_quote_round_trips(
            body in arb_report_body(), qe in arb_qe(), user in any::<[u8; 20]>(),
            sig in any::<[u8; 32]>(),
        ) {
            let quote = SgxQuoteV4 {
                header: QuoteHeader::sgx_v4(INTEL_QE_VENDOR_ID, user),
                report_body: body,
                quote_signature: [sig, sig].concat().try_into().unwrap(),
                attestation_key: [5; 64],
                certification_data: qe.to_certification_data().unwrap(),
            };
            let bytes = quote.encode().unwrap();
            prop_assert_eq!(&bytes[..2], &[4, 0]);
            prop_assert_eq!(&bytes[4..8], &[0; 4]);
            let Quote::SgxV4(parsed) = Quote::parse_exact(&bytes).unwrap() else { panic!() };
            prop_assert_eq!(parsed.certification_data.qe_report_certification().unwrap(), qe);
            prop_assert_eq!(*parsed, quote);
        }

        #[test]
        fn parse_never_panics_on_garbage(bytes in arb_bytes(6000)) {
            let _ = Quote::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_mutated_real_quotes(idx in 0..4600usize, val in any::<u8>(), cut in 0..4600usize) {
            let mut q = SGX_QUOTE.to_vec();
            q[idx] = val;
            let _ = Quote::parse(&q);
            let _ = Quote::parse(&q[..cut]);
            let mut t = TDX_QUOTE.to_vec();
            t[idx] = val;
            if let Ok(Quote::TdxV4(q)) = Quote::parse(&t) {
                let _ = q.certification_data.qe_report_certification();
            }
        }
    }
}
