//! SGX quotes of version 4: verified by our own path ([`attestation::sgx_qvl`]) against a
//! synthetic Intel-shaped PKI, and that path checked against `dcap-qvl` on the real SGX v3
//! sample and on synthetic v3 quotes (same status, same advisories).

mod common;

use attestation::dcap::{self, DcapError, INTEL_SGX_ROOT_CA_DER};
use attestation::sgx_qvl::{self, SgxVerifyError};
use attestation::{verify_quote_report, AppraisalPolicy, Measurements, TcbStatus, TeeKind};
use common::intel_pki::*;
use common::*;

fn fixture() -> (IntelPki, Vec<u8>, attestation::Collateral) {
    let pki = IntelPki::new(Platform::default());
    let quote = pki.sgx_v4_quote(&enclave_body(false));
    let collateral = pki.collateral();
    (pki, quote, collateral)
}

#[test]
fn sgx_v4_verifies_with_known_status_and_claims() {
    let (pki, quote, collateral) = fixture();
    let claims = dcap::verify_with_root(&quote, &collateral, synth_at(), &pki.root_der).unwrap();
    assert_eq!(claims.tee, TeeKind::Sgx);
    assert_eq!(claims.tcb_status, TcbStatus::SWHardeningNeeded);
    assert_eq!(claims.advisory_ids, ["INTEL-SA-00615"]);
    let Measurements::Sgx {
        mrenclave,
        mrsigner,
    } = claims.measurements
    else {
        panic!("not sgx measurements");
    };
    assert_eq!((mrenclave, mrsigner), ([0xe1; 32], [0x5e; 32]));
    assert_eq!((claims.isv_prod_id, claims.isv_svn), (Some(7), Some(3)));
    assert!(!claims.debug);
    assert_eq!(&claims.report_data[..12], b"v4 synthetic");
}

#[test]
fn own_path_matches_dcap_qvl_on_the_real_sgx_v3_sample() {
    let collateral = sgx_collateral();
    let ours = sgx_qvl::verify(
        SGX_QUOTE,
        collateral.as_dcap_qvl(),
        at(),
        INTEL_SGX_ROOT_CA_DER,
    )
    .unwrap();
    let theirs = dcap_qvl::verify::QuoteVerifier::new(INTEL_SGX_ROOT_CA_DER.to_vec())
        .verify(SGX_QUOTE, collateral.as_dcap_qvl(), SECS_AT)
        .unwrap();
    assert_eq!(ours.status.to_string(), theirs.status);
    assert_eq!(ours.advisory_ids, theirs.advisory_ids);
    assert_eq!(
        ours.status,
        dcap_qvl::TcbStatus::ConfigurationAndSWHardeningNeeded
    );
    assert_eq!(ours.advisory_ids, ["INTEL-SA-00289", "INTEL-SA-00615"]);
}

/// 2025-07-01T00:00:00Z, [`at`] in seconds.
const SECS_AT: u64 = 1_751_328_000;

/// The real sample, each byte flipped in turn: our path refuses every one, as dcap-qvl does.
#[test]
fn own_path_refuses_every_flip_of_the_real_sgx_v3_sample() {
    let collateral = sgx_collateral();
    let mut bytes = SGX_QUOTE.to_vec();
    for pos in 0..bytes.len() {
        bytes[pos] ^= 0x01;
        let ours = sgx_qvl::verify(
            &bytes,
            collateral.as_dcap_qvl(),
            at(),
            INTEL_SGX_ROOT_CA_DER,
        );
        assert!(ours.is_err(), "flipping byte {pos} still verified");
        bytes[pos] ^= 0x01;
    }
}

