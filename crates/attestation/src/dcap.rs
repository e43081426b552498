//! DCAP verification of real Intel SGX and TDX quotes against Intel's SGX Root CA.
//!
//! The cryptography and TCB evaluation are `dcap-qvl`'s (PCK chain to the root, CRLs, TCB info
//! and QE identity signatures, QE report, attestation key binding, quote signature, TCB level
//! matching). Around it this module adds what a service needs: strict parsing (see
//! [`crate::quote`]), a clear error when the collateral has expired or is for another
//! platform, a clear error for a sim quote, and [`Claims`].
//!
//! Supported: SGX quotes v3 and v4, TDX quotes v4 and v5, certification data type 5 (PEM
//! chain in the quote). `dcap-qvl` 0.7 verifies SGX v3 only, so SGX v4 quotes go through our
//! own path, [`crate::sgx_qvl`], which reuses `dcap-qvl`'s collateral types and TCB matching.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use dcap_qvl::QuoteCollateralV3;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::claims::{Claims, Measurements, TcbStatus, TeeKind};
use crate::quote::{
    self, Quote, QuoteError, ReportBody, SgxReportBody, TdReportBody, TEE_TYPE_TDX,
};

/// Intel SGX Root CA (DER), the trust anchor of every DCAP quote. The same certificate is at
/// the end of the PCK chain in every Intel quote and at <https://certificates.trustedservices.intel.com/>.
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("intel_sgx_root_ca.der");

/// Largest collateral file read: real ones are 15–20 KiB.
const MAX_COLLATERAL_LEN: u64 = 1 << 20;

