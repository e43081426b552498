//! The daemon: listens on the socket, answers each connection on its own thread, and refills
//! the pool in the background.
//!
//! One connection is one request. Hashing and memfd copies happen outside the pool's lock, so
//! a large image being measured never blocks a hit for another. After an `acquire` the
//! handed-out enclave's key is queued for refill up to its prewarm count, seeded with the
//! handed-out enclave's sealed entrypoint: its bytes were checked against the key's manifest
//! and the seals make them immutable, so the new enclaves share them instead of copying and
//! hashing the file again (see [`Ready::share`]). A refill without a seed (after `warm`)
//! builds from the rootfs, and one that finds the image's files changed or gone forgets the
//! key; every `acquire` checks every trusted file before it hands anything out, so a changed
//! image is never served.
//!
//! If the daemon dies at any point, nothing is left half-done for its clients: a handover
//! socket is complete before its descriptor is sent, and a client that gets no complete answer
//! starts its enclave without the pool.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use erpal_sim::handover::{self, Header};
use nix::sys::socket::{
    bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};

use crate::enclave::{
    build_ready, measure_files, BuildError, Image, Measurements, Ready, Verifications,
    MAX_VERIFIED_IMAGES,
};
use crate::pool::{Key, Limits, Pool, Recipe};
use crate::protocol::{self, Request, Response, MAX_MESSAGE};

/// The shared state of the daemon.
#[derive(Debug)]
pub struct State {
    pool: Mutex<Pool>,
    measurements: Measurements,
    verifications: Verifications,
    refill: Mutex<Sender<Refill>>,
}

/// A request to the refill worker: the key, and the sealed entrypoint of an enclave of that
/// key just handed out, to share with the new ones.
#[derive(Debug)]
pub struct Refill {
    key: Key,
    seed: Option<Ready>,
}

/// Creates the socket at `path` (its directory 0700, the socket 0600), replacing a stale one
/// that nobody answers on; refuses if another epm is listening there.
pub fn bind_socket(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    if path.exists() {
        if crate::client::Client::new(path.to_owned()).status().is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another epm is listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    let addr = UnixAddr::new(path).map_err(io::Error::from)?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).map_err(io::Error::from)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listen(&fd, Backlog::new(128).map_err(io::Error::from)?).map_err(io::Error::from)?;
    // std's listener only calls accept4(2), which serves a SOCK_SEQPACKET socket as well; the
    // accepted "streams" are used as plain descriptors.
    Ok(UnixListener::from(fd))
}

impl State {
    /// A new daemon state; the returned receiver feeds [`refill_worker`].
    pub fn new(limits: Limits) -> (Arc<Self>, Receiver<Refill>) {
        let (tx, rx) = mpsc::channel();
        let state = Arc::new(Self {
            pool: Mutex::new(Pool::new(limits)),
            measurements: Measurements::new(limits.max_measurements),
            verifications: Verifications::new(MAX_VERIFIED_IMAGES),
            refill: Mutex::new(tx),
        });
        (state, rx)
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn queue_refill(&self, key: Key, seed: Option<Ready>) {
        let _ = self
            .refill
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Refill { key, seed });
    }

    /// Answers one request; the descriptors are those that came with it. Returns the
    /// response and the descriptors to send back.
    pub fn handle(&self, bytes: &[u8], fds: Vec<OwnedFd>) -> (Response, Vec<OwnedFd>) {
        match self.try_handle(bytes, fds) {
            Ok(answer) => answer,
            Err(e) => {
                let message = chain(&*e);
                tracing::warn!(tee = "sim", error = %message, "request refused");
                (Response::Error { message }, Vec::new())
            }
        }
    }

