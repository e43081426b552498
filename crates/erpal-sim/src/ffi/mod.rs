//! The exported PAL API v3 symbols of `liberpal-sim.so` (DESIGN §3.3) and the one extension,
//! `erpal_sim_get_report`. This module and its `sys` submodule are the crate's only `unsafe` code.
//!
//! Each export is thin: [`pal::export::ffi_boundary`] (no panic crosses into C; an error is
//! logged and becomes -1 with errno), the `pal::export` converters (null checks, size caps,
//! UTF-8), then a safe call into the crate's `runtime` module.
//!
//! Extension, for `rune attest --report-data`:
//!
//! ```c
//! /* 0 on success; report_data may be NULL (64 zero bytes). */
//! int erpal_sim_get_report(const void *targetinfo /* 512 B */,
//!                          const void *report_data /* 64 B */,
//!                          void *report /* 432 B out */);
//! ```
//!
//! `pal_get_local_report` is `erpal_sim_get_report` with zero REPORTDATA, since the PAL API
//! has no report-data parameter.

#![allow(unsafe_code)]

pub(crate) mod sys;

use std::ffi::{c_int, c_void};
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use pal::export::{
    create_process_args, exec_args, ffi_boundary, init_attr_v3, local_report_args, ConvertError,
    Limits, PalAttrV3, PalCreateProcessArgs, PalError, PalExecArgs, REPORT_SIZE, TARGETINFO_SIZE,
};

use crate::enclave::EnclaveError;
use crate::runtime;

/// The PAL API version this runtime implements.
pub const PAL_VERSION: c_int = 3;

/// `int pal_get_version(void)`: 3.
#[no_mangle]
pub extern "C" fn pal_get_version() -> c_int {
    PAL_VERSION
}

/// `int pal_init(const pal_attr_v3_t *attr)`.
///
/// # Safety
///
/// `attr` is null or a valid `pal_attr_v3_t` whose strings are NUL-terminated (DESIGN §3.3).
#[no_mangle]
pub unsafe extern "C" fn pal_init(attr: *const PalAttrV3) -> c_int {
    ffi_boundary("pal_init", || {
        reported(|| {
            // SAFETY: the PAL API promises `attr` is null or a valid v3 attribute struct with
            // NUL-terminated strings for the duration of this call (this function's contract).
            let attr = unsafe { init_attr_v3(attr) }?;
            let handover = match attr.handover {
                Some((fd, _)) => dup_fd(fd, "pal_attr_v3_t.fd", "duplicating the handover fd")?,
                None => None,
            };
            runtime::init(attr, handover)?;
            Ok::<c_int, EnclaveError>(0)
        })
    })
}

/// `int pal_create_process(pal_create_process_args *args)`.
///
/// # Safety
///
/// `args` is null or valid as DESIGN §3.3 describes, for the duration of the call; the stdio
/// fds are open or negative (negative: inherit).
#[no_mangle]
pub unsafe extern "C" fn pal_create_process(args: *mut PalCreateProcessArgs) -> c_int {
    ffi_boundary("pal_create_process", || {
        reported(|| {
            // SAFETY: `args` is null or a valid pal_create_process_args whose pointers are valid
            // for this call (contract); the borrowed request does not outlive this closure.
            let request = unsafe { create_process_args(args, &Limits::DEFAULT) }?;
            let stdio = match request.stdio {
                Some(fds) => [
                    dup_fd(fds.stdin, "stdio.stdin", STDIO_STEP)?,
                    dup_fd(fds.stdout, "stdio.stdout", STDIO_STEP)?,
                    dup_fd(fds.stderr, "stdio.stderr", STDIO_STEP)?,
                ],
                None => [None, None, None],
            };
            let pid = runtime::create_process(&request.path, &request.argv, &request.env, stdio)?;
            *request.pid = pid;
            Ok::<c_int, EnclaveError>(0)
        })
    })
}

/// `int pal_exec(pal_exec_args *args)`: waits for `args->pid`, writes its plain exit code
/// (128 + n after signal n) to `*args->exit_value`.
///
/// # Safety
///
/// `args` is null or a valid `pal_exec_args` with a writable `exit_value`, for the call.
#[no_mangle]
pub unsafe extern "C" fn pal_exec(args: *mut PalExecArgs) -> c_int {
    ffi_boundary("pal_exec", || {
        reported(|| {
            // SAFETY: `args` is null or valid for this call (contract).
            let request = unsafe { exec_args(args) }?;
            *request.exit_value = runtime::exec(request.pid)?;
            Ok::<c_int, EnclaveError>(0)
        })
    })
}

