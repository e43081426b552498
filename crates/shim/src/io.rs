//! A process's standard streams: containerd hands the shim fifo paths; the shim gives the
//! runtime pipes (or, with a terminal, a console socket that receives the pty master) and copies
//! between them and the fifos on threads, as containerd's runc shim does.
//!
//! Output fifos are opened read-write: the open never blocks, and a write never fails with
//! EPIPE while containerd restarts and has no reader on them (runc's shim keeps a dummy reader
//! open for the same reason).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::error::{Error, Result};
use crate::rune::ChildStdio;

/// The fifo paths containerd gave for one process.
#[derive(Debug, Clone, Default)]
pub struct StdioPaths {
    /// Stdin fifo, empty for none.
    pub stdin: String,
    /// Stdout fifo, empty for none.
    pub stdout: String,
    /// Stderr fifo, empty for none.
    pub stderr: String,
    /// Whether the process has a terminal.
    pub terminal: bool,
}

/// What must exist while the runtime creates the process.
#[derive(Debug)]
pub enum Pending {
    /// Pipes: our ends are kept, the child ends go to the runtime.
    Pipes {
        /// Our end of stdin (we write).
        stdin: Option<File>,
        /// Our end of stdout (we read).
        stdout: Option<File>,
        /// Our end of stderr (we read).
        stderr: Option<File>,
    },
    /// A console socket the runtime sends the pty master to.
    Console(ConsoleSocket),
}

/// Prepares the streams for a process: the runtime gets `ChildStdio` and, with a terminal, the
/// console socket path.
pub fn prepare(paths: &StdioPaths, dir: &Path) -> Result<(Pending, ChildStdio)> {
    if paths.terminal {
        let socket = ConsoleSocket::new(dir)?;
        return Ok((Pending::Console(socket), ChildStdio::default()));
    }
    let mut child = ChildStdio::default();
    let stdin = if paths.stdin.is_empty() {
        None
    } else {
        let (read, write) = pipe()?;
        child.stdin = Some(read);
        Some(write)
    };
    let stdout = if paths.stdout.is_empty() {
        None
    } else {
        let (read, write) = pipe()?;
        child.stdout = Some(write);
        Some(read)
    };
    let stderr = if paths.stderr.is_empty() {
        None
    } else {
        let (read, write) = pipe()?;
        child.stderr = Some(write);
        Some(read)
    };
    Ok((
        Pending::Pipes {
            stdin,
            stdout,
            stderr,
        },
        child,
    ))
}

fn pipe() -> Result<(File, File)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("creating a pipe", e.into()))?;
    Ok((File::from(read), File::from(write)))
}

/// The running copies for one process.
#[derive(Debug)]
pub struct ProcessIo {
    stdin: Arc<Mutex<Option<File>>>,
    stdin_path: String,
    console: Option<File>,
    outputs: usize,
    done: Receiver<()>,
}

impl ProcessIo {
    /// Starts copying once the runtime has created the process.
    pub fn start(pending: Pending, paths: &StdioPaths) -> Result<Self> {
        let (tx, done) = channel();
        let mut outputs = 0;
        let (stdin_target, console) = match pending {
            Pending::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                for (source, fifo) in [(stdout, &paths.stdout), (stderr, &paths.stderr)] {
                    if let Some(source) = source {
                        let sink = open_output(fifo)?;
                        spawn_output(source, sink, tx.clone());
                        outputs += 1;
                    }
                }
                (stdin, None)
            }
            Pending::Console(socket) => {
                let master = socket.receive()?;
                if !paths.stdout.is_empty() {
                    let sink = open_output(&paths.stdout)?;
                    let source = master
                        .try_clone()
                        .map_err(|e| Error::io("duplicating the pty master", e))?;
                    spawn_output(source, sink, tx.clone());
                    outputs += 1;
                }
                let writer = master
                    .try_clone()
                    .map_err(|e| Error::io("duplicating the pty master", e))?;
                (Some(writer), Some(master))
            }
        };
        let stdin = Arc::new(Mutex::new(stdin_target));
        if !paths.stdin.is_empty() {
            spawn_input(paths.stdin.clone(), Arc::clone(&stdin), console.is_none());
        } else if let Ok(mut guard) = stdin.lock() {
            // Nothing will ever be written: the process sees end of file at once.
            guard.take();
        }
        Ok(Self {
            stdin,
            stdin_path: paths.stdin.clone(),
            console,
            outputs,
            done,
        })
    }

    /// Closes the process's stdin (CloseIO).
    pub fn close_stdin(&self) {
        if let Ok(mut guard) = self.stdin.lock() {
            guard.take();
        }
        unblock_fifo_open(&self.stdin_path);
    }

    /// Sets the terminal size (ResizePty).
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let Some(console) = &self.console else {
            return Err(Error::InvalidArgument {
                field: "exec_id",
                reason: "the process has no terminal".into(),
            });
        };
        crate::sys::set_winsize(console.as_raw_fd(), width, height)
            .map_err(|e| Error::io("setting the terminal size", e))
    }

    /// Waits until the output copies have drained (the process and everything holding its
    /// stdout have exited), at most `timeout`: a daemon that keeps stdout open must not hold
    /// back the exit event forever.
    pub fn wait_output(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.outputs > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.done.recv_timeout(left).is_err() {
                log::warn!("output of an exited process still open after {timeout:?}");
                return;
            }
            self.outputs -= 1;
        }
    }
}

