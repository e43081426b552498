//! Sim enclave images: signing a bundle, measuring and inspecting it (`rune enclave sign`,
//! `measure`, `inspect`, `keygen` call these; all file I/O of the tooling lives here, the
//! algorithms in `sgx`).
//!
//! Files, outside the rootfs so the workload cannot change them:
//! `BUNDLE/enclave/manifest.json` and `BUNDLE/enclave/sigstruct.bin` (1808 bytes). An image
//! run by containerd, Docker or Kubernetes gets a bundle made from the image, where only the
//! rootfs travels: signed with `in_rootfs` ([`SignOptions`]), it carries the two files in
//! `ROOTFS/.enclave/` ([`ROOTFS_ENCLAVE_DIR`]), which is never a trusted file itself. A
//! container's workload can rewrite its own copy; what it writes must still be a manifest its
//! signer signed and that matches the rootfs, and it shows in MRENCLAVE and MRSIGNER.
//!
//! Trusted files of a signed image ([`sign_bundle`]):
//! - the entrypoint: `process.args[0]` of `BUNDLE/config.json`, searched in `process.env`'s
//!   `PATH` (or the default PATH) when it has no slash, relative to `process.cwd` when it is
//!   relative, with symlinks followed inside the rootfs (see [`crate::rootfs`]); a `#!` script
//!   also trusts its interpreter;
//! - every shared object it loads: the ELF interpreter (`PT_INTERP`) and `DT_NEEDED`
//!   libraries, recursively, searched like `ld.so` does in the rootfs: `DT_RPATH` (when there is
//!   no `DT_RUNPATH`), `DT_RUNPATH` (`$ORIGIN` expanded), then [`LIBRARY_DIRS`], taking the
//!   first file of the same ELF class and machine (`/etc/ld.so.cache` and `LD_LIBRARY_PATH`
//!   are not consulted);
//! - each `--include` path (in-root; a directory includes its regular files recursively,
//!   symlinks inside it resolved in the rootfs, nested directory symlinks not walked).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sgx::{SigStruct, SigningKey};
use thiserror::Error;

use crate::hash;
use crate::manifest::{
    ArgvPolicy, EnvPolicy, Manifest, ManifestError, ManifestFields, Sha256Digest, TrustedFile,
    DEFAULT_MEMORY_SIZE, MAX_MANIFEST_SIZE,
};
use crate::measure::{self, BindError, ImageDigest};
use crate::rootfs::{self, RootfsError};

/// Directory of the image files inside the bundle.
pub const ENCLAVE_DIR: &str = "enclave";
/// Directory of the image files inside the rootfs, for an image signed `in_rootfs`.
pub const ROOTFS_ENCLAVE_DIR: &str = ".enclave";
/// Manifest file name in [`ENCLAVE_DIR`].
pub const MANIFEST_FILE: &str = "manifest.json";
/// SIGSTRUCT file name in [`ENCLAVE_DIR`].
pub const SIGSTRUCT_FILE: &str = "sigstruct.bin";
/// Default PATH when `process.env` has none (runc's and Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Default library directories, searched in this order.
pub const LIBRARY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];
/// Largest `config.json` read.
const MAX_CONFIG_SIZE: u64 = 4 << 20;
/// Largest ELF file read whole for its dynamic section.
const MAX_ELF_SIZE: u64 = 2 << 30;

