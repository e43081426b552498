//! Stable-Rust fuzz smoke test for the RA-TLS and aesm parsers: each parser gets random and
//! mutated inputs, seeded from the committed corpus under `fuzz/corpus/<target>/` (the same
//! seeds the cargo-fuzz targets start from). A panic fails the test and prints the input.
//!
//! Iterations per target: `RUNE_FUZZ_SMOKE_ITERS` (default 200 000 in release builds, 20 000
//! in debug builds, where the parsers run ~10x slower). Seed: `RUNE_FUZZ_SMOKE_SEED`.
//! Regenerate the seed corpus with
//! `cargo test -p attestation --test fuzz_smoke -- --ignored write_seed_corpus`.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::SystemTime;

use attestation::attester::{aesm_proto, SimAttester};
use attestation::ratls::{self, CertOptions, EvidenceFormat, RaTlsIdentity, TaggedEvidence};
use attestation::sim::{SimPki, SimQuoter};
use prost::Message;

/// A parser under test: takes hostile bytes, must return.
type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("ratls_cert", |data| {
        if let Ok(cert) = ratls::RaTlsCert::parse(data) {
            let _ = cert.check_binding();
        }
    }),
    ("tagged_evidence", |data| {
        let _ = TaggedEvidence::parse(data);
        let _ = ratls::parse_claims(data);
        let _ = ratls::parse_pubkey_hash(data);
    }),
    ("inspect_cert", |data| {
        let _ = ratls::inspect_cert(data);
    }),
    ("aesm_response", |data| {
        let _ = aesm_proto::Response::decode(data);
    }),
    ("quote_parse", |data| {
        if let Ok(quote) = attestation::quote::Quote::parse(data) {
            let _ = quote.pck_chain();
        }
    }),
];

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut seeds: Vec<Vec<u8>> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading seed corpus {}: {e}", dir.display()))
        .map(|entry| fs::read(entry.unwrap().path()).unwrap())
        .collect();
    assert!(!seeds.is_empty(), "empty seed corpus {}", dir.display());
    seeds.sort();
    seeds
}

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
        }
    }
}

/// CBOR and DER heads that announce huge lengths, and boundary bytes.
const INTERESTING: &[&[u8]] = &[
    &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0x5f, 0x41, 0x00, 0xff],
    &[0xd9, 0xea, 0x60, 0x82],
    &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
    &[0x04, 0x82, 0xff, 0xff],
    &[0x00],
    &[0xff],
    &[0x80],
    &[0x7f],
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    if rng.below(20) == 0 {
        // Pure random input.
        let len = rng.below(512);
        return (0..len).map(|_| rng.next().to_le_bytes()[0]).collect();
    }
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next().to_le_bytes()[0];
            }
            2 => {
                let i = rng.below(len + 1);
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(i..i, piece.iter().copied());
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.below(64)).min(len);
                data.drain(start..end);
            }
            4 => data.truncate(rng.below(len + 1)),
            5 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.below(128)).min(len);
                let piece = data[start..end].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, piece);
            }
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let i = rng.below(len);
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                for (k, b) in piece.iter().enumerate() {
                    if let Some(slot) = data.get_mut(i + k) {
                        *slot = *b;
                    }
                }
            }
            _ => {}
        }
    }
    data
}

fn iterations() -> usize {
    std::env::var("RUNE_FUZZ_SMOKE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            20_000
        } else {
            200_000
        })
}

