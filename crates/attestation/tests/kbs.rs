//! KBS protocol compatibility: decrypt our JWE exactly as guest-components does
//! (`kbs_protocol::keypair::TeeKeyPair::decrypt_response` with the crypto crate's
//! `EcKeyPair::unwrap_key` and `decrypt_aead`), and check the binding and message shapes.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use attestation::kbs::jwe::{encrypt, JweResponse};
use attestation::kbs::{binding, Attestation, TeePubKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// kbs-types `ProtectedHeader`: what guest-components re-serialises to rebuild the AAD.
#[derive(Serialize, Deserialize)]
struct ProtectedHeader {
    alg: String,
    enc: String,
    #[serde(skip_serializing_if = "Map::is_empty", flatten)]
    other_fields: Map<String, Value>,
}

/// guest-components' decryption of a KBS response with a P-256 TEE key, step by step.
fn guest_components_decrypt(secret: &p256::SecretKey, response: &JweResponse) -> Vec<u8> {
    // kbs-types deserialises `protected` into the struct...
    let header: ProtectedHeader =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&response.protected).unwrap()).unwrap();
    assert_eq!(header.alg, "ECDH-ES+A256KW");
    let epk = header.other_fields.get("epk").unwrap();
    assert_eq!(epk["crv"], "P-256");
    let x = URL_SAFE_NO_PAD.decode(epk["x"].as_str().unwrap()).unwrap();
    let y = URL_SAFE_NO_PAD.decode(epk["y"].as_str().unwrap()).unwrap();
    // ...EcKeyPair::unwrap_key...
    let point = p256::EncodedPoint::from_affine_coordinates(
        p256::FieldBytes::from_slice(&x),
        p256::FieldBytes::from_slice(&y),
        false,
    );
    let public: p256::PublicKey =
        Option::from(p256::PublicKey::from_encoded_point(&point)).unwrap();
    let z = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine())
        .raw_secret_bytes()
        .to_vec();
    let alg = "ECDH-ES+A256KW";
    let mut materials = Vec::new();
    materials.extend_from_slice(&u32::try_from(alg.len()).unwrap().to_be_bytes());
    materials.extend_from_slice(alg.as_bytes());
    materials.extend_from_slice(&0u32.to_be_bytes());
    materials.extend_from_slice(&0u32.to_be_bytes());
    materials.extend_from_slice(&256u32.to_be_bytes());
    let mut unwrapping_key = vec![0; 32];
    concat_kdf::derive_key_into::<sha2::Sha256>(&z, &materials, &mut unwrapping_key).unwrap();
    let kek: [u8; 32] = unwrapping_key.try_into().unwrap();
    let kek = aes_kw::KekAes256::from(kek);
    let encrypted_key = URL_SAFE_NO_PAD.decode(&response.encrypted_key).unwrap();
    let mut cek = vec![0; encrypted_key.len() - 8];
    kek.unwrap(&encrypted_key, &mut cek).unwrap();
    // ...and ProtectedHeader::generate_aad: base64url of the re-serialised header.
    let aad = URL_SAFE_NO_PAD.encode(serde_json::to_string(&header).unwrap());
    let cipher = Aes256Gcm::new_from_slice(&cek).unwrap();
    let iv = URL_SAFE_NO_PAD.decode(&response.iv).unwrap();
    let mut data = URL_SAFE_NO_PAD.decode(&response.ciphertext).unwrap();
    data.extend_from_slice(&URL_SAFE_NO_PAD.decode(&response.tag).unwrap());
    cipher
        .decrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: &data,
                aad: aad.as_bytes(),
            },
        )
        .unwrap()
}

#[test]
fn guest_components_decrypts_our_ecdh_es_jwe() {
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let point = secret.public_key().to_encoded_point(false);
    let jwk = TeePubKey::Ec {
        crv: "P-256".into(),
        alg: "ECDH-ES+A256KW".into(),
        x: URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        y: URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    };
    for plaintext in [&b""[..], b"a", &[0x5a; 4096]] {
        let response = encrypt(&jwk, plaintext).unwrap();
        assert_eq!(guest_components_decrypt(&secret, &response), plaintext);
        // The header re-serialises byte for byte, so the recomputed AAD is the sent one.
        let header: ProtectedHeader =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&response.protected).unwrap()).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(serde_json::to_string(&header).unwrap()),
            response.protected
        );
    }
}

