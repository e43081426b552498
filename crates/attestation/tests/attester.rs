//! Attesters against fakes of their interfaces: a temp directory that behaves like
//! configfs-tsm, and a unix-socket server that speaks aesmd's protocol. No TEE hardware is
//! involved: these prove the protocol handling, not the TEE.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::SystemTime;

use attestation::attester::{
    aesm_proto, AesmClient, Attester, AttesterError, DcapAttester, SimAttester, TsmAttester, TsmFs,
    REPORT_LEN, TARGET_INFO_LEN,
};
use attestation::quote::Quote;
use attestation::sim::{SimPki, SimQuoter, SimVerifier};
use attestation::TeeKind;
use prost::Message;

// ---------------------------------------------------------------------------------------------
// configfs-tsm
// ---------------------------------------------------------------------------------------------

/// A temp directory with the kernel's side effects of configfs-tsm: `mkdir` creates the
/// attribute files, a write to `inblob` bumps `generation` and prepares `outblob` (here a
/// fake report: a marker, the provider and the inblob). `race` more reads of `outblob` see
/// another writer bump the generation.
#[derive(Debug)]
struct FakeTsm {
    provider: &'static str,
    races: AtomicU32,
    calls: Mutex<Vec<String>>,
}

impl FakeTsm {
    fn new(provider: &'static str, races: u32) -> Self {
        Self {
            provider,
            races: AtomicU32::new(races),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn log(&self, op: &str, path: &Path) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        self.calls.lock().unwrap().push(format!("{op} {name}"));
    }

    fn bump(dir: &Path) -> io::Result<()> {
        let g: u64 = fs::read_to_string(dir.join("generation"))?
            .trim()
            .parse()
            .unwrap();
        fs::write(dir.join("generation"), format!("{}\n", g + 1))
    }
}

impl TsmFs for FakeTsm {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.log("mkdir", path);
        fs::create_dir(path)?;
        fs::write(path.join("provider"), format!("{}\n", self.provider))?;
        fs::write(path.join("generation"), "0\n")?;
        fs::write(path.join("inblob"), b"")?;
        fs::write(path.join("outblob"), b"")
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.log("write", path);
        fs::write(path, data)?;
        let dir = path.parent().unwrap();
        if path.file_name().unwrap() == "inblob" {
            Self::bump(dir)?;
            let mut report = b"FAKE-REPORT:".to_vec();
            report.extend_from_slice(self.provider.as_bytes());
            report.push(b':');
            report.extend_from_slice(data);
            fs::write(dir.join("outblob"), report)?;
        }
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.log("read", path);
        if path.file_name().unwrap() == "outblob"
            && self
                .races
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
                .is_ok()
        {
            Self::bump(path.parent().unwrap())?;
        }
        fs::read(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.log("rmdir", path);
        // configfs removes the attribute files with the directory.
        fs::remove_dir_all(path)
    }
}

fn tsm(tee: TeeKind, fake: Arc<FakeTsm>) -> (tempfile::TempDir, TsmAttester) {
    let root = tempfile::tempdir().unwrap();
    let attester = TsmAttester::with_fs(tee, root.path(), fake);
    (root, attester)
}

#[test]
fn tdx_report_through_configfs_tsm() {
    let fake = Arc::new(FakeTsm::new("tdx_guest", 0));
    let (root, attester) = tsm(TeeKind::Tdx, fake.clone());
    assert_eq!(attester.tee(), TeeKind::Tdx);
    let evidence = attester.evidence(&[0x42; 64]).unwrap();
    let mut expected = b"FAKE-REPORT:tdx_guest:".to_vec();
    expected.extend_from_slice(&[0x42; 64]);
    assert_eq!(evidence, expected);
    // The entry is removed afterwards.
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    let calls = fake.calls.lock().unwrap().clone();
    let ops: Vec<&str> = calls.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(
        ops,
        ["mkdir", "write", "read", "read", "read", "read", "rmdir"],
        "{calls:?}"
    );
    assert_eq!(calls[1], "write inblob");
    assert_eq!(calls[4], "read outblob");
}

#[test]
fn snp_report_through_configfs_tsm() {
    let fake = Arc::new(FakeTsm::new("sev_guest", 0));
    let (_root, attester) = tsm(TeeKind::Snp, fake);
    let evidence = attester.evidence(&[1; 64]).unwrap();
    assert!(evidence.starts_with(b"FAKE-REPORT:sev_guest:"));
}

#[test]
fn generation_race_is_retried_then_reported() {
    // One race: the second attempt succeeds.
    let fake = Arc::new(FakeTsm::new("tdx_guest", 1));
    let (root, attester) = tsm(TeeKind::Tdx, fake);
    attester.evidence(&[2; 64]).unwrap();
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);

