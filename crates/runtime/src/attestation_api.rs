//! The attestation API an enclave container's workload calls, served by the container's init
//! process (which holds the enclave runtime): Confidential Containers' api-server-rest paths,
//! so CoCo workloads move over unchanged (DESIGN §3.5), and the delivery of `ENCLAVE_SECRETS`.
//!
//! - `GET /aa/evidence?runtime_data=…`: evidence whose REPORTDATA is the bytes of `runtime_data`
//!   (at most 64, zero padded, as CoCo's attestation agent), as the JSON a KBS takes for the TEE
//!   (`{"quote": "<base64>"}` for SGX and sim);
//! - `GET /aa/token?token_type=kbs`: attests to the configured KBS and returns
//!   `{"token": "<EAR JWT>", "tee_keypair": "<PKCS#8 PEM>"}`;
//! - `GET /cdh/resource/<repo>/<type>/<tag>`: the resource's plaintext from the KBS.
//!
//! Listeners: the unix socket [`SOCKET_NAME`] in the container's private tmpfs
//! [`crate::bundle::API_DIR`], always; TCP [`TCP_ADDR`] only when the container has a new
//! network namespace of its own. In the host's, that port would hand the enclave's secrets to
//! every process of the host; in a joined one (a pod's), to every container of the pod, each
//! of which is an enclave of its own (unlike CoCo, where the whole pod is one TEE). Requests
//! are `GET` with no body, one per connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attestation::kbs::{EvidenceProvider, KbsClient, KbsError, QuoteEvidence, ResourcePath, Tee};
use attestation::{Attester, TeeKind};
use serde_json::json;
use zeroize::Zeroizing;

/// CoCo's api-server-rest address, in the container's network namespace.
pub const TCP_ADDR: &str = "127.0.0.1:8006";
/// The API's unix socket, in [`crate::bundle::API_DIR`].
pub const SOCKET_NAME: &str = "api.sock";
/// Largest request head read: a request line and a few headers.
const MAX_HEAD: usize = 16 * 1024;
/// A client that sends nothing for this long is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// REPORTDATA size: the most `runtime_data` that fits.
const REPORT_DATA_LEN: usize = 64;

/// What the API serves from: the enclave's attester and, when configured, a KBS client.
pub struct Services {
    tee: TeeKind,
    evidence: Arc<dyn EvidenceProvider>,
    kbs: Option<Mutex<KbsClient>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("tee", &self.tee)
            .field("kbs", &self.kbs.is_some())
            .finish()
    }
}

/// Why a request failed: the HTTP status and a one-line reason for the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// What went wrong, for the client.
    pub reason: String,
}

impl ApiError {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }

    /// KBS refusals keep their status (401, 403, 404); anything else is the agent's failure.
    fn from_kbs(context: &str, error: KbsError) -> Self {
        let status = error
            .status()
            .filter(|s| matches!(s, 401 | 403 | 404))
            .unwrap_or(500);
        Self::new(
            status,
            format!("{context}: {:#}", anyhow::Error::new(error)),
        )
    }
}

impl Services {
    /// Services of an enclave whose evidence `attester` produces; `kbs` (without a provider:
    /// one is set here) reaches verdictd.
    pub fn new(attester: Arc<dyn Attester>, kbs: Option<KbsClient>) -> Self {
        let evidence = evidence_provider(&attester);
        let kbs = kbs.map(|client| Mutex::new(client.with_provider(Arc::clone(&evidence))));
        Self {
            tee: attester.tee(),
            evidence,
            kbs,
        }
    }

    /// The TEE whose evidence this serves.
    pub fn tee(&self) -> TeeKind {
        self.tee
    }

    /// Evidence JSON whose REPORTDATA is `runtime_data`, zero padded.
    pub fn evidence(&self, runtime_data: &[u8]) -> Result<Vec<u8>, ApiError> {
        if runtime_data.len() > REPORT_DATA_LEN {
            return Err(ApiError::new(
                400,
                format!(
                    "runtime_data is {} bytes: at most {REPORT_DATA_LEN} fit in REPORTDATA",
                    runtime_data.len()
                ),
            ));
        }
        let mut report_data = [0u8; REPORT_DATA_LEN];
        report_data[..runtime_data.len()].copy_from_slice(runtime_data);
        let evidence = self.evidence.evidence(&report_data).map_err(|e| {
            ApiError::new(
                500,
                format!("{} evidence: {:#}", self.tee, anyhow::anyhow!(e)),
            )
        })?;
        serde_json::to_vec(&evidence).map_err(|e| ApiError::new(500, e.to_string()))
    }

