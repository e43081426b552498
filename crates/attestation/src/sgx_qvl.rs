//! Our own DCAP verification of SGX ECDSA quotes (v3 and v4) with collateral.
//!
//! `dcap-qvl` 0.7 verifies SGX quotes of version 3 only, while Intel's QE3 and QVL also
//! produce and accept SGX quotes of version 4 (v4 header, v3 report body, signature data
//! with the QE data nested in type-6 certification data). The verification steps are the
//! same for both layouts; this module runs them on [`crate::quote`]'s strict parse and
//! reuses from `dcap-qvl` what it exposes: the collateral types ([`QuoteCollateralV3`],
//! [`TcbInfo`], [`QeIdentity`]), the Intel SGX extension parser of PCK certificates, TCB level
//! matching ([`dcap_qvl::TcbLevel::shortfalls`]) and Intel's status convergence
//! ([`TcbStatusWithAdvisory::merge`]). Certificate paths and CRLs go through `rustls-webpki`
//! (the library `dcap-qvl` and rustls build on), signatures through `ring`.
//!
//! Steps, in the order of Intel's QVL (SGX DCAP "Quote Verification" and the
//! Intel PCS API v4 collateral formats):
//! 1. CRLs parse; TCB info and QE identity signing certificates chain to the root with
//!    revocation checked, and each signs its JSON; the root is not on its own CRL;
//! 2. TCB info is SGX TCB info for the PCK certificate's FMSPC and PCEID, QE identity is the
//!    SGX QE's, and both are inside their issue/next-update window;
//! 3. the PCK certificate chains through one PCK CA to the root, revocation checked;
//! 4. the PCK key signs the QE report; the QE report data is
//!    SHA-256(attestation key ‖ QE auth data) followed by 32 zero bytes;
//! 5. the QE report matches the QE identity (MRSIGNER, ISVPRODID, masked MISCSELECT and
//!    ATTRIBUTES, not debug) and its ISVSVN selects a QE TCB level;
//! 6. the attestation key signs header ‖ report body;
//! 7. the PCK certificate's CPUSVN and PCESVN select a TCB level; platform and QE statuses
//!    converge; `Revoked` never verifies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dcap_qvl::{QeIdentity, QuoteCollateralV3, TcbInfo, TcbStatus, TcbStatusWithAdvisory};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::quote::{self, Quote, QuoteError, INTEL_QE_VENDOR_ID, TEE_TYPE_SGX};

/// More intermediates than any Intel chain has (it has one). Caps the path builder's work on
/// an attacker-supplied chain.
const MAX_INTERMEDIATES: usize = 3;
/// Signature algorithms of Intel's SGX PKI: ECDSA P-256 with SHA-256 throughout.
const SIG_ALGS: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm] =
    &[webpki::ring::ECDSA_P256_SHA256];
/// TCB statuses Intel's QVL accepts in SGX TCB info levels.
const TCB_INFO_STATUSES: &[TcbStatus] = &[
    TcbStatus::UpToDate,
    TcbStatus::SWHardeningNeeded,
    TcbStatus::ConfigurationNeeded,
    TcbStatus::ConfigurationAndSWHardeningNeeded,
    TcbStatus::OutOfDate,
    TcbStatus::OutOfDateConfigurationNeeded,
    TcbStatus::Revoked,
];
/// TCB statuses Intel's QVL accepts in QE identity levels.
const QE_IDENTITY_STATUSES: &[TcbStatus] = &[
    TcbStatus::UpToDate,
    TcbStatus::OutOfDate,
    TcbStatus::ConfigurationNeeded,
    TcbStatus::OutOfDateConfigurationNeeded,
    TcbStatus::Revoked,
];

