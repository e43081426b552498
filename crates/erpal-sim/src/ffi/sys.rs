//! The process edge: starting the workload from its verified memfd and signalling it.
//!
//! Why a sealed memfd and `fexecve` rather than hashing a file fd and executing that fd: a fd
//! of the rootfs file shares its inode with the path, so anyone who can write the file can
//! change the bytes between our hash and the kernel's read at exec. The memfd holds a private
//! copy made while hashing (one read pass; nobody else has the memfd), sealed against writes,
//! growth and shrinking before exec, so what runs is exactly what was measured.
//!
//! Why `clone(CLONE_VM | CLONE_VFORK)` rather than `fork`: the runtime lives in the container's
//! init, whose address space holds rune and this library. A fork copies its page tables and
//! the child's exec then tears that copy down again, both while the container starts (about
//! 1 ms here, more than the rest of `pal_create_process`). Sharing the address space until
//! the exec, as `posix_spawn` does, costs neither; in exchange the child may only make system
//! calls on data prepared before the clone, which is all it needs.

use std::ffi::{c_char, c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use nix::fcntl::{fcntl, FcntlArg};

use crate::enclave::Prepared;

/// Stack of the cloned child until it execs: it runs a handful of system calls.
const CHILD_STACK_SIZE: usize = 64 * 1024;

/// A workload that did not start: the step that failed and why.
#[derive(Debug)]
pub(crate) struct SpawnError {
    /// What failed, e.g. `fexecve` or `dup2 of the stdio descriptors`.
    pub step: &'static str,
    /// The cause.
    pub source: io::Error,
}

impl SpawnError {
    fn at(step: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self { step, source }
    }
}

/// The child's steps, in order; the child records the index of the one that failed.
const CHILD_STEPS: [&str; 8] = [
    "resetting signal dispositions",
    "dup2 of the stdio descriptors",
    "PR_SET_DUMPABLE",
    "setrlimit RLIMIT_CORE",
    "PR_SET_NO_NEW_PRIVS",
    "clearing close-on-exec of the script",
    "clearing the signal mask",
    "fexecve",
];

/// Everything the child reads, prepared before the clone; the child writes only `errno` and
/// `failed_step`.
struct ChildContext {
    executable: RawFd,
    is_script: bool,
    /// Descriptors (all above 2, so no target overwrites a source) for 0, 1 and 2; -1 inherits.
    stdio: [RawFd; 3],
    argv: *const *const c_char,
    env: *const *const c_char,
    /// The errno of the step that failed, 0 if the exec happened.
    errno: AtomicI32,
    /// Index in [`CHILD_STEPS`] of the step that failed.
    failed_step: AtomicUsize,
}

/// Starts the workload: a child sharing this address space until it execs, hardened (not
/// dumpable, RLIMIT_CORE 0, no_new_privs), with `stdio` on 0/1/2 (`None`: inherit), default
/// signal dispositions and an empty signal mask, `fexecve`s the sealed memfd with the prepared
/// argv and env. Returns the child's pid once it has exec'd; a failed step is an error naming
/// it (the child is reaped).
pub(crate) fn spawn(prepared: &Prepared, stdio: [Option<OwnedFd>; 3]) -> Result<i32, SpawnError> {
    let mut argv: Vec<*const c_char> = prepared.argv.iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut env: Vec<*const c_char> = prepared.env.iter().map(|s| s.as_ptr()).collect();
    env.push(std::ptr::null());
    // Above 2: the child's dup2 onto 0/1/2 then never overwrites a source it still needs.
    let lifted: Vec<Option<OwnedFd>> = stdio
        .into_iter()
        .map(|fd| fd.map(|fd| lift_above_stdio(&fd)).transpose())
        .collect::<io::Result<_>>()
        .map_err(SpawnError::at("lifting the stdio descriptors above 2"))?;
    let raw = |i: usize| lifted[i].as_ref().map_or(-1, AsRawFd::as_raw_fd);
    let context = ChildContext {
        executable: prepared.executable.as_raw_fd(),
        is_script: prepared.is_script,
        stdio: [raw(0), raw(1), raw(2)],
        argv: argv.as_ptr(),
        env: env.as_ptr(),
        errno: AtomicI32::new(0),
        failed_step: AtomicUsize::new(0),
    };
    // Allocated, not zeroed: the child touches a page or two at the top, and zeroing all of
    // it cost the container's start 15 page faults and a 64 KiB memset. Nothing reads it.
    let mut stack: Vec<u8> = Vec::with_capacity(CHILD_STACK_SIZE);
    // The stack grows down from its end, which must be 16-byte aligned.
    let top = stack.as_mut_ptr().wrapping_add(CHILD_STACK_SIZE);
    let top = top.wrapping_sub(top as usize % 16);

    // No handler of this process may run on the child's borrowed stack: block every signal
    // across the clone (the child resets dispositions before unblocking).
    let all = nix::sys::signal::SigSet::all();
    let mut saved = nix::sys::signal::SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&all),
        Some(&mut saved),
    )
    .map_err(|e| SpawnError::at("blocking signals across the clone")(io::Error::from(e)))?;
    // SAFETY: `child_main` is an `extern "C"` function that never returns into Rust code and
    // never unwinds; `top` is the 16-byte aligned end of `stack`'s allocation of at least
    // CHILD_STACK_SIZE bytes (its capacity; the child writes its frames before reading them),
    // which outlives the child's use of it (CLONE_VFORK suspends this thread until the child
    // has exec'd or exited, and `stack` is dropped after that); `context` lives on this frame
    // for the same span, and the child only reads it, apart from the atomic `errno`.
    let pid = unsafe {
        libc::clone(
            child_main,
            top.cast::<c_void>(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&context).cast_mut().cast::<c_void>(),
        )
    };
    let clone_error = io::Error::last_os_error();
    let restored = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&saved),
        None,
    );
    drop(stack);
    if pid < 0 {
        return Err(SpawnError::at("clone")(clone_error));
    }
    let errno = context.errno.load(Ordering::Acquire);
    if errno != 0 {
        // The child exited without exec'ing: reap it, report where and why.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        let step = CHILD_STEPS
            .get(context.failed_step.load(Ordering::Acquire))
            .copied()
            .unwrap_or("fexecve");
        return Err(SpawnError::at(step)(io::Error::from_raw_os_error(errno)));
    }
    if let Err(errno) = restored {
        // The workload runs either way; it is this thread that keeps every signal blocked.
        tracing::warn!(tee = "sim", %errno, "cannot restore the signal mask after starting the workload");
    }
    Ok(pid)
}

