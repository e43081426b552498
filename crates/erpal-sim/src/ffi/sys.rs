//! The process edge: starting the workload from its verified memfd and signalling it.
//!
//! Why a sealed memfd and `fexecve` rather than hashing a file fd and executing that fd: a fd
//! of the rootfs file shares its inode with the path, so anyone who can write the file can
//! change the bytes between our hash and the kernel's read at exec. The memfd holds a private
//! copy made while hashing (one read pass; nobody else has the memfd), sealed against writes,
//! growth and shrinking before exec, so what runs is exactly what was measured.

use std::ffi::{c_char, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::resource::{setrlimit, Resource};

use crate::enclave::Prepared;

/// NULL-terminated pointer arrays for `fexecve`, built before `fork` (nothing is allocated
/// in the child), together with the strings they point into.
struct ExecArgs {
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
    env: Vec<*const c_char>,
}

// SAFETY: the pointers point into `_strings`, which the struct owns and never mutates; moving
// or sharing the struct between threads moves the heap buffers with it, so the pointers stay
// valid and are only ever read.
unsafe impl Send for ExecArgs {}
// SAFETY: see `Send`: the data is immutable after construction.
unsafe impl Sync for ExecArgs {}

/// Forks, hardens the child (not dumpable, RLIMIT_CORE 0, no_new_privs), puts `stdio` on
/// 0/1/2 (`None`: inherit) and `fexecve`s the sealed memfd with the prepared argv and env.
pub(crate) fn spawn(prepared: &Prepared, stdio: [Option<OwnedFd>; 3]) -> io::Result<Child> {
    let mut strings = prepared.argv.clone();
    let argc = strings.len();
    strings.extend(prepared.env.iter().cloned());
    let mut pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    let env_pointers: Vec<*const c_char> = pointers
        .split_off(argc)
        .into_iter()
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    pointers.push(std::ptr::null());
    let exec = ExecArgs {
        _strings: strings,
        argv: pointers,
        env: env_pointers,
    };
    let exe = prepared.executable.as_raw_fd();
    let is_script = prepared.is_script;

    let [stdin, stdout, stderr] = stdio;
    let mut command = Command::new(&prepared.entrypoint);
    command
        .stdin(stdin.map_or_else(Stdio::inherit, Stdio::from))
        .stdout(stdout.map_or_else(Stdio::inherit, Stdio::from))
        .stderr(stderr.map_or_else(Stdio::inherit, Stdio::from));
    let child_main = move || -> io::Result<()> {
        // Use `exec` whole: a closure capturing only its fields would not be Send + Sync.
        let exec = &exec;
        nix::sys::prctl::set_dumpable(false)?;
        setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
        nix::sys::prctl::set_no_new_privs()?;
        if is_script {
            // The interpreter opens the script as /dev/fd/N, so it must survive exec.
            fcntl(exe, FcntlArg::F_SETFD(FdFlag::empty()))?;
        }
        // SAFETY: `exe` is the open sealed memfd (owned by `prepared`, which outlives the
        // spawn); `argv` and `env` are NULL-terminated arrays of pointers to NUL-terminated
        // strings owned by `exec`, which this closure owns. fexecve only returns on failure.
        unsafe { libc::fexecve(exe, exec.argv.as_ptr(), exec.env.as_ptr()) };
        Err(io::Error::last_os_error())
    };
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-
    // safe system calls (prctl, setrlimit, fcntl, fexecve) on data prepared before the fork;
    // it allocates nothing and takes no locks. io::Error from an errno does not allocate.
    unsafe { command.pre_exec(child_main) };
    command.spawn()
}

/// `kill(pid, signal)`, for any signal number including real-time ones.
pub(crate) fn send_signal(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Takes ownership of descriptors the kernel just installed in this process from an
/// `SCM_RIGHTS` message.
pub(crate) fn adopt_received(raw: Vec<std::os::fd::RawFd>) -> Vec<OwnedFd> {
    use std::os::fd::FromRawFd;
    raw.into_iter()
        .map(|fd| {
            // SAFETY: `fd` comes from an SCM_RIGHTS control message of a recvmsg that just
            // returned: the kernel installed it in our table for this call and nothing else in
            // the process knows its number, so this is its only owner.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .collect()
}
