//! RA-TLS: TLS certificates that carry TEE evidence binding their key, and rustls verifiers
//! that check the evidence as well as the handshake (DESIGN §3.7).
//!
//! **Certificates we make** ([`RaTlsIdentity::generate`]) follow the Interoperable RA-TLS
//! format of Inclavare's rats-tls / rats-rs and Gramine: a fresh ECDSA P-256 key, a self-signed
//! X.509 certificate with the non-critical extension `2.23.133.5.4.9` (TCG DICE tagged
//! evidence) whose value is the CBOR
//!
//! ```text
//! 60000([ h'<quote>', h'<claims-buffer>' ])
//! claims-buffer = { "pubkey-hash": h'<CBOR [ 1 (sha-256), h'SHA-256(SubjectPublicKeyInfo DER)' ]>' }
//! REPORTDATA    = SHA-256(claims-buffer) || 32 zero bytes
//! ```
//!
//! The `pubkey-hash` value is a byte string holding the encoded array, as rats-tls
//! (`dice_generate_pubkey_hash_value_buffer`) and rats-rs (`generate_pubkey_hash_value_buffer`)
//! write it; hash algorithm ids are IANA named-information ids (1 SHA-256, 7 SHA-384,
//! 8 SHA-512).
//!
//! **Certificates we accept** ([`RaTlsVerifier`]): that format, and the legacy raw-quote
//! extension of Gramine's RA-TLS (`1.2.840.113741.1337.6`, and `0.6.9.42.840.113741.1337.6`,
//! which is what older Gramine wrote because it passed the OID's DER tag and length as part of
//! its value). In the legacy format the extension is the quote itself and
//! REPORTDATA[0..32] = SHA-256(SubjectPublicKeyInfo DER) (`sha256_over_pk` in Gramine's
//! `ra_tls_attest.c`, which hashes `mbedtls_pk_write_pubkey_der`). Like Gramine's verifier, only
//! the first 32 bytes of REPORTDATA are compared.
//!
//! Verification = the certificate's self-signature and validity, the binding (key → claims →
//! REPORTDATA), the quote (DCAP with collateral, or the sim verifier when a sim root is
//! configured: sim is refused by default), then the [`RaTlsPolicy`] (TCB status, debug,
//! MRENCLAVE/MRSIGNER, product id, minimum SVN). rustls checks the handshake signature with
//! the certificate's key as usual. Server names are not checked: an RA-TLS certificate is
//! identified by its evidence, not by a DNS name.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ciborium::Value;
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, KeyPair, PublicKeyData,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName as TlsName, SignatureScheme};
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::attester::{Attester, AttesterError};
use crate::claims::{hex_array, Claims, Measurements, TeeKind};
use crate::dcap::{self, CollateralError, CollateralSource, DcapError, INTEL_SGX_ROOT_CA_DER};
use crate::policy::{AppraisalPolicy, Rejection, Verdict};
use crate::quote::{self, Quote, QuoteError, TEE_TYPE_TDX};
use crate::sim::{SimError, SimVerifier, SIM_QE_VENDOR_ID};

/// OID of the TCG DICE tagged-evidence extension (TCG DICE Attestation Architecture).
pub const OID_TCG_DICE_TAGGED_EVIDENCE: &[u64] = &[2, 23, 133, 5, 4, 9];
/// OID of the legacy raw SGX quote extension (Gramine / Intel RA-TLS).
pub const OID_LEGACY_QUOTE: &[u64] = &[1, 2, 840, 113741, 1337, 6];
/// The OID older Gramine versions actually wrote for the legacy quote extension.
pub const OID_GRAMINE_MISENCODED_QUOTE: &[u64] = &[0, 6, 9, 42, 840, 113741, 1337, 6];
/// CBOR tag of an Intel TEE quote (SGX ECDSA or TDX) in tagged evidence.
pub const CBOR_TAG_INTEL_TEE_QUOTE: u64 = 60000;
/// Name of the claim binding the certificate key.
pub const CLAIM_PUBKEY_HASH: &str = "pubkey-hash";
/// Largest certificate accepted, before parsing. A quote is 4–8 KiB; DICE endorsements
/// (collateral) can add ~30 KiB.
pub const MAX_CERT_LEN: usize = 256 * 1024;

