#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attestation::ratls::TaggedEvidence::parse(data);
    let _ = attestation::ratls::parse_claims(data);
    let _ = attestation::ratls::parse_pubkey_hash(data);
});
