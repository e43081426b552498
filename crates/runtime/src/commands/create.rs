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
    build(g, opts, true)?.finish(g)?;
    Ok(0)
}

/// `rune run`: create and start; without `--detach`, wait and return the workload's exit code.
///
/// An enclave's start is waited for after the start signal, not before it: the init takes the
/// signal only once the enclave started, and rune's own start work overlaps with it (before
/// it when the spec has poststart hooks, which the start runs). A failure is reported as
/// `create` reports it, and leaves nothing.
pub fn run(g: &GlobalOpts, args: &Run) -> Result<i32> {
    let mut created = build(g, &args.opts, args.detach)?;
    let id = &args.opts.id;
    if created.poststart_hooks {
        // They run once the start signal is sent, and must not run for an enclave that did
        // not start.
        if let Err(e) = created.enclave_started() {
            return Err(created.remove(g, e));
        }
    }
    if let Err(e) = created.container.start() {
        let e = anyhow::Error::new(e).context(format!("starting container {id:?}"));
        return Err(created.abandon(g, e));
    }
    let mut container = created.finish(g)?;
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

/// A container libcontainer created, whose init may still be starting its enclave.
struct Created {
    container: Container,
    id: String,
    /// The enclave launch whose report [`Created::finish`] waits for.
    enclave: Option<HostLaunch>,
    /// `--pid-file`, written once the container is fully created.
    pid_file: Option<PathBuf>,
    /// Whether the spec has poststart hooks (run by the start, in rune's process).
    poststart_hooks: bool,
}

impl Created {
    /// Waits for the enclave's start (if any) and writes the pid file; on failure removes the
    /// container and everything it left.
    fn finish(mut self, g: &GlobalOpts) -> Result<Container> {
        match self.enclave_started().and_then(|()| self.write_pid_file()) {
            Ok(()) => Ok(self.container),
            Err(e) => Err(self.remove(g, e)),
        }
    }

    /// After a failure of rune's own steps: removes the container. The error is the enclave's
    /// when its init ended starting it (the better explanation), else `error`.
    fn abandon(mut self, g: &GlobalOpts, error: anyhow::Error) -> anyhow::Error {
        let error = self.enclave_started().err().unwrap_or(error);
        self.remove(g, error)
    }

    /// Waits for the enclave's start report, once: later calls have nothing to wait for.
    fn enclave_started(&mut self) -> Result<()> {
        let id = &self.id;
        let init = self.container.pid().map_or(0, |pid| pid.as_raw());
        match self.enclave.take().as_mut() {
            Some(host) => host
                .wait_until_started(init)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("creating container {id:?}")),
            None => Ok(()),
        }
    }

    fn write_pid_file(&self) -> Result<()> {
        let Some(path) = &self.pid_file else {
            return Ok(());
        };
        self.container
            .pid()
            .ok_or_else(|| std::io::Error::other("the container has no init process"))
            .and_then(|pid| write_pid_file(path, pid.as_raw()))
            .with_context(|| {
                format!(
                    "creating container {:?}: writing --pid-file {}",
                    self.id,
                    path.display()
                )
            })
    }

    fn remove(mut self, g: &GlobalOpts, error: anyhow::Error) -> anyhow::Error {
        let _ = self.container.delete(true);
        remove_leftovers(&g.root, &self.id);
        container::remove_bundle_copy(&g.root, &self.id);
        error
    }
}

fn build(g: &GlobalOpts, opts: &CreateOpts, detach: bool) -> Result<Created> {
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
    let container = match built {
        Ok(container) => container,
        Err(e) => {
            remove_leftovers(&g.root, id);
            return Err(anyhow::Error::new(e))
                .with_context(|| format!("creating container {id:?}"));
        }
    };
    prepared.keep();
    if crate::netns::creates_network(&bundle.spec) {
        // lo comes up while the init starts the enclave.
        let lo = container
            .pid()
            .ok_or_else(|| std::io::Error::other("the container has no init process"))
            .and_then(|pid| crate::netns::bring_up_loopback(pid.as_raw()));
        if let Err(e) = lo {
            let e = anyhow::Error::new(e).context(format!(
                "creating container {id:?}: bringing up lo in its network namespace"
            ));
            let failed = Created {
                container,
                id: id.to_owned(),
                enclave: host_launch,
                pid_file: None,
                poststart_hooks: false,
            };
            return Err(failed.abandon(g, e));
        }
    }
    let poststart_hooks = bundle
        .spec
        .hooks()
        .as_ref()
        .and_then(|hooks| hooks.poststart().as_ref())
        .is_some_and(|hooks| !hooks.is_empty());
    Ok(Created {
        container,
        id: id.to_owned(),
        enclave: host_launch,
        pid_file,
        poststart_hooks,
    })
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
