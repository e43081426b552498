//! End-to-end: the KBS client against a real verdictd with sim evidence.

mod common;

use std::time::Duration;

use attestation::kbs::client::AuthMode;
use attestation::kbs::{
    binding, Attestation, CompositeEvidence, EvidenceProvider, KbsClient, ResourcePath,
    RuntimeData, StaticEvidence, Tee, TeeKeyPair,
};
use common::*;

fn path(text: &str) -> ResourcePath {
    ResourcePath::parse(text).unwrap()
}

#[test]
fn allowed_secret_is_delivered_over_tls_with_cookie_and_passport() {
    let h = Harness::allowing_sim(Options {
        tls: true,
        ..Options::default()
    });
    assert!(h.server.url().starts_with("https://"));
    let mut client = h.client_for(MRENCLAVE, false);
    let secret = client.get_resource(&path("default/key/1")).unwrap();
    assert_eq!(secret.as_slice(), b"the secret");

    // Passport mode: the token alone, in a new client holding the same key.
    let token = client.token().unwrap().to_owned();
    let claims = decode_claims(&token);
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");
    assert_eq!(
        claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["tee"],
        "sim"
    );
    assert!(claims["submods"]["cpu0"]["ear.trustworthiness-vector"]["hardware"].is_i64());
    let key = TeeKeyPair::generate_ec();
    let mut attested = h
        .client()
        .with_key(key)
        .with_provider(sim_provider(h.quoter.clone(), MRENCLAVE, false))
        .with_mode(AuthMode::Bearer);
    let token = attested.attest().unwrap();
    assert!(attested.session_cookie().is_some());
    let mut passport = h.client().with_token(token, TeeKeyPair::generate_ec());
    // A token bound to another key cannot be decrypted by this key...
    assert!(passport.get_resource_once(&path("default/key/1")).is_err());
    // ...and the right key gets the secret with the bearer token alone.
    let secret = attested.get_resource_once(&path("default/key/1")).unwrap();
    assert_eq!(secret.as_slice(), b"the secret");
    passport.reset_session();
    assert!(passport.get_resource(&path("default/key/1")).is_err());
}

#[test]
fn rsa_oaep_keys_work_too() {
    let h = Harness::allowing_sim(Options::default());
    let mut client = h
        .client()
        .with_key(TeeKeyPair::generate_rsa().unwrap())
        .with_provider(sim_provider(h.quoter.clone(), MRENCLAVE, false));
    assert_eq!(
        client
            .get_resource(&path("default/key/1"))
            .unwrap()
            .as_slice(),
        b"the secret"
    );
}

fn decode_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// Build an attestation for the client's current session.
fn attestation_for(client: &mut KbsClient, provider: &dyn EvidenceProvider) -> Attestation {
    let challenge = client.auth(provider.tee()).unwrap();
    let tee_pubkey = serde_json::to_value(client.tee_key().public_jwk()).unwrap();
    let rd = binding::report_data(&challenge.nonce, &tee_pubkey, "").unwrap();
    Attestation {
        init_data: None,
        runtime_data: RuntimeData {
            nonce: challenge.nonce,
            tee_pubkey,
        },
        tee_evidence: CompositeEvidence {
            primary_evidence: provider.evidence(&rd).unwrap(),
            additional_evidence: String::new(),
        },
    }
}

#[test]
fn replayed_nonce_is_401() {
    let h = Harness::allowing_sim(Options::default());
    let provider = sim_provider(h.quoter.clone(), MRENCLAVE, false);
    let mut client = h.client();
    let attestation = attestation_for(&mut client, provider.as_ref());
    client.attest_raw(&attestation).unwrap();
    // Same session, same nonce.
    let err = client.attest_raw(&attestation).unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("nonce was already used"), "{err}");
    // A new session, the old evidence.
    client.auth(Tee::Sgx).unwrap();
    let err = client.attest_raw(&attestation).unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("nonce does not match"), "{err}");
}

#[test]
fn expired_session_is_401_and_the_client_reattests() {
    let h = Harness::allowing_sim(Options {
        session_ttl: Duration::from_secs(1),
        ..Options::default()
    });
    let provider = sim_provider(h.quoter.clone(), MRENCLAVE, false);
    let mut client = h.client().with_provider(provider.clone());
    let attestation = attestation_for(&mut client, provider.as_ref());
    std::thread::sleep(Duration::from_millis(1100));
    let err = client.attest_raw(&attestation).unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("session expired"), "{err}");

    client.attest().unwrap();
    assert!(client.get_resource_once(&path("default/key/1")).is_ok());
    std::thread::sleep(Duration::from_millis(1100));
    let err = client
        .get_resource_once(&path("default/key/1"))
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    // get_resource re-attests on 401, as guest-components does.
    assert_eq!(
        client
            .get_resource(&path("default/key/1"))
            .unwrap()
            .as_slice(),
        b"the secret"
    );
}

