//! SGX and DCAP data structures and algorithms, as pure functions over bytes.
//!
//! This crate owns the exact byte layouts that cross the boundary between enclaves, the CPU
//! (or the sim TEE that stands in for it) and verifiers, and the algorithms defined over them:
//!
//! - layouts: [`Secs`], [`SigStruct`], [`Report`] / [`ReportBody`], [`TargetInfo`],
//!   [`KeyRequest`], the sealed-data header ([`SealedData`]) and DCAP quotes ([`Quote`]:
//!   SGX v3 and v4, TDX v4); each has `parse` (exact length, checked reads, no transmutes) and
//!   `encode`, and size/offset constants tested against the Intel SDM and SDK;
//! - MRENCLAVE: [`Hasher`] replays ECREATE/EADD/EEXTEND exactly as the CPU measures;
//! - SIGSTRUCT signing and verification with RSA-3072, e = 3, including Q1/Q2 ([`signing`]);
//! - EGETKEY-style key derivation, REPORT MACs ([`keys`]) and sealing ([`seal`]) for the
//!   software TEE, keyed by a caller-supplied [`PlatformSecret`].
//!
//! It must not do I/O (no files, sockets, clocks or environment: callers pass bytes, keys and
//! RNGs in), must not use `unsafe` (enforced below), and must not print or log. Secret
//! material ([`PlatformSecret`], [`DerivedKey`], [`SigningKey`], unsealed plaintext) is zeroized
//! on drop and redacted in `Debug`.
//!
//! ```
//! use sgx::{Chunks, Hasher, SecInfo, SigStruct};
//!
//! // Measure a two-page enclave: a TCS and one code page.
//! let mut h = Hasher::new(0x2000, 1)?;
//! h.add_page(0, &[0; 4096], SecInfo::tcs(), Chunks::ALL)?;
//! h.add_page(0x1000, &[0xc3; 4096], SecInfo::reg(SecInfo::R | SecInfo::X), Chunks::ALL)?;
//! let sigstruct = SigStruct { enclave_hash: h.finish(), isv_svn: 1, ..SigStruct::default() };
//! assert_eq!(SigStruct::parse(sigstruct.encode().as_slice())?, sigstruct);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attributes;
mod codec;
pub mod keyrequest;
pub mod keys;
pub mod measure;
pub mod quote;
pub mod report;
pub mod seal;
pub mod secs;
pub mod signing;
pub mod sigstruct;

pub use attributes::Attributes;
pub use codec::ParseError;
pub use keyrequest::{key_name, key_policy, KeyRequest};
pub use keys::{
    create_report, egetkey, report_key, report_mac, verify_report, DerivedKey, EnclaveIdentity,
    KeyError, PlatformSecret,
};
pub use measure::{Chunks, Hasher, MeasureError, SecInfo, CHUNK_SIZE, PAGE_SIZE};
pub use quote::{
    qe_report_data, CertificationData, QeReportCertificationData, Quote, QuoteError, QuoteHeader,
    QuoteV3, SgxQuoteV4, TdReportBody, TdxQuoteV4,
};
pub use report::{Report, ReportBody, TargetInfo};
pub use seal::{
    seal, seal_key_request, seal_with_request, sealed_size, unseal, SealError, SealedData, Unsealed,
};
pub use secs::Secs;
pub use signing::{generate_signing_key, SigningError, SigningKey, VerifyingKey};
pub use sigstruct::SigStruct;

/// Any error of this crate, for callers that handle them alike.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A structure did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A measurement step was invalid.
    #[error(transparent)]
    Measure(#[from] MeasureError),
    /// SIGSTRUCT signing or verification failed.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// Key derivation or REPORT verification failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Sealing or unsealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A quote did not parse or encode.
    #[error(transparent)]
    Quote(#[from] QuoteError),
}
