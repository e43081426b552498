//! The software TEE's quotes: sim PKI, quote generation and verification.
//!
//! A sim quote has the DCAP v3 layout (DESIGN §3.4), so the attestation path is one code path:
//! 48-byte header (version 3, att_key_type 2 = ECDSA-P256, tee_type 0 = SGX), the enclave's
//! 384-byte report body, then the ECDSA signature data: signature over header and body by the
//! attestation key, the attestation public key, a QE report whose REPORTDATA[0..32] is
//! SHA-256(attestation key || QE auth data), its signature by the sim PCK key, the QE auth data
//! and certification data type 5 (PEM chain: sim PCK certificate, sim root CA).
//!
//! Differences from Intel, all deliberate so a sim quote can never pass for hardware: the QE
//! vendor id is [`SIM_QE_VENDOR_ID`], the chain ends at a per-host sim root CA, and the
//! verifier ([`SimVerifier`]) accepts only a root it was explicitly given. Its claims say
//! `tee: sim`.
//!
//! Attestation key lifetime: one key per [`SimQuoter`] (per boot of the host's software QE),
//! like Intel's QE3, which generates its key at start-up. The QE report that certifies it is
//! signed once, and each quote costs one ECDSA signature.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::claims::{Claims, Measurements, TcbStatus, TeeKind};
use crate::dcap::{rfc3339, subject_of, to_datetime};
use crate::quote::{
    self, Quote, QuoteError, ATT_KEY_TYPE_ECDSA_P256, CERT_TYPE_PCK_CHAIN, HEADER_LEN,
    SGX_REPORT_BODY_LEN, TEE_TYPE_SGX,
};

/// QE vendor id of sim quotes: ASCII `RUNE-SIM-QE-V1` and two NULs. Not Intel's, so no Intel
/// verifier mistakes a sim quote for its own.
pub const SIM_QE_VENDOR_ID: [u8; 16] = *b"RUNE-SIM-QE-V1\0\0";
/// MRENCLAVE of the sim quoting "enclave": SHA-256 of `rune sim quoting enclave v1`.
const SIM_QE_LABEL: &[u8] = b"rune sim quoting enclave v1";
/// QE authentication data of sim quotes (hashed into the QE report, as Intel's QE does).
const SIM_QE_AUTH_DATA: &[u8; 32] = b"rune sim qe authentication data.";
/// Validity of the sim PKI certificates.
const SIM_CERT_LIFETIME: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// Longest PCK chain accepted (Intel's is 3: PCK, platform/processor CA, root).
const MAX_CHAIN_LEN: usize = 4;
/// First bytes of an exported [`SimQuoter`].
pub const EXPORT_MAGIC: &[u8] = b"rune sim quoter v1\n";

