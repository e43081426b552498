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

/// Drops this process's page-table entries for the read-only, file-backed segments of rune
/// and the libraries it has loaded (their code and constants); returns the bytes advised.
///
/// For the container's init once it has started an enclave workload: the init stays for the
/// container's life as the enclave's host, and the ~6 MB of code it touched setting the
/// container up and loading the enclave stay mapped until it exits, when unmapping them is
/// most of its exit (and so of the time until `rune` sees the container stop). Done while the
/// workload runs, the unmapping overlaps it, and for the container's life the host keeps only
/// the pages it touches again (resident memory 8 MB -> 4 MB). The pages stay in the page
/// cache; whatever runs again faults them back in.
///
/// Only segments without write permission: they hold no private copy-on-write data (the
/// relocated, read-only-after-relocation data lies in writable segments), so discarding the
/// mapping loses nothing. Objects with text relocations (whose code pages were written at load)
/// and the vDSO are left alone.
pub(crate) fn release_code_mappings() -> usize {
    struct Walk {
        vdso: u64,
        advised: usize,
    }
    extern "C" fn each_object(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid dl_phdr_info for the duration of the call;
        // `data` is the `Walk` below, exclusively borrowed for the iteration.
        let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk>()) };
        // SAFETY: dlpi_phdr points to dlpi_phnum program headers of a loaded object.
        let headers =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        let base = info.dlpi_addr;
        if headers
            .iter()
            .filter(|h| h.p_type == libc::PT_DYNAMIC)
            .any(|h| has_text_relocations(base.wrapping_add(h.p_vaddr)))
        {
            return 0;
        }
        const PAGE: u64 = 4096;
        for header in headers {
            if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_W != 0 {
                continue;
            }
            let start = base.wrapping_add(header.p_vaddr);
            if start / PAGE == walk.vdso / PAGE {
                return 0;
            }
            // Whole pages inside the segment only.
            let end = start.saturating_add(header.p_memsz) / PAGE * PAGE;
            let start = start.div_ceil(PAGE) * PAGE;
            let (Ok(start), Ok(len)) = (
                usize::try_from(start),
                usize::try_from(end.saturating_sub(start)),
            ) else {
                continue;
            };
            if len == 0 {
                continue;
            }
            // SAFETY: the range lies inside a non-writable PT_LOAD segment of a loaded object,
            // a private file mapping without copy-on-write pages (see the function doc).
            let advised =
                unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            if advised == 0 {
                walk.advised += len;
            }
        }
        0
    }
    /// Whether the dynamic section at `dynamic` (of a loaded object) asks for text
    /// relocations (DT_TEXTREL, or DF_TEXTREL in DT_FLAGS).
    fn has_text_relocations(dynamic: u64) -> bool {
        const DT_NULL: u64 = 0;
        const DT_TEXTREL: u64 = 22;
        const DT_FLAGS: u64 = 30;
        const DF_TEXTREL: u64 = 0x4;
        let Ok(address) = usize::try_from(dynamic) else {
            return false;
        };
        let mut entry = address as *const [u64; 2];
        loop {
            // SAFETY: a loaded object's PT_DYNAMIC is an array of (tag, value) pairs of u64 ended
            // by DT_NULL, mapped for the object's lifetime; we read up to that terminator.
            let [tag, value] = unsafe { entry.read() };
            match tag {
                DT_NULL => return false,
                DT_TEXTREL => return true,
                DT_FLAGS if value & DF_TEXTREL != 0 => return true,
                _ => {}
            }
            entry = entry.wrapping_add(1);
        }
    }
    // SAFETY: getauxval reads the auxiliary vector and takes no pointers.
    let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
    let mut walk = Walk { vdso, advised: 0 };
    // SAFETY: the callback only reads the program headers glibc hands it and madvises the
    // ranges described above; `walk` outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(each_object),
            std::ptr::from_mut(&mut walk).cast::<libc::c_void>(),
        );
    }
    walk.advised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_code_faults_back_in() {
        let advised = release_code_mappings();
        assert!(advised > 0, "no code segment was released");
        // Code and constants of rune, std and libc run again after the release (a thread,
        // formatting, a system call through libc), and releasing again is as harmless.
        let text = std::thread::spawn(|| format!("{:>8}", std::process::id()))
            .join()
            .unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        assert!(release_code_mappings() > 0);
    }
}
