//! Resource paths from the URL.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(path) = attestation::kbs::ResourcePath::parse(text) {
            assert_eq!(
                attestation::kbs::ResourcePath::parse(&path.to_string()).unwrap(),
                path
            );
        }
    }
});
