//! Attesters: evidence from the TEE this process runs in, bound to 64 bytes of report data.
//!
//! One trait, [`Attester`], and one implementation per way of reaching a TEE:
//! - [`TsmAttester`]: TDX and SEV-SNP guests through Linux configfs-tsm
//!   (`/sys/kernel/config/tsm/report`, Linux 6.7+, `Documentation/ABI/testing/configfs-tsm`);
//! - [`DcapAttester`]: SGX enclaves through aesmd's quoting enclave (`/var/run/aesmd/aesm.socket`,
//!   Intel linux-sgx `psw/ae/aesm_service/source/core/ipc/messages.proto`);
//! - [`SimAttester`]: the software TEE: a REPORT from the enclave runtime, quoted by the sim QE.
//!
//! Honest scope: no TEE hardware is available where this crate is developed. The TSM and aesmd
//! attesters are tested only against fakes that follow the documented interfaces (a directory
//! with the configfs-tsm side effects, a unix-socket server speaking the aesm protocol); the
//! quotes they return are what the verifiers in [`crate::dcap`] check, and those verifiers are
//! proven against real Intel quotes. See `docs/attestation.md`.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;

use crate::claims::TeeKind;
use crate::quote::{Quote, MAX_QUOTE_LEN};
use crate::sim::{SimError, SimQuoter};

/// The boxed error an enclave-runtime callback returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Default root of the configfs-tsm report interface.
pub const TSM_REPORT_ROOT: &str = "/sys/kernel/config/tsm/report";
/// Default path of aesmd's socket.
pub const AESM_SOCKET: &str = "/var/run/aesmd/aesm.socket";
/// Size of an SGX TARGETINFO.
pub const TARGET_INFO_LEN: usize = 512;
/// Size of an SGX REPORT (body, key id, MAC).
pub const REPORT_LEN: usize = 432;
/// How many times a configfs-tsm read is retried when another writer raced it.
const TSM_ATTEMPTS: u32 = 3;
/// Largest aesmd response accepted: a quote plus protobuf framing.
const MAX_AESM_RESPONSE: usize = MAX_QUOTE_LEN + 4096;
/// Quote buffer size asked of aesmd (DCAP quotes with a PCK chain are 4–6 KiB).
const AESM_QUOTE_BUF: u32 = 16 * 1024;

/// Produces evidence from the TEE this process runs in.
pub trait Attester: Send + Sync {
    /// The kind of TEE whose evidence this attester produces.
    fn tee(&self) -> TeeKind;