fn lift_above_stdio(fd: &OwnedFd) -> io::Result<OwnedFd> {
    let raw = fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(io::Error::from)?;
    // SAFETY: F_DUPFD_CLOEXEC just returned this new descriptor; nothing else owns it.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

/// The cloned child. It shares the parent's memory (the parent thread is suspended) but has
/// its own descriptor table and signal dispositions, so it calls only async-signal-safe libc
/// functions, allocates nothing, and records a failure in `errno` before `_exit`.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildContext` the parent passed to clone, alive until this child
    // execs or exits (the parent is suspended until then).
    let context = unsafe { &*arg.cast::<ChildContext>() };
    // SAFETY: each call below is a system call wrapper on integers and on pointers into
    // memory the parent prepared and keeps alive (`context`, its argv/env arrays and the
    // strings they point to); none allocates or takes a lock.
    unsafe {
        let check = |done: bool, step: usize| if done { Ok(()) } else { Err(step) };
        let steps: Result<(), usize> = (|| {
            check(reset_signal_dispositions(), 0)?;
            for (target, &source) in (0 as c_int..).zip(context.stdio.iter()) {
                if source >= 0 {
                    check(libc::dup2(source, target) >= 0, 1)?;
                }
            }
            check(libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, 2)?;
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            check(libc::setrlimit(libc::RLIMIT_CORE, &no_core) == 0, 3)?;
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, 4)?;
            // The interpreter of a script opens it as /dev/fd/N, so it must survive exec (this
            // changes the child's descriptor table only).
            if context.is_script {
                check(libc::fcntl(context.executable, libc::F_SETFD, 0) == 0, 5)?;
            }
            // Last before the exec: signals may arrive from here on, with default actions.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            check(
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) == 0,
                6,
            )?;
            libc::fexecve(context.executable, context.argv, context.env);
            Err(7)
        })();
        let failed = steps.err().unwrap_or(7);
        let errno = *libc::__errno_location();
        context.failed_step.store(failed, Ordering::Relaxed);
        context.errno.store(
            if errno == 0 { libc::EINVAL } else { errno },
            Ordering::Release,
        );
        libc::_exit(127)
    }
}

