//! The loopback interface of a container's new network namespace.
//!
//! runc brings `lo` up in every network namespace it creates, so a workload can talk to itself
//! on 127.0.0.1 (and the in-enclave attestation API listens there); libcontainer leaves it
//! down. rune does it from the host side after the container is built: the init process has
//! dropped its capabilities by then, rune still has them.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

/// True when the spec asks for a new network namespace (not one joined by path): rune then
/// brings its `lo` up, as runc does.
pub fn creates_network(spec: &Spec) -> bool {
    network_namespace(spec).is_some_and(|ns| ns.path().is_none())
}

/// True when the container's network namespace is not the host's (rune's own): a new one, or
/// one joined by a path that is not rune's.
pub fn has_own_network(spec: &Spec) -> bool {
    match network_namespace(spec) {
        None => false,
        Some(ns) => match ns.path() {
            None => true,
            Some(path) => {
                let inode = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
                match (
                    inode(path),
                    inode(std::path::Path::new("/proc/self/ns/net")),
                ) {
                    (Ok(joined), Ok(own)) => joined != own,
                    // libcontainer reports an unusable path at create; until then, assume a
                    // namespace of its own.
                    _ => true,
                }
            }
        },
    }
}

fn network_namespace(spec: &Spec) -> Option<&LinuxNamespace> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|ns| ns.typ() == LinuxNamespaceType::Network)
}

/// Sets `lo` up in the network namespace of process `pid`.
pub fn bring_up_loopback(pid: i32) -> io::Result<()> {
    let netns = File::open(format!("/proc/{pid}/ns/net"))?;
    // setns(CLONE_NEWNET) changes only the calling thread, so a scoped thread does the work and
    // the rest of rune stays in the host's namespace.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                crate::sys::set_interface_up("lo")
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("loopback setup thread panicked")))
    })
}
