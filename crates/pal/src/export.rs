//! The PAL side of the ABI: what a Rust `cdylib` (such as `liberpal-sim.so`) needs to implement
//! the PAL API, modelled on rustls-ffi's `ffi.rs` and `panic.rs`.
//!
//! This is the crate's PAL-side FFI edge and one of its two modules allowed `unsafe` (the other
//! is `loader`, the host side). It turns the raw arguments of each PAL entry point into owned
//! Rust values or checked references: null pointers become [`ConvertError::Null`], string
//! arrays are capped in count and length before anything is allocated, and non-UTF-8 is an
//! error naming the field. [`ffi_boundary`] wraps the body of every exported function so that
//! neither a panic nor an error crosses into C: both become `-1` with `errno` set.
//!
//! An exported function stays thin:
//!
//! ```no_run
//! use std::ffi::c_int;
//! use pal::export::{create_process_args, ffi_boundary, Limits, PalCreateProcessArgs};
//!
//! #[no_mangle]
//! pub unsafe extern "C" fn pal_create_process(args: *mut PalCreateProcessArgs) -> c_int {
//!     ffi_boundary("pal_create_process", || {
//!         // SAFETY: the PAL API promises `args` is valid for this call (DESIGN §3.3).
//!         let request = unsafe { create_process_args(args, &Limits::DEFAULT) }?;
//!         *request.pid = 42; // spawn request.path with request.argv and request.env here
//!         Ok::<c_int, pal::export::ConvertError>(0)
//!     })
//! }
//! ```

#![allow(unsafe_code)]

use std::any::Any;
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use nix::errno::Errno;

pub use crate::abi::{
    PalAttrV1, PalAttrV3, PalCreateProcessArgs, PalExecArgs, PalStdioFds, REPORT_SIZE,
    TARGETINFO_SIZE,
};

/// Caps on the strings a PAL accepts from its caller, checked before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries in one argv or env array.
    pub max_entries: usize,
    /// Longest single string, in bytes without the NUL.
    pub max_len: usize,
    /// Most bytes in one array, all strings together.
    pub max_total: usize,
}

impl Limits {
    /// 4096 entries; 128 KiB per string (Linux `MAX_ARG_STRLEN`, what execve would refuse
    /// anyway); 2 MiB per array (Linux's default `ARG_MAX` with an 8 MiB stack).
    pub const DEFAULT: Self = Self {
        max_entries: 4096,
        max_len: 128 * 1024,
        max_total: 2 * 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A raw PAL argument that does not convert into a Rust value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// A required pointer is null.
    #[error("{field} is a null pointer")]
    Null {
        /// Which argument.
        field: String,
    },
    /// A pointer is not aligned for its type.
    #[error("{field} is a misaligned pointer")]
    Misaligned {
        /// Which argument.
        field: String,
    },
    /// A string is longer than [`Limits::max_len`].
    #[error("{field} is longer than {max} bytes")]
    TooLong {
        /// Which string.
        field: String,
        /// The limit.
        max: usize,
    },
    /// An array has more than [`Limits::max_entries`] entries.
    #[error("{field} has more than {max} entries")]
    TooMany {
        /// Which array.
        field: String,
        /// The limit.
        max: usize,
    },
    /// An array's strings add up to more than [`Limits::max_total`] bytes.
    #[error("{field} holds more than {max} bytes in total")]
    TooLarge {
        /// Which array.
        field: String,
        /// The limit.
        max: usize,
    },
    /// A string is not UTF-8.
    #[error("{field} is not valid UTF-8 (bad byte at offset {offset})")]
    NotUtf8 {
        /// Which string.
        field: String,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A buffer length is not the one the ABI fixes.
    #[error("{field} is {len} bytes, expected {expected}")]
    BadLength {
        /// Which length argument.
        field: String,
        /// What the caller passed.
        len: c_int,
        /// What the ABI requires.
        expected: usize,
    },
    /// Two buffers that must be distinct overlap.
    #[error("{first} and {second} overlap")]
    Overlap {
        /// One buffer.
        first: String,
        /// The other.
        second: String,
    },
    /// `pal_attr_v3_t` holds a half-set handover: fd -1 with an address, or the reverse.
    #[error("handover fd {fd} and addr {addr:#x} are inconsistent (no handover is fd -1, addr 0)")]
    BadHandover {
        /// The fd field.
        fd: c_int,
        /// The addr field.
        addr: u64,
    },
}

/// An error that knows which `errno` the PAL should report it with.
pub trait PalError: std::fmt::Display {
    /// The errno set when this error is returned to C.
    fn errno(&self) -> c_int;
}

impl PalError for ConvertError {
    fn errno(&self) -> c_int {
        match self {
            Self::Null { .. } | Self::Misaligned { .. } => libc::EFAULT,
            Self::TooLong { .. } | Self::TooMany { .. } | Self::TooLarge { .. } => libc::E2BIG,
            Self::NotUtf8 { .. }
            | Self::BadLength { .. }
            | Self::Overlap { .. }
            | Self::BadHandover { .. } => libc::EINVAL,
        }
    }
}

/// The errno a panic is reported with: the PAL's state may be inconsistent from here on.
pub const PANIC_ERRNO: c_int = libc::ENOTRECOVERABLE;

/// Runs the body of an exported PAL function: `Ok(n)` returns `n`; an error is logged, sets
/// `errno` from [`PalError::errno`] and returns -1; a panic is caught, logged, sets `errno` to
/// [`PANIC_ERRNO`] and returns -1. Nothing unwinds into C.
///
/// The cdylib must be built with `panic = "unwind"` (the default) for the catch to work; with
/// `panic = "abort"` a panic aborts the host process. After a panic the PAL should refuse
/// further calls: its own state may be half-updated.
pub fn ffi_boundary<F, E>(call: &'static str, body: F) -> c_int
where
    F: FnOnce() -> Result<c_int, E>,
    E: PalError,
{
    // AssertUnwindSafe: after a panic nothing captured by `body` is used again on this side;
    // the caller gets -1 with ENOTRECOVERABLE and is told not to trust the PAL any more.
    let outcome = catch_unwind(AssertUnwindSafe(|| match body() {
        Ok(returned) => Ok(returned),
        Err(error) => {
            tracing::error!(call, %error, "pal call failed");
            Err(error.errno())
        }
    }));
    match outcome {
        Ok(Ok(returned)) => returned,
        Ok(Err(errno)) => {
            Errno::set_raw(errno);
            -1
        }
        Err(payload) => {
            // Logging can itself panic (a broken subscriber); nothing may unwind from here.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                tracing::error!(
                    call,
                    panic = panic_message(payload.as_ref()),
                    "pal call panicked"
                );
            }));
            Errno::set_raw(PANIC_ERRNO);
            -1
        }
    }
}