/// `int pal_kill(int pid, int sig)`: -1 = every started process, 0 = the last started one.
#[no_mangle]
pub extern "C" fn pal_kill(pid: c_int, sig: c_int) -> c_int {
    ffi_boundary("pal_kill", || {
        reported(|| {
            runtime::kill(pid, sig)?;
            Ok::<c_int, EnclaveError>(0)
        })
    })
}

/// `int pal_destroy(void)`.
#[no_mangle]
pub extern "C" fn pal_destroy() -> c_int {
    ffi_boundary("pal_destroy", || {
        reported(|| {
            runtime::destroy()?;
            Ok::<c_int, EnclaveError>(0)
        })
    })
}

/// `int pal_get_local_report(void *targetinfo, int targetinfo_len, void *report,
/// int *report_len)`: a REPORT with zero REPORTDATA.
///
/// # Safety
///
/// `targetinfo` is null or readable for `targetinfo_len` bytes, `report_len` null or a
/// writable int, `report` null or writable for `*report_len` bytes, for the call.
#[no_mangle]
pub unsafe extern "C" fn pal_get_local_report(
    targetinfo: *mut c_void,
    targetinfo_len: c_int,
    report: *mut c_void,
    report_len: *mut c_int,
) -> c_int {
    ffi_boundary("pal_get_local_report", || {
        reported(|| {
            // SAFETY: forwarded contract; the converter checks lengths, nulls and overlap.
            let request =
                unsafe { local_report_args(targetinfo, targetinfo_len, report, report_len) }?;
            *request.report = runtime::report(request.targetinfo, [0; 64])?;
            *request.report_len = c_int::try_from(REPORT_SIZE).unwrap_or(c_int::MAX);
            Ok::<c_int, EnclaveError>(0)
        })
    })
}

/// Extension: `int erpal_sim_get_report(const void *targetinfo, const void *report_data,
/// void *report)` (see the module doc).
///
/// # Safety
///
/// `targetinfo` is null or readable for 512 bytes, `report_data` null or readable for 64
/// bytes, `report` null or writable for 432 bytes and not overlapping the inputs, for the call.
#[no_mangle]
pub unsafe extern "C" fn erpal_sim_get_report(
    targetinfo: *const c_void,
    report_data: *const c_void,
    report: *mut c_void,
) -> c_int {
    ffi_boundary("erpal_sim_get_report", || {
        reported(|| {
            let null = |field: &str| ConvertError::Null {
                field: field.to_owned(),
            };
            if targetinfo.is_null() {
                return Err(null("targetinfo").into());
            }
            if report.is_null() {
                return Err(null("report").into());
            }
            let mut target = [0u8; TARGETINFO_SIZE];
            // SAFETY: `targetinfo` is non-null and readable for 512 bytes (contract); we copy out
            // of it, so no reference to caller memory outlives this statement.
            target.copy_from_slice(unsafe {
                std::slice::from_raw_parts(targetinfo.cast::<u8>(), TARGETINFO_SIZE)
            });
            let mut data = [0u8; 64];
            if !report_data.is_null() {
                // SAFETY: non-null, so readable for 64 bytes (contract); copied out at once.
                data.copy_from_slice(unsafe {
                    std::slice::from_raw_parts(report_data.cast::<u8>(), 64)
                });
            }
            let out = runtime::report(&target, data)?;
            // SAFETY: `report` is non-null and writable for 432 bytes (contract); `out` is a local
            // array, so the regions do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(out.as_ptr(), report.cast::<u8>(), REPORT_SIZE)
            };
            Ok::<c_int, EnclaveError>(0)
        })
    })
}

/// An error as the PAL logs it: the whole cause chain on one line (rune only sees the errno,
/// so this log line is where a user learns which file or field failed).
#[derive(Debug)]
struct Reported(EnclaveError);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl PalError for Reported {
    fn errno(&self) -> c_int {
        self.0.errno()
    }
}

fn reported(body: impl FnOnce() -> Result<c_int, EnclaveError>) -> Result<c_int, Reported> {
    body().map_err(Reported)
}

const STDIO_STEP: &str = "duplicating a stdio fd";

/// Duplicates a caller's fd (close-on-exec), e.g. a stdio fd so the workload gets its own
/// copy; negative means none (stdio: inherit).
fn dup_fd(fd: RawFd, field: &str, step: &'static str) -> Result<Option<OwnedFd>, EnclaveError> {
    if fd < 0 {
        return Ok(None);
    }
    let bad = |source| EnclaveError::Spawn {
        path: field.to_owned(),
        step,
        source,
    };
    // Check the fd is open before borrowing it, so the borrow below is sound.
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)
        .map_err(|e| bad(std::io::Error::from(e)))?;
    // SAFETY: `fd` is open (checked just above) and the PAL API caller keeps it open for the
    // duration of pal_create_process; the borrow ends within this function.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned().map(Some).map_err(bad)
}
