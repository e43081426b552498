//! DCAP known-answer and tamper tests on the real Intel sample quotes.

mod common;

use std::time::SystemTime;

use attestation::dcap::{self, DcapError, QuotePlatform, INTEL_SGX_ROOT_CA_DER};
use attestation::quote::Quote;
use attestation::{Measurements, TcbStatus, TeeKind};
use common::*;

#[test]
fn sgx_sample_verifies_with_known_answers() {
    let claims = dcap::verify(SGX_QUOTE, &sgx_collateral(), at()).unwrap();
    assert_eq!(claims.tee, TeeKind::Sgx);
    assert_eq!(
        claims.tcb_status,
        TcbStatus::ConfigurationAndSWHardeningNeeded
    );
    assert_eq!(claims.advisory_ids, ["INTEL-SA-00289", "INTEL-SA-00615"]);
    let Measurements::Sgx {
        mrenclave,
        mrsigner,
    } = claims.measurements
    else {
        panic!("not sgx measurements");
    };
    assert_eq!(
        hex::encode(mrenclave),
        "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
    );
    assert_eq!(
        hex::encode(mrsigner),
        "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
    );
    assert_eq!(claims.isv_prod_id, Some(0));
    assert_eq!(claims.isv_svn, Some(0));
    assert!(!claims.debug);
    let mut expected = [0u8; 64];
    expected[..13].copy_from_slice(b"Hello, world!");
    assert_eq!(claims.report_data, expected);
}

#[test]
fn tdx_sample_verifies_up_to_date() {
    let claims = dcap::verify(TDX_QUOTE, &tdx_collateral(), at()).unwrap();
    assert_eq!(claims.tee, TeeKind::Tdx);
    assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
    assert!(claims.advisory_ids.is_empty());
    let Measurements::Tdx { mrtd, .. } = claims.measurements else {
        panic!("not tdx measurements");
    };
    assert_eq!(hex::encode(mrtd), "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7");
    let json = claims.to_json();
    assert!(json.get("rtmr3").is_some() && json.get("mrenclave").is_none());
}

#[test]
fn collateral_expired_today() {
    let err = dcap::verify(SGX_QUOTE, &sgx_collateral(), SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, DcapError::CollateralExpired { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.starts_with("collateral expired: "), "{text}");
    assert!(text.contains("verification time is"), "{text}");
    let err = dcap::verify(TDX_QUOTE, &tdx_collateral(), SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, DcapError::CollateralExpired { .. }),
        "{err:?}"
    );
}

#[test]
fn collateral_not_yet_valid() {
    let early = at() - std::time::Duration::from_secs(30 * 24 * 3600);
    let err = dcap::verify(SGX_QUOTE, &sgx_collateral(), early).unwrap_err();
    assert!(
        err.to_string().starts_with("collateral not yet valid: "),
        "{err}"
    );
}

#[test]
fn collateral_for_the_other_tee_is_named() {
    let err = dcap::verify(SGX_QUOTE, &tdx_collateral(), at()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "collateral is for tdx fmspc B0C06F000000, but the quote is from sgx fmspc 00A067110000"
    );
}

#[test]
fn intel_root_matches_the_sample_chains() {
    for quote in [SGX_QUOTE, TDX_QUOTE] {
        let chain = Quote::parse(quote).unwrap().pck_chain().unwrap();
        assert_eq!(chain.last().unwrap().as_slice(), INTEL_SGX_ROOT_CA_DER);
    }
    let platform = QuotePlatform::of(SGX_QUOTE).unwrap();
    assert_eq!(platform.file_name(), "sgx-00A067110000-processor.json");
}

#[test]
fn collateral_json_round_trips() {
    let collateral = sgx_collateral();
    let again = attestation::Collateral::from_json(collateral.to_json().as_bytes()).unwrap();
    assert_eq!(again, collateral);
    assert!(attestation::Collateral::from_json(b"{}").is_err());
}

/// Offsets worth flipping: every byte of the header, body and fixed signature fields, and a
/// stride through the QE auth data and certification data (every byte is `exhaustive_tamper`).
fn tamper_positions(quote: &[u8]) -> Vec<usize> {
    let parsed = Quote::parse(quote).unwrap();
    let fixed_end = parsed.signed.len() + 4 + 64 + 64;
    let mut positions: Vec<usize> = (0..fixed_end.min(quote.len())).step_by(3).collect();
    positions.extend((fixed_end..parsed.len).step_by(37));
    positions.push(parsed.len - 1);
    if parsed.len < quote.len() {
        positions.push(parsed.len);
        positions.push(quote.len() - 1);
    }
    positions
}