    fn try_handle(
        &self,
        bytes: &[u8],
        fds: Vec<OwnedFd>,
    ) -> Result<(Response, Vec<OwnedFd>), Box<dyn std::error::Error + Send + Sync>> {
        let message = protocol::decode_request(bytes)?;
        match message.request {
            Request::Status {} => {
                let status = self.pool().status(self.measurements.len());
                Ok((Response::Status(status), Vec::new()))
            }
            Request::Acquire {
                tenant,
                rootfs,
                prewarm,
            } => {
                let image = image_from(fds, &self.verifications)?;
                let prewarm = prewarm.unwrap_or(self.pool().limits().default_prewarm);
                self.acquire(&tenant, rootfs, prewarm, image)
            }
            Request::Warm {
                tenant,
                rootfs,
                count,
            } => {
                let image = image_from(fds, &self.verifications)?;
                self.warm(&tenant, rootfs, count, image)
            }
        }
    }

    fn acquire(
        &self,
        tenant: &str,
        rootfs: PathBuf,
        prewarm: u32,
        image: Image,
    ) -> Result<(Response, Vec<OwnedFd>), Box<dyn std::error::Error + Send + Sync>> {
        let image = Arc::new(image);
        let key = Key::new(tenant, &image);
        let taken = {
            let mut pool = self.pool();
            let taken = pool.take(&key);
            pool.remember(
                &key,
                Recipe {
                    image: Arc::clone(&image),
                    rootfs: rootfs.clone(),
                    prewarm,
                },
            );
            taken
        };
        let hit = taken.is_some();
        let mut hashed: u64 = 0;
        let ready = match taken {
            Some(ready) => ready,
            None => {
                tracing::info!(
                    tee = "sim",
                    tenant,
                    mrenclave = %hex::encode(key.mr_enclave),
                    "no ready enclave: building one"
                );
                let (ready, bytes) = build_ready(&image, &rootfs, &self.measurements)
                    .inspect_err(|e| self.note_failure(&key, e))?;
                hashed += bytes;
                ready
            }
        };
        // Every trusted file is checked against the image now, whatever the pool held: this
        // is what keeps a changed image from being served.
        let (files, bytes) = measure_files(&image, &rootfs, &self.measurements)
            .inspect_err(|e| self.note_failure(&key, e))?;
        hashed += bytes;
        let header = Header {
            format: handover::FORMAT.to_owned(),
            tee: "sim".to_owned(),
            mr_enclave: erpal_sim::manifest::Sha256Digest(key.mr_enclave),
            mr_signer: erpal_sim::manifest::Sha256Digest(key.mr_signer),
            tenant: tenant.to_owned(),
            entrypoint: image.manifest.entrypoint().to_owned(),
            files,
            verified_image: Some(image.digest),
        };
        let socket = handover::package(&header, ready.entrypoint.as_fd())?;
        let seed = ready
            .share()
            .inspect_err(|e| tracing::warn!(tee = "sim", error = %e, "refill will copy the entrypoint again"))
            .ok();
        drop(ready);
        {
            let mut pool = self.pool();
            if hit {
                pool.counters.hits += 1;
            } else {
                pool.counters.misses += 1;
            }
        }
        tracing::info!(
            tee = "sim",
            tenant,
            mrenclave = %hex::encode(key.mr_enclave),
            hit,
            hashed_bytes = hashed,
            "enclave handed over"
        );
        self.queue_refill(key.clone(), seed);
        Ok((
            Response::Enclave {
                hit,
                hashed_bytes: hashed,
                mr_enclave: hex::encode(key.mr_enclave),
                mr_signer: hex::encode(key.mr_signer),
            },
            vec![socket],
        ))
    }

