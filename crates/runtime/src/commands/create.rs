//! `rune create` and `rune run`.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

use crate::bundle::{Bundle, HostCgroups};
use crate::cli::{CreateOpts, GlobalOpts, Run};
use crate::container;
use crate::enclave::{self, EnclaveConfig, EnclaveType};
use crate::executor::RuneExecutor;
use crate::foreground;
use crate::launch::{self, HostLaunch};
use crate::state::RuneRecord;

/// `rune create`: sets the container up; its process waits for `start`.
pub fn create(g: &GlobalOpts, opts: &CreateOpts) -> Result<i32> {
    build(g, opts, true)?;
    Ok(0)
}

/// `rune run`: create and start; without `--detach`, wait and return the workload's exit code.
pub fn run(g: &GlobalOpts, args: &Run) -> Result<i32> {
    let mut container = build(g, &args.opts, args.detach)?;
    let id = &args.opts.id;
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        container::remove_bundle_copy(&g.root, id);
        return Err(e).with_context(|| format!("starting container {id:?}"));
    }
    if args.detach {
        return Ok(0);
    }
    let pid = container
        .pid()
        .with_context(|| format!("container {id:?} has no init process after start"))?;
    let code = foreground::wait_forwarding_signals(pid)
        .with_context(|| format!("waiting for container {id:?}"))?;
    if !args.keep {
        if let Err(e) = container.delete(true) {
            // The workload's status matters more than a cleanup failure (runc does the same).
            tracing::warn!(container_id = %id, error = %e, "deleting container after run");
        }
        container::remove_bundle_copy(&g.root, id);
    }
    Ok(code)
}

fn build(g: &GlobalOpts, opts: &CreateOpts, detach: bool) -> Result<Container> {
    let id = opts.id.as_str();
    container::validate_id(id)?;
    if opts.pidfd_socket.is_some() {
        bail!("--pidfd-socket is not supported by rune");
    }
    if opts.preserve_fds < 0 {
        bail!(
            "--preserve-fds must not be negative (got {})",
            opts.preserve_fds
        );
    }
    let bundle = Bundle::load(&opts.bundle)?;
    let enclave = enclave::from_spec(&bundle.spec, Path::new("/")).with_context(|| {
        format!(
            "enclave configuration in {}",
            bundle.dir.join("config.json").display()
        )
    })?;
    ensure_root(&g.root)?;
    if container::dir(&g.root, id).exists() {
        bail!("container {id:?} already exists");
    }
    let host = HostCgroups::detect().context("reading this process's cgroups from /proc")?;
    // libcontainer reads the spec from the bundle it is given and exec reads it again from the
    // state's bundle, so the prepared copy lives beside the state for the container's life.
    // Everything is written before build(): from then on the container's init is waiting.
    let mut prepared = PreparedDir(container::bundle_copy(&g.root, id));
    prepared.clear();
    let spec = bundle.write_prepared(&prepared.0, id, &host, enclave.as_ref())?;
    // A systemd cgroups path names a unit, not a directory; systemd refuses a unit in use.
    if !g.systemd_cgroup {
        if let Some(path) = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
        {
            host.check_unused(path)
                .with_context(|| format!("creating container {id:?}"))?;
        }
    }
    let record = RuneRecord {
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs(),
        enclave: enclave.as_ref().map(enclave_view),
    };
    record
        .save(&prepared.0)
        .with_context(|| format!("writing rune state into {}", prepared.0.display()))?;
    let host_launch = enclave
        .as_ref()
        .map(|config| {
            launch::prepare(
                config,
                &bundle.dir,
                &bundle.rootfs(),
                &prepared.0,
                crate::netns::creates_network(&bundle.spec),
            )
        })
        .transpose()?;
    let executor = match &host_launch {
        Some(host) => RuneExecutor::enclave(host.launch.clone(), &bundle.spec),
        None => RuneExecutor::plain(&bundle.spec),
    };
    if let Some(config) = &enclave {
        tracing::info!(container_id = %id, tee = %config.kind, runtime = %config.runtime_path.display(), "creating enclave container");
    }

    // Written by rune once the container is created, as runc does: libcontainer would write it
    // as soon as it knows the init's pid, and a create that fails after that would leave it.
    let pid_file = opts
        .pid_file
        .as_deref()
        .map(std::path::absolute)
        .transpose()
        .with_context(|| format!("--pid-file {:?}", opts.pid_file))?;
    crate::cgroup_warmup::wait_until_fork_safe();
    let built = ContainerBuilder::new(id.to_owned(), SyscallType::default())
        .with_executor(executor)
        .with_console_socket(opts.console_socket.as_ref())
        .with_root_path(&g.root)
        .with_context(|| format!("state root {}", g.root.display()))?
        .with_preserved_fds(opts.preserve_fds)
        .as_init(&prepared.0)
        .with_systemd(g.systemd_cgroup)
        .with_detach(detach)
        .with_no_pivot(opts.no_pivot)
        .build();
    match built {
        Ok(mut container) => {
            if crate::netns::creates_network(&bundle.spec) {
                let lo = container
                    .pid()
                    .ok_or_else(|| std::io::Error::other("the container has no init process"))
                    .and_then(|pid| crate::netns::bring_up_loopback(pid.as_raw()));
                if let Err(e) = lo {
                    let _ = container.delete(true);
                    remove_leftovers(&g.root, id);
                    return Err(e).with_context(|| {
                        format!(
                            "creating container {id:?}: bringing up lo in its network namespace"
                        )
                    });
                }
            }
            if let Some(path) = &pid_file {
                let written = container
                    .pid()
                    .ok_or_else(|| std::io::Error::other("the container has no init process"))
                    .and_then(|pid| write_pid_file(path, pid.as_raw()));
                if let Err(e) = written {
                    let _ = container.delete(true);
                    remove_leftovers(&g.root, id);
                    return Err(e).with_context(|| {
                        format!(
                            "creating container {id:?}: writing --pid-file {}",
                            path.display()
                        )
                    });
                }
            }
            prepared.keep();
            Ok(container)
        }
        Err(e) => {
            // libcontainer only saw the init's channel close; say where the init ended.
            let ended = host_launch.as_ref().and_then(HostLaunch::ended_in_runtime);
            remove_leftovers(&g.root, id);
            let error = match ended {
                Some(reason) => {
                    tracing::debug!(error = %e, "libcontainer's view of the failed create");
                    anyhow::Error::msg(reason)
                }
                None => anyhow::Error::new(e),
            };
            Err(error).with_context(|| format!("creating container {id:?}"))
        }
    }
}

