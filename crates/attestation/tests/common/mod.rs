//! Shared fixtures: the sample quotes, their collateral and the verification time.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attestation::Collateral;

pub mod intel_pki;

pub const SGX_QUOTE: &[u8] = include_bytes!("../data/sgx_quote");
pub const TDX_QUOTE: &[u8] = include_bytes!("../data/tdx_quote");
pub const SGX_COLLATERAL: &[u8] = include_bytes!("../data/sgx_quote_collateral.json");
pub const TDX_COLLATERAL: &[u8] = include_bytes!("../data/tdx_quote_collateral.json");

/// 2025-07-01T00:00:00Z: inside every collateral validity window.
pub fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_751_328_000)
}

pub fn sgx_collateral() -> Collateral {
    Collateral::from_json(SGX_COLLATERAL).unwrap()
}

pub fn tdx_collateral() -> Collateral {
    Collateral::from_json(TDX_COLLATERAL).unwrap()
}

/// An error and its sources joined with ": ".
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