    /// Evidence (a quote or report) whose REPORTDATA is exactly `report_data`.
    fn evidence(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttesterError>;
}

/// Why an attester could not produce evidence.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttesterError {
    /// The configfs-tsm directory does not exist.
    #[error("configfs-tsm is not available at {}: this needs a TDX or SEV-SNP guest on Linux 6.7+ with configfs mounted (mount -t configfs none /sys/kernel/config)", root.display())]
    TsmUnavailable {
        /// The configured root.
        root: PathBuf,
    },
    /// A file operation on the configfs-tsm interface failed.
    #[error("configfs-tsm: {op} {}", path.display())]
    TsmIo {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The provider is not the TEE this attester was built for.
    #[error("configfs-tsm provider is {found:?}: expected {expected:?} for a {tee} attester")]
    TsmProvider {
        /// The provider the kernel reports.
        found: String,
        /// The provider expected.
        expected: &'static str,
        /// The TEE of the attester.
        tee: TeeKind,
    },
    /// `generation` is not a decimal counter.
    #[error("configfs-tsm generation {value:?} in {} is not a number", path.display())]
    TsmGeneration {
        /// The file.
        path: PathBuf,
        /// What it contained.
        value: String,
    },
    /// Another writer changed the report request while it was read, on every attempt.
    #[error("configfs-tsm report {} was changed by another writer while it was read (generation {expected} became {found}), {attempts} attempts", path.display())]
    TsmRace {
        /// The report entry.
        path: PathBuf,
        /// The generation after our write.
        expected: u64,
        /// The generation after reading the outblob.
        found: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// The kernel returned an empty report.
    #[error("configfs-tsm returned an empty outblob in {}", path.display())]
    TsmEmpty {
        /// The report entry.
        path: PathBuf,
    },
    /// aesmd's socket could not be reached.
    #[error("cannot connect to aesmd at {}: is the sgx-aesm-service running?", path.display())]
    AesmConnect {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Talking to aesmd failed after connecting.
    #[error("aesmd {request} over {}", path.display())]
    AesmIo {
        /// Which request.
        request: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// aesmd announced a response larger than any real one.
    #[error("aesmd {request} response is {len} bytes: larger than the {max}-byte limit")]
    AesmTooLarge {
        /// Which request.
        request: &'static str,
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// aesmd's response is not the protobuf message expected.
    #[error("aesmd {request} response is not a valid protobuf message")]
    AesmDecode {
        /// Which request.
        request: &'static str,
        /// The cause.
        #[source]
        source: prost::DecodeError,
    },
    /// aesmd's response lacks a field.
    #[error("aesmd {request} response has no {field}")]
    AesmMissing {
        /// Which request.
        request: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// aesmd reported an error code.
    #[error("aesmd {request} failed with error {code} ({})", aesm_error_name(*code))]
    AesmStatus {
        /// Which request.
        request: &'static str,
        /// `aesm_error_t` value.
        code: u32,
    },
    /// A field of aesmd's response has the wrong size.
    #[error("aesmd {request} returned a {field} of {len} bytes: expected {expected}")]
    AesmLength {
        /// Which request.
        request: &'static str,
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The expected length.
        expected: usize,
    },
    /// The enclave runtime could not produce a report.
    #[error("the enclave runtime could not produce a report")]
    EnclaveReport(#[source] BoxError),
    /// The enclave runtime returned a REPORT of the wrong size.
    #[error("the enclave runtime returned a {len}-byte report: expected {expected}")]
    ReportLength {
        /// Its length.
        len: usize,
        /// The expected length.
        expected: usize,
    },
    /// The report does not carry the requested report data.
    #[error("the report carries report_data {found}: the request was {expected}")]
    ReportDataMismatch {
        /// Found, hex.
        found: String,
        /// Requested, hex.
        expected: String,
    },
    /// The sim quoting function failed.
    #[error("sim quoting failed")]
    SimQuote(#[source] BoxError),
    /// The quote aesmd returned does not parse.
    #[error("the quote returned does not parse")]
    Quote(#[source] crate::quote::QuoteError),
    /// The in-enclave attestation API failed.
    #[error("in-enclave attestation api")]
    LocalApi(#[source] Box<crate::local_api::LocalApiError>),
}

// ---------------------------------------------------------------------------------------------
// configfs-tsm
// ---------------------------------------------------------------------------------------------

/// The file operations the configfs-tsm attester performs, so tests can stand in for the kernel.
///
/// The real implementation is [`StdTsmFs`]; a fake creates the attribute files on `create_dir`
/// and fills `outblob` and bumps `generation` on writes, as the kernel does.
pub trait TsmFs: Send + Sync + fmt::Debug {
    /// `mkdir` of a report entry.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Write a whole attribute.
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Read a whole attribute.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// `rmdir` of a report entry.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
}

/// [`TsmFs`] on the real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdTsmFs;

impl TsmFs for StdTsmFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        // configfs binary attributes take the whole blob in one write.
        fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .write_all(data)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        // Cap the read: an outblob is a quote or an SNP report (a few KiB).
        let mut data = Vec::new();
        fs::File::open(path)?
            .take(u64::try_from(MAX_QUOTE_LEN).unwrap_or(u64::MAX))
            .read_to_end(&mut data)?;
        Ok(data)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir(path)
    }
}

/// TDX or SEV-SNP evidence through configfs-tsm.
///
/// Each call makes its own report entry (`mkdir`), writes the report data to `inblob`, reads
/// `provider`, `generation` and `outblob`, checks that `generation` did not move (which would
/// mean another writer changed the request, per the kernel ABI document) and removes the
/// entry. A race is retried a few times.
#[derive(Debug, Clone)]
pub struct TsmAttester {
    root: PathBuf,
    tee: TeeKind,
    fs: Arc<dyn TsmFs>,
}

/// Counter making report entry names unique within the process.
static TSM_ENTRY: AtomicU64 = AtomicU64::new(0);

impl TsmAttester {
    /// A TDX attester on the default root.
    pub fn tdx() -> Self {
        Self::new(TeeKind::Tdx, TSM_REPORT_ROOT)
    }

    /// An SEV-SNP attester on the default root.
    pub fn snp() -> Self {
        Self::new(TeeKind::Snp, TSM_REPORT_ROOT)
    }

    /// An attester for `tee` (TDX or SNP) on the report directory `root`.
    pub fn new(tee: TeeKind, root: impl Into<PathBuf>) -> Self {
        Self::with_fs(tee, root, Arc::new(StdTsmFs))
    }

    /// An attester whose file operations go through `fs` (tests).
    pub fn with_fs(tee: TeeKind, root: impl Into<PathBuf>, fs: Arc<dyn TsmFs>) -> Self {
        Self {
            root: root.into(),
            tee,
            fs,
        }
    }

    /// The `provider` value the kernel shows for this TEE.
    fn expected_provider(&self) -> &'static str {
        match self.tee {
            TeeKind::Snp => "sev_guest",
            _ => "tdx_guest",
        }
    }

    fn attempt(&self, entry: &Path, report_data: &[u8; 64]) -> Result<Vec<u8>, AttesterError> {
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| AttesterError::TsmIo { op, path, source }
        };
        let inblob = entry.join("inblob");
        self.fs
            .write(&inblob, report_data)
            .map_err(io("writing", &inblob))?;
        let generation = entry.join("generation");
        let expected = self.generation(&generation)?;
        let provider_path = entry.join("provider");
        let provider = self
            .fs
            .read(&provider_path)
            .map_err(io("reading", &provider_path))?;
        let provider = String::from_utf8_lossy(&provider).trim().to_owned();
        if provider != self.expected_provider() {
            return Err(AttesterError::TsmProvider {
                found: provider,
                expected: self.expected_provider(),
                tee: self.tee,
            });
        }
        let outblob = entry.join("outblob");
        let report = self.fs.read(&outblob).map_err(io("reading", &outblob))?;
        let found = self.generation(&generation)?;
        if found != expected {
            return Err(AttesterError::TsmRace {
                path: entry.to_path_buf(),
                expected,
                found,
                attempts: 1,
            });
        }
        if report.is_empty() {
            return Err(AttesterError::TsmEmpty {
                path: entry.to_path_buf(),
            });
        }
        Ok(report)
    }

    fn generation(&self, path: &Path) -> Result<u64, AttesterError> {
        let raw = self.fs.read(path).map_err(|source| AttesterError::TsmIo {
            op: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&raw);
        text.trim()
            .parse()
            .map_err(|_| AttesterError::TsmGeneration {
                path: path.to_path_buf(),
                value: text.into_owned(),
            })
    }
}

impl Attester for TsmAttester {
    fn tee(&self) -> TeeKind {
        self.tee
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttesterError> {
        if !self.root.is_dir() {
            return Err(AttesterError::TsmUnavailable {
                root: self.root.clone(),
            });
        }
        let mut last = None;
        for attempt in 1..=TSM_ATTEMPTS {
            let name = format!(
                "rune-{}-{}",
                std::process::id(),
                TSM_ENTRY.fetch_add(1, Ordering::Relaxed)
            );
            let entry = self.root.join(name);
            self.fs
                .create_dir(&entry)
                .map_err(|source| AttesterError::TsmIo {
                    op: "creating report entry",
                    path: entry.clone(),
                    source,
                })?;
            let result = self.attempt(&entry, report_data);
            if let Err(e) = self.fs.remove_dir(&entry) {
                tracing::warn!(path = %entry.display(), error = %e, "removing configfs-tsm report entry");
            }
            match result {
                Err(AttesterError::TsmRace {
                    path,
                    expected,
                    found,
                    ..
                }) => {
                    tracing::debug!(attempt, "configfs-tsm generation raced, retrying");
                    last = Some(AttesterError::TsmRace {
                        path,
                        expected,
                        found,
                        attempts: attempt,
                    });
                }
                other => return other,
            }
        }
        Err(last.unwrap_or(AttesterError::TsmEmpty {
            path: self.root.clone(),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// aesmd (SGX DCAP)
// ---------------------------------------------------------------------------------------------

/// aesmd's protobuf messages (package `aesm.message`), the subset for DCAP quoting.
///
/// Hand-written from Intel linux-sgx `psw/ae/aesm_service/source/core/ipc/messages.proto`
/// (proto2); field numbers and labels are the same.
pub mod aesm_proto {
    /// `aesm.message.Request`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        /// Field 15: `InitQuoteExRequest initQuoteExReq`.
        #[prost(message, optional, tag = "15")]
        pub init_quote_ex_req: Option<InitQuoteExRequest>,
        /// Field 17: `GetQuoteExRequest getQuoteExReq`.
        #[prost(message, optional, tag = "17")]
        pub get_quote_ex_req: Option<GetQuoteExRequest>,
    }

    /// `Request.InitQuoteExRequest`: returns the QE's TARGETINFO.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InitQuoteExRequest {
        /// `sgx_att_key_id_t` (256 bytes).
        #[prost(bytes = "vec", optional, tag = "1")]
        pub att_key_id: Option<Vec<u8>>,
        /// Certification key type.
        #[prost(uint32, required, tag = "2")]
        pub certification_key_type: u32,
        /// Whether to regenerate the attestation key.
        #[prost(bool, required, tag = "3")]
        pub refresh_att_key: bool,
        /// Whether the public key id is wanted.
        #[prost(bool, required, tag = "4")]
        pub b_pub_key_id: bool,
        /// Size of the public key id buffer.
        #[prost(uint64, optional, tag = "5")]
        pub buf_size: Option<u64>,
        /// Timeout in milliseconds.
        #[prost(uint32, optional, tag = "9")]
        pub timeout: Option<u32>,
    }

    /// `Request.GetQuoteExRequest`: quotes a REPORT targeted at the QE.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetQuoteExRequest {
        /// `sgx_report_t` (432 bytes).
        #[prost(bytes = "vec", required, tag = "1")]
        pub report: Vec<u8>,
        /// `sgx_att_key_id_t` (256 bytes).
        #[prost(bytes = "vec", optional, tag = "2")]
        pub att_key_id: Option<Vec<u8>>,
        /// `sgx_qe_report_info_t`, when the caller wants the QE's report.
        #[prost(bytes = "vec", optional, tag = "3")]
        pub qe_report_info: Option<Vec<u8>>,
        /// Size of the quote buffer.
        #[prost(uint32, required, tag = "4")]
        pub buf_size: u32,
        /// Timeout in milliseconds.
        #[prost(uint32, optional, tag = "9")]
        pub timeout: Option<u32>,
    }

    /// `aesm.message.Response`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Response {
        /// Field 15: `InitQuoteExResponse initQuoteExRes`.
        #[prost(message, optional, tag = "15")]
        pub init_quote_ex_res: Option<InitQuoteExResponse>,
        /// Field 17: `GetQuoteExResponse getQuoteExRes`.
        #[prost(message, optional, tag = "17")]
        pub get_quote_ex_res: Option<GetQuoteExResponse>,
    }

    /// `Response.InitQuoteExResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InitQuoteExResponse {
        /// `aesm_error_t`; 0 is success, a missing field reads as 1 (unexpected error).
        #[prost(uint32, required, tag = "1", default = "1")]
        pub error_code: u32,
        /// The QE's `sgx_target_info_t` (512 bytes).
        #[prost(bytes = "vec", optional, tag = "2")]
        pub target_info: Option<Vec<u8>>,
        /// Size of the public key id.
        #[prost(uint64, optional, tag = "3")]
        pub pub_key_id_size: Option<u64>,
        /// The public key id.
        #[prost(bytes = "vec", optional, tag = "4")]
        pub pub_key_id: Option<Vec<u8>>,
    }

    /// `Response.GetQuoteExResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetQuoteExResponse {
        /// `aesm_error_t`; 0 is success.
        #[prost(uint32, required, tag = "1", default = "1")]
        pub error_code: u32,
        /// The quote, possibly zero-padded to the buffer size.
        #[prost(bytes = "vec", optional, tag = "2")]
        pub quote: Option<Vec<u8>>,
        /// The QE's report info, when requested.
        #[prost(bytes = "vec", optional, tag = "3")]
        pub qe_report_info: Option<Vec<u8>>,
    }
}

/// The attestation key id of Intel's ECDSA-P256 QE3 (`sgx_ql_att_key_id_t`, zero-padded into
/// the 256-byte `sgx_att_key_id_t`), as Gramine and the DCAP quote-ex library send it.
pub fn default_ecdsa_att_key_id() -> Vec<u8> {
    const QE3_MRSIGNER: [u8; 32] = [
        0x8c, 0x4f, 0x57, 0x75, 0xd7, 0x96, 0x50, 0x3e, 0x96, 0x13, 0x7f, 0x77, 0xc6, 0x8a, 0x82,
        0x9a, 0x00, 0x56, 0xac, 0x8d, 0xed, 0x70, 0x14, 0x0b, 0x08, 0x1b, 0x09, 0x44, 0x90, 0xc5,
        0x7b, 0xff,
    ];
    let mut id = vec![0u8; 256];
    // id (u16) = 0, version (u16) = 0, mrsigner_length (u16) = 32.
    id[4..6].copy_from_slice(&32u16.to_le_bytes());
    id[6..38].copy_from_slice(&QE3_MRSIGNER);
    // mrsigner is 48 bytes; prod_id (u32) = 1 follows at 54.
    id[54..58].copy_from_slice(&1u32.to_le_bytes());
    // extended_prod_id[16], config_id[64], family_id[16], then algorithm_id (u32) at 154:
    // SGX_QL_ALG_ECDSA_P256 = 2.
    id[154..158].copy_from_slice(&2u32.to_le_bytes());
    id
}

/// A client of aesmd's quoting service: 4-byte little-endian length, then a protobuf message,
/// each way, one request per connection (as the SGX PSW's `uae_service` does).
#[derive(Debug, Clone)]
pub struct AesmClient {
    socket: PathBuf,
    timeout: Duration,
    att_key_id: Vec<u8>,
}

impl Default for AesmClient {
    fn default() -> Self {
        Self::new(AESM_SOCKET)
    }
}

impl AesmClient {
    /// A client of the aesmd socket at `socket`, with Intel's ECDSA QE3 key id.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            timeout: Duration::from_secs(60),
            att_key_id: default_ecdsa_att_key_id(),
        }
    }

    /// Set the time one request may take (default one minute: the first quote after boot
    /// provisions the attestation key).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The QE's TARGETINFO, to address the enclave's REPORT to it (`InitQuoteExRequest`).
    pub fn qe_target_info(&self) -> Result<[u8; TARGET_INFO_LEN], AttesterError> {
        const REQUEST: &str = "get qe target info";
        let request = aesm_proto::Request {
            init_quote_ex_req: Some(aesm_proto::InitQuoteExRequest {
                att_key_id: Some(self.att_key_id.clone()),
                certification_key_type: 0,
                refresh_att_key: false,
                b_pub_key_id: true,
                buf_size: Some(32),
                timeout: Some(self.timeout_ms()),
            }),
            get_quote_ex_req: None,
        };
        let response = self.transact(REQUEST, &request)?.init_quote_ex_res.ok_or(
            AttesterError::AesmMissing {
                request: REQUEST,
                field: "initQuoteExRes",
            },
        )?;
        if response.error_code != 0 {
            return Err(AttesterError::AesmStatus {
                request: REQUEST,
                code: response.error_code,
            });
        }
        let target_info = response.target_info.ok_or(AttesterError::AesmMissing {
            request: REQUEST,
            field: "target_info",
        })?;
        let len = target_info.len();
        target_info
            .try_into()
            .map_err(|_| AttesterError::AesmLength {
                request: REQUEST,
                field: "target_info",
                len,
                expected: TARGET_INFO_LEN,
            })
    }

    /// Quote a 432-byte REPORT targeted at the QE (`GetQuoteExRequest`). Zero padding after
    /// the quote is removed.
    pub fn quote(&self, report: &[u8; REPORT_LEN]) -> Result<Vec<u8>, AttesterError> {
        const REQUEST: &str = "get quote";
        let request = aesm_proto::Request {
            init_quote_ex_req: None,
            get_quote_ex_req: Some(aesm_proto::GetQuoteExRequest {
                report: report.to_vec(),
                att_key_id: Some(self.att_key_id.clone()),
                qe_report_info: None,
                buf_size: AESM_QUOTE_BUF,
                timeout: Some(self.timeout_ms()),
            }),
        };
        let response = self.transact(REQUEST, &request)?.get_quote_ex_res.ok_or(
            AttesterError::AesmMissing {
                request: REQUEST,
                field: "getQuoteExRes",
            },
        )?;
        if response.error_code != 0 {
            return Err(AttesterError::AesmStatus {
                request: REQUEST,
                code: response.error_code,
            });
        }
        let mut quote = response.quote.ok_or(AttesterError::AesmMissing {
            request: REQUEST,
            field: "quote",
        })?;
        let len = Quote::parse(&quote).map_err(AttesterError::Quote)?.len;
        quote.truncate(len);
        Ok(quote)
    }

    fn timeout_ms(&self) -> u32 {
        u32::try_from(self.timeout.as_millis()).unwrap_or(u32::MAX)
    }

    fn transact(
        &self,
        request_name: &'static str,
        request: &aesm_proto::Request,
    ) -> Result<aesm_proto::Response, AttesterError> {
        let io = |source| AttesterError::AesmIo {
            request: request_name,
            path: self.socket.clone(),
            source,
        };
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|source| AttesterError::AesmConnect {
                path: self.socket.clone(),
                source,
            })?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;

        let body = request.encode_to_vec();
        let len = u32::try_from(body.len()).map_err(|_| {
            io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "request too large",
            ))
        })?;
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&body);
        stream.write_all(&frame).map_err(io)?;

        let mut len = [0u8; 4];
        stream.read_exact(&mut len).map_err(io)?;
        let len = usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX);
        if len > MAX_AESM_RESPONSE {
            return Err(AttesterError::AesmTooLarge {
                request: request_name,
                len,
                max: MAX_AESM_RESPONSE,
            });
        }
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).map_err(io)?;
        aesm_proto::Response::decode(body.as_slice()).map_err(|source| AttesterError::AesmDecode {
            request: request_name,
            source,
        })
    }
}

