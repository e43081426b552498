//! The task service: containerd's task API over the containers of this shim.
//!
//! One lock guards every container; the runtime is called while holding it, which keeps the
//! order of operations on a container simple (containerd serialises most of them anyway). Wait
//! sleeps on a condition variable, so it never holds the lock. Exits come from the
//! containerd-shim library's reaper through its exit monitor, on one thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use containerd_shim::api::Empty;
use containerd_shim::api::{
    CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse,
    DeleteRequest, DeleteResponse, ExecProcessRequest, KillRequest, PidsRequest, PidsResponse,
    ResizePtyRequest, ShutdownRequest, StartRequest, StartResponse, StateRequest, StateResponse,
    StatsRequest, StatsResponse, UpdateTaskRequest, WaitRequest, WaitResponse,
};
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::oci::{Options, ProcessDetails};
use containerd_shim::protos::topics;
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::{ExitSignal, Task, TtrpcContext, TtrpcResult};

use crate::container::{Container, Exit, Process, Status};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::io::{self, Pending, ProcessIo, StdioPaths};
use crate::rune::{Rune, DEFAULT_BINARY, DEFAULT_ROOT};

/// How long an exit's output may keep draining before the exit is reported anyway.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// How long an exit of a pid not (yet) known to the shim is remembered.
const UNMATCHED_TTL: Duration = Duration::from_secs(30);

/// The task service of one shim process.
#[derive(Clone)]
pub struct TaskService {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TaskService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskService")
            .field("namespace", &self.shared.namespace)
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    events: Events,
    namespace: String,
    exit_signal: Arc<ExitSignal>,
}

#[derive(Default)]
struct State {
    containers: HashMap<String, Container>,
    /// Exits of pids no process claimed yet: a process can exit before the shim learns its pid.
    unmatched: HashMap<u32, (u32, Instant)>,
}

