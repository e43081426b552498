//! The client side of epm's socket: what rune calls at `create`, and `epm status`/`epm warm`.
//!
//! Every call is one connection with a deadline ([`DEFAULT_TIMEOUT`]): a daemon that is not
//! running, not answering, or dies mid-answer is an error the caller turns into "start
//! without the pool", never a hang and never a half-received enclave.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use erpal_sim::handover;
use nix::sys::socket::{
    connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, UnixAddr,
};
use nix::sys::time::TimeVal;
use thiserror::Error;

use crate::protocol::{
    self, Request, RequestMessage, Response, Status, MAX_MESSAGE, PROTOCOL_VERSION,
};

/// How long a call may take, end to end, by default: long enough to measure a large image on
/// a miss (hundreds of MB at ≈ 250 MB/s), short enough that a wedged daemon does not stall a
/// container start for long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to epm failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Nobody listens on the socket (no file, or connection refused).
    #[error("epm is not running at {socket}")]
    Unavailable {
        /// The socket path.
        socket: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Talking to epm failed (timeout, epm closed the connection mid-call).
    #[error("epm at {socket}: {step}")]
    Io {
        /// The socket path.
        socket: PathBuf,
        /// What was being done.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// epm's answer is not valid.
    #[error("epm at {socket} answered with an invalid message")]
    Protocol {
        /// The socket path.
        socket: PathBuf,
        /// The cause.
        #[source]
        source: protocol::ProtocolError,
    },
    /// epm refused the request.
    #[error("epm refused: {message}")]
    Refused {
        /// epm's message.
        message: String,
    },
    /// epm answered something other than what was asked.
    #[error("epm at {socket} answered {got} to {asked}")]
    Unexpected {
        /// The socket path.
        socket: PathBuf,
        /// The request kind.
        asked: &'static str,
        /// What came back.
        got: String,
    },
}

/// An enclave received from epm.
#[derive(Debug)]
pub struct Acquired {
    /// A ready enclave was taken from the pool.
    pub hit: bool,
    /// Bytes epm hashed to answer.
    pub hashed_bytes: u64,
    /// MRENCLAVE, hex.
    pub mr_enclave: String,
    /// The handover socket, for `pal_attr_v3_t.fd`.
    pub handover: OwnedFd,
}

/// A connection target.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    /// A client of the daemon at `socket`.
    pub fn new(socket: PathBuf) -> Self {
        Self {
            socket,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Changes the per-call deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Asks for an enclave of the image whose manifest and SIGSTRUCT are open at `manifest`
    /// and `sigstruct`, for `tenant`'s container with rootfs `rootfs`.
    pub fn acquire(
        &self,
        tenant: &str,
        rootfs: &Path,
        manifest: BorrowedFd<'_>,
        sigstruct: BorrowedFd<'_>,
        prewarm: Option<u32>,
    ) -> Result<Acquired, ClientError> {
        self.send_acquire(tenant, rootfs, manifest, sigstruct, prewarm)?
            .finish()
    }

    /// Sends an acquire request (as [`Client::acquire`]) without waiting for the answer: epm
    /// takes or builds the enclave while the caller goes on, and [`PendingAcquire::finish`]
    /// reads it later, possibly in another process that inherited the connection.
    pub fn send_acquire(
        &self,
        tenant: &str,
        rootfs: &Path,
        manifest: BorrowedFd<'_>,
        sigstruct: BorrowedFd<'_>,
        prewarm: Option<u32>,
    ) -> Result<PendingAcquire, ClientError> {
        let request = Request::Acquire {
            tenant: tenant.to_owned(),
            rootfs: rootfs.to_owned(),
            prewarm,
        };
        let conn = self.send(&request, &[manifest, sigstruct])?;
        Ok(PendingAcquire {
            client: self.clone(),
            conn,
        })
    }

    /// Asks epm to keep `count` enclaves of the image ready for `tenant`; returns how many are.
    pub fn warm(
        &self,
        tenant: &str,
        rootfs: &Path,
        manifest: BorrowedFd<'_>,
        sigstruct: BorrowedFd<'_>,
        count: u32,
    ) -> Result<u32, ClientError> {
        let request = Request::Warm {
            tenant: tenant.to_owned(),
            rootfs: rootfs.to_owned(),
            count,
        };
        match self.call(&request, &[manifest, sigstruct])?.0 {
            Response::Warmed { ready, .. } => Ok(ready),
            other => Err(self.refused_or_unexpected("warm", other)),
        }
    }

    /// The pool's state.
    pub fn status(&self) -> Result<Status, ClientError> {
        match self.call(&Request::Status {}, &[])?.0 {
            Response::Status(status) => Ok(status),
            other => Err(self.refused_or_unexpected("status", other)),
        }
    }

    fn call(
        &self,
        request: &Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Response, Vec<OwnedFd>), ClientError> {
        let conn = self.send(request, fds)?;
        self.receive(&conn)
    }

    fn io_err(&self, step: &'static str) -> impl FnOnce(io::Error) -> ClientError {
        let socket = self.socket.clone();
        move |source| ClientError::Io {
            socket,
            step,
            source,
        }
    }

    /// Connects (with the deadline on the socket) and sends `request` with `fds`.
    fn send(&self, request: &Request, fds: &[BorrowedFd<'_>]) -> Result<OwnedFd, ClientError> {
        let io_err = |step| self.io_err(step);
        let conn = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| io_err("creating a socket")(io::Error::from(e)))?;
        let addr =
            UnixAddr::new(&self.socket).map_err(|e| io_err("socket path")(io::Error::from(e)))?;
        let timeout = TimeVal::new(
            i64::try_from(self.timeout.as_secs()).unwrap_or(i64::MAX),
            i64::from(self.timeout.subsec_micros()),
        );
        setsockopt(&conn, sockopt::ReceiveTimeout, &timeout)
            .map_err(|e| io_err("setting a timeout")(io::Error::from(e)))?;
        setsockopt(&conn, sockopt::SendTimeout, &timeout)
            .map_err(|e| io_err("setting a timeout")(io::Error::from(e)))?;
        if let Err(errno) = connect(std::os::fd::AsRawFd::as_raw_fd(&conn), &addr) {
            let source = io::Error::from(errno);
            return Err(match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    ClientError::Unavailable {
                        socket: self.socket.clone(),
                        source,
                    }
                }
                _ => io_err("connecting")(source),
            });
        }
        let message = RequestMessage {
            version: PROTOCOL_VERSION,
            request: request.clone(),
        };
        handover::send_fds(conn.as_fd(), &protocol::encode(&message), fds)
            .map_err(io_err("sending the request"))?;
        Ok(conn)
    }

    /// Reads the answer to what was sent on `conn`.
    fn receive(&self, conn: &OwnedFd) -> Result<(Response, Vec<OwnedFd>), ClientError> {
        let (bytes, fds) = handover::recv_fds(conn.as_fd(), MAX_MESSAGE)
            .map_err(self.io_err("reading the answer"))?;
        let response =
            protocol::decode_response(&bytes).map_err(|source| ClientError::Protocol {
                socket: self.socket.clone(),
                source,
            })?;
        Ok((response, fds))
    }

    fn refused_or_unexpected(&self, asked: &'static str, response: Response) -> ClientError {
        match response {
            Response::Error { message } => ClientError::Refused { message },
            other => self.unexpected(asked, format!("{other:?}")),
        }
    }

    fn unexpected(&self, asked: &'static str, got: String) -> ClientError {
        ClientError::Unexpected {
            socket: self.socket.clone(),
            asked,
            got,
        }
    }
}