#[test]
fn guest_components_decrypts_our_rsa_oaep_jwe() {
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let jwk = TeePubKey::Rsa {
        alg: "RSA-OAEP-256".into(),
        n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    };
    let response = encrypt(&jwk, b"rsa payload").unwrap();
    let header: ProtectedHeader =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&response.protected).unwrap()).unwrap();
    assert_eq!(header.alg, "RSA-OAEP-256");
    let cek = key
        .decrypt(
            rsa::Oaep::new::<rsa::sha2::Sha256>(),
            &URL_SAFE_NO_PAD.decode(&response.encrypted_key).unwrap(),
        )
        .unwrap();
    let aad = URL_SAFE_NO_PAD.encode(serde_json::to_string(&header).unwrap());
    let cipher = Aes256Gcm::new_from_slice(&cek).unwrap();
    let mut data = URL_SAFE_NO_PAD.decode(&response.ciphertext).unwrap();
    data.extend_from_slice(&URL_SAFE_NO_PAD.decode(&response.tag).unwrap());
    let plain = cipher
        .decrypt(
            Nonce::from_slice(&URL_SAFE_NO_PAD.decode(&response.iv).unwrap()),
            Payload {
                msg: &data,
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    assert_eq!(plain, b"rsa payload");
}

#[test]
fn binding_matches_guest_components_canonical_json() {
    // guest-components: json!({"tee-pubkey", "nonce", "additional-evidence"}) through
    // serde_json_canonicalizer, then SHA-384.
    let key = serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "AAA", "y": "BBB"});
    let runtime =
        serde_json::json!({"tee-pubkey": key, "nonce": "n0nce", "additional-evidence": ""});
    let canonical = serde_json_canonicalizer::to_vec(&runtime).unwrap();
    use sha2::Digest as _;
    let digest = sha2::Sha384::digest(&canonical);
    let rd = binding::report_data("n0nce", &key, "").unwrap();
    assert_eq!(&rd[..48], digest.as_slice());
    assert_eq!(&rd[48..], &[0u8; 16]);
}

#[test]
fn trustee_shaped_attestation_parses() {
    let body = serde_json::json!({
        "init-data": {"format": "toml", "body": "algorithm = \"sha384\""},
        "runtime-data": {"nonce": "abc", "tee-pubkey": {"kty": "RSA", "alg": "RSA-OAEP-256", "n": "AQAB", "e": "AQAB"}},
        "tee-evidence": {"primary_evidence": "{\"quote\":\"AAAA\"}", "additional_evidence": "{}"}
    });
    let parsed = Attestation::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.init_data.as_ref().unwrap().format, "toml");
    assert_eq!(parsed.primary_evidence().unwrap()["quote"], "AAAA");
    assert!(matches!(
        parsed.tee_pubkey().unwrap(),
        TeePubKey::Rsa { .. }
    ));
    // Round trip keeps the kebab-case names.
    let text = serde_json::to_string(&parsed).unwrap();
    for name in [
        "init-data",
        "runtime-data",
        "tee-pubkey",
        "tee-evidence",
        "primary_evidence",
        "additional_evidence",
    ] {
        assert!(text.contains(&format!("\"{name}\"")), "{name}: {text}");
    }
}

mod props {
    use attestation::kbs::{Attestation, Request, ResourcePath};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Request::parse(&bytes);
            let _ = Attestation::parse(&bytes);
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = ResourcePath::parse(text);
            }
        }

        #[test]
        fn valid_paths_round_trip(
            repo in "[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}",
            kind in "[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}",
            tag in "[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}",
        ) {
            let text = format!("{repo}/{kind}/{tag}");
            let path = ResourcePath::parse(&text).unwrap();
            prop_assert_eq!(path.to_string(), text.clone());
            prop_assert_eq!(ResourcePath::parse(&format!("kbs:///{text}")).unwrap(), path);
        }

        #[test]
        fn paths_with_other_characters_are_refused(
            good in "[a-z]{1,5}",
            bad in "[^A-Za-z0-9._/-]",
        ) {
            let text = format!("{good}/{good}{bad}/{good}");
            prop_assert!(ResourcePath::parse(&text).is_err());
        }
    }
}