/// DER contents of the three OIDs, compared byte for byte.
const DICE_OID_DER: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x09];
const LEGACY_OID_DER: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x8a, 0x39, 0x06];
const GRAMINE_OID_DER: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x8a, 0x39, 0x06,
];
/// Default validity of a generated certificate.
const DEFAULT_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// Backdating of `notBefore`, for peers whose clocks are a little behind.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// Why an RA-TLS certificate could not be made, parsed or accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RaTlsError {
    /// The certificate is larger than any RA-TLS certificate.
    #[error("certificate is {len} bytes: larger than the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit, [`MAX_CERT_LEN`].
        max: usize,
    },
    /// The input is not a certificate.
    #[error("invalid certificate: {reason}")]
    Certificate {
        /// What is wrong.
        reason: String,
    },
    /// No RA-TLS evidence extension.
    #[error("certificate has no ra-tls evidence extension (2.23.133.5.4.9, 1.2.840.113741.1337.6 or 0.6.9.42.840.113741.1337.6)")]
    NoEvidence,
    /// The CBOR of the evidence extension is malformed.
    #[error("invalid {what} cbor: {reason}")]
    Cbor {
        /// Which structure.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Tagged evidence of a kind this crate does not verify.
    #[error("unsupported tagged evidence cbor tag {tag}: expected 60000 (intel tee quote)")]
    UnsupportedTag {
        /// The CBOR tag.
        tag: u64,
    },
    /// The claims buffer has no `pubkey-hash`.
    #[error("claims buffer has no \"pubkey-hash\" claim")]
    NoPubkeyHash,
    /// A hash algorithm id other than SHA-256/384/512.
    #[error("unsupported pubkey-hash algorithm id {id}: expected 1 (sha-256), 7 (sha-384) or 8 (sha-512)")]
    HashAlgorithm {
        /// The IANA id.
        id: u64,
    },
    /// The `pubkey-hash` claim does not match the certificate's key.
    #[error("pubkey-hash claim does not match the certificate's public key")]
    PubkeyHash,
    /// REPORTDATA does not bind the claims or the key.
    #[error("quote report_data does not bind the certificate: expected {expected} ({what}), found {found}")]
    ReportData {
        /// What REPORTDATA[0..32] should hash.
        what: &'static str,
        /// Expected, hex.
        expected: String,
        /// Found, hex.
        found: String,
    },
    /// The quote in the evidence does not parse.
    #[error("invalid quote in the certificate")]
    Quote(#[source] QuoteError),
    /// The self-signature does not verify.
    #[error("certificate self-signature does not verify: {reason}")]
    Signature {
        /// What is wrong.
        reason: String,
    },
    /// The certificate is not valid at the verification time.
    #[error("certificate is valid from {not_before} to {not_after}, verification time is {now}")]
    Expired {
        /// notBefore, RFC 3339.
        not_before: String,
        /// notAfter, RFC 3339.
        not_after: String,
        /// The verification time, RFC 3339.
        now: String,
    },
    /// Sim evidence offered and the policy does not allow sim.
    #[error("evidence is a sim quote (software TEE, no hardware protection) and the policy does not allow sim: configure a sim root to accept it")]
    SimNotAllowed,
    /// The sim quote did not verify.
    #[error("sim quote verification failed")]
    Sim(#[source] SimError),
    /// A real quote and no collateral configured.
    #[error("dcap verification of a {tee} quote needs collateral: configure a collateral source")]
    NoCollateral {
        /// The quote's TEE.
        tee: TeeKind,
    },
    /// Collateral could not be loaded.
    #[error("loading collateral for the certificate's quote")]
    Collateral(#[source] CollateralError),
    /// DCAP verification failed.
    #[error("dcap verification of the certificate's quote failed")]
    Dcap(#[source] DcapError),
    /// The appraisal policy rejected the claims.
    #[error("evidence rejected by policy: {0}")]
    Rejected(Rejection),
    /// A measurement or identity field is not the expected one.
    #[error("{field} {found} does not match the expected {expected}")]
    Mismatch {
        /// Which field.
        field: &'static str,
        /// Expected.
        expected: String,
        /// Found.
        found: String,
    },
    /// The ISV SVN is below the minimum.
    #[error("isv_svn {svn} is below the minimum {min}")]
    SvnTooLow {
        /// Found.
        svn: u16,
        /// The policy's minimum.
        min: u16,
    },
    /// Collecting evidence for a new certificate failed.
    #[error("collecting evidence for the ra-tls certificate")]
    Attester(#[source] AttesterError),
    /// Generating the key or certificate failed.
    #[error("generating the ra-tls certificate")]
    Generate(#[source] rcgen::Error),
    /// Building a rustls configuration failed.
    #[error("building the tls configuration")]
    Tls(#[source] rustls::Error),
    /// The time is before 1970 or beyond what certificates encode.
    #[error("time is out of range for a certificate")]
    Time,
}

impl From<RaTlsError> for rustls::Error {
    fn from(err: RaTlsError) -> Self {
        use rustls::CertificateError;
        let cert_err = match err {
            RaTlsError::Expired { .. } => CertificateError::Expired,
            RaTlsError::Signature { .. } => CertificateError::BadSignature,
            RaTlsError::TooLarge { .. } | RaTlsError::Certificate { .. } => {
                CertificateError::BadEncoding
            }
            other => CertificateError::Other(rustls::OtherError(Arc::new(other))),
        };
        rustls::Error::InvalidCertificate(cert_err)
    }
}

/// The RA-TLS refusal inside a rustls error, if that is what it is.
///
/// rustls prints a verifier's own error with `Debug` (`invalid peer certificate:
/// Other(OtherError(SimNotAllowed))`); this gets the [`RaTlsError`] back so the caller can
/// print its message. Expiry, bad signatures and bad encodings map to rustls' own variants.
pub fn ratls_error(err: &rustls::Error) -> Option<&RaTlsError> {
    match err {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.downcast_ref::<RaTlsError>()
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// CBOR: tagged evidence, claims, pubkey-hash
// ---------------------------------------------------------------------------------------------

/// A hash algorithm of a `pubkey-hash` claim (IANA named-information ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-256, id 1.
    Sha256,
    /// SHA-384, id 7.
    Sha384,
    /// SHA-512, id 8.
    Sha512,
}

impl HashAlgorithm {
    /// From an IANA id.
    pub fn from_id(id: u64) -> Result<Self, RaTlsError> {
        match id {
            1 => Ok(Self::Sha256),
            7 => Ok(Self::Sha384),
            8 => Ok(Self::Sha512),
            id => Err(RaTlsError::HashAlgorithm { id }),
        }
    }

    /// The IANA id.
    pub fn id(self) -> u64 {
        match self {
            Self::Sha256 => 1,
            Self::Sha384 => 7,
            Self::Sha512 => 8,
        }
    }

    /// Hash `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &ring::digest::SHA256,
            Self::Sha384 => &ring::digest::SHA384,
            Self::Sha512 => &ring::digest::SHA512,
        };
        ring::digest::digest(alg, data).as_ref().to_vec()
    }
}

/// The content of a TCG DICE tagged-evidence extension: `tag([evidence, claims-buffer])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedEvidence {
    /// The CBOR tag (60000 for an Intel TEE quote).
    pub tag: u64,
    /// The raw evidence (a quote).
    pub evidence: Vec<u8>,
    /// The encoded claims buffer, hashed into REPORTDATA.
    pub claims_buffer: Vec<u8>,
}

impl TaggedEvidence {
    /// Encode as definite-length CBOR, as rats-tls and rats-rs do.
    pub fn encode(&self) -> Vec<u8> {
        cbor_encode(&Value::Tag(
            self.tag,
            Box::new(Value::Array(vec![
                Value::Bytes(self.evidence.clone()),
                Value::Bytes(self.claims_buffer.clone()),
            ])),
        ))
    }

    /// Parse exactly one tagged two-element array of byte strings, nothing after it.
    pub fn parse(bytes: &[u8]) -> Result<Self, RaTlsError> {
        const WHAT: &str = "tagged evidence";
        let err = |reason: &str| RaTlsError::Cbor {
            what: WHAT,
            reason: reason.to_owned(),
        };
        let Value::Tag(tag, inner) = cbor_decode(WHAT, bytes)? else {
            return Err(err("expected a tag"));
        };
        let Value::Array(items) = *inner else {
            return Err(err("expected an array inside the tag"));
        };
        let mut items = items.into_iter();
        match (items.next(), items.next(), items.next()) {
            (Some(Value::Bytes(evidence)), Some(Value::Bytes(claims_buffer)), None) => Ok(Self {
                tag,
                evidence,
                claims_buffer,
            }),
            _ => Err(err("expected an array of two byte strings")),
        }
    }
}

/// Encode a claims buffer holding `pubkey-hash` and then `extra` claims, in that order.
pub fn encode_claims(
    alg: HashAlgorithm,
    pubkey_hash: &[u8],
    extra: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let hash_entry = cbor_encode(&Value::Array(vec![
        Value::Integer(alg.id().into()),
        Value::Bytes(pubkey_hash.to_vec()),
    ]));
    let mut map = vec![(
        Value::Text(CLAIM_PUBKEY_HASH.to_owned()),
        Value::Bytes(hash_entry),
    )];
    map.extend(
        extra
            .iter()
            .map(|(k, v)| (Value::Text(k.clone()), Value::Bytes(v.clone()))),
    );
    cbor_encode(&Value::Map(map))
}

/// Parse a claims buffer: a map of text names to byte-string values, names unique.
pub fn parse_claims(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, RaTlsError> {
    const WHAT: &str = "claims buffer";
    let err = |reason: String| RaTlsError::Cbor { what: WHAT, reason };
    let Value::Map(entries) = cbor_decode(WHAT, bytes)? else {
        return Err(err("expected a map".to_owned()));
    };
    let mut claims: Vec<(String, Vec<u8>)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let (Value::Text(name), Value::Bytes(value)) = (key, value) else {
            return Err(err("expected text names and byte-string values".to_owned()));
        };
        if claims.iter().any(|(n, _)| *n == name) {
            return Err(err(format!("claim {name:?} appears twice")));
        }
        claims.push((name, value));
    }
    Ok(claims)
}

/// Parse a `pubkey-hash` value: the encoded array `[alg-id, hash]`.
pub fn parse_pubkey_hash(bytes: &[u8]) -> Result<(HashAlgorithm, Vec<u8>), RaTlsError> {
    const WHAT: &str = "pubkey-hash";
    let err = || RaTlsError::Cbor {
        what: WHAT,
        reason: "expected [hash-alg-id, hash bytes]".to_owned(),
    };
    let Value::Array(items) = cbor_decode(WHAT, bytes)? else {
        return Err(err());
    };
    let mut items = items.into_iter();
    match (items.next(), items.next(), items.next()) {
        (Some(Value::Integer(id)), Some(Value::Bytes(hash)), None) => {
            let id = u64::try_from(id).map_err(|_| err())?;
            Ok((HashAlgorithm::from_id(id)?, hash))
        }
        _ => Err(err()),
    }
}

fn cbor_encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing plain values (no floats, no user Serialize impls) into a Vec cannot fail.
    if ciborium::ser::into_writer(value, &mut out).is_err() {
        out.clear();
    }
    out
}

/// Decode exactly one CBOR item; trailing bytes are an error.
fn cbor_decode(what: &'static str, bytes: &[u8]) -> Result<Value, RaTlsError> {
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader(&mut reader).map_err(|e| RaTlsError::Cbor {
        what,
        reason: e.to_string(),
    })?;
    if !reader.is_empty() {
        return Err(RaTlsError::Cbor {
            what,
            reason: format!("{} bytes after the end", reader.len()),
        });
    }
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Parsing certificates
// ---------------------------------------------------------------------------------------------

/// Which RA-TLS extension a certificate carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EvidenceFormat {
    /// `2.23.133.5.4.9`: TCG DICE tagged evidence with a claims buffer.
    TcgDice,
    /// `1.2.840.113741.1337.6`: the raw quote; REPORTDATA binds the key directly.
    LegacyQuote,
    /// `0.6.9.42.840.113741.1337.6`: the same, under the OID older Gramine wrote.
    GramineLegacyQuote,
}

impl EvidenceFormat {
    /// The extension's OID, dotted.
    pub fn oid(self) -> &'static str {
        match self {
            Self::TcgDice => "2.23.133.5.4.9",
            Self::LegacyQuote => "1.2.840.113741.1337.6",
            Self::GramineLegacyQuote => "0.6.9.42.840.113741.1337.6",
        }
    }

    fn oid_arcs(self) -> &'static [u64] {
        match self {
            Self::TcgDice => OID_TCG_DICE_TAGGED_EVIDENCE,
            Self::LegacyQuote => OID_LEGACY_QUOTE,
            Self::GramineLegacyQuote => OID_GRAMINE_MISENCODED_QUOTE,
        }
    }
}

/// The evidence of an RA-TLS certificate, parsed but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaTlsCert {
    /// The certificate (DER).
    pub der: Vec<u8>,
    /// Which extension carried the evidence. A certificate with both the DICE and a legacy
    /// extension (Gramine writes both) is read as DICE.
    pub format: EvidenceFormat,
    /// The quote.
    pub quote: Vec<u8>,
    /// The claims buffer (DICE only).
    pub claims_buffer: Option<Vec<u8>>,
    /// The certificate's SubjectPublicKeyInfo (DER).
    pub spki_der: Vec<u8>,
}

impl RaTlsCert {
    /// Parse a certificate in PEM (the first `CERTIFICATE` block) or DER.
    pub fn parse(pem_or_der: &[u8]) -> Result<Self, RaTlsError> {
        if pem_or_der.len() > MAX_CERT_LEN {
            return Err(RaTlsError::TooLarge {
                len: pem_or_der.len(),
                max: MAX_CERT_LEN,
            });
        }
        let trimmed = pem_or_der.trim_ascii_start();
        if trimmed.starts_with(b"-----BEGIN") {
            let der = quote::parse_pem_chain(trimmed)
                .map_err(|e| RaTlsError::Certificate {
                    reason: e.to_string(),
                })?
                .into_iter()
                .next()
                .ok_or_else(|| RaTlsError::Certificate {
                    reason: "no certificate in the pem".to_owned(),
                })?;
            Self::parse_der(&der)
        } else {
            Self::parse_der(pem_or_der)
        }
    }

    /// Parse a DER certificate and extract its evidence.
    pub fn parse_der(der: &[u8]) -> Result<Self, RaTlsError> {
        let cert = parse_x509(der)?;
        let mut dice = None;
        let mut legacy = None;
        for ext in cert.extensions() {
            let oid = ext.oid.as_bytes();
            if oid == DICE_OID_DER {
                dice = Some(ext.value);
            } else if oid == LEGACY_OID_DER {
                legacy = legacy.or(Some((EvidenceFormat::LegacyQuote, ext.value)));
            } else if oid == GRAMINE_OID_DER {
                legacy = legacy.or(Some((EvidenceFormat::GramineLegacyQuote, ext.value)));
            }
        }
        let spki_der = cert.tbs_certificate.subject_pki.raw.to_vec();
        let (format, quote, claims_buffer) = match (dice, legacy) {
            (Some(value), _) => {
                let tagged = TaggedEvidence::parse(value)?;
                if tagged.tag != CBOR_TAG_INTEL_TEE_QUOTE {
                    return Err(RaTlsError::UnsupportedTag { tag: tagged.tag });
                }
                (
                    EvidenceFormat::TcgDice,
                    tagged.evidence,
                    Some(tagged.claims_buffer),
                )
            }
            (None, Some((format, value))) => (format, value.to_vec(), None),
            (None, None) => return Err(RaTlsError::NoEvidence),
        };
        Ok(Self {
            der: der.to_vec(),
            format,
            quote,
            claims_buffer,
            spki_der,
        })
    }

    /// The quote, parsed.
    pub fn parsed_quote(&self) -> Result<Quote<'_>, RaTlsError> {
        Quote::parse(&self.quote).map_err(RaTlsError::Quote)
    }

    /// Check the binding of the certificate key to the quote: for DICE, `pubkey-hash` matches
    /// the key and REPORTDATA[0..32] = SHA-256(claims buffer); for the legacy formats,
    /// REPORTDATA[0..32] = SHA-256(SubjectPublicKeyInfo).
    pub fn check_binding(&self) -> Result<(), RaTlsError> {
        let report_data = quote_report_data(&self.parsed_quote()?);
        let (what, expected) = match &self.claims_buffer {
            Some(claims_buffer) => {
                let claims = parse_claims(claims_buffer)?;
                let value = claims
                    .iter()
                    .find(|(name, _)| name == CLAIM_PUBKEY_HASH)
                    .map(|(_, value)| value)
                    .ok_or(RaTlsError::NoPubkeyHash)?;
                let (alg, hash) = parse_pubkey_hash(value)?;
                if alg.digest(&self.spki_der) != hash {
                    return Err(RaTlsError::PubkeyHash);
                }
                ("sha-256 of the claims buffer", sha256(claims_buffer))
            }
            None => ("sha-256 of the public key", sha256(&self.spki_der)),
        };
        if report_data[..32] != expected {
            return Err(RaTlsError::ReportData {
                what,
                expected: hex::encode(expected),
                found: hex::encode(&report_data[..32]),
            });
        }
        Ok(())
    }
}

fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, RaTlsError> {
    if der.len() > MAX_CERT_LEN {
        return Err(RaTlsError::TooLarge {
            len: der.len(),
            max: MAX_CERT_LEN,
        });
    }
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| RaTlsError::Certificate {
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(RaTlsError::Certificate {
            reason: format!("{} bytes after the certificate", rest.len()),
        });
    }
    Ok(cert)
}

fn quote_report_data(quote: &Quote<'_>) -> [u8; 64] {
    match (quote.sgx_body(), quote.td_body()) {
        (Some(body), _) => body.report_data,
        (None, Some(body)) => body.report_data,
        // Quote::parse only yields SGX or TD bodies.
        (None, None) => [0; 64],
    }
}

/// The TEE a quote claims to come from, without verifying it: TDX by its header, sim by the
/// sim QE's vendor id, else SGX.
fn claimed_tee(quote: &Quote<'_>) -> TeeKind {
    if quote.header.tee_type == TEE_TYPE_TDX {
        TeeKind::Tdx
    } else if quote.header.qe_vendor_id == SIM_QE_VENDOR_ID {
        TeeKind::Sim
    } else {
        TeeKind::Sgx
    }
}

// ---------------------------------------------------------------------------------------------
// Generating certificates
// ---------------------------------------------------------------------------------------------

