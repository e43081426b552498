#![no_main]
libfuzzer_sys::fuzz_target!(|data: &str| {
    let _ = erpal_sim::InitArgs::parse(data);
});