/// Why collateral could not be loaded or understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollateralError {
    /// Reading a collateral file failed.
    #[error("reading collateral file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A collateral file is larger than any real one.
    #[error("collateral file {} is {len} bytes: larger than the {max}-byte limit", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The collateral JSON does not have the expected shape.
    #[error("invalid collateral json")]
    Json(#[source] serde_json::Error),
    /// A field of the collateral is malformed.
    #[error("invalid collateral field {field}: {reason}")]
    Field {
        /// The field, as named in the JSON.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A collateral directory has no file for the quote's platform.
    #[error("no collateral for {tee} fmspc {fmspc} (pck ca {ca}): expected {}", path.display())]
    NotFound {
        /// TEE of the quote.
        tee: TeeKind,
        /// FMSPC of the platform, uppercase hex.
        fmspc: String,
        /// `processor` or `platform`.
        ca: &'static str,
        /// The file looked for.
        path: PathBuf,
    },
    /// The quote's platform could not be identified (FMSPC, PCK CA).
    #[error("cannot identify the quote's platform: {reason}")]
    Platform {
        /// What failed.
        reason: String,
    },
    /// Fetching from the PCCS failed.
    #[error("fetching collateral from the pccs")]
    Pccs(#[source] crate::pccs::PccsError),
}

/// Verification collateral for one platform (FMSPC) and TEE: the format of the sample
/// collateral files and of `dcap-qvl` (`QuoteCollateralV3`; byte fields as hex strings).
#[derive(Clone, PartialEq, Eq)]
pub struct Collateral {
    inner: QuoteCollateralV3,
}

impl fmt::Debug for Collateral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.tcb_info_summary().ok();
        f.debug_struct("Collateral")
            .field("tcb_info_id", &info.as_ref().map(|i| i.id.clone()))
            .field("fmspc", &info.as_ref().map(|i| i.fmspc.clone()))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoSummary {
    id: String,
    fmspc: String,
    issue_date: String,
    next_update: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentitySummary {
    issue_date: String,
    next_update: String,
}

/// One dated item of the collateral and its validity window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidityItem {
    /// What the item is (`tcb info`, `pck crl`, a certificate subject, ...).
    pub item: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity (`nextUpdate` for TCB info, QE identity and CRLs).
    pub not_after: OffsetDateTime,
}

impl Collateral {
    /// Parse collateral JSON (the format of the sample `*_collateral.json` files).
    pub fn from_json(bytes: &[u8]) -> Result<Self, CollateralError> {
        let inner: QuoteCollateralV3 =
            serde_json::from_slice(bytes).map_err(CollateralError::Json)?;
        let collateral = Self { inner };
        collateral.tcb_info_summary()?;
        Ok(collateral)
    }

    /// Read collateral JSON from a file.
    pub fn from_file(path: &Path) -> Result<Self, CollateralError> {
        let bytes = read_capped(path)?;
        Self::from_json(&bytes)
    }

    /// Wrap collateral already in `dcap-qvl`'s form.
    pub fn from_dcap_qvl(inner: QuoteCollateralV3) -> Result<Self, CollateralError> {
        let collateral = Self { inner };
        collateral.tcb_info_summary()?;
        Ok(collateral)
    }

    /// The collateral as JSON, in the same format [`Collateral::from_json`] reads.
    pub fn to_json(&self) -> String {
        // QuoteCollateralV3 is strings and byte vectors: serialising it cannot fail.
        serde_json::to_string_pretty(&self.inner).unwrap_or_default()
    }

    /// The underlying `dcap-qvl` collateral.
    pub fn as_dcap_qvl(&self) -> &QuoteCollateralV3 {
        &self.inner
    }

    /// The TEE the TCB info is for.
    pub fn tee(&self) -> Result<TeeKind, CollateralError> {
        match self.tcb_info_summary()?.id.as_str() {
            "SGX" => Ok(TeeKind::Sgx),
            "TDX" => Ok(TeeKind::Tdx),
            other => Err(CollateralError::Field {
                field: "tcb_info",
                reason: format!("unknown id {other:?}: expected SGX or TDX"),
            }),
        }
    }

    /// The FMSPC the TCB info is for, uppercase hex.
    pub fn fmspc(&self) -> Result<String, CollateralError> {
        Ok(self.tcb_info_summary()?.fmspc.to_ascii_uppercase())
    }

    /// Every dated item (TCB info, QE identity, both CRLs, the issuer certificates).
    pub fn validity(&self) -> Result<Vec<ValidityItem>, CollateralError> {
        let mut items = Vec::new();
        let tcb = self.tcb_info_summary()?;
        items.push(dated(
            "tcb info",
            "tcb_info",
            &tcb.issue_date,
            &tcb.next_update,
        )?);
        let qe: IdentitySummary =
            serde_json::from_str(&self.inner.qe_identity).map_err(|e| CollateralError::Field {
                field: "qe_identity",
                reason: e.to_string(),
            })?;
        items.push(dated(
            "qe identity",
            "qe_identity",
            &qe.issue_date,
            &qe.next_update,
        )?);
        items.push(crl_window(
            "root ca crl",
            "root_ca_crl",
            &self.inner.root_ca_crl,
        )?);
        items.push(crl_window("pck crl", "pck_crl", &self.inner.pck_crl)?);
        for (field, chain) in [
            ("pck_crl_issuer_chain", &self.inner.pck_crl_issuer_chain),
            ("tcb_info_issuer_chain", &self.inner.tcb_info_issuer_chain),
            (
                "qe_identity_issuer_chain",
                &self.inner.qe_identity_issuer_chain,
            ),
        ] {
            let certs =
                quote::parse_pem_chain(chain.as_bytes()).map_err(|e| CollateralError::Field {
                    field,
                    reason: e.to_string(),
                })?;
            for der in certs {
                items.push(cert_window(field, &der)?);
            }
        }
        Ok(items)
    }

    /// Check that `now` lies inside every item's validity window.
    pub fn check_time(&self, now: SystemTime) -> Result<(), DcapError> {
        let now = to_datetime(now)?;
        for item in self.validity()? {
            if now > item.not_after {
                return Err(DcapError::CollateralExpired {
                    item: item.item,
                    not_after: rfc3339(item.not_after),
                    now: rfc3339(now),
                });
            }
            if now < item.not_before {
                return Err(DcapError::CollateralNotYetValid {
                    item: item.item,
                    not_before: rfc3339(item.not_before),
                    now: rfc3339(now),
                });
            }
        }
        Ok(())
    }

    fn tcb_info_summary(&self) -> Result<TcbInfoSummary, CollateralError> {
        serde_json::from_str(&self.inner.tcb_info).map_err(|e| CollateralError::Field {
            field: "tcb_info",
            reason: e.to_string(),
        })
    }
}

/// Where collateral for a quote comes from. Offline sources are the default; the PCCS is used
/// only when configured.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CollateralSource {
    /// One collateral JSON file, used for every quote.
    File(PathBuf),
    /// A directory of `<tee>-<FMSPC>-<ca>.json` files (the layout of the PCCS cache).
    Dir(PathBuf),
    /// A PCCS-compatible service, with its on-disk cache.
    Pccs(crate::pccs::PccsClient),
}

impl CollateralSource {
    /// Load the collateral for `quote`.
    ///
    /// `now` decides whether a cached PCCS answer is still fresh.
    pub fn collateral_for(
        &self,
        quote: &[u8],
        now: SystemTime,
    ) -> Result<Collateral, CollateralError> {
        match self {
            Self::File(path) => Collateral::from_file(path),
            Self::Dir(dir) => {
                let platform = QuotePlatform::of(quote)?;
                let path = dir.join(platform.file_name());
                if !path.exists() {
                    return Err(CollateralError::NotFound {
                        tee: platform.tee,
                        fmspc: platform.fmspc,
                        ca: platform.ca,
                        path,
                    });
                }
                Collateral::from_file(&path)
            }
            Self::Pccs(client) => {
                let platform = QuotePlatform::of(quote)?;
                client
                    .collateral(&platform, now)
                    .map_err(CollateralError::Pccs)
            }
        }
    }
}

/// What identifies the collateral a quote needs: TEE, FMSPC and PCK CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotePlatform {
    /// SGX or TDX.
    pub tee: TeeKind,
    /// FMSPC from the PCK certificate, uppercase hex.
    pub fmspc: String,
    /// `processor` or `platform`: the CA that issued the PCK certificate.
    pub ca: &'static str,
}