/// Synthetic v3 quotes through both verifiers, over TCB scenarios that exercise level
/// matching and Intel's status convergence: the two agree on status and advisories.
#[test]
fn own_path_matches_dcap_qvl_on_synthetic_v3_quotes() {
    let platform = Platform::default();
    let mut lower = platform.cpu_svn;
    lower[2] -= 1;
    let mut higher = platform.cpu_svn;
    higher[5] += 1;
    let pce = platform.pce_svn;
    let scenarios: Vec<(Vec<serde_json::Value>, Vec<serde_json::Value>, &str)> = vec![
        (
            default_tcb_levels(&platform),
            default_qe_levels(),
            "SWHardeningNeeded",
        ),
        (
            vec![tcb_level(lower, pce, "UpToDate", &[])],
            default_qe_levels(),
            "UpToDate",
        ),
        (
            vec![
                tcb_level(higher, pce, "UpToDate", &[]),
                tcb_level(lower, pce, "ConfigurationNeeded", &["INTEL-SA-00001"]),
            ],
            vec![
                qe_level(9, "UpToDate", &[]),
                qe_level(2, "OutOfDate", &["INTEL-SA-00002"]),
            ],
            "OutOfDateConfigurationNeeded",
        ),
        (
            // JSON order must not matter: the higher level is listed last.
            vec![
                tcb_level(lower, pce - 1, "OutOfDate", &["INTEL-SA-00003"]),
                tcb_level(
                    platform.cpu_svn,
                    pce,
                    "ConfigurationAndSWHardeningNeeded",
                    &["INTEL-SA-00004"],
                ),
            ],
            default_qe_levels(),
            "ConfigurationAndSWHardeningNeeded",
        ),
    ];
    let pki = IntelPki::new(platform);
    let secs = SYNTH_AT_SECS;
    for (tcb, qe, expected) in scenarios {
        let collateral = pki.collateral_with(tcb, qe);
        let quote = pki.sgx_v3_quote(&enclave_body(false));
        let theirs = dcap_qvl::verify::QuoteVerifier::new(pki.root_der.clone())
            .verify(&quote, collateral.as_dcap_qvl(), secs)
            .unwrap();
        let ours =
            sgx_qvl::verify(&quote, collateral.as_dcap_qvl(), synth_at(), &pki.root_der).unwrap();
        assert_eq!(ours.status.to_string(), theirs.status);
        assert_eq!(ours.status.to_string(), expected);
        assert_eq!(ours.advisory_ids, theirs.advisory_ids);
        // The same platform's v4 quote gets the same verdict.
        let v4 = pki.sgx_v4_quote(&enclave_body(false));
        let ours_v4 =
            sgx_qvl::verify(&v4, collateral.as_dcap_qvl(), synth_at(), &pki.root_der).unwrap();
        assert_eq!(ours_v4, ours);
    }
}

/// Every byte of the quote (header, body, signature data, QE report, auth data, PCK chain).
#[test]
fn every_byte_flip_of_a_v4_quote_fails() {
    let (pki, quote, collateral) = fixture();
    let mut bytes = quote.clone();
    for pos in 0..bytes.len() {
        bytes[pos] ^= 0x01;
        let result = dcap::verify_with_root(&bytes, &collateral, synth_at(), &pki.root_der);
        let err = result.expect_err(&format!("flipping byte {pos} still verified"));
        assert!(!chain(&err).is_empty());
        bytes[pos] ^= 0x01;
    }
    assert!(dcap::verify_with_root(&bytes, &collateral, synth_at(), &pki.root_der).is_ok());
}

#[test]
fn tamper_errors_name_the_failed_check() {
    let (pki, quote, collateral) = fixture();
    let verify = |bytes: &[u8]| {
        chain(&dcap::verify_with_root(bytes, &collateral, synth_at(), &pki.root_der).unwrap_err())
    };
    let flip = |pos: usize| {
        let mut bytes = quote.clone();
        bytes[pos] ^= 0x01;
        bytes
    };
    // Report body (MRENCLAVE) and the quote signature.
    let expected = "dcap verification failed: quote signature over header and report body is not valid for the attestation key";
    assert_eq!(verify(&flip(48 + 64)), expected);
    assert_eq!(verify(&flip(436 + 10)), expected);
    // Attestation key: the QE report no longer binds it.
    assert_eq!(
        verify(&flip(436 + 64 + 3)),
        "dcap verification failed: qe report data does not match sha-256(attestation key || qe auth data) || 32 zero bytes"
    );
    // QE report (ISVSVN) and its signature.
    let qe_report = 436 + 128 + 6;
    let qe_sig =
        "dcap verification failed: qe report signature is not valid for the pck certificate's key";
    assert_eq!(verify(&flip(qe_report + 258)), qe_sig);
    assert_eq!(verify(&flip(qe_report + 384 + 5)), qe_sig);
    // The version byte: a v4 quote read as v5 no longer parses.
    assert!(verify(&flip(0)).starts_with("invalid quote: "));
}

