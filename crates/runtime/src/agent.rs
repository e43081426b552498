//! The enclave agent: a unix socket served by an enclave container's init process (which holds
//! the enclave runtime), so host tools reach the same enclave instance after it started.
//!
//! `rune attest` asks it for REPORTs; `rune exec` starts processes in the enclave through it,
//! passing its stdio descriptors. One JSON request per connection, newline terminated, sent in
//! one `sendmsg` with any descriptors attached; JSON lines come back.

use std::io::{self, BufRead, BufReader, IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use pal::{EnclaveRuntime, Pid, StdioFds};
use serde::{Deserialize, Serialize};

use crate::executor::resolve_executable;

/// Socket file name, in the container's prepared bundle directory inside its state directory.
pub const SOCKET_FILE: &str = "enclave-agent.sock";

/// Largest request accepted: argv and env of an exec, with room to spare.
const MAX_REQUEST: usize = 256 * 1024;

/// A request to the agent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A REPORT targeted at `target_info` (512 bytes, hex) with `report_data` (64 bytes, hex).
    Report {
        /// TARGETINFO, lowercase hex.
        target_info: String,
        /// REPORTDATA, lowercase hex.
        report_data: String,
    },
    /// Start a process in the enclave with the three descriptors attached as its stdio.
    Exec {
        /// argv; argv[0] is resolved with the PATH in `env`.
        args: Vec<String>,
        /// KEY=VALUE entries.
        env: Vec<String>,
    },
    /// Signal a process started in the enclave.
    Kill {
        /// The pid `Exec` returned.
        pid: i32,
        /// Signal number.
        signal: i32,
    },
}

/// A reply line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The REPORT, hex.
    Report(String),
    /// The process started.
    Started(i32),
    /// The process exited with this code (128+n for signal n).
    Exited(i32),
    /// Done.
    Ok,
    /// The request failed.
    Error(String),
}

/// The agent's service for [`crate::acceptor::Acceptor`]: each connection answered on a
/// thread of its own.
pub fn service(runtime: &'static EnclaveRuntime) -> impl Fn(UnixStream) + Send + 'static {
    move |stream| {
        std::thread::spawn(move || {
            if let Err(e) = handle(&stream, runtime) {
                tracing::warn!(error = %e, "enclave agent request failed");
                let _ = send_reply(&stream, &Reply::Error(e));
            }
        });
    }
}

fn handle(stream: &UnixStream, runtime: &EnclaveRuntime) -> Result<(), String> {
    let (request, fds) = receive_request(stream).map_err(|e| format!("reading request: {e}"))?;
    match request {
        Request::Report {
            target_info,
            report_data,
        } => {
            let target_info: [u8; 512] = decode_fixed(&target_info, "target_info")?;
            let report_data: [u8; 64] = decode_fixed(&report_data, "report_data")?;
            let report = runtime
                .report_with_data(&target_info, &report_data)
                .map_err(|e| e.to_string())?;
            send_reply(stream, &Reply::Report(hex::encode(report))).map_err(|e| e.to_string())
        }
        Request::Exec { args, env } => {
            let [stdin, stdout, stderr]: [OwnedFd; 3] = fds.try_into().map_err(|_| {
                "exec needs exactly three descriptors (stdin, stdout, stderr)".to_owned()
            })?;
            let program = args.first().ok_or("exec needs a command")?;
            let path_var = env.iter().find_map(|e| e.strip_prefix("PATH="));
            let executable = resolve_executable(program, path_var)?;
            let stdio = StdioFds::new(stdin.as_fd(), stdout.as_fd(), stderr.as_fd());
            let pid = runtime
                .create_process(&executable, &args, &env, stdio)
                .map_err(|e| e.to_string())?;
            send_reply(stream, &Reply::Started(pid.as_raw())).map_err(|e| e.to_string())?;
            let status = runtime.exec(pid).map_err(|e| e.to_string())?;
            send_reply(stream, &Reply::Exited(status.code())).map_err(|e| e.to_string())
        }
        Request::Kill { pid, signal } => {
            runtime
                .kill(Pid::from_raw(pid), signal)
                .map_err(|e| e.to_string())?;
            send_reply(stream, &Reply::Ok).map_err(|e| e.to_string())
        }
    }
}

fn decode_fixed<const N: usize>(text: &str, field: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text).map_err(|e| format!("{field}: invalid hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{field}: {} bytes, expected {N}", b.len()))
}

fn receive_request(stream: &UnixStream) -> io::Result<(Request, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            for fd in received {
                fds.push(crate::sys::owned_received(fd));
            }
        }
    }
    let len = msg.bytes;
    let line = buf.get(..len).unwrap_or_default();
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let request = serde_json::from_slice(line).map_err(io::Error::other)?;
    Ok((request, fds))
}

fn send_reply(mut stream: &UnixStream, reply: &Reply) -> io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}

/// A connection to a container's agent.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Sends `request` (with `fds` attached) to the agent socket in directory `dir`.
    pub fn send(dir: &Path, request: &Request, fds: &[RawFd]) -> io::Result<Self> {
        let stream = with_socket_path(dir, |path| UnixStream::connect(path)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("connecting to enclave agent in {}: {e}", dir.display()),
            )
        })?;
        let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
        line.push(b'\n');
        let iov = [IoSlice::new(&line)];
        let rights = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        let sent = sendmsg::<()>(stream.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)
            .map_err(io::Error::from)?;
        if sent != line.len() {
            return Err(io::Error::other("enclave agent request was cut short"));
        }
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// Reads the next reply; an `Error` reply becomes an error.
    pub fn reply(&mut self) -> io::Result<Reply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "enclave agent closed the connection (did the enclave exit?)",
            ));
        }
        match serde_json::from_str(&line).map_err(io::Error::other)? {
            Reply::Error(e) => Err(io::Error::other(e)),
            reply => Ok(reply),
        }
    }
}

/// Runs `f` with a path to `dir/name` short enough for a unix socket address (108 bytes):
/// state roots under containerd are deep, so the path goes through `/proc/self/fd/N`.
pub fn with_socket_path<T>(dir: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    let handle = std::fs::File::open(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", dir.display())))?;
    let short = Path::new("/proc/self/fd")
        .join(handle.as_raw_fd().to_string())
        .join(SOCKET_FILE);
    f(&short)
}

/// Binds the agent socket in `dir`.
pub fn bind(dir: &Path) -> io::Result<UnixListener> {
    with_socket_path(dir, |path| UnixListener::bind(path)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("binding enclave agent socket in {}: {e}", dir.display()),
        )
    })
}

/// Takes ownership of an inherited listening socket descriptor.
pub fn listener_from_fd(fd: RawFd) -> io::Result<UnixListener> {
    let owned = crate::sys::inherited(fd)?.try_clone_to_owned()?;
    Ok(UnixListener::from(owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_tagged_json() {
        let request = Request::Kill { pid: 7, signal: 15 };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(json, r#"{"op":"kill","pid":7,"signal":15}"#);
        assert!(matches!(
            serde_json::from_str(&json).unwrap(),
            Request::Kill { pid: 7, signal: 15 }
        ));
    }

    #[test]
    fn fixed_hex_fields_are_checked() {
        assert_eq!(decode_fixed::<2>("abcd", "f").unwrap(), [0xab, 0xcd]);
        assert_eq!(
            decode_fixed::<2>("ab", "f").unwrap_err(),
            "f: 1 bytes, expected 2"
        );
        assert!(decode_fixed::<2>("zz", "f")
            .unwrap_err()
            .starts_with("f: invalid hex"));
    }
}