    /// Attests to the KBS: `{"token", "tee_keypair"}`.
    pub fn token(&self) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let mut kbs = self.kbs()?;
        let token = kbs
            .attest()
            .map_err(|e| ApiError::from_kbs("attestation to the kbs", e))?;
        let key = kbs
            .tee_key()
            .private_key_pem()
            .map_err(|e| ApiError::new(500, e.to_string()))?;
        let body = json!({ "token": token, "tee_keypair": key.as_str() });
        serde_json::to_vec(&body)
            .map(Zeroizing::new)
            .map_err(|e| ApiError::new(500, e.to_string()))
    }

    /// A resource's plaintext from the KBS (attesting first when the session needs it).
    pub fn resource(&self, path: &ResourcePath) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let mut kbs = self.kbs()?;
        kbs.get_resource(path)
            .map_err(|e| ApiError::from_kbs(&format!("kbs resource {path}"), e))
    }

    fn kbs(&self) -> Result<std::sync::MutexGuard<'_, KbsClient>, ApiError> {
        let kbs = self.kbs.as_ref().ok_or_else(|| {
            ApiError::new(
                503,
                "no kbs configured for this enclave container (set ENCLAVE_KBS_URL)",
            )
        })?;
        // A panic while holding the lock leaves a client whose session may be half-updated;
        // the next request re-attests on 401 anyway, so the poison is safe to clear.
        Ok(kbs.lock().unwrap_or_else(|poison| poison.into_inner()))
    }
}

/// The attester as a KBS evidence provider: sim and SGX quotes both go as `sgx` evidence
/// (DESIGN §3.6: sim evidence is an SGX-shaped quote chained to the sim root).
fn evidence_provider(attester: &Arc<dyn Attester>) -> Arc<dyn EvidenceProvider> {
    let tee = match attester.tee() {
        TeeKind::Tdx => Tee::Tdx,
        TeeKind::Snp => Tee::Snp,
        _ => Tee::Sgx,
    };
    let attester = Arc::clone(attester);
    Arc::new(QuoteEvidence::new(tee, move |report_data: &[u8; 64]| {
        attester
            .evidence(report_data)
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
    }))
}

/// Fetches each `kbs:///repo/type/tag` of `uris` and writes it to `dir/repo/type/tag` (0400),
/// before the workload starts. The first refusal stops the delivery with the KBS's reason.
pub fn deliver_secrets(services: &Services, uris: &[String], dir: &Path) -> Result<(), String> {
    for uri in uris {
        let path = ResourcePath::parse(uri).map_err(|e| format!("ENCLAVE_SECRETS {uri}: {e}"))?;
        let bytes = services
            .resource(&path)
            .map_err(|e| format!("secret {uri} was not delivered: {}", e.reason))?;
        let file = dir
            .join(path.repository())
            .join(path.kind())
            .join(path.tag());
        let parent = file.parent().unwrap_or(dir);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&file)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(|e| format!("writing secret {}: {e}", file.display()))?;
        tracing::info!(secret = %path, file = %file.display(), len = bytes.len(), "secret delivered");
    }
    Ok(())
}

/// A response: status, content type and body (a body may hold a secret: zeroized on drop).
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Zeroizing<Vec<u8>>,
}

impl Response {
    fn ok(body: Zeroizing<Vec<u8>>, content_type: &'static str) -> Self {
        Self {
            status: 200,
            content_type,
            body,
        }
    }

    fn error(error: ApiError) -> Self {
        let mut body = error.reason.into_bytes();
        body.push(b'\n');
        Self {
            status: error.status,
            content_type: "text/plain; charset=utf-8",
            body: Zeroizing::new(body),
        }
    }
}

