#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // An accepted quote re-encodes to exactly the bytes it was parsed from (SGX v3/v4, TDX v4).
    if let Ok((quote, used)) = sgx::Quote::parse_prefix(data) {
        let encoded = quote.encode().expect("a parsed quote encodes");
        assert_eq!(encoded.as_slice(), &data[..used]);
        let certification = match &quote {
            sgx::Quote::SgxV4(q) => Some(&q.certification_data),
            sgx::Quote::TdxV4(q) => Some(&q.certification_data),
            _ => None,
        };
        if let Some(c) = certification {
            let _ = c.qe_report_certification();
        }
    }
});
