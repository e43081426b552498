#![no_main]
use prost::Message as _;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attestation::attester::aesm_proto::Response::decode(data);
});