impl TaskService {
    /// A service for `namespace` publishing through `events`; `exit_signal` ends the shim.
    pub fn new(namespace: &str, events: Events, exit_signal: Arc<ExitSignal>) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            events,
            namespace: namespace.to_owned(),
            exit_signal,
        });
        let service = Self { shared };
        service.watch_exits();
        service
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn watch_exits(&self) {
        let subscription = match monitor_subscribe(Topic::All) {
            Ok(s) => s,
            Err(e) => {
                log::error!("cannot subscribe to process exits: {e}");
                return;
            }
        };
        let service = self.clone();
        thread::Builder::new()
            .name("exits".into())
            .spawn(move || {
                while let Ok(event) = subscription.rx.recv() {
                    if let Subject::Pid(pid) = event.subject {
                        let (Ok(pid), Ok(code)) =
                            (u32::try_from(pid), u32::try_from(event.exit_code))
                        else {
                            continue;
                        };
                        service.on_exit(pid, code);
                    }
                }
            })
            .map_err(|e| log::error!("cannot start the exit watcher: {e}"))
            .ok();
    }

    fn on_exit(&self, pid: u32, code: u32) {
        let mut state = self.lock();
        let owner = state.containers.values_mut().find_map(|c| {
            c.by_pid_mut(pid)
                .map(|p| p.exec_id.clone())
                .map(|e| (c.id.clone(), e))
        });
        match owner {
            Some((id, exec_id)) => self.record_exit(&mut state, &id, &exec_id, code),
            None => {
                let now = Instant::now();
                state
                    .unmatched
                    .retain(|_, (_, at)| now.duration_since(*at) < UNMATCHED_TTL);
                state.unmatched.insert(pid, (code, now));
            }
        }
    }

    /// Marks a process exited, then (off the lock) drains its output and reports the exit.
    fn record_exit(&self, state: &mut State, id: &str, exec_id: &str, code: u32) {
        let Some(container) = state.containers.get_mut(id) else {
            return;
        };
        let Ok(process) = container.process_mut(exec_id) else {
            return;
        };
        let exit = Exit {
            code,
            at: SystemTime::now(),
        };
        process.exit = Some(exit);
        process.status = Status::Stopped;
        let pid = process.pid;
        let io = process.io.take();
        log::info!(
            "process {} (pid {pid}) exited with {code}",
            container.name(exec_id)
        );
        if exec_id.is_empty() {
            // The init is gone: execs in its pid namespace are gone with it; execs that shared
            // the host's are killed as runc's shim does.
            for exec in container
                .execs
                .values()
                .filter(|p| p.exit.is_none() && p.pid != 0)
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(i32::try_from(exec.pid).unwrap_or(0)),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let event = TaskExit {
            container_id: id.to_owned(),
            id: if exec_id.is_empty() {
                id.to_owned()
            } else {
                exec_id.to_owned()
            },
            pid,
            exit_status: code,
            exited_at: MessageField::some(exit.timestamp()),
            ..Default::default()
        };
        let service = self.clone();
        let (id, exec_id) = (id.to_owned(), exec_id.to_owned());
        thread::spawn(move || {
            if let Some(mut io) = io {
                io.wait_output(OUTPUT_DRAIN);
            }
            let mut state = service.lock();
            if let Some(p) = state
                .containers
                .get_mut(&id)
                .and_then(|c| c.process_mut(&exec_id).ok())
            {
                p.reported = true;
            }
            service
                .shared
                .events
                .send(topics::TASK_EXIT_EVENT_TOPIC, event);
            drop(state);
            service.shared.changed.notify_all();
        });
    }

    /// Records the pid of a process that just started, and an exit that came first.
    fn claim(&self, state: &mut State, id: &str, exec_id: &str, pid: u32) {
        if let Some(code) = state.unmatched.remove(&pid).map(|(code, _)| code) {
            self.record_exit(state, id, exec_id, code);
        }
    }

    fn create_task(&self, req: &CreateTaskRequest) -> Result<CreateTaskResponse> {
        let mut state = self.lock();
        if state.containers.contains_key(&req.id) {
            return Err(Error::AlreadyExists(format!("container {}", req.id)));
        }
        let bundle = PathBuf::from(&req.bundle);
        let options = runtime_options(req.options.as_ref())?;
        containerd_shim::util::write_options(&req.bundle, &options)?;
        let rune = rune_for(&options, &self.shared.namespace, &bundle)?;
        std::fs::create_dir_all(&rune.root)
            .map_err(|e| Error::io(format!("creating {}", rune.root.display()), e))?;

        let rootfs = bundle.join("rootfs");
        let mounted_rootfs = !req.rootfs.is_empty();
        for m in &req.rootfs {
            std::fs::create_dir_all(&rootfs)
                .map_err(|e| Error::io(format!("creating {}", rootfs.display()), e))?;
            if let Err(e) = containerd_shim::mount::mount_rootfs(
                Some(m.type_.as_str()),
                Some(m.source.as_str()),
                &m.options,
                &rootfs,
            ) {
                unmount_rootfs(&bundle);
                return Err(e.into());
            }
        }
        let created = (|| {
            crate::carrier::apply(&bundle)?;
            let paths = StdioPaths {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
            };
            let (pending, child) = io::prepare(&paths, &bundle)?;
            let console = console_path(&pending);
            let pid_file = bundle.join("init.pid");
            rune.create(&req.id, &bundle, &pid_file, console.as_deref(), child)?;
            let started = ProcessIo::start(pending, &paths)
                .and_then(|io| read_pid(&pid_file).map(|pid| (io, pid)));
            match started {
                Ok((io, pid)) => Ok((paths, io, pid)),
                Err(e) => {
                    if let Err(cleanup) = rune.delete(&req.id, true) {
                        log::warn!("cleaning up container {}: {}", req.id, cleanup.chain());
                    }
                    Err(e)
                }
            }
        })();
        let (paths, io, pid) = match created {
            Ok(v) => v,
            Err(e) => {
                if mounted_rootfs {
                    unmount_rootfs(&bundle);
                }
                return Err(e);
            }
        };
        let mut init = Process::new("", paths.clone(), Vec::new());
        init.pid = pid;
        init.io = Some(io);
        state.containers.insert(
            req.id.clone(),
            Container {
                id: req.id.clone(),
                bundle: bundle.clone(),
                rune,
                init,
                execs: HashMap::new(),
                mounted_rootfs,
            },
        );
        self.claim(&mut state, &req.id, "", pid);
        crate::oom::watch(pid, &req.id, self.shared.events.clone());
        self.shared.events.send(
            topics::TASK_CREATE_EVENT_TOPIC,
            TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: MessageField::some(TaskIO {
                    stdin: paths.stdin,
                    stdout: paths.stdout,
                    stderr: paths.stderr,
                    terminal: paths.terminal,
                    ..Default::default()
                }),
                checkpoint: req.checkpoint.clone(),
                pid,
                ..Default::default()
            },
        );
        log::info!("created container {} (pid {pid})", req.id);
        Ok(CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    fn start_task(&self, req: &StartRequest) -> Result<StartResponse> {
        let mut state = self.lock();
        let container = container_mut(&mut state, &req.id)?;
        let name = container.name(&req.exec_id);
        let pid = if req.exec_id.is_empty() {
            container.init.expect("start", &name, &[Status::Created])?;
            container.rune.start(&req.id)?;
            container.init.status = Status::Running;
            let pid = container.init.pid;
            self.shared.events.send(
                topics::TASK_START_EVENT_TOPIC,
                TaskStart {
                    container_id: req.id.clone(),
                    pid,
                    ..Default::default()
                },
            );
            pid
        } else {
            container
                .init
                .expect("exec in", &container.id, &[Status::Running])?;
            let bundle = container.bundle.clone();
            let rune = container.rune.clone();
            let process = container.process_mut(&req.exec_id)?;
            process.expect("start", &name, &[Status::Created])?;
            let spec_file = bundle.join(format!("exec-{}.json", req.exec_id));
            let pid_file = bundle.join(format!("exec-{}.pid", req.exec_id));
            std::fs::write(&spec_file, &process.spec)
                .map_err(|e| Error::io(format!("writing {}", spec_file.display()), e))?;
            let (pending, child) = io::prepare(&process.paths, &bundle)?;
            let console = console_path(&pending);
            let result = rune.exec(&req.id, &spec_file, &pid_file, console.as_deref(), child);
            let _ = std::fs::remove_file(&spec_file);
            result?;
            let io = ProcessIo::start(pending, &process.paths)?;
            let pid = read_pid(&pid_file)?;
            let _ = std::fs::remove_file(&pid_file);
            process.pid = pid;
            process.io = Some(io);
            process.status = Status::Running;
            self.shared.events.send(
                topics::TASK_EXEC_STARTED_EVENT_TOPIC,
                TaskExecStarted {
                    container_id: req.id.clone(),
                    exec_id: req.exec_id.clone(),
                    pid,
                    ..Default::default()
                },
            );
            self.claim(&mut state, &req.id, &req.exec_id, pid);
            pid
        };
        Ok(StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn delete_task(&self, req: &DeleteRequest) -> Result<DeleteResponse> {
        let mut state = self.lock();
        let container = container_mut(&mut state, &req.id)?;
        let name = container.name(&req.exec_id);
        if !req.exec_id.is_empty() {
            let process = container.process(&req.exec_id)?;
            process.expect("delete", &name, &[Status::Created, Status::Stopped])?;
            let process =
                container
                    .execs
                    .remove(&req.exec_id)
                    .ok_or_else(|| Error::ProcessNotFound {
                        id: req.id.clone(),
                        exec_id: req.exec_id.clone(),
                    })?;
            return Ok(delete_response(&process));
        }
        container
            .init
            .expect("delete", &name, &[Status::Created, Status::Stopped])?;
        let force = container.init.status != Status::Stopped;
        if let Err(e) = container.rune.delete(&req.id, force) {
            // A container the runtime no longer knows (crashed, deleted by hand) is gone already.
            if !e.to_string().contains("does not exist") && !e.to_string().contains("not found") {
                return Err(e);
            }
        }
        if container.mounted_rootfs {
            unmount_rootfs(&container.bundle);
        }
        let container = state
            .containers
            .remove(&req.id)
            .ok_or_else(|| Error::ContainerNotFound(req.id.clone()))?;
        let response = delete_response(&container.init);
        self.shared.events.send(
            topics::TASK_DELETE_EVENT_TOPIC,
            TaskDelete {
                container_id: req.id.clone(),
                pid: response.pid,
                exit_status: response.exit_status,
                exited_at: response.exited_at.clone(),
                id: req.id.clone(),
                ..Default::default()
            },
        );
        drop(state);
        self.shared.changed.notify_all();
        log::info!("deleted container {}", req.id);
        Ok(response)
    }

    fn exec_task(&self, req: &ExecProcessRequest) -> Result<()> {
        let mut state = self.lock();
        let container = container_mut(&mut state, &req.id)?;
        if container.execs.contains_key(&req.exec_id) {
            return Err(Error::AlreadyExists(format!(
                "exec {} in container {}",
                req.exec_id, req.id
            )));
        }
        container
            .init
            .expect("exec in", &req.id, &[Status::Running])?;
        let spec = req
            .spec
            .as_ref()
            .map(|any| any.value.clone())
            .ok_or_else(|| Error::InvalidArgument {
                field: "spec",
                reason: "an exec needs the OCI process to run".into(),
            })?;
        let paths = StdioPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        container
            .execs
            .insert(req.exec_id.clone(), Process::new(&req.exec_id, paths, spec));
        self.shared.events.send(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            },
        );
        Ok(())
    }

    fn kill_task(&self, req: &KillRequest) -> Result<()> {
        let state = self.lock();
        let container = container_ref(&state, &req.id)?;
        let name = container.name(&req.exec_id);
        let process = container.process(&req.exec_id)?;
        if process.exit.is_some() && !req.all {
            return Err(Error::ProcessFinished(name));
        }
        if req.exec_id.is_empty() {
            if process.exit.is_some() && container.init.status == Status::Stopped {
                // kill --all after the init exited: whatever is left goes with the cgroup.
                let _ = container.rune.kill(&req.id, req.signal, true);
                return Ok(());
            }
            return container.rune.kill(&req.id, req.signal, req.all);
        }
        if process.pid == 0 {
            return Err(Error::WrongState {
                action: "kill",
                what: name,
                state: "created",
            });
        }
        let signal = i32::try_from(req.signal)
            .ok()
            .and_then(|s| nix::sys::signal::Signal::try_from(s).ok())
            .ok_or_else(|| Error::InvalidArgument {
                field: "signal",
                reason: format!("{} is not a signal", req.signal),
            })?;
        let pid = i32::try_from(process.pid).map_err(|_| Error::ProcessFinished(name.clone()))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).map_err(|e| match e {
            nix::errno::Errno::ESRCH => Error::ProcessFinished(name),
            e => Error::io(format!("signalling pid {pid}"), e.into()),
        })
    }

    fn wait_task(&self, req: &WaitRequest) -> Result<WaitResponse> {
        let mut state = self.lock();
        loop {
            let container = container_ref(&state, &req.id)?;
            let process = container.process(&req.exec_id)?;
            if let (true, Some(exit)) = (process.reported, process.exit) {
                return Ok(WaitResponse {
                    exit_status: exit.code,
                    exited_at: MessageField::some(exit.timestamp()),
                    ..Default::default()
                });
            }
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn state_task(&self, req: &StateRequest) -> Result<StateResponse> {
        let state = self.lock();
        let container = container_ref(&state, &req.id)?;
        let process = container.process(&req.exec_id)?;
        Ok(StateResponse {
            id: if req.exec_id.is_empty() {
                req.id.clone()
            } else {
                req.exec_id.clone()
            },
            bundle: container.bundle.to_string_lossy().into_owned(),
            pid: process.pid,
            status: process.status.proto().into(),
            stdin: process.paths.stdin.clone(),
            stdout: process.paths.stdout.clone(),
            stderr: process.paths.stderr.clone(),
            terminal: process.paths.terminal,
            exit_status: process.exit.map_or(0, |e| e.code),
            exited_at: process
                .exit
                .map(|e| e.timestamp())
                .map_or_else(MessageField::none, MessageField::some),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        })
    }

    fn pids_task(&self, req: &PidsRequest) -> Result<PidsResponse> {
        let state = self.lock();
        let container = container_ref(&state, &req.id)?;
        let pids = container.rune.ps(&req.id)?;
        let mut processes = Vec::with_capacity(pids.len());
        for pid in pids {
            let Ok(pid) = u32::try_from(pid) else {
                continue;
            };
            let mut info = ProcessInfo {
                pid,
                ..Default::default()
            };
            if let Some(exec) = container.execs.values().find(|p| p.pid == pid) {
                let details = ProcessDetails {
                    exec_id: exec.exec_id.clone(),
                    ..Default::default()
                };
                info.info =
                    MessageField::some(containerd_shim::util::convert_to_any(Box::new(details))?);
            }
            processes.push(info);
        }
        Ok(PidsResponse {
            processes,
            ..Default::default()
        })
    }

    fn pause_task(&self, id: &str, pause: bool) -> Result<()> {
        let mut state = self.lock();
        let container = container_mut(&mut state, id)?;
        if pause {
            container.init.expect("pause", id, &[Status::Running])?;
            container.rune.pause(id)?;
            container.init.status = Status::Paused;
            self.shared.events.send(
                topics::TASK_PAUSED_EVENT_TOPIC,
                TaskPaused {
                    container_id: id.to_owned(),
                    ..Default::default()
                },
            );
        } else {
            container.init.expect("resume", id, &[Status::Paused])?;
            container.rune.resume(id)?;
            container.init.status = Status::Running;
            self.shared.events.send(
                topics::TASK_RESUMED_EVENT_TOPIC,
                TaskResumed {
                    container_id: id.to_owned(),
                    ..Default::default()
                },
            );
        }
        Ok(())
    }

    fn close_io_task(&self, req: &CloseIORequest) -> Result<()> {
        let state = self.lock();
        let container = container_ref(&state, &req.id)?;
        let process = container.process(&req.exec_id)?;
        if req.stdin {
            if let Some(io) = &process.io {
                io.close_stdin();
            }
        }
        Ok(())
    }

    fn resize_task(&self, req: &ResizePtyRequest) -> Result<()> {
        let state = self.lock();
        let container = container_ref(&state, &req.id)?;
        let name = container.name(&req.exec_id);
        let process = container.process(&req.exec_id)?;
        match &process.io {
            Some(io) => io.resize(req.width, req.height),
            None if process.exit.is_some() => Err(Error::ProcessFinished(name)),
            None => Err(Error::WrongState {
                action: "resize the terminal of",
                what: name,
                state: process.status.name(),
            }),
        }
    }

    fn update_task(&self, req: &UpdateTaskRequest) -> Result<()> {
        let state = self.lock();
        let container = container_ref(&state, &req.id)?;
        let resources = req
            .resources
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument {
                field: "resources",
                reason: "missing".into(),
            })?;
        let file = container.bundle.join("update-resources.json");
        std::fs::write(&file, &resources.value)
            .map_err(|e| Error::io(format!("writing {}", file.display()), e))?;
        let result = container.rune.update(&req.id, &file);
        let _ = std::fs::remove_file(&file);
        result
    }

    fn stats_task(&self, req: &StatsRequest) -> Result<StatsResponse> {
        let pid = {
            let state = self.lock();
            let container = container_ref(&state, &req.id)?;
            container.init.expect(
                "collect stats of",
                &req.id,
                &[Status::Created, Status::Running, Status::Paused],
            )?;
            container.init.pid
        };
        let stats = crate::metrics::collect(pid)?;
        Ok(StatsResponse {
            stats: MessageField::some(stats),
            ..Default::default()
        })
    }

    fn connect_task(&self, req: &ConnectRequest) -> Result<ConnectResponse> {
        let state = self.lock();
        let task_pid = state.containers.get(&req.id).map_or(0, |c| c.init.pid);
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Default::default()
        })
    }

    fn shutdown_task(&self, req: &ShutdownRequest) {
        let state = self.lock();
        if req.now || state.containers.is_empty() {
            log::info!("shutting down");
            self.shared.exit_signal.signal();
        }
    }
}

