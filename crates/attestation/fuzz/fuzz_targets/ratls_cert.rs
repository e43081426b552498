#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = attestation::ratls::RaTlsCert::parse(data) {
        let _ = cert.check_binding();
    }
});
