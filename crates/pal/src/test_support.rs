//! Builds the C conformance PALs shipped in `tests/c/` into shared objects, for this crate's
//! conformance tests and for other crates' container tests (feature `test-support`).
//!
//! Only `std`: the conformance tests include this file directly with `#[path]`, so it must not
//! depend on the rest of the crate. The compiler is `$CC` if set, else `cc`.
//!
//! From another crate's tests (dev-dependency `pal = { path = "../pal", features =
//! ["test-support"] }`):
//!
//! ```ignore
//! use pal::test_support::{c_pal_source, compile_c_pal};
//!
//! let dir = tempfile::tempdir()?;
//! let so = compile_c_pal(&c_pal_source("pal_v3"), dir.path())?;
//! // ENCLAVE_RUNTIME_PATH = so; pal_v3 returns plain exit codes, pal_v2 wait statuses.
//! ```
//!
//! The sources, all self-contained C11 plus the shared header `pal_abi.h`:
//!
//! | source | version | exit value | notes |
//! |---|---|---|---|
//! | `pal_v1.c` | 1 (no `pal_get_version`) | plain code | `pal_exec(path, argv, stdio, exit_code)` |
//! | `pal_v2.c` | 2 | wait(2) status, like Occlum | `pal_kill` accepts only SIGKILL/SIGTERM, like Occlum |
//! | `pal_v3.c` | 3 | plain code, like the skeleton | `pal_get_local_report` echoes TARGETINFO |
//! | `pal_bad_version.c` | `-DPAL_VERSION=n` (default 4) | | for refusal tests |
//! | `pal_missing_kill.c` | 2, without `pal_kill` | | for missing-symbol tests |
//!
//! The v2 and v3 PALs read directives from the `pal_init` args (space separated):
//! `fail-init` makes `pal_init` fail with errno `EINVAL`, `exit-in-init` ends the calling
//! process there (`_exit(70)`, a PAL that crashes); `expect-level=L`, `expect-fd=N`,
//! `expect-addr=X` (hex) make it fail with `EPROTO` unless the attributes match, which proves
//! the `pal_attr_v*_t` layout from the C side. Any of them compiled with `-DPAL_EXIT_ON_LOAD`
//! ends the process that loads it from its initialiser (`_exit(71)`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The directory holding the C PAL sources and `pal_abi.h`.
pub fn c_pal_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("c")
}

/// The path of the C PAL source `name` (`"pal_v3"` gives `.../tests/c/pal_v3.c`).
pub fn c_pal_source(name: &str) -> PathBuf {
    c_pal_dir().join(format!("{name}.c"))
}

/// Compiles `source` with `cc -shared -fPIC -pthread` (warnings are errors) into a new `.so` in `out_dir` and returns its path.
///
/// Every call writes a file with a new name, so a test process can load two copies of the same
/// PAL side by side: the dynamic loader shares one copy per file, including its global state.
pub fn compile_c_pal(source: &Path, out_dir: &Path) -> io::Result<PathBuf> {
    compile_c_pal_with(source, out_dir, &[])
}

/// Like [`compile_c_pal`], with extra `-D` definitions such as `"PAL_VERSION=0"`.
pub fn compile_c_pal_with(source: &Path, out_dir: &Path, defines: &[&str]) -> io::Result<PathBuf> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let stem = source
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pal".to_owned());
    let output = out_dir.join(format!(
        "lib{stem}-{}-{}.so",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let include = source.parent().unwrap_or(Path::new("."));
    let mut command = Command::new(&compiler);
    command
        .args([
            "-shared", "-fPIC", "-std=c11", "-O1", "-pthread", "-Wall", "-Wextra", "-Werror",
        ])
        .arg("-I")
        .arg(include)
        .args(defines.iter().map(|define| format!("-D{define}")))
        .arg("-o")
        .arg(&output)
        .arg(source);
    let result = command.output().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("running C compiler {}: {error}", compiler.to_string_lossy()),
        )
    })?;
    if !result.status.success() {
        return Err(io::Error::other(format!(
            "compiling {} failed ({}):\n{}",
            source.display(),
            result.status,
            String::from_utf8_lossy(&result.stderr)
        )));
    }
    Ok(output)
}
