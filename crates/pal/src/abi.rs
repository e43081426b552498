//! The PAL API as C sees it: `#[repr(C)]` structs and function pointer types for
//! versions 1 to 3, exactly as DESIGN §3.3 lays them out.
//!
//! This module owns the layout and nothing else: no calls, no conversions, no `unsafe`.
//! The layout is non-packed with natural C alignment; the `const` assertions at the bottom
//! pin every size and field offset for 64-bit targets (x86_64 and aarch64 agree), so a change
//! that would break binary compatibility with Occlum, Gramine or the Inclavare skeleton fails
//! to compile. The C conformance PALs in `tests/c/` assert the same numbers from the C side.
//!
//! The C declarations, for reference:
//!
//! ```c
//! typedef struct { const char *args; const char *log_level; } pal_attr_v1_t;
//! typedef struct { pal_attr_v1_t attr_v1; int fd; uint64_t addr; } pal_attr_v3_t;
//! typedef struct { int stdin, stdout, stderr; } pal_stdio_fds;
//! typedef struct { const char *path; const char **argv; const char **env;
//!                  pal_stdio_fds *stdio; int *pid; } pal_create_process_args;
//! typedef struct { int pid; int *exit_value; } pal_exec_args;
//! ```

use std::ffi::{c_char, c_int, c_void};

/// Name of the optional version symbol; a PAL without it is version 1.
pub const SYM_GET_VERSION: &str = "pal_get_version";
/// Name of the initialisation symbol (all versions).
pub const SYM_INIT: &str = "pal_init";
/// Name of the process creation symbol (v2 and later).
pub const SYM_CREATE_PROCESS: &str = "pal_create_process";
/// Name of the execution symbol (all versions; its signature changes in v2).
pub const SYM_EXEC: &str = "pal_exec";
/// Name of the signal delivery symbol (v2 and later).
pub const SYM_KILL: &str = "pal_kill";
/// Name of the teardown symbol (all versions).
pub const SYM_DESTROY: &str = "pal_destroy";
/// Name of the local attestation symbol (optional, v3).
pub const SYM_GET_LOCAL_REPORT: &str = "pal_get_local_report";
/// rune's extension (exported by `liberpal-sim.so`): a REPORT carrying caller-chosen
/// REPORTDATA, which `pal_get_local_report` cannot pass. Optional; absent in other runtimes.
pub const SYM_GET_REPORT_WITH_DATA: &str = "erpal_sim_get_report";

/// Lowest PAL API version this crate speaks.
pub const MIN_VERSION: u32 = 1;
/// Highest PAL API version this crate speaks; a runtime reporting more is refused.
pub const MAX_VERSION: u32 = 3;

/// Size in bytes of an SGX `TARGETINFO`, the input of `pal_get_local_report`.
pub const TARGETINFO_SIZE: usize = 512;
/// Size in bytes of an SGX `REPORT`, the output of `pal_get_local_report`.
pub const REPORT_SIZE: usize = 432;

/// Initialisation attributes of PAL API v1 and v2 (`pal_attr_v1_t`).
#[doc(alias = "pal_attr_v1_t")]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PalAttrV1 {
    /// NUL-terminated runtime arguments (`ENCLAVE_RUNTIME_ARGS`, commas turned into spaces).
    pub args: *const c_char,
    /// NUL-terminated log level: `trace`, `debug`, `info`, `warning`, `error` or `off`.
    pub log_level: *const c_char,
}

/// Initialisation attributes of PAL API v3 (`pal_attr_v3_t`).
#[doc(alias = "pal_attr_v3_t")]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PalAttrV3 {
    /// The v1 attributes, first so that a v3 pointer is also a valid v1 pointer.
    pub attr_v1: PalAttrV1,
    /// Enclave file descriptor handed over by the enclave pool manager, or -1.
    pub fd: c_int,
    /// Base address of the handed-over enclave, or 0.
    pub addr: u64,
}

/// The three standard streams of a workload (`pal_stdio_fds`).
#[doc(alias = "pal_stdio_fds")]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PalStdioFds {
    /// File descriptor for the workload's standard input.
    pub stdin: c_int,
    /// File descriptor for the workload's standard output.
    pub stdout: c_int,
    /// File descriptor for the workload's standard error.
    pub stderr: c_int,
}

/// Arguments of `pal_create_process` (`pal_create_process_args`, v2 and later).
#[doc(alias = "pal_create_process_args")]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PalCreateProcessArgs {
    /// NUL-terminated path of the program, as seen inside the container.
    pub path: *const c_char,
    /// NULL-terminated array of NUL-terminated arguments, `argv[0]` first.
    pub argv: *const *const c_char,
    /// NULL-terminated array of NUL-terminated `KEY=value` strings.
    pub env: *const *const c_char,
    /// Standard streams for the process.
    pub stdio: *mut PalStdioFds,
    /// Out: the PAL's identifier of the new process, used by `pal_exec` and `pal_kill`.
    pub pid: *mut c_int,
}