/// Why sim PKI generation, quoting or verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Generating or encoding a key or certificate failed.
    #[error("generating the sim {what}")]
    Generate {
        /// What was being generated.
        what: &'static str,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A PEM input is not what it should be.
    #[error("invalid sim {what} pem: {reason}")]
    Pem {
        /// Which input.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Signing with a sim key failed.
    #[error("signing with the sim {what} key failed")]
    Sign {
        /// Which key.
        what: &'static str,
    },
    /// The report body to quote is not 384 bytes.
    #[error("report body is {len} bytes: expected 384")]
    ReportBodyLength {
        /// Its length.
        len: usize,
    },
    /// The quote is malformed.
    #[error("invalid quote")]
    Quote(#[from] QuoteError),
    /// The quote is not in the sim layout (v3, SGX).
    #[error("not a sim quote: version {version}, tee_type {tee_type:#x} (sim quotes are version 3, tee_type 0)")]
    Layout {
        /// Quote version.
        version: u16,
        /// TEE type.
        tee_type: u32,
    },
    /// The chain ends at a certificate other than the configured sim root.
    #[error("pck certificate chain ends at {subject:?}, not at the configured sim root ca{hint}")]
    NotSimRoot {
        /// Subject of the chain's last certificate.
        subject: String,
        /// Extra advice for a real Intel quote.
        hint: &'static str,
    },
    /// The QE vendor id is not the sim's.
    #[error("qe vendor id {found} is not the sim qe's ({expected})")]
    VendorId {
        /// Found, hex.
        found: String,
        /// Expected, hex.
        expected: String,
    },
    /// A certificate in the chain is invalid.
    #[error("sim certificate chain: certificate {index} ({subject:?}) {reason}")]
    Chain {
        /// Position in the chain, 0 = PCK leaf.
        index: usize,
        /// Its subject.
        subject: String,
        /// What is wrong.
        reason: String,
    },
    /// The QE report is not signed by the PCK key.
    #[error("qe report signature is not valid for the pck certificate's key")]
    QeReportSignature,
    /// The QE report is not from the sim QE.
    #[error("qe report mrenclave {found} is not the sim qe's")]
    QeIdentity {
        /// MRENCLAVE found, hex.
        found: String,
    },
    /// The QE report does not bind the attestation key.
    #[error("qe report data does not match sha-256(attestation key || qe auth data)")]
    AttestationKeyBinding,
    /// The quote signature is not valid for the attestation key.
    #[error("quote signature over header and report body is not valid for the attestation key")]
    QuoteSignature,
    /// The verification time is before 1970.
    #[error("verification time is before the unix epoch")]
    Time,
}

/// The per-host sim PKI: a root CA and the "PCK" certificate it issues, with their keys.
///
/// Serialise with the `*_pem` accessors; the caller stores them in a root-only directory.
/// The keys are zeroized on drop and never printed by `Debug`.
#[derive(Clone)]
pub struct SimPki {
    root_cert_pem: String,
    root_key_pem: Zeroizing<String>,
    pck_cert_pem: String,
    pck_key_pem: Zeroizing<String>,
    /// The PCK key, parsed and checked against its certificate once (a P-256 key pair costs a
    /// point multiplication to build, and every sim enclave start certifies a quoter with it).
    pck: Arc<PckSigner>,
}

/// The sim PCK signing key and its certificate (DER), checked to belong together.
struct PckSigner {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
}

impl fmt::Debug for SimPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimPki")
            .field("root_cert_pem", &self.root_cert_pem)
            .field("root_key_pem", &"<redacted>")
            .field("pck_cert_pem", &self.pck_cert_pem)
            .field("pck_key_pem", &"<redacted>")
            .finish()
    }
}

impl SimPki {
    /// Generate a fresh root CA and PCK certificate (ECDSA P-256), valid for 20 years from
    /// `now`. `host` goes into the subjects so roots of different hosts are told apart.
    pub fn generate(host: &str, now: SystemTime) -> Result<Self, SimError> {
        let gen = |what| move |source| SimError::Generate { what, source };
        let not_before = to_datetime(now).map_err(|_| SimError::Time)?;
        let not_after = not_before + SIM_CERT_LIFETIME;

        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen("root key"))?;
        let mut root = CertificateParams::default();
        root.distinguished_name = name(&format!(
            "rune sim root CA (software TEE, not Intel) {host}"
        ));
        root.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        root.not_before = not_before;
        root.not_after = not_after;
        let root_cert = root
            .self_signed(&root_key)
            .map_err(gen("root certificate"))?;

        let pck_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen("pck key"))?;
        let mut pck = CertificateParams::default();
        pck.distinguished_name = name(&format!("rune sim PCK certificate (software TEE) {host}"));
        pck.is_ca = IsCa::ExplicitNoCa;
        pck.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        pck.not_before = not_before;
        pck.not_after = not_after;
        let issuer = Issuer::new(root, &root_key);
        let pck_cert = pck
            .signed_by(&pck_key, &issuer)
            .map_err(gen("pck certificate"))?;

        let pck_cert_pem = pck_cert.pem();
        let pck_key_pem = Zeroizing::new(pck_key.serialize_pem());
        let pck = Arc::new(pck_signer(&pck_key_pem, &pck_cert_pem)?);
        Ok(Self {
            root_cert_pem: root_cert.pem(),
            root_key_pem: Zeroizing::new(root_key.serialize_pem()),
            pck_cert_pem,
            pck_key_pem,
            pck,
        })
    }

    /// Load a stored PKI, checking that each PEM parses and the PCK key matches its certificate.
    pub fn from_pem(
        root_cert_pem: &str,
        root_key_pem: &str,
        pck_cert_pem: &str,
        pck_key_pem: &str,
    ) -> Result<Self, SimError> {
        single_cert("root certificate", root_cert_pem)?;
        // The root key only issues certificates when the PKI is generated: a PKCS#8 document
        // is all a load checks (building the key pair would cost a point multiplication).
        pkcs8_of("root key", root_key_pem)?;
        // The PCK key and certificate must belong together.
        let pck = Arc::new(pck_signer(pck_key_pem, pck_cert_pem)?);
        Ok(Self {
            root_cert_pem: root_cert_pem.to_owned(),
            root_key_pem: Zeroizing::new(root_key_pem.to_owned()),
            pck_cert_pem: pck_cert_pem.to_owned(),
            pck_key_pem: Zeroizing::new(pck_key_pem.to_owned()),
            pck,
        })
    }

    /// The root CA certificate (PEM): the only thing a verifier needs.
    pub fn root_cert_pem(&self) -> &str {
        &self.root_cert_pem
    }

    /// The root CA private key (PKCS#8 PEM). Secret: store it root-only.
    pub fn root_key_pem(&self) -> &str {
        &self.root_key_pem
    }

    /// The sim PCK certificate (PEM).
    pub fn pck_cert_pem(&self) -> &str {
        &self.pck_cert_pem
    }

    /// The sim PCK private key (PKCS#8 PEM). Secret: store it root-only.
    pub fn pck_key_pem(&self) -> &str {
        &self.pck_key_pem
    }
}

