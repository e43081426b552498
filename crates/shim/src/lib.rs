//! `containerd-shim-rune-v2`: the containerd shim v2 for runtime type `io.containerd.rune.v2`.
//!
//! It owns the task API (create, start, exec, kill, wait, pids, stats, pause/resume, update,
//! close-io, resize-pty, delete, connect, shutdown), stdio through fifos and terminals, task
//! and OOM events, one shim per pod sandbox, and cleanup after a crashed task. It drives the
//! `rune` binary (or any runc-compatible one named by the runc shim option `BinaryName`) with
//! runc's exact CLI, as containerd's runc shim drives runc.
//!
//! It must not implement container machinery (namespaces, cgroups setup, enclaves): that is
//! rune's. The only config it adds to a bundle is `enclave.type` derived from Inclavare's
//! `RUNE_CARRIER` when nothing else names the enclave type (see [`carrier`]); `ENCLAVE_*` env
//! and `enclave.*` annotations reach rune unchanged.
//!
//! Built on the `containerd-shim` crate's synchronous API (ttrpc server, reaper, logging). The
//! 0.11 line is used because it serves `containerd.task.v2` and answers `start` with a bare
//! address, which containerd 1.6 (Debian 12) through 2.2 all accept; 0.12 speaks only
//! `containerd.task.v3`.

#![deny(unsafe_code)]

pub mod carrier;
pub mod container;
pub mod error;
pub mod events;
pub mod io;
pub mod logger;
pub mod metrics;
pub mod oom;
pub mod rune;
pub mod service;
mod sys;
pub mod task;

/// The runtime type containerd knows this shim by.
pub const RUNTIME_ID: &str = "io.containerd.rune.v2";
