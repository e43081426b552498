//! The loopback interface of a container's new network namespace.
//!
//! runc brings `lo` up in every network namespace it creates, so a workload can talk to itself
//! on 127.0.0.1 (and the in-enclave attestation API listens there); libcontainer leaves it
//! down. rune does it from the host side after the container is built: the init process has
//! dropped its capabilities by then, rune still has them.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

/// True when the spec asks for a new network namespace (not one joined by path): rune then
/// brings its `lo` up, as runc does, and the attestation API listens on its 127.0.0.1:8006.
/// A joined namespace (a pod's) is shared with other containers, each its own enclave: the
/// port would serve one enclave's evidence and secrets to all of them, so only the socket.
pub fn creates_network(spec: &Spec) -> bool {
    network_namespace(spec).is_some_and(|ns| ns.path().is_none())
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