/// Why an SGX quote did not verify. Each variant is one failed step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SgxVerifyError {
    /// The quote is malformed.
    #[error("invalid quote")]
    Quote(#[from] QuoteError),
    /// The quote is not an SGX quote.
    #[error("not an sgx quote: tee_type {tee_type:#x}")]
    NotSgx {
        /// The header's tee_type.
        tee_type: u32,
    },
    /// The QE vendor is not Intel.
    #[error(
        "qe vendor id {found} is not intel's ({})",
        hex::encode(INTEL_QE_VENDOR_ID)
    )]
    QeVendor {
        /// Found, hex.
        found: String,
    },
    /// The configured root certificate cannot be a trust anchor.
    #[error("root ca certificate is unusable as a trust anchor: {reason}")]
    RootCa {
        /// Why.
        reason: String,
    },
    /// The root CA is listed on its own CRL.
    #[error("root ca certificate is revoked by the root ca crl")]
    RootRevoked,
    /// A CRL of the collateral does not parse.
    #[error("collateral {field} is not a der crl: {reason}")]
    Crl {
        /// `root_ca_crl` or `pck_crl`.
        field: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// A certificate chain does not parse or verify (signatures, validity, CA flags,
    /// revocation).
    #[error("{chain} does not verify: {reason}")]
    Chain {
        /// Which chain.
        chain: &'static str,
        /// What failed.
        reason: String,
    },
    /// A signed collateral item is malformed.
    #[error("collateral {field} is invalid: {reason}")]
    Collateral {
        /// The collateral field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A collateral signature does not verify with its signing certificate.
    #[error("collateral {field} signature is not valid for its signing certificate")]
    CollateralSignature {
        /// `tcb_info` or `qe_identity`.
        field: &'static str,
    },
    /// The collateral is outside its issue/next-update window.
    #[error("collateral {field} is valid from {issue_date} to {next_update}, verification time is {now}")]
    CollateralTime {
        /// The collateral field.
        field: &'static str,
        /// Its issue date.
        issue_date: String,
        /// Its next update.
        next_update: String,
        /// The verification time.
        now: String,
    },
    /// The collateral is for another platform or TEE than the PCK certificate.
    #[error("collateral {field} is {found}, but the quote's pck certificate needs {expected}")]
    CollateralMismatch {
        /// Which field.
        field: &'static str,
        /// What the collateral says.
        found: String,
        /// What the quote needs.
        expected: String,
    },
    /// The PCK certificate's Intel SGX extension is missing or malformed.
    #[error("pck certificate sgx extension (oid 1.2.840.113741.1.13.1): {reason}")]
    PckExtension {
        /// What is wrong.
        reason: String,
    },
    /// The QE report is not signed by the PCK key.
    #[error("qe report signature is not valid for the pck certificate's key")]
    QeReportSignature,
    /// The QE report does not bind the attestation key.
    #[error(
        "qe report data does not match sha-256(attestation key || qe auth data) || 32 zero bytes"
    )]
    AttestationKeyBinding,
    /// A QE report field does not match the QE identity.
    #[error("qe report {field} {found} does not match the qe identity's {expected}")]
    QeIdentity {
        /// The field.
        field: &'static str,
        /// Value in the QE report (masked where the identity has a mask).
        found: String,
        /// Value the identity requires.
        expected: String,
    },
    /// The QE's ISVSVN is below every QE TCB level.
    #[error("qe isvsvn {isv_svn} is below every qe identity tcb level (lowest {lowest})")]
    QeTcbTooLow {
        /// QE report ISVSVN.
        isv_svn: u16,
        /// Lowest level's ISVSVN.
        lowest: u16,
    },
    /// The platform's SVNs are below every TCB level.
    #[error("no tcb level in the tcb info matches cpusvn {cpu_svn} pcesvn {pce_svn}")]
    NoTcbLevel {
        /// CPUSVN, hex.
        cpu_svn: String,
        /// PCESVN.
        pce_svn: u16,
    },
    /// A matched level has a status Intel's QVL does not accept there.
    #[error("unrecognized tcb status {status} in the {structure}")]
    UnrecognizedStatus {
        /// The status.
        status: TcbStatus,
        /// `tcb info` or `qe identity`.
        structure: &'static str,
    },
    /// The quote signature is not valid for the attestation key.
    #[error("quote signature over header and report body is not valid for the attestation key")]
    QuoteSignature,
    /// The platform's TCB is revoked.
    #[error("tcb status is Revoked: the platform's keys are compromised")]
    Revoked,
    /// The verification time is before 1970.
    #[error("verification time is before the unix epoch")]
    Time,
}

