//! Property tests of request parsing in the service: any body or path gets a 4xx answer
//! (never a panic, never a 500), and valid shapes keep working.

use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use verdictd::service::{Credential, Kbs, ServiceConfig};
use verdictd::store::{PolicyKind, Store};

fn kbs() -> &'static Kbs {
    static KBS: OnceLock<(tempfile::TempDir, Kbs)> = OnceLock::new();
    &KBS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        let signer = verdictd::token::TokenSigner::new(
            &verdictd::token::generate_key().unwrap(),
            Duration::from_secs(60),
        )
        .unwrap();
        let config = ServiceConfig {
            session_ttl: Duration::from_secs(60),
            token_ttl: Duration::from_secs(60),
        };
        let kbs = Kbs::new(store, Default::default(), signer, &config).unwrap();
        (dir, kbs)
    })
    .1
}

fn json_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "\\{\"version\":\"[0-9.]{0,8}\",\"tee\":\"[a-z-]{0,12}\",\"extra-params\":[\"{}0-9]{0,4}\\}"
            .prop_map(String::into_bytes),
        "\\{\"runtime-data\":\\{\"nonce\":\"[A-Za-z0-9+/=]{0,12}\",\"tee-pubkey\":\\{\"kty\":\"(EC|RSA|x)\"\\}\\},\"tee-evidence\":\\{\"primary_evidence\":\\{\\},\"additional_evidence\":\"\"\\}\\}"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn auth_answers_4xx_or_a_challenge(body in json_like()) {
        match kbs().auth(&body) {
            Ok((id, challenge)) => {
                prop_assert!(!id.is_empty());
                prop_assert_eq!(challenge.nonce.len(), 44);
            }
            Err(e) => prop_assert_eq!(e.status(), 400, "{}", e),
        }
    }

    #[test]
    fn attest_answers_4xx(body in json_like()) {
        let (id, _) = kbs().auth(br#"{"version":"0.4.0","tee":"sgx","extra-params":{}}"#).unwrap();
        let err = kbs().attest(Some(&id), &body).unwrap_err();
        prop_assert!(matches!(err.status(), 400 | 401), "{}", err);
        let err = kbs().attest(None, &body).unwrap_err();
        prop_assert!(matches!(err.status(), 400 | 401), "{}", err);
    }

    #[test]
    fn resource_paths_answer_4xx(path in "[a-z./%-]{0,40}") {
        let err = kbs().resource(&path, Credential::None).unwrap_err();
        prop_assert!(matches!(err.status(), 400 | 401), "{}", err);
        let err = kbs().resource(&path, Credential::Bearer("a.b.c")).unwrap_err();
        prop_assert!(matches!(err.status(), 400 | 401), "{}", err);
    }

    #[test]
    fn admin_bodies_answer_400(body in json_like()) {
        for kind in [PolicyKind::Attestation, PolicyKind::Resource] {
            let err = kbs().set_policy(kind, &body).unwrap_err();
            prop_assert_eq!(err.status(), 400, "{}", err);
        }
        if let Err(err) = kbs().set_reference_value(&body) {
            prop_assert_eq!(err.status(), 400, "{}", err);
        }
    }
}
