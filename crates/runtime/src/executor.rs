//! The workload executors that run in the container's init process, after namespaces, cgroups,
//! pivot_root, capabilities and seccomp are set up.
//!
//! [`RuneExecutor`] is the one extension point: a plain container execs its entrypoint like runc;
//! an enclave container (a later addition) hands it to an enclave runtime instead.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// Chooses how the container's process is started.
#[derive(Debug, Clone, Default)]
pub struct RuneExecutor {}

impl RuneExecutor {
    /// The executor for a container with this spec.
    pub fn for_spec(_spec: &Spec) -> Self {
        Self {}
    }
}

impl Executor for RuneExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let (program, path_var) = program_and_path(spec)
            .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_owned()))?;
        resolve_executable(program, path_var.as_deref())
            .map(|_| ())
            .map_err(ExecutorValidationError::ArgValidationError)
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let (program, path_var) =
            program_and_path(spec).map_err(|e| ExecutorError::Other(e.to_owned()))?;
        let executable =
            resolve_executable(program, path_var.as_deref()).map_err(ExecutorError::Other)?;
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .ok_or(ExecutorError::InvalidArg)?;
        let to_c = |s: &str| {
            CString::new(s).map_err(|_| {
                ExecutorError::Other(format!("process.args element {s:?} contains a NUL byte"))
            })
        };
        let argv = args
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<Vec<_>, _>>()?;
        let path = to_c(&executable.to_string_lossy())?;
        // execv only returns on failure.
        let errno = nix::unistd::execv(&path, &argv).unwrap_err();
        Err(ExecutorError::Other(format!(
            "exec {}: {}",
            executable.display(),
            errno.desc()
        )))
    }
}

fn program_and_path(spec: &Spec) -> Result<(&str, Option<String>), &'static str> {
    let process = spec.process().as_ref().ok_or("spec has no process")?;
    let program = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .ok_or("process.args is empty")?;
    let path = process
        .env()
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_owned));
    Ok((program, path))
}

/// Resolves `program` as runc does: a name with a `/` is used as is, others are looked up in the
/// container's `PATH` (an absent PATH finds nothing).
pub fn resolve_executable(program: &str, path_var: Option<&str>) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return match path.metadata() {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(path),
            Ok(_) => Err(format!("exec {program:?}: not an executable file")),
            Err(e) => Err(format!("exec {program:?}: {e}")),
        };
    }
    let search = path_var.unwrap_or("");
    search
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| format!("executable {program:?} not found in $PATH ({search:?})"))
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_a_slash_are_not_searched() {
        assert_eq!(
            resolve_executable("/bin/sh", None).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let err = resolve_executable("/nonexistent", Some("/bin")).unwrap_err();
        assert!(
            err.starts_with("exec \"/nonexistent\": No such file"),
            "{err}"
        );
    }

    #[test]
    fn missing_program_names_program_and_path() {
        let err = resolve_executable("no-such-program-xyz", Some("/bin:/usr/bin")).unwrap_err();
        assert_eq!(
            err,
            r#"executable "no-such-program-xyz" not found in $PATH ("/bin:/usr/bin")"#
        );
    }

    #[test]
    fn finds_sh_in_path() {
        assert!(resolve_executable("sh", Some("/nonexistent:/bin")).is_ok());
    }
}
