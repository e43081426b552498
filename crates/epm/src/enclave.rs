//! Building pre-initialised sim enclaves and measuring trusted files, with the measurement
//! cache that makes both cheap the second time.
//!
//! [`Image`] is a verified image: the manifest parsed, the SIGSTRUCT checked against it and
//! MRENCLAVE recomputed ([`erpal_sim::measure::bind`]), exactly what `pal_init` does, once per
//! content: [`Verifications`] remembers the result by the digest of the image's bytes, and the
//! handover names that digest so that `pal_init` does not repeat it either.
//! [`Ready`] is a pre-initialised enclave: the entrypoint's bytes copied into a private memfd
//! while hashed, checked against the manifest and sealed. [`measure_files`] produces the
//! per-file records a handover carries, for the rootfs of the container that gets it.
//!
//! [`Measurements`] caches digests by [`FileIdentity`] (device, inode, size, mode, mtime and
//! ctime to the nanosecond), so it is keyed by file content in the only way that needs no
//! reading: a file whose content changed has a new ctime, which user space cannot set back.
//! A digest is only cached when the file's identity was the same before and after hashing.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use erpal_sim::handover::{self, FileIdentity, FileRecord};
use erpal_sim::manifest::{Manifest, Sha256Digest, TrustedFile, MAX_MANIFEST_SIZE};
use erpal_sim::measure::ImageDigest;
use erpal_sim::{hash, rootfs};
use sgx::{EnclaveIdentity, SigStruct};
use thiserror::Error;

use crate::overlay::Layers;

