//! Errors of the harness. A harness error is never a verdict: a run that meets one ends in
//! `ERROR`, whatever the pipeline did.

use std::path::PathBuf;

/// Everything that can go wrong in the harness itself (not in the pipeline under test).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The user asked for something that does not exist or does not fit together.
    #[error("{problem}\nHelp: {help}")]
    BadInput {
        /// What is wrong.
        problem: String,
        /// What to do about it.
        help: String,
    },

    /// The run directory cannot be used.
    #[error("run directory {}: {problem}\nHelp: {help}", path.display())]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to do about it.
        help: String,
    },

    /// The Kafka broker (the embedded one, or the user's `--broker`) could not start or answer.
    #[error("Kafka broker: {problem}\nHelp: {help}")]
    Broker {
        /// What went wrong.
        problem: String,
        /// What to do about it: it depends on which broker the user chose.
        help: String,
    },

    /// The machine cannot do what was asked (make storage read-only, say), with how to get one
    /// that can.
    #[error("not possible on this machine: {0}")]
    Unsupported(String),

    /// A Kafka client call failed.
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),

    /// A Delta Lake call failed where the harness, not the pipeline, made it.
    #[error("Delta Lake: {0}")]
    Delta(#[from] deltalake::DeltaTableError),

    /// A child process could not be started or controlled.
    #[error("process {name}: {problem}")]
    Process {
        /// Which process.
        name: String,
        /// What went wrong.
        problem: String,
    },

    /// Something the harness waited for did not happen within its bound.
    #[error("timed out after {waited_ms} ms waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited_ms: u64,
    },

    /// A fault could not be injected as designed (it did not take effect).
    #[error("fault {fault}: {problem}")]
    Fault {
        /// The fault's name.
        fault: String,
        /// What went wrong.
        problem: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A protocol message, history line or file could not be parsed.
    #[error("{what}: {source}")]
    Json {
        /// What was being parsed.
        what: String,
        /// The cause.
        source: serde_json::Error,
    },

    /// The harness could not look at the world (read a table for an audit, ...).
    #[error("cannot check {what}: {problem}")]
    Check {
        /// What was being checked.
        what: String,
        /// What went wrong.
        problem: String,
    },

    /// The run was cancelled (Ctrl-C).
    #[error("the run was cancelled")]
    Cancelled,
}

impl HarnessError {
    /// A problem with the embedded broker (librdkafka's mock cluster).
    pub fn broker(problem: impl Into<String>) -> Self {
        HarnessError::Broker {
            problem: problem.into(),
            help: "the embedded broker is librdkafka's mock cluster on 127.0.0.1; check that loopback works and ports can be bound".into(),
        }
    }

    /// A bad-input error with its help line.
    pub fn bad_input(problem: impl Into<String>, help: impl Into<String>) -> Self {
        Self::BadInput { problem: problem.into(), help: help.into() }
    }

    /// An I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// A JSON error while parsing `what`.
    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Self::Json { what: what.into(), source }
    }

    /// True when the error comes from what the user asked for (exit 2 with a help line).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::BadInput { .. } | Self::RunDir { .. })
    }
}

/// Result with a [`HarnessError`].
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// What a panic said (its payload, when it is text).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
