#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attestation::ratls::inspect_cert(data);
});
