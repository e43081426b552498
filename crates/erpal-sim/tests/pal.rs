//! liberpal_sim.so loaded through the `pal` crate's loader, as rune loads it.
//!
//! The PAL keeps one enclave per process, so these tests take a lock and each runs the whole
//! init → create_process → exec → destroy sequence.

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use attestation::{Measurements, TeeKind};
use common::Fixture;
use erpal_sim::manifest::ArgvPolicy;
use erpal_sim::{measure_bundle, qe_target_info, Platform, SignOptions};
use pal::{EnclaveRuntime, ExitStatus, LogLevel, Pid, StdioFds};

static PAL_LOCK: Mutex<()> = Mutex::new(());

const ARGS: &[&str] = &["busybox", "sh", "-c", "echo hi; exit 3"];

/// The cdylib built with this test: `cargo test` leaves it in target/<profile>/deps/ next to
/// the test binary (only `cargo build` copies it up to target/<profile>/liberpal_sim.so).
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps_dir = exe.parent().unwrap();
    let candidates = [
        deps_dir.join("liberpal_sim.so"),
        deps_dir.parent().unwrap().join("liberpal_sim.so"),
    ];
    candidates
        .iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "liberpal_sim.so is missing from {}: cargo builds it with the tests of erpal-sim (cargo test -p erpal-sim)",
                deps_dir.display()
            )
        })
        .clone()
}

fn open(fx: &Fixture) -> EnclaveRuntime {
    Platform::load_or_create(&fx.platform_dir()).unwrap();
    let runtime = EnclaveRuntime::open(cdylib()).unwrap();
    assert_eq!(runtime.version(), 3);
    runtime
}

/// Runs `argv` in the enclave with stdout on a pipe; returns (status, stdout).
fn run(runtime: &EnclaveRuntime, argv: &[&str]) -> Result<(ExitStatus, String), pal::Error> {
    let (read, write) = nix::unistd::pipe().unwrap();
    let devnull = std::fs::File::open("/dev/null").unwrap();
    let stderr = std::io::stderr();
    let pid = runtime.create_process(
        Path::new("/bin/busybox"),
        argv,
        &["PATH=/bin"],
        StdioFds::new(devnull.as_fd(), write.as_fd(), stderr.as_fd()),
    )?;
    drop(write);
    let status = runtime.exec(pid)?;
    let mut out = String::new();
    std::fs::File::from(read).read_to_string(&mut out).unwrap();
    Ok((status, out))
}

#[test]
fn runs_busybox_from_a_signed_image() {
    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = Fixture::new(ARGS) else { return };
    fx.sign(&SignOptions::default());
    let runtime = open(&fx);
    runtime.init(&fx.init_args(), LogLevel::Info, None).unwrap();
    let (status, out) = run(&runtime, ARGS).unwrap();
    assert_eq!(out, "hi\n");
    assert_eq!(status.code(), 3);

    // A local report targeted at the sim QE quotes and verifies as sim, with this image's
    // measurement.
    let report = runtime.local_report(&qe_target_info().encode()).unwrap();
    let platform = Platform::load(&fx.platform_dir()).unwrap();
    let quote = platform.quote(&report).unwrap();
    let claims = platform
        .verifier()
        .unwrap()
        .verify(&quote, SystemTime::now())
        .unwrap();
    assert_eq!(claims.tee, TeeKind::Sim);
    let measured = measure_bundle(&fx.bundle()).unwrap();
    assert_eq!(
        claims.measurements,
        Measurements::Sgx {
            mrenclave: measured.mrenclave,
            mrsigner: measured.mrsigner
        }
    );
    assert_eq!(claims.report_data, [0; 64]);

    // argv outside the signed policy is refused.
    let err = run(&runtime, &["busybox", "sh", "-c", "id"]).unwrap_err();
    assert!(err.to_string().contains("pal_create_process"), "{err}");
    runtime.destroy().unwrap();
}

