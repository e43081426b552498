//! `rune exec`.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

use crate::agent;
use crate::cli::{Exec, GlobalOpts};
use crate::container;
use crate::executor::RuneExecutor;
use crate::foreground;
use crate::state::{status_name, RuneRecord};

/// Runs a new process in a running container; without `--detach`, waits and returns its exit code.
pub fn exec(g: &GlobalOpts, args: &Exec) -> Result<i32> {
    let id = &args.id;
    let c = container::load(&g.root, id)?;
    match c.status() {
        ContainerStatus::Running => {}
        ContainerStatus::Paused if args.ignore_paused => {}
        other => bail!(
            "cannot exec in container {id:?}: it is {}, not running",
            status_name(other)
        ),
    }
    if args.process.is_none() && args.command.is_empty() {
        bail!("exec needs a command, or --process with a process.json");
    }
    let record = RuneRecord::load(c.bundle())
        .with_context(|| format!("reading rune state of container {id:?}"))?;
    if record.is_some_and(|r| r.enclave.is_some()) {
        return exec_in_enclave(g, args, &c);
    }
    if args.pidfd_socket.is_some() {
        bail!("--pidfd-socket is not supported by rune");
    }
    if args.tty && args.console_socket.is_none() {
        bail!("--tty needs --console-socket to hand the terminal to its caller");
    }
    let env = parse_env(&args.env)?;
    let (user, group) = match &args.user {
        Some(u) => parse_user(u)?,
        None => (None, None),
    };
    // libcontainer takes a terminal only from a process.json: write one for `--tty`.
    let tty_process = match (&args.process, args.tty) {
        (None, true) => Some(TempProcessFile::write(&c, args, &env, user, group)?),
        _ => None,
    };
    let process = tty_process
        .as_ref()
        .map(|p| p.0.clone())
        .or_else(|| args.process.clone());
    crate::cgroup_warmup::wait_until_fork_safe();
    let pid = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_executor(RuneExecutor::for_exec())
        .with_root_path(&g.root)
        .with_context(|| format!("state root {}", g.root.display()))?
        .with_console_socket(args.console_socket.as_ref())
        .with_pid_file(args.pid_file.as_ref())
        .context("--pid-file")?
        .with_preserved_fds(args.preserve_fds)
        .as_tenant()
        .with_detach(args.detach)
        .with_cwd(args.cwd.as_ref())
        .with_env(env)
        .with_process(process.as_ref())
        .with_no_new_privs(args.no_new_privs)
        .with_container_args(args.command.clone())
        .with_capabilities(args.cap.clone())
        .with_additional_gids(args.additional_gids.clone())
        .with_user(user)
        .with_group(group)
        .with_ignore_paused(args.ignore_paused)
        .with_sub_cgroup(args.cgroup.clone())
        .with_process_label(args.process_label.clone())
        .with_apparmor(args.apparmor.clone())
        .build()
        .with_context(|| format!("exec in container {id:?}"))?;
    if args.detach {
        return Ok(0);
    }
    foreground::wait_forwarding_signals(pid)
        .with_context(|| format!("waiting for exec process {pid} in container {id:?}"))
}

/// Starts the process inside the container's enclave instance through its agent socket.
fn exec_in_enclave(g: &GlobalOpts, args: &Exec, c: &Container) -> Result<i32> {
    let id = &args.id;
    if args.tty {
        bail!("exec --tty into enclave container {id:?} is not supported: the enclave runtime owns the workload's stdio");
    }
    if args.detach {
        return detach_enclave_exec(g, args);
    }
    let (argv, env) = enclave_process(args, c)?;
    let agent_dir = c.bundle().clone();
    let mut client = agent::Client::send(
        &agent_dir,
        &agent::Request::Exec { args: argv, env },
        &[0, 1, 2],
    )
    .with_context(|| format!("exec in enclave container {id:?}"))?;
    let pid = match client
        .reply()
        .with_context(|| format!("exec in enclave container {id:?}"))?
    {
        agent::Reply::Started(pid) => pid,
        other => bail!("unexpected reply from the enclave agent: {other:?}"),
    };
    forward_to_enclave(agent_dir, pid);
    match client
        .reply()
        .with_context(|| format!("waiting for exec process {pid} in enclave container {id:?}"))?
    {
        agent::Reply::Exited(code) => Ok(code),
        other => bail!("unexpected reply from the enclave agent: {other:?}"),
    }
}

