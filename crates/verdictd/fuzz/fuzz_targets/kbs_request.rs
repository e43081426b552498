//! Auth and attest request bodies: parse, then everything verdictd derives from them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attestation::kbs::Request::parse(data);
    if let Ok(att) = attestation::kbs::Attestation::parse(data) {
        let _ = att.tee_pubkey();
        let _ = att.primary_evidence();
        let _ = attestation::kbs::binding::report_data(
            &att.runtime_data.nonce,
            &att.runtime_data.tee_pubkey,
            &att.tee_evidence.additional_evidence,
        );
    }
});