/// Names of the `aesm_error_t` codes a quoting request can return (Intel `aesm_error.h`).
pub fn aesm_error_name(code: u32) -> &'static str {
    match code {
        0 => "AESM_SUCCESS",
        1 => "AESM_UNEXPECTED_ERROR",
        2 => "AESM_NO_DEVICE_ERROR",
        3 => "AESM_PARAMETER_ERROR",
        4 => "AESM_EPIDBLOB_ERROR",
        5 => "AESM_EPID_REVOKED_ERROR",
        6 => "AESM_GET_LICENSETOKEN_ERROR",
        7 => "AESM_SESSION_INVALID",
        8 => "AESM_MAX_NUM_SESSION_REACHED",
        9 => "AESM_PSDA_UNAVAILABLE",
        10 => "AESM_EPH_SESSION_FAILED",
        11 => "AESM_LONG_TERM_PAIRING_FAILED",
        12 => "AESM_NETWORK_ERROR",
        13 => "AESM_NETWORK_BUSY_ERROR",
        14 => "AESM_PROXY_SETTING_ASSIST",
        15 => "AESM_FILE_ACCESS_ERROR",
        16 => "AESM_SGX_PROVISION_FAILED",
        17 => "AESM_SERVICE_STOPPED",
        18 => "AESM_BUSY",
        19 => "AESM_BACKEND_SERVER_BUSY",
        20 => "AESM_UPDATE_AVAILABLE",
        21 => "AESM_OUT_OF_MEMORY_ERROR",
        22 => "AESM_MSG_ERROR",
        23 => "AESM_THREAD_ERROR",
        24 => "AESM_SGX_DEVICE_NOT_AVAILABLE",
        25 => "AESM_ENABLE_SGX_DEVICE_FAILED",
        26 => "AESM_PLATFORM_INFO_BLOB_INVALID_SIG",
        27 => "AESM_SERVICE_NOT_AVAILABLE",
        28 => "AESM_KDF_MISMATCH",
        29 => "AESM_OUT_OF_EPC",
        30 => "AESM_SERVICE_UNAVAILABLE",
        31 => "AESM_UNRECOGNIZED_PLATFORM",
        32 => "AESM_ECDSA_ID_MISMATCH",
        33 => "AESM_PATHNAME_BUFFER_OVERFLOW_ERROR",
        34 => "AESM_ERROR_REPORT",
        35 => "AESM_UNABLE_TO_CREATE_SECURITY_CONTEXT",
        36 => "AESM_UNSUPPORTED_ATT_KEY_ID",
        _ => "unknown aesm error",
    }
}

