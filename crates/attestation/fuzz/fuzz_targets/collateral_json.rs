#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attestation::Collateral::from_json(data).map(|c| c.validity());
});
