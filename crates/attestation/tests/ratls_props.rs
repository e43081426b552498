//! Property tests of the RA-TLS parsers: arbitrary bytes never panic, encodings round-trip.

use attestation::ratls::{
    self, encode_claims, parse_claims, parse_pubkey_hash, HashAlgorithm, TaggedEvidence,
};
use proptest::prelude::*;

const DICE_CERT: &[u8] = include_bytes!("../fuzz/corpus/ratls_cert/dice_sim.der");
const GRAMINE_CERT: &[u8] = include_bytes!("../fuzz/corpus/ratls_cert/gramine_sim.der");

fn algorithm() -> impl Strategy<Value = HashAlgorithm> {
    prop_oneof![
        Just(HashAlgorithm::Sha256),
        Just(HashAlgorithm::Sha384),
        Just(HashAlgorithm::Sha512)
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        ratls::fuzzing::parse_all(&data);
    }

    #[test]
    fn mutated_certificates_never_panic(
        gramine in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut cert = if gramine { GRAMINE_CERT.to_vec() } else { DICE_CERT.to_vec() };
        for (at, byte) in edits {
            let i = at.index(cert.len());
            cert[i] = byte;
        }
        if truncate {
            cert.truncate(cut.index(cert.len()));
        }
        ratls::fuzzing::parse_all(&cert);
    }

    #[test]
    fn tagged_evidence_round_trips(
        tag in any::<u64>(),
        evidence in proptest::collection::vec(any::<u8>(), 0..600),
        claims_buffer in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let tagged = TaggedEvidence { tag, evidence, claims_buffer };
        prop_assert_eq!(TaggedEvidence::parse(&tagged.encode()).unwrap(), tagged);
    }

    #[test]
    fn claims_round_trip(
        alg in algorithm(),
        hash in proptest::collection::vec(any::<u8>(), 32..=64),
        extra in proptest::collection::btree_map("[a-z]{1,12}", proptest::collection::vec(any::<u8>(), 0..40), 0..4),
    ) {
        let extra: Vec<(String, Vec<u8>)> = extra
            .into_iter()
            .filter(|(name, _)| name != "pubkey-hash")
            .collect();
        let claims = parse_claims(&encode_claims(alg, &hash, &extra)).unwrap();
        prop_assert_eq!(&claims[0].0, "pubkey-hash");
        prop_assert_eq!(parse_pubkey_hash(&claims[0].1).unwrap(), (alg, hash));
        prop_assert_eq!(&claims[1..], &extra[..]);
    }
}

#[test]
fn corpus_certificates_are_bound() {
    for cert in [DICE_CERT, GRAMINE_CERT] {
        let inspection = ratls::inspect_cert(cert).unwrap();
        assert!(inspection.pubkey_bound);
    }
}