/// The attributes of `pal_init`, converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitAttr {
    /// The runtime arguments.
    pub args: String,
    /// The log level string; parse it with `LogLevel::from_str` if wanted.
    pub log_level: String,
    /// The enclave handed over by epm (v3 only): fd and base address.
    pub handover: Option<(c_int, u64)>,
}

/// The arguments of `pal_create_process`, converted; `pid` is where to write the new id.
#[derive(Debug)]
pub struct CreateProcessRequest<'a> {
    /// Program path.
    pub path: String,
    /// Arguments, `argv[0]` first.
    pub argv: Vec<String>,
    /// Environment, `KEY=value` strings.
    pub env: Vec<String>,
    /// Standard streams; `None` when the caller passed a null pointer (inherit).
    pub stdio: Option<PalStdioFds>,
    /// Out: the id of the created process.
    pub pid: &'a mut c_int,
}

/// The arguments of the v1 `pal_exec`, converted.
#[derive(Debug)]
pub struct ExecV1Request<'a> {
    /// Program path.
    pub path: String,
    /// Arguments, `argv[0]` first.
    pub argv: Vec<String>,
    /// Standard streams; `None` when the caller passed a null pointer (inherit).
    pub stdio: Option<PalStdioFds>,
    /// Out: the exit value.
    pub exit_code: &'a mut c_int,
}

/// The arguments of the v2+ `pal_exec`, converted.
#[derive(Debug)]
pub struct ExecRequest<'a> {
    /// The process to run, as returned by `pal_create_process`.
    pub pid: c_int,
    /// Out: the exit value.
    pub exit_value: &'a mut c_int,
}

/// The arguments of `pal_get_local_report`, converted.
#[derive(Debug)]
pub struct LocalReportRequest<'a> {
    /// The 512-byte SGX TARGETINFO.
    pub targetinfo: &'a [u8; TARGETINFO_SIZE],
    /// Where to write the 432-byte SGX REPORT.
    pub report: &'a mut [u8; REPORT_SIZE],
    /// Out: the report length; set it to 432 on success.
    pub report_len: &'a mut c_int,
}