/// Why an image cannot be signed, measured or inspected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// The host path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file could not be written.
    #[error("writing {path}")]
    Write {
        /// The host path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file is larger than allowed.
    #[error("{path} is larger than {max} bytes")]
    TooLarge {
        /// The host path.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// `config.json` is not usable.
    #[error("bundle config {path}: {reason}")]
    Config {
        /// The host path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The entrypoint is not in the rootfs.
    #[error("entrypoint {program:?} not found in rootfs {rootfs} (PATH {search_path})")]
    EntrypointNotFound {
        /// `process.args[0]`.
        program: String,
        /// The rootfs.
        rootfs: PathBuf,
        /// The PATH searched.
        search_path: String,
    },
    /// A trusted file is not a regular file.
    #[error("trusted file {path} in rootfs {rootfs} is not a regular file")]
    NotRegular {
        /// The in-root path.
        path: String,
        /// The rootfs.
        rootfs: PathBuf,
    },
    /// An ELF file's dynamic section does not parse.
    #[error("cannot parse ELF file {path}: {reason}")]
    Elf {
        /// The in-root path.
        path: String,
        /// goblin's reason.
        reason: String,
    },
    /// A needed shared library is missing.
    #[error("shared library {name} needed by {needed_by} not found in rootfs {rootfs} (searched {searched})")]
    LibraryNotFound {
        /// The DT_NEEDED name.
        name: String,
        /// The in-root path of the object needing it.
        needed_by: String,
        /// The rootfs.
        rootfs: PathBuf,
        /// The directories searched.
        searched: String,
    },
    /// The ELF interpreter (`PT_INTERP`) is missing.
    #[error("ELF interpreter {interpreter} of {needed_by} not found in rootfs {rootfs}")]
    InterpreterNotFound {
        /// The PT_INTERP path.
        interpreter: String,
        /// The in-root path of the program.
        needed_by: String,
        /// The rootfs.
        rootfs: PathBuf,
        /// The cause.
        #[source]
        source: Box<RootfsError>,
    },
    /// A path could not be resolved in the rootfs.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// `sigstruct.bin` does not parse.
    #[error("sim enclave sigstruct {path} does not parse")]
    SigStruct {
        /// The host path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: sgx::ParseError,
    },
    /// Signing or key generation failed.
    #[error("signing the sim enclave image")]
    Sign(#[source] sgx::SigningError),
    /// The SIGSTRUCT does not sign the manifest.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The measurement could not be computed.
    #[error("measuring the sim enclave manifest")]
    Measure(#[source] sgx::MeasureError),
}

/// What the signer chooses besides the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// ISV product id (default 0).
    pub isv_prod_id: u16,
    /// ISV security version (default 0).
    pub isv_svn: u16,
    /// Debug enclave (default false).
    pub debug: bool,
    /// ECREATE size, a power of two (default 256 MiB).
    pub memory_size: u64,
    /// Argv policy; `None` (default) fixes `process.args` of `config.json`.
    pub argv: Option<ArgvPolicy>,
    /// Env policy; `None` (default) allows the names of `process.env` of `config.json`.
    pub env: Option<EnvPolicy>,
    /// Write the image into the rootfs ([`ROOTFS_ENCLAVE_DIR`]) instead of the bundle: for a
    /// rootfs that becomes a container image.
    pub in_rootfs: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            isv_prod_id: 0,
            isv_svn: 0,
            debug: false,
            memory_size: DEFAULT_MEMORY_SIZE,
            argv: None,
            env: None,
            in_rootfs: false,
        }
    }
}

/// The result of [`sign_bundle`].
#[derive(Debug, Clone)]
pub struct SignedImage {
    /// The manifest written.
    pub manifest: Manifest,
    /// The SIGSTRUCT written.
    pub sigstruct: SigStruct,
    /// Measurement of the image.
    pub measurement: Measurement,
    /// Where the manifest was written.
    pub manifest_path: PathBuf,
    /// Where the SIGSTRUCT was written.
    pub sigstruct_path: PathBuf,
}

/// MRENCLAVE and MRSIGNER; serialises as `{"mrenclave": hex, "mrsigner": hex}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Measurement {
    /// MRENCLAVE.
    #[serde(serialize_with = "hex32")]
    pub mrenclave: [u8; 32],
    /// MRSIGNER.
    #[serde(serialize_with = "hex32")]
    pub mrsigner: [u8; 32],
}

