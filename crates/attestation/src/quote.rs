//! A strict, zero-copy parser for Intel DCAP ECDSA quotes (v3, v4, v5) and their PEM chains.
//!
//! `dcap-qvl` has its own decoder, but it tolerates slack this crate must not: bytes after the
//! signature data, garbage between PEM blocks, non-zero padding. Every byte of an accepted
//! quote is either covered by a signature, bound by a hash, or checked here to be exactly
//! the encoding of what was parsed, so flipping any byte makes verification fail.
//!
//! Layout: Intel SGX ECDSA Quote Library API (DCAP), appendix "Quote Format" (v3) and the TDX
//! DCAP Quoting Library API, "Quote Format" (v4, v5). All integers are little-endian.
//!
//! This is a private copy of the layouts that `crates/sgx` owns; unify once that crate settles.

use base64::Engine as _;

/// Largest quote accepted, before any parsing. Real quotes are 4–8 KiB (the PCK chain is the
/// bulk); 1 MiB is `dcap-qvl`'s own cap for a variable-length field.
pub const MAX_QUOTE_LEN: usize = 1 << 20;
/// Size of the quote header.
pub const HEADER_LEN: usize = sgx::quote::QUOTE_HEADER_SIZE;
/// Size of an SGX ISV enclave report body (also the QE report).
pub const SGX_REPORT_BODY_LEN: usize = 384;
/// Size of a TDX 1.0 TD report body.
pub const TD10_REPORT_BODY_LEN: usize = 584;
/// Size of a TDX 1.5 TD report body.
pub const TD15_REPORT_BODY_LEN: usize = 648;
/// The header, its `att_key_type` and its `tee_type` values are the ones the quote generator
/// of the `sgx` crate writes (one definition for both sides).
pub use sgx::quote::{QuoteHeader, ATT_KEY_TYPE_ECDSA_P256, TEE_TYPE_SGX, TEE_TYPE_TDX};
/// Certification data type: PEM PCK certificate chain (leaf first).
pub const CERT_TYPE_PCK_CHAIN: u16 = 5;
/// Certification data type: QE report certification data (v4/v5 quotes).
pub const CERT_TYPE_QE_REPORT: u16 = 6;
/// Intel's QE vendor id, `939a7233-f79c-4ca9-940a-0db3957f0607`.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];

/// Why a quote could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The input is larger than any real quote.
    #[error("quote is {len} bytes: larger than the {max}-byte limit")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit, [`MAX_QUOTE_LEN`].
        max: usize,
    },
    /// The input ends inside a field.
    #[error("quote truncated: {field} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Its offset in the quote.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Quote version other than 3, 4, 5.
    #[error("unsupported quote version {version}: expected 3, 4 or 5")]
    UnsupportedVersion {
        /// The header's version.
        version: u16,
    },
    /// TEE type other than SGX (0) or TDX (0x81), or TDX in a v3 quote.
    #[error("unsupported tee_type {tee_type:#x} in a version {version} quote")]
    UnsupportedTeeType {
        /// The header's tee_type.
        tee_type: u32,
        /// The header's version.
        version: u16,
    },
    /// Attestation key type other than ECDSA P-256.
    #[error("unsupported att_key_type {key_type}: expected 2 (ecdsa p-256)")]
    UnsupportedKeyType {
        /// The header's att_key_type.
        key_type: u16,
    },
    /// v5 body descriptor with an unknown type or a size that does not match it.
    #[error("invalid v5 body descriptor: type {body_type}, size {size}")]
    InvalidBody {
        /// Body type (1 SGX, 2 TD 1.0, 3 TD 1.5).
        body_type: u16,
        /// Declared size.
        size: u32,
    },
    /// The body type does not match the header's tee_type.
    #[error("v5 body type {body_type} does not match tee_type {tee_type:#x}")]
    BodyTeeMismatch {
        /// Body type.
        body_type: u16,
        /// Header tee_type.
        tee_type: u32,
    },
    /// A length field disagrees with the data it frames.
    #[error("{field} declares {declared} bytes but its contents take {parsed}")]
    LengthMismatch {
        /// The length field.
        field: &'static str,
        /// Declared length.
        declared: usize,
        /// Bytes actually used by its contents.
        parsed: usize,
    },
    /// An unexpected certification data type.
    #[error("unsupported {field} type {found}: expected {expected}")]
    CertificationType {
        /// Which certification data.
        field: &'static str,
        /// Type found.
        found: u16,
        /// Type expected.
        expected: u16,
    },
    /// Bytes after the quote that are not zero padding.
    #[error("non-zero byte at offset {offset} after the end of the quote ({quote_len} bytes)")]
    TrailingBytes {
        /// Offset of the first non-zero byte.
        offset: usize,
        /// Length of the quote proper.
        quote_len: usize,
    },
    /// The PEM certificate chain is malformed.
    #[error("invalid pem certificate chain in the certification data: {reason}")]
    PemChain {
        /// What is wrong.
        reason: String,
    },
}

