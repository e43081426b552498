//! Property tests: parsers never panic on arbitrary input, truncations are errors, and a
//! quote with any byte changed never verifies.

mod common;

use attestation::quote::{parse_pem_chain, Quote};
use attestation::sample::SampleEvidence;
use attestation::{dcap, verify_quote_report, AppraisalPolicy};
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn quote_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
        let _ = Quote::parse(&bytes);
        let _ = parse_pem_chain(&bytes);
        let _ = SampleEvidence::parse(&bytes);
    }

    #[test]
    fn header_like_prefixes_never_panic(version in 0u16..8, tee in prop_oneof![Just(0u32), Just(0x81u32), any::<u32>()],
                                        rest in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut bytes = version.to_le_bytes().to_vec();
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&tee.to_le_bytes());
        bytes.extend_from_slice(&rest);
        let _ = Quote::parse(&bytes);
        let report = verify_quote_report(&bytes, None, at(), &AppraisalPolicy::default(), None);
        prop_assert!(!report.is_accepted());
    }

    #[test]
    fn truncated_quotes_are_errors(cut in 0usize..4600, tdx in any::<bool>()) {
        let quote = if tdx { TDX_QUOTE } else { SGX_QUOTE };
        let len = Quote::parse(quote).unwrap().len;
        let cut = cut % len;
        prop_assert!(Quote::parse(&quote[..cut]).is_err());
    }

    #[test]
    fn sample_evidence_json_never_panics(svn in ".{0,12}", rd in "[A-Za-z0-9+/=]{0,100}", init in ".{0,20}") {
        let json = serde_json::json!({"svn": svn, "report_data": rd, "init_data": init});
        let _ = SampleEvidence::parse(json.to_string().as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn changed_quotes_never_verify(pos in 0usize..4600, xor in 1u8..=255) {
        let mut bytes = SGX_QUOTE.to_vec();
        let pos = pos % bytes.len();
        bytes[pos] ^= xor;
        prop_assert!(dcap::verify(&bytes, &sgx_collateral(), at()).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn quoter_import_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = attestation::sim::EXPORT_MAGIC.to_vec();
        bytes.extend_from_slice(&tail);
        let _ = attestation::sim::SimQuoter::import(&bytes);
    }
}