    // Races on every attempt: a clear error.
    let fake = Arc::new(FakeTsm::new("tdx_guest", 100));
    let (_root, attester) = tsm(TeeKind::Tdx, fake);
    let err = attester.evidence(&[2; 64]).unwrap_err();
    assert!(matches!(err, AttesterError::TsmRace { attempts: 3, .. }));
    assert!(err.to_string().contains(
        "was changed by another writer while it was read (generation 1 became 2), 3 attempts"
    ));
}

#[test]
fn wrong_provider_is_refused() {
    let fake = Arc::new(FakeTsm::new("sev_guest", 0));
    let (_root, attester) = tsm(TeeKind::Tdx, fake);
    let err = attester.evidence(&[0; 64]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "configfs-tsm provider is \"sev_guest\": expected \"tdx_guest\" for a tdx attester"
    );
}

#[test]
fn absent_configfs_tsm_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("tsm/report");
    let err = TsmAttester::new(TeeKind::Tdx, &missing)
        .evidence(&[0; 64])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "configfs-tsm is not available at {}: this needs a TDX or SEV-SNP guest on Linux 6.7+ with configfs mounted (mount -t configfs none /sys/kernel/config)",
            missing.display()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// aesmd
// ---------------------------------------------------------------------------------------------

/// What the fake aesmd does with each request.
#[derive(Clone, Copy)]
enum AesmBehaviour {
    /// Answer like aesmd with Intel's QE (here: the sim quoter over the REPORT's body).
    Normal,
    /// Answer every request with this error code.
    Error(u32),
    /// Announce a response larger than any quote.
    Huge,
}

/// A fake aesmd on a unix socket: 4-byte little-endian length + protobuf, one request per
/// connection. Returns the socket path and the requests it saw.
fn fake_aesmd(
    dir: &Path,
    behaviour: AesmBehaviour,
    connections: usize,
) -> (PathBuf, thread::JoinHandle<Vec<aesm_proto::Request>>) {
    let path = dir.join("aesm.socket");
    let listener = UnixListener::bind(&path).unwrap();
    let pki = SimPki::generate("fake-aesmd", SystemTime::now()).unwrap();
    let quoter = SimQuoter::new(&pki).unwrap();
    let handle = thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..connections {
            let (mut sock, _) = listener.accept().unwrap();
            let mut len = [0u8; 4];
            sock.read_exact(&mut len).unwrap();
            let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
            sock.read_exact(&mut body).unwrap();
            let request = aesm_proto::Request::decode(body.as_slice()).unwrap();
            seen.push(request.clone());
            if let AesmBehaviour::Huge = behaviour {
                sock.write_all(&u32::MAX.to_le_bytes()).unwrap();
                continue;
            }
            let code = match behaviour {
                AesmBehaviour::Error(code) => code,
                _ => 0,
            };
            let mut response = aesm_proto::Response::default();
            if request.init_quote_ex_req.is_some() {
                response.init_quote_ex_res = Some(aesm_proto::InitQuoteExResponse {
                    error_code: code,
                    target_info: (code == 0).then(|| vec![0x7e; TARGET_INFO_LEN]),
                    pub_key_id_size: Some(32),
                    pub_key_id: Some(vec![0; 32]),
                });
            }
            if let Some(get) = &request.get_quote_ex_req {
                let body: [u8; 384] = get.report[..384].try_into().unwrap();
                let mut quote = quoter.quote(&body).unwrap();
                // aesmd returns the whole buffer: zero padding after the quote.
                quote.resize(get.buf_size as usize, 0);
                response.get_quote_ex_res = Some(aesm_proto::GetQuoteExResponse {
                    error_code: code,
                    quote: (code == 0).then_some(quote),
                    qe_report_info: None,
                });
            }
            let out = response.encode_to_vec();
            sock.write_all(&u32::try_from(out.len()).unwrap().to_le_bytes())
                .unwrap();
            sock.write_all(&out).unwrap();
        }
        seen
    });
    (path, handle)
}