fn container_ref<'a>(state: &'a State, id: &str) -> Result<&'a Container> {
    state
        .containers
        .get(id)
        .ok_or_else(|| Error::ContainerNotFound(id.to_owned()))
}

fn container_mut<'a>(state: &'a mut State, id: &str) -> Result<&'a mut Container> {
    state
        .containers
        .get_mut(id)
        .ok_or_else(|| Error::ContainerNotFound(id.to_owned()))
}

fn console_path(pending: &Pending) -> Option<PathBuf> {
    match pending {
        Pending::Console(socket) => Some(socket.path().to_owned()),
        Pending::Pipes { .. } => None,
    }
}

fn read_pid(path: &Path) -> Result<u32> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    text.trim().parse().map_err(|_| Error::InvalidArgument {
        field: "pid file",
        reason: format!("{} holds {text:?}, not a pid", path.display()),
    })
}

fn delete_response(process: &Process) -> DeleteResponse {
    DeleteResponse {
        pid: process.pid,
        exit_status: process.exit.map_or(0, |e| e.code),
        exited_at: process
            .exit
            .map(|e| e.timestamp())
            .map_or_else(MessageField::none, MessageField::some),
        ..Default::default()
    }
}

/// The runc shim's options (`containerd.runc.v1.Options`), or the defaults when none are given.
pub fn runtime_options(any: Option<&Any>) -> Result<Options> {
    let Some(any) = any else {
        return Ok(Options::default());
    };
    if any.type_url.is_empty() && any.value.is_empty() {
        return Ok(Options::default());
    }
    if !any.type_url.ends_with("containerd.runc.v1.Options") {
        return Err(Error::InvalidArgument {
            field: "options",
            reason: format!(
                "type {} is not containerd.runc.v1.Options (the runc shim's options)",
                any.type_url
            ),
        });
    }
    Options::parse_from_bytes(&any.value).map_err(|e| Error::InvalidArgument {
        field: "options",
        reason: e.to_string(),
    })
}

