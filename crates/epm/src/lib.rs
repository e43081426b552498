//! `epm`, the enclave pool manager: keeps pre-initialised software TEE (sim) enclaves and
//! cached measurements ready, and hands them to `rune` at `create`, so an enclave container
//! starts in a time that does not grow with its image.
//!
//! What this crate owns:
//! - [`enclave`]: verifying an image and building a pre-initialised enclave (the entrypoint's
//!   verified bytes in a sealed memfd), measuring trusted files, and the measurement cache
//!   keyed by file identity;
//! - [`overlay`]: the layer file an overlay rootfs serves, so a measurement cached for one
//!   container's overlay mount serves the next one's (containerd mounts one per container);
//! - [`pool`]: the bounded pool, keyed by tenant, MRENCLAVE and MRSIGNER, with LRU eviction
//!   and a prewarm count per image;
//! - [`protocol`], [`server`], [`client`]: the daemon's socket (`/var/run/epm/epm.sock`),
//!   its typed messages, and the client rune uses;
//! - [`tenant`]: which containers may share enclaves.
//!
//! The handover itself (what reaches `pal_init` in `pal_attr_v3_t.fd`) is defined by the sim
//! enclave runtime, in [`erpal_sim::handover`].
//!
//! What it must not do: hand an enclave out twice, hand one across tenants or images, serve
//! a measurement of a file that changed, or start containers (it never calls libcontainer).
//! Scope, said plainly: the sim TEE gives integrity and measurement, no confidentiality against
//! root; the pool adds no protection of its own against root either (see `docs/epm.md`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod client;
pub mod enclave;
pub mod overlay;
pub mod pool;
pub mod protocol;
pub mod server;
pub mod tenant;

pub use client::{Acquired, Client, ClientError, PendingAcquire};
pub use pool::Limits;
pub use protocol::DEFAULT_SOCKET;