    fn warm(
        &self,
        tenant: &str,
        rootfs: PathBuf,
        count: u32,
        image: Image,
    ) -> Result<(Response, Vec<OwnedFd>), Box<dyn std::error::Error + Send + Sync>> {
        let image = Arc::new(image);
        let key = Key::new(tenant, &image);
        measure_files(&image, &rootfs, &self.measurements)
            .inspect_err(|e| self.note_failure(&key, e))?;
        self.pool().remember(
            &key,
            Recipe {
                image: Arc::clone(&image),
                rootfs,
                prewarm: count,
            },
        );
        self.refill(&key, None)?;
        let ready = u32::try_from(self.pool().ready(&key)).unwrap_or(u32::MAX);
        Ok((
            Response::Warmed {
                ready,
                mr_enclave: hex::encode(key.mr_enclave),
                mr_signer: hex::encode(key.mr_signer),
            },
            Vec::new(),
        ))
    }

    /// Brings `key` up to its prewarm count: enclaves sharing `seed`'s sealed entrypoint (the
    /// last of them is the seed itself, so no extra descriptor outlives the refill), or,
    /// without a seed, built from the rootfs.
    pub fn refill(&self, key: &Key, seed: Option<Ready>) -> Result<(), BuildError> {
        let Some((missing, recipe)) = self.pool().wanted(key) else {
            return Ok(());
        };
        let mut seed = seed;
        for built in 1..=missing {
            let ready = match seed.take() {
                Some(last) if built == missing => Ok(last),
                Some(shared) => {
                    let copy = shared.share().map_err(|source| BuildError::Memfd {
                        path: recipe.image.manifest.entrypoint().to_owned(),
                        source,
                    });
                    seed = Some(shared);
                    copy
                }
                None => build_ready(&recipe.image, &recipe.rootfs, &self.measurements)
                    .map(|(ready, _)| ready),
            }
            .inspect_err(|e| self.note_failure(key, e))?;
            if !self.pool().insert(key, ready) {
                break;
            }
        }
        Ok(())
    }

    fn note_failure(&self, key: &Key, error: &BuildError) {
        let mut pool = self.pool();
        if error.is_stale() {
            pool.counters.stale += 1;
        }
        // The image no longer builds from its rootfs: drop what was pooled for it.
        pool.forget(key);
    }
}

/// Serves refill requests until the channel closes.
pub fn refill_worker(state: Arc<State>, requests: Receiver<Refill>) {
    for Refill { key, seed } in requests {
        if let Err(e) = state.refill(&key, seed) {
            tracing::warn!(tee = "sim", tenant = %key.tenant, error = %chain(&e), "refill failed; image forgotten");
        }
    }
}

/// Accepts connections forever, one thread each.
pub fn serve(listener: UnixListener, state: Arc<State>) -> io::Result<()> {
    loop {
        let (conn, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let conn = OwnedFd::from(conn);
        let state = Arc::clone(&state);
        std::thread::spawn(move || serve_one(&conn, &state));
    }
}

fn serve_one(conn: &OwnedFd, state: &State) {
    let (bytes, fds) = match handover::recv_fds(conn.as_fd(), MAX_MESSAGE) {
        Ok(message) => message,
        Err(e) => {
            tracing::debug!(error = %e, "client went away before its request");
            return;
        }
    };
    let (response, out) = state.handle(&bytes, fds);
    let borrowed: Vec<_> = out.iter().map(AsFd::as_fd).collect();
    if let Err(e) = handover::send_fds(conn.as_fd(), &protocol::encode(&response), &borrowed) {
        // The client gave up (timeout, killed): what we built is dropped with `out`.
        tracing::warn!(error = %e, "client went away before the answer");
    }
}

fn image_from(
    fds: Vec<OwnedFd>,
    verified: &Verifications,
) -> Result<Image, Box<dyn std::error::Error + Send + Sync>> {
    let [manifest, sigstruct]: [OwnedFd; 2] = fds.try_into().map_err(|fds: Vec<OwnedFd>| {
        format!(
            "expected 2 descriptors (manifest, sigstruct), got {}",
            fds.len()
        )
    })?;
    Ok(Image::from_files(
        &File::from(manifest),
        &File::from(sigstruct),
        verified,
    )?)
}

/// An error and its causes on one line.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