#[test]
fn parsers_survive_random_and_mutated_inputs() {
    let seed = std::env::var("RUNE_FUZZ_SMOKE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_f00d_u64);
    let iters = iterations();
    for (name, target) in TARGETS {
        let seeds = seeds(name);
        for seed_input in &seeds {
            target(seed_input);
        }
        let mut rng = Rng(seed ^ u64::try_from(name.len()).unwrap() ^ 0x9e37_79b9_7f4a_7c15);
        let started = std::time::Instant::now();
        for i in 0..iters {
            let input = mutate(&mut rng, &seeds);
            let result = panic::catch_unwind(AssertUnwindSafe(|| target(&input)));
            if result.is_err() {
                panic!(
                    "{name}: parser panicked on iteration {i} (seed {seed:#x}); input: {}",
                    hex::encode(&input)
                );
            }
        }
        println!(
            "fuzz smoke: {name}: {iters} inputs from {} seeds in {:.2?}",
            seeds.len(),
            started.elapsed()
        );
    }
}

/// The `sgx_v4_verify` fuzz target's oracle on mutated seeds: full verification against the
/// synthetic fixture never accepts a quote attesting to anything else. Few iterations: each
/// one that parses runs the whole chain and signature verification.
#[test]
fn sgx_v4_verify_never_accepts_a_mutation() {
    use std::time::{Duration, UNIX_EPOCH};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sgx_v4");
    let collateral = attestation::Collateral::from_file(&dir.join("collateral.json")).unwrap();
    let root = fs::read(dir.join("root_ca.pem")).unwrap();
    let root = attestation::quote::parse_pem_chain(&root)
        .unwrap()
        .remove(0);
    let original = fs::read(dir.join("quote")).unwrap();
    let want = attestation::quote::Quote::parse(&original).unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let seeds = seeds("sgx_v4_verify");
    let mut rng = Rng(0x0005_6b34_u64);
    for _ in 0..iterations() / 40 {
        let input = mutate(&mut rng, &seeds);
        if attestation::sgx_qvl::verify(&input, collateral.as_dcap_qvl(), at, &root).is_ok() {
            let got = attestation::quote::Quote::parse(&input).unwrap();
            assert_eq!(got.signed, want.signed, "{}", hex::encode(&input));
            assert_eq!(got.signature.qe_report, want.signature.qe_report);
        }
    }
}

/// Regenerates `fuzz/corpus/*` from freshly made sim RA-TLS certificates and aesm messages.
#[test]
#[ignore = "writes the committed seed corpus"]
fn write_seed_corpus() {
    let now = SystemTime::now();
    let pki = SimPki::generate("fuzz-corpus", now).unwrap();
    let attester = SimAttester::with_quoter(
        |rd| {
            let mut body = [0u8; 384];
            body[48] = 0x05;
            body[64..96].copy_from_slice(&[0x11; 32]);
            body[128..160].copy_from_slice(&[0x22; 32]);
            body[320..384].copy_from_slice(rd);
            Ok(body)
        },
        SimQuoter::new(&pki).unwrap(),
    );
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), data).unwrap();
    };
    for (format, name) in [
        (EvidenceFormat::TcgDice, "dice_sim"),
        (EvidenceFormat::LegacyQuote, "legacy_sim"),
        (EvidenceFormat::GramineLegacyQuote, "gramine_sim"),
    ] {
        let options = CertOptions {
            format,
            ..CertOptions::default()
        };
        let id = RaTlsIdentity::generate_with(&attester, now, &options).unwrap();
        for target in ["ratls_cert", "inspect_cert"] {
            write(target, &format!("{name}.der"), id.cert_der());
            write(target, &format!("{name}.pem"), id.cert_pem().as_bytes());
        }
        if format == EvidenceFormat::TcgDice {
            let cert = ratls::RaTlsCert::parse_der(id.cert_der()).unwrap();
            let claims = cert.claims_buffer.clone().unwrap();
            let tagged = TaggedEvidence {
                tag: ratls::CBOR_TAG_INTEL_TEE_QUOTE,
                evidence: cert.quote.clone(),
                claims_buffer: claims.clone(),
            };
            write("tagged_evidence", "dice_extension", &tagged.encode());
            write("tagged_evidence", "claims_buffer", &claims);
            let (_, value) = ratls::parse_claims(&claims).unwrap().remove(0);
            write("tagged_evidence", "pubkey_hash", &value);
            let get = aesm_proto::Response {
                init_quote_ex_res: None,
                get_quote_ex_res: Some(aesm_proto::GetQuoteExResponse {
                    error_code: 0,
                    quote: Some(cert.quote),
                    qe_report_info: None,
                }),
            };
            write("aesm_response", "get_quote_ex", &get.encode_to_vec());
        }
    }
    let init = aesm_proto::Response {
        init_quote_ex_res: Some(aesm_proto::InitQuoteExResponse {
            error_code: 0,
            target_info: Some(vec![0x7e; 512]),
            pub_key_id_size: Some(32),
            pub_key_id: Some(vec![1; 32]),
        }),
        get_quote_ex_res: None,
    };
    write("aesm_response", "init_quote_ex", &init.encode_to_vec());
    let error = aesm_proto::Response {
        init_quote_ex_res: Some(aesm_proto::InitQuoteExResponse {
            error_code: 36,
            ..Default::default()
        }),
        get_quote_ex_res: None,
    };
    write("aesm_response", "error_36", &error.encode_to_vec());
}
