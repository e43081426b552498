#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = erpal_sim::handover::Header::parse(data);
});
