//! The shim's only `unsafe` edge: terminal ioctls nix does not wrap.

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

nix::ioctl_write_ptr_bad!(tiocswinsz, nix::libc::TIOCSWINSZ, nix::libc::winsize);

/// Sets the window size of the terminal open on `fd`.
pub fn set_winsize(fd: RawFd, width: u32, height: u32) -> std::io::Result<()> {
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    let size = nix::libc::winsize {
        ws_row: clamp(height),
        ws_col: clamp(width),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `size` is a valid, initialised winsize that outlives the call, and TIOCSWINSZ only
    // reads it; a bad `fd` makes the kernel return EBADF/ENOTTY, which we report.
    unsafe { tiocswinsz(fd, &size) }
        .map(drop)
        .map_err(std::io::Error::from)
}

/// Takes ownership of a descriptor just received with SCM_RIGHTS.
///
/// Only for descriptors from a control message of a `recvmsg` call that just returned: the
/// kernel installed them in our table for that message and no other code knows them.
pub fn take_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: per this function's contract, `fd` is open (the kernel installed it for the
    // message) and owned by nobody else, so it is closed exactly once, by the OwnedFd.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