/// What `rune enclave inspect` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// Always `"sim"`: this image is for the software TEE.
    pub tee: &'static str,
    /// The manifest file.
    pub manifest_path: PathBuf,
    /// The SIGSTRUCT file.
    pub sigstruct_path: PathBuf,
    /// MRENCLAVE recomputed from the manifest (hex).
    pub mrenclave: String,
    /// MRSIGNER of the SIGSTRUCT's key (hex).
    pub mrsigner: String,
    /// Whether the recomputed MRENCLAVE equals SIGSTRUCT.ENCLAVEHASH and every check passes.
    pub valid: bool,
    /// Why not, when `valid` is false.
    pub problem: Option<String>,
    /// The manifest's fields.
    pub manifest: serde_json::Value,
    /// The SIGSTRUCT's fields.
    pub sigstruct: SigStructFields,
}

/// SIGSTRUCT fields as `inspect` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct SigStructFields {
    /// VENDOR (0: not Intel).
    pub vendor: u32,
    /// DATE, BCD `yyyymmdd` printed as `yyyy-mm-dd`.
    pub date: String,
    /// ENCLAVEHASH (hex).
    pub enclave_hash: String,
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN.
    pub isv_svn: u16,
    /// ATTRIBUTES.FLAGS (hex).
    pub attributes_flags: String,
    /// ATTRIBUTES.XFRM (hex).
    pub attributes_xfrm: String,
    /// ATTRIBUTEMASK.FLAGS (hex).
    pub attribute_mask_flags: String,
    /// ATTRIBUTEMASK.XFRM (hex).
    pub attribute_mask_xfrm: String,
    /// MISCSELECT (hex).
    pub misc_select: String,
    /// MISCMASK (hex).
    pub misc_mask: String,
    /// Whether ATTRIBUTES.DEBUG is set.
    pub debug: bool,
    /// MRSIGNER: SHA-256 of MODULUS (hex).
    pub mrsigner: String,
}

/// Paths of the image files of `bundle`.
pub fn image_paths(bundle: &Path) -> (PathBuf, PathBuf) {
    let dir = bundle.join(ENCLAVE_DIR);
    (dir.join(MANIFEST_FILE), dir.join(SIGSTRUCT_FILE))
}

/// Paths of the image files an image carries in its rootfs.
pub fn rootfs_image_paths(rootfs: &Path) -> (PathBuf, PathBuf) {
    let dir = rootfs.join(ROOTFS_ENCLAVE_DIR);
    (dir.join(MANIFEST_FILE), dir.join(SIGSTRUCT_FILE))
}

/// Paths of the image files of `bundle` whose rootfs is `rootfs`: the bundle's own when it has
/// a manifest, else those in the rootfs.
pub fn located_image_paths(bundle: &Path, rootfs: &Path) -> (PathBuf, PathBuf) {
    let in_bundle = image_paths(bundle);
    if in_bundle.0.exists() {
        in_bundle
    } else {
        rootfs_image_paths(rootfs)
    }
}

/// The rootfs of `bundle`, from `root.path` of its `config.json`.
pub fn bundle_rootfs(bundle: &Path) -> Result<PathBuf, ImageError> {
    let config = read_config(&bundle.join("config.json"))?;
    Ok(config_rootfs(bundle, &config))
}

/// `root.path` of `config`, the config of `bundle`, as a path.
fn config_rootfs(bundle: &Path, config: &Config) -> PathBuf {
    if Path::new(&config.root.path).is_absolute() {
        PathBuf::from(&config.root.path)
    } else {
        bundle.join(&config.root.path)
    }
}

/// A fresh RSA-3072, e = 3 enclave signing key.
pub fn generate_key() -> Result<SigningKey, ImageError> {
    sgx::generate_signing_key(&mut OsRng).map_err(ImageError::Sign)
}

/// Builds the manifest of `bundle` (see the module doc for what is trusted) without signing.
pub fn build_manifest(
    bundle: &Path,
    includes: &[PathBuf],
    options: &SignOptions,
) -> Result<Manifest, ImageError> {
    build_manifest_with_progress(bundle, includes, options, &mut |_| {})
}