/// The runtime for these options: `BinaryName`, `Root` (per namespace, as runc's shim does),
/// `SystemdCgroup`.
pub fn rune_for(options: &Options, namespace: &str, bundle: &Path) -> Result<Rune> {
    let name = if options.binary_name.is_empty() {
        DEFAULT_BINARY
    } else {
        options.binary_name.as_str()
    };
    let root = if options.root.is_empty() {
        DEFAULT_ROOT
    } else {
        options.root.as_str()
    };
    Ok(Rune {
        binary: Rune::resolve_binary(name)?,
        root: Path::new(root).join(namespace),
        systemd_cgroup: options.systemd_cgroup,
        log: bundle.join("log.json"),
    })
}

/// Unmounts `bundle/rootfs` and everything below it; best effort.
pub fn unmount_rootfs(bundle: &Path) {
    let rootfs = bundle.join("rootfs");
    if let Err(e) = containerd_shim::mount::umount_recursive(rootfs.to_str(), nix::libc::MNT_DETACH)
    {
        log::warn!("unmounting {}: {e}", rootfs.display());
    }
}

impl Task for TaskService {
    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        Ok(self.state_task(&req)?)
    }

    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        Ok(self.create_task(&req)?)
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        Ok(self.start_task(&req)?)
    }

    fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        Ok(self.delete_task(&req)?)
    }

    fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        Ok(self.pids_task(&req)?)
    }

    fn pause(
        &self,
        _ctx: &TtrpcContext,
        req: containerd_shim::api::PauseRequest,
    ) -> TtrpcResult<Empty> {
        self.pause_task(&req.id, true)?;
        Ok(Empty::new())
    }

    fn resume(
        &self,
        _ctx: &TtrpcContext,
        req: containerd_shim::api::ResumeRequest,
    ) -> TtrpcResult<Empty> {
        self.pause_task(&req.id, false)?;
        Ok(Empty::new())
    }

    fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        _req: containerd_shim::api::CheckpointTaskRequest,
    ) -> TtrpcResult<Empty> {
        Err(Error::Unsupported("checkpoint").into())
    }

    fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        self.kill_task(&req)?;
        Ok(Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        self.exec_task(&req)?;
        Ok(Empty::new())
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<Empty> {
        self.resize_task(&req)?;
        Ok(Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        self.close_io_task(&req)?;
        Ok(Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        self.update_task(&req)?;
        Ok(Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        Ok(self.wait_task(&req)?)
    }

    fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        Ok(self.stats_task(&req)?)
    }

    fn connect(&self, _ctx: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        Ok(self.connect_task(&req)?)
    }

    fn shutdown(&self, _ctx: &TtrpcContext, req: ShutdownRequest) -> TtrpcResult<Empty> {
        self.shutdown_task(&req);
        Ok(Empty::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_when_absent() {
        let opts = runtime_options(None).unwrap();
        assert!(opts.binary_name.is_empty());
    }

    #[test]
    fn options_of_another_shim_are_refused() {
        let any = Any {
            type_url: "containerd.linux.runc.RuncOptions".into(),
            value: vec![1],
            ..Default::default()
        };
        let err = runtime_options(Some(&any)).unwrap_err();
        assert_eq!(
            err.code(),
            containerd_shim::protos::ttrpc::Code::INVALID_ARGUMENT
        );
    }

    #[test]
    fn runc_options_round_trip() {
        let opts = Options {
            binary_name: "/bin/sh".into(),
            root: "/tmp/r".into(),
            systemd_cgroup: true,
            ..Default::default()
        };
        let any = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: opts.write_to_bytes().unwrap(),
            ..Default::default()
        };
        let parsed = runtime_options(Some(&any)).unwrap();
        let rune = rune_for(&parsed, "ns", Path::new("/b")).unwrap();
        assert_eq!(rune.binary, PathBuf::from("/bin/sh"));
        assert_eq!(rune.root, PathBuf::from("/tmp/r/ns"));
        assert!(rune.systemd_cgroup);
        assert_eq!(rune.log, PathBuf::from("/b/log.json"));
    }
}
