//! OOM events: on cgroup v1 the kernel signals an eventfd registered on the container's
//! `memory.oom_control` (the mechanism runc's shim uses); each signal becomes a `TaskOOM`.
//!
//! On a pure cgroup v2 host the memory controller reports OOM kills in `memory.events`; this
//! shim does not watch it yet and logs that once per container.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::thread;

use containerd_shim::protos::events::task::TaskOOM;
use containerd_shim::protos::topics;
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::events::Events;

/// Starts watching the memory cgroup of `pid` for OOM, best effort.
pub fn watch(pid: u32, container_id: &str, events: Events) {
    let Some(dir) = memory_cgroup_v1(pid) else {
        log::info!(
            "container {container_id}: no cgroup v1 memory controller, OOM events not watched"
        );
        return;
    };
    match register(&dir) {
        Ok(efd) => {
            let id = container_id.to_owned();
            let spawned = thread::Builder::new().name("oom".into()).spawn(move || {
                while efd.read().is_ok() {
                    // The eventfd also fires when the cgroup is removed.
                    if !dir.join("memory.oom_control").exists() {
                        break;
                    }
                    log::info!("container {id}: out of memory");
                    events.send(
                        topics::TASK_OOM_EVENT_TOPIC,
                        TaskOOM {
                            container_id: id.clone(),
                            ..Default::default()
                        },
                    );
                }
            });
            if let Err(e) = spawned {
                log::warn!("container {container_id}: cannot start the OOM watcher: {e}");
            }
        }
        Err(e) => log::warn!(
            "container {container_id}: cannot watch {} for OOM: {e}",
            dir.display()
        ),
    }
}

fn register(dir: &std::path::Path) -> std::io::Result<EventFd> {
    let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC)?;
    let control = File::open(dir.join("memory.oom_control"))?;
    std::fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()),
    )?;
    Ok(efd)
}

/// `/sys/fs/cgroup/memory/<path>` of `pid`, when memory is a cgroup v1 controller.
fn memory_cgroup_v1(pid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    parse_memory_line(&text).map(|rel| PathBuf::from("/sys/fs/cgroup/memory").join(rel))
}

fn parse_memory_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then(|| path.trim_start_matches('/').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_memory_hierarchy() {
        let text = "12:pids:/a\n4:memory:/default/c1\n0::/x\n";
        assert_eq!(parse_memory_line(text).as_deref(), Some("default/c1"));
        assert_eq!(parse_memory_line("0::/only-v2\n"), None);
    }
}
