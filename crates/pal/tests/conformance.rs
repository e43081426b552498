//! ABI conformance against C: the PALs in `tests/c/` are compiled with the system C compiler,
//! loaded through the loader, and made to run real programs (`/bin/sh`), so the structs, the
//! calling convention, version negotiation and both exit value conventions are proven against
//! a C implementation rather than only against our own Rust.
//!
//! No root needed. Every test compiles its own copy of a PAL (a new file name), because the
//! dynamic loader shares one instance, globals included, per file, and tests run in parallel.

#[allow(dead_code)]
#[path = "../src/test_support.rs"]
mod test_support;

use std::ffi::c_int;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use pal::{
    EnclaveRuntime, Error, ExitStatus, ExitValueKind, Handover, LogLevel, Pid, SignalError,
    SignalPolicy, StdioFds,
};
use tempfile::TempDir;

const SH: &str = "/bin/sh";

/// A compiled copy of one C PAL in its own temporary directory.
struct Built {
    _dir: TempDir,
    path: PathBuf,
}

fn build(name: &str) -> Built {
    build_with(name, &[])
}

fn build_with(name: &str, defines: &[&str]) -> Built {
    let dir = tempfile::tempdir().expect("temp dir");
    let path =
        test_support::compile_c_pal_with(&test_support::c_pal_source(name), dir.path(), defines)
            .unwrap_or_else(|error| panic!("building {name}: {error}"));
    Built { _dir: dir, path }
}

/// Loads and initialises a PAL with the exit value kind its C source documents.
fn start(name: &str) -> (Built, EnclaveRuntime) {
    let built = build(name);
    let kind = match name {
        "pal_v2" => ExitValueKind::WaitStatus,
        _ => ExitValueKind::PlainCode,
    };
    let runtime = EnclaveRuntime::open(&built.path)
        .expect("open")
        .with_exit_value_kind(kind);
    runtime.init("", LogLevel::Info, None).expect("pal_init");
    (built, runtime)
}

/// What a workload did.
#[derive(Debug)]
struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn cloexec_pipe() -> (OwnedFd, OwnedFd) {
    pipe2(OFlag::O_CLOEXEC).expect("pipe2")
}

/// Runs `argv` (argv[0] is the program path) under `runtime`, with `stdin` fed through a pipe
/// and stdout/stderr captured through pipes.
fn run(runtime: &EnclaveRuntime, argv: &[&str], env: &[&str], stdin: &[u8]) -> Outcome {
    let (in_r, in_w) = cloexec_pipe();
    let (out_r, out_w) = cloexec_pipe();
    let (err_r, err_w) = cloexec_pipe();
    File::from(in_w).write_all(stdin).expect("feeding stdin");
    let pid = runtime
        .create_process(
            Path::new(argv[0]),
            argv,
            env,
            StdioFds::new(in_r.as_fd(), out_w.as_fd(), err_w.as_fd()),
        )
        .expect("create_process");
    // Keep the fds open across exec (v1 uses them there), then close our ends so the reads below
    // see EOF once the workload is gone.
    let status = runtime.exec(pid).expect("exec");
    drop((in_r, out_w, err_w));
    let mut stdout = String::new();
    File::from(out_r)
        .read_to_string(&mut stdout)
        .expect("stdout");
    let mut stderr = String::new();
    File::from(err_r)
        .read_to_string(&mut stderr)
        .expect("stderr");
    Outcome {
        status,
        stdout,
        stderr,
    }
}

fn sh(script: &str) -> Vec<&str> {
    vec![SH, "-c", script, "sh"]
}

// ---- versions and loading ----

#[test]
fn versions_are_negotiated() {
    for (name, version) in [("pal_v1", 1), ("pal_v2", 2), ("pal_v3", 3)] {
        let built = build(name);
        let runtime = EnclaveRuntime::open(&built.path).expect("open");
        assert_eq!(runtime.version(), version, "{name}");
        assert_eq!(runtime.has_local_report(), name == "pal_v3", "{name}");
    }
}

#[test]
fn version_4_is_refused() {
    let built = build("pal_bad_version");
    let err = EnclaveRuntime::open(&built.path).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { version: 4, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} reports PAL API version 4; rune supports 1 to 3",
            built.path.display()
        )
    );
}