/// The sim quoting "enclave": signs quotes over report bodies with a per-boot attestation key.
pub struct SimQuoter {
    attestation_key: EcdsaKeyPair,
    /// The attestation key's PKCS#8 document, kept for [`SimQuoter::export`].
    attestation_pkcs8: Zeroizing<Vec<u8>>,
    /// Everything after the ISV signature: attestation key, QE report, its signature, QE auth
    /// data and certification data. Fixed for the quoter's lifetime.
    signature_tail: Vec<u8>,
    user_data: [u8; 20],
    rng: SystemRandom,
}

impl fmt::Debug for SimQuoter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimQuoter")
            .field(
                "attestation_key",
                &hex::encode(self.attestation_key.public_key()),
            )
            .finish_non_exhaustive()
    }
}

impl SimQuoter {
    /// Start a quoter: generate its attestation key and have the PCK key certify it.
    pub fn new(pki: &SimPki) -> Result<Self, SimError> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let PckSigner {
            key: pck_key,
            cert_der: pck_der,
        } = &*pki.pck;

        let att_pkcs8 = Zeroizing::new(
            EcdsaKeyPair::generate_pkcs8(alg, &rng)
                .map_err(|_| SimError::Sign {
                    what: "attestation",
                })?
                .as_ref()
                .to_vec(),
        );
        let attestation_key =
            EcdsaKeyPair::from_pkcs8(alg, &att_pkcs8, &rng).map_err(|_| SimError::Sign {
                what: "attestation",
            })?;
        // Uncompressed SEC1 point 0x04 || x || y; the quote carries x || y.
        let att_pub = attestation_key
            .public_key()
            .as_ref()
            .get(1..)
            .unwrap_or_default();

        let qe_report = sim_qe_report(att_pub, pck_der);
        let qe_sig = pck_key
            .sign(&rng, &qe_report)
            .map_err(|_| SimError::Sign { what: "pck" })?;
        let chain = format!(
            "{}{}",
            ensure_newline(&pki.pck_cert_pem),
            ensure_newline(&pki.root_cert_pem)
        );

        let mut tail = Vec::with_capacity(64 + 384 + 64 + 2 + 32 + 6 + chain.len());
        tail.extend_from_slice(att_pub);
        tail.extend_from_slice(&qe_report);
        tail.extend_from_slice(qe_sig.as_ref());
        tail.extend_from_slice(&len_u16(SIM_QE_AUTH_DATA.len()).to_le_bytes());
        tail.extend_from_slice(SIM_QE_AUTH_DATA);
        tail.extend_from_slice(&CERT_TYPE_PCK_CHAIN.to_le_bytes());
        tail.extend_from_slice(&len_u32(chain.len())?.to_le_bytes());
        tail.extend_from_slice(chain.as_bytes());