/// Converts a NUL-terminated string of at most `max_len` bytes.
///
/// # Safety
///
/// `ptr` is null or points to a NUL-terminated string that stays valid and unmodified for the
/// duration of this call. Bytes are only read up to the first NUL or `max_len + 1`, whichever
/// comes first, so a string longer than the cap is never read past the cap.
pub unsafe fn c_str(
    ptr: *const c_char,
    field: &str,
    max_len: usize,
) -> Result<String, ConvertError> {
    if ptr.is_null() {
        return Err(ConvertError::Null {
            field: field.to_owned(),
        });
    }
    // SAFETY: `ptr` is non-null and, by this function's contract, NUL-terminated and valid.
    let bytes = unsafe { bounded_bytes(ptr, max_len) }.ok_or_else(|| ConvertError::TooLong {
        field: field.to_owned(),
        max: max_len,
    })?;
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(error) => Err(ConvertError::NotUtf8 {
            field: field.to_owned(),
            offset: error.valid_up_to(),
        }),
    }
}

/// Converts a NULL-terminated array of NUL-terminated strings (argv, env), named `field` in
/// errors (elements as `field[i]`), within `limits`.
///
/// # Safety
///
/// `array` is null or points to a NULL-terminated array of pointers, each to a NUL-terminated
/// string, all valid and unmodified for the duration of this call. The array is read at most up
/// to `limits.max_entries + 1` elements and never past its NULL.
pub unsafe fn c_str_array(
    array: *const *const c_char,
    field: &str,
    limits: &Limits,
) -> Result<Vec<String>, ConvertError> {
    if array.is_null() {
        return Err(ConvertError::Null {
            field: field.to_owned(),
        });
    }
    if !array.is_aligned() {
        return Err(ConvertError::Misaligned {
            field: field.to_owned(),
        });
    }
    let mut items = Vec::new();
    let mut total = 0usize;
    for index in 0.. {
        // SAFETY: `array` is non-null, aligned and NULL-terminated (contract); every element
        // before `index` was non-null, so the terminator is at `index` or later and this read
        // is inside the array.
        let item = unsafe { array.add(index).read() };
        if item.is_null() {
            break;
        }
        if index >= limits.max_entries {
            return Err(ConvertError::TooMany {
                field: field.to_owned(),
                max: limits.max_entries,
            });
        }
        let name = format!("{field}[{index}]");
        // SAFETY: `item` is a non-null element of the array, NUL-terminated and valid by the
        // contract.
        let text = unsafe { c_str(item, &name, limits.max_len) }?;
        total = total.saturating_add(text.len());
        if total > limits.max_total {
            return Err(ConvertError::TooLarge {
                field: field.to_owned(),
                max: limits.max_total,
            });
        }
        items.push(text);
    }
    Ok(items)
}

/// Converts the argument of a v1/v2 `pal_init`.
///
/// # Safety
///
/// `attr` is null or points to a `pal_attr_v1_t` whose strings are null or NUL-terminated, all
/// valid for the duration of this call.
pub unsafe fn init_attr_v1(attr: *const PalAttrV1) -> Result<InitAttr, ConvertError> {
    // SAFETY: forwarded contract.
    let attr = unsafe { shared(attr, "attr") }?;
    // SAFETY: `attr` is a valid `pal_attr_v1_t`, so each pointer is null or a valid string.
    unsafe { convert_attr_v1(attr, None) }
}

/// Converts the argument of a v3 `pal_init`, checking that the handover fields are consistent:
/// `fd = -1, addr = 0` is "no handover", an fd ≥ 0 is a handover, anything else an error.
///
/// # Safety
///
/// `attr` is null or points to a `pal_attr_v3_t` whose strings are null or NUL-terminated, all
/// valid for the duration of this call.
pub unsafe fn init_attr_v3(attr: *const PalAttrV3) -> Result<InitAttr, ConvertError> {
    // SAFETY: forwarded contract.
    let attr = unsafe { shared(attr, "attr") }?;
    let handover = match (attr.fd, attr.addr) {
        (-1, 0) => None,
        (fd, addr) if fd >= 0 => Some((fd, addr)),
        (fd, addr) => return Err(ConvertError::BadHandover { fd, addr }),
    };
    // SAFETY: `attr.attr_v1` is a valid `pal_attr_v1_t` by the contract.
    unsafe { convert_attr_v1(&attr.attr_v1, handover) }
}