#[test]
fn versions_below_1_are_refused() {
    for version in [0, -1] {
        let built = build_with("pal_bad_version", &[&format!("PAL_VERSION={version}")]);
        let err = EnclaveRuntime::open(&built.path).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedVersion { version: v, .. } if v == version),
            "{err:?}"
        );
    }
}

#[test]
fn missing_symbol_is_named() {
    let built = build("pal_missing_kill");
    let err = EnclaveRuntime::open(&built.path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a PAL: missing symbol pal_kill (required by PAL API v2)",
            built.path.display()
        )
    );
}

#[test]
fn missing_path_is_clear() {
    let err = EnclaveRuntime::open("/nonexistent/liberpal-x.so").unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "enclave runtime /nonexistent/liberpal-x.so does not exist"
    );
}

#[test]
fn non_elf_file_is_clear() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("liberpal-text.so");
    std::fs::write(&text, "#!/bin/sh\necho not a library\n").unwrap();
    let err = EnclaveRuntime::open(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} is not a PAL: not an ELF shared object", text.display())
    );
    let empty = dir.path().join("empty.so");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        EnclaveRuntime::open(&empty).unwrap_err(),
        Error::NotElf { .. }
    ));
}

#[test]
fn elf_that_dlopen_refuses_keeps_the_dlerror_as_source() {
    // An ELF file with a valid magic but nothing loadable after it.
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("truncated.so");
    std::fs::write(&bogus, b"\x7fELF\x02\x01\x01").unwrap();
    let err = EnclaveRuntime::open(&bogus).unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot load enclave runtime {}", bogus.display())
    );
    let source = std::error::Error::source(&err)
        .expect("dlerror source")
        .to_string();
    assert!(source.contains("truncated.so"), "{source}");
}

#[test]
fn directory_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = EnclaveRuntime::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
}

#[test]
fn loads_from_an_open_fd() {
    let built = build("pal_v3");
    let file = File::open(&built.path).unwrap();
    let runtime = EnclaveRuntime::open_fd(file.as_fd()).expect("open_fd");
    // The fd is only needed while loading.
    drop(file);
    assert_eq!(runtime.version(), 3);
    assert!(runtime.path().starts_with("/proc/self/fd/"));
    runtime.init("", LogLevel::Info, None).unwrap();
    let outcome = run(&runtime, &sh("echo from-fd; exit 3"), &[], b"");
    assert_eq!(outcome.stdout, "from-fd\n");
    assert_eq!(outcome.status.code(), 3);
}