#[test]
fn report_data_not_bound_to_nonce_and_key_is_an_attestation_error() {
    let h = Harness::allowing_sim(Options::default());
    let quote = h
        .quoter
        .quote(&report_body(MRENCLAVE, false, &[0u8; 64]))
        .unwrap();
    use base64::Engine as _;
    let stale = StaticEvidence {
        tee: Tee::Sgx,
        evidence: serde_json::json!({"quote": base64::engine::general_purpose::STANDARD.encode(quote)}),
    };
    let mut client = h.client();
    let err = client.attest_with(&stale).unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(
        err.to_string().contains("attestation failed: report_data"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("is not bound to the session nonce and tee-pubkey"),
        "{err}"
    );

    // Evidence bound to another key than the one presented.
    let provider = sim_provider(h.quoter.clone(), MRENCLAVE, false);
    let mut attestation = attestation_for(&mut client, provider.as_ref());
    attestation.runtime_data.tee_pubkey =
        serde_json::to_value(TeeKeyPair::generate_ec().public_jwk()).unwrap();
    let err = client.attest_raw(&attestation).unwrap_err();
    assert!(err.to_string().contains("is not bound"), "{err}");
}

#[test]
fn policy_bound_to_another_mrenclave_is_403() {
    let h = Harness::allowing_sim(Options::default());
    h.admin()
        .set_resource_policy(OTHER_MRENCLAVE_RESOURCE_POLICY)
        .ok200();
    let mut client = h.client_for(MRENCLAVE, false);
    let err = client.get_resource(&path("default/key/1")).unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(
        err.to_string()
            .contains("resource policy denies default/key/1"),
        "{err}"
    );

    // An enclave that is not a reference value is not affirming either.
    h.admin().set_resource_policy("package policy\nimport rego.v1\ndefault allow := false\nallow if input.submods.cpu0[\"ear.status\"] == \"affirming\"\n").ok200();
    let mut other = h.client_for(OTHER_MRENCLAVE, false);
    let err = other.get_resource(&path("default/key/1")).unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(
        err.to_string().contains("attestation status warning"),
        "{err}"
    );
    // A debug enclave is contraindicated.
    let mut debug = h.client_for(MRENCLAVE, true);
    let err = debug.get_resource(&path("default/key/1")).unwrap_err();
    assert!(
        err.to_string()
            .contains("attestation status contraindicated"),
        "{err}"
    );
}

#[test]
fn missing_resource_is_404() {
    let h = Harness::allowing_sim(Options::default());
    let mut client = h.client_for(MRENCLAVE, false);
    let err = client.get_resource(&path("default/key/none")).unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert_eq!(
        h.admin().delete("/kbs/v0/resource/default/key/none").status,
        404
    );
}

#[test]
fn path_traversal_and_invalid_names_are_400() {
    let h = Harness::allowing_sim(Options::default());
    let mut client = h.client_for(MRENCLAVE, false);
    client.attest().unwrap();
    let cookie = client.session_cookie().unwrap().to_owned();
    let agent = agent(None);
    for bad in [
        "a/b",
        "a/b/c/d",
        "a/%2e%2e/c",
        "..%2f..%2fetc/passwd/x",
        "a/b/c%00",
        "a/b/%20",
        "a//c",
    ] {
        let url = format!("{}/kbs/v0/resource/{bad}", h.server.url());
        let r = reply(agent.get(&url).header("Cookie", &cookie).call());
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.problem()["status"], 400);
        assert!(r.problem()["detail"]
            .as_str()
            .unwrap()
            .starts_with("invalid resource path"));
        let r = h.admin().set_resource(bad, b"x");
        assert_eq!(r.status, 400, "admin {bad}: {}", r.body);
    }
}