#[test]
fn wrong_root_fails() {
    let (_, quote, collateral) = fixture();
    let other = IntelPki::new(Platform::default());
    let err = dcap::verify_with_root(&quote, &collateral, synth_at(), &other.root_der).unwrap_err();
    assert!(
        matches!(err, DcapError::NotConfiguredRoot { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("not at the configured root ca \"CN=Test SGX Root CA (synthetic, not Intel)"),
        "{err}"
    );
    let err = dcap::verify(&quote, &collateral, synth_at()).unwrap_err();
    assert!(matches!(err, DcapError::NotIntelRoot { .. }), "{err:?}");
    // Our path itself, given another root, refuses the chains.
    let err = sgx_qvl::verify(
        &quote,
        collateral.as_dcap_qvl(),
        synth_at(),
        &other.root_der,
    )
    .unwrap_err();
    assert!(matches!(err, SgxVerifyError::Chain { .. }), "{err:?}");
    // Collateral of another PKI (same platform) does not verify either.
    let err = dcap::verify_with_root(
        &quote,
        &other.collateral(),
        synth_at(),
        &IntelPki::new(Platform::default()).root_der,
    )
    .unwrap_err();
    assert!(
        matches!(err, DcapError::NotConfiguredRoot { .. }),
        "{err:?}"
    );
}

#[test]
fn collateral_of_another_pki_fails() {
    let (pki, quote, _) = fixture();
    let other = IntelPki::new(Platform::default());
    let foreign = other.collateral();
    let err =
        sgx_qvl::verify(&quote, foreign.as_dcap_qvl(), synth_at(), &pki.root_der).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("tcb info signing chain does not verify: it ends at "),
        "{err}"
    );
    // The other PKI's TCB signer presented under our root: its signature does not check out.
    let mut inner = foreign.as_dcap_qvl().clone();
    inner.tcb_info_issuer_chain = format!("{}{}", other.tcb_signer_pem, pki.root_pem);
    let err = sgx_qvl::verify(&quote, &inner, synth_at(), &pki.root_der).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tcb info signing chain does not verify: InvalidSignatureForPublicKey"
    );
}

#[test]
fn revoked_pck_fails() {
    let revoked_pck = Platform {
        revoke_pck: true,
        ..Platform::default()
    };
    let revoked_pck_ca = Platform {
        revoke_pck_ca: true,
        ..Platform::default()
    };
    for platform in [revoked_pck, revoked_pck_ca] {
        let pki = IntelPki::new(platform);
        let quote = pki.sgx_v4_quote(&enclave_body(false));
        let err = dcap::verify_with_root(&quote, &pki.collateral(), synth_at(), &pki.root_der)
            .unwrap_err();
        assert_eq!(
            chain(&err),
            "dcap verification failed: pck certificate chain does not verify: CertRevoked"
        );
    }
}

#[test]
fn tcb_status_and_advisory_policy_apply() {
    let (pki, quote, collateral) = fixture();
    let root = pki.root_pem.as_str();
    let report = |policy: &AppraisalPolicy| {
        verify_quote_report(&quote, Some(&collateral), synth_at(), policy, Some(root))
    };
    let strict = report(&AppraisalPolicy::default());
    assert!(!strict.is_accepted());
    assert_eq!(strict.to_json()["tcb_status"], "SWHardeningNeeded");
    assert!(
        strict.to_json()["reason"]
            .as_str()
            .unwrap()
            .contains("SWHardeningNeeded"),
        "{}",
        strict.to_json()
    );
    let relaxed = AppraisalPolicy::accepting([TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded]);
    let accepted = report(&relaxed);
    assert!(accepted.is_accepted(), "{}", accepted.to_json());
    assert_eq!(accepted.to_json()["tee"], "sgx");
    let advisory = report(&relaxed.clone().rejecting_advisories(["intel-sa-00615"]));
    assert!(!advisory.is_accepted());
    assert!(
        advisory.to_json()["reason"]
            .as_str()
            .unwrap()
            .contains("INTEL-SA-00615"),
        "{}",
        advisory.to_json()
    );
    // A debug enclave verifies, and the policy refuses it.
    let debug = pki.sgx_v4_quote(&enclave_body(true));
    let debug = verify_quote_report(&debug, Some(&collateral), synth_at(), &relaxed, Some(root));
    assert_eq!(debug.to_json()["debug"], true);
    assert!(!debug.is_accepted());
}

