//! Sim quotes: generation, verification against the configured root, and the mix-ups with
//! real Intel quotes that must fail.

mod common;

use std::time::SystemTime;

use attestation::dcap::{self, DcapError};
use attestation::quote::Quote;
use attestation::sim::{SimError, SimPki, SimQuoter, SimVerifier, SIM_QE_VENDOR_ID};
use attestation::{Measurements, TcbStatus, TeeKind};
use common::*;

fn report_body() -> [u8; 384] {
    let mut body = [0u8; 384];
    body[48] = 0x05; // INIT | MODE64
    body[64..96].copy_from_slice(&[0x11; 32]); // MRENCLAVE
    body[128..160].copy_from_slice(&[0x22; 32]); // MRSIGNER
    body[256..258].copy_from_slice(&7u16.to_le_bytes());
    body[258..260].copy_from_slice(&3u16.to_le_bytes());
    body[320..330].copy_from_slice(b"sim nonce!");
    body
}

fn pki() -> SimPki {
    SimPki::generate("test-host", SystemTime::now()).unwrap()
}

#[test]
fn sim_quote_round_trip() {
    let pki = pki();
    let quote = SimQuoter::new(&pki).unwrap().quote(&report_body()).unwrap();
    let parsed = Quote::parse(&quote).unwrap();
    assert_eq!(parsed.header.version, 3);
    assert_eq!(parsed.header.att_key_type, 2);
    assert_eq!(parsed.header.tee_type, 0);
    assert_eq!(parsed.header.qe_vendor_id, SIM_QE_VENDOR_ID);
    assert_eq!(parsed.signature.certification.cert_type, 5);
    assert_eq!(parsed.pck_chain().unwrap().len(), 2);

    let claims = SimVerifier::new(pki.root_cert_pem())
        .unwrap()
        .verify(&quote, SystemTime::now())
        .unwrap();
    assert_eq!(claims.tee, TeeKind::Sim);
    assert!(!claims.is_hardware());
    assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
    assert_eq!(
        claims.measurements,
        Measurements::Sgx {
            mrenclave: [0x11; 32],
            mrsigner: [0x22; 32]
        }
    );
    assert_eq!(claims.isv_prod_id, Some(7));
    assert_eq!(claims.isv_svn, Some(3));
    assert_eq!(&claims.report_data[..10], b"sim nonce!");
    assert_eq!(claims.to_json()["tee"], "sim");
}