/// The enclave side of SGX DCAP attestation: a REPORT (432 bytes) targeted at `target_info`
/// and carrying `report_data`. An enclave runtime implements it (EREPORT inside the enclave).
pub type ReportFn =
    dyn Fn(&[u8; TARGET_INFO_LEN], &[u8; 64]) -> Result<Vec<u8>, BoxError> + Send + Sync;

/// SGX DCAP evidence: the enclave's REPORT, quoted by aesmd's QE3.
pub struct DcapAttester {
    aesm: AesmClient,
    report: Box<ReportFn>,
}

impl fmt::Debug for DcapAttester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DcapAttester")
            .field("aesm", &self.aesm)
            .finish_non_exhaustive()
    }
}

impl DcapAttester {
    /// An attester that asks `report` (the enclave runtime) for a REPORT and `aesm` for a
    /// quote over it.
    pub fn new(
        aesm: AesmClient,
        report: impl Fn(&[u8; TARGET_INFO_LEN], &[u8; 64]) -> Result<Vec<u8>, BoxError>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Self {
            aesm,
            report: Box::new(report),
        }
    }
}

impl Attester for DcapAttester {
    fn tee(&self) -> TeeKind {
        TeeKind::Sgx
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttesterError> {
        let target_info = self.aesm.qe_target_info()?;
        let report =
            (self.report)(&target_info, report_data).map_err(AttesterError::EnclaveReport)?;
        let len = report.len();
        let report: [u8; REPORT_LEN] =
            report.try_into().map_err(|_| AttesterError::ReportLength {
                len,
                expected: REPORT_LEN,
            })?;
        check_report_data(&report[320..384], report_data)?;
        self.aesm.quote(&report)
    }
}

// ---------------------------------------------------------------------------------------------
// sim
// ---------------------------------------------------------------------------------------------

/// The enclave side of sim attestation: the 384-byte REPORT BODY of the calling enclave with
/// `report_data` (what `liberpal-sim.so` fills like EREPORT).
pub type SimReportFn = dyn Fn(&[u8; 64]) -> Result<[u8; 384], BoxError> + Send + Sync;

/// The quoting side of sim attestation: a sim quote over a report body (the sim QE, in
/// `erpal-sim` or [`SimQuoter`]).
pub type SimQuoteFn = dyn Fn(&[u8; 384]) -> Result<Vec<u8>, BoxError> + Send + Sync;

/// Evidence of the software TEE: a REPORT BODY from the enclave runtime, quoted by the sim QE.
/// The quotes verify only against the configured sim root and their claims say `tee: sim`.
pub struct SimAttester {
    report: Box<SimReportFn>,
    quote: Box<SimQuoteFn>,
}

impl fmt::Debug for SimAttester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimAttester").finish_non_exhaustive()
    }
}