/// Sets every caught signal back to its default action, and SIGPIPE too (the Rust runtime of
/// the host ignores it; a workload expects the default). Ignored signals stay ignored, as
/// across any exec.
///
/// # Safety
/// Only for the cloned child: it changes this process's dispositions.
unsafe fn reset_signal_dispositions() -> bool {
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction reads and writes only the two structs on this stack frame.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut current) != 0 {
                // Signals glibc reserves for itself cannot be queried: nothing to reset.
                continue;
            }
            let caught =
                current.sa_sigaction != libc::SIG_IGN && current.sa_sigaction != libc::SIG_DFL;
            let ignored_pipe = signal == libc::SIGPIPE && current.sa_sigaction == libc::SIG_IGN;
            if caught || ignored_pipe {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                if libc::sigaction(signal, &default, std::ptr::null_mut()) != 0 {
                    return false;
                }
            }
        }
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::io::{Read, Write};

    fn prepared(bytes: &[u8], mode: u32, argv: &[&str]) -> Prepared {
        let (memfd, ()) =
            crate::handover::sealed_memfd(c"spawn-test", |file| file.write_all(bytes)).unwrap();
        nix::sys::stat::fchmod(
            memfd.as_raw_fd(),
            nix::sys::stat::Mode::from_bits_truncate(mode),
        )
        .unwrap();
        Prepared {
            entrypoint: "/test".to_owned(),
            executable: memfd,
            is_script: bytes.starts_with(b"#!"),
            argv: argv.iter().map(|a| CString::new(*a).unwrap()).collect(),
            env: vec![CString::new("PATH=/usr/bin:/bin").unwrap()],
        }
    }

    fn reap(pid: i32) -> nix::sys::wait::WaitStatus {
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap()
    }

    /// Runs `script` with `stdin` (`None`: inherited) and its stdout on a pipe; returns what it
    /// printed and its status.
    fn run_script(
        script: &str,
        argv: &[&str],
        stdin: Option<OwnedFd>,
    ) -> (String, nix::sys::wait::WaitStatus) {
        let workload = prepared(script.as_bytes(), 0o555, argv);
        let (read, write) = nix::unistd::pipe().unwrap();
        let pid = spawn(&workload, [stdin, Some(write), None])
            .map_err(|e| e.source)
            .unwrap();
        let mut output = String::new();
        std::fs::File::from(read)
            .read_to_string(&mut output)
            .unwrap();
        (output, reap(pid))
    }

    #[test]
    fn a_script_runs_with_its_argv_env_and_stdout() {
        let (output, status) = run_script(
            "#!/bin/sh\necho \"$1 $PATH\"\nexit 3\n",
            &["script", "first"],
            None,
        );
        assert_eq!(output, "first /usr/bin:/bin\n");
        assert!(
            matches!(status, nix::sys::wait::WaitStatus::Exited(_, 3)),
            "{status:?}"
        );
    }

    #[test]
    fn the_workload_starts_with_default_signals_and_hardened() {
        let sigpipe = 1u64 << (libc::SIGPIPE - 1);
        let ignored_here = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
            .unwrap();
        // The Rust runtime of this test (like rune's) ignores SIGPIPE: the workload must not.
        assert_ne!(ignored_here & sigpipe, 0);
        // Builtins only: a shell blocks every signal for a moment around each fork, so a child
        // reading the shell's status could see that instead of what the workload started with.
        let (output, _) = run_script(
            "#!/bin/sh\nwhile read -r line; do\n  case $line in SigBlk*|SigIgn*|NoNewPrivs*) echo \"$line\";; esac\ndone < /proc/$$/status\nulimit -c\n",
            &["script"],
            None,
        );
        let field = |name: &str| {
            output
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{name} missing: {output}"))
                .to_owned()
        };
        let ignored = u64::from_str_radix(&field("SigIgn:"), 16).unwrap();
        assert_eq!(ignored & sigpipe, 0, "SIGPIPE ignored: {output}");
        assert_eq!(
            u64::from_str_radix(&field("SigBlk:"), 16).unwrap(),
            0,
            "{output}"
        );
        assert_eq!(field("NoNewPrivs:"), "1");
        assert_eq!(output.lines().last(), Some("0"), "core limit: {output}");
    }

    #[test]
    fn a_failed_exec_is_the_error_of_the_exec() {
        let workload = prepared(b"neither ELF nor script", 0o755, &["junk"]);
        let error = spawn(&workload, [None, None, None]).unwrap_err();
        assert_eq!(error.step, "fexecve");
        assert_eq!(
            error.source.raw_os_error(),
            Some(libc::ENOEXEC),
            "{error:?}"
        );
    }

    #[test]
    fn stdin_and_stdout_are_the_given_descriptors() {
        let (read, write) = nix::unistd::pipe().unwrap();
        std::fs::File::from(write).write_all(b"ping\n").unwrap();
        let (output, status) = run_script(
            "#!/bin/sh\nread line\necho \"got $line\"\n",
            &["s"],
            Some(read),
        );
        assert_eq!(output, "got ping\n");
        assert!(
            matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)),
            "{status:?}"
        );
    }
}
