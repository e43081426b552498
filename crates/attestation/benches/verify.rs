//! Verification benchmarks: DCAP on the two Intel sample quotes, SGX v4 on the synthetic
//! fixture (our own path), our own path on the SGX v3 sample (against dcap-qvl's figure), and
//! the sim quote path.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attestation::sim::{SimPki, SimQuoter, SimVerifier};
use attestation::{dcap, sgx_qvl, Collateral};
use criterion::{criterion_group, criterion_main, Criterion};

const SGX_QUOTE: &[u8] = include_bytes!("../tests/data/sgx_quote");
const TDX_QUOTE: &[u8] = include_bytes!("../tests/data/tdx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("../tests/data/sgx_quote_collateral.json");
const TDX_COLLATERAL: &[u8] = include_bytes!("../tests/data/tdx_quote_collateral.json");
const V4_QUOTE: &[u8] = include_bytes!("../tests/data/sgx_v4/quote");
const V4_COLLATERAL: &[u8] = include_bytes!("../tests/data/sgx_v4/collateral.json");
const V4_ROOT: &[u8] = include_bytes!("../tests/data/sgx_v4/root_ca.pem");

fn dcap_verify(c: &mut Criterion) {
    // 2025-07-01T00:00:00Z, inside the sample collateral's validity.
    let at = UNIX_EPOCH + Duration::from_secs(1_751_328_000);
    let sgx = Collateral::from_json(SGX_COLLATERAL).expect("sample collateral parses");
    let tdx = Collateral::from_json(TDX_COLLATERAL).expect("sample collateral parses");
    c.bench_function("dcap_verify_sgx_sample", |b| {
        b.iter(|| dcap::verify(black_box(SGX_QUOTE), &sgx, at).expect("verifies"))
    });
    c.bench_function("dcap_verify_tdx_sample", |b| {
        b.iter(|| dcap::verify(black_box(TDX_QUOTE), &tdx, at).expect("verifies"))
    });
    c.bench_function("sgx_qvl_verify_sgx_v3_sample", |b| {
        b.iter(|| {
            sgx_qvl::verify(
                black_box(SGX_QUOTE),
                sgx.as_dcap_qvl(),
                at,
                dcap::INTEL_SGX_ROOT_CA_DER,
            )
            .expect("verifies")
        })
    });
    // 2026-01-01T00:00:00Z, inside the synthetic fixture's validity.
    let v4_at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let v4 = Collateral::from_json(V4_COLLATERAL).expect("fixture collateral parses");
    let root = attestation::quote::parse_pem_chain(V4_ROOT)
        .expect("fixture root parses")
        .remove(0);
    c.bench_function("dcap_verify_sgx_v4_synthetic", |b| {
        b.iter(|| dcap::verify_with_root(black_box(V4_QUOTE), &v4, v4_at, &root).expect("verifies"))
    });
}

fn sim(c: &mut Criterion) {
    let now = SystemTime::now();
    let pki = SimPki::generate("bench", now).expect("pki");
    let quoter = SimQuoter::new(&pki).expect("quoter");
    let verifier = SimVerifier::new(pki.root_cert_pem()).expect("verifier");
    let body = [0u8; 384];
    c.bench_function("sim_quote_generate", |b| {
        b.iter(|| quoter.quote(black_box(&body)).expect("quote"))
    });
    let quote = quoter.quote(&body).expect("quote");
    c.bench_function("sim_quote_verify", |b| {
        b.iter(|| verifier.verify(black_box(&quote), now).expect("verifies"))
    });
    c.bench_function("sim_quoter_start", |b| {
        b.iter(|| SimQuoter::new(black_box(&pki)).expect("quoter"))
    });
}

criterion_group!(benches, dcap_verify, sim);
criterion_main!(benches);
