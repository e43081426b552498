//! The workload's side of the in-enclave attestation API: a client of the Confidential
//! Containers api-server-rest paths that rune serves inside an enclave container (on the unix
//! socket [`DEFAULT_SOCKET`], and on [`DEFAULT_TCP`] in a container's own network namespace),
//! and [`LocalApiAttester`], which makes that API an [`Attester`] (e.g. for RA-TLS
//! certificates made inside the container).
//!
//! One `GET` per connection, HTTP/1.1 with `Connection: close`; the reply is read to its end
//! (bounded) and its head parsed with `httparse`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::attester::{Attester, AttesterError};
use crate::claims::TeeKind;
use crate::kbs::ResourcePath;

/// The API's unix socket inside an enclave container.
pub const DEFAULT_SOCKET: &str = "/run/enclave/api.sock";
/// The API's TCP address inside an enclave container with its own network namespace.
pub const DEFAULT_TCP: &str = "127.0.0.1:8006";
/// Largest reply read: a resource, a token, or evidence with its certificate chain.
const MAX_REPLY: u64 = 16 * 1024 * 1024;
/// Per-request timeout: a KBS round trip may sit behind the agent's.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Why a call to the API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalApiError {
    /// The endpoint could not be reached, or the exchange broke off.
    #[error("attestation api at {endpoint}")]
    Io {
        /// The endpoint.
        endpoint: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The reply is not HTTP, or is cut short.
    #[error("attestation api at {endpoint} sent a malformed reply: {reason}")]
    Malformed {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The API answered with an error status.
    #[error("attestation api answered {status} to {path}: {reason}")]
    Status {
        /// The request path (without the query).
        path: String,
        /// The HTTP status.
        status: u16,
        /// The body the API gave (its one-line reason).
        reason: String,
    },
}

/// Where the API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
            Self::Tcp(addr) => write!(f, "http://{addr}"),
        }
    }
}

/// A client of the in-enclave attestation API.
#[derive(Debug, Clone)]
pub struct LocalApi {
    endpoint: Endpoint,
}

impl Default for LocalApi {
    /// The unix socket at [`DEFAULT_SOCKET`].
    fn default() -> Self {
        Self::new(Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)))
    }
}

impl LocalApi {
    /// A client of the API at `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }

    /// `GET target`: the status and body of the reply.
    pub fn get(&self, target: &str) -> Result<(u16, Zeroizing<Vec<u8>>), LocalApiError> {
        let io_err = |source| LocalApiError::Io {
            endpoint: self.endpoint.to_string(),
            source,
        };
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let mut reply = Zeroizing::new(Vec::new());
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path).map_err(io_err)?;
                stream.set_read_timeout(Some(TIMEOUT)).map_err(io_err)?;
                exchange(stream, request.as_bytes(), &mut reply).map_err(io_err)?;
            }
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect_timeout(addr, TIMEOUT).map_err(io_err)?;
                stream.set_read_timeout(Some(TIMEOUT)).map_err(io_err)?;
                exchange(stream, request.as_bytes(), &mut reply).map_err(io_err)?;
            }
        }
        parse_reply(&reply).map_err(|reason| LocalApiError::Malformed {
            endpoint: self.endpoint.to_string(),
            reason,
        })
    }

    /// Evidence whose REPORTDATA is `runtime_data` (at most 64 bytes, zero padded): the quote.
    pub fn evidence(&self, runtime_data: &[u8]) -> Result<Vec<u8>, LocalApiError> {
        let encoded: String = runtime_data.iter().map(|b| format!("%{b:02X}")).collect();
        let body = self.expect_ok(
            "/aa/evidence",
            &format!("/aa/evidence?runtime_data={encoded}"),
        )?;
        let malformed = |reason: String| LocalApiError::Malformed {
            endpoint: self.endpoint.to_string(),
            reason,
        };
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| malformed(format!("evidence is not json: {e}")))?;
        let quote = json["quote"]
            .as_str()
            .ok_or_else(|| malformed("evidence has no \"quote\"".to_owned()))?;
        STANDARD
            .decode(quote)
            .map_err(|e| malformed(format!("evidence quote is not base64: {e}")))
    }

    /// The plaintext of a KBS resource, fetched by the agent after attesting.
    pub fn resource(&self, path: &ResourcePath) -> Result<Zeroizing<Vec<u8>>, LocalApiError> {
        self.expect_ok("/cdh/resource", &format!("/cdh/resource/{path}"))
    }

    fn expect_ok(&self, path: &str, target: &str) -> Result<Zeroizing<Vec<u8>>, LocalApiError> {
        let (status, body) = self.get(target)?;
        if status != 200 {
            return Err(LocalApiError::Status {
                path: path.to_owned(),
                status,
                reason: String::from_utf8_lossy(&body).trim().to_owned(),
            });
        }
        Ok(body)
    }
}

fn exchange<S: Read + Write>(mut stream: S, request: &[u8], reply: &mut Vec<u8>) -> io::Result<()> {
    stream.write_all(request)?;
    stream.take(MAX_REPLY).read_to_end(reply)?;
    Ok(())
}

/// Status and body of a whole HTTP/1.1 reply.
fn parse_reply(reply: &[u8]) -> Result<(u16, Zeroizing<Vec<u8>>), String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(reply) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err("cut short in the head".to_owned()),
        Err(e) => return Err(e.to_string()),
    };
    let status = response.code.ok_or("no status")?;
    let body = reply.get(head_len..).unwrap_or_default();
    let declared = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| {
            std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("invalid content-length")
        })
        .transpose()?;
    if declared.is_some_and(|len| len != body.len()) {
        return Err(format!(
            "body is {} bytes, content-length says {}",
            body.len(),
            declared.unwrap_or_default()
        ));
    }
    Ok((status, Zeroizing::new(body.to_vec())))
}

/// The API as an [`Attester`]: quotes of the enclave the calling workload runs in.
#[derive(Debug, Clone)]
pub struct LocalApiAttester {
    api: LocalApi,
    tee: TeeKind,
}

impl LocalApiAttester {
    /// An attester asking `api` for evidence of a `tee` enclave (`sim` in a sim enclave
    /// container: the API cannot say which, a quote is SGX-shaped either way).
    pub fn new(api: LocalApi, tee: TeeKind) -> Self {
        Self { api, tee }
    }
}

impl Attester for LocalApiAttester {
    fn tee(&self) -> TeeKind {
        self.tee
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttesterError> {
        self.api
            .evidence(report_data)
            .map_err(|e| AttesterError::LocalApi(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_and_checked() {
        let (status, body) =
            parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc").unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"abc"[..]));
        assert!(
            parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc")
                .unwrap_err()
                .contains("content-length says 4")
        );
        assert!(parse_reply(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_reply(b"garbage").is_err());
    }

    proptest::proptest! {
        #[test]
        fn reply_parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = parse_reply(&bytes);
        }
    }
}
