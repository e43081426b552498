//! Measurement throughput: hashing trusted files as signing and launch do, against raw SHA-256
//! of the same bytes already in memory (issue 3 item 7: 1, 8, 64 and 80 MB).
//!
//! - `raw_sha256`: `Sha256::digest` over an in-memory buffer (the ceiling);
//! - `sign_hash_file`: `hash::sha256_file`, the streaming read + hash `sign_bundle` uses for
//!   trusted files (page cache warm);
//! - `launch_copy_then_hash`: what `pal_create_process` does for the entrypoint: kernel copy of
//!   the file into a memfd, seal it, hash the memfd (`hash::copy_then_hash`);
//! - `launch_copy_and_hash`: the alternative of hashing while copying through user space
//!   (`hash::copy_and_hash` into a memfd), kept for comparison.

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::os::fd::AsRawFd;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use erpal_sim::hash;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use sha2::{Digest, Sha256};

const SIZES_MB: [usize; 4] = [1, 8, 64, 80];

fn data(len: usize) -> Vec<u8> {
    // xorshift: incompressible enough, deterministic, fast to make.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn memfd() -> File {
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    File::from(memfd_create(c"bench", flags).unwrap())
}

fn measure(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("measure");
    group.sample_size(10);
    for mb in SIZES_MB {
        let len = mb * 1_000_000;
        let bytes = data(len);
        let path = dir.path().join(format!("trusted-{mb}mb"));
        File::create(&path).unwrap().write_all(&bytes).unwrap();
        let id = |name: &str| BenchmarkId::new(name, format!("{mb}MB"));
        group.throughput(Throughput::Bytes(u64::try_from(len).unwrap()));
        group.bench_with_input(id("raw_sha256"), &bytes, |b, bytes| {
            b.iter(|| black_box(Sha256::digest(black_box(bytes))))
        });
        group.bench_with_input(id("sign_hash_file"), &path, |b, path| {
            b.iter(|| black_box(hash::sha256_file(path).unwrap()))
        });
        group.bench_with_input(id("launch_copy_then_hash"), &path, |b, path| {
            b.iter(|| {
                let seals =
                    SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
                let seal = |m: &File| {
                    fcntl(m.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
                        .map(drop)
                        .map_err(std::io::Error::from)
                };
                let source = File::open(path).unwrap();
                black_box(hash::copy_then_hash(&source, &mut memfd(), seal).unwrap())
            })
        });
        group.bench_with_input(id("launch_copy_and_hash"), &path, |b, path| {
            b.iter(|| black_box(hash::copy_and_hash(File::open(path).unwrap(), &memfd()).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, measure);
criterion_main!(benches);