/// Answers one request (`method`, request target with path and query).
pub fn route(services: &Services, method: &str, target: &str) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let known = path == "/aa/evidence" || path == "/aa/token" || path.starts_with("/cdh/resource/");
    if !known {
        return Response::error(ApiError::new(404, format!("no such endpoint: {path}")));
    }
    if method != "GET" {
        return Response::error(ApiError::new(
            405,
            format!("{method} {path}: only GET is served"),
        ));
    }
    let result = match path {
        "/aa/evidence" => match query_param(query, "runtime_data") {
            Some(data) => services
                .evidence(&data)
                .map(|e| Response::ok(Zeroizing::new(e), "application/json")),
            None => Err(ApiError::new(400, "missing query parameter runtime_data")),
        },
        "/aa/token" => match query_param(query, "token_type").as_deref() {
            Some(b"kbs") => services
                .token()
                .map(|t| Response::ok(t, "application/json")),
            Some(other) => Err(ApiError::new(
                400,
                format!(
                    "unsupported token_type {:?}: this agent issues kbs tokens",
                    String::from_utf8_lossy(other)
                ),
            )),
            None => Err(ApiError::new(400, "missing query parameter token_type")),
        },
        _ => {
            let resource = path.trim_start_matches("/cdh/resource/");
            match ResourcePath::parse(resource) {
                Ok(resource) => services
                    .resource(&resource)
                    .map(|r| Response::ok(r, "application/octet-stream")),
                Err(e) => Err(ApiError::new(400, e.to_string())),
            }
        }
    };
    result.unwrap_or_else(Response::error)
}

/// The value of `name` in a form-encoded query (`+` is a space, `%XX` a byte), as CoCo's
/// server decodes it.
fn query_param(query: &str, name: &str) -> Option<Vec<u8>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| -> Vec<u8> {
            percent_encoding::percent_decode_str(&s.replace('+', " ")).collect()
        };
        (decode(key) == name.as_bytes()).then(|| decode(value))
    })
}

/// Parses a request head: `(method, target)`, or the error response to send. Requests with a
/// body are refused: nothing here takes one.
pub fn parse_head(head: &[u8]) -> Result<Option<(String, String)>, ApiError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(_)) => {
            let has_body = request.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("transfer-encoding")
                    || (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0")
            });
            if has_body {
                return Err(ApiError::new(400, "request bodies are not accepted"));
            }
            let method = request.method.unwrap_or_default().to_owned();
            let target = request.path.unwrap_or_default().to_owned();
            Ok(Some((method, target)))
        }
        Err(e) => Err(ApiError::new(400, format!("malformed http request: {e}"))),
    }
}

fn handle<S: Read + Write>(mut stream: S, services: &Services) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let response = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        match parse_head(&head) {
            Ok(Some((method, target))) => {
                let response = route(services, &method, &target);
                tracing::debug!(%method, path = target.split('?').next().unwrap_or(""), status = response.status, "attestation api request");
                break response;
            }
            Ok(None) if head.len() < MAX_HEAD => continue,
            Ok(None) => break Response::error(ApiError::new(431, "request head too large")),
            Err(e) => break Response::error(e),
        }
    };
    write_response(&mut stream, &response)
}

fn write_response<W: Write>(stream: &mut W, response: &Response) -> io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let allow = if response.status == 405 {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

/// The unix socket's service for [`crate::acceptor::Acceptor`]: a thread per connection.
pub fn unix_service(services: Arc<Services>) -> impl Fn(UnixStream) + Send + 'static {
    move |stream| spawn_handler(stream, &services, |s| s.set_read_timeout(Some(IO_TIMEOUT)))
}

/// The TCP port's service (bound to loopback), a thread per connection; non-loopback peers
/// get 403, as CoCo's server answers them.
pub fn tcp_service(services: Arc<Services>) -> impl Fn(TcpStream) + Send + 'static {
    move |mut stream| {
        let loopback = stream
            .peer_addr()
            .is_ok_and(|a: SocketAddr| a.ip().is_loopback());
        if !loopback {
            let _ = write_response(
                &mut stream,
                &Response::error(ApiError::new(403, "only loopback clients are served")),
            );
            return;
        }
        spawn_handler(stream, &services, |s: &TcpStream| {
            s.set_read_timeout(Some(IO_TIMEOUT))
        });
    }
}

fn spawn_handler<S: Read + Write + Send + 'static>(
    stream: S,
    services: &Arc<Services>,
    set_timeout: impl FnOnce(&S) -> io::Result<()>,
) {
    if let Err(e) = set_timeout(&stream) {
        tracing::warn!(error = %e, "attestation api: setting a timeout failed");
        return;
    }
    let services = Arc::clone(services);
    std::thread::spawn(move || {
        if let Err(e) = handle(stream, &services) {
            tracing::debug!(error = %e, "attestation api connection ended with an error");
        }
    });
}