#[test]
fn signals_reach_the_workload() {
    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = Fixture::new(ARGS) else { return };
    fx.sign(&SignOptions {
        argv: Some(ArgvPolicy::Any),
        ..SignOptions::default()
    });
    let runtime = open(&fx);
    runtime
        .init(&fx.init_args(), LogLevel::Warning, None)
        .unwrap();
    let (status, _) = run(&runtime, &["busybox", "sh", "-c", "kill -TERM $$"]).unwrap();
    assert_eq!(status.code(), 128 + libc::SIGTERM);

    let stdio = StdioFds::inherit();
    let pid = runtime
        .create_process(
            Path::new("/bin/sh"),
            &["busybox", "sleep", "30"],
            &["PATH=/bin"],
            stdio,
        )
        .unwrap();
    runtime.kill(pid, libc::SIGKILL).unwrap();
    assert_eq!(runtime.exec(pid).unwrap().code(), 128 + libc::SIGKILL);

    let pid = runtime
        .create_process(
            Path::new("/bin/sh"),
            &["busybox", "sleep", "30"],
            &["PATH=/bin"],
            StdioFds::inherit(),
        )
        .unwrap();
    runtime.kill(Pid::ALL, libc::SIGUSR1).unwrap();
    assert_eq!(runtime.exec(pid).unwrap().code(), 128 + libc::SIGUSR1);
    assert!(
        runtime.kill(pid, libc::SIGTERM).is_err(),
        "a waited process is gone"
    );

    // pal_kill from another thread while pal_exec blocks, as `rune kill` does.
    let pid = runtime
        .create_process(
            Path::new("/bin/sh"),
            &["busybox", "sleep", "30"],
            &["PATH=/bin"],
            StdioFds::inherit(),
        )
        .unwrap();
    let status = std::thread::scope(|s| {
        let waiter = s.spawn(|| runtime.exec(pid).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(200));
        runtime.kill(Pid::CURRENT, libc::SIGTERM).unwrap();
        waiter.join().unwrap()
    });
    assert_eq!(status.code(), 128 + libc::SIGTERM);
    runtime.destroy().unwrap();
}

#[test]
fn a_changed_trusted_file_is_refused_at_create_process() {
    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = Fixture::new(ARGS) else { return };
    fx.sign(&SignOptions::default());
    let busybox = fx.rootfs().join("bin/busybox");
    let mut bytes = std::fs::read(&busybox).unwrap();
    bytes.push(0);
    std::fs::write(&busybox, bytes).unwrap();
    let runtime = open(&fx);
    // pal_init only checks the image itself; the files are checked at pal_create_process.
    runtime.init(&fx.init_args(), LogLevel::Info, None).unwrap();
    let err = run(&runtime, ARGS).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("pal_create_process"), "{text}");
    assert!(
        text.contains(&libc::EACCES.to_string())
            || text.to_lowercase().contains("permission denied"),
        "{text}"
    );
    runtime.destroy().unwrap();
}

#[test]
fn init_refuses_unsigned_mismatched_and_handover() {
    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = Fixture::new(ARGS) else { return };
    let runtime = open(&fx);
    let err = runtime
        .init(&fx.init_args(), LogLevel::Off, None)
        .unwrap_err();
    assert!(err.to_string().contains("pal_init"), "{err}");

    let signed = fx.sign(&SignOptions::default());
    let text = std::fs::read_to_string(&signed.manifest_path).unwrap();
    std::fs::write(
        &signed.manifest_path,
        text.replace("\"debug\": false", "\"debug\": true"),
    )
    .unwrap();
    assert!(runtime.init(&fx.init_args(), LogLevel::Off, None).is_err());

    fx.sign(&SignOptions::default());
    let err = runtime
        .init(&format!("{} bogus=1", fx.init_args()), LogLevel::Off, None)
        .unwrap_err();
    assert!(err.to_string().contains("pal_init"), "{err}");

    let file = std::fs::File::open("/dev/null").unwrap();
    let handover = pal::Handover {
        fd: file.as_fd(),
        addr: 0x1000,
    };
    assert!(runtime
        .init(&fx.init_args(), LogLevel::Off, Some(handover))
        .is_err());

    runtime.init(&fx.init_args(), LogLevel::Off, None).unwrap();
    runtime.destroy().unwrap();
}

