#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sgx::Quote::parse(data).map(|q| q.encode());
});