/// Writes `pid` to `path` as runc does: into a hidden file beside it, renamed over it, so a
/// reader never sees a partial number.
fn write_pid_file(path: &Path, pid: i32) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut hidden = std::ffi::OsString::from(".");
    hidden.push(name);
    let temporary = path.with_file_name(hidden);
    fs::write(&temporary, pid.to_string())?;
    fs::rename(&temporary, path).inspect_err(|_| {
        let _ = fs::remove_file(&temporary);
    })
}

/// The enclave as `rune state` shows it; a sim enclave says what it does not protect.
fn enclave_view(config: &EnclaveConfig) -> serde_json::Value {
    let mut view = serde_json::to_value(config).unwrap_or_default();
    if config.kind == EnclaveType::Sim {
        view["note"] = serde_json::Value::from(
            "sim: software TEE; integrity and measurement only, no confidentiality against root",
        );
    }
    view
}

/// The private copy of the bundle handed to libcontainer; removed unless the create succeeds.
struct PreparedDir(PathBuf);

impl PreparedDir {
    fn clear(&self) {
        let _ = fs::remove_dir_all(&self.0);
    }

    fn keep(&mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for PreparedDir {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            self.clear();
            if let Some(parent) = self.0.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

fn ensure_root(root: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(root)
        .with_context(|| format!("creating state root {}", root.display()))?;
    // access(2) answers for a read-only mount too, without writing to the state root.
    nix::unistd::access(root, nix::unistd::AccessFlags::W_OK)
        .with_context(|| format!("state root {} is not writable", root.display()))?;
    Ok(())
}

/// libcontainer removes the cgroup and state directory of a failed create; this catches what a
/// failure before its own cleanup point leaves.
fn remove_leftovers(root: &Path, id: &str) {
    let dir = container::dir(root, id);
    if dir.exists() {
        if let Err(e) = fs::remove_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "removing state of failed create");
        }
    }
}