/// The report body a quote attests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportBody<'a> {
    /// SGX ISV enclave report body.
    Sgx(&'a [u8; SGX_REPORT_BODY_LEN]),
    /// TDX 1.0 TD report body.
    Td10(&'a [u8; TD10_REPORT_BODY_LEN]),
    /// TDX 1.5 TD report body (a TD 1.0 body followed by TEE_TCB_SVN2 and MRSERVICETD).
    Td15(&'a [u8; TD15_REPORT_BODY_LEN]),
}

/// Fields of an SGX report body (ISV or QE report), Intel SDK `sgx_report_body_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SgxReportBody {
    /// CPU security version.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
    /// ATTRIBUTES.FLAGS (bit 1 = DEBUG).
    pub attributes_flags: u64,
    /// ATTRIBUTES.XFRM.
    pub attributes_xfrm: u64,
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV SVN.
    pub isv_svn: u16,
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

/// ATTRIBUTES.FLAGS bit that marks a debug enclave.
pub const SGX_FLAGS_DEBUG: u64 = 0x02;

impl SgxReportBody {
    /// Decode the fixed 384-byte layout.
    pub fn parse(body: &[u8; SGX_REPORT_BODY_LEN]) -> Self {
        Self {
            cpu_svn: array(body, 0),
            misc_select: u32::from_le_bytes(array(body, 16)),
            attributes_flags: u64::from_le_bytes(array(body, 48)),
            attributes_xfrm: u64::from_le_bytes(array(body, 56)),
            mr_enclave: array(body, 64),
            mr_signer: array(body, 128),
            isv_prod_id: u16::from_le_bytes(array(body, 256)),
            isv_svn: u16::from_le_bytes(array(body, 258)),
            report_data: array(body, 320),
        }
    }

    /// Whether ATTRIBUTES.DEBUG is set.
    pub fn debug(&self) -> bool {
        self.attributes_flags & SGX_FLAGS_DEBUG != 0
    }
}

/// Fields of a TDX 1.0 TD report body (the prefix of every TD body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdReportBody {
    /// TD attributes (byte 0 bit 0 = DEBUG).
    pub td_attributes: [u8; 8],
    /// MRTD.
    pub mr_td: [u8; 48],
    /// RTMR0..RTMR3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

impl TdReportBody {
    /// Decode the TD 1.0 fields from the first 584 bytes of a TD body.
    pub fn parse(body: &[u8; TD10_REPORT_BODY_LEN]) -> Self {
        Self {
            td_attributes: array(body, 120),
            mr_td: array(body, 136),
            rtmr: [
                array(body, 328),
                array(body, 376),
                array(body, 424),
                array(body, 472),
            ],
            report_data: array(body, 520),
        }
    }

    /// Decode the TD 1.0 fields of a TD 1.5 body (its first 584 bytes).
    pub fn parse_td15(body: &[u8; TD15_REPORT_BODY_LEN]) -> Self {
        Self::parse(&array(body, 0))
    }

    /// Whether the TD is a debug TD (TDATTRIBUTES.DEBUG).
    pub fn debug(&self) -> bool {
        self.td_attributes[0] & 0x01 != 0
    }
}

/// The certification data at the end of the signature data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificationData<'a> {
    /// Certification data type (5 = PEM PCK chain).
    pub cert_type: u16,
    /// Raw data.
    pub data: &'a [u8],
}

/// The ECDSA quote signature data (`sgx_ql_ecdsa_sig_data_t` and the v4 equivalent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcdsaSignatureData<'a> {
    /// ECDSA P-256 signature (r || s) over header and body by the attestation key.
    pub isv_signature: &'a [u8; 64],
    /// The attestation public key (x || y).
    pub attestation_key: &'a [u8; 64],
    /// The QE's report; its REPORTDATA binds the attestation key.
    pub qe_report: &'a [u8; SGX_REPORT_BODY_LEN],
    /// ECDSA signature over the QE report by the PCK key.
    pub qe_report_signature: &'a [u8; 64],
    /// QE authentication data, hashed into the QE report's REPORTDATA.
    pub qe_auth_data: &'a [u8],
    /// Certification data for the PCK key.
    pub certification: CertificationData<'a>,
}