#[test]
fn relative_path_without_slash_is_not_searched() {
    let err = EnclaveRuntime::open("libc.so.6").unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

// ---- running workloads ----

#[test]
fn argv_with_spaces_and_empty_strings_arrives_intact() {
    for name in ["pal_v1", "pal_v2", "pal_v3"] {
        let (_built, runtime) = start(name);
        let mut argv = sh(r#"for a in "$@"; do printf '[%s]' "$a"; done"#);
        argv.extend(["a b", "", "  ", "ünïcödé", "last"]);
        let outcome = run(&runtime, &argv, &["PATH=/bin:/usr/bin"], b"");
        assert_eq!(outcome.stdout, "[a b][][  ][ünïcödé][last]", "{name}");
        assert!(outcome.status.success(), "{name}: {outcome:?}");
    }
}

#[test]
fn env_arrives_exactly() {
    for name in ["pal_v2", "pal_v3"] {
        let (_built, runtime) = start(name);
        let env = ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "X=1=2"];
        let outcome = run(&runtime, &sh("env | sort"), &env, b"");
        // /bin/sh may add PWD, SHLVL or `_`; ours must be there, and nothing from the test
        // process (its HOME, PATH, CARGO_* variables) may leak in.
        let lines: Vec<&str> = outcome.stdout.lines().collect();
        for expected in env {
            assert!(lines.contains(&expected), "{name}: {lines:?}");
        }
        assert!(
            !lines.iter().any(|l| l.starts_with("CARGO")),
            "{name}: {lines:?}"
        );
    }
}

#[test]
fn stdio_goes_to_the_given_fds() {
    for name in ["pal_v1", "pal_v2", "pal_v3"] {
        let (_built, runtime) = start(name);
        let outcome = run(
            &runtime,
            &sh("read line; echo \"out:$line\"; echo \"err:$line\" >&2"),
            &[],
            b"hello\n",
        );
        assert_eq!(outcome.stdout, "out:hello\n", "{name}");
        assert_eq!(outcome.stderr, "err:hello\n", "{name}");
    }
}

#[test]
fn exit_codes_come_back_under_both_conventions() {
    for name in ["pal_v1", "pal_v2", "pal_v3"] {
        let (_built, runtime) = start(name);
        for code in [0u8, 3, 42] {
            let outcome = run(&runtime, &sh(&format!("exit {code}")), &[], b"");
            assert_eq!(outcome.status, ExitStatus::Exited(code), "{name}");
            assert_eq!(outcome.status.code(), i32::from(code), "{name}");
        }
    }
}

#[test]
fn self_kill_is_128_plus_signal() {
    for name in ["pal_v1", "pal_v2", "pal_v3"] {
        let (_built, runtime) = start(name);
        let outcome = run(&runtime, &sh("kill -TERM $$"), &[], b"");
        assert_eq!(outcome.status.code(), 128 + libc_sig("TERM"), "{name}");
        let outcome = run(&runtime, &sh("kill -KILL $$"), &[], b"");
        assert_eq!(outcome.status.code(), 128 + libc_sig("KILL"), "{name}");
    }
}

#[test]
fn wait_status_pal_reports_the_signal_itself() {
    let (_built, runtime) = start("pal_v2");
    let outcome = run(&runtime, &sh("kill -TERM $$"), &[], b"");
    assert_eq!(
        outcome.status,
        ExitStatus::Signaled {
            signal: libc_sig("TERM"),
            core_dumped: false
        }
    );
}

#[test]
fn pal_kill_sigterm_stops_a_running_workload() {
    for name in ["pal_v2", "pal_v3"] {
        let (_built, runtime) = start(name);
        let status = spawn_sleep_then(&runtime, |runtime, pid| {
            runtime.kill(pid, libc_sig("TERM")).expect("pal_kill");
        });
        assert_eq!(status.code(), 143, "{name}");
    }
}

#[test]
fn pal_kill_current_and_all() {
    let (_built, runtime) = start("pal_v3");
    let status = spawn_sleep_then(&runtime, |runtime, _| {
        runtime.kill(Pid::CURRENT, libc_sig("KILL")).unwrap();
    });
    assert_eq!(status.code(), 137);
    let status = spawn_sleep_then(&runtime, |runtime, _| {
        runtime.kill(Pid::ALL, libc_sig("TERM")).unwrap();
    });
    assert_eq!(status.code(), 143);
}

#[test]
fn occlum_like_pal_refuses_other_signals_and_the_policy_catches_it_first() {
    let (_built, runtime) = start("pal_v2");
    let runtime = runtime.with_signal_policy(SignalPolicy::Forward);
    let status = spawn_sleep_then(&runtime, |runtime, pid| {
        // Forwarded as is: the C PAL refuses it, like Occlum, with EINVAL.
        let err = runtime.kill(pid, libc_sig("USR1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "pal_kill in {} failed: returned -1 (errno 22: Invalid argument)",
                runtime.path().display()
            )
        );
        runtime.kill(pid, libc_sig("KILL")).unwrap();
    });
    assert_eq!(status.code(), 137);

    let runtime = runtime.with_signal_policy(SignalPolicy::KillTermOnly);
    let status = spawn_sleep_then(&runtime, |runtime, pid| {
        let err = runtime.kill(pid, libc_sig("USR1")).unwrap_err();
        let Error::Signal { source, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(matches!(source, SignalError::Refused { .. }));
        runtime.kill(pid, libc_sig("TERM")).unwrap();
    });
    assert_eq!(status.code(), 143);

    let runtime = runtime.with_signal_policy(SignalPolicy::KillTermMapped);
    let status = spawn_sleep_then(&runtime, |runtime, pid| {
        runtime.kill(pid, libc_sig("INT")).unwrap();
    });
    assert_eq!(status.code(), 143, "SIGINT is delivered as SIGTERM");
}

#[test]
fn v1_has_no_kill() {
    let (_built, runtime) = start("pal_v1");
    let err = runtime.kill(Pid::CURRENT, libc_sig("TERM")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "pal_kill is not available in PAL API v1 ({})",
            runtime.path().display()
        )
    );
}

#[test]
fn wrong_exit_value_kind_is_detected() {
    // A wait-status PAL configured as plain-code: exit 3 arrives as 0x300.
    let (_built, runtime) = start("pal_v2");
    let runtime = runtime.with_exit_value_kind(ExitValueKind::PlainCode);
    let pid = runtime
        .create_process(
            Path::new(SH),
            &sh("exit 3"),
            &[] as &[&str],
            StdioFds::inherit(),
        )
        .unwrap();
    let err = runtime.exec(pid).unwrap_err();
    assert!(matches!(err, Error::ExitValue { .. }), "{err:?}");
}

#[test]
fn interior_nul_is_refused_before_any_process_starts() {
    let (_built, runtime) = start("pal_v3");
    let err = runtime
        .create_process(
            Path::new(SH),
            &[SH, "-c", "bad\0arg"],
            &[] as &[&str],
            StdioFds::inherit(),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "argv[2] contains a NUL byte at offset 3");
    let err = runtime
        .create_process(Path::new(SH), &[SH], &["K=v\0"], StdioFds::inherit())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "env[0] (K) contains a NUL byte at offset 3"
    );
}