#[test]
fn tcb_levels_decide_the_status() {
    let platform = Platform::default();
    let pki = IntelPki::new(platform.clone());
    let quote = pki.sgx_v4_quote(&enclave_body(false));
    let verify = |tcb, qe| {
        dcap::verify_with_root(
            &quote,
            &pki.collateral_with(tcb, qe),
            synth_at(),
            &pki.root_der,
        )
    };
    // A revoked level never verifies.
    let err = verify(
        vec![tcb_level(
            platform.cpu_svn,
            platform.pce_svn,
            "Revoked",
            &[],
        )],
        default_qe_levels(),
    )
    .unwrap_err();
    assert_eq!(
        chain(&err),
        "dcap verification failed: tcb status is Revoked: the platform's keys are compromised"
    );
    // Below every level.
    let mut higher = platform.cpu_svn;
    higher[1] += 1;
    let err = verify(
        vec![tcb_level(higher, platform.pce_svn, "UpToDate", &[])],
        default_qe_levels(),
    )
    .unwrap_err();
    assert_eq!(
        chain(&err),
        format!(
            "dcap verification failed: no tcb level in the tcb info matches cpusvn {} pcesvn 13",
            hex::encode(platform.cpu_svn)
        )
    );
    // An out-of-date QE makes an up-to-date platform OutOfDate, advisories merged.
    let claims = verify(
        vec![tcb_level(
            platform.cpu_svn,
            platform.pce_svn,
            "UpToDate",
            &["INTEL-SA-1"],
        )],
        vec![
            qe_level(9, "UpToDate", &[]),
            qe_level(1, "OutOfDate", &["INTEL-SA-2"]),
        ],
    )
    .unwrap();
    assert_eq!(claims.tcb_status, TcbStatus::OutOfDate);
    assert_eq!(claims.advisory_ids, ["INTEL-SA-1", "INTEL-SA-2"]);
    // A QE below every QE identity level.
    let err = verify(
        default_tcb_levels(&platform),
        vec![qe_level(9, "UpToDate", &[])],
    )
    .unwrap_err();
    assert_eq!(
        chain(&err),
        "dcap verification failed: qe isvsvn 8 is below every qe identity tcb level (lowest 9)"
    );
}

#[test]
fn tampered_collateral_fails() {
    let (pki, quote, collateral) = fixture();
    let mut inner = collateral.as_dcap_qvl().clone();
    inner.tcb_info = inner.tcb_info.replace("SWHardeningNeeded", "UpToDate");
    let err = sgx_qvl::verify(&quote, &inner, synth_at(), &pki.root_der).unwrap_err();
    assert_eq!(
        err.to_string(),
        "collateral tcb_info signature is not valid for its signing certificate"
    );
    let mut inner = collateral.as_dcap_qvl().clone();
    inner.qe_identity_signature[3] ^= 1;
    let err = sgx_qvl::verify(&quote, &inner, synth_at(), &pki.root_der).unwrap_err();
    assert_eq!(
        err.to_string(),
        "collateral qe_identity signature is not valid for its signing certificate"
    );
    let mut inner = collateral.as_dcap_qvl().clone();
    inner.pck_crl[20] ^= 1;
    assert!(sgx_qvl::verify(&quote, &inner, synth_at(), &pki.root_der).is_err());
}

