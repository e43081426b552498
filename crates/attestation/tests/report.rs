//! `verify_quote_report`: dispatch by quote, appraisal, and the JSON shape the CLI prints.

mod common;

use std::time::SystemTime;

use attestation::sim::{SimPki, SimQuoter};
use attestation::{verify_quote_report, AppraisalPolicy, TcbStatus};
use common::*;

fn keys(json: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn sgx_sample_is_rejected_by_default_with_claims() {
    let report = verify_quote_report(
        SGX_QUOTE,
        Some(&sgx_collateral()),
        at(),
        &AppraisalPolicy::default(),
        None,
    );
    assert!(!report.is_accepted());
    let json = report.to_json();
    assert_eq!(json["tee"], "sgx");
    assert_eq!(json["verdict"], "rejected");
    assert_eq!(
        json["reason"],
        "tcb status ConfigurationAndSWHardeningNeeded is not accepted (accepted: UpToDate)"
    );
    assert_eq!(
        json["mrenclave"],
        "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
    );
    assert_eq!(
        json["advisory_ids"],
        serde_json::json!(["INTEL-SA-00289", "INTEL-SA-00615"])
    );
    assert_eq!(
        keys(&json),
        [
            "advisory_ids",
            "debug",
            "isv_prod_id",
            "isv_svn",
            "mrenclave",
            "mrsigner",
            "reason",
            "report_data",
            "tcb_status",
            "tee",
            "verdict"
        ]
    );
}

#[test]
fn sgx_sample_is_accepted_when_its_status_is() {
    let policy = AppraisalPolicy::accepting([
        TcbStatus::UpToDate,
        TcbStatus::ConfigurationAndSWHardeningNeeded,
    ]);
    let report = verify_quote_report(SGX_QUOTE, Some(&sgx_collateral()), at(), &policy, None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "accepted");
    assert!(json.get("reason").is_none());
    let policy = policy.rejecting_advisories(["INTEL-SA-00615"]);
    let report = verify_quote_report(SGX_QUOTE, Some(&sgx_collateral()), at(), &policy, None);
    assert_eq!(
        report.to_json()["reason"],
        "advisory INTEL-SA-00615 is rejected by policy"
    );
}

#[test]
fn tdx_sample_is_accepted() {
    let report = verify_quote_report(
        TDX_QUOTE,
        Some(&tdx_collateral()),
        at(),
        &AppraisalPolicy::default(),
        None,
    );
    let json = report.to_json();
    assert_eq!(json["verdict"], "accepted", "{json}");
    assert_eq!(json["tee"], "tdx");
    assert_eq!(json["mrtd"], "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7");
    assert_eq!(
        keys(&json),
        [
            "advisory_ids",
            "debug",
            "isv_prod_id",
            "isv_svn",
            "mrtd",
            "report_data",
            "rtmr0",
            "rtmr1",
            "rtmr2",
            "rtmr3",
            "tcb_status",
            "tee",
            "verdict"
        ]
    );
}

#[test]
fn expired_collateral_is_a_rejection_with_the_reason() {
    let report = verify_quote_report(
        TDX_QUOTE,
        Some(&tdx_collateral()),
        SystemTime::now(),
        &AppraisalPolicy::default(),
        None,
    );
    let json = report.to_json();
    assert_eq!(json["verdict"], "rejected");
    assert_eq!(json["tee"], "tdx");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .starts_with("collateral expired: "),
        "{json}"
    );
    assert!(json.get("mrtd").is_none());
}

#[test]
fn sim_quote_goes_to_the_sim_verifier() {
    let pki = SimPki::generate("report-test", SystemTime::now()).unwrap();
    let mut body = [0u8; 384];
    body[320] = 0xaa;
    let quote = SimQuoter::new(&pki).unwrap().quote(&body).unwrap();
    let now = SystemTime::now();
    let policy = AppraisalPolicy::default();

    let report = verify_quote_report(&quote, None, now, &policy, Some(pki.root_cert_pem()));
    let json = report.to_json();
    assert_eq!(json["tee"], "sim");
    assert_eq!(json["verdict"], "accepted", "{json}");
    assert_eq!(json["tcb_status"], "UpToDate");
    assert!(json["report_data"].as_str().unwrap().starts_with("aa00"));

    // Without a sim root: DCAP refuses it and says why.
    let report = verify_quote_report(&quote, Some(&sgx_collateral()), now, &policy, None);
    let json = report.to_json();
    assert_eq!(json["verdict"], "rejected");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("a sim quote must be verified against a configured sim root"),
        "{json}"
    );
    let report = verify_quote_report(&quote, None, now, &policy, None);
    assert!(report.to_json()["reason"]
        .as_str()
        .unwrap()
        .starts_with("pck certificate chain does not end at intel's sgx root ca"));

    // An Intel quote still goes to DCAP when a sim root is configured.
    let report = verify_quote_report(
        TDX_QUOTE,
        Some(&tdx_collateral()),
        at(),
        &policy,
        Some(pki.root_cert_pem()),
    );
    assert!(report.is_accepted());
}

#[test]
fn garbage_and_missing_collateral_are_rejections() {
    let policy = AppraisalPolicy::default();
    let report = verify_quote_report(b"junk", None, at(), &policy, None);
    let json = report.to_json();
    assert_eq!(
        json,
        serde_json::json!({
            "verdict": "rejected",
            "reason": "invalid quote: quote truncated: header needs 48 bytes at offset 0, 4 left"
        })
    );
    let report = verify_quote_report(SGX_QUOTE, None, at(), &policy, None);
    assert_eq!(
        report.to_json()["reason"],
        "no collateral given: dcap verification of a sgx quote needs collateral (a file, a directory or a pccs)"
    );
    let report = verify_quote_report(SGX_QUOTE, None, at(), &policy, Some("not pem"));
    assert_eq!(report.to_json()["tee"], "sgx");
}