        let mut user_data = [0u8; 20];
        user_data.copy_from_slice(&sha256(pck_der)[..20]);
        Ok(Self {
            attestation_key,
            attestation_pkcs8: att_pkcs8,
            signature_tail: tail,
            user_data,
            rng,
        })
    }

    /// Serialises the quoter (its attestation key and certified tail) so another process can
    /// quote with it, as a QE instance's attestation key is handed to the process that quotes:
    /// the PCK and root keys are not in it. Secret: whoever holds it signs sim quotes of this
    /// host until the PCK certificate expires.
    ///
    /// Layout: [`EXPORT_MAGIC`], then the PKCS#8 key, the signature tail and the 20 bytes of
    /// QE user data, each of the first two prefixed by its length as a little-endian u32.
    pub fn export(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            EXPORT_MAGIC.len() + 8 + self.attestation_pkcs8.len() + self.signature_tail.len() + 20,
        ));
        for part in [self.attestation_pkcs8.as_slice(), &self.signature_tail] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(part);
        }
        out.splice(0..0, EXPORT_MAGIC.iter().copied());
        out.extend_from_slice(&self.user_data);
        out
    }

    /// Loads a quoter [`SimQuoter::export`] wrote. The bytes come from the host that made
    /// them, but are still checked: lengths bounded, nothing left over, the key parses.
    pub fn import(bytes: &[u8]) -> Result<Self, SimError> {
        let malformed = |reason: &str| SimError::Pem {
            what: "exported quoter",
            reason: reason.to_owned(),
        };
        let mut rest = bytes
            .strip_prefix(EXPORT_MAGIC)
            .ok_or_else(|| malformed("bad magic"))?;
        let mut take = |what: &str| -> Result<Vec<u8>, SimError> {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| malformed(&format!("{what} length cut short")))?;
            let len = usize::try_from(u32::from_le_bytes(*len))
                .map_err(|_| malformed(&format!("{what} length too large")))?;
            if len > tail.len() {
                return Err(malformed(&format!("{what} cut short")));
            }
            let (part, tail) = tail.split_at(len);
            rest = tail;
            Ok(part.to_vec())
        };
        let pkcs8 = Zeroizing::new(take("attestation key")?);
        let signature_tail = take("signature tail")?;
        let user_data: [u8; 20] = rest
            .try_into()
            .map_err(|_| malformed("qe user data is not 20 bytes"))?;
        let rng = SystemRandom::new();
        let attestation_key =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
                .map_err(|e| malformed(&format!("attestation key: {e}")))?;
        // The tail starts with the attestation public key the QE report certifies: a key that
        // does not match it would only make quotes that fail verification, so refuse early.
        let public = attestation_key
            .public_key()
            .as_ref()
            .get(1..)
            .unwrap_or_default();
        if signature_tail.get(..64) != Some(public) {
            return Err(malformed(
                "attestation key does not match the certified public key",
            ));
        }
        Ok(Self {
            attestation_key,
            attestation_pkcs8: pkcs8,
            signature_tail,
            user_data,
            rng,
        })
    }

    /// Produce a quote over a 384-byte SGX report body (`sgx_report_body_t`).
    pub fn quote(&self, report_body: &[u8]) -> Result<Vec<u8>, SimError> {
        let body: &[u8; SGX_REPORT_BODY_LEN] =
            report_body
                .try_into()
                .map_err(|_| SimError::ReportBodyLength {
                    len: report_body.len(),
                })?;
        let mut out = Vec::with_capacity(
            HEADER_LEN + SGX_REPORT_BODY_LEN + 4 + 64 + self.signature_tail.len(),
        );
        out.extend_from_slice(&3u16.to_le_bytes());
        out.extend_from_slice(&ATT_KEY_TYPE_ECDSA_P256.to_le_bytes());
        out.extend_from_slice(&TEE_TYPE_SGX.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // qe_svn
        out.extend_from_slice(&0u16.to_le_bytes()); // pce_svn
        out.extend_from_slice(&SIM_QE_VENDOR_ID);
        out.extend_from_slice(&self.user_data);
        out.extend_from_slice(body);
        let signature = self
            .attestation_key
            .sign(&self.rng, &out)
            .map_err(|_| SimError::Sign {
                what: "attestation",
            })?;
        let sig_len = len_u32(64 + self.signature_tail.len())?;
        out.extend_from_slice(&sig_len.to_le_bytes());
        out.extend_from_slice(signature.as_ref());
        out.extend_from_slice(&self.signature_tail);
        Ok(out)
    }
}