/// Options of a generated RA-TLS certificate.
#[derive(Debug, Clone)]
pub struct CertOptions {
    /// Subject (and issuer) common name.
    pub common_name: String,
    /// The extension format. [`EvidenceFormat::TcgDice`] is the default; the legacy formats
    /// exist to talk to old Gramine peers and to test interoperability.
    pub format: EvidenceFormat,
    /// How long the certificate is valid from now.
    pub validity: Duration,
    /// Extra claims after `pubkey-hash` in the claims buffer (DICE only), e.g. a nonce.
    pub extra_claims: Vec<(String, Vec<u8>)>,
}

impl Default for CertOptions {
    fn default() -> Self {
        Self {
            common_name: "rune RA-TLS".to_owned(),
            format: EvidenceFormat::TcgDice,
            validity: DEFAULT_VALIDITY,
            extra_claims: Vec::new(),
        }
    }
}

/// A fresh key and the RA-TLS certificate binding it to evidence.
#[derive(Clone)]
pub struct RaTlsIdentity {
    cert_der: Vec<u8>,
    key_pkcs8: Zeroizing<Vec<u8>>,
    tee: TeeKind,
}

impl fmt::Debug for RaTlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaTlsIdentity")
            .field("tee", &self.tee)
            .field("cert_len", &self.cert_der.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl RaTlsIdentity {
    /// Generate an ECDSA P-256 key and a certificate with `attester`'s evidence, valid from
    /// one hour before `now` (clock skew) for the default day, in the DICE format.
    pub fn generate(attester: &dyn Attester, now: SystemTime) -> Result<Self, RaTlsError> {
        Self::generate_with(attester, now, &CertOptions::default())
    }

    /// [`RaTlsIdentity::generate`] with options.
    pub fn generate_with(
        attester: &dyn Attester,
        now: SystemTime,
        options: &CertOptions,
    ) -> Result<Self, RaTlsError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(RaTlsError::Generate)?;
        let spki = key.subject_public_key_info();
        let mut report_data = [0u8; 64];
        let extension = match options.format {
            EvidenceFormat::TcgDice => {
                let claims =
                    encode_claims(HashAlgorithm::Sha256, &sha256(&spki), &options.extra_claims);
                report_data[..32].copy_from_slice(&sha256(&claims));
                let quote = attester
                    .evidence(&report_data)
                    .map_err(RaTlsError::Attester)?;
                TaggedEvidence {
                    tag: CBOR_TAG_INTEL_TEE_QUOTE,
                    evidence: quote,
                    claims_buffer: claims,
                }
                .encode()
            }
            EvidenceFormat::LegacyQuote | EvidenceFormat::GramineLegacyQuote => {
                report_data[..32].copy_from_slice(&sha256(&spki));
                attester
                    .evidence(&report_data)
                    .map_err(RaTlsError::Attester)?
            }
        };

        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, options.common_name.as_str());
        name.push(
            DnType::OrganizationName,
            format!("rune ({} TEE)", attester.tee()),
        );
        params.distinguished_name = name;
        let start = now.checked_sub(CLOCK_SKEW).ok_or(RaTlsError::Time)?;
        let end = now.checked_add(options.validity).ok_or(RaTlsError::Time)?;
        params.not_before = dcap::to_datetime(start).map_err(|_| RaTlsError::Time)?;
        params.not_after = dcap::to_datetime(end).map_err(|_| RaTlsError::Time)?;
        // Non-critical, as Gramine writes it: mbedTLS-based peers reject unknown critical
        // extensions before their RA-TLS callback runs.
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                options.format.oid_arcs(),
                extension,
            ));
        let cert = params.self_signed(&key).map_err(RaTlsError::Generate)?;
        tracing::debug!(tee = %attester.tee(), format = options.format.oid(), "ra-tls certificate generated");
        Ok(Self {
            cert_der: cert.der().to_vec(),
            key_pkcs8: Zeroizing::new(key.serialize_der()),
            tee: attester.tee(),
        })
    }

    /// The certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate (PEM).
    pub fn cert_pem(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.cert_der);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// The TEE whose evidence the certificate carries.
    pub fn tee(&self) -> TeeKind {
        self.tee
    }

    /// The certificate chain and key in rustls' types.
    pub fn rustls_parts(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![CertificateDer::from(self.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.to_vec())),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Verifying certificates
// ---------------------------------------------------------------------------------------------

/// What an RA-TLS peer must prove.
///
/// The default accepts only hardware evidence with an `UpToDate` TCB from non-debug
/// enclaves, with any identity: set the expected MRENCLAVE or MRSIGNER for real use.
#[derive(Debug, Clone, Default)]
pub struct RaTlsPolicy {
    /// Expected MRENCLAVE (SGX, sim).
    pub mrenclave: Option<[u8; 32]>,
    /// Expected MRSIGNER (SGX, sim).
    pub mrsigner: Option<[u8; 32]>,
    /// Expected MRTD (TDX).
    pub mrtd: Option<[u8; 48]>,
    /// Expected ISV product id.
    pub isv_prod_id: Option<u16>,
    /// Minimum ISV SVN.
    pub min_isv_svn: Option<u16>,
    /// TCB statuses, advisories and debug.
    pub appraisal: AppraisalPolicy,
    /// The sim root to verify sim quotes with; `None` refuses sim evidence.
    pub sim: Option<SimVerifier>,
    /// Where DCAP collateral for real quotes comes from.
    pub collateral: Option<CollateralSource>,
}

impl RaTlsPolicy {
    /// Require this MRENCLAVE.
    #[must_use]
    pub fn expect_mrenclave(mut self, mrenclave: [u8; 32]) -> Self {
        self.mrenclave = Some(mrenclave);
        self
    }

    /// Require this MRSIGNER.
    #[must_use]
    pub fn expect_mrsigner(mut self, mrsigner: [u8; 32]) -> Self {
        self.mrsigner = Some(mrsigner);
        self
    }

    /// Require this MRTD.
    #[must_use]
    pub fn expect_mrtd(mut self, mrtd: [u8; 48]) -> Self {
        self.mrtd = Some(mrtd);
        self
    }

    /// Require this ISV product id.
    #[must_use]
    pub fn expect_isv_prod_id(mut self, id: u16) -> Self {
        self.isv_prod_id = Some(id);
        self
    }

    /// Require at least this ISV SVN.
    #[must_use]
    pub fn min_isv_svn(mut self, svn: u16) -> Self {
        self.min_isv_svn = Some(svn);
        self
    }

    /// Accept (or refuse) debug enclaves.
    #[must_use]
    pub fn allow_debug(mut self, allow: bool) -> Self {
        self.appraisal.allow_debug = allow;
        self
    }

    /// Accept sim evidence chained to this sim root.
    #[must_use]
    pub fn allow_sim(mut self, root: SimVerifier) -> Self {
        self.sim = Some(root);
        self
    }

    /// Verify real quotes with collateral from `source`.
    #[must_use]
    pub fn with_collateral(mut self, source: CollateralSource) -> Self {
        self.collateral = Some(source);
        self
    }

    /// Use this appraisal policy (TCB statuses, advisories, debug).
    #[must_use]
    pub fn with_appraisal(mut self, appraisal: AppraisalPolicy) -> Self {
        self.appraisal = appraisal;
        self
    }

    fn check_identity(&self, claims: &Claims) -> Result<(), RaTlsError> {
        fn check<const N: usize>(
            field: &'static str,
            expected: Option<&[u8; N]>,
            found: Option<&[u8; N]>,
        ) -> Result<(), RaTlsError> {
            match (expected, found) {
                (None, _) => Ok(()),
                (Some(e), Some(f)) if e == f => Ok(()),
                (Some(e), f) => Err(RaTlsError::Mismatch {
                    field,
                    expected: hex::encode(e),
                    found: f.map_or_else(|| "(absent)".to_owned(), hex::encode),
                }),
            }
        }
        let (mrenclave, mrsigner, mrtd) = match &claims.measurements {
            Measurements::Sgx {
                mrenclave,
                mrsigner,
            } => (Some(mrenclave), Some(mrsigner), None),
            Measurements::Tdx { mrtd, .. } => (None, None, Some(mrtd)),
            _ => (None, None, None),
        };
        check("mrenclave", self.mrenclave.as_ref(), mrenclave)?;
        check("mrsigner", self.mrsigner.as_ref(), mrsigner)?;
        check("mrtd", self.mrtd.as_ref(), mrtd)?;
        if let Some(expected) = self.isv_prod_id {
            if claims.isv_prod_id != Some(expected) {
                return Err(RaTlsError::Mismatch {
                    field: "isv_prod_id",
                    expected: expected.to_string(),
                    found: claims
                        .isv_prod_id
                        .map_or_else(|| "(absent)".to_owned(), |id| id.to_string()),
                });
            }
        }
        if let Some(min) = self.min_isv_svn {
            let svn = claims.isv_svn.unwrap_or(0);
            if svn < min {
                return Err(RaTlsError::SvnTooLow { svn, min });
            }
        }
        Ok(())
    }
}

/// Verifies RA-TLS certificates against a [`RaTlsPolicy`]; wrap it in
/// [`RaTlsServerVerifier`] or [`RaTlsClientVerifier`] for rustls.
#[derive(Debug, Clone)]
pub struct RaTlsVerifier {
    policy: RaTlsPolicy,
    provider: Arc<CryptoProvider>,
}

impl RaTlsVerifier {
    /// A verifier with this policy, using rustls' ring provider for handshake signatures.
    pub fn new(policy: RaTlsPolicy) -> Self {
        Self {
            policy,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RaTlsPolicy {
        &self.policy
    }

    /// Verify a certificate (DER) at `now`; return the verified claims of its evidence.
    pub fn verify_cert(&self, der: &[u8], now: SystemTime) -> Result<Claims, RaTlsError> {
        let cert = parse_x509(der)?;
        cert.verify_signature(None)
            .map_err(|e| RaTlsError::Signature {
                reason: e.to_string(),
            })?;
        let validity = cert.validity();
        let (not_before, not_after) = (
            validity.not_before.to_datetime(),
            validity.not_after.to_datetime(),
        );
        let at = dcap::to_datetime(now).map_err(|_| RaTlsError::Time)?;
        if at < not_before || at > not_after {
            return Err(RaTlsError::Expired {
                not_before: dcap::rfc3339(not_before),
                not_after: dcap::rfc3339(not_after),
                now: dcap::rfc3339(at),
            });
        }
        let ratls = RaTlsCert::parse_der(der)?;
        ratls.check_binding()?;
        let claims = self.verify_quote(&ratls.quote, now)?;
        if let Verdict::Rejected(reason) = self.policy.appraisal.appraise(&claims) {
            return Err(RaTlsError::Rejected(reason));
        }
        self.policy.check_identity(&claims)?;
        if claims.tee == TeeKind::Sim {
            tracing::debug!(tee = "sim", "ra-tls peer accepted with sim evidence");
        }
        Ok(claims)
    }

    fn verify_quote(&self, quote: &[u8], now: SystemTime) -> Result<Claims, RaTlsError> {
        let parsed = Quote::parse(quote).map_err(RaTlsError::Quote)?;
        let intel_rooted = parsed
            .pck_chain()
            .is_ok_and(|chain| chain.last().map(Vec::as_slice) == Some(INTEL_SGX_ROOT_CA_DER));
        let tee = claimed_tee(&parsed);
        if tee == TeeKind::Sim || (tee == TeeKind::Sgx && !intel_rooted) {
            return match &self.policy.sim {
                Some(sim) => sim.verify(quote, now).map_err(RaTlsError::Sim),
                None if tee == TeeKind::Sim => Err(RaTlsError::SimNotAllowed),
                None => Err(RaTlsError::Dcap(DcapError::NotIntelRoot {
                    root_subject: parsed
                        .pck_chain()
                        .ok()
                        .and_then(|c| c.last().map(|der| dcap::subject_of(der)))
                        .unwrap_or_default(),
                })),
            };
        }
        let source = self
            .policy
            .collateral
            .as_ref()
            .ok_or(RaTlsError::NoCollateral { tee })?;
        let collateral = source
            .collateral_for(quote, now)
            .map_err(RaTlsError::Collateral)?;
        dcap::verify(quote, &collateral, now).map_err(RaTlsError::Dcap)
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }

    /// [`Self::verify_cert`] as both rustls verifiers need it: a refusal is logged with its
    /// causes (`peer` says which side presented the certificate) and becomes rustls' error.
    fn verify_peer(
        &self,
        end_entity: &CertificateDer<'_>,
        now: UnixTime,
        peer: &'static str,
    ) -> Result<(), rustls::Error> {
        self.verify_cert(end_entity.as_ref(), system_time(now))
            .map(drop)
            .map_err(|e| {
                tracing::debug!(peer, error = %crate::report::chain_text(&e), "ra-tls certificate refused");
                rustls::Error::from(e)
            })
    }

    /// The signature algorithms both verifiers check the handshake with.
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.provider.signature_verification_algorithms
    }
}

fn system_time(now: UnixTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(now.as_secs())
}

/// rustls server-certificate verifier (used by clients): RA-TLS evidence instead of a CA.
#[derive(Debug, Clone)]
pub struct RaTlsServerVerifier(pub RaTlsVerifier);

impl ServerCertVerifier for RaTlsServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0.verify_peer(end_entity, now, "server")?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, self.0.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, self.0.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

/// rustls client-certificate verifier (used by servers): mutual RA-TLS. Client certificates
/// are mandatory.
#[derive(Debug, Clone)]
pub struct RaTlsClientVerifier(pub RaTlsVerifier);

impl ClientCertVerifier for RaTlsClientVerifier {
    fn root_hint_subjects(&self) -> &[TlsName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.verify_peer(end_entity, now, "client")?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, self.0.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, self.0.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.schemes()
    }
}

/// A rustls server configuration presenting `identity`; with `clients`, mutual RA-TLS
/// (client certificates required and verified), else no client authentication.
pub fn server_config(
    identity: &RaTlsIdentity,
    clients: Option<RaTlsVerifier>,
) -> Result<rustls::ServerConfig, RaTlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(RaTlsError::Tls)?;
    let builder = match clients {
        Some(verifier) => {
            builder.with_client_cert_verifier(Arc::new(RaTlsClientVerifier(verifier)))
        }
        None => builder.with_no_client_auth(),
    };
    let (chain, key) = identity.rustls_parts();
    builder
        .with_single_cert(chain, key)
        .map_err(RaTlsError::Tls)
}

/// A rustls client configuration verifying the server with `server`; with `identity`, it
/// presents that certificate for mutual RA-TLS. Any server name may be used to connect.
pub fn client_config(
    server: RaTlsVerifier,
    identity: Option<&RaTlsIdentity>,
) -> Result<rustls::ClientConfig, RaTlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(RaTlsError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RaTlsServerVerifier(server)));
    match identity {
        Some(identity) => {
            let (chain, key) = identity.rustls_parts();
            builder
                .with_client_auth_cert(chain, key)
                .map_err(RaTlsError::Tls)
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

// ---------------------------------------------------------------------------------------------
// Inspection (CLI: `rune enclave inspect-cert`)
// ---------------------------------------------------------------------------------------------

/// What an RA-TLS certificate claims, without verifying the quote (no collateral needed).
///
/// Serialises as one JSON object: `format`, `oid`, `tee` (`sgx`, `tdx`, `sim`), the
/// measurements (`mrenclave`/`mrsigner` or `mrtd`/`rtmr0..3`), `isv_prod_id`, `isv_svn`,
/// `debug`, `report_data` (hex), `pubkey_bound` and, when it is false, `binding_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInspection {
    /// Which extension carried the evidence.
    pub format: EvidenceFormat,
    /// That extension's OID.
    pub oid: &'static str,
    /// The TEE the quote claims (`sim` when the sim QE made it).
    pub tee: TeeKind,
    /// The measurement registers in the quote.
    #[serde(flatten)]
    pub measurements: Measurements,
    /// ISV product id (SGX, sim).
    pub isv_prod_id: Option<u16>,
    /// ISV SVN (SGX, sim).
    pub isv_svn: Option<u16>,
    /// Whether the enclave or TD is in debug mode.
    pub debug: bool,
    /// The quote's REPORTDATA.
    #[serde(with = "hex_array")]
    pub report_data: [u8; 64],
    /// Whether REPORTDATA binds the certificate's public key (through the claims for DICE).
    pub pubkey_bound: bool,
    /// Why the key is not bound, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_error: Option<String>,
}

impl CertInspection {
    /// The inspection as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        // Plain data with string keys: serialising into a Value cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Inspect an RA-TLS certificate (PEM or DER): the evidence it carries and whether its key is
/// bound. The quote's signature is not verified here; use [`RaTlsVerifier::verify_cert`].
pub fn inspect_cert(pem_or_der: &[u8]) -> Result<CertInspection, RaTlsError> {
    let cert = RaTlsCert::parse(pem_or_der)?;
    let quote = cert.parsed_quote()?;
    let tee = claimed_tee(&quote);
    let (measurements, isv_prod_id, isv_svn, debug, report_data) =
        match (quote.sgx_body(), quote.td_body()) {
            (Some(body), _) => (
                Measurements::Sgx {
                    mrenclave: body.mr_enclave,
                    mrsigner: body.mr_signer,
                },
                Some(body.isv_prod_id),
                Some(body.isv_svn),
                body.debug(),
                body.report_data,
            ),
            (None, Some(body)) => (
                Measurements::Tdx {
                    mrtd: body.mr_td,
                    rtmr0: body.rtmr[0],
                    rtmr1: body.rtmr[1],
                    rtmr2: body.rtmr[2],
                    rtmr3: body.rtmr[3],
                },
                None,
                None,
                body.debug(),
                body.report_data,
            ),
            (None, None) => (Measurements::None {}, None, None, false, [0; 64]),
        };
    let binding = cert.check_binding();
    Ok(CertInspection {
        format: cert.format,
        oid: cert.format.oid(),
        tee,
        measurements,
        isv_prod_id,
        isv_svn,
        debug,
        report_data,
        pubkey_bound: binding.is_ok(),
        binding_error: binding.err().map(|e| crate::report::chain_text(&e)),
    })
}

/// Entry points for fuzzing and property tests: every parser of hostile bytes in this module.
#[doc(hidden)]
pub mod fuzzing {
    /// Run every RA-TLS parser on `data`; they must return, never panic.
    pub fn parse_all(data: &[u8]) {
        let _ = super::TaggedEvidence::parse(data);
        let _ = super::parse_claims(data);
        let _ = super::parse_pubkey_hash(data);
        if let Ok(cert) = super::RaTlsCert::parse(data) {
            let _ = cert.check_binding();
        }
        let _ = super::inspect_cert(data);
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_evidence_matches_rats_rs_encoding() {
        // The known answer of rats-rs `test_generate_evidence_buffer_with_tag`.
        let tagged = TaggedEvidence {
            tag: 60000,
            evidence: vec![1, 2, 3, 4],
            claims_buffer: vec![5, 6, 7, 8],
        };
        assert_eq!(hex::encode(tagged.encode()), "d9ea608244010203044405060708");
        assert_eq!(TaggedEvidence::parse(&tagged.encode()).unwrap(), tagged);
    }

    #[test]
    fn claims_match_gramine_and_rats_rs_layout() {
        let claims = encode_claims(HashAlgorithm::Sha256, &[0xaa; 32], &[]);
        // map(1) "pubkey-hash" bytes(36) [1, bytes(32)]: the prefix Gramine writes.
        let mut expected = b"\xa1\x6bpubkey-hash\x58\x24\x82\x01\x58\x20".to_vec();
        expected.extend_from_slice(&[0xaa; 32]);
        assert_eq!(claims, expected);
        let parsed = parse_claims(&claims).unwrap();
        assert_eq!(parsed.len(), 1);
        let (alg, hash) = parse_pubkey_hash(&parsed[0].1).unwrap();
        assert_eq!(alg, HashAlgorithm::Sha256);
        assert_eq!(hash, vec![0xaa; 32]);
        // rats-rs `test_generate_pubkey_hash_value_buffer`.
        assert_eq!(
            hex::encode(cbor_encode(&Value::Array(vec![
                Value::Integer(1.into()),
                Value::Bytes(vec![0, 1, 2, 3])
            ]))),
            "82014400010203"
        );
    }

    #[test]
    fn cbor_errors_are_clear() {
        let err = TaggedEvidence::parse(b"\xd9\xea\x60\x82\x41\x00\x41\x00\x00").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tagged evidence cbor: 1 bytes after the end"
        );
        let err = parse_claims(b"\xa2\x61a\x40\x61a\x40").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid claims buffer cbor: claim \"a\" appears twice"
        );
        let err = parse_pubkey_hash(b"\x82\x02\x40").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported pubkey-hash algorithm id 2: expected 1 (sha-256), 7 (sha-384) or 8 (sha-512)"
        );
    }

    #[test]
    fn huge_declared_lengths_fail_without_allocating() {
        // A byte string, an array and a map announcing 2^64-1 items inside 13 bytes.
        for head in [0x5b, 0x9b, 0xbb] {
            let mut input = vec![0xd9, 0xea, 0x60, 0x82, head];
            input.extend_from_slice(&[0xff; 8]);
            assert!(TaggedEvidence::parse(&input).is_err());
            assert!(parse_claims(&input[4..]).is_err());
        }
        // Deep nesting is bounded by ciborium's recursion limit, not the stack.
        let nested = vec![0x81; 100_000];
        assert!(parse_claims(&nested).is_err());
    }

    #[test]
    fn refusals_survive_the_trip_through_rustls() {
        let err = rustls::Error::from(RaTlsError::SimNotAllowed);
        assert!(matches!(ratls_error(&err), Some(RaTlsError::SimNotAllowed)));
        let err = rustls::Error::from(RaTlsError::Signature { reason: "x".into() });
        assert!(ratls_error(&err).is_none());
    }

    #[test]
    fn oid_contents() {
        let der = |arcs: &[u64]| {
            let ext = CustomExtension::from_oid_content(arcs, vec![]);
            ext.oid_components().collect::<Vec<_>>()
        };
        assert_eq!(
            der(OID_GRAMINE_MISENCODED_QUOTE),
            OID_GRAMINE_MISENCODED_QUOTE
        );
        assert_eq!(EvidenceFormat::TcgDice.oid(), "2.23.133.5.4.9");
    }
}
