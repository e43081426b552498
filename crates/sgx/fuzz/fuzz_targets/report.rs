#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (sgx::Report::parse(data), sgx::TargetInfo::parse(data), sgx::KeyRequest::parse(data));
});