/// An acquire request epm is answering; the connection it arrives on.
///
/// The connection keeps the client's deadline (a receive timeout on the socket), also in a
/// process that inherited it.
#[derive(Debug)]
pub struct PendingAcquire {
    client: Client,
    conn: OwnedFd,
}

impl PendingAcquire {
    /// Takes over a connection [`Client::send_acquire`] opened on `socket` (e.g. inherited
    /// by a child process as `conn`).
    pub fn from_fd(socket: PathBuf, conn: OwnedFd) -> Self {
        Self {
            client: Client::new(socket),
            conn,
        }
    }

    /// The connection, kept open by the caller (e.g. across a fork) until it is taken over.
    pub fn into_fd(self) -> OwnedFd {
        self.conn
    }

    /// Reads epm's answer: the enclave, or why there is none.
    pub fn finish(self) -> Result<Acquired, ClientError> {
        let (response, fds) = self.client.receive(&self.conn)?;
        let client = &self.client;
        match response {
            Response::Enclave {
                hit,
                hashed_bytes,
                mr_enclave,
                ..
            } => {
                let [handover]: [OwnedFd; 1] = fds.try_into().map_err(|fds: Vec<OwnedFd>| {
                    client.unexpected(
                        "acquire",
                        format!("an enclave with {} descriptors", fds.len()),
                    )
                })?;
                Ok(Acquired {
                    hit,
                    hashed_bytes,
                    mr_enclave,
                    handover,
                })
            }
            other => Err(client.refused_or_unexpected("acquire", other)),
        }
    }
}
