//! The shim's own lifecycle: `start` (spawn the long-lived shim server, one per pod sandbox),
//! `delete` (clean up after a shim or task that died), and serving the task API until Shutdown.
//!
//! Cleanup in `delete` is best effort: each failure is logged and the next step still runs, so
//! containerd can always finish removing a crashed task.

use std::path::Path;
use std::sync::Arc;

use containerd_shim::api::DeleteResponse;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::util::{read_options, write_address};
use containerd_shim::{spawn, Config, ExitSignal, Flags, Shim, StartOpts};
use serde_json::Value;

use crate::container::to_timestamp;
use crate::events::Events;
use crate::task::{rune_for, unmount_rootfs, TaskService};

/// Annotations that put containers in one shim, first match wins: a rune-specific group, the
/// runc shim's group label, and the CRI pod sandbox (so a pod gets one shim, as with runc).
pub const GROUP_LABELS: [&str; 3] = [
    "io.containerd.rune.v2.group",
    "io.containerd.runc.v2.group",
    "io.kubernetes.cri.sandbox-id",
];

/// Exit status reported for a task whose shim died: it was killed (128 + SIGKILL), as runc's
/// shim reports.
const KILLED: u32 = 128 + 9;

/// The shim.
pub struct Service {
    exit: Arc<ExitSignal>,
    namespace: String,
    id: String,
    socket: String,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("namespace", &self.namespace)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Shim for Service {
    type T = TaskService;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        // `start` must print nothing but the address; `delete` logs to stderr; the server to
        // containerd's log fifo.
        match args.action.as_str() {
            "" => crate::logger::init(crate::logger::Sink::Fifo, args.debug),
            "delete" => crate::logger::init(crate::logger::Sink::Stderr, args.debug),
            _ => {}
        }
        Self {
            exit: Arc::new(ExitSignal::default()),
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            socket: args.socket.clone(),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        // containerd runs `start` in the bundle directory.
        let grouping = group_of(Path::new("config.json")).unwrap_or_else(|| opts.id.clone());
        let (pid, address) = spawn(opts, &grouping, Vec::new())?;
        block_signals_of_a_dropped_hook();
        if let Err(e) = containerd_shim::cgroup::adjust_oom_score(pid) {
            log::warn!("adjusting the OOM score of shim {pid}: {e}");
        }
        write_address(&address)?;
        Ok(address)
    }

    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = std::env::current_dir()
            .map_err(|e| containerd_shim::Error::Other(format!("bundle directory: {e}")))?;
        let options = read_options(&bundle).unwrap_or_default();
        match rune_for(&options, &self.namespace, &bundle) {
            Ok(rune) => {
                if let Err(e) = rune.delete(&self.id, true) {
                    log::warn!(
                        "deleting container {} after its shim died: {}",
                        self.id,
                        e.chain()
                    );
                }
            }
            Err(e) => log::warn!("deleting container {}: {}", self.id, e.chain()),
        }
        unmount_rootfs(&bundle);
        Ok(DeleteResponse {
            pid: 0,
            exit_status: KILLED,
            exited_at: MessageField::some(to_timestamp(std::time::SystemTime::now())),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
        // The library removes the socket named in the `address` file of its cwd, the first
        // container's bundle, which containerd may already have deleted: remove it here.
        if let Some(path) = self.socket.strip_prefix("unix://") {
            let _ = std::fs::remove_file(path);
        }
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Self::T {
        // Events go through our own publisher, which reconnects when containerd restarts.
        drop(publisher);
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        let events = Events::start(address, self.namespace.clone());
        TaskService::new(&self.namespace, events, Arc::clone(&self.exit))
    }
}

/// For the rest of the `start` action, blocks SIGCHLD and SIGPIPE in this (its only) thread.
///
/// The library hooks SIGTERM, SIGINT, SIGPIPE and SIGCHLD to a socket pair before `start`
/// and drops the hook when `start` returns: first the reading end, then the handlers. A signal
/// in between — SIGCHLD, when the server just spawned finds its pod's shim already serving and
/// exits — made the handler's write fail with EPIPE, which raised SIGPIPE, whose handler wrote
/// again: `start` spun forever, and containerd's task creation with it. Blocked, those signals
/// stay pending (SIGTERM's or SIGINT's write fails once, quietly). The server was spawned
/// before this, with the usual mask, so neither it nor the containers it starts inherit it.
fn block_signals_of_a_dropped_hook() {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGPIPE);
    if let Err(e) = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        log::warn!("blocking SIGCHLD and SIGPIPE in the start action: {e}");
    }
}

/// The shim group of the container whose spec is at `config`, from [`GROUP_LABELS`].
pub fn group_of(config: &Path) -> Option<String> {
    let text = std::fs::read(config).ok()?;
    let spec: Value = serde_json::from_slice(&text).ok()?;
    let annotations = spec.get("annotations")?.as_object()?;
    GROUP_LABELS
        .iter()
        .find_map(|label| annotations.get(*label)?.as_str())
        .filter(|group| !group.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_containers_share_the_sandbox_shim() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1","io.kubernetes.cri.container-type":"container"}}"#,
        )
        .unwrap();
        assert_eq!(group_of(&config).as_deref(), Some("pod1"));
        std::fs::write(&config, r#"{"annotations":{}}"#).unwrap();
        assert_eq!(group_of(&config), None);
        assert_eq!(group_of(&dir.path().join("missing.json")), None);
    }

    /// The `start` action's hang, reproduced in a process of its own (its handlers stay for
    /// the life of the process): with the block, a signal while the library's hook is half
    /// dropped stays pending and the process ends; without it, the process spins.
    #[test]
    fn a_signal_while_the_library_drops_its_hook_does_not_spin() {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "service::tests::signal_while_the_hook_is_half_dropped",
                "--ignored",
                "--test-threads=1",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the process still spins 20 s after the signal");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(status.success(), "{status}");
    }

    #[test]
    #[ignore = "run in its own process by a_signal_while_the_library_drops_its_hook_does_not_spin"]
    fn signal_while_the_hook_is_half_dropped() {
        use signal_hook::consts::{SIGCHLD, SIGPIPE};
        // The state containerd-shim's hook passes through when dropped: handlers that write
        // to a socket whose reading end is closed.
        let (read, write) = std::os::unix::net::UnixStream::pair().unwrap();
        for signal in [SIGPIPE, SIGCHLD] {
            signal_hook::low_level::pipe::register(signal, write.try_clone().unwrap()).unwrap();
        }
        drop(read);
        block_signals_of_a_dropped_hook();
        // raise(3) signals this thread only: one for the process could go to the harness's.
        signal_hook::low_level::raise(SIGCHLD).unwrap();
    }
}
