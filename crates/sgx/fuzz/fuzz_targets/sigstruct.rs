#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sgx::SigStruct::parse(data).map(|s| s.verify());
});
