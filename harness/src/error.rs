//! Errors of the harness. A harness error is never a verdict: a run that meets one ends in
//! `ERROR`, whatever the pipeline did.

use std::path::PathBuf;

/// Everything that can go wrong in the harness itself (not in the pipeline under test).
///
/// Shown, an error is what went wrong, then one line `Help: …` saying what to do about it: every
/// variant has one. An error met while the run was doing something says what
/// ([`HarnessError::During`], added with [`Doing::doing`]): the layers read outermost first, and
/// the help is the innermost cause's.
#[derive(Debug)]
pub enum HarnessError {
    /// The user asked for something that does not exist or does not fit together.
    BadInput {
        /// What is wrong.
        problem: String,
        /// What to do about it.
        help: String,
    },

    /// The run directory cannot be used.
    RunDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to do about it.
        help: String,
    },

    /// The Kafka broker (the embedded one, or the user's `--broker`) could not start or answer.
    Broker {
        /// What went wrong.
        problem: String,
        /// What to do about it: it depends on which broker the user chose.
        help: String,
    },

    /// The machine cannot do what was asked (make storage read-only, say).
    Unsupported {
        /// What cannot be done, and why.
        problem: String,
        /// How to get a machine (or a setting) that can.
        help: String,
    },

    /// A Kafka client call of the harness's own failed.
    Kafka(rdkafka::error::KafkaError),

    /// A Delta Lake call failed where the harness, not the pipeline, made it.
    Delta(deltalake::DeltaTableError),

    /// A child process could not be started or controlled.
    Process {
        /// Which process.
        name: String,
        /// What went wrong.
        problem: String,
    },

    /// Something the harness waited for did not happen within its bound.
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited_ms: u64,
    },

    /// A fault could not be injected as designed (it did not take effect).
    Fault {
        /// The fault's name.
        fault: String,
        /// What went wrong.
        problem: String,
    },

    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A protocol message, history line or file could not be parsed.
    Json {
        /// What was being parsed.
        what: String,
        /// The cause.
        source: serde_json::Error,
    },

    /// The harness could not look at the world (read a table for an audit, ...).
    Check {
        /// What was being checked.
        what: String,
        /// What went wrong.
        problem: String,
    },

    /// An error met while the harness was doing something: a step of the run, a fault's
    /// injection or heal.
    During {
        /// What the harness was doing (`starting the broker`, `injecting driver-oom`).
        doing: String,
        /// The error itself.
        source: Box<HarnessError>,
    },
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

    /// Something this machine cannot do, with how to get one that can.
    pub fn unsupported(problem: impl Into<String>, help: impl Into<String>) -> Self {
        Self::Unsupported { problem: problem.into(), help: help.into() }
    }

    /// An I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// A JSON error while parsing `what`.
    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Self::Json { what: what.into(), source }
    }

    /// The error under every [`HarnessError::During`] layer.
    pub fn cause(&self) -> &HarnessError {
        match self {
            Self::During { source, .. } => source.cause(),
            other => other,
        }
    }

    /// True when the error comes from what the user asked for (exit 2 with a help line).
    pub fn is_bad_input(&self) -> bool {
        matches!(self.cause(), Self::BadInput { .. } | Self::RunDir { .. })
    }

    /// What went wrong, without the help line: the layers, outermost first, then the cause.
    pub fn problem(&self) -> String {
        match self {
            Self::BadInput { problem, .. } => problem.clone(),
            Self::RunDir { path, problem, .. } => format!("run directory {}: {problem}", path.display()),
            Self::Broker { problem, .. } => format!("Kafka broker: {problem}"),
            Self::Unsupported { problem, .. } => format!("not possible on this machine: {problem}"),
            Self::Kafka(e) => format!("Kafka: {e}"),
            Self::Delta(e) => format!("Delta Lake: {e}"),
            Self::Process { name, problem } => format!("process {name}: {problem}"),
            Self::Timeout { what, waited_ms } => format!("timed out after {waited_ms} ms waiting for {what}"),
            Self::Fault { fault, problem } => format!("fault {fault}: {problem}"),
            Self::Io { path, source } => format!("{}: {source}", path.display()),
            Self::Json { what, source } => format!("{what}: {source}"),
            Self::Check { what, problem } => format!("cannot check {what}: {problem}"),
            Self::During { doing, source } => format!("{doing}: {}", source.problem()),
        }
    }

    /// What to do about it: one line, for every variant.
    pub fn help(&self) -> String {
        match self {
            Self::BadInput { help, .. }
            | Self::RunDir { help, .. }
            | Self::Broker { help, .. }
            | Self::Unsupported { help, .. } => help.clone(),
            Self::Kafka(_) => "a call of the harness's own to the broker failed: with --broker, check that the broker is healthy; the run directory's history.jsonl shows what the run was doing".into(),
            Self::Delta(_) => "a table the harness reads or writes could not be used: its _delta_log, under the run directory's tables/, shows its commits".into(),
            Self::Process { name, .. } => format!("what {name} printed is in the run directory's logs/"),
            Self::Timeout { .. } => "a loaded machine stretches every wait: run fewer runs at once (--jobs), or at a slower --scale; the run directory's history.jsonl shows what came last".into(),
            Self::Fault { .. } => "the fault could not strike this pipeline as designed: `loudfail list` says which pipelines each fault fits, and the run directory's history.jsonl what it did".into(),
            Self::Io { path, .. } => format!("check that {} exists, is writable by this user, and that its disk has room", path.display()),
            Self::Json { .. } => "the file may be cut short or written by another loudfail version: run the scenario again to write a new one".into(),
            Self::Check { .. } => "the run directory keeps what was read; if it looks whole, this is a loudfail bug: please report it with the run directory".into(),
            Self::During { source, .. } => source.help(),
        }
    }
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\nHelp: {}", self.problem(), self.help())
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Kafka(e) => Some(e),
            Self::Delta(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            Self::Json { source, .. } => Some(source),
            Self::During { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<rdkafka::error::KafkaError> for HarnessError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        Self::Kafka(e)
    }
}

impl From<deltalake::DeltaTableError> for HarnessError {
    fn from(e: deltalake::DeltaTableError) -> Self {
        Self::Delta(e)
    }
}

/// Says what the harness was doing when an error met it.
pub trait Doing<T> {
    /// Wraps an error in a [`HarnessError::During`] layer saying what was being done.
    fn doing(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Doing<T> for Result<T> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| HarnessError::During { doing: what(), source: Box::new(e) })
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