/// The outcome of a successful verification: Intel's converged TCB status and the union of
/// the platform's and QE's advisories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgxVerified {
    /// The converged TCB status (never `Revoked`).
    pub status: TcbStatus,
    /// Advisory ids of the matched TCB levels.
    pub advisory_ids: Vec<String>,
}

/// Verify an SGX quote (v3 or v4) against `collateral` at `now`, trusting only `root_der`.
///
/// The PCK chain is always the one in the quote (certification data type 5). Debug enclaves
/// verify: accepting them is policy.
pub fn verify(
    quote_bytes: &[u8],
    collateral: &QuoteCollateralV3,
    now: SystemTime,
    root_der: &[u8],
) -> Result<SgxVerified, SgxVerifyError> {
    let quote = Quote::parse(quote_bytes)?;
    if quote.header.tee_type != TEE_TYPE_SGX {
        return Err(SgxVerifyError::NotSgx {
            tee_type: quote.header.tee_type,
        });
    }
    if quote.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(SgxVerifyError::QeVendor {
            found: hex::encode(quote.header.qe_vendor_id),
        });
    }
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SgxVerifyError::Time)?;
    let time = UnixTime::since_unix_epoch(secs);
    let now_dt = datetime(secs)?;

    // Step 1: the trust anchor, the CRLs, and the signed collateral.
    let root = CertificateDer::from(root_der);
    let anchor = webpki::anchor_from_trusted_cert(&root).map_err(|e| SgxVerifyError::RootCa {
        reason: e.to_string(),
    })?;
    let crls = [
        crl("root_ca_crl", &collateral.root_ca_crl)?,
        crl("pck_crl", &collateral.pck_crl)?,
    ];
    let tcb_signer = verify_chain(
        "tcb info signing chain",
        &pem_certs("tcb_info_issuer_chain", &collateral.tcb_info_issuer_chain)?,
        (&anchor, root_der),
        &crls,
        time,
        0,
    )?;
    check_root_not_revoked(root_der, &crls[0])?;
    verify_raw_signature(
        &tcb_signer,
        collateral.tcb_info.as_bytes(),
        &collateral.tcb_info_signature,
    )
    .map_err(|()| SgxVerifyError::CollateralSignature { field: "tcb_info" })?;
    let qe_signer = verify_chain(
        "qe identity signing chain",
        &pem_certs(
            "qe_identity_issuer_chain",
            &collateral.qe_identity_issuer_chain,
        )?,
        (&anchor, root_der),
        &crls,
        time,
        0,
    )?;
    verify_raw_signature(
        &qe_signer,
        collateral.qe_identity.as_bytes(),
        &collateral.qe_identity_signature,
    )
    .map_err(|()| SgxVerifyError::CollateralSignature {
        field: "qe_identity",
    })?;
    let tcb_info: TcbInfo =
        serde_json::from_str(&collateral.tcb_info).map_err(|e| SgxVerifyError::Collateral {
            field: "tcb_info",
            reason: e.to_string(),
        })?;
    let qe_identity: QeIdentity =
        serde_json::from_str(&collateral.qe_identity).map_err(|e| SgxVerifyError::Collateral {
            field: "qe_identity",
            reason: e.to_string(),
        })?;

    // Step 2: what the collateral is for, and when.
    check_window(
        "tcb_info",
        &tcb_info.issue_date,
        &tcb_info.next_update,
        now_dt,
    )?;
    check_window(
        "qe_identity",
        &qe_identity.issue_date,
        &qe_identity.next_update,
        now_dt,
    )?;
    if tcb_info.id != "SGX" || tcb_info.version < 2 {
        return Err(SgxVerifyError::CollateralMismatch {
            field: "tcb_info",
            found: format!("{} tcb info version {}", tcb_info.id, tcb_info.version),
            expected: "SGX tcb info version 2 or 3".to_owned(),
        });
    }
    if qe_identity.id != "QE" || qe_identity.version != 2 {
        return Err(SgxVerifyError::CollateralMismatch {
            field: "qe_identity",
            found: format!(
                "{} identity version {}",
                qe_identity.id, qe_identity.version
            ),
            expected: "QE identity version 2".to_owned(),
        });
    }

    // Step 3: the PCK chain and the platform it describes.
    let chain = quote.pck_chain()?;
    let pck_leaf = verify_chain(
        "pck certificate chain",
        &chain,
        (&anchor, root_der),
        &crls,
        time,
        1,
    )?;
    let ext = dcap_qvl::intel::parse_pck_extension(&pck_leaf).map_err(|e| {
        SgxVerifyError::PckExtension {
            reason: format!("{e:#}"),
        }
    })?;
    let fmspc = hex::encode_upper(ext.fmspc);
    if !tcb_info.fmspc.eq_ignore_ascii_case(&fmspc) {
        return Err(SgxVerifyError::CollateralMismatch {
            field: "tcb_info fmspc",
            found: tcb_info.fmspc.clone(),
            expected: fmspc,
        });
    }
    let pce_id = hex::encode_upper(&ext.pce_id);
    if !tcb_info.pce_id.eq_ignore_ascii_case(&pce_id) {
        return Err(SgxVerifyError::CollateralMismatch {
            field: "tcb_info pceId",
            found: tcb_info.pce_id.clone(),
            expected: pce_id,
        });
    }

    // Step 4: the QE report and the attestation key it certifies.
    let sig = &quote.signature;
    verify_raw_signature(&pck_leaf, sig.qe_report, sig.qe_report_signature)
        .map_err(|()| SgxVerifyError::QeReportSignature)?;
    let qe = quote::SgxReportBody::parse(sig.qe_report);
    let mut bound = Vec::with_capacity(64 + sig.qe_auth_data.len());
    bound.extend_from_slice(sig.attestation_key);
    bound.extend_from_slice(sig.qe_auth_data);
    let digest = ring::digest::digest(&ring::digest::SHA256, &bound);
    if qe.report_data.get(..32) != Some(digest.as_ref()) || qe.report_data[32..] != [0u8; 32] {
        return Err(SgxVerifyError::AttestationKeyBinding);
    }

    // Step 5: the QE is the one the QE identity describes.
    let qe_attributes = sig.qe_report.get(48..64).unwrap_or_default();
    let qe_level = match_qe_identity(&qe, qe_attributes, &qe_identity)?;

    // Step 6: the quote itself.
    let mut att_pub = [0x04u8; 65];
    att_pub[1..].copy_from_slice(sig.attestation_key);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &att_pub)
        .verify(quote.signed, sig.isv_signature)
        .map_err(|_| SgxVerifyError::QuoteSignature)?;

    // Step 7: the platform's TCB level, converged with the QE's.
    let platform = match_tcb_level(&tcb_info, &ext.cpu_svn, ext.pce_svn)?;
    let merged = platform.merge(&qe_level);
    if merged.status == TcbStatus::Revoked {
        return Err(SgxVerifyError::Revoked);
    }
    Ok(SgxVerified {
        status: merged.status,
        advisory_ids: merged.advisory_ids,
    })
}