impl QuotePlatform {
    /// Read TEE, FMSPC and CA from a quote's PCK certificate.
    pub fn of(quote: &[u8]) -> Result<Self, CollateralError> {
        let platform = |reason: String| CollateralError::Platform { reason };
        let parsed = Quote::parse(quote).map_err(|e| platform(e.to_string()))?;
        let chain = parsed.pck_chain().map_err(|e| platform(e.to_string()))?;
        let leaf = chain
            .first()
            .ok_or_else(|| platform("empty pck certificate chain".to_owned()))?;
        let ext = dcap_qvl::intel::parse_pck_extension(leaf)
            .map_err(|e| platform(format!("pck certificate sgx extension: {e:#}")))?;
        let ca = dcap_qvl::intel::pck_ca(leaf)
            .map_err(|e| platform(format!("pck certificate issuer: {e:#}")))?
            .as_id_str();
        let tee = if parsed.header.tee_type == TEE_TYPE_TDX {
            TeeKind::Tdx
        } else {
            TeeKind::Sgx
        };
        Ok(Self {
            tee,
            fmspc: hex::encode_upper(ext.fmspc),
            ca,
        })
    }

    /// File name of this platform's collateral in a collateral directory or PCCS cache.
    pub fn file_name(&self) -> String {
        format!("{}-{}-{}.json", self.tee, self.fmspc, self.ca)
    }
}

/// Why a DCAP quote was not verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DcapError {
    /// The quote is malformed.
    #[error("invalid quote")]
    Quote(#[from] QuoteError),
    /// The collateral is malformed.
    #[error("invalid collateral")]
    Collateral(#[from] CollateralError),
    /// A collateral item's validity ended before the verification time.
    #[error("collateral expired: {item} was valid until {not_after}, verification time is {now}; fetch fresh collateral from a pccs")]
    CollateralExpired {
        /// The expired item.
        item: String,
        /// End of its validity.
        not_after: String,
        /// The verification time.
        now: String,
    },
    /// A collateral item is not valid yet at the verification time.
    #[error(
        "collateral not yet valid: {item} is valid from {not_before}, verification time is {now}"
    )]
    CollateralNotYetValid {
        /// The item.
        item: String,
        /// Start of its validity.
        not_before: String,
        /// The verification time.
        now: String,
    },
    /// The verification time is before 1970.
    #[error("verification time is before the unix epoch")]
    TimeBeforeEpoch,
    /// The collateral is for another TEE or platform than the quote.
    #[error("collateral is for {collateral_tee} fmspc {collateral_fmspc}, but the quote is from {quote_tee} fmspc {quote_fmspc}")]
    CollateralMismatch {
        /// TEE of the collateral.
        collateral_tee: TeeKind,
        /// FMSPC of the collateral.
        collateral_fmspc: String,
        /// TEE of the quote.
        quote_tee: TeeKind,
        /// FMSPC of the quote.
        quote_fmspc: String,
    },
    /// The PCK chain does not end at Intel's root: e.g. a sim quote.
    #[error("pck certificate chain does not end at intel's sgx root ca (root subject {root_subject:?}); a sim quote must be verified against a configured sim root")]
    NotIntelRoot {
        /// Subject of the chain's last certificate.
        root_subject: String,
    },
    /// The PCK chain does not end at the explicitly configured root CA.
    #[error("pck certificate chain ends at {root_subject:?}, not at the configured root ca {configured_subject:?}")]
    NotConfiguredRoot {
        /// Subject of the chain's last certificate.
        root_subject: String,
        /// Subject of the configured root.
        configured_subject: String,
    },
    /// Our own SGX verification path (SGX v4 quotes) refused the quote.
    #[error("dcap verification failed")]
    Sgx(#[from] crate::sgx_qvl::SgxVerifyError),
    /// A check of the quote against the collateral failed (signature, chain, CRL, TCB).
    #[error("dcap verification failed: {reason}")]
    Verification {
        /// The failed check, as `dcap-qvl` reports it.
        reason: String,
    },
    /// The TCB status string from `dcap-qvl` is not one this crate knows.
    #[error("unknown tcb status {status:?} from the dcap verifier")]
    UnknownStatus {
        /// The status string.
        status: String,
    },
}