/// A parsed quote. Borrowed from the input; nothing is verified yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote<'a> {
    /// The header.
    pub header: QuoteHeader,
    /// The report body.
    pub body: ReportBody<'a>,
    /// The bytes the attestation key signs: header, (v5 body descriptor) and body.
    pub signed: &'a [u8],
    /// The signature data.
    pub signature: EcdsaSignatureData<'a>,
    /// Length of the quote proper, without trailing zero padding.
    pub len: usize,
}

impl<'a> Quote<'a> {
    /// Parse a quote, accepting trailing zero padding (TDX quotes come in fixed-size buffers)
    /// and nothing else.
    pub fn parse(input: &'a [u8]) -> Result<Self, QuoteError> {
        if input.len() > MAX_QUOTE_LEN {
            return Err(QuoteError::TooLarge {
                len: input.len(),
                max: MAX_QUOTE_LEN,
            });
        }
        let mut r = Reader::new(input);
        let header = parse_header(&mut r)?;
        let body = parse_body(&mut r, &header)?;
        let signed = input.get(..r.pos).unwrap_or_default();
        let sig_len = usize::try_from(r.u32("signature data length")?).unwrap_or(usize::MAX);
        let sig_start = r.pos;
        let sig_bytes = r.take(sig_len, "signature data")?;
        let signature = parse_signature_data(sig_bytes, sig_start, header.version)?;
        let len = r.pos;
        let padding = input.get(len..).unwrap_or_default();
        if let Some(pos) = padding.iter().position(|b| *b != 0) {
            return Err(QuoteError::TrailingBytes {
                offset: len.saturating_add(pos),
                quote_len: len,
            });
        }
        Ok(Self {
            header,
            body,
            signed,
            signature,
            len,
        })
    }

    /// The SGX report body, for an SGX quote.
    pub fn sgx_body(&self) -> Option<SgxReportBody> {
        match self.body {
            ReportBody::Sgx(body) => Some(SgxReportBody::parse(body)),
            _ => None,
        }
    }

    /// The TD report body, for a TDX quote.
    pub fn td_body(&self) -> Option<TdReportBody> {
        match self.body {
            ReportBody::Td10(body) => Some(TdReportBody::parse(body)),
            ReportBody::Td15(body) => Some(TdReportBody::parse_td15(body)),
            ReportBody::Sgx(_) => None,
        }
    }

    /// The PCK certificate chain (DER, leaf first) when the certification data is type 5.
    pub fn pck_chain(&self) -> Result<Vec<Vec<u8>>, QuoteError> {
        let cert = self.signature.certification;
        if cert.cert_type != CERT_TYPE_PCK_CHAIN {
            return Err(QuoteError::CertificationType {
                field: "pck certification data",
                found: cert.cert_type,
                expected: CERT_TYPE_PCK_CHAIN,
            });
        }
        parse_pem_chain(cert.data)
    }
}

fn parse_header(r: &mut Reader<'_>) -> Result<QuoteHeader, QuoteError> {
    let raw: [u8; HEADER_LEN] = r.array("header")?;
    let header = QuoteHeader {
        version: u16::from_le_bytes(array(&raw, 0)),
        att_key_type: u16::from_le_bytes(array(&raw, 2)),
        tee_type: u32::from_le_bytes(array(&raw, 4)),
        qe_svn: u16::from_le_bytes(array(&raw, 8)),
        pce_svn: u16::from_le_bytes(array(&raw, 10)),
        qe_vendor_id: array(&raw, 12),
        user_data: array(&raw, 28),
    };
    if !(3..=5).contains(&header.version) {
        return Err(QuoteError::UnsupportedVersion {
            version: header.version,
        });
    }
    let tee_ok = match header.tee_type {
        TEE_TYPE_SGX => true,
        TEE_TYPE_TDX => header.version >= 4,
        _ => false,
    };
    if !tee_ok {
        return Err(QuoteError::UnsupportedTeeType {
            tee_type: header.tee_type,
            version: header.version,
        });
    }
    if header.att_key_type != ATT_KEY_TYPE_ECDSA_P256 {
        return Err(QuoteError::UnsupportedKeyType {
            key_type: header.att_key_type,
        });
    }
    Ok(header)
}

