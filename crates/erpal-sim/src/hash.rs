//! Streaming SHA-256 of trusted files: measuring is hashing, so this is the hot path of
//! signing and of every enclave start (DESIGN §3.4, issue 3 item 7).
//!
//! Files are read in [`BUFFER_SIZE`] blocks into one reused buffer and fed to `sha2`, which
//! uses the CPU's SHA extensions when present and hand-written assembly otherwise (the `asm`
//! feature). No file is ever held in memory whole by these functions.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::manifest::Sha256Digest;

/// Read block size: large enough that syscall overhead vanishes next to hashing, small enough
/// to stay in L2.
pub const BUFFER_SIZE: usize = 256 * 1024;

/// SHA-256 and length of everything `reader` yields.
pub fn sha256_reader<R: Read>(reader: R) -> io::Result<(Sha256Digest, u64)> {
    copy_and_hash(reader, io::sink())
}

/// SHA-256 and length of the file at `path`.
pub fn sha256_file(path: &Path) -> io::Result<(Sha256Digest, u64)> {
    sha256_reader(File::open(path)?)
}

/// Copies `reader` into `writer` while hashing it, so the bytes written are exactly the bytes
/// hashed (what the enclave executes from); returns their SHA-256 and length.
pub fn copy_and_hash<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
) -> io::Result<(Sha256Digest, u64)> {
    let mut sha = Sha256::new();
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let block = buffer.get(..n).unwrap_or_default();
        sha.update(block);
        writer.write_all(block)?;
        total = total.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    writer.flush()?;
    Ok((Sha256Digest(sha.finalize().into()), total))
}

/// Copies the file `source` into the file `dest` (the kernel copies: `std::io::copy` uses
/// `copy_file_range`/`sendfile` between files), runs `before_hash` on `dest` (the launch path
/// seals the memfd there), then hashes `dest` from its start. Hashing the destination after
/// sealing means the digest is of exactly the bytes that will be executed, and costs one
/// hashing pass plus an in-kernel copy, instead of a hash plus two user-space copies.
pub fn copy_then_hash(
    source: &File,
    dest: &mut File,
    before_hash: impl FnOnce(&File) -> io::Result<()>,
) -> io::Result<(Sha256Digest, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut reader = source;
    io::copy(&mut reader, dest)?;
    before_hash(dest)?;
    dest.seek(SeekFrom::Start(0))?;
    sha256_reader(&*dest)
}

/// SHA-256 of an in-memory buffer.
pub fn sha256(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest(Sha256::digest(bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_matches_one_shot_across_block_boundaries() {
        for len in [
            0,
            1,
            BUFFER_SIZE - 1,
            BUFFER_SIZE,
            BUFFER_SIZE + 1,
            3 * BUFFER_SIZE + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let (digest, n) = sha256_reader(data.as_slice()).unwrap();
            assert_eq!(n, len as u64);
            assert_eq!(digest, sha256(&data));
            let mut copy = Vec::new();
            assert_eq!(copy_and_hash(data.as_slice(), &mut copy).unwrap().0, digest);
            assert_eq!(copy, data);
        }
    }

    #[test]
    fn copy_then_hash_hashes_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let data: Vec<u8> = (0..3 * BUFFER_SIZE + 5)
            .map(|i| u8::try_from(i % 7).unwrap())
            .collect();
        std::fs::write(&src_path, &data).unwrap();
        let mut dest = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("dest"))
            .unwrap();
        let mut called = false;
        let (digest, len) = copy_then_hash(&File::open(&src_path).unwrap(), &mut dest, |_| {
            called = true;
            Ok(())
        })
        .unwrap();
        assert!(called);
        assert_eq!((digest, len), (sha256(&data), data.len() as u64));
    }

    #[test]
    fn known_answer() {
        assert_eq!(
            sha256(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
