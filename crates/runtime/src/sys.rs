//! rune's syscall edge, the one module with `unsafe`: turning raw file descriptor numbers back
//! into handles (descriptors opened by `rune create` on the host and inherited, by number, by
//! the container's init process), and the interface ioctl that brings a namespace's `lo` up.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Borrows a descriptor that `rune create` opened before forking this init process.
///
/// Only for those descriptors: rune keeps them open until the create returns and the init
/// process never closes them, so they live as long as the process. A number that is not open
/// is an error, not a dangling borrow.
pub(crate) fn inherited(fd: RawFd) -> io::Result<BorrowedFd<'static>> {
    nix::fcntl::fcntl(fd, nix::fcntl::F_GETFD).map_err(io::Error::from)?;
    // SAFETY: F_GETFD just proved fd is open in this process, and (see above) nothing in the
    // init process closes the descriptors rune create handed down, so it outlives 'static uses.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Takes over a descriptor that `rune create` opened before forking this init process for
/// the init to own and close (its connection to epm), as opposed to those [`inherited`] borrows.
pub(crate) fn take_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    nix::fcntl::fcntl(fd, nix::fcntl::F_GETFD).map_err(io::Error::from)?;
    // SAFETY: F_GETFD just proved fd is open; rune create hands this number down for exactly
    // one owner, the caller, and nothing else in the init process refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes ownership of a descriptor just received through `SCM_RIGHTS`.
pub(crate) fn owned_received(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed fd in this process for this message only; nothing else in
    // the process knows the number, so this is its sole owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Restores the default SIGPIPE action for commands that only print (`rune list | head` ends
/// quietly instead of panicking). Not for commands that run hooks: libcontainer writes the state
/// to a hook's stdin, and a hook that does not read it must not kill rune (Go's runc ignores
/// SIGPIPE on such pipes too).
pub fn default_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL installs no handler
    // code, so no async-signal-safety question arises.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
}

/// Ends the process with `code` once buffered output is written, without running exit
/// handlers or the destructors of the loaded libraries (`_dl_fini`), as Go's `os.Exit` ends
/// Inclavare's rune. For the enclave container's init after its workload: nothing of ours
/// registers an exit handler or buffers a log line, and running every library's destructors
/// there only faulted their code pages into the init (about ten page faults) on the way from
/// the workload's exit to the container's.
pub(crate) fn exit_without_destructors(code: i32) -> ! {
    let _ = io::Write::flush(&mut io::stdout());
    // SAFETY: fflush(NULL) flushes every open C stdio stream (an enclave runtime written in C
    // may have buffered its own log lines) and takes no pointer of ours; _exit only ends the
    // process, leaving no Rust state behind to be observed.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::_exit(code)
    }
}

/// Sets network interface `name` up in the calling thread's network namespace (the
/// `SIOCGIFFLAGS`/`SIOCSIFFLAGS` pair `ip link set NAME up` uses).
pub fn set_interface_up(name: &str) -> io::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= request.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} is too long"),
        ));
    }
    for (dst, src) in request.ifr_name.iter_mut().zip(bytes) {
        *dst = libc::c_char::from_ne_bytes([*src]);
    }
    // SAFETY: `sock` is an open socket; SIOCGIFFLAGS reads the NUL-terminated `ifr_name` and
    // writes `ifr_flags` inside `request`, which outlives the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled the flags member of the union above.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    let up = libc::c_short::try_from(libc::IFF_UP).unwrap_or(1);
    if flags & up != 0 {
        return Ok(());
    }
    request.ifr_ifru.ifru_flags = flags | up;
    // SAFETY: as above; SIOCSIFFLAGS only reads `request`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
