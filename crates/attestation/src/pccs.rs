//! Collateral from a PCCS-compatible service (Intel PCS API v4 paths), with an on-disk cache.
//!
//! Paths (Intel "Provisioning Certification Service API v4"): `/sgx/certification/v4/pckcrl
//! ?ca=processor|platform&encoding=der` (issuer chain in `SGX-PCK-CRL-Issuer-Chain`),
//! `/{sgx,tdx}/certification/v4/tcb?fmspc=…` (`TCB-Info-Issuer-Chain`, or PCCS's
//! `SGX-TCB-Info-Issuer-Chain`), `/{sgx,tdx}/certification/v4/qe/identity`
//! (`SGX-Enclave-Identity-Issuer-Chain`) and PCCS's `/sgx/certification/v4/rootcacrl`
//! (hex-encoded DER). Issuer chains are URL-encoded PEM.
//!
//! The cache holds one JSON file per platform, `<tee>-<FMSPC>-<ca>.json`: the same format
//! and layout [`crate::dcap::CollateralSource::Dir`] reads, so a filled cache is an offline
//! collateral directory. A cached file is used without any request while it is still valid.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::claims::TeeKind;
use crate::dcap::{Collateral, QuotePlatform};

/// Largest response body read from the PCCS.
const MAX_RESPONSE_LEN: u64 = 1 << 20;
/// Timeout of one PCCS request, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why fetching collateral from a PCCS failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PccsError {
    /// The request did not complete.
    #[error("request to {url} failed: {reason}")]
    Request {
        /// The URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The service answered with an error status.
    #[error("{url} answered http {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// A required response header is missing or malformed.
    #[error("response from {url} has no valid {header} header")]
    Header {
        /// The URL.
        url: String,
        /// The header.
        header: &'static str,
    },
    /// A response body is malformed.
    #[error("invalid response body from {url}: {reason}")]
    Body {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The assembled collateral does not parse.
    #[error("collateral assembled from {base_url} is invalid: {reason}")]
    Collateral {
        /// The service.
        base_url: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the cache failed.
    #[error("writing pccs cache file {}", path.display())]
    Cache {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Only SGX and TDX have PCCS collateral.
    #[error("no pccs collateral exists for tee {tee}")]
    Tee {
        /// The TEE asked for.
        tee: TeeKind,
    },
}

/// A client of a PCCS-compatible service.
#[derive(Debug, Clone)]
pub struct PccsClient {
    base_url: String,
    cache_dir: Option<PathBuf>,
}

impl PccsClient {
    /// A client for `base_url` (e.g. `https://pccs.example:8081`; a trailing
    /// `/sgx/certification/v4` is accepted and ignored). No cache until
    /// [`PccsClient::with_cache_dir`].
    pub fn new(base_url: &str) -> Self {
        let base_url = base_url
            .trim_end_matches('/')
            .trim_end_matches("/sgx/certification/v4")
            .trim_end_matches("/tdx/certification/v4")
            .to_owned();
        Self {
            base_url,
            cache_dir: None,
        }
    }

    /// Cache fetched collateral in `dir` (created on first write).
    #[must_use]
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The service's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Collateral for a platform: from the cache while it is valid at `now`, else fetched
    /// (and cached).
    pub fn collateral(
        &self,
        platform: &QuotePlatform,
        now: SystemTime,
    ) -> Result<Collateral, PccsError> {
        let cache_path = self
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(platform.file_name()));
        if let Some(path) = &cache_path {
            if let Ok(cached) = Collateral::from_file(path) {
                if cached.check_time(now).is_ok() {
                    tracing::debug!(path = %path.display(), "pccs cache hit");
                    return Ok(cached);
                }
            }
        }
        let collateral = self.fetch(platform)?;
        if let Some(path) = &cache_path {
            write_atomically(path, collateral.to_json().as_bytes())?;
        }
        Ok(collateral)
    }

    /// Fetch collateral for a platform from the service, bypassing the cache.
    pub fn fetch(&self, platform: &QuotePlatform) -> Result<Collateral, PccsError> {
        let tee = match platform.tee {
            TeeKind::Sgx => "sgx",
            TeeKind::Tdx => "tdx",
            other => return Err(PccsError::Tee { tee: other }),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let base = &self.base_url;

        let url = format!(
            "{base}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
            platform.ca
        );
        let crl = get(&agent, &url)?;
        let pck_crl_issuer_chain = crl.header(&url, &["SGX-PCK-CRL-Issuer-Chain"])?;
        let pck_crl = der_or_hex(&url, crl.body)?;

        let url = format!("{base}/{tee}/certification/v4/tcb?fmspc={}", platform.fmspc);
        let tcb = get(&agent, &url)?;
        let tcb_info_issuer_chain = tcb.header(
            &url,
            &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"],
        )?;
        let signed: SignedTcbInfo = json_body(&url, &tcb.body)?;

        let url = format!("{base}/{tee}/certification/v4/qe/identity");
        let qe = get(&agent, &url)?;
        let qe_identity_issuer_chain = qe.header(&url, &["SGX-Enclave-Identity-Issuer-Chain"])?;
        let identity: SignedIdentity = json_body(&url, &qe.body)?;

        let url = format!("{base}/sgx/certification/v4/rootcacrl");
        let root_ca_crl = der_or_hex(&url, get(&agent, &url)?.body)?;

        let hex_field = |url: &str, text: &str| {
            hex::decode(text).map_err(|e| PccsError::Body {
                url: url.to_owned(),
                reason: format!("signature is not hex: {e}"),
            })
        };
        let inner = dcap_qvl::QuoteCollateralV3 {
            pck_crl_issuer_chain,
            root_ca_crl,
            pck_crl,
            tcb_info_issuer_chain,
            tcb_info: signed.tcb_info.get().to_owned(),
            tcb_info_signature: hex_field(base, &signed.signature)?,
            qe_identity_issuer_chain,
            qe_identity: identity.enclave_identity.get().to_owned(),
            qe_identity_signature: hex_field(base, &identity.signature)?,
            pck_certificate_chain: None,
        };
        tracing::debug!(base_url = %base, fmspc = %platform.fmspc, "fetched collateral from pccs");
        Collateral::from_dcap_qvl(inner).map_err(|e| PccsError::Collateral {
            base_url: base.clone(),
            reason: e.to_string(),
        })
    }
}

/// `{"tcbInfo": {...}, "signature": "<hex>"}`: the signature covers the exact text of
/// `tcbInfo`, so it is kept raw.
#[derive(Deserialize)]
struct SignedTcbInfo {
    #[serde(rename = "tcbInfo")]
    tcb_info: Box<RawValue>,
    signature: String,
}

/// `{"enclaveIdentity": {...}, "signature": "<hex>"}`.
#[derive(Deserialize)]
struct SignedIdentity {
    #[serde(rename = "enclaveIdentity")]
    enclave_identity: Box<RawValue>,
    signature: String,
}

struct Response {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// The first of `names` present, URL-decoded.
    fn header(&self, url: &str, names: &[&'static str]) -> Result<String, PccsError> {
        let missing = PccsError::Header {
            url: url.to_owned(),
            header: names.first().copied().unwrap_or_default(),
        };
        let value = names
            .iter()
            .find_map(|name| {
                self.headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .ok_or(missing)?;
        percent_decode(value).ok_or_else(|| PccsError::Header {
            url: url.to_owned(),
            header: names.first().copied().unwrap_or_default(),
        })
    }
}

fn get(agent: &ureq::Agent, url: &str) -> Result<Response, PccsError> {
    let mut response = agent.get(url).call().map_err(|e| PccsError::Request {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(PccsError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let headers = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_LEN)
        .read_to_vec()
        .map_err(|e| PccsError::Request {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(Response { headers, body })
}

fn json_body<T: for<'de> Deserialize<'de>>(url: &str, body: &[u8]) -> Result<T, PccsError> {
    serde_json::from_slice(body).map_err(|e| PccsError::Body {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

/// A CRL body: DER (starts with a SEQUENCE tag) or hex-encoded DER (PCCS's `rootcacrl`).
fn der_or_hex(url: &str, body: Vec<u8>) -> Result<Vec<u8>, PccsError> {
    if body.first() == Some(&0x30) {
        return Ok(body);
    }
    let text = String::from_utf8_lossy(&body);
    hex::decode(text.trim()).map_err(|_| PccsError::Body {
        url: url.to_owned(),
        reason: "crl is neither der nor hex-encoded der".to_owned(),
    })
}

/// Decode `%XX` escapes (issuer chain headers are URL-encoded PEM). `None` if malformed.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), PccsError> {
    let fail = |source| PccsError::Cache {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut file = fs::File::create(&tmp).map_err(fail)?;
    file.write_all(data).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%0A").as_deref(), Some("a b\n"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
    }

    #[test]
    fn base_url_is_normalised() {
        assert_eq!(
            PccsClient::new("https://p:8081/sgx/certification/v4/").base_url(),
            "https://p:8081"
        );
    }
}
