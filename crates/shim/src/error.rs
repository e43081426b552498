//! The shim's errors and their one mapping to ttrpc status codes.
//!
//! containerd decides what to do from the status code (`NOT_FOUND` on a kill of a finished
//! process is not an error for it, `FAILED_PRECONDITION` tells it the task is in the wrong
//! state), so each variant names the case and [`From<Error> for ttrpc::Error`] is the only place
//! that chooses the code.

use std::path::PathBuf;

use containerd_shim::protos::ttrpc;

/// Result of a shim operation.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything a task request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No container with this id lives in this shim.
    #[error("container {0} not found")]
    ContainerNotFound(String),
    /// The container has no process with this exec id.
    #[error("process {exec_id} of container {id} not found")]
    ProcessNotFound {
        /// Container id.
        id: String,
        /// Exec id.
        exec_id: String,
    },
    /// The id is already used by a container or an exec process.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The process has exited, so it cannot be signalled or resized.
    #[error("process {0} already finished")]
    ProcessFinished(String),
    /// The request does not fit the process's state (e.g. start twice, delete while running).
    #[error("cannot {action} {what}: it is {state}")]
    WrongState {
        /// What was asked.
        action: &'static str,
        /// Container or exec id.
        what: String,
        /// The state it is in.
        state: &'static str,
    },
    /// A request field is malformed.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The request field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The OCI runtime binary reported a failure.
    #[error("{binary} {verb} failed: {message}")]
    Runtime {
        /// The runtime binary.
        binary: String,
        /// The subcommand.
        verb: &'static str,
        /// The runtime's own error message (from its log or stderr), or its exit status.
        message: String,
    },
    /// The OCI runtime binary could not be found.
    #[error("runtime binary {0} not found next to the shim or on PATH: set BinaryName in the runtime options")]
    RuntimeNotFound(String),
    /// An I/O operation of the shim itself failed.
    #[error("{context}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document the shim reads could not be parsed.
    #[error("parsing {}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An error from the containerd-shim library (mounts, cgroups, protobuf).
    #[error(transparent)]
    Shim(#[from] containerd_shim::Error),
    /// The request is part of the task API but this shim does not support it.
    #[error("{0} is not supported by the rune shim")]
    Unsupported(&'static str),
}

impl Error {
    /// An [`Error::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The ttrpc code containerd sees.
    pub fn code(&self) -> ttrpc::Code {
        match self {
            Error::ContainerNotFound(_)
            | Error::ProcessNotFound { .. }
            | Error::ProcessFinished(_) => ttrpc::Code::NOT_FOUND,
            Error::AlreadyExists(_) => ttrpc::Code::ALREADY_EXISTS,
            Error::WrongState { .. } => ttrpc::Code::FAILED_PRECONDITION,
            Error::InvalidArgument { .. } => ttrpc::Code::INVALID_ARGUMENT,
            Error::Unsupported(_) => ttrpc::Code::UNIMPLEMENTED,
            Error::RuntimeNotFound(_) => ttrpc::Code::FAILED_PRECONDITION,
            Error::Shim(e) => match e {
                containerd_shim::Error::NotFoundError(_) => ttrpc::Code::NOT_FOUND,
                containerd_shim::Error::InvalidArgument(_) => ttrpc::Code::INVALID_ARGUMENT,
                containerd_shim::Error::FailedPreconditionError(_) => {
                    ttrpc::Code::FAILED_PRECONDITION
                }
                containerd_shim::Error::Unimplemented(_) => ttrpc::Code::UNIMPLEMENTED,
                _ => ttrpc::Code::UNKNOWN,
            },
            Error::Runtime { .. } | Error::Io { .. } | Error::Json { .. } => ttrpc::Code::UNKNOWN,
        }
    }

    /// The message with its whole cause chain, on one line.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// The one place that turns shim errors into what containerd receives.
impl From<Error> for ttrpc::Error {
    fn from(e: Error) -> Self {
        log::warn!("request failed: {}", e.chain());
        ttrpc::Error::RpcStatus(ttrpc::get_status(e.code(), e.chain()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_process_is_not_found_for_containerd() {
        let e = Error::ProcessFinished("c1".into());
        assert_eq!(e.code(), ttrpc::Code::NOT_FOUND);
        assert_eq!(e.to_string(), "process c1 already finished");
    }

    #[test]
    fn chain_prints_each_cause_once() {
        let e = Error::io(
            "opening /x",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        );
        assert_eq!(e.chain(), "opening /x: no such file");
        assert_eq!(e.code(), ttrpc::Code::UNKNOWN);
    }

    #[test]
    fn wrong_state_is_failed_precondition() {
        let e = Error::WrongState {
            action: "start",
            what: "c1".into(),
            state: "running",
        };
        assert_eq!(e.code(), ttrpc::Code::FAILED_PRECONDITION);
        assert_eq!(e.to_string(), "cannot start c1: it is running");
    }
}