/// `--detach`: a foreground `rune exec` child does the work and stays as the process the caller
/// (containerd's shim, a subreaper) waits for; its pid goes to `--pid-file`.
fn detach_enclave_exec(g: &GlobalOpts, args: &Exec) -> Result<i32> {
    let exe = std::env::current_exe().context("locating the rune binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root").arg(&g.root);
    if let Some(log) = &g.log {
        cmd.arg("--log").arg(log);
    }
    cmd.arg("exec");
    if let Some(process) = &args.process {
        cmd.arg("--process").arg(process);
    }
    for e in &args.env {
        cmd.arg("--env").arg(e);
    }
    cmd.arg(&args.id).args(&args.command);
    let child = cmd.spawn().context("starting the exec proxy")?;
    if let Some(pid_file) = &args.pid_file {
        std::fs::write(pid_file, child.id().to_string())
            .with_context(|| format!("writing {}", pid_file.display()))?;
    }
    Ok(0)
}

fn enclave_process(args: &Exec, c: &Container) -> Result<(Vec<String>, Vec<String>)> {
    if let Some(path) = &args.process {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let process: oci_spec::runtime::Process =
            serde_json::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
        if process.terminal() == Some(true) {
            bail!(
                "{}: terminal processes cannot run in an enclave container",
                path.display()
            );
        }
        let argv = process.args().clone().unwrap_or_default();
        if argv.is_empty() {
            bail!("{}: process.args is empty", path.display());
        }
        return Ok((argv, process.env().clone().unwrap_or_default()));
    }
    let config = c.bundle().join("config.json");
    let spec = Spec::load(&config).with_context(|| format!("reading {}", config.display()))?;
    let overrides = parse_env(&args.env)?;
    let mut env: Vec<String> = spec
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| {
            !kv.split_once('=')
                .is_some_and(|(k, _)| overrides.contains_key(k))
        })
        .collect();
    env.extend(overrides.iter().map(|(k, v)| format!("{k}={v}")));
    Ok((args.command.clone(), env))
}

/// Relays the signals this process receives to the enclave process.
fn forward_to_enclave(agent_dir: PathBuf, pid: i32) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    let Ok(mut signals) =
        signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2])
    else {
        return;
    };
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let sent = agent::Client::send(&agent_dir, &agent::Request::Kill { pid, signal }, &[])
                .and_then(|mut c| c.reply());
            if let Err(e) = sent {
                tracing::warn!(pid, signal, error = %e, "forwarding signal to enclave process");
            }
        }
    });
}

/// A process.json derived from the container's own process, removed when dropped.
struct TempProcessFile(PathBuf);

impl TempProcessFile {
    fn write(
        c: &Container,
        args: &Exec,
        env: &HashMap<String, String>,
        user: Option<u32>,
        group: Option<u32>,
    ) -> Result<Self> {
        let config = c.bundle().join("config.json");
        let spec = Spec::load(&config).with_context(|| format!("reading {}", config.display()))?;
        let mut process = spec
            .process()
            .clone()
            .with_context(|| format!("{} has no process", config.display()))?;
        process.set_args(Some(args.command.clone()));
        process.set_terminal(Some(true));
        let mut merged: Vec<String> = process
            .env()
            .iter()
            .flatten()
            .filter(|kv| !kv.split_once('=').is_some_and(|(k, _)| env.contains_key(k)))
            .cloned()
            .collect();
        merged.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        process.set_env(Some(merged));
        if let Some(cwd) = &args.cwd {
            process.set_cwd(cwd.clone());
        }
        let mut process_user = process.user().clone();
        if let Some(uid) = user {
            process_user.set_uid(uid);
        }
        if let Some(gid) = group {
            process_user.set_gid(gid);
        }
        if !args.additional_gids.is_empty() {
            process_user.set_additional_gids(Some(args.additional_gids.clone()));
        }
        process.set_user(process_user);
        if args.no_new_privs {
            process.set_no_new_privileges(Some(true));
        }
        let path = c.root.join(format!("exec-tty-{}.json", std::process::id()));
        let json = serde_json::to_vec(&process)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempProcessFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn parse_env(pairs: &[String]) -> Result<HashMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("invalid --env {pair:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// Parses runc's `--user UID[:GID]`.
fn parse_user(user: &str) -> Result<(Option<u32>, Option<u32>)> {
    let num = |s: &str| {
        s.parse::<u32>()
            .with_context(|| format!("invalid --user {user:?}: expected UID[:GID] as numbers"))
    };
    match user.split_once(':') {
        Some((u, g)) => Ok((Some(num(u)?), Some(num(g)?))),
        None => Ok((Some(num(user)?), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_forms() {
        assert_eq!(parse_user("1000").unwrap(), (Some(1000), None));
        assert_eq!(parse_user("1:2").unwrap(), (Some(1), Some(2)));
        let err = parse_user("bob").unwrap_err().to_string();
        assert!(err.contains("invalid --user \"bob\""), "{err}");
    }

    #[test]
    fn env_needs_key_and_equals() {
        assert_eq!(parse_env(&["A=b=c".into()]).unwrap()["A"], "b=c");
        assert!(parse_env(&["A".into()]).is_err());
        assert!(parse_env(&["=x".into()]).is_err());
    }
}