/// Verifies sim quotes against one explicitly configured sim root CA.
///
/// A quoter's certification data (PCK chain, QE report and its signature) is the same in every
/// quote it signs, so a verifier remembers the ones it verified (shared by its clones): a
/// repeat costs one ECDSA verification, the quote's, with the chain's validity window
/// re-checked at every use.
#[derive(Debug, Clone)]
pub struct SimVerifier {
    root_der: Vec<u8>,
    verified_tails: Arc<Mutex<HashMap<[u8; 32], ValidityWindow>>>,
}

/// When every certificate of a verified chain is valid.
#[derive(Debug, Clone, Copy)]
struct ValidityWindow {
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
}

/// Verified certification tails kept; past it the memory starts over (quoters are long-lived,
/// so the set is small in practice).
const MAX_VERIFIED_TAILS: usize = 4096;

impl SimVerifier {
    /// A verifier that trusts exactly this sim root certificate (PEM).
    pub fn new(root_cert_pem: &str) -> Result<Self, SimError> {
        Ok(Self {
            root_der: single_cert("root certificate", root_cert_pem)?,
            verified_tails: Arc::default(),
        })
    }

    /// The configured root certificate (DER).
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// Whether a quote's PCK chain ends at this verifier's root (without verifying anything).
    pub fn is_rooted_here(&self, quote: &[u8]) -> bool {
        Quote::parse(quote)
            .and_then(|q| q.pck_chain())
            .is_ok_and(|chain| chain.last() == Some(&self.root_der))
    }

    /// Verify a sim quote at time `now`: chain to the configured root, QE report signature,
    /// attestation key binding, quote signature.
    pub fn verify(&self, quote: &[u8], now: SystemTime) -> Result<Claims, SimError> {
        let parsed = Quote::parse(quote)?;
        if parsed.header.version != 3 || parsed.header.tee_type != TEE_TYPE_SGX {
            return Err(SimError::Layout {
                version: parsed.header.version,
                tee_type: parsed.header.tee_type,
            });
        }
        let chain = parsed.pck_chain()?;
        let root = chain.last().map(Vec::as_slice).unwrap_or_default();
        if root != self.root_der.as_slice() {
            let hint = if root == crate::dcap::INTEL_SGX_ROOT_CA_DER {
                ": this is a real intel quote, verify it with dcap collateral"
            } else {
                ""
            };
            return Err(SimError::NotSimRoot {
                subject: subject_of(root),
                hint,
            });
        }
        if parsed.header.qe_vendor_id != SIM_QE_VENDOR_ID {
            return Err(SimError::VendorId {
                found: hex::encode(parsed.header.qe_vendor_id),
                expected: hex::encode(SIM_QE_VENDOR_ID),
            });
        }
        let sig = &parsed.signature;
        let tail_key = {
            let mut tail = Vec::with_capacity(4096);
            for der in &chain {
                tail.extend_from_slice(der);
            }
            tail.extend_from_slice(sig.qe_report);
            tail.extend_from_slice(sig.qe_report_signature);
            sha256(&tail)
        };
        let at = to_datetime(now).map_err(|_| SimError::Time)?;
        let known = self
            .verified_tails
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&tail_key)
            .copied();
        match known {
            Some(window) if window.not_before <= at && at <= window.not_after => {}
            _ => {
                let (pck_pub, window) = verify_chain(&chain, now)?;
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &pck_pub)
                    .verify(sig.qe_report, sig.qe_report_signature)
                    .map_err(|_| SimError::QeReportSignature)?;
                let mut tails = self
                    .verified_tails
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                if tails.len() >= MAX_VERIFIED_TAILS {
                    tails.clear();
                }
                tails.insert(tail_key, window);
            }
        }
        let qe = quote::SgxReportBody::parse(sig.qe_report);
        if qe.mr_enclave != sha256(SIM_QE_LABEL) {
            return Err(SimError::QeIdentity {
                found: hex::encode(qe.mr_enclave),
            });
        }
        let mut bound = Vec::with_capacity(64 + sig.qe_auth_data.len());
        bound.extend_from_slice(sig.attestation_key);
        bound.extend_from_slice(sig.qe_auth_data);
        if qe.report_data[..32] != sha256(&bound) || qe.report_data[32..] != [0u8; 32] {
            return Err(SimError::AttestationKeyBinding);
        }
        let mut att_pub = [0x04u8; 65];
        att_pub[1..].copy_from_slice(sig.attestation_key);
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &att_pub)
            .verify(parsed.signed, sig.isv_signature)
            .map_err(|_| SimError::QuoteSignature)?;

        let body = parsed.sgx_body().ok_or(SimError::Layout {
            version: parsed.header.version,
            tee_type: parsed.header.tee_type,
        })?;
        tracing::debug!(tee = "sim", "sim quote verified");
        Ok(Claims {
            tee: TeeKind::Sim,
            measurements: Measurements::Sgx {
                mrenclave: body.mr_enclave,
                mrsigner: body.mr_signer,
            },
            isv_prod_id: Some(body.isv_prod_id),
            isv_svn: Some(body.isv_svn),
            debug: body.debug(),
            // The sim has no TCB to evaluate; `tee: sim` is what marks it as no hardware.
            tcb_status: TcbStatus::UpToDate,
            advisory_ids: Vec::new(),
            report_data: body.report_data,
        })
    }
}

