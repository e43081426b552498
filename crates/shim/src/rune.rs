//! The only rune-specific part: run the OCI runtime binary with runc's exact CLI, the way
//! containerd's runc shim runs runc.
//!
//! The shim is a subreaper and the containerd-shim library reaps every child on SIGCHLD, so a
//! `Command::wait` would race the reaper. Each call subscribes to the library's exit monitor
//! *before* spawning and takes the exit status from there.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use containerd_shim::monitor::{monitor_subscribe, wait_pid, Topic};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Default state root of rune under containerd (runc's shim uses /run/containerd/runc).
pub const DEFAULT_ROOT: &str = "/run/containerd/rune";
/// Default runtime binary.
pub const DEFAULT_BINARY: &str = "rune";

/// A runc-compatible runtime binary with its global flags.
#[derive(Debug, Clone)]
pub struct Rune {
    /// The binary.
    pub binary: PathBuf,
    /// `--root`: the state directory (already namespaced).
    pub root: PathBuf,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// `--log`: where the runtime writes its JSON log; errors are read back from it.
    pub log: PathBuf,
}

/// The three standard streams handed to the runtime (and through it to the container).
#[derive(Debug, Default)]
pub struct ChildStdio {
    /// Standard input.
    pub stdin: Option<File>,
    /// Standard output.
    pub stdout: Option<File>,
    /// Standard error.
    pub stderr: Option<File>,
}

impl Rune {
    /// Resolves the binary: `name` if it has a slash, else next to the shim, else on PATH.
    pub fn resolve_binary(name: &str) -> Result<PathBuf> {
        if name.contains('/') {
            let path = PathBuf::from(name);
            return if path.exists() {
                Ok(path)
            } else {
                Err(Error::RuntimeNotFound(name.to_owned()))
            };
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_owned))
        {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| Error::RuntimeNotFound(name.to_owned()))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        // The shim's own cwd is the bundle of the first container it served, which is gone
        // once that container is deleted while others of the pod still run; the runtime must
        // not inherit a deleted cwd. The log sits in the container's bundle: run there.
        if let Some(dir) = self.log.parent().filter(|d| d.is_dir()) {
            cmd.current_dir(dir);
        }
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        if self.systemd_cgroup {
            cmd.arg("--systemd-cgroup");
        }
        cmd.args(args);
        cmd
    }

    /// `create --bundle B --pid-file P [--console-socket S] ID` with the container's stdio.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        stdio: ChildStdio,
    ) -> Result<()> {
        let bundle = bundle.to_string_lossy();
        let pid_file = pid_file.to_string_lossy();
        let socket = console_socket.map(|p| p.to_string_lossy().into_owned());
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pid_file];
        if let Some(socket) = &socket {
            args.extend(["--console-socket", socket]);
        }
        args.push(id);
        self.run_with_stdio("create", &args, stdio)
    }

    /// `start ID`.
    pub fn start(&self, id: &str) -> Result<()> {
        self.output("start", &["start", id]).map(drop)
    }

    /// `exec --process F --detach --pid-file P [--console-socket S] ID`.
    pub fn exec(
        &self,
        id: &str,
        process: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        stdio: ChildStdio,
    ) -> Result<()> {
        let process = process.to_string_lossy();
        let pid_file = pid_file.to_string_lossy();
        let socket = console_socket.map(|p| p.to_string_lossy().into_owned());
        let mut args = vec![
            "exec",
            "--process",
            &process,
            "--detach",
            "--pid-file",
            &pid_file,
        ];
        if let Some(socket) = &socket {
            args.extend(["--console-socket", socket]);
        }
        args.push(id);
        self.run_with_stdio("exec", &args, stdio)
    }

    /// `kill [--all] ID SIG`.
    pub fn kill(&self, id: &str, signal: u32, all: bool) -> Result<()> {
        let signal = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, &signal]);
        self.output("kill", &args).map(drop)
    }

    /// `delete [--force] ID`.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        self.output("delete", &args).map(drop)
    }

    /// `pause ID`.
    pub fn pause(&self, id: &str) -> Result<()> {
        self.output("pause", &["pause", id]).map(drop)
    }

    /// `resume ID`.
    pub fn resume(&self, id: &str) -> Result<()> {
        self.output("resume", &["resume", id]).map(drop)
    }

    /// `update --resources F ID`.
    pub fn update(&self, id: &str, resources: &Path) -> Result<()> {
        let resources = resources.to_string_lossy();
        self.output("update", &["update", "--resources", &resources, id])
            .map(drop)
    }

    /// `ps --format json ID`: the host pids of the container's processes.
    pub fn ps(&self, id: &str) -> Result<Vec<i32>> {
        let out = self.output("ps", &["ps", "--format", "json", id])?;
        serde_json::from_slice(&out).map_err(|e| Error::Runtime {
            binary: self.binary.display().to_string(),
            verb: "ps",
            message: format!("printed invalid JSON: {e}"),
        })
    }

    fn run_with_stdio(&self, verb: &'static str, args: &[&str], stdio: ChildStdio) -> Result<()> {
        let mut cmd = self.command(args);
        cmd.stdin(stdio.stdin.map_or_else(Stdio::null, Stdio::from))
            .stdout(stdio.stdout.map_or_else(Stdio::null, Stdio::from))
            .stderr(stdio.stderr.map_or_else(Stdio::null, Stdio::from));
        let (code, stderr) = self.spawn_and_wait(verb, cmd, false)?;
        self.check(verb, code, &stderr).map(drop)
    }

    fn output(&self, verb: &'static str, args: &[&str]) -> Result<Vec<u8>> {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null());
        let (code, stderr, stdout) = {
            let mut out = tempfile_in_memory()?;
            cmd.stdout(Stdio::from(
                out.try_clone()
                    .map_err(|e| Error::io("duplicating the output file", e))?,
            ));
            let (code, stderr) = self.spawn_and_wait(verb, cmd, true)?;
            let mut stdout = Vec::new();
            use std::io::Seek;
            out.rewind()
                .and_then(|()| out.read_to_end(&mut stdout))
                .map_err(|e| Error::io("reading the runtime's output", e))?;
            (code, stderr, stdout)
        };
        self.check(verb, code, &stderr)?;
        Ok(stdout)
    }

    /// Spawns `cmd` and waits for it through the exit monitor. Stderr is captured through a file
    /// when `capture_stderr` is set (a pipe could be held open by the container).
    fn spawn_and_wait(
        &self,
        verb: &'static str,
        mut cmd: Command,
        capture_stderr: bool,
    ) -> Result<(i32, String)> {
        let mut err_file = None;
        if capture_stderr {
            let file = tempfile_in_memory()?;
            cmd.stderr(Stdio::from(
                file.try_clone()
                    .map_err(|e| Error::io("duplicating the error file", e))?,
            ));
            err_file = Some(file);
        }
        let subscription = monitor_subscribe(Topic::Pid)?;
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("running {} {verb}", self.binary.display()), e))?;
        let pid = i32::try_from(child.id()).map_err(|_| Error::Runtime {
            binary: self.binary.display().to_string(),
            verb,
            message: "pid out of range".into(),
        })?;
        drop(child);
        let code = wait_pid(pid, subscription);
        let mut stderr = String::new();
        if let Some(mut file) = err_file {
            use std::io::Seek;
            let _ = file
                .rewind()
                .and_then(|()| file.read_to_string(&mut stderr));
        }
        Ok((code, stderr))
    }

    fn check(&self, verb: &'static str, code: i32, stderr: &str) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        let message = last_log_error(&self.log)
            .or_else(|| {
                let line = stderr.trim();
                (!line.is_empty()).then(|| line.to_owned())
            })
            .unwrap_or_else(|| format!("exit status {code}"));
        Err(Error::Runtime {
            binary: self.binary.display().to_string(),
            verb,
            message,
        })
    }
}