/// Verify a DCAP quote (SGX v3/v4, TDX v4/v5) with its collateral at time `now`, trusting
/// Intel's SGX Root CA.
///
/// Debug enclaves verify (with `debug: true` in the claims): accepting them is policy, see
/// [`crate::policy::AppraisalPolicy`]. A `Revoked` platform never verifies.
pub fn verify(quote: &[u8], collateral: &Collateral, now: SystemTime) -> Result<Claims, DcapError> {
    verify_with_root(quote, collateral, now, INTEL_SGX_ROOT_CA_DER)
}

/// [`verify`] with an explicitly configured root CA (DER) instead of Intel's: for a private
/// Intel-shaped PKI, such as the one the tests build. The quote's PCK chain must end at it.
///
/// SGX v3 and TDX quotes go to `dcap-qvl`; SGX v4 quotes, which `dcap-qvl` 0.7 refuses, go to
/// [`crate::sgx_qvl`], which runs the same checks.
pub fn verify_with_root(
    quote: &[u8],
    collateral: &Collateral,
    now: SystemTime,
    root_der: &[u8],
) -> Result<Claims, DcapError> {
    let parsed = Quote::parse(quote)?;
    let is_tdx = parsed.header.tee_type == TEE_TYPE_TDX;
    let chain = parsed.pck_chain()?;
    let root = chain.last().map(Vec::as_slice).unwrap_or_default();
    if root != root_der {
        return Err(if root_der == INTEL_SGX_ROOT_CA_DER {
            DcapError::NotIntelRoot {
                root_subject: subject_of(root),
            }
        } else {
            DcapError::NotConfiguredRoot {
                root_subject: subject_of(root),
                configured_subject: subject_of(root_der),
            }
        });
    }
    let platform = QuotePlatform::of(quote)?;
    let (collateral_tee, collateral_fmspc) = (collateral.tee()?, collateral.fmspc()?);
    if collateral_tee != platform.tee || collateral_fmspc != platform.fmspc {
        return Err(DcapError::CollateralMismatch {
            collateral_tee,
            collateral_fmspc,
            quote_tee: platform.tee,
            quote_fmspc: platform.fmspc,
        });
    }
    collateral.check_time(now)?;
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| DcapError::TimeBeforeEpoch)?
        .as_secs();

    // Always verify the chain the quote carries (certification data type 5): a chain in the
    // collateral would otherwise take precedence in dcap-qvl.
    let mut inner = collateral.inner.clone();
    inner.pck_certificate_chain = None;
    let quote_bytes = quote.get(..parsed.len).unwrap_or(quote);
    let (status, advisory_ids) = if !is_tdx && parsed.header.version == 4 {
        let verified = crate::sgx_qvl::verify(quote_bytes, &inner, now, root_der)?;
        (verified.status.to_string(), verified.advisory_ids)
    } else {
        let report = dcap_qvl::verify::QuoteVerifier::new(root_der.to_vec())
            .allow_debug(true)
            .verify(quote_bytes, &inner, secs)
            .map_err(|e| DcapError::Verification {
                reason: format!("{e:#}"),
            })?;
        (report.status, report.advisory_ids)
    };
    let tcb_status: TcbStatus = status
        .parse()
        .map_err(|_| DcapError::UnknownStatus { status })?;
    let claims = claims_of(&parsed, tcb_status, advisory_ids);
    if root_der == INTEL_SGX_ROOT_CA_DER {
        tracing::debug!(tee = %claims.tee, tcb_status = %tcb_status, "dcap quote verified");
    } else {
        tracing::info!(
            tee = %claims.tee,
            tcb_status = %tcb_status,
            root = %subject_of(root_der),
            "dcap quote verified against a configured root ca, not intel's"
        );
    }
    Ok(claims)
}