#[test]
fn admin_without_or_with_a_wrong_token_is_401() {
    let h = Harness::start(Options::default());
    let admin = h.admin();
    for anonymous in [
        admin.with_token(""),
        admin.with_token("wrong-token-wrong-token"),
    ] {
        assert_eq!(anonymous.get("/kbs/v0/resources").status, 401);
        let r = anonymous.set_resource("a/b/c", b"x");
        assert_eq!(r.status, 401);
        assert_eq!(r.problem()["title"], "unauthenticated");
        assert_eq!(anonymous.delete("/kbs/v0/resource/a/b/c").status, 401);
        assert_eq!(anonymous.set_resource_policy("package policy").status, 401);
        assert_eq!(
            anonymous.set_attestation_policy("package policy").status,
            401
        );
        assert_eq!(anonymous.post("/kbs/v0/reference-value", b"{}").status, 401);
    }
    admin.set_resource("a/b/c", b"x").ok200();
    let r = admin.get("/kbs/v0/resources");
    assert_eq!(r.body, r#"["a/b/c"]"#);
    // A resource GET without a session is 401 too.
    let r = admin.with_token("").get("/kbs/v0/resource/a/b/c");
    assert_eq!(r.status, 401);
}

/// Send only the headers of a request announcing `len` body bytes; return the answer.
fn announce_body(addr: std::net::SocketAddr, path: &str, extra: &str, len: usize) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&vec![b'x'; 1024]).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn oversized_body_is_413() {
    let h = Harness::start(Options::default());
    let auth = format!("Authorization: Bearer {}\r\n", h.server.admin_token);
    let big = 2 * 1024 * 1024;
    let answer = announce_body(h.server.addr, "/kbs/v0/resource/a/b/c", &auth, big);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"status\":413"), "{answer}");
    let answer = announce_body(h.server.addr, "/kbs/v0/auth", "", big);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Within the limit is fine.
    h.admin()
        .set_resource("a/b/c", &vec![b'x'; 512 * 1024])
        .ok200();
}

#[test]
fn default_policy_denies_sim_and_sample() {
    let h = Harness::start(Options::default());
    h.admin().set_resource("default/key/1", b"s").ok200();
    let mut sim = h.client_for(MRENCLAVE, false);
    let err = sim.get_resource(&path("default/key/1")).unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(err.to_string().contains("contraindicated"), "{err}");
    let claims = decode_claims(sim.token().unwrap());
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "contraindicated");
    assert_eq!(
        claims["submods"]["cpu0"]["ear.trustworthiness-vector"]["hardware"],
        97
    );

    let mut sample = h
        .client()
        .with_provider(std::sync::Arc::new(SampleProvider));
    let err = sample.get_resource(&path("default/key/1")).unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let claims = decode_claims(sample.token().unwrap());
    assert_eq!(
        claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["tee"],
        "sample"
    );
}

#[test]
fn sim_quotes_need_the_configured_root() {
    let h = Harness::start(Options {
        sim: false,
        ..Options::default()
    });
    let mut client = h.client_for(MRENCLAVE, false);
    let err = client.attest().unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("attestation failed"), "{err}");
}

#[test]
fn protocol_version_and_malformed_requests_are_400() {
    let h = Harness::start(Options::default());
    let anon = h.admin().with_token("");
    let r = anon.post(
        "/kbs/v0/auth",
        br#"{"version":"0.3.0","tee":"sgx","extra-params":""}"#,
    );
    assert_eq!(r.status, 400);
    assert!(r.problem()["detail"]
        .as_str()
        .unwrap()
        .contains("protocol version 0.3.0 is not supported"));
    let r = anon.post(
        "/kbs/v0/auth",
        br#"{"version":"0.4.0","tee":"snp","extra-params":""}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = anon.post("/kbs/v0/auth", b"not json");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.problem()["type"],
        "https://rune.invalid/kbs/errors/bad-request"
    );
    let r = anon.post("/kbs/v0/attest", b"{}");
    assert_eq!(r.status, 401, "{}", r.body);
    let r = anon.get("/nope");
    assert_eq!(r.status, 404);
}

#[test]
fn healthz_and_metrics() {
    let h = Harness::allowing_sim(Options::default());
    let mut client = h.client_for(MRENCLAVE, false);
    client.get_resource(&path("default/key/1")).unwrap();
    let anon = h.admin().with_token("");
    assert_eq!(anon.get("/healthz").body, "ok\n");
    let m = anon.get("/metrics").body;
    assert!(
        m.contains("verdictd_http_requests_total{route=\"/kbs/v0/auth\",status=\"200\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("verdictd_attestations_total{tee=\"sim\",result=\"affirming\"} 1"),
        "{m}"
    );
    assert!(m.contains("verdictd_handshake_seconds_count 1"), "{m}");
}