/// Verify `certs` to the anchor with both CRLs. The chain must be exactly what Intel sends:
/// the leaf, `intermediates` CA certificates, and the root itself (byte-equal to `root_der`),
/// so that no byte of it goes unchecked. Returns the leaf.
fn verify_chain(
    chain: &'static str,
    certs: &[Vec<u8>],
    (anchor, root_der): (&TrustAnchor<'_>, &[u8]),
    crls: &[CertRevocationList<'static>; 2],
    time: UnixTime,
    intermediates: usize,
) -> Result<Vec<u8>, SgxVerifyError> {
    let fail = |reason: String| SgxVerifyError::Chain { chain, reason };
    if certs.len() != intermediates + 2 {
        return Err(fail(format!(
            "{} certificates: expected {} (leaf, {intermediates} ca, root)",
            certs.len(),
            intermediates + 2
        )));
    }
    if certs.last().map(Vec::as_slice) != Some(root_der) {
        let subject = certs
            .last()
            .map(|der| crate::dcap::subject_of(der))
            .unwrap_or_default();
        return Err(fail(format!(
            "it ends at {subject:?}, not at the trusted root ca"
        )));
    }
    let ders: Vec<CertificateDer<'_>> = certs
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let Some((leaf, rest)) = ders.split_first() else {
        return Err(fail("no certificate".to_owned()));
    };
    if rest.len() > MAX_INTERMEDIATES + 1 {
        return Err(fail(format!(
            "{} certificates above the leaf: at most {} accepted",
            rest.len(),
            MAX_INTERMEDIATES + 1
        )));
    }
    let ee = EndEntityCert::try_from(leaf).map_err(|e| fail(format!("leaf certificate: {e}")))?;
    let crl_refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crl_refs)
        .map_err(|_| fail("no crl".to_owned()))?
        .with_depth(RevocationCheckDepth::Chain)
        .with_status_policy(UnknownStatusPolicy::Deny)
        .with_expiration_policy(ExpirationPolicy::Enforce)
        .build();
    let anchors = [anchor.clone()];
    // Intel's certificates carry no extended key usage; webpki accepts any usage then.
    let path = ee
        .verify_for_usage(
            SIG_ALGS,
            &anchors,
            rest,
            time,
            KeyUsage::server_auth(),
            Some(revocation),
            None,
        )
        .map_err(|e| fail(e.to_string()))?;
    let found = path.intermediate_certificates().count();
    if found != intermediates {
        return Err(fail(format!(
            "{found} intermediate certificates on the path to the root: expected {intermediates}"
        )));
    }
    Ok(leaf.to_vec())
}

fn crl(field: &'static str, der: &[u8]) -> Result<CertRevocationList<'static>, SgxVerifyError> {
    OwnedCertRevocationList::from_der(der)
        .map(CertRevocationList::from)
        .map_err(|e| SgxVerifyError::Crl {
            field,
            reason: e.to_string(),
        })
}

/// The chain verification above only trusts the root CRL after checking its signature with
/// the root's key, so looking the root's own serial up in it is meaningful.
fn check_root_not_revoked(
    root_der: &[u8],
    root_crl: &CertRevocationList<'_>,
) -> Result<(), SgxVerifyError> {
    let (_, root) = X509Certificate::from_der(root_der).map_err(|e| SgxVerifyError::RootCa {
        reason: e.to_string(),
    })?;
    match root_crl.find_serial(root.raw_serial()) {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(SgxVerifyError::RootRevoked),
        Err(e) => Err(SgxVerifyError::Crl {
            field: "root_ca_crl",
            reason: e.to_string(),
        }),
    }
}

fn pem_certs(field: &'static str, pem: &str) -> Result<Vec<Vec<u8>>, SgxVerifyError> {
    quote::parse_pem_chain(pem.as_bytes()).map_err(|e| SgxVerifyError::Collateral {
        field,
        reason: e.to_string(),
    })
}

/// Verify a raw `r ‖ s` ECDSA P-256 signature with a certificate's key.
fn verify_raw_signature(cert_der: &[u8], message: &[u8], signature: &[u8]) -> Result<(), ()> {
    let (_, cert) = X509Certificate::from_der(cert_der).map_err(|_| ())?;
    let key = cert.public_key().subject_public_key.data.as_ref();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
        .verify(message, signature)
        .map_err(|_| ())
}

fn check_window(
    field: &'static str,
    issue: &str,
    next: &str,
    now: OffsetDateTime,
) -> Result<(), SgxVerifyError> {
    let parse = |text: &str| {
        OffsetDateTime::parse(text, &Rfc3339).map_err(|e| SgxVerifyError::Collateral {
            field,
            reason: format!("date {text:?}: {e}"),
        })
    };
    let (issue_at, next_at) = (parse(issue)?, parse(next)?);
    if now < issue_at || now > next_at {
        return Err(SgxVerifyError::CollateralTime {
            field,
            issue_date: issue.to_owned(),
            next_update: next.to_owned(),
            now: crate::dcap::rfc3339(now),
        });
    }
    Ok(())
}

fn match_qe_identity(
    qe: &quote::SgxReportBody,
    qe_attributes: &[u8],
    identity: &QeIdentity,
) -> Result<TcbStatusWithAdvisory, SgxVerifyError> {
    let mismatch = |field, found: String, expected: String| SgxVerifyError::QeIdentity {
        field,
        found,
        expected,
    };
    if qe.mr_signer != identity.mrsigner {
        return Err(mismatch(
            "mrsigner",
            hex::encode(qe.mr_signer),
            hex::encode(identity.mrsigner),
        ));
    }
    if qe.isv_prod_id != identity.isvprodid {
        return Err(mismatch(
            "isvprodid",
            qe.isv_prod_id.to_string(),
            identity.isvprodid.to_string(),
        ));
    }
    let mask = u32::from_le_bytes(identity.miscselect_mask);
    let expected = u32::from_le_bytes(identity.miscselect) & mask;
    if qe.misc_select & mask != expected {
        return Err(mismatch(
            "miscselect",
            format!("{:08x}", qe.misc_select & mask),
            format!("{expected:08x}"),
        ));
    }
    let masked = |bytes: &[u8]| -> Vec<u8> {
        bytes
            .iter()
            .zip(identity.attributes_mask)
            .map(|(b, m)| b & m)
            .collect()
    };
    let (found, expected) = (masked(qe_attributes), masked(&identity.attributes));
    if found != expected {
        return Err(mismatch(
            "attributes",
            hex::encode(found),
            hex::encode(expected),
        ));
    }
    // A debug QE's report can be forged by whoever debugs it, whatever the identity's mask.
    if qe.debug() {
        return Err(mismatch(
            "attributes.debug",
            "set".to_owned(),
            "clear".to_owned(),
        ));
    }
    // Intel's QVL picks the highest level the QE's ISVSVN meets, whatever the JSON order.
    let mut levels: Vec<_> = identity.tcb_levels.iter().collect();
    levels.sort_by_key(|level| std::cmp::Reverse(level.tcb.isvsvn));
    let level = levels
        .iter()
        .find(|level| qe.isv_svn >= level.tcb.isvsvn)
        .ok_or_else(|| SgxVerifyError::QeTcbTooLow {
            isv_svn: qe.isv_svn,
            lowest: levels.last().map(|l| l.tcb.isvsvn).unwrap_or_default(),
        })?;
    if !QE_IDENTITY_STATUSES.contains(&level.tcb_status) {
        return Err(SgxVerifyError::UnrecognizedStatus {
            status: level.tcb_status,
            structure: "qe identity",
        });
    }
    Ok(TcbStatusWithAdvisory::new(
        level.tcb_status,
        level.advisory_ids.clone(),
    ))
}

fn match_tcb_level(
    tcb_info: &TcbInfo,
    cpu_svn: &[u8; 16],
    pce_svn: u16,
) -> Result<TcbStatusWithAdvisory, SgxVerifyError> {
    // Intel's QVL orders levels by SGX components, then PCESVN, highest first, and takes the
    // first the platform meets; the JSON order does not matter.
    let mut levels: Vec<_> = tcb_info.tcb_levels.iter().collect();
    levels.sort_by(|a, b| {
        b.tcb
            .sgx_components
            .cmp(&a.tcb.sgx_components)
            .then_with(|| b.tcb.pce_svn.cmp(&a.tcb.pce_svn))
    });
    for level in levels {
        let shortfalls =
            level
                .shortfalls(cpu_svn, pce_svn, None)
                .map_err(|e| SgxVerifyError::Collateral {
                    field: "tcb_info",
                    reason: format!("{e:#}"),
                })?;
        if shortfalls.is_empty() {
            if !TCB_INFO_STATUSES.contains(&level.tcb_status) {
                return Err(SgxVerifyError::UnrecognizedStatus {
                    status: level.tcb_status,
                    structure: "tcb info",
                });
            }
            return Ok(TcbStatusWithAdvisory::new(
                level.tcb_status,
                level.advisory_ids.clone(),
            ));
        }
    }
    Err(SgxVerifyError::NoTcbLevel {
        cpu_svn: hex::encode(cpu_svn),
        pce_svn,
    })
}

fn datetime(since_epoch: Duration) -> Result<OffsetDateTime, SgxVerifyError> {
    let secs = i64::try_from(since_epoch.as_secs()).map_err(|_| SgxVerifyError::Time)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| SgxVerifyError::Time)
}