#[test]
fn missing_program_is_exit_127() {
    let (_built, runtime) = start("pal_v3");
    let outcome = run(&runtime, &["/nonexistent/program"], &[], b"");
    assert_eq!(outcome.status.code(), 127);
}

// ---- pal_init and the attribute structs ----

#[test]
fn init_failure_names_call_path_and_errno() {
    for name in ["pal_v1", "pal_v2", "pal_v3"] {
        let built = build(name);
        let runtime = EnclaveRuntime::open(&built.path).unwrap();
        let err = runtime.init("fail-init", LogLevel::Info, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "pal_init in {} failed: returned -1 (errno 22: Invalid argument)",
                built.path.display()
            ),
            "{name}"
        );
        // A failed init can be retried.
        runtime.init("", LogLevel::Info, None).expect("second init");
    }
}

#[test]
fn log_level_and_args_reach_c() {
    for name in ["pal_v1", "pal_v2", "pal_v3"] {
        let built = build(name);
        let runtime = EnclaveRuntime::open(&built.path).unwrap();
        let err = runtime
            .init("expect-level=debug", LogLevel::Warning, None)
            .unwrap_err();
        assert!(
            matches!(err, Error::CallFailed { errno: Some(e), .. } if e == nix::libc::EPROTO),
            "{name}: {err:?}"
        );
        runtime
            .init("one expect-level=debug two", LogLevel::Debug, None)
            .expect(name);
    }
}

#[test]
fn v3_init_gets_fd_minus_1_and_addr_0_without_handover() {
    let built = build("pal_v3");
    let runtime = EnclaveRuntime::open(&built.path).unwrap();
    // pal_v3.c refuses any other fd/addr when expect-fd/expect-addr are absent.
    runtime.init("", LogLevel::Info, None).unwrap();
}

#[test]
fn v3_init_gets_the_handed_over_enclave() {
    let built = build("pal_v3");
    let runtime = EnclaveRuntime::open(&built.path).unwrap();
    let file = File::open(&built.path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let addr = 0x7f12_3456_7000_u64;
    let handover = Handover {
        fd: file.as_fd(),
        addr,
    };
    let wrong = format!("expect-fd={fd} expect-addr={:x}", addr + 0x1000);
    assert!(runtime
        .init(&wrong, LogLevel::Info, Some(handover))
        .is_err());
    let right = format!("expect-fd={fd} expect-addr={addr:x}");
    runtime
        .init(&right, LogLevel::Info, Some(handover))
        .expect("handover fields arrive");
}

#[test]
fn handover_needs_v3() {
    let built = build("pal_v2");
    let runtime = EnclaveRuntime::open(&built.path).unwrap();
    let file = File::open(&built.path).unwrap();
    let err = runtime
        .init(
            "",
            LogLevel::Info,
            Some(Handover {
                fd: file.as_fd(),
                addr: 1,
            }),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::NotInVersion { version: 2, .. }),
        "{err:?}"
    );
}