#[test]
fn collateral_time_window_is_enforced() {
    let (pki, quote, collateral) = fixture();
    let err = dcap::verify_with_root(
        &quote,
        &collateral,
        std::time::SystemTime::now(),
        &pki.root_der,
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("collateral expired: "), "{err}");
    // Our path checks the window itself too, when called directly.
    let late = synth_at() + std::time::Duration::from_secs(60 * 24 * 3600);
    let err = sgx_qvl::verify(&quote, collateral.as_dcap_qvl(), late, &pki.root_der).unwrap_err();
    assert_eq!(
        err.to_string(),
        "collateral tcb_info is valid from 2025-12-01T00:00:00Z to 2026-02-01T00:00:00Z, verification time is 2026-03-02T00:00:00Z"
    );
}

#[test]
fn sim_quotes_still_go_to_the_sim_verifier_with_a_root() {
    let pki = attestation::sim::SimPki::generate("v4-test", std::time::SystemTime::now()).unwrap();
    let quoter = attestation::sim::SimQuoter::new(&pki).unwrap();
    let quote = quoter.quote(&[0u8; 384]).unwrap();
    let report = verify_quote_report(
        &quote,
        None,
        std::time::SystemTime::now(),
        &AppraisalPolicy::default(),
        Some(pki.root_cert_pem()),
    );
    assert_eq!(report.to_json()["tee"], "sim");
    assert!(report.is_accepted(), "{}", report.to_json());
    // An Intel-shaped quote with the right root but no collateral is refused clearly.
    let (intel, quote, _) = fixture();
    let report = verify_quote_report(
        &quote,
        None,
        synth_at(),
        &AppraisalPolicy::default(),
        Some(&intel.root_pem),
    );
    assert_eq!(
        report.to_json()["reason"],
        "no collateral given: dcap verification of an sgx quote chained to the configured root ca needs collateral"
    );
}

/// The committed SGX v4 fixture (quote, collateral, root) that the CLI tests, the benchmark and
/// the `sgx_v4_verify` fuzz target use; regenerate with
/// `cargo test -p attestation --test sgx_v4 -- --ignored write_sgx_v4_fixture`.
fn fixture_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sgx_v4")
}

#[test]
fn committed_sgx_v4_fixture_verifies() {
    let dir = fixture_dir();
    let quote = std::fs::read(dir.join("quote")).unwrap();
    let collateral = attestation::Collateral::from_file(&dir.join("collateral.json")).unwrap();
    let root_pem = std::fs::read_to_string(dir.join("root_ca.pem")).unwrap();
    let root_der = attestation::quote::parse_pem_chain(root_pem.as_bytes())
        .unwrap()
        .remove(0);
    let parsed = attestation::quote::Quote::parse(&quote).unwrap();
    assert_eq!((parsed.header.version, parsed.header.tee_type), (4, 0));
    let claims = dcap::verify_with_root(&quote, &collateral, synth_at(), &root_der).unwrap();
    assert_eq!(claims.tcb_status, TcbStatus::SWHardeningNeeded);
    assert_eq!(claims.advisory_ids, ["INTEL-SA-00615"]);
    assert_eq!(&claims.report_data[..12], b"v4 synthetic");
}

#[test]
#[ignore = "writes tests/data/sgx_v4; run by hand to regenerate the fixture"]
fn write_sgx_v4_fixture() {
    let (pki, quote, collateral) = fixture();
    let dir = fixture_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("quote"), &quote).unwrap();
    std::fs::write(dir.join("collateral.json"), collateral.to_json()).unwrap();
    std::fs::write(dir.join("root_ca.pem"), &pki.root_pem).unwrap();
    let revoked = IntelPki::new(Platform {
        revoke_pck: true,
        ..Platform::default()
    });
    std::fs::write(
        dir.join("revoked_quote"),
        revoked.sgx_v4_quote(&enclave_body(false)),
    )
    .unwrap();
    std::fs::write(
        dir.join("revoked_collateral.json"),
        revoked.collateral().to_json(),
    )
    .unwrap();
    std::fs::write(dir.join("revoked_root_ca.pem"), &revoked.root_pem).unwrap();
}