/// Converts the argument of `pal_create_process`. `path`, `argv`, `env` and `pid` are
/// required; a null `stdio` means "inherit".
///
/// # Safety
///
/// `args` is null or points to a `pal_create_process_args` whose pointers are null or valid as
/// the PAL API describes them (NUL-terminated strings, NULL-terminated arrays, a writable
/// `pal_stdio_fds` and `int`), for the lifetime `'a` the caller picks, which must not outlive
/// the `pal_create_process` call.
pub unsafe fn create_process_args<'a>(
    args: *mut PalCreateProcessArgs,
    limits: &Limits,
) -> Result<CreateProcessRequest<'a>, ConvertError> {
    // SAFETY: forwarded contract.
    let args = unsafe { shared(args.cast_const(), "args") }?;
    // Each pointer below comes from a valid `pal_create_process_args` (contract).
    Ok(CreateProcessRequest {
        // SAFETY: null or a NUL-terminated string (contract).
        path: unsafe { c_str(args.path, "path", limits.max_len) }?,
        // SAFETY: null or a NULL-terminated array of strings (contract).
        argv: unsafe { c_str_array(args.argv, "argv", limits) }?,
        // SAFETY: null or a NULL-terminated array of strings (contract).
        env: unsafe { c_str_array(args.env, "env", limits) }?,
        // SAFETY: null or a valid `pal_stdio_fds` (contract).
        stdio: unsafe { optional_copy(args.stdio.cast_const(), "stdio") }?,
        // SAFETY: null or a writable int used by nothing else during the call (contract).
        pid: unsafe { exclusive(args.pid, "pid") }?,
    })
}

/// Converts the arguments of the v1 `pal_exec`. A null `stdio` means "inherit".
///
/// # Safety
///
/// Each pointer is null or valid as the PAL API v1 describes it, for the lifetime `'a` the
/// caller picks, which must not outlive the `pal_exec` call.
pub unsafe fn exec_v1_args<'a>(
    path: *const c_char,
    argv: *const *const c_char,
    stdio: *const PalStdioFds,
    exit_code: *mut c_int,
    limits: &Limits,
) -> Result<ExecV1Request<'a>, ConvertError> {
    Ok(ExecV1Request {
        // SAFETY: null or a NUL-terminated string (contract).
        path: unsafe { c_str(path, "path", limits.max_len) }?,
        // SAFETY: null or a NULL-terminated array of strings (contract).
        argv: unsafe { c_str_array(argv, "argv", limits) }?,
        // SAFETY: null or a valid `pal_stdio_fds` (contract).
        stdio: unsafe { optional_copy(stdio, "stdio") }?,
        // SAFETY: null or a writable int used by nothing else during the call (contract).
        exit_code: unsafe { exclusive(exit_code, "exit_code") }?,
    })
}

/// Converts the argument of the v2+ `pal_exec`.
///
/// # Safety
///
/// `args` is null or points to a `pal_exec_args` whose `exit_value` is null or writable, for
/// the lifetime `'a` the caller picks, which must not outlive the `pal_exec` call.
pub unsafe fn exec_args<'a>(args: *mut PalExecArgs) -> Result<ExecRequest<'a>, ConvertError> {
    // SAFETY: forwarded contract.
    let args = unsafe { shared(args.cast_const(), "args") }?;
    Ok(ExecRequest {
        pid: args.pid,
        // SAFETY: `exit_value` comes from a valid `pal_exec_args` (contract).
        exit_value: unsafe { exclusive(args.exit_value, "exit_value") }?,
    })
}