/// Check leaf → … → root signatures, validity at `now` and CA flags; return the leaf's public
/// key (SEC1 uncompressed).
/// Verifies the chain at `now`; returns the leaf's public key and when the whole chain is valid.
fn verify_chain(chain: &[Vec<u8>], now: SystemTime) -> Result<(Vec<u8>, ValidityWindow), SimError> {
    let now = to_datetime(now).map_err(|_| SimError::Time)?;
    if chain.len() < 2 || chain.len() > MAX_CHAIN_LEN {
        return Err(SimError::Chain {
            index: 0,
            subject: String::new(),
            reason: format!(
                "chain has {} certificates: expected 2 to {MAX_CHAIN_LEN}",
                chain.len()
            ),
        });
    }
    let mut certs = Vec::with_capacity(chain.len());
    let mut window: Option<ValidityWindow> = None;
    for (index, der) in chain.iter().enumerate() {
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| SimError::Chain {
            index,
            subject: String::new(),
            reason: format!("does not parse: {e}"),
        })?;
        if !rest.is_empty() || !strict_outer_encoding(der, cert.tbs_certificate.as_ref().len()) {
            return Err(SimError::Chain {
                index,
                subject: cert.subject().to_string(),
                reason: "is not an ecdsa-with-sha256 certificate in strict der".to_owned(),
            });
        }
        certs.push(cert);
    }
    for (index, cert) in certs.iter().enumerate() {
        let fail = |reason: String| SimError::Chain {
            index,
            subject: cert.subject().to_string(),
            reason,
        };
        let validity = cert.validity();
        let (not_before, not_after) = (
            validity.not_before.to_datetime(),
            validity.not_after.to_datetime(),
        );
        window = Some(match window {
            None => ValidityWindow {
                not_before,
                not_after,
            },
            Some(w) => ValidityWindow {
                not_before: w.not_before.max(not_before),
                not_after: w.not_after.min(not_after),
            },
        });
        if now < not_before || now > not_after {
            return Err(fail(format!(
                "is valid from {} to {}, verification time is {}",
                rfc3339(not_before),
                rfc3339(not_after),
                rfc3339(now)
            )));
        }
        let issuer = certs.get(index + 1).unwrap_or(cert);
        if index > 0 && !cert.is_ca() {
            return Err(fail("issues certificates but is not a ca".to_owned()));
        }
        cert.verify_signature(Some(issuer.public_key()))
            .map_err(|e| fail(format!("has an invalid signature: {e}")))?;
    }
    let leaf = certs.first().ok_or_else(|| SimError::Chain {
        index: 0,
        subject: String::new(),
        reason: "missing".to_owned(),
    })?;
    let window = window.ok_or_else(|| SimError::Chain {
        index: 0,
        subject: String::new(),
        reason: "missing".to_owned(),
    })?;
    Ok((leaf.public_key().subject_public_key.data.to_vec(), window))
}

/// DER of the AlgorithmIdentifier `ecdsa-with-SHA256` (RFC 5758 §3.2: no parameters).
const ECDSA_WITH_SHA256_ALG_ID: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