/// The enclave side: a REPORT addressed to the QE, as EREPORT would produce it.
fn enclave_report(target_info: &[u8; TARGET_INFO_LEN], report_data: &[u8; 64]) -> Vec<u8> {
    assert_eq!(
        target_info, &[0x7e; TARGET_INFO_LEN],
        "report targets the QE"
    );
    let mut report = vec![0u8; REPORT_LEN];
    report[64..96].copy_from_slice(&[0x33; 32]); // MRENCLAVE
    report[320..384].copy_from_slice(report_data);
    report
}

#[test]
fn dcap_quote_through_fake_aesmd() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, server) = fake_aesmd(dir.path(), AesmBehaviour::Normal, 2);
    let attester = DcapAttester::new(AesmClient::new(&socket), |ti, rd| {
        Ok(enclave_report(ti, rd))
    });
    assert_eq!(attester.tee(), TeeKind::Sgx);
    let quote = attester.evidence(&[0x99; 64]).unwrap();
    let parsed = Quote::parse(&quote).unwrap();
    assert_eq!(parsed.len, quote.len(), "zero padding removed");
    let body = parsed.sgx_body().unwrap();
    assert_eq!(body.mr_enclave, [0x33; 32]);
    assert_eq!(body.report_data, [0x99; 64]);

    let seen = server.join().unwrap();
    let init = seen[0].init_quote_ex_req.as_ref().unwrap();
    assert_eq!(init.att_key_id.as_ref().unwrap().len(), 256);
    assert!(init.b_pub_key_id);
    let get = seen[1].get_quote_ex_req.as_ref().unwrap();
    assert_eq!(get.report.len(), REPORT_LEN);
    assert_eq!(get.att_key_id, init.att_key_id);
}

#[test]
fn aesmd_errors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, server) = fake_aesmd(dir.path(), AesmBehaviour::Error(36), 1);
    let err = AesmClient::new(&socket).qe_target_info().unwrap_err();
    assert_eq!(
        err.to_string(),
        "aesmd get qe target info failed with error 36 (AESM_UNSUPPORTED_ATT_KEY_ID)"
    );
    server.join().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (socket, server) = fake_aesmd(dir.path(), AesmBehaviour::Huge, 1);
    let err = AesmClient::new(&socket)
        .quote(&[0; REPORT_LEN])
        .unwrap_err();
    assert!(err
        .to_string()
        .starts_with("aesmd get quote response is 4294967295 bytes: larger than the"));
    server.join().unwrap();

    let err = AesmClient::new(dir.path().join("none.socket"))
        .qe_target_info()
        .unwrap_err();
    assert!(err
        .to_string()
        .ends_with("none.socket: is the sgx-aesm-service running?"));
}

#[test]
fn enclave_report_with_other_report_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, _server) = fake_aesmd(dir.path(), AesmBehaviour::Normal, 1);
    let attester = DcapAttester::new(AesmClient::new(&socket), |ti, _| {
        Ok(enclave_report(ti, &[0; 64]))
    });
    let err = attester.evidence(&[1; 64]).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("the report carries report_data 0000"));
}

// ---------------------------------------------------------------------------------------------
// sim
// ---------------------------------------------------------------------------------------------

#[test]
fn sim_attester_quotes_the_runtime_report() {
    let pki = SimPki::generate("sim-attester", SystemTime::now()).unwrap();
    let quoter = SimQuoter::new(&pki).unwrap();
    let attester = SimAttester::with_quoter(
        |rd| {
            let mut body = [0u8; 384];
            body[64..96].copy_from_slice(&[0x44; 32]);
            body[320..384].copy_from_slice(rd);
            Ok(body)
        },
        quoter,
    );
    assert_eq!(attester.tee(), TeeKind::Sim);
    let quote = attester.evidence(&[5; 64]).unwrap();
    let claims = SimVerifier::new(pki.root_cert_pem())
        .unwrap()
        .verify(&quote, SystemTime::now())
        .unwrap();
    assert_eq!(claims.tee, TeeKind::Sim);
    assert_eq!(claims.report_data, [5; 64]);

    let failing = SimAttester::new(
        |_| Err("enclave is not running".into()),
        |_| unreachable!("no quote without a report"),
    );
    let err = failing.evidence(&[0; 64]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the enclave runtime could not produce a report"
    );
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "enclave is not running"
    );
}