/// Converts the arguments of `pal_get_local_report`: `targetinfo_len` must be 512, the
/// `*report_len` capacity at least 432, and the two buffers must not overlap.
///
/// # Safety
///
/// `targetinfo` is null or readable for `targetinfo_len` bytes; `report_len` is null or a
/// writable `int`; `report` is null or writable for `*report_len` bytes; all for the lifetime
/// `'a` the caller picks, which must not outlive the `pal_get_local_report` call.
pub unsafe fn local_report_args<'a>(
    targetinfo: *mut c_void,
    targetinfo_len: c_int,
    report: *mut c_void,
    report_len: *mut c_int,
) -> Result<LocalReportRequest<'a>, ConvertError> {
    if usize::try_from(targetinfo_len) != Ok(TARGETINFO_SIZE) {
        return Err(ConvertError::BadLength {
            field: "targetinfo_len".to_owned(),
            len: targetinfo_len,
            expected: TARGETINFO_SIZE,
        });
    }
    let report_len_ptr = report_len;
    // SAFETY: forwarded contract; overlap with the buffers is checked below, before `report` is
    // borrowed.
    let report_len = unsafe { exclusive(report_len, "report_len") }?;
    if usize::try_from(*report_len).map_or(true, |len| len < REPORT_SIZE) {
        return Err(ConvertError::BadLength {
            field: "report_len".to_owned(),
            len: *report_len,
            expected: REPORT_SIZE,
        });
    }
    let regions = [
        ("targetinfo", targetinfo.addr(), TARGETINFO_SIZE),
        ("report", report.addr(), REPORT_SIZE),
        (
            "report_len",
            report_len_ptr.addr(),
            std::mem::size_of::<c_int>(),
        ),
    ];
    for (i, &(first, a, a_len)) in regions.iter().enumerate() {
        for &(second, b, b_len) in &regions[i + 1..] {
            if a < b.saturating_add(b_len) && b < a.saturating_add(a_len) {
                return Err(ConvertError::Overlap {
                    first: first.to_owned(),
                    second: second.to_owned(),
                });
            }
        }
    }
    Ok(LocalReportRequest {
        // SAFETY: readable for `targetinfo_len` = 512 bytes (checked above, contract); a byte
        // array has alignment 1; it does not overlap `report` (checked above).
        targetinfo: unsafe { shared(targetinfo.cast_const().cast(), "targetinfo") }?,
        // SAFETY: writable for `*report_len` ≥ 432 bytes (checked above, contract); alignment 1;
        // no overlap with `targetinfo` or `report_len` (checked above).
        report: unsafe { exclusive(report.cast(), "report") }?,
        report_len,
    })
}

/// Borrows `*ptr` shared, or a null/misaligned error.
///
/// # Safety
///
/// `ptr` is null or points to a valid `T` not written by anyone for `'a`.
unsafe fn shared<'a, T>(ptr: *const T, field: &str) -> Result<&'a T, ConvertError> {
    if !ptr.is_aligned() {
        return Err(ConvertError::Misaligned {
            field: field.to_owned(),
        });
    }
    // SAFETY: aligned (checked), and valid for `'a` if non-null (contract).
    unsafe { ptr.as_ref() }.ok_or_else(|| ConvertError::Null {
        field: field.to_owned(),
    })
}

/// Borrows `*ptr` exclusively, or a null/misaligned error.
///
/// # Safety
///
/// `ptr` is null or points to a valid `T` that nothing else accesses for `'a`.
unsafe fn exclusive<'a, T>(ptr: *mut T, field: &str) -> Result<&'a mut T, ConvertError> {
    if !ptr.is_aligned() {
        return Err(ConvertError::Misaligned {
            field: field.to_owned(),
        });
    }
    // SAFETY: aligned (checked), and valid and unaliased for `'a` if non-null (contract).
    unsafe { ptr.as_mut() }.ok_or_else(|| ConvertError::Null {
        field: field.to_owned(),
    })
}

/// Copies `*ptr`, `None` for null.
///
/// # Safety
///
/// `ptr` is null or points to a valid `T` for the duration of this call.
unsafe fn optional_copy<T: Copy>(ptr: *const T, field: &str) -> Result<Option<T>, ConvertError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null, so valid by the contract.
    unsafe { shared(ptr, field) }.map(|value| Some(*value))
}

/// # Safety
///
/// `attr`'s pointers are null or NUL-terminated strings valid for this call.
unsafe fn convert_attr_v1(
    attr: &PalAttrV1,
    handover: Option<(c_int, u64)>,
) -> Result<InitAttr, ConvertError> {
    // Arguments and log level are short configuration strings; the argv cap bounds them.
    let max = Limits::DEFAULT.max_len;
    Ok(InitAttr {
        // SAFETY: null or a NUL-terminated string (contract).
        args: unsafe { c_str(attr.args, "args", max) }?,
        // SAFETY: null or a NUL-terminated string (contract).
        log_level: unsafe { c_str(attr.log_level, "log_level", max) }?,
        handover,
    })
}

/// The bytes before the NUL at `ptr`, or `None` if there are more than `max_len`.
///
/// # Safety
///
/// `ptr` is non-null and points to a NUL-terminated string valid for this call.
unsafe fn bounded_bytes<'a>(ptr: *const c_char, max_len: usize) -> Option<&'a [u8]> {
    let bytes = ptr.cast::<u8>();
    for len in 0..=max_len {
        // SAFETY: every byte before `len` was non-NUL, so the terminator is at `len` or later
        // and this read is inside the string.
        if unsafe { bytes.add(len).read() } == 0 {
            // SAFETY: `len` bytes from `bytes` are inside the string (all read above) and the
            // string is valid and unmodified for this call.
            return Some(unsafe { std::slice::from_raw_parts(bytes, len) });
        }
    }
    None
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

#[cfg(test)]
mod tests;
