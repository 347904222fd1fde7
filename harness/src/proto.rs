//! What crosses process boundaries.
//!
//! ```text
//!   harness ──stdin: Control──▶ cluster ◀──unix socket: ToCluster / ToTask──▶ task
//!      ▲                           │                                          │
//!      └────────── stdout: history Records (JSON lines) ──────────────────────┘
//! ```
//!
//! Child processes never write the history file themselves: they print [`Record`]s on stdout
//! and the supervisor appends them, so the history has one writer.

use crate::error::{HarnessError, Result};
use crate::history::{ErrorKind, Event, Record};
use crate::time::{TimeScale, Timings, now_us};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

/// Harness → cluster, one JSON object per line on the cluster's stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Control {
    /// Arms a failpoint with an action in the failpoint grammar (`1*pause`, `off`, ...).
    Arm {
        /// Failpoint name.
        name: String,
        /// Action.
        action: String,
    },
    /// Releases every code path paused at a failpoint.
    Release {
        /// Failpoint name.
        name: String,
    },
}

/// Task → cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum ToCluster {
    /// Start a query on behalf of a task.
    Start {
        /// The query.
        query: String,
        /// The task asking.
        task: String,
    },
}

/// Cluster → task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum ToTask {
    /// The query runs.
    Started {
        /// The query.
        query: String,
    },
    /// The query ended (with an error, or stopped).
    Terminated {
        /// The query.
        query: String,
        /// The error, when it failed.
        error: Option<String>,
        /// The error's class.
        error_kind: Option<ErrorKind>,
    },
}

/// Everything a child process needs to know about its run, written once to `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// The run's id.
    pub run_id: String,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The pipeline's registry name.
    pub pipeline: String,
    /// Its options.
    pub options: PipelineOptions,
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// The time scale.
    pub scale: TimeScale,
    /// Nominal timings.
    pub timings: Timings,
}

/// The abstract unix socket a cluster listens on (abstract: nothing appears on disk).
pub fn cluster_socket(run_id: &str, cluster: &str, run: u32) -> String {
    format!("loudfail/{run_id}/{cluster}/{run}")
}

/// Prints a history record on stdout (the child side of the history).
pub fn report(event: Event) {
    let rec = Record { at: now_us(), event };
    if let Ok(line) = serde_json::to_string(&rec) {
        // In the process's own log (its stderr, under logs/) at the levels RUST_LOG asks for.
        match &rec.event {
            Event::QueryStarted { query, .. } => tracing::info!(target: "harness::worker", "query {query} started"),
            Event::QueryTerminated { query, error, .. } => match error {
                Some(e) => tracing::info!(target: "harness::worker", "query {query} failed: {e}"),
                None => tracing::info!(target: "harness::worker", "query {query} stopped"),
            },
            Event::BatchCommitted { query, batch, rows, .. } => {
                tracing::debug!(target: "harness::worker", "query {query} committed batch {batch} ({rows} rows)")
            }
            _ => tracing::debug!(target: "harness::worker", "{line}"),
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Encodes one message as a JSON line.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut v = serde_json::to_vec(msg).expect("protocol messages serialize");
    v.push(b'\n');
    v
}

/// Decodes one JSON line.
pub fn decode<T: for<'de> Deserialize<'de>>(line: &str, what: &str) -> Result<T> {
    serde_json::from_str(line).map_err(|e| HarnessError::json(what, e))
}

/// Options every pipeline understands; each reads the ones that concern it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineOptions {
    /// Number of domain queries (telemetry: 2 by default, up to 6).
    pub domains: usize,
    /// Partitions per topic.
    pub partitions: i32,
    /// Records per second the workload produces on its main stream.
    pub rate: u32,
}

impl PipelineOptions {
    /// Checks what every pipeline relies on (each pipeline checks the options it alone reads).
    pub fn check(&self) -> Result<()> {
        if !(1..=16).contains(&self.partitions) {
            return Err(HarnessError::bad_input(
                format!("{} partitions per topic", self.partitions),
                "set PipelineOptions::partitions between 1 and 16",
            ));
        }
        if self.rate == 0 {
            return Err(HarnessError::bad_input(
                "a workload rate of 0 records per second",
                "set PipelineOptions::rate above 0",
            ));
        }
        Ok(())
    }
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions { domains: 2, partitions: 2, rate: 400 }
    }
}