impl SimAttester {
    /// An attester from the enclave runtime's report function and a quoting function.
    pub fn new(
        report: impl Fn(&[u8; 64]) -> Result<[u8; 384], BoxError> + Send + Sync + 'static,
        quote: impl Fn(&[u8; 384]) -> Result<Vec<u8>, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            report: Box::new(report),
            quote: Box::new(quote),
        }
    }

    /// An attester quoting with an in-process [`SimQuoter`].
    pub fn with_quoter(
        report: impl Fn(&[u8; 64]) -> Result<[u8; 384], BoxError> + Send + Sync + 'static,
        quoter: SimQuoter,
    ) -> Self {
        Self::new(report, move |body| {
            quoter
                .quote(body)
                .map_err(|e: SimError| -> BoxError { Box::new(e) })
        })
    }
}

impl Attester for SimAttester {
    fn tee(&self) -> TeeKind {
        TeeKind::Sim
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttesterError> {
        let body = (self.report)(report_data).map_err(AttesterError::EnclaveReport)?;
        check_report_data(&body[320..384], report_data)?;
        let quote = (self.quote)(&body).map_err(AttesterError::SimQuote)?;
        tracing::debug!(tee = "sim", len = quote.len(), "sim evidence produced");
        Ok(quote)
    }
}

fn check_report_data(found: &[u8], expected: &[u8; 64]) -> Result<(), AttesterError> {
    if found != expected {
        return Err(AttesterError::ReportDataMismatch {
            found: hex::encode(found),
            expected: hex::encode(expected),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn att_key_id_layout() {
        let id = default_ecdsa_att_key_id();
        assert_eq!(id.len(), 256);
        assert_eq!(&id[4..8], &[32, 0, 0x8c, 0x4f]);
        assert_eq!(&id[54..58], &[1, 0, 0, 0]);
        assert_eq!(&id[154..158], &[2, 0, 0, 0]);
    }

    #[test]
    fn missing_error_code_reads_as_unexpected_error() {
        let res = aesm_proto::InitQuoteExResponse::decode(&[][..]).unwrap();
        assert_eq!(res.error_code, 1);
        assert_eq!(aesm_error_name(36), "AESM_UNSUPPORTED_ATT_KEY_ID");
    }

    #[test]
    fn absent_tsm_is_a_clear_error() {
        let err = TsmAttester::new(TeeKind::Tdx, "/nonexistent/tsm/report")
            .evidence(&[0; 64])
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("configfs-tsm is not available at /nonexistent/tsm/report: this needs a TDX or SEV-SNP guest"));
    }
}