/// Why an image could not be verified or an enclave built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The manifest or SIGSTRUCT descriptor could not be read.
    #[error("reading the image's {what}")]
    ReadImage {
        /// `manifest` or `sigstruct`.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The manifest is not valid.
    #[error(transparent)]
    Manifest(#[from] erpal_sim::ManifestError),
    /// The SIGSTRUCT is not valid.
    #[error("the image's sigstruct is not valid")]
    SigStruct(#[source] sgx::ParseError),
    /// The SIGSTRUCT does not sign the manifest.
    #[error(transparent)]
    Bind(#[from] erpal_sim::measure::BindError),
    /// A trusted file could not be read.
    #[error("cannot read trusted file {path} in rootfs {rootfs}")]
    TrustedRead {
        /// In-root path.
        path: String,
        /// The rootfs.
        rootfs: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A trusted file no longer matches the image.
    #[error("trusted file {path} in rootfs {rootfs} was modified: sha256 is {actual}, the signed manifest says {expected}")]
    Modified {
        /// In-root path.
        path: String,
        /// The rootfs.
        rootfs: PathBuf,
        /// The manifest's digest.
        expected: Sha256Digest,
        /// The digest now.
        actual: Sha256Digest,
    },
    /// The entrypoint could not be copied into a sealed memfd.
    #[error("copying entrypoint {path} into a sealed memfd")]
    Memfd {
        /// In-root path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl BuildError {
    /// True when the image no longer matches the files (the case that must never be served
    /// from a cache).
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Modified { .. })
    }
}

/// A verified sim enclave image.
#[derive(Debug)]
pub struct Image {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// MRENCLAVE, MRSIGNER and the ISV fields.
    pub identity: EnclaveIdentity,
    /// The digest of the bytes verified (the handover names it, so that `pal_init` does not
    /// verify them again).
    pub digest: ImageDigest,
}

impl Image {
    /// Reads and verifies an image from open manifest and SIGSTRUCT files (read by position:
    /// the descriptors are shared with rune). An image whose bytes were verified before
    /// (`verified`) is not verified again: the signature and the measurement depend on
    /// nothing else.
    pub fn from_files(
        manifest: &File,
        sigstruct: &File,
        verified: &Verifications,
    ) -> Result<Self, BuildError> {
        let mut manifest_bytes = Vec::new();
        let max = u64::try_from(MAX_MANIFEST_SIZE).unwrap_or(u64::MAX);
        handover::read_all_at(manifest, &mut manifest_bytes, max).map_err(|source| {
            BuildError::ReadImage {
                what: "manifest",
                source,
            }
        })?;
        let mut sigstruct_bytes = Vec::new();
        let max = u64::try_from(SigStruct::SIZE).unwrap_or(u64::MAX);
        handover::read_all_at(sigstruct, &mut sigstruct_bytes, max).map_err(|source| {
            BuildError::ReadImage {
                what: "sigstruct",
                source,
            }
        })?;
        let digest = ImageDigest::of(&manifest_bytes, &sigstruct_bytes);
        let manifest = Manifest::parse(&manifest_bytes)?;
        let identity = match verified.get(&digest) {
            Some(identity) => identity,
            None => {
                let sigstruct =
                    SigStruct::parse(&sigstruct_bytes).map_err(BuildError::SigStruct)?;
                let identity = erpal_sim::measure::bind(&manifest, &sigstruct)?;
                verified.insert(digest, identity.clone());
                identity
            }
        };
        Ok(Self {
            manifest,
            identity,
            digest,
        })
    }
}

/// A pre-initialised enclave: the entrypoint's verified bytes in a sealed memfd.
#[derive(Debug)]
pub struct Ready {
    /// The sealed memfd.
    pub entrypoint: OwnedFd,
    /// Its size: the memory this enclave holds.
    pub bytes: u64,
}

impl Ready {
    /// Another enclave of the same key, executing the same sealed bytes.
    ///
    /// Sharing is safe because of what the bytes are: a copy of the entrypoint whose SHA-256
    /// was checked against the manifest (so against MRENCLAVE, part of the key), in a memfd
    /// sealed against writes, growth, shrinking and new seals, so no holder, the workloads
    /// included, can change them. What an enclave must never inherit from another, state a
    /// workload wrote, is not in it. Each enclave is still handed out once, and only under its
    /// own key (one tenant): enclaves of different tenants never share bytes. The pool counts
    /// the bytes once per enclave, which overstates what shared enclaves hold.
    pub fn share(&self) -> io::Result<Self> {
        Ok(Self {
            entrypoint: self.entrypoint.try_clone()?,
            bytes: self.bytes,
        })
    }
}

/// The measurement cache: file identity to digest, bounded, least recently used evicted.
pub type Measurements = Cache<FileIdentity, Sha256Digest>;

/// Images verified before, by the digest of their bytes: what [`erpal_sim::measure::bind`]
/// concluded about them (at most [`MAX_VERIFIED_IMAGES`], least recently used evicted).
pub type Verifications = Cache<ImageDigest, EnclaveIdentity>;

/// How many verified images epm remembers.
pub const MAX_VERIFIED_IMAGES: usize = 1024;

/// A bounded map shared by the request threads; the least recently used entry goes first.
#[derive(Debug)]
pub struct Cache<K, V> {
    inner: Mutex<LruMap<K, V>>,
}

#[derive(Debug)]
struct LruMap<K, V> {
    max: usize,
    tick: u64,
    map: HashMap<K, (V, u64)>,
}

impl<K: Eq + std::hash::Hash + Clone, V: Clone> Cache<K, V> {
    /// An empty cache of at most `max` entries.
    pub fn new(max: usize) -> Self {
        Self {
            inner: Mutex::new(LruMap {
                max,
                tick: 0,
                map: HashMap::new(),
            }),
        }
    }

    /// The cached value for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.map.get_mut(key)?;
        entry.1 = tick;
        Some(entry.0.clone())
    }

    /// Records a value, evicting the least recently used entry when full.
    pub fn insert(&self, key: K, value: V) {
        let mut inner = self.lock();
        if inner.max == 0 {
            return;
        }
        inner.tick += 1;
        let tick = inner.tick;
        if !inner.map.contains_key(&key) && inner.map.len() >= inner.max {
            if let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                inner.map.remove(&oldest);
            }
        }
        inner.map.insert(key, (value, tick));
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        self.lock().map.remove(key);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruMap<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Builds a pre-initialised enclave of `image` from the files in `rootfs`: copies the
/// entrypoint into a memfd while hashing it, checks the digest, seals the memfd. Returns it
/// and the bytes hashed. Records the entrypoint's digest in `cache`.
pub fn build_ready(
    image: &Image,
    rootfs: &Path,
    cache: &Measurements,
) -> Result<(Ready, u64), BuildError> {
    let entrypoint = image.manifest.entrypoint();
    let file = image
        .manifest
        .trusted_file(entrypoint)
        .ok_or_else(|| BuildError::TrustedRead {
            path: entrypoint.to_owned(),
            rootfs: rootfs.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "not a trusted file"),
        })?;
    let source = open_trusted(rootfs, file)?;
    let before = identity_of(&source, rootfs, file)?;
    let (memfd, (digest, bytes)) = handover::sealed_memfd(c"epm-sim-entrypoint", |memfd| {
        hash::copy_and_hash(&source, memfd)
    })
    .map_err(|source| BuildError::Memfd {
        path: file.path.clone(),
        source,
    })?;
    check_digest(file, rootfs, digest)?;
    if identity_of(&source, rootfs, file)? == before {
        cache.insert(before, digest);
        // The next container's overlay finds the entrypoint by its layer file.
        let layer = Layers::of(rootfs)
            .and_then(|layers| layers.unchanged_lower(Path::new(&file.path), &before));
        if let Some((_, identity)) = layer {
            cache.insert(identity, digest);
        }
    }
    Ok((
        Ready {
            entrypoint: memfd,
            bytes,
        },
        bytes,
    ))
}

/// Measures every trusted file of `image` in `rootfs` for a handover: cached digests for
/// files whose identity is unchanged, hashing for the others. Any file that does not match
/// the manifest is [`BuildError::Modified`] (its cached digest, if any, is dropped). Returns
/// the records and the bytes hashed.
pub fn measure_files(
    image: &Image,
    rootfs: &Path,
    cache: &Measurements,
) -> Result<(Vec<FileRecord>, u64), BuildError> {
    let mut records = Vec::with_capacity(image.manifest.trusted_files().len());
    let mut hashed: u64 = 0;
    // Looked up at the first file the cache does not know, once per request.
    let mut layers: Option<Option<Layers>> = None;
    for file in image.manifest.trusted_files() {
        let source = open_trusted(rootfs, file)?;
        let identity = identity_of(&source, rootfs, file)?;
        let digest = match cache.get(&identity) {
            Some(digest) => digest,
            None => {
                let layers = layers.get_or_insert_with(|| Layers::of(rootfs));
                let from_layer = layers
                    .as_ref()
                    .and_then(|layers| layer_digest(layers, file, &identity, cache, &mut hashed));
                match from_layer {
                    Some(digest) => {
                        cache.insert(identity, digest);
                        digest
                    }
                    None => {
                        let (digest, len) =
                            hash::sha256_reader(&source).map_err(|e| read_err(rootfs, file, e))?;
                        hashed = hashed.saturating_add(len);
                        if identity_of(&source, rootfs, file)? == identity {
                            cache.insert(identity, digest);
                        }
                        digest
                    }
                }
            }
        };
        if let Err(e) = check_digest(file, rootfs, digest) {
            cache.remove(&identity);
            return Err(e);
        }
        records.push(FileRecord {
            path: file.path.clone(),
            sha256: digest,
            identity,
        });
    }
    Ok((records, hashed))
}

/// The digest of `file` when the overlay rootfs serves it unchanged from a layer (`seen` is
/// its identity through the rootfs): the layer file's cached digest, or the layer file hashed
/// (and cached under its own identity, which the next container's overlay shares). `None`
/// when it is not a layer's unchanged file, or the layer file cannot be read: the caller
/// hashes the file through the rootfs, as for any other.
fn layer_digest(
    layers: &Layers,
    file: &TrustedFile,
    seen: &FileIdentity,
    cache: &Measurements,
    hashed: &mut u64,
) -> Option<Sha256Digest> {
    let (lower, identity) = layers.unchanged_lower(Path::new(&file.path), seen)?;
    if let Some(digest) = cache.get(&identity) {
        return Some(digest);
    }
    let (digest, len) = hash::sha256_reader(&lower).ok()?;
    *hashed = hashed.saturating_add(len);
    if FileIdentity::of(&lower).ok()? != identity {
        return None;
    }
    cache.insert(identity, digest);
    Some(digest)
}

fn open_trusted(rootfs: &Path, file: &TrustedFile) -> Result<File, BuildError> {
    // O_NOFOLLOW as the PAL does: manifests record resolved paths. A record only counts if
    // the PAL, opening the file in the container, finds the same identity; so reading a
    // different file here can cost a hash there, never a wrong acceptance.
    let host = rootfs::host_path(rootfs, Path::new(&file.path));
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&host)
        .map_err(|e| read_err(rootfs, file, e))
}

fn identity_of(
    source: &File,
    rootfs: &Path,
    file: &TrustedFile,
) -> Result<FileIdentity, BuildError> {
    FileIdentity::of(source).map_err(|e| read_err(rootfs, file, e))
}

fn read_err(rootfs: &Path, file: &TrustedFile, source: io::Error) -> BuildError {
    BuildError::TrustedRead {
        path: file.path.clone(),
        rootfs: rootfs.to_owned(),
        source,
    }
}

fn check_digest(file: &TrustedFile, rootfs: &Path, actual: Sha256Digest) -> Result<(), BuildError> {
    if actual == file.sha256 {
        Ok(())
    } else {
        Err(BuildError::Modified {
            path: file.path.clone(),
            rootfs: rootfs.to_owned(),
            expected: file.sha256,
            actual,
        })
    }
}