/// The fields of a certificate outside the signed TBS must be exactly
/// `ecdsa-with-SHA256` followed by a BIT STRING. x509-parser is lenient about the tags of
/// these unsigned fields, and RFC 5280 §4.1.1.2 requires the outer algorithm to equal the
/// signed one; sim certificates are always ECDSA P-256 with SHA-256.
fn strict_outer_encoding(der: &[u8], tbs_len: usize) -> bool {
    let header_len: usize = match (der.first(), der.get(1)) {
        (Some(0x30), Some(len)) if *len < 0x80 => 2,
        (Some(0x30), Some(0x81)) => 3,
        (Some(0x30), Some(0x82)) => 4,
        _ => return false,
    };
    let Some(rest) = der.get(header_len.saturating_add(tbs_len)..) else {
        return false;
    };
    rest.starts_with(ECDSA_WITH_SHA256_ALG_ID)
        && rest.get(ECDSA_WITH_SHA256_ALG_ID.len()) == Some(&0x03)
}

/// The sim QE's report body: fixed identity, REPORTDATA binding the attestation key.
fn sim_qe_report(att_pub: &[u8], pck_der: &[u8]) -> [u8; SGX_REPORT_BODY_LEN] {
    let mut report = [0u8; SGX_REPORT_BODY_LEN];
    // ATTRIBUTES.FLAGS = INIT | MODE64, as a production (non-debug) QE.
    report[48] = 0x05;
    report[64..96].copy_from_slice(&sha256(SIM_QE_LABEL));
    report[128..160].copy_from_slice(&sha256(pck_der));
    report[256..258].copy_from_slice(&1u16.to_le_bytes());
    let mut bound = Vec::with_capacity(64 + SIM_QE_AUTH_DATA.len());
    bound.extend_from_slice(att_pub);
    bound.extend_from_slice(SIM_QE_AUTH_DATA);
    report[320..352].copy_from_slice(&sha256(&bound));
    report
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "rune sim (no hardware TEE)");
    dn
}

/// Exactly one certificate in `pem`, as DER.
fn single_cert(what: &'static str, pem: &str) -> Result<Vec<u8>, SimError> {
    let mut certs = quote::parse_pem_chain(pem.as_bytes()).map_err(|e| SimError::Pem {
        what,
        reason: e.to_string(),
    })?;
    match (certs.pop(), certs.is_empty()) {
        (Some(der), true) => Ok(der),
        _ => Err(SimError::Pem {
            what,
            reason: "expected exactly one certificate".to_owned(),
        }),
    }
}

/// The PCK signing key and certificate (DER) from their PEMs, checked to belong together.
fn pck_signer(pck_key_pem: &str, pck_cert_pem: &str) -> Result<PckSigner, SimError> {
    let pck_pkcs8 = pkcs8_of("pck key", pck_key_pem)?;
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pck_key = EcdsaKeyPair::from_pkcs8(alg, pck_pkcs8.secret_pkcs8_der(), &SystemRandom::new())
        .map_err(|e| SimError::Pem {
            what: "pck key",
            reason: e.to_string(),
        })?;
    let pck_der = single_cert("pck certificate", pck_cert_pem)?;
    let (_, pck_cert) = X509Certificate::from_der(&pck_der).map_err(|e| SimError::Pem {
        what: "pck certificate",
        reason: e.to_string(),
    })?;
    if pck_cert.public_key().subject_public_key.data.as_ref() != pck_key.public_key().as_ref() {
        return Err(SimError::Pem {
            what: "pck key",
            reason: "does not match the pck certificate's public key".to_owned(),
        });
    }
    Ok(PckSigner {
        key: pck_key,
        cert_der: pck_der,
    })
}

/// The PKCS#8 private key in `pem` (decoded only; the caller builds a key pair if it needs one).
fn pkcs8_of(what: &'static str, pem: &str) -> Result<PrivatePkcs8KeyDer<'static>, SimError> {
    PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| SimError::Pem {
        what,
        reason: format!("expected a PKCS#8 private key: {e}"),
    })
}

fn ensure_newline(pem: &str) -> String {
    if pem.ends_with('\n') {
        pem.to_owned()
    } else {
        format!("{pem}\n")
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

fn len_u16(len: usize) -> u16 {
    // Only called with the 32-byte QE auth data length.
    u16::try_from(len).unwrap_or(u16::MAX)
}

fn len_u32(len: usize) -> Result<u32, SimError> {
    u32::try_from(len).map_err(|_| SimError::Pem {
        what: "certificate chain",
        reason: format!("{len} bytes is too long for a quote"),
    })
}