fn parse_body<'a>(r: &mut Reader<'a>, header: &QuoteHeader) -> Result<ReportBody<'a>, QuoteError> {
    if header.version < 5 {
        return Ok(if header.tee_type == TEE_TYPE_TDX {
            ReportBody::Td10(r.array_ref("td report body")?)
        } else {
            ReportBody::Sgx(r.array_ref("isv enclave report body")?)
        });
    }
    let body_type = r.u16("body type")?;
    let size = r.u32("body size")?;
    let expected = match body_type {
        1 => SGX_REPORT_BODY_LEN,
        2 => TD10_REPORT_BODY_LEN,
        3 => TD15_REPORT_BODY_LEN,
        _ => 0,
    };
    if expected == 0 || usize::try_from(size).ok() != Some(expected) {
        return Err(QuoteError::InvalidBody { body_type, size });
    }
    let is_tdx_body = body_type != 1;
    if is_tdx_body != (header.tee_type == TEE_TYPE_TDX) {
        return Err(QuoteError::BodyTeeMismatch {
            body_type,
            tee_type: header.tee_type,
        });
    }
    Ok(match body_type {
        1 => ReportBody::Sgx(r.array_ref("isv enclave report body")?),
        2 => ReportBody::Td10(r.array_ref("td report body")?),
        _ => ReportBody::Td15(r.array_ref("td report body")?),
    })
}

fn parse_signature_data(
    bytes: &[u8],
    base: usize,
    version: u16,
) -> Result<EcdsaSignatureData<'_>, QuoteError> {
    let mut r = Reader::with_base(bytes, base);
    let isv_signature = r.array_ref("isv signature")?;
    let attestation_key = r.array_ref("attestation key")?;
    let sig = if version == 3 {
        let qe = parse_qe_report_certification(&mut r)?;
        EcdsaSignatureData {
            isv_signature,
            attestation_key,
            ..qe
        }
    } else {
        let cert_type = r.u16("certification data type")?;
        if cert_type != CERT_TYPE_QE_REPORT {
            return Err(QuoteError::CertificationType {
                field: "outer certification data",
                found: cert_type,
                expected: CERT_TYPE_QE_REPORT,
            });
        }
        let len = usize::try_from(r.u32("certification data size")?).unwrap_or(usize::MAX);
        let inner_base = base.saturating_add(r.pos);
        let inner = r.take(len, "qe report certification data")?;
        let mut inner_reader = Reader::with_base(inner, inner_base);
        let qe = parse_qe_report_certification(&mut inner_reader)?;
        if inner_reader.pos != inner.len() {
            return Err(QuoteError::LengthMismatch {
                field: "qe report certification data size",
                declared: inner.len(),
                parsed: inner_reader.pos,
            });
        }
        EcdsaSignatureData {
            isv_signature,
            attestation_key,
            ..qe
        }
    };
    if r.pos != bytes.len() {
        return Err(QuoteError::LengthMismatch {
            field: "signature data length",
            declared: bytes.len(),
            parsed: r.pos,
        });
    }
    Ok(sig)
}

/// QE report, its signature, QE auth data and the PCK certification data: the tail of a v3
/// signature data, and the contents of a v4 type-6 certification data.
fn parse_qe_report_certification<'a>(
    r: &mut Reader<'a>,
) -> Result<EcdsaSignatureData<'a>, QuoteError> {
    const ZERO: &[u8; 64] = &[0; 64];
    let qe_report = r.array_ref("qe report")?;
    let qe_report_signature = r.array_ref("qe report signature")?;
    let auth_len = usize::from(r.u16("qe authentication data size")?);
    let qe_auth_data = r.take(auth_len, "qe authentication data")?;
    let cert_type = r.u16("pck certification data type")?;
    let cert_len = usize::try_from(r.u32("pck certification data size")?).unwrap_or(usize::MAX);
    let data = r.take(cert_len, "pck certification data")?;
    Ok(EcdsaSignatureData {
        isv_signature: ZERO,
        attestation_key: ZERO,
        qe_report,
        qe_report_signature,
        qe_auth_data,
        certification: CertificationData { cert_type, data },
    })
}

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// Parse a PEM certificate chain strictly: only `CERTIFICATE` blocks, separated by line
/// breaks, canonical base64, and at the end nothing but line breaks and NUL terminators
/// (Intel's QE appends one NUL). Returns the DER certificates in order.
pub fn parse_pem_chain(data: &[u8]) -> Result<Vec<Vec<u8>>, QuoteError> {
    let fail = |reason: String| QuoteError::PemChain { reason };
    let text = std::str::from_utf8(data)
        .map_err(|e| fail(format!("not utf-8 at byte {}", e.valid_up_to())))?;
    let text = text.trim_end_matches('\0');
    let mut certs = Vec::new();
    let mut rest = text.trim_start_matches(['\n', '\r']);
    while !rest.is_empty() {
        let Some(after_begin) = rest.strip_prefix(PEM_BEGIN) else {
            return Err(fail(format!(
                "expected {PEM_BEGIN:?} at byte {}",
                text.len() - rest.len()
            )));
        };
        let Some(end) = after_begin.find(PEM_END) else {
            return Err(fail(format!("certificate {} has no end line", certs.len())));
        };
        let body = &after_begin[..end];
        let mut b64 = String::with_capacity(body.len());
        for line in body.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            b64.push_str(line);
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| fail(format!("certificate {}: {e}", certs.len())))?;
        if der.is_empty() {
            return Err(fail(format!("certificate {} is empty", certs.len())));
        }
        certs.push(der);
        rest = after_begin[end + PEM_END.len()..].trim_start_matches(['\n', '\r']);
    }
    if certs.is_empty() {
        return Err(fail("no certificate".to_owned()));
    }
    Ok(certs)
}

