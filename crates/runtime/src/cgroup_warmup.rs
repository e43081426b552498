//! Gets the kernel's cgroup attach lock ready while rune does other work.
//!
//! Moving a process into a cgroup takes `cgroup_threadgroup_rwsem` for writing, and unless
//! another move happened moments before, the kernel first waits for an RCU grace period: 7–15 ms
//! on the hosts we measured, paid by libcontainer's intermediate process at the start of every
//! `create`, `run` and `exec` (runc and crun pay it too). This module starts that wait at the
//! very beginning of rune, on a helper thread, with a move that changes nothing: rune's own
//! process into the cgroup it already belongs to. The grace period then elapses while rune reads
//! the bundle and forks, and the real move finds the lock warm. Any failure is ignored: it only
//! costs the wait the runtime would have had anyway.
//!
//! This is not cgroup management (libcontainer owns that): no cgroup is created, changed or
//! left, and the write happens only after the target's `cgroup.procs` listed rune's pid.
//!
//! libcontainer forks with a raw `clone3`, which runs no fork handlers, so a lock the helper
//! holds at that moment stays locked, with no owner, in the container's processes. The
//! helper's own start takes some: std registers its thread-local destructors through glibc,
//! which takes the dynamic linker's load lock, and a new thread's first `malloc` locks an
//! arena. A fork in that window hung `rune run`, the intermediate process stuck in `exit` and
//! the init in `dlopen` of the enclave runtime, both on the load lock. So the helper reports
//! when its start is behind it, makes only system calls after that, and
//! [`wait_until_fork_safe`], called before libcontainer forks, waits for the report.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};

use nix::sys::signal::{SigSet, SigmaskHow};
use rustix::fs::{open, Mode, OFlags};

/// Where the helper thread is, for [`wait_until_fork_safe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Helper {
    /// None was started (or starting it failed).
    Absent,
    /// Spawned; it may still be inside std's or glibc's thread start.
    Starting,
    /// Past its start: from here on it makes system calls only.
    Started,
}

static HELPER: Mutex<Helper> = Mutex::new(Helper::Absent);
static HELPER_STARTED: Condvar = Condvar::new();

fn set_helper(state: Helper) {
    *HELPER.lock().unwrap_or_else(PoisonError::into_inner) = state;
    HELPER_STARTED.notify_all();
}

/// Starts the warm-up on a detached helper thread; returns at once.
///
/// The helper blocks every signal (rune's foreground wait takes signals synchronously in the
/// main thread; a helper with default actions would die of them instead) and, once its write
/// returned, sleeps for the rest of the process instead of exiting (a thread that ends runs
/// destructors and frees what it owns, which takes locks). The path it opens is made here, so
/// that after its start it allocates nothing.
pub fn start() {
    let Some(procs) = own_cgroup_procs_file()
        .and_then(|path| CString::new(path.into_os_string().into_encoded_bytes()).ok())
    else {
        return;
    };
    let Ok(previous) = SigSet::all().thread_swap_mask(SigmaskHow::SIG_SETMASK) else {
        return;
    };
    let pid = std::process::id();
    set_helper(Helper::Starting);
    let spawned = std::thread::Builder::new().spawn(move || {
        set_helper(Helper::Started);
        rejoin_own_cgroup(&procs, pid);
        loop {
            // Every signal is blocked: this sleeps until the process ends.
            nix::unistd::pause();
        }
    });
    if let Err(e) = spawned {
        set_helper(Helper::Absent);
        tracing::debug!(error = %e, "cgroup warm-up thread not started");
    }
    let _ = previous.thread_set_mask();
}

