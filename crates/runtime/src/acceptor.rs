//! The one thread that accepts connections on every listening socket of an enclave container's
//! init process (the enclave agent, the attestation API's unix socket and its TCP port) and
//! hands each to its service, which answers it on a thread of its own.
//!
//! One thread rather than one per socket: the init starts them while the container starts and
//! tears them down when it stops, both on the path of `rune run`.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

type Serve<S> = Box<dyn Fn(S) + Send>;

enum Socket {
    Unix(UnixListener, Serve<UnixStream>),
    Tcp(TcpListener, Serve<TcpStream>),
}

/// Listening sockets and their services, served by [`AcceptorThread::serve`].
#[derive(Default)]
pub struct Acceptor {
    sockets: Vec<Socket>,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("sockets", &self.sockets.len())
            .finish()
    }
}

impl Acceptor {
    /// Adds a unix listening socket; `serve` gets each accepted connection.
    pub fn unix(&mut self, listener: UnixListener, serve: impl Fn(UnixStream) + Send + 'static) {
        self.sockets.push(Socket::Unix(listener, Box::new(serve)));
    }

    /// Adds a TCP listening socket; `serve` gets each accepted connection.
    pub fn tcp(&mut self, listener: TcpListener, serve: impl Fn(TcpStream) + Send + 'static) {
        self.sockets.push(Socket::Tcp(listener, Box::new(serve)));
    }

    /// Non-blocking, so a connection that goes away between poll and accept cannot stall the
    /// others; accepted connections are blocking again (accept4 does not inherit it).
    fn set_nonblocking(&self) -> io::Result<()> {
        for socket in &self.sockets {
            match socket {
                Socket::Unix(listener, _) => listener.set_nonblocking(true)?,
                Socket::Tcp(listener, _) => listener.set_nonblocking(true)?,
            }
        }
        Ok(())
    }

    fn run(self) {
        loop {
            let ready = match self.wait() {
                Ok(ready) => ready,
                Err(e) => {
                    tracing::error!(error = %e, "enclave services stopped: poll failed");
                    return;
                }
            };
            for (socket, readable) in self.sockets.iter().zip(ready) {
                if readable {
                    accept_all(socket);
                }
            }
        }
    }

    /// Blocks until some socket has a connection; which ones do.
    fn wait(&self) -> io::Result<Vec<bool>> {
        let mut fds: Vec<PollFd<'_>> = self
            .sockets
            .iter()
            .map(|socket| {
                let fd = match socket {
                    Socket::Unix(listener, _) => listener.as_fd(),
                    Socket::Tcp(listener, _) => listener.as_fd(),
                };
                PollFd::new(fd, PollFlags::POLLIN)
            })
            .collect();
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        }
        Ok(fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect())
    }
}

/// The acceptor's thread, started before its sockets are known: the init starts it before it
/// loads the enclave, so that the thread's own start is off the way to reporting the container
/// created (it runs on the other CPU while the enclave initialises, or once the init waits for
/// start) instead of right before the report.
#[derive(Debug)]
pub struct AcceptorThread {
    acceptor: mpsc::Sender<Acceptor>,
}

impl AcceptorThread {
    /// Starts the thread; it waits for [`AcceptorThread::serve`], and ends if this is dropped.
    pub fn start() -> io::Result<Self> {
        let (acceptor, received) = mpsc::channel::<Acceptor>();
        std::thread::Builder::new()
            .name("enclave-accept".to_owned())
            .spawn(move || {
                if let Ok(acceptor) = received.recv() {
                    acceptor.run();
                }
            })?;
        Ok(Self { acceptor })
    }

    /// Hands the thread its sockets: it accepts on them from now on, forever.
    pub fn serve(self, acceptor: Acceptor) -> io::Result<()> {
        acceptor.set_nonblocking()?;
        self.acceptor
            .send(acceptor)
            .map_err(|_| io::Error::other("the enclave's acceptor thread is gone"))
    }
}

fn accept_all(socket: &Socket) {
    loop {
        let accepted = match socket {
            Socket::Unix(listener, serve) => listener.accept().map(|(stream, _)| serve(stream)),
            Socket::Tcp(listener, serve) => listener.accept().map(|(stream, _)| serve(stream)),
        };
        match accepted {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
            Err(e) => {
                // Out of descriptors or memory: the connection stays queued and poll reports it
                // again at once, so wait for connections being served to close instead of
                // spinning.
                tracing::warn!(error = %e, "enclave services: accept failed; retrying shortly");
                std::thread::sleep(std::time::Duration::from_millis(50));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn every_socket_reaches_its_own_service() {
        let dir = tempfile::tempdir().unwrap();
        let (unix_a, unix_b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_addr = tcp.local_addr().unwrap();
        let (seen, seen_rx) = mpsc::channel();
        let mut acceptor = Acceptor::default();
        for (name, path) in [("a", &unix_a), ("b", &unix_b)] {
            let seen = seen.clone();
            acceptor.unix(UnixListener::bind(path).unwrap(), move |mut stream| {
                stream.write_all(name.as_bytes()).unwrap();
                seen.send(name).unwrap();
            });
        }
        acceptor.tcp(tcp, move |mut stream| {
            stream.write_all(b"tcp").unwrap();
            seen.send("tcp").unwrap();
        });
        AcceptorThread::start().unwrap().serve(acceptor).unwrap();
        let read = |mut stream: Box<dyn Read>| {
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            text
        };
        // Twice each, in an order that is not the registration order.
        for _ in 0..2 {
            assert_eq!(read(Box::new(TcpStream::connect(tcp_addr).unwrap())), "tcp");
            assert_eq!(read(Box::new(UnixStream::connect(&unix_b).unwrap())), "b");
            assert_eq!(read(Box::new(UnixStream::connect(&unix_a).unwrap())), "a");
        }
        let served: Vec<&str> = seen_rx.iter().take(6).collect();
        assert_eq!(served, ["tcp", "b", "a", "tcp", "b", "a"]);
    }
}