/// Binds the unix socket in `dir` (the container's private API tmpfs).
pub fn bind_unix(dir: &Path) -> io::Result<UnixListener> {
    let path = dir.join(SOCKET_NAME);
    UnixListener::bind(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("binding {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use attestation::AttesterError;
    use std::os::unix::net::UnixStream;

    /// Evidence is the report data itself, so tests see what reached the attester.
    struct EchoAttester;

    impl Attester for EchoAttester {
        fn tee(&self) -> TeeKind {
            TeeKind::Sim
        }

        fn evidence(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttesterError> {
            Ok(report_data.to_vec())
        }
    }

    fn services() -> Services {
        Services::new(Arc::new(EchoAttester), None)
    }

    fn body(response: &Response) -> String {
        String::from_utf8_lossy(&response.body).into_owned()
    }

    #[test]
    fn evidence_carries_runtime_data_zero_padded() {
        let response = route(&services(), "GET", "/aa/evidence?runtime_data=ab%20c+d");
        assert_eq!(response.status, 200, "{}", body(&response));
        let json: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        use base64::Engine as _;
        let quote = base64::engine::general_purpose::STANDARD
            .decode(json["quote"].as_str().unwrap())
            .unwrap();
        assert_eq!(&quote[..6], b"ab c d");
        assert!(quote[6..].iter().all(|&b| b == 0));
        assert_eq!(quote.len(), 64);
    }

    #[test]
    fn errors_have_coco_statuses_and_reasons() {
        let s = services();
        let long = "x".repeat(65);
        let cases = [
            (
                "GET",
                "/aa/evidence".to_owned(),
                400,
                "missing query parameter runtime_data",
            ),
            (
                "GET",
                format!("/aa/evidence?runtime_data={long}"),
                400,
                "65 bytes",
            ),
            (
                "POST",
                "/aa/evidence?runtime_data=a".to_owned(),
                405,
                "only GET",
            ),
            ("GET", "/aa/nothing".to_owned(), 404, "no such endpoint"),
            (
                "GET",
                "/aa/token?token_type=jwt".to_owned(),
                400,
                "unsupported token_type",
            ),
            (
                "GET",
                "/aa/token?token_type=kbs".to_owned(),
                503,
                "ENCLAVE_KBS_URL",
            ),
            (
                "GET",
                "/cdh/resource/a/../b".to_owned(),
                400,
                "invalid resource path",
            ),
            (
                "GET",
                "/cdh/resource/a/b".to_owned(),
                400,
                "invalid resource path",
            ),
            (
                "GET",
                "/cdh/resource/a/b/c".to_owned(),
                503,
                "no kbs configured",
            ),
        ];
        for (method, target, status, reason) in cases {
            let response = route(&s, method, &target);
            assert_eq!(
                response.status,
                status,
                "{method} {target}: {}",
                body(&response)
            );
            assert!(
                body(&response).contains(reason),
                "{target}: {}",
                body(&response)
            );
        }
    }

    #[test]
    fn heads_are_parsed_and_bodies_refused() {
        assert_eq!(
            parse_head(b"GET /aa/token?token_type=kbs HTTP/1.1\r\n").unwrap(),
            None
        );
        assert_eq!(
            parse_head(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap(),
            Some(("GET".to_owned(), "/x".to_owned()))
        );
        let err = parse_head(b"GET /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").unwrap_err();
        assert_eq!(err.status, 400);
        assert!(parse_head(b"\x01\x02 / HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn a_whole_exchange_over_a_socket_pair() {
        let (mut client, server) = UnixStream::pair().unwrap();
        let s = services();
        let worker = std::thread::spawn(move || handle(server, &s));
        client
            .write_all(b"GET /aa/evidence?runtime_data=hi HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        worker.join().unwrap().unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.contains("Content-Type: application/json\r\n"));
    }

    proptest::proptest! {
        #[test]
        fn any_head_gets_an_answer_without_panicking(head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(Some((method, target))) = parse_head(&head) {
                let _ = route(&services(), &method, &target);
            }
        }

        #[test]
        fn query_decoding_never_panics(query in ".{0,200}") {
            let _ = query_param(&query, "runtime_data");
        }
    }
}