#[test]
fn fd_arguments_become_close_on_exec_and_the_report_extension_works() {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    use std::os::fd::AsRawFd;

    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = Fixture::new(ARGS) else { return };
    let signed = fx.sign(&SignOptions::default());
    let runtime = open(&fx);
    let manifest = std::fs::File::open(&signed.manifest_path).unwrap();
    let sigstruct = std::fs::File::open(&signed.sigstruct_path).unwrap();
    let platform_dir = nix::fcntl::open(
        &fx.platform_dir(),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let fds = [manifest.as_raw_fd(), sigstruct.as_raw_fd(), platform_dir];
    for fd in fds {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
    }
    // What rune passes: the user's args, then the image and platform fds.
    let args = format!(
        "no-epm manifest=/proc/self/fd/{} sigstruct=/proc/self/fd/{} platform=/proc/self/fd/{} root={}",
        fds[0],
        fds[1],
        fds[2],
        fx.rootfs().display()
    );
    runtime.init(&args, LogLevel::Info, None).unwrap();
    for fd in fds {
        let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
        assert!(
            flags.contains(FdFlag::FD_CLOEXEC),
            "fd {fd} must not leak into the workload"
        );
    }

    type GetReport = unsafe extern "C" fn(*const u8, *const u8, *mut u8) -> libc::c_int;
    // SAFETY: loading the same library the runtime already loaded runs no new initialisers.
    let library = unsafe { libloading::Library::new(cdylib()) }.unwrap();
    // SAFETY: erpal_sim_get_report has exactly the GetReport signature (crate ffi module doc).
    let get_report = unsafe { library.get::<GetReport>(b"erpal_sim_get_report\0") }.unwrap();
    let target = qe_target_info().encode();
    let data = [7u8; 64];
    let mut report = [0u8; 432];
    // SAFETY: the pointers are to live locals of the sizes the extension documents.
    let rc = unsafe { get_report(target.as_ptr(), data.as_ptr(), report.as_mut_ptr()) };
    assert_eq!(rc, 0);
    let platform = Platform::load(&fx.platform_dir()).unwrap();
    let parsed = sgx::Report::parse(&report).unwrap();
    sgx::verify_report(platform.secret(), &parsed, &qe_target_info()).unwrap();
    assert_eq!(parsed.body.report_data, data);
    assert_eq!(parsed.body.mr_enclave, signed.measurement.mrenclave);
    assert_eq!(parsed.body.mr_signer, signed.measurement.mrsigner);
    // SAFETY: null inputs are refused by the extension, not dereferenced.
    let rc = unsafe { get_report(std::ptr::null(), data.as_ptr(), report.as_mut_ptr()) };
    assert_eq!(rc, -1);
    runtime.destroy().unwrap();
    nix::unistd::close(platform_dir).unwrap();
}

#[test]
fn the_workload_is_hardened() {
    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let script = "ulimit -c; grep NoNewPrivs /proc/self/status; stat -c %u /proc/self/status";
    let args = ["busybox", "sh", "-c", script];
    let Some(fx) = Fixture::new(&args) else {
        return;
    };
    fx.sign(&SignOptions::default());
    let runtime = open(&fx);
    runtime
        .init(&fx.init_args(), LogLevel::Warning, None)
        .unwrap();
    let (status, out) = run(&runtime, &args).unwrap();
    runtime.destroy().unwrap();
    assert_eq!(status.code(), 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "RLIMIT_CORE: {out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"],
        "{out}"
    );
    // A non-dumpable process's /proc files belong to root. For a root workload that proves
    // nothing (they would anyway), so only a non-root run checks it meaningfully.
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0 {
        eprintln!(
            "running as root: /proc ownership cannot show dumpability; run as non-root to check it"
        );
    }
    assert_eq!(lines[2], "0", "workload must be non-dumpable: {out}");
}

/// A handover built by hand as epm builds it: every trusted file measured in the fixture's
/// rootfs, the entrypoint's bytes in a sealed memfd.
fn handover_for(fx: &Fixture, signed: &erpal_sim::SignedImage) -> erpal_sim::handover::Header {
    use erpal_sim::handover::{FileIdentity, FileRecord, Header, FORMAT};
    let files = signed
        .manifest
        .trusted_files()
        .iter()
        .map(|f| {
            let host = erpal_sim::rootfs::host_path(&fx.rootfs(), Path::new(&f.path));
            let file = std::fs::File::open(host).unwrap();
            FileRecord {
                path: f.path.clone(),
                sha256: erpal_sim::hash::sha256_reader(&file).unwrap().0,
                identity: FileIdentity::of(&file).unwrap(),
            }
        })
        .collect();
    Header {
        format: FORMAT.to_owned(),
        tee: "sim".to_owned(),
        mr_enclave: erpal_sim::manifest::Sha256Digest(signed.measurement.mrenclave),
        mr_signer: erpal_sim::manifest::Sha256Digest(signed.measurement.mrsigner),
        tenant: "host".to_owned(),
        entrypoint: signed.manifest.entrypoint().to_owned(),
        files,
        verified_image: Some(image_digest(signed)),
    }
}

/// The digest of the image files `signed` wrote, as epm takes it from the bytes it verified.
fn image_digest(signed: &erpal_sim::SignedImage) -> erpal_sim::measure::ImageDigest {
    erpal_sim::measure::ImageDigest::of(
        &std::fs::read(&signed.manifest_path).unwrap(),
        &std::fs::read(&signed.sigstruct_path).unwrap(),
    )
}

