//! The shim's record of each container and its processes: an explicit state machine, where a
//! request that does not fit the state is a `FAILED_PRECONDITION` (see [`Error::WrongState`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::types::task::Status as ProtoStatus;

use crate::error::{Error, Result};
use crate::io::{ProcessIo, StdioPaths};
use crate::rune::Rune;

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created by the runtime (init) or announced by Exec (exec), not started.
    Created,
    /// Started and not exited.
    Running,
    /// Frozen (init only; its execs follow it).
    Paused,
    /// Exited.
    Stopped,
}

impl Status {
    /// The word used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// The containerd status.
    pub fn proto(self) -> ProtoStatus {
        match self {
            Status::Created => ProtoStatus::CREATED,
            Status::Running => ProtoStatus::RUNNING,
            Status::Paused => ProtoStatus::PAUSED,
            Status::Stopped => ProtoStatus::STOPPED,
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// Exit status (128+n for signal n).
    pub code: u32,
    /// When the shim saw it.
    pub at: SystemTime,
}

impl Exit {
    /// The exit time as a protobuf timestamp.
    pub fn timestamp(&self) -> Timestamp {
        to_timestamp(self.at)
    }
}

/// Converts a wall-clock time to a protobuf timestamp.
pub fn to_timestamp(at: SystemTime) -> Timestamp {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    ts.nanos = i32::try_from(since.subsec_nanos()).unwrap_or(0);
    ts
}

/// The init process or one exec process.
#[derive(Debug)]
pub struct Process {
    /// Exec id; empty for init.
    pub exec_id: String,
    /// Host pid, 0 until known.
    pub pid: u32,
    /// The fifos containerd gave.
    pub paths: StdioPaths,
    /// Lifecycle state.
    pub status: Status,
    /// Set when the process exited.
    pub exit: Option<Exit>,
    /// Set once the exit was published and output drained: Wait returns then.
    pub reported: bool,
    /// Running stdio copies.
    pub io: Option<ProcessIo>,
    /// The exec's OCI process JSON (exec only).
    pub spec: Vec<u8>,
}

impl Process {
    /// A process that has not started.
    pub fn new(exec_id: &str, paths: StdioPaths, spec: Vec<u8>) -> Self {
        Self {
            exec_id: exec_id.to_owned(),
            pid: 0,
            paths,
            status: Status::Created,
            exit: None,
            reported: false,
            io: None,
            spec,
        }
    }

    /// Fails unless the process is in `expected`.
    pub fn expect(&self, action: &'static str, what: &str, expected: &[Status]) -> Result<()> {
        if expected.contains(&self.status) {
            Ok(())
        } else {
            Err(Error::WrongState {
                action,
                what: what.to_owned(),
                state: self.status.name(),
            })
        }
    }
}

/// One container of this shim.
#[derive(Debug)]
pub struct Container {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// The runtime driving it.
    pub rune: Rune,
    /// The init process.
    pub init: Process,
    /// Exec processes by exec id.
    pub execs: HashMap<String, Process>,
    /// Whether the shim mounted `bundle/rootfs` (and so must unmount it).
    pub mounted_rootfs: bool,
}

impl Container {
    /// The process named by `exec_id` (empty: init).
    pub fn process(&self, exec_id: &str) -> Result<&Process> {
        if exec_id.is_empty() {
            return Ok(&self.init);
        }
        self.execs
            .get(exec_id)
            .ok_or_else(|| Error::ProcessNotFound {
                id: self.id.clone(),
                exec_id: exec_id.to_owned(),
            })
    }

    /// The process named by `exec_id`, mutably.
    pub fn process_mut(&mut self, exec_id: &str) -> Result<&mut Process> {
        if exec_id.is_empty() {
            return Ok(&mut self.init);
        }
        let id = self.id.clone();
        self.execs
            .get_mut(exec_id)
            .ok_or_else(|| Error::ProcessNotFound {
                id,
                exec_id: exec_id.to_owned(),
            })
    }

    /// The process whose host pid is `pid` and that has not exited yet.
    pub fn by_pid_mut(&mut self, pid: u32) -> Option<&mut Process> {
        if pid == 0 {
            return None;
        }
        std::iter::once(&mut self.init)
            .chain(self.execs.values_mut())
            .find(|p| p.pid == pid && p.exit.is_none())
    }

    /// The name used in messages: the container id, or `id/exec`.
    pub fn name(&self, exec_id: &str) -> String {
        if exec_id.is_empty() {
            self.id.clone()
        } else {
            format!("{}/{exec_id}", self.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_twice_is_a_failed_precondition() {
        let mut p = Process::new("", StdioPaths::default(), Vec::new());
        p.status = Status::Running;
        let err = p
            .expect("start", "c1", &[Status::Created])
            .unwrap_err()
            .to_string();
        assert_eq!(err, "cannot start c1: it is running");
    }

    #[test]
    fn timestamps_keep_nanoseconds() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::new(5, 7);
        let ts = to_timestamp(at);
        assert_eq!((ts.seconds, ts.nanos), (5, 7));
    }
}
