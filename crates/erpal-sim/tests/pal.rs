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

/// target/<profile>/liberpal_sim.so, next to the directory of this test binary (deps/).
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("liberpal_sim.so");
    assert!(
        path.exists(),
        "{} is missing: cargo builds it with the tests of erpal-sim (cargo test -p erpal-sim)",
        path.display()
    );
    path
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