fn package(fx: &Fixture, header: &erpal_sim::handover::Header) -> std::os::fd::OwnedFd {
    use std::io::Write;
    let bytes = std::fs::read(fx.rootfs().join("bin/busybox")).unwrap();
    let (memfd, ()) =
        erpal_sim::handover::sealed_memfd(c"test-entrypoint", |f| f.write_all(&bytes)).unwrap();
    erpal_sim::handover::package(header, memfd.as_fd()).unwrap()
}

fn init_with(
    runtime: &EnclaveRuntime,
    fx: &Fixture,
    fd: &std::os::fd::OwnedFd,
) -> Result<(), pal::Error> {
    let handover = pal::Handover {
        fd: fd.as_fd(),
        addr: erpal_sim::handover::HANDOVER_ADDR,
    };
    runtime.init(&fx.init_args(), LogLevel::Info, Some(handover))
}

#[test]
fn a_handover_runs_the_image_and_is_checked_against_it() {
    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = Fixture::new(ARGS) else { return };
    let signed = fx.sign(&SignOptions::default());
    let runtime = open(&fx);

    // Built for another image: refused at pal_init, and pal_init may be called again.
    let mut other = handover_for(&fx, &signed);
    other.mr_enclave.0[0] ^= 1;
    let err = init_with(&runtime, &fx, &package(&fx, &other)).unwrap_err();
    assert!(err.to_string().contains("pal_init"), "{err}");
    let mut other = handover_for(&fx, &signed);
    other.mr_signer.0[0] ^= 1;
    assert!(init_with(&runtime, &fx, &package(&fx, &other)).is_err());

    // The right one runs the workload.
    let fd = package(&fx, &handover_for(&fx, &signed));
    init_with(&runtime, &fx, &fd).unwrap();
    let (status, out) = run(&runtime, ARGS).unwrap();
    assert_eq!((status.code(), out.as_str()), (3, "hi\n"));
    // Used once: a second process is measured again and still runs.
    let (status, _) = run(&runtime, ARGS).unwrap();
    assert_eq!(status.code(), 3);
    runtime.destroy().unwrap();
}

#[test]
fn a_handover_vouches_for_exactly_the_image_bytes_epm_verified() {
    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = Fixture::new(ARGS) else { return };
    let signed = fx.sign(&SignOptions::default());
    let runtime = open(&fx);
    let verified_by_epm = handover_for(&fx, &signed);
    // The SIGSTRUCT rune hands pal_init now has a broken signature (a byte of it flipped).
    let mut sigstruct = std::fs::read(&signed.sigstruct_path).unwrap();
    sigstruct[600] ^= 1;
    std::fs::write(&signed.sigstruct_path, &sigstruct).unwrap();

    // A handover for the bytes epm verified does not cover these: verified in full, refused.
    // (The reason, the signature, is checked through the library in tests/image.rs.)
    assert!(init_with(&runtime, &fx, &package(&fx, &verified_by_epm)).is_err());
    let mut older_epm = verified_by_epm.clone();
    older_epm.verified_image = None;
    assert!(init_with(&runtime, &fx, &package(&fx, &older_epm)).is_err());

    // A handover naming these very bytes is epm's word that it verified them (epm does, at
    // every hand-out): pal_init takes it and does not verify them again. That this bad
    // signature passes shows the verification is skipped exactly then.
    let mut vouched = verified_by_epm;
    vouched.verified_image = Some(image_digest(&signed));
    init_with(&runtime, &fx, &package(&fx, &vouched)).unwrap();
    let (status, out) = run(&runtime, ARGS).unwrap();
    assert_eq!((status.code(), out.as_str()), (3, "hi\n"));
    runtime.destroy().unwrap();
}

#[test]
fn a_file_changed_after_the_handover_was_measured_is_refused() {
    let _guard = PAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = Fixture::new(ARGS) else { return };
    let signed = fx.sign(&SignOptions::default());
    let runtime = open(&fx);
    let fd = package(&fx, &handover_for(&fx, &signed));
    // Same size, same mtime, other content: only the ctime (which user space cannot set)
    // tells, and it must be enough.
    let config = fx.rootfs().join("etc/app/config");
    let mtime = std::fs::metadata(&config).unwrap().modified().unwrap();
    std::fs::write(&config, b"greeting=ho\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&config)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    init_with(&runtime, &fx, &fd).unwrap();
    let err = run(&runtime, ARGS).unwrap_err();
    assert!(
        err.to_string().contains(&libc::EACCES.to_string())
            || err.to_string().to_lowercase().contains("permission denied"),
        "{err}"
    );
    runtime.destroy().unwrap();
}