/// Returns once no warm-up helper is inside its thread start, so that a fork now copies no lock
/// the helper holds (see the module's documentation). Called before libcontainer forks. The
/// helper's start is microseconds of work that began when rune did, so this waits at most for
/// the helper to get a CPU.
pub fn wait_until_fork_safe() {
    let mut helper = HELPER.lock().unwrap_or_else(PoisonError::into_inner);
    while *helper == Helper::Starting {
        helper = HELPER_STARTED
            .wait(helper)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// The `cgroup.procs` of rune's own cgroup in the hierarchy where that cgroup is deepest (the
/// shortest list to check), from `/proc/self/cgroup` and the usual mount points.
fn own_cgroup_procs_file() -> Option<PathBuf> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    membership
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let mount = if controllers.is_empty() {
                if Path::new("/sys/fs/cgroup/cgroup.procs").exists() {
                    "/sys/fs/cgroup".to_owned()
                } else {
                    "/sys/fs/cgroup/unified".to_owned()
                }
            } else {
                format!("/sys/fs/cgroup/{}", controllers.trim_start_matches("name="))
            };
            let file = PathBuf::from(format!("{mount}{path}/cgroup.procs"));
            Some((path.matches('/').count(), file))
        })
        .filter(|(_, file)| file.exists())
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, file)| file)
}

/// Writes `0` (the writing process) to `procs` if it lists `pid`: a move into the cgroup the
/// process is already in, which takes the attach lock and migrates nothing.
fn rejoin_own_cgroup(procs: &CString, pid: u32) {
    let opened = |flags| open(procs.as_c_str(), flags | OFlags::CLOEXEC, Mode::empty());
    let listed = opened(OFlags::RDONLY).is_ok_and(|fd| lists_pid(&mut File::from(fd), pid));
    if !listed {
        return;
    }
    if let Ok(fd) = opened(OFlags::WRONLY) {
        let _ = File::from(fd).write(b"0");
    }
}

/// True if the newline-separated pid list read from `list` contains `pid`; reads through a stack
/// buffer.
fn lists_pid(list: &mut impl Read, pid: u32) -> bool {
    let mut buffer = [0u8; 4096];
    let mut current: Option<u64> = None;
    loop {
        let n = match list.read(&mut buffer) {
            Ok(0) => return current == Some(u64::from(pid)),
            Ok(n) => n,
            Err(_) => return false,
        };
        for &byte in &buffer[..n] {
            match byte {
                b'0'..=b'9' => {
                    let digit = u64::from(byte - b'0');
                    current = Some(
                        current
                            .unwrap_or(0)
                            .saturating_mul(10)
                            .saturating_add(digit),
                    );
                }
                _ => {
                    if current.take() == Some(u64::from(pid)) {
                        return true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{lists_pid, own_cgroup_procs_file, rejoin_own_cgroup};
    use std::fs::File;

    #[test]
    fn the_warm_up_move_leaves_the_process_where_it_was() {
        let Some(procs) = own_cgroup_procs_file() else {
            eprintln!(
                "skipped: no cgroup.procs of this process's cgroup at the usual mount points"
            );
            return;
        };
        let pid = std::process::id();
        assert!(
            File::open(&procs).is_ok_and(|mut list| lists_pid(&mut list, pid)),
            "{} should list this process ({pid})",
            procs.display()
        );
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped the move itself: needs root");
            return;
        }
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        rejoin_own_cgroup(
            &std::ffi::CString::new(procs.into_os_string().into_encoded_bytes()).unwrap(),
            pid,
        );
        assert_eq!(
            std::fs::read_to_string("/proc/self/cgroup").unwrap(),
            before
        );
    }

    #[test]
    fn finds_a_pid_only_as_a_whole_entry() {
        let list = b"1\n17\n4242\n99";
        assert!(lists_pid(&mut &list[..], 17));
        assert!(lists_pid(&mut &list[..], 4242));
        assert!(lists_pid(&mut &list[..], 99));
        assert!(!lists_pid(&mut &list[..], 42));
        assert!(!lists_pid(&mut &list[..], 7));
        assert!(!lists_pid(&mut &b""[..], 1));
    }

    #[test]
    fn reads_lists_longer_than_the_buffer() {
        let list: String = (1..3000).map(|p| format!("{p}\n")).collect();
        assert!(lists_pid(&mut list.as_bytes(), 2999));
        assert!(!lists_pid(&mut list.as_bytes(), 3000));
    }
}