/// A step of signing, reported to the caller's callback so a front end can draw progress
/// (hashing a large rootfs takes a while; this library never prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignProgress<'a> {
    /// A trusted file was hashed (in-rootfs path, size in bytes).
    Hashed {
        /// The file, as a path inside the rootfs.
        path: &'a str,
        /// Its size.
        bytes: u64,
    },
    /// Every file is hashed; the manifest is being measured and signed.
    Signing {
        /// How many trusted files the manifest lists.
        files: usize,
    },
}

/// [`build_manifest`], reporting each hashed file to `progress`.
pub fn build_manifest_with_progress(
    bundle: &Path,
    includes: &[PathBuf],
    options: &SignOptions,
    progress: &mut dyn FnMut(SignProgress<'_>),
) -> Result<Manifest, ImageError> {
    let config_path = bundle.join("config.json");
    let config = read_config(&config_path)?;
    let rootfs = config_rootfs(bundle, &config);
    let bad = |reason: &str| ImageError::Config {
        path: config_path.clone(),
        reason: reason.to_owned(),
    };
    let process = config.process.ok_or_else(|| bad("no process section"))?;
    let program = process
        .args
        .first()
        .ok_or_else(|| bad("process.args is empty"))?
        .clone();
    let env = process.env.unwrap_or_default();
    let search_path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_owned();
    let entrypoint = find_entrypoint(&rootfs, &program, process.cwd.as_deref(), &search_path)?;

    let mut collector = Collector::new(&rootfs, progress);
    collector.add_program(&entrypoint)?;
    for include in includes {
        collector.add_include(include)?;
    }

    let argv = options.argv.clone().unwrap_or(ArgvPolicy::Fixed {
        argv: process.args.clone(),
    });
    let env = options.env.clone().unwrap_or_else(|| EnvPolicy::Allow {
        names: env
            .iter()
            .filter_map(|e| e.split_once('=').map(|(name, _)| name.to_owned()))
            .filter(|name| !name.starts_with("ENCLAVE_"))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    });
    Ok(Manifest::new(ManifestFields {
        entrypoint,
        argv,
        env,
        trusted_files: collector.files.into_values().collect(),
        isv_prod_id: options.isv_prod_id,
        isv_svn: options.isv_svn,
        debug: options.debug,
        memory_size: options.memory_size,
    })?)
}

/// Signs `manifest` with `key` into a SIGSTRUCT dated today (UTC).
pub fn sign_manifest(manifest: &Manifest, key: &SigningKey) -> Result<SigStruct, ImageError> {
    let enclave_hash = measure::mr_enclave(manifest).map_err(ImageError::Measure)?;
    let today = time::OffsetDateTime::now_utc();
    let date = SigStruct::bcd_date(
        u16::try_from(today.year()).unwrap_or(0),
        u8::from(today.month()),
        today.day(),
    )
    .unwrap_or(0);
    SigStruct {
        date,
        attributes: measure::secs_attributes(manifest.debug()),
        attribute_mask: measure::attribute_mask(),
        misc_select: 0,
        misc_mask: u32::MAX,
        enclave_hash,
        isv_prod_id: manifest.isv_prod_id(),
        isv_svn: manifest.isv_svn(),
        ..SigStruct::default()
    }
    .sign(key, &mut OsRng)
    .map_err(ImageError::Sign)
}

/// Signs `bundle`: builds its manifest, signs it with `key` and writes
/// `BUNDLE/enclave/manifest.json` and `sigstruct.bin` (each atomically: temp file, fsync,
/// rename; the SIGSTRUCT first, so a crash between the two leaves a mismatch that refuses to
/// start, never a stale pair that starts).
pub fn sign_bundle(
    bundle: &Path,
    key: &SigningKey,
    includes: &[PathBuf],
    options: &SignOptions,
) -> Result<SignedImage, ImageError> {
    sign_bundle_with_progress(bundle, key, includes, options, &mut |_| {})
}

/// [`sign_bundle`], reporting its steps to `progress`.
pub fn sign_bundle_with_progress(
    bundle: &Path,
    key: &SigningKey,
    includes: &[PathBuf],
    options: &SignOptions,
    progress: &mut dyn FnMut(SignProgress<'_>),
) -> Result<SignedImage, ImageError> {
    let manifest = build_manifest_with_progress(bundle, includes, options, progress)?;
    progress(SignProgress::Signing {
        files: manifest.trusted_files().len(),
    });
    let sigstruct = sign_manifest(&manifest, key)?;
    let (manifest_path, sigstruct_path) = if options.in_rootfs {
        rootfs_image_paths(&bundle_rootfs(bundle)?)
    } else {
        image_paths(bundle)
    };
    let dir = manifest_path.parent().unwrap_or(bundle).to_owned();
    std::fs::create_dir_all(&dir).map_err(|source| ImageError::Write {
        path: dir.clone(),
        source,
    })?;
    write_atomic(&sigstruct_path, sigstruct.encode().as_slice())?;
    write_atomic(&manifest_path, manifest.to_pretty_json().as_bytes())?;
    let measurement = Measurement {
        mrenclave: sigstruct.enclave_hash,
        mrsigner: sigstruct.mr_signer(),
    };
    tracing::info!(
        tee = "sim",
        bundle = %bundle.display(),
        mrenclave = %hex::encode(measurement.mrenclave),
        mrsigner = %hex::encode(measurement.mrsigner),
        trusted_files = manifest.trusted_files().len(),
        "signed sim enclave image"
    );
    Ok(SignedImage {
        manifest,
        sigstruct,
        measurement,
        manifest_path,
        sigstruct_path,
    })
}

/// Reads and checks the image of `bundle`: the SIGSTRUCT verifies and signs the manifest's
/// measurement. Returns MRENCLAVE and MRSIGNER.
pub fn measure_bundle(bundle: &Path) -> Result<Measurement, ImageError> {
    let (manifest_path, sigstruct_path) = located_image_paths(bundle, &bundle_rootfs(bundle)?);
    let (manifest, sigstruct, _) = load_image(&manifest_path, &sigstruct_path)?;
    let identity = measure::bind(&manifest, &sigstruct)?;
    Ok(Measurement {
        mrenclave: identity.mr_enclave,
        mrsigner: identity.mr_signer,
    })
}

/// The manifest and SIGSTRUCT fields of `bundle`'s image, with whether they bind.
pub fn inspect_bundle(bundle: &Path) -> Result<Inspection, ImageError> {
    let (manifest_path, sigstruct_path) = located_image_paths(bundle, &bundle_rootfs(bundle)?);
    let (manifest, sigstruct, _) = load_image(&manifest_path, &sigstruct_path)?;
    let mrenclave = measure::mr_enclave(&manifest).map_err(ImageError::Measure)?;
    let problem = measure::bind(&manifest, &sigstruct)
        .err()
        .map(|e| error_chain(&e));
    let date = format!("{:08x}", sigstruct.date);
    let s = &sigstruct;
    Ok(Inspection {
        tee: "sim",
        manifest_path,
        sigstruct_path,
        mrenclave: hex::encode(mrenclave),
        mrsigner: hex::encode(s.mr_signer()),
        valid: problem.is_none(),
        problem,
        manifest: manifest.to_json_value(),
        sigstruct: SigStructFields {
            vendor: s.vendor,
            date: format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]),
            enclave_hash: hex::encode(s.enclave_hash),
            isv_prod_id: s.isv_prod_id,
            isv_svn: s.isv_svn,
            attributes_flags: format!("{:#x}", s.attributes.flags),
            attributes_xfrm: format!("{:#x}", s.attributes.xfrm),
            attribute_mask_flags: format!("{:#x}", s.attribute_mask.flags),
            attribute_mask_xfrm: format!("{:#x}", s.attribute_mask.xfrm),
            misc_select: format!("{:#x}", s.misc_select),
            misc_mask: format!("{:#x}", s.misc_mask),
            debug: s.attributes.is_debug(),
            mrsigner: hex::encode(s.mr_signer()),
        },
    })
}

