//! MRENCLAVE hashing throughput against raw SHA-256 over the same bytes.
//!
//! The measurement hashes 64-byte EADD/EEXTEND records on top of the page data (1 + 16 records
//! per 4 KiB page, so about 27% more input), which bounds the expected overhead.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sgx::{Hasher, SecInfo, PAGE_SIZE};
use sha2::{Digest, Sha256};

fn measure(c: &mut Criterion) {
    let mut group = c.benchmark_group("mrenclave");
    group.sample_size(20);
    for mib in [1usize, 8] {
        let len = mib << 20;
        let data: Vec<u8> = (0..=250u8).cycle().take(len).collect();
        let size = u64::try_from(len * 2).expect("fits");
        group.throughput(Throughput::Bytes(u64::try_from(len).expect("fits")));
        group.bench_with_input(
            BenchmarkId::new("hasher", format!("{mib}MiB")),
            &data,
            |b, d| {
                b.iter(|| {
                    let mut h = Hasher::new(size, 1).expect("valid size");
                    let rwx = SecInfo::reg(SecInfo::R | SecInfo::W | SecInfo::X);
                    h.add_pages(0, black_box(d), rwx, true)
                        .expect("valid pages");
                    h.finish()
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("sha256", format!("{mib}MiB")),
            &data,
            |b, d| {
                b.iter(|| Sha256::digest(black_box(d)));
            },
        );
        assert_eq!(len % PAGE_SIZE, 0);
    }
    group.finish();
}

criterion_group!(benches, measure);
criterion_main!(benches);