#[test]
fn pki_survives_pem_storage_and_redacts_keys() {
    let pki = pki();
    let again = SimPki::from_pem(
        pki.root_cert_pem(),
        pki.root_key_pem(),
        pki.pck_cert_pem(),
        pki.pck_key_pem(),
    )
    .unwrap();
    let quote = SimQuoter::new(&again)
        .unwrap()
        .quote(&report_body())
        .unwrap();
    SimVerifier::new(pki.root_cert_pem())
        .unwrap()
        .verify(&quote, SystemTime::now())
        .unwrap();
    let debug = format!("{pki:?}");
    assert!(
        debug.contains("<redacted>") && !debug.contains("PRIVATE KEY"),
        "{debug}"
    );
    // A PCK key from another PKI does not match the certificate.
    let other = SimPki::generate("other", SystemTime::now()).unwrap();
    let err = SimPki::from_pem(
        pki.root_cert_pem(),
        pki.root_key_pem(),
        pki.pck_cert_pem(),
        other.pck_key_pem(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid sim pck key pem: does not match the pck certificate's public key"
    );
    // A certificate where the root key belongs is not a PKCS#8 key.
    let err = SimPki::from_pem(
        pki.root_cert_pem(),
        pki.root_cert_pem(),
        pki.pck_cert_pem(),
        pki.pck_key_pem(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid sim root key pem: expected a PKCS#8 private key"),
        "{err}"
    );
}

#[test]
fn another_hosts_root_is_rejected() {
    let quote = SimQuoter::new(&pki())
        .unwrap()
        .quote(&report_body())
        .unwrap();
    let other = pki();
    let err = SimVerifier::new(other.root_cert_pem())
        .unwrap()
        .verify(&quote, SystemTime::now())
        .unwrap_err();
    assert!(matches!(err, SimError::NotSimRoot { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("not at the configured sim root ca"));
}

#[test]
fn intel_quote_is_rejected_by_the_sim_verifier() {
    let err = SimVerifier::new(pki().root_cert_pem())
        .unwrap()
        .verify(SGX_QUOTE, at())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "pck certificate chain ends at \"CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US\", not at the configured sim root ca: this is a real intel quote, verify it with dcap collateral"
    );
    let err = SimVerifier::new(pki().root_cert_pem())
        .unwrap()
        .verify(TDX_QUOTE, at())
        .unwrap_err();
    assert!(matches!(err, SimError::Layout { .. }), "{err:?}");
}

#[test]
fn sim_quote_is_rejected_by_the_dcap_verifier() {
    let quote = SimQuoter::new(&pki())
        .unwrap()
        .quote(&report_body())
        .unwrap();
    let err = dcap::verify(&quote, &sgx_collateral(), at()).unwrap_err();
    assert!(matches!(err, DcapError::NotIntelRoot { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("pck certificate chain does not end at intel's sgx root ca (root subject \"CN=rune sim root CA"),
        "{text}"
    );
    assert!(text.contains("sim quote must be verified against a configured sim root"));
}

#[test]
fn every_byte_flip_of_a_sim_quote_fails() {
    let pki = pki();
    let quote = SimQuoter::new(&pki).unwrap().quote(&report_body()).unwrap();
    let verifier = SimVerifier::new(pki.root_cert_pem()).unwrap();
    let now = SystemTime::now();
    let mut bytes = quote.clone();
    for pos in 0..quote.len() {
        bytes[pos] ^= 0x01;
        assert!(
            verifier.verify(&bytes, now).is_err(),
            "flipping byte {pos} of {} still verified",
            quote.len()
        );
        bytes[pos] ^= 0x01;
    }
}

#[test]
fn sim_tamper_errors_are_clear() {
    let pki = pki();
    let quote = SimQuoter::new(&pki).unwrap().quote(&report_body()).unwrap();
    let verifier = SimVerifier::new(pki.root_cert_pem()).unwrap();
    let now = SystemTime::now();
    let cases = [
        (
            100,
            "quote signature over header and report body is not valid for the attestation key",
        ),
        (
            436 + 4 + 10,
            "quote signature over header and report body is not valid for the attestation key",
        ),
        (
            436 + 4 + 64 + 3,
            "qe report data does not match sha-256(attestation key || qe auth data)",
        ),
        (
            436 + 4 + 128 + 5,
            "qe report signature is not valid for the pck certificate's key",
        ),
        (
            436 + 4 + 128 + 384 + 9,
            "qe report signature is not valid for the pck certificate's key",
        ),
        (
            436 + 4 + 128 + 384 + 64 + 2 + 4,
            "qe report data does not match sha-256(attestation key || qe auth data)",
        ),
    ];
    for (pos, expected) in cases {
        let mut bytes = quote.clone();
        bytes[pos] ^= 0x01;
        let err = verifier.verify(&bytes, now).unwrap_err();
        assert_eq!(err.to_string(), expected, "byte {pos}");
    }
    let err = verifier
        .verify(&quote, at() - std::time::Duration::from_secs(86400 * 400))
        .unwrap_err();
    assert!(err.to_string().contains("verification time is"), "{err}");
    let err = SimQuoter::new(&pki).unwrap().quote(&[0; 10]).unwrap_err();
    assert_eq!(err.to_string(), "report body is 10 bytes: expected 384");
}

#[test]
fn exported_quoter_signs_quotes_that_verify() {
    let pki = pki();
    let exported = SimQuoter::new(&pki).unwrap().export();
    let imported = SimQuoter::import(&exported).unwrap();
    let quote = imported.quote(&report_body()).unwrap();
    let claims = SimVerifier::new(pki.root_cert_pem())
        .unwrap()
        .verify(&quote, SystemTime::now())
        .unwrap();
    assert_eq!(claims.tee, TeeKind::Sim);
    assert_eq!(claims.isv_prod_id, Some(7));
}

#[test]
fn damaged_exports_are_refused_with_the_reason() {
    let exported = SimQuoter::new(&pki()).unwrap().export();
    let err = |bytes: &[u8]| SimQuoter::import(bytes).unwrap_err().to_string();
    assert!(err(b"nope").contains("bad magic"), "{}", err(b"nope"));
    assert!(err(&exported[..exported.len() - 1]).contains("user data"));
    assert!(err(&exported[..40]).contains("cut short"));
    // Another quoter's key with this quoter's certified tail.
    let other = SimQuoter::new(&pki()).unwrap().export();
    let magic = attestation::sim::EXPORT_MAGIC.len();
    let key_len = u32::from_le_bytes(exported[magic..magic + 4].try_into().unwrap()) as usize;
    let mut mixed = other[..magic + 4 + key_len].to_vec();
    mixed.extend_from_slice(&exported[magic + 4 + key_len..]);
    assert!(err(&mixed).contains("does not match"), "{}", err(&mixed));
}

#[test]
fn a_remembered_chain_is_still_checked_for_expiry_and_tampering() {
    let pki = pki();
    let quoter = SimQuoter::new(&pki).unwrap();
    let verifier = SimVerifier::new(pki.root_cert_pem()).unwrap();
    let now = SystemTime::now();
    let first = quoter.quote(&report_body()).unwrap();
    verifier.verify(&first, now).unwrap();
    // The second quote of the same quoter reuses the verified chain...
    let second = quoter.quote(&report_body()).unwrap();
    verifier.clone().verify(&second, now).unwrap();
    // ...but not outside its validity window,
    let later = now + std::time::Duration::from_secs(21 * 365 * 24 * 3600);
    assert!(matches!(
        verifier.verify(&second, later),
        Err(SimError::Chain { .. })
    ));
    // nor for a changed quote body or signature.
    for at in [100, first.len() - 1] {
        let mut bad = second.clone();
        bad[at] ^= 1;
        assert!(verifier.verify(&bad, now).is_err(), "byte {at}");
    }
}