fn assert_every_flip_fails(
    quote: &[u8],
    collateral: &attestation::Collateral,
    positions: impl IntoIterator<Item = usize>,
) {
    let mut bytes = quote.to_vec();
    let mut checked = 0;
    for pos in positions {
        bytes[pos] ^= 0x01;
        let result = dcap::verify(&bytes, collateral, at());
        assert!(result.is_err(), "flipping byte {pos} still verified");
        let text = chain(&result.unwrap_err());
        assert!(!text.is_empty());
        bytes[pos] ^= 0x01;
        checked += 1;
    }
    assert!(checked > 100);
}

#[test]
fn tampered_sgx_quote_fails() {
    assert_every_flip_fails(SGX_QUOTE, &sgx_collateral(), tamper_positions(SGX_QUOTE));
}

#[test]
fn tampered_tdx_quote_fails() {
    assert_every_flip_fails(TDX_QUOTE, &tdx_collateral(), tamper_positions(TDX_QUOTE));
}

/// Every byte of both quotes: about 10k verifications, ~10 s in a debug build.
#[test]
fn every_byte_flip_fails() {
    assert_every_flip_fails(SGX_QUOTE, &sgx_collateral(), 0..SGX_QUOTE.len());
    assert_every_flip_fails(TDX_QUOTE, &tdx_collateral(), 0..TDX_QUOTE.len());
}

#[test]
fn tamper_errors_are_clear() {
    let parsed = Quote::parse(SGX_QUOTE).unwrap();
    let isv_sig = parsed.signed.len() + 4;
    let mut bytes = SGX_QUOTE.to_vec();
    bytes[isv_sig] ^= 0x01;
    let err = dcap::verify(&bytes, &sgx_collateral(), at()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dcap verification failed: ISV enclave report signature is invalid"
    );
    let mut bytes = SGX_QUOTE.to_vec();
    bytes[100] ^= 0x01; // inside the report body: MRENCLAVE
    let err = dcap::verify(&bytes, &sgx_collateral(), at()).unwrap_err();
    assert!(err.to_string().contains("signature is invalid"), "{err}");
    let err = dcap::verify(&SGX_QUOTE[..1000], &sgx_collateral(), at()).unwrap_err();
    assert_eq!(
        chain(&err),
        "invalid quote: quote truncated: signature data needs 4164 bytes at offset 436, 564 left"
    );
}

/// The real v3 sample relabelled as v4: SGX v4 quotes are verified (by our own path), every
/// check up to the quote signature passes on Intel's real data, and the signature, which
/// covers the header's version, fails.
#[test]
fn sgx_v3_sample_relabelled_as_v4_fails_only_its_signature() {
    // Re-encode the v3 sample in the v4 layout (QE report certification data, type 6).
    let q = Quote::parse(SGX_QUOTE).unwrap();
    let sig = q.signature;
    let mut inner = Vec::new();
    inner.extend_from_slice(sig.qe_report);
    inner.extend_from_slice(sig.qe_report_signature);
    inner.extend_from_slice(&u16::try_from(sig.qe_auth_data.len()).unwrap().to_le_bytes());
    inner.extend_from_slice(sig.qe_auth_data);
    inner.extend_from_slice(&sig.certification.cert_type.to_le_bytes());
    inner.extend_from_slice(
        &u32::try_from(sig.certification.data.len())
            .unwrap()
            .to_le_bytes(),
    );
    inner.extend_from_slice(sig.certification.data);
    let mut sig_data = Vec::new();
    sig_data.extend_from_slice(sig.isv_signature);
    sig_data.extend_from_slice(sig.attestation_key);
    sig_data.extend_from_slice(&6u16.to_le_bytes());
    sig_data.extend_from_slice(&u32::try_from(inner.len()).unwrap().to_le_bytes());
    sig_data.extend_from_slice(&inner);
    let mut bytes = q.signed.to_vec();
    bytes[0] = 4;
    bytes.extend_from_slice(&u32::try_from(sig_data.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(&sig_data);
    assert_eq!(Quote::parse(&bytes).unwrap().header.version, 4);
    let err = dcap::verify(&bytes, &sgx_collateral(), at()).unwrap_err();
    assert_eq!(
        chain(&err),
        "dcap verification failed: quote signature over header and report body is not valid for the attestation key"
    );
}
