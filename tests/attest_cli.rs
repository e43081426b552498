//! `rune enclave verify-quote` on real Intel quotes (the DCAP samples with their collateral,
//! kept in crates/attestation/tests/data): the JSON it prints and its exit status.

use std::path::PathBuf;

use rune_integration_tests::{workspace, Runtime};
use serde_json::Value;

fn data(name: &str) -> String {
    let path: PathBuf = workspace().join("crates/attestation/tests/data").join(name);
    path.to_string_lossy().into_owned()
}

fn verify(args: &[&str]) -> (i32, Value) {
    let mut full = vec!["enclave", "verify-quote"];
    full.extend_from_slice(args);
    let out = Runtime::rune().call(&full);
    let json = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:#?}"));
    (out.code, json)
}

/// Verifies `base` twice: rejected for its TCB `status`, then accepted once `--allow-status`
/// names it. Returns the accepted verdict's JSON.
fn accepted_only_with_status_allowed(base: &[&str], status: &str) -> Value {
    let (code, json) = verify(base);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["verdict"], "rejected");
    assert_eq!(json["tcb_status"], status);
    let mut allowed = base.to_vec();
    allowed.extend(["--allow-status", status]);
    let (code, json) = verify(&allowed);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["verdict"], "accepted");
    json
}

#[test]
fn sgx_sample_is_accepted_only_when_its_status_is_allowed() {
    let (quote, collateral) = (data("sgx_quote"), data("sgx_quote_collateral.json"));
    let base = [
        "--quote",
        &quote,
        "--collateral",
        &collateral,
        "--at",
        "2025-07-01T00:00:00Z",
    ];
    let json = accepted_only_with_status_allowed(&base, "ConfigurationAndSWHardeningNeeded");
    assert_eq!(json["tee"], "sgx");
    assert_eq!(
        json["mrenclave"],
        "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
    );
    assert_eq!(
        json["mrsigner"],
        "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
    );
    assert_eq!(json["isv_prod_id"], 0);
    assert_eq!(json["debug"], false);
    assert_eq!(
        json["advisory_ids"],
        serde_json::json!(["INTEL-SA-00289", "INTEL-SA-00615"])
    );
    assert!(json["report_data"]
        .as_str()
        .unwrap()
        .starts_with("48656c6c6f2c20776f726c6421"));
}

#[test]
fn tdx_sample_is_up_to_date() {
    let (quote, collateral) = (data("tdx_quote"), data("tdx_quote_collateral.json"));
    let (code, json) = verify(&[
        "--quote",
        &quote,
        "--collateral",
        &collateral,
        "--at",
        "2025-07-01T00:00:00Z",
    ]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["tee"], "tdx");
    assert_eq!(json["tcb_status"], "UpToDate");
    assert_eq!(
        json["mrtd"],
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    for key in ["rtmr0", "rtmr1", "rtmr2", "rtmr3"] {
        assert!(json[key].is_string(), "{key} in {json}");
    }
}

#[test]
fn expired_collateral_and_tampered_quotes_are_rejected() {
    let collateral = data("sgx_quote_collateral.json");
    let (code, json) = verify(&["--quote", &data("sgx_quote"), "--collateral", &collateral]);
    assert_eq!(code, 1);
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("collateral expired"),
        "{json}"
    );

    let mut quote = std::fs::read(data("sgx_quote")).unwrap();
    quote[100] ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("q");
    std::fs::write(&tampered, quote).unwrap();
    let (code, json) = verify(&[
        "--quote",
        &tampered.to_string_lossy(),
        "--collateral",
        &collateral,
        "--at",
        "2025-07-01T00:00:00Z",
        "--allow-status",
        "ConfigurationAndSWHardeningNeeded",
    ]);
    assert_eq!(code, 1);
    assert_eq!(json["verdict"], "rejected");
}

#[test]
fn bad_arguments_name_the_value() {
    let out = Runtime::rune().call(&[
        "enclave",
        "verify-quote",
        "--quote",
        &data("sgx_quote"),
        "--at",
        "yesterday",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("invalid --at \"yesterday\""),
        "{out:#?}"
    );
    let out = Runtime::rune().call(&[
        "enclave",
        "verify-quote",
        "--quote",
        &data("sgx_quote"),
        "--allow-status",
        "Fine",
    ]);
    assert!(
        out.stderr.contains("invalid --allow-status \"Fine\""),
        "{out:#?}"
    );
}

/// The synthetic SGX v4 fixture (crates/attestation/tests/data/sgx_v4): an Intel-shaped PKI
/// with its own root, so it verifies only with that root given as `--root-ca`.
fn v4(name: &str) -> String {
    data(&format!("sgx_v4/{name}"))
}

#[test]
fn sgx_v4_quote_verifies_against_the_configured_root() {
    let (quote, collateral, root) = (v4("quote"), v4("collateral.json"), v4("root_ca.pem"));
    let base = [
        "--quote",
        &quote,
        "--collateral",
        &collateral,
        "--at",
        "2026-01-01T00:00:00Z",
        "--root-ca",
        &root,
    ];
    let json = accepted_only_with_status_allowed(&base, "SWHardeningNeeded");
    assert_eq!(json["tee"], "sgx");
    assert_eq!(json["mrenclave"], "e1".repeat(32));
    assert_eq!(json["mrsigner"], "5e".repeat(32));
    assert_eq!(json["isv_prod_id"], 7);
    assert_eq!(json["isv_svn"], 3);
    assert_eq!(json["debug"], false);
    assert_eq!(json["advisory_ids"], serde_json::json!(["INTEL-SA-00615"]));
    assert!(json["report_data"]
        .as_str()
        .unwrap()
        .starts_with(&hex_of(b"v4 synthetic")));
}

#[test]
fn sgx_v4_quote_is_rejected_without_its_root_when_revoked_or_tampered() {
    let (quote, collateral) = (v4("quote"), v4("collateral.json"));
    let at = ["--at", "2026-01-01T00:00:00Z"];
    let mut args = vec!["--quote", &quote, "--collateral", &collateral];
    args.extend(at);
    let (code, json) = verify(&args);
    assert_eq!(code, 1);
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("does not end at intel's sgx root ca"),
        "{json}"
    );

    let (rq, rc, rr) = (
        v4("revoked_quote"),
        v4("revoked_collateral.json"),
        v4("revoked_root_ca.pem"),
    );
    let mut args = vec!["--quote", &rq, "--collateral", &rc, "--root-ca", &rr];
    args.extend(at);
    args.extend(["--allow-status", "SWHardeningNeeded"]);
    let (code, json) = verify(&args);
    assert_eq!(code, 1);
    assert_eq!(
        json["reason"],
        "dcap verification failed: pck certificate chain does not verify: CertRevoked"
    );

    let mut bytes = std::fs::read(&quote).unwrap();
    bytes[48 + 64] ^= 1; // MRENCLAVE
    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("q");
    std::fs::write(&tampered, bytes).unwrap();
    let tampered = tampered.to_string_lossy().into_owned();
    let root = v4("root_ca.pem");
    let mut args = vec![
        "--quote",
        &tampered,
        "--collateral",
        &collateral,
        "--root-ca",
        &root,
    ];
    args.extend(at);
    args.extend(["--allow-status", "SWHardeningNeeded"]);
    let (code, json) = verify(&args);
    assert_eq!(code, 1);
    assert_eq!(
        json["reason"],
        "dcap verification failed: quote signature over header and report body is not valid for the attestation key"
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
