//! rune: a runc-compatible OCI runtime that runs containers, and enclave containers, on youki's
//! libcontainer.
//!
//! This crate owns the `rune` command line (runc's flags and verbs), the preparation of a bundle's
//! spec for libcontainer, container state as runc shows it, and the workload executor that decides
//! between exec'ing the entrypoint (plain containers) and an enclave runtime. It must not reach
//! into namespaces, mounts or cgroups by hand: that machinery is libcontainer's.

#![deny(unsafe_code)]

pub mod acceptor;
pub mod agent;
pub mod attestation_api;
pub mod bundle;
pub mod cgroup_warmup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod container;
pub mod enclave;
pub mod epm;
pub mod executor;
pub mod foreground;
pub mod launch;
pub mod logging;
pub mod netns;
pub mod state;
pub mod sys;

/// The version line `rune --version` prints: crate version, git commit and OCI spec version.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("RUNE_GIT_COMMIT"),
    "\nspec: 1.2.0"
);