impl Drop for ProcessIo {
    fn drop(&mut self) {
        self.close_stdin();
    }
}

fn open_output(fifo: &str) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(fifo)
        .map_err(|e| Error::io(format!("opening {fifo}"), e))
}

fn spawn_output(mut source: File, mut sink: File, done: Sender<()>) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if sink.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // EIO: every slave end of the pty is closed.
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
}

/// Copies the stdin fifo into the process. The fifo is opened read-only, so end of file comes
/// when the client closes it; the process's stdin is closed then (or on CloseIO).
fn spawn_input(fifo: String, target: Arc<Mutex<Option<File>>>, close_at_eof: bool) {
    thread::spawn(move || {
        let Ok(mut source) = File::open(&fifo) else {
            return;
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let Ok(mut guard) = target.lock() else { break };
            let Some(sink) = guard.as_mut() else { break };
            if sink.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        if close_at_eof {
            if let Ok(mut guard) = target.lock() {
                guard.take();
            }
        }
    });
}

/// A stdin copier blocks in open(2) until a writer appears; opening the write side without
/// blocking lets it through so the thread can end.
fn unblock_fifo_open(fifo: &str) {
    if fifo.is_empty() {
        return;
    }
    use std::os::unix::fs::OpenOptionsExt;
    let _ = OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(fifo);
}

/// A unix socket on which the runtime sends the pty master (runc's `--console-socket`).
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    fn new(dir: &Path) -> Result<Self> {
        // sun_path holds 108 bytes: bundle paths can be longer, so use a short private dir.
        let _ = dir;
        let tmp =
            std::env::temp_dir().join(format!("rune-shim-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        let path = tmp.join("console.sock");
        let listener = UnixListener::bind(&path)
            .map_err(|e| Error::io(format!("binding {}", path.display()), e))?;
        Ok(Self { listener, path })
    }

    /// The path passed as `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receives the pty master the runtime sent (it has done so before `create` returns).
    fn receive(&self) -> Result<File> {
        self.listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("setting the console socket non-blocking", e))?;
        let (stream, _) = self.listener.accept().map_err(|e| {
            Error::io(
                format!(
                    "accepting on {}: the runtime sent no terminal",
                    self.path.display()
                ),
                e,
            )
        })?;
        receive_fd(&stream)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn receive_fd(stream: &UnixStream) -> Result<File> {
    stream
        .set_nonblocking(false)
        .map_err(|e| Error::io("setting the console stream blocking", e))?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::io("receiving the pty master", e.into()))?;
    let cmsgs = msg
        .cmsgs()
        .map_err(|e| Error::io("reading the console message", e.into()))?;
    for cmsg in cmsgs {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                return Ok(File::from(crate::sys::take_received_fd(fd)));
            }
        }
    }
    Err(Error::io(
        "receiving the pty master",
        std::io::Error::new(ErrorKind::InvalidData, "no file descriptor in the message"),
    ))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_copy_output_to_the_fifo_and_report_done() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("stdout");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut reader = OpenOptions::new()
            .read(true)
            .custom_flags_nonblock()
            .open(&fifo)
            .unwrap();
        let paths = StdioPaths {
            stdout: fifo.to_string_lossy().into_owned(),
            ..StdioPaths::default()
        };
        let (pending, child) = prepare(&paths, dir.path()).unwrap();
        let mut io = ProcessIo::start(pending, &paths).unwrap();
        let mut out = child.stdout.unwrap();
        out.write_all(b"hello\n").unwrap();
        drop(out);
        io.wait_output(Duration::from_secs(5));
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello\n");
    }

    trait NonBlock {
        fn custom_flags_nonblock(&mut self) -> &mut Self;
    }
    impl NonBlock for OpenOptions {
        fn custom_flags_nonblock(&mut self) -> &mut Self {
            use std::os::unix::fs::OpenOptionsExt;
            self.custom_flags(nix::libc::O_NONBLOCK)
        }
    }
}