// ---- local report ----

#[test]
fn local_report_round_trips_through_c() {
    let (_built, runtime) = start("pal_v3");
    let mut targetinfo = [0u8; 512];
    for (i, byte) in targetinfo.iter_mut().enumerate() {
        *byte = u8::try_from(i % 251).unwrap();
    }
    let report = runtime.local_report(&targetinfo).expect("local report");
    assert_eq!(report[..64], targetinfo[..64]);
    assert!(report[64..431].iter().all(|&b| b == 0));
    assert_eq!(report[431], 0x5a);
}

#[test]
fn local_report_needs_v3() {
    let (_built, runtime) = start("pal_v2");
    let err = runtime.local_report(&[0; 512]).unwrap_err();
    assert!(matches!(err, Error::NotInVersion { .. }), "{err:?}");
}

// ---- call order ----

#[test]
fn calls_out_of_order_are_errors_not_crashes() {
    let built = build("pal_v3");
    let runtime = EnclaveRuntime::open(&built.path).unwrap();
    let err = runtime
        .create_process(Path::new(SH), &[SH], &[] as &[&str], StdioFds::inherit())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "pal_create_process on {} called before pal_init",
            built.path.display()
        )
    );
    runtime.destroy().expect("destroy before init is a no-op");
    runtime.init("", LogLevel::Info, None).unwrap();
    assert!(matches!(
        runtime.init("", LogLevel::Info, None).unwrap_err(),
        Error::OutOfOrder { .. }
    ));
    runtime.destroy().unwrap();
    assert!(matches!(
        runtime.destroy().unwrap_err(),
        Error::OutOfOrder { .. }
    ));
    assert!(matches!(
        runtime.exec(Pid::from_raw(1)).unwrap_err(),
        Error::OutOfOrder { .. }
    ));
}

#[test]
fn v1_exec_without_create_is_out_of_order() {
    let (_built, runtime) = start("pal_v1");
    let err = runtime.exec(Pid::CURRENT).unwrap_err();
    assert!(matches!(err, Error::OutOfOrder { .. }), "{err:?}");
}

#[test]
fn drop_destroys_and_reaps_the_workload() {
    let (_built, runtime) = start("pal_v3");
    let pid = runtime
        .create_process(
            Path::new(SH),
            &sh("sleep 30"),
            &[] as &[&str],
            StdioFds::inherit(),
        )
        .unwrap();
    let host_pid = nix::unistd::Pid::from_raw(pid.as_raw());
    assert!(nix::sys::signal::kill(host_pid, None).is_ok());
    // pal_v3.c's pal_destroy kills and reaps what is left; Drop must call it.
    drop(runtime);
    assert_eq!(
        nix::sys::signal::kill(host_pid, None),
        Err(nix::errno::Errno::ESRCH)
    );
}

// ---- helpers ----

/// Starts `sleep 30` through `runtime`, runs `action` from another thread while `exec` blocks,
/// and returns the exit status.
fn spawn_sleep_then(
    runtime: &EnclaveRuntime,
    action: impl FnOnce(&EnclaveRuntime, Pid) + Send,
) -> ExitStatus {
    let pid = runtime
        .create_process(
            Path::new(SH),
            &sh("exec sleep 30"),
            &["PATH=/bin:/usr/bin"],
            StdioFds::inherit(),
        )
        .expect("create_process");
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| runtime.exec(pid));
        // Give exec a moment to block; correctness does not depend on it (the signal reaches
        // the child whether or not pal_exec is waiting yet).
        std::thread::sleep(Duration::from_millis(50));
        action(runtime, pid);
        waiter.join().expect("exec thread").expect("exec")
    })
}

fn libc_sig(name: &str) -> c_int {
    match name {
        "INT" => nix::libc::SIGINT,
        "KILL" => nix::libc::SIGKILL,
        "USR1" => nix::libc::SIGUSR1,
        "TERM" => nix::libc::SIGTERM,
        _ => panic!("unknown signal {name}"),
    }
}
