//! Attestation for rune and verdictd: the evidence/claims model and the verifiers.
//!
//! This crate owns:
//! - [`claims`]: what a verifier established ([`Claims`]), the same for every TEE;
//! - [`quote`]: a strict parser of DCAP quotes (v3, v4, v5);
//! - [`dcap`]: verification of real SGX/TDX quotes against Intel's root with collateral
//!   ([`dcap::verify`]), and where collateral comes from ([`dcap::CollateralSource`]);
//! - [`sgx_qvl`]: our own verification of SGX quotes v3/v4 with collateral (`dcap-qvl` 0.7
//!   verifies SGX v3 only), behind [`dcap::verify`] for SGX v4;
//! - [`pccs`]: collateral from a PCCS-compatible service, with an on-disk cache;
//! - [`sim`]: the software TEE's PKI, quotes and verifier (never mistaken for hardware);
//! - [`sample`]: Confidential Containers' `sample` TEE evidence;
//! - [`policy`]: appraisal (accepted TCB statuses, rejected advisories, debug);
//! - [`report`]: [`verify_quote_report`], the one-call verification behind the CLI;
//! - [`attester`]: evidence from the TEE this process runs in (configfs-tsm for TDX/SNP,
//!   aesmd for SGX DCAP, the sim TEE);
//! - [`ratls`]: RA-TLS certificates binding a TLS key to evidence, rustls verifiers for them,
//!   and [`ratls::inspect_cert`] behind `rune enclave inspect-cert`.
//!
//! It must not touch container state, and does no network I/O unless a PCCS is configured or
//! RA-TLS is used: offline verification is the default. The attesters are the only code that
//! touches TEE interfaces (configfs-tsm files, the aesmd socket), and only when called.
//!
//! What is proven against what: DCAP verification ([`dcap`]) is tested against real Intel SGX
//! (v3) and TDX quotes with their collateral. SGX v4 quotes are tested only against a synthetic
//! Intel-shaped PKI (no real one is available); the own path that verifies them
//! ([`sgx_qvl`]) agrees with `dcap-qvl` on the real SGX v3 sample. The attesters are tested
//! only against fakes of their interfaces (a directory behaving like configfs-tsm, a fake aesmd
//! socket server), since no TEE hardware is available here; RA-TLS is tested end to end with
//! sim evidence. See `docs/attestation.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attester;
pub mod claims;
pub mod dcap;
pub mod kbs;
pub mod local_api;
pub mod pccs;
pub mod policy;
pub mod quote;
pub mod ratls;
pub mod report;
pub mod sample;
pub mod sgx_qvl;
pub mod sim;

pub use attester::{Attester, AttesterError};
pub use claims::{Claims, Measurements, TcbStatus, TeeKind};
pub use dcap::{Collateral, CollateralSource};
pub use policy::{AppraisalPolicy, Rejection, Verdict};
pub use ratls::{inspect_cert, CertInspection, RaTlsIdentity, RaTlsPolicy, RaTlsVerifier};
pub use report::{verify_quote_report, VerifyReport};

/// Any error of this crate, gathered from the modules.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A quote did not parse.
    #[error(transparent)]
    Quote(#[from] quote::QuoteError),
    /// DCAP verification failed.
    #[error(transparent)]
    Dcap(#[from] dcap::DcapError),
    /// Collateral could not be loaded.
    #[error(transparent)]
    Collateral(#[from] dcap::CollateralError),
    /// The PCCS could not be used.
    #[error(transparent)]
    Pccs(#[from] pccs::PccsError),
    /// Sim PKI, quoting or verification failed.
    #[error(transparent)]
    Sim(#[from] sim::SimError),
    /// Sample evidence was not accepted.
    #[error(transparent)]
    Sample(#[from] sample::SampleError),
    /// An attester could not produce evidence.
    #[error(transparent)]
    Attester(#[from] attester::AttesterError),
    /// An RA-TLS certificate could not be made, parsed or accepted.
    #[error(transparent)]
    RaTls(#[from] ratls::RaTlsError),
}