/// Reads a manifest file (capped at [`MAX_MANIFEST_SIZE`]) and a SIGSTRUCT file; with the
/// digest of the bytes read.
pub fn load_image(
    manifest_path: &Path,
    sigstruct_path: &Path,
) -> Result<(Manifest, SigStruct, ImageDigest), ImageError> {
    let max = u64::try_from(MAX_MANIFEST_SIZE).unwrap_or(u64::MAX);
    let manifest_bytes = read_capped(manifest_path, max)?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let bytes = read_capped(
        sigstruct_path,
        u64::try_from(SigStruct::SIZE).unwrap_or(u64::MAX),
    )?;
    let sigstruct = SigStruct::parse(&bytes).map_err(|source| ImageError::SigStruct {
        path: sigstruct_path.to_owned(),
        source,
    })?;
    Ok((
        manifest,
        sigstruct,
        ImageDigest::of(&manifest_bytes, &bytes),
    ))
}

/// Reads at most `max` bytes of `path`; a longer file is [`ImageError::TooLarge`].
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, ImageError> {
    let read = |source| ImageError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read)?;
    // Sized from fstat, so that a file is read in one call rather than in growing chunks.
    let expected = file.metadata().map_or(0, |m| m.len()).min(max);
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0).saturating_add(1));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(ImageError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    Ok(bytes)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn hex32<S: serde::Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

#[derive(Debug, Deserialize)]
struct Config {
    root: ConfigRoot,
    process: Option<ConfigProcess>,
}

#[derive(Debug, Deserialize)]
struct ConfigRoot {
    path: String,
}

#[derive(Debug, Deserialize)]
struct ConfigProcess {
    args: Vec<String>,
    env: Option<Vec<String>>,
    cwd: Option<String>,
}

fn read_config(path: &Path) -> Result<Config, ImageError> {
    let bytes = read_capped(path, MAX_CONFIG_SIZE)?;
    serde_json::from_slice(&bytes).map_err(|e| ImageError::Config {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Resolves `program` in the rootfs as runc does: a path with a slash is taken as is
/// (relative to `cwd`), a bare name is searched in `search_path`.
fn find_entrypoint(
    rootfs: &Path,
    program: &str,
    cwd: Option<&str>,
    search_path: &str,
) -> Result<String, ImageError> {
    if program.contains('/') {
        let path = Path::new(cwd.unwrap_or("/")).join(program);
        return Ok(rootfs::resolve(rootfs, &path)?);
    }
    for dir in search_path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if let Ok(resolved) = rootfs::resolve(rootfs, &candidate) {
            let host = rootfs::host_path(rootfs, Path::new(&resolved));
            if host.metadata().is_ok_and(|m| m.is_file()) {
                return Ok(resolved);
            }
        }
    }
    Err(ImageError::EntrypointNotFound {
        program: program.to_owned(),
        rootfs: rootfs.to_owned(),
        search_path: search_path.to_owned(),
    })
}

/// Gathers trusted files, following ELF dependencies.
struct Collector<'a> {
    rootfs: &'a Path,
    files: BTreeMap<String, TrustedFile>,
    progress: &'a mut dyn FnMut(SignProgress<'_>),
}

/// The parts of an ELF file that decide what else it loads.
struct ElfDeps {
    interpreter: Option<String>,
    needed: Vec<String>,
    search: Vec<String>,
    class64: bool,
    machine: u16,
}

impl<'a> Collector<'a> {
    fn new(rootfs: &'a Path, progress: &'a mut dyn FnMut(SignProgress<'_>)) -> Self {
        Self {
            rootfs,
            files: BTreeMap::new(),
            progress,
        }
    }

    /// Adds an executable with everything it loads (interpreter of a script, ELF deps).
    fn add_program(&mut self, in_root: &str) -> Result<(), ImageError> {
        let mut queue = vec![in_root.to_owned()];
        while let Some(path) = queue.pop() {
            if self.files.contains_key(&path) {
                continue;
            }
            let host = self.host_checked(&path)?;
            let size = host
                .metadata()
                .map_err(|source| ImageError::Read {
                    path: host.clone(),
                    source,
                })?
                .len();
            let mut magic = [0u8; 4];
            let head = File::open(&host)
                .and_then(|mut f| {
                    let n = f.read(&mut magic)?;
                    Ok(n)
                })
                .map_err(|source| ImageError::Read {
                    path: host.clone(),
                    source,
                })?;
            if head == 4 && magic == *b"\x7fELF" {
                if size > MAX_ELF_SIZE {
                    return Err(ImageError::TooLarge {
                        path: host,
                        max: MAX_ELF_SIZE,
                    });
                }
                let bytes = std::fs::read(&host).map_err(|source| ImageError::Read {
                    path: host.clone(),
                    source,
                })?;
                let digest = hash::sha256(&bytes);
                let deps = elf_deps(&path, &bytes)?;
                self.insert(
                    &path,
                    digest,
                    u64::try_from(bytes.len()).unwrap_or(u64::MAX),
                );
                if let Some(interp) = &deps.interpreter {
                    let resolved =
                        rootfs::resolve(self.rootfs, Path::new(interp)).map_err(|source| {
                            ImageError::InterpreterNotFound {
                                interpreter: interp.clone(),
                                needed_by: path.clone(),
                                rootfs: self.rootfs.to_owned(),
                                source: Box::new(source),
                            }
                        })?;
                    queue.push(resolved);
                }
                for name in &deps.needed {
                    queue.push(self.find_library(&path, name, &deps)?);
                }
            } else {
                let (digest, len) =
                    hash::sha256_file(&host).map_err(|source| ImageError::Read {
                        path: host.clone(),
                        source,
                    })?;
                self.insert(&path, digest, len);
                if head >= 2 && magic[..2] == *b"#!" {
                    if let Some(interp) = shebang(&host)? {
                        let dir = Path::new(&path).parent().unwrap_or(Path::new("/"));
                        queue.push(rootfs::resolve(self.rootfs, &dir.join(interp))?);
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds an `--include` path: a file, or a directory's regular files recursively.
    fn add_include(&mut self, include: &Path) -> Result<(), ImageError> {
        let resolved = rootfs::resolve(self.rootfs, include)?;
        let host = rootfs::host_path(self.rootfs, Path::new(&resolved));
        let meta = host.metadata().map_err(|source| ImageError::Read {
            path: host.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(&host)
                .and_then(|dir| dir.collect::<Result<Vec<_>, _>>())
                .map_err(|source| ImageError::Read {
                    path: host.clone(),
                    source,
                })?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let child = Path::new(&resolved).join(entry.file_name());
                if child == Path::new("/").join(ROOTFS_ENCLAVE_DIR) {
                    // The signature of this very image (signed `in_rootfs`), never part of it.
                    continue;
                }
                let kind = entry.file_type().map_err(|source| ImageError::Read {
                    path: entry.path(),
                    source,
                })?;
                if kind.is_dir() {
                    self.add_include(&child)?;
                } else if kind.is_file() {
                    self.add_plain(&child)?;
                } else if kind.is_symlink() {
                    let target = rootfs::resolve(self.rootfs, &child)?;
                    let target_host = rootfs::host_path(self.rootfs, Path::new(&target));
                    if target_host.metadata().is_ok_and(|m| m.is_file()) {
                        self.add_plain(Path::new(&target))?;
                    }
                }
            }
            Ok(())
        } else {
            self.add_plain(Path::new(&resolved))
        }
    }

    fn add_plain(&mut self, in_root: &Path) -> Result<(), ImageError> {
        let path = rootfs::resolve(self.rootfs, in_root)?;
        if self.files.contains_key(&path) {
            return Ok(());
        }
        let host = self.host_checked(&path)?;
        let (digest, len) = hash::sha256_file(&host).map_err(|source| ImageError::Read {
            path: host.clone(),
            source,
        })?;
        self.insert(&path, digest, len);
        Ok(())
    }

    fn insert(&mut self, path: &str, sha256: Sha256Digest, size: u64) {
        (self.progress)(SignProgress::Hashed { path, bytes: size });
        self.files.insert(
            path.to_owned(),
            TrustedFile {
                path: path.to_owned(),
                sha256,
                size,
            },
        );
    }

    /// The host path of a resolved in-root path, which must be a regular file.
    fn host_checked(&self, path: &str) -> Result<PathBuf, ImageError> {
        let host = rootfs::host_path(self.rootfs, Path::new(path));
        let meta = std::fs::symlink_metadata(&host).map_err(|source| ImageError::Read {
            path: host.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(ImageError::NotRegular {
                path: path.to_owned(),
                rootfs: self.rootfs.to_owned(),
            });
        }
        Ok(host)
    }

    /// Finds DT_NEEDED `name` of the object at `needed_by` as ld.so would, in the rootfs.
    fn find_library(
        &self,
        needed_by: &str,
        name: &str,
        deps: &ElfDeps,
    ) -> Result<String, ImageError> {
        if name.contains('/') {
            return Ok(rootfs::resolve(self.rootfs, Path::new(name))?);
        }
        let origin = Path::new(needed_by)
            .parent()
            .and_then(Path::to_str)
            .unwrap_or("/");
        let mut dirs: Vec<String> = deps
            .search
            .iter()
            .map(|d| d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
            .collect();
        dirs.extend(LIBRARY_DIRS.iter().map(|d| (*d).to_owned()));
        for dir in &dirs {
            let candidate = Path::new(dir).join(name);
            let Ok(resolved) = rootfs::resolve(self.rootfs, &candidate) else {
                continue;
            };
            let host = rootfs::host_path(self.rootfs, Path::new(&resolved));
            if matches_class(&host, deps.class64, deps.machine) {
                return Ok(resolved);
            }
        }
        Err(ImageError::LibraryNotFound {
            name: name.to_owned(),
            needed_by: needed_by.to_owned(),
            rootfs: self.rootfs.to_owned(),
            searched: dirs.join(":"),
        })
    }
}

fn elf_deps(path: &str, bytes: &[u8]) -> Result<ElfDeps, ImageError> {
    let elf = goblin::elf::Elf::parse(bytes).map_err(|e| ImageError::Elf {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    // ld.so ignores DT_RPATH when DT_RUNPATH is present.
    let search = if elf.runpaths.is_empty() {
        &elf.rpaths
    } else {
        &elf.runpaths
    };
    Ok(ElfDeps {
        interpreter: elf.interpreter.map(str::to_owned),
        needed: elf.libraries.iter().map(|s| (*s).to_owned()).collect(),
        search: search
            .iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        class64: elf.is_64,
        machine: elf.header.e_machine,
    })
}

/// Whether `host` is a regular ELF file of the given class and machine.
fn matches_class(host: &Path, class64: bool, machine: u16) -> bool {
    let mut header = [0u8; 64];
    let Ok(mut file) = File::open(host) else {
        return false;
    };
    if !host.metadata().is_ok_and(|m| m.is_file()) || file.read_exact(&mut header).is_err() {
        return false;
    }
    goblin::elf::Elf::parse_header(&header).is_ok_and(|h| {
        (h.e_ident[4] == goblin::elf::header::ELFCLASS64) == class64 && h.e_machine == machine
    })
}

/// The interpreter path of a `#!` script (first word after `#!`, first line, at most 256 bytes).
fn shebang(host: &Path) -> Result<Option<String>, ImageError> {
    let mut line = [0u8; 256];
    let n = File::open(host)
        .and_then(|mut f| f.read(&mut line))
        .map_err(|source| ImageError::Read {
            path: host.to_owned(),
            source,
        })?;
    let line = line.get(2..n).unwrap_or_default();
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let text = String::from_utf8_lossy(line.get(..end).unwrap_or_default()).into_owned();
    Ok(text.split_whitespace().next().map(str::to_owned))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let write = |source| ImageError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(write)
}
