#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = erpal_sim::Manifest::parse(data) {
        let _ = erpal_sim::measure::mr_enclave(&manifest);
    }
});
