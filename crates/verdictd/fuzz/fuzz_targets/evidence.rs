//! Primary evidence of each TEE through verdictd's verifiers (no collateral, no sim root).
#![no_main]

use attestation::kbs::Tee;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(evidence) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let tee = match selector % 3 {
        0 => Tee::Sgx,
        1 => Tee::Tdx,
        _ => Tee::Sample,
    };
    let verifiers = verdictd::verifier::Verifiers::default();
    let _ = verifiers.verify(tee, &evidence, &[0u8; 64], std::time::SystemTime::now());
});
