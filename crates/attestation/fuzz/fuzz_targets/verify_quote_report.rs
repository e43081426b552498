#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attestation::verify_quote_report(
        data,
        None,
        std::time::SystemTime::UNIX_EPOCH,
        &Default::default(),
        None,
    );
});