/// An anonymous, already unlinked file for a child's output.
fn tempfile_in_memory() -> Result<File> {
    nix::sys::memfd::memfd_create(
        c"rune-shim-output",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map(File::from)
    .map_err(|e| Error::io("creating a memfd for the runtime's output", e.into()))
}

#[derive(Deserialize)]
struct LogLine {
    #[serde(default)]
    level: String,
    #[serde(default, alias = "message")]
    msg: String,
}

/// The last `error` (or `fatal`) line of the runtime's JSON log, as runc's shim reports it.
/// The log is truncated after reading so the next failure does not repeat an old message.
fn last_log_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let message = text
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<LogLine>(line).ok())
        .find(|l| l.level == "error" || l.level == "fatal")
        .map(|l| l.msg);
    let _ = std::fs::write(log, b"");
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_line_of_a_json_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.json");
        std::fs::write(
            &log,
            "{\"level\":\"info\",\"msg\":\"hello\"}\n\
             {\"level\":\"error\",\"msg\":\"first\"}\n\
             not json\n\
             {\"level\":\"error\",\"msg\":\"container c1 does not exist\"}\n",
        )
        .unwrap();
        assert_eq!(
            last_log_error(&log).as_deref(),
            Some("container c1 does not exist")
        );
        assert_eq!(last_log_error(&log), None, "the log is consumed");
    }

    #[test]
    fn binary_with_a_slash_must_exist() {
        assert!(matches!(
            Rune::resolve_binary("/nonexistent/rune"),
            Err(Error::RuntimeNotFound(_))
        ));
        assert_eq!(
            Rune::resolve_binary("/bin/sh").unwrap(),
            PathBuf::from("/bin/sh")
        );
    }
}