/// Copy `N` bytes at `offset` out of a fixed-size array. Callers pass constant offsets within
/// the array's length, so the slice always exists; a zero array is never returned in practice.
fn array<const N: usize, const M: usize>(bytes: &[u8; M], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(offset..offset.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

/// A bounds-checked cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self::with_base(bytes, 0)
    }

    fn with_base(bytes: &'a [u8], base: usize) -> Self {
        Self {
            bytes,
            pos: 0,
            base,
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], QuoteError> {
        let available = self.bytes.len().saturating_sub(self.pos);
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        match end.and_then(|end| self.bytes.get(self.pos..end)) {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None => Err(QuoteError::Truncated {
                field,
                offset: self.base.saturating_add(self.pos),
                needed: n,
                available,
            }),
        }
    }

    fn array_ref<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<&'a [u8; N], QuoteError> {
        let slice = self.take(N, field)?;
        // `take` returned exactly N bytes, so the conversion cannot fail; map it anyway.
        slice.try_into().map_err(|_| QuoteError::Truncated {
            field,
            offset: self.base.saturating_add(self.pos),
            needed: N,
            available: slice.len(),
        })
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], QuoteError> {
        self.array_ref::<N>(field).copied()
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, QuoteError> {
        self.array(field).map(u16::from_le_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, QuoteError> {
        self.array(field).map(u32::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SGX: &[u8] = include_bytes!("../tests/data/sgx_quote");
    const TDX: &[u8] = include_bytes!("../tests/data/tdx_quote");

    #[test]
    fn parses_the_sgx_sample() {
        let quote = Quote::parse(SGX).unwrap();
        assert_eq!(quote.header.version, 3);
        assert_eq!(quote.header.qe_vendor_id, INTEL_QE_VENDOR_ID);
        assert_eq!(quote.len, SGX.len());
        let body = quote.sgx_body().unwrap();
        assert_eq!(
            hex::encode(body.mr_enclave),
            "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
        );
        assert_eq!(body.attributes_flags, 0x05);
        assert!(!body.debug());
        assert_eq!(&body.report_data[..13], b"Hello, world!");
        assert_eq!(quote.pck_chain().unwrap().len(), 3);
    }

    #[test]
    fn parses_the_tdx_sample_with_zero_padding() {
        let quote = Quote::parse(TDX).unwrap();
        assert_eq!(quote.header.version, 4);
        assert!(quote.len < TDX.len());
        let td = quote.td_body().unwrap();
        assert_eq!(hex::encode(td.mr_td), "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7");
        assert_eq!(quote.pck_chain().unwrap().len(), 3);
    }

    #[test]
    fn rejects_non_zero_padding() {
        let mut bytes = TDX.to_vec();
        let last = bytes.len() - 1;
        bytes[last] = 1;
        let err = Quote::parse(&bytes).unwrap_err();
        assert!(matches!(err, QuoteError::TrailingBytes { offset, .. } if offset == last));
        let mut bytes = SGX.to_vec();
        bytes.push(7);
        assert!(Quote::parse(&bytes).is_err());
    }

    #[test]
    fn truncation_names_the_field() {
        let err = Quote::parse(&SGX[..100]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "quote truncated: isv enclave report body needs 384 bytes at offset 48, 52 left"
        );
        for len in 0..SGX.len() {
            assert!(
                Quote::parse(&SGX[..len]).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
    }

    #[test]
    fn pem_chain_is_strict() {
        let quote = Quote::parse(SGX).unwrap();
        let data = quote.signature.certification.data;
        let text = std::str::from_utf8(data).unwrap().trim_end_matches('\0');
        let glued = text.replacen("-----\n-----BEGIN", "-----\nX-----BEGIN", 1);
        assert!(parse_pem_chain(glued.as_bytes()).is_err());
        let trailing = format!("{text}junk");
        assert!(parse_pem_chain(trailing.as_bytes()).is_err());
        assert!(parse_pem_chain(b"").is_err());
    }
}