/// Claims from a parsed (and verified) quote.
fn claims_of(parsed: &Quote<'_>, tcb_status: TcbStatus, advisory_ids: Vec<String>) -> Claims {
    let td = match parsed.body {
        ReportBody::Sgx(body) => {
            let body = SgxReportBody::parse(body);
            return Claims {
                tee: TeeKind::Sgx,
                measurements: Measurements::Sgx {
                    mrenclave: body.mr_enclave,
                    mrsigner: body.mr_signer,
                },
                isv_prod_id: Some(body.isv_prod_id),
                isv_svn: Some(body.isv_svn),
                debug: body.debug(),
                tcb_status,
                advisory_ids,
                report_data: body.report_data,
            };
        }
        ReportBody::Td10(body) => TdReportBody::parse(body),
        ReportBody::Td15(body) => TdReportBody::parse_td15(body),
    };
    let [rtmr0, rtmr1, rtmr2, rtmr3] = td.rtmr;
    Claims {
        tee: TeeKind::Tdx,
        measurements: Measurements::Tdx {
            mrtd: td.mr_td,
            rtmr0,
            rtmr1,
            rtmr2,
            rtmr3,
        },
        isv_prod_id: None,
        isv_svn: None,
        // TDATTRIBUTES.TUD: bit 0 DEBUG, bits 4-6 profiling and tracing features that also
        // expose the TD to the host; dcap-qvl treats both as debug.
        debug: td.td_attributes[0] & 0x71 != 0,
        tcb_status,
        advisory_ids,
        report_data: td.report_data,
    }
}

pub(crate) fn subject_of(der: &[u8]) -> String {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert.subject().to_string())
        .unwrap_or_else(|_| "<unparsable certificate>".to_owned())
}

pub(crate) fn read_capped(path: &Path) -> Result<Vec<u8>, CollateralError> {
    let read = |source| CollateralError::Read {
        path: path.to_owned(),
        source,
    };
    let len = fs::metadata(path).map_err(read)?.len();
    if len > MAX_COLLATERAL_LEN {
        return Err(CollateralError::TooLarge {
            path: path.to_owned(),
            len,
            max: MAX_COLLATERAL_LEN,
        });
    }
    fs::read(path).map_err(read)
}

fn dated(
    item: &str,
    field: &'static str,
    issue: &str,
    next: &str,
) -> Result<ValidityItem, CollateralError> {
    let parse = |text: &str| {
        OffsetDateTime::parse(text, &Rfc3339).map_err(|e| CollateralError::Field {
            field,
            reason: format!("date {text:?}: {e}"),
        })
    };
    Ok(ValidityItem {
        item: item.to_owned(),
        not_before: parse(issue)?,
        not_after: parse(next)?,
    })
}

fn crl_window(
    item: &str,
    field: &'static str,
    der: &[u8],
) -> Result<ValidityItem, CollateralError> {
    let (_, crl) =
        CertificateRevocationList::from_der(der).map_err(|e| CollateralError::Field {
            field,
            reason: format!("not a der crl: {e}"),
        })?;
    let not_after = crl.next_update().ok_or_else(|| CollateralError::Field {
        field,
        reason: "crl has no nextUpdate".to_owned(),
    })?;
    Ok(ValidityItem {
        item: item.to_owned(),
        not_before: crl.last_update().to_datetime(),
        not_after: not_after.to_datetime(),
    })
}

fn cert_window(field: &'static str, der: &[u8]) -> Result<ValidityItem, CollateralError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CollateralError::Field {
        field,
        reason: format!("not a der certificate: {e}"),
    })?;
    let validity = cert.validity();
    Ok(ValidityItem {
        item: format!("certificate {:?}", cert.subject().to_string()),
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
    })
}

pub(crate) fn to_datetime(now: SystemTime) -> Result<OffsetDateTime, DcapError> {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| DcapError::TimeBeforeEpoch)?
        .as_secs();
    let secs = i64::try_from(secs).map_err(|_| DcapError::TimeBeforeEpoch)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| DcapError::TimeBeforeEpoch)
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}