/// Arguments of `pal_exec` in v2 and later (`pal_exec_args`).
#[doc(alias = "pal_exec_args")]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PalExecArgs {
    /// Process identifier returned by `pal_create_process`.
    pub pid: c_int,
    /// Out: the exit value; a wait(2) status or a plain exit code depending on the PAL.
    pub exit_value: *mut c_int,
}

/// `int pal_get_version(void);`
pub type PalGetVersionFn = unsafe extern "C" fn() -> c_int;
/// `int pal_init(const pal_attr_v1_t *attr);` (v1 and v2)
pub type PalInitV1Fn = unsafe extern "C" fn(attr: *const PalAttrV1) -> c_int;
/// `int pal_init(const pal_attr_v3_t *attr);` (v3)
pub type PalInitV3Fn = unsafe extern "C" fn(attr: *const PalAttrV3) -> c_int;
/// `int pal_exec(char *path, char *argv[], pal_stdio_fds *stdio, int *exit_code);` (v1 only)
pub type PalExecV1Fn = unsafe extern "C" fn(
    path: *mut c_char,
    argv: *mut *mut c_char,
    stdio: *mut PalStdioFds,
    exit_code: *mut c_int,
) -> c_int;
/// `int pal_create_process(pal_create_process_args *args);` (v2 and later)
pub type PalCreateProcessFn = unsafe extern "C" fn(args: *mut PalCreateProcessArgs) -> c_int;
/// `int pal_exec(pal_exec_args *args);` (v2 and later; blocks until the process exits)
pub type PalExecV2Fn = unsafe extern "C" fn(args: *mut PalExecArgs) -> c_int;
/// `int pal_kill(int pid, int sig);` (v2 and later; pid -1 = all, 0 = current)
pub type PalKillFn = unsafe extern "C" fn(pid: c_int, sig: c_int) -> c_int;
/// `int pal_destroy(void);`
pub type PalDestroyFn = unsafe extern "C" fn() -> c_int;
/// `int pal_get_local_report(void *targetinfo, int targetinfo_len, void *report, int *report_len);`
/// (v3, optional; 0 = success)
/// `int erpal_sim_get_report(const void *targetinfo /* 512 */, const void *report_data /* 64 */,
/// void *report /* 432 */)`: 0 on success.
pub type GetReportWithDataFn = unsafe extern "C" fn(
    targetinfo: *const c_void,
    report_data: *const c_void,
    report: *mut c_void,
) -> c_int;

/// `pal_get_local_report` (v3, optional).
pub type PalGetLocalReportFn = unsafe extern "C" fn(
    targetinfo: *mut c_void,
    targetinfo_len: c_int,
    report: *mut c_void,
    report_len: *mut c_int,
) -> c_int;

/// Layout assertions: sizes, alignments and field offsets of natural C alignment on LP64
/// (x86_64, aarch64). On ILP32 targets `uint64_t` alignment differs between ABIs, so the
/// numbers are only pinned where pointers are 64 bits.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};

    assert!(size_of::<PalAttrV1>() == 16);
    assert!(align_of::<PalAttrV1>() == 8);
    assert!(offset_of!(PalAttrV1, args) == 0);
    assert!(offset_of!(PalAttrV1, log_level) == 8);

    assert!(size_of::<PalAttrV3>() == 32);
    assert!(align_of::<PalAttrV3>() == 8);
    assert!(offset_of!(PalAttrV3, attr_v1) == 0);
    assert!(offset_of!(PalAttrV3, fd) == 16);
    assert!(offset_of!(PalAttrV3, addr) == 24);

    assert!(size_of::<PalStdioFds>() == 12);
    assert!(align_of::<PalStdioFds>() == 4);
    assert!(offset_of!(PalStdioFds, stdin) == 0);
    assert!(offset_of!(PalStdioFds, stdout) == 4);
    assert!(offset_of!(PalStdioFds, stderr) == 8);

    assert!(size_of::<PalCreateProcessArgs>() == 40);
    assert!(align_of::<PalCreateProcessArgs>() == 8);
    assert!(offset_of!(PalCreateProcessArgs, path) == 0);
    assert!(offset_of!(PalCreateProcessArgs, argv) == 8);
    assert!(offset_of!(PalCreateProcessArgs, env) == 16);
    assert!(offset_of!(PalCreateProcessArgs, stdio) == 24);
    assert!(offset_of!(PalCreateProcessArgs, pid) == 32);

    assert!(size_of::<PalExecArgs>() == 16);
    assert!(align_of::<PalExecArgs>() == 8);
    assert!(offset_of!(PalExecArgs, pid) == 0);
    assert!(offset_of!(PalExecArgs, exit_value) == 8);

    // `int` is 32 bits on every target the PAL API exists for.
    assert!(size_of::<c_int>() == 4);
};
