//! A KBS resource response, as the client decrypts it.
#![no_main]

use std::sync::OnceLock;

use attestation::kbs::{JweResponse, TeeKeyPair};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static KEY: OnceLock<TeeKeyPair> = OnceLock::new();
    let key = KEY.get_or_init(TeeKeyPair::generate_ec);
    if let Ok(jwe) = serde_json::from_slice::<JweResponse>(data) {
        let _ = key.decrypt(&jwe);
    }
});
