//! loudfail's engine: a chaos test harness for streaming pipelines that read Kafka and write
//! Delta Lake. For each (pipeline, topology, fault) it answers one question: does the fault fail
//! **loudly**, does the job **restart**, and does every record land **exactly once**?
//!
//! The module list below is a map of the code.
//!
//! | module | what it is |
//! |---|---|
//! | [`run`] | one chaos run, start to verdict: the [`Scenario`] builder and its lifecycle |
//! | [`program`] | any program as a pipeline: a spec file, a generic workload, flows judged by what lands |
//! | [`landed`] | the ids a sink table holds, read incrementally from its data files |
//! | [`audit`] | ids missing, duplicated and unexpected |
//! | [`pipeline`] | what a pipeline is to the harness: plan, query logic, workload ([`Pipeline`]) |
//! | [`fault`] | what a fault is: inject, heal, expectation ([`Fault`]) |
//! | [`topology`] | how queries are laid out on tasks and clusters; await policies |
//! | [`supervisor`] | the jobs service: runs, tasks, retries, backoff, and the states a UI shows |
//! | [`process`] | child processes: process groups, parent-death signal, reaping |
//! | [`workload`] | the loops a workload runs, stopped together |
//! | [`worker`] | the cluster and task processes (the binary re-executed) |
//! | [`stream`] | the micro-batch engine every query runs on: checkpoint, source, exactly-once sink |
//! | [`checkpoint`] | `offsets/` and `commits/`, as Spark lays them out |
//! | [`diagnostics`] | `tracing` at the levels `RUST_LOG` asks for |
//! | [`failpoint`] | named failpoints that travel across processes |
//! | [`proto`] | what crosses process boundaries |
//! | [`kafka`] | the run's broker: librdkafka's mock cluster, or an external one |
//! | [`catalog`] | table name → storage location |
//! | [`memlimit`] | memory limits for clusters: a memory cgroup, or `RLIMIT_AS` |
//! | [`named`] | things found by name: the pipeline registry, the fault catalogue |
//! | [`rundir`] | the run directory and its layout |
//! | [`storage`] | directories made read-only for a while, and put back on every way out |
//! | [`history`] | the one append-only history everything is recorded in |
//! | [`observer`] | what the world shows: sink versions and txns, source ends, checkpoints |
//! | [`oracle`] | pure functions of the history, and the verdict |
//! | [`report`] | the verdict table, `report.json`, the replay line |
//! | [`junit`] | JUnit XML for CI: a run, or a matrix of cells |
//! | [`timeline`] | `timeline.html`: lanes per run, task, cluster and query; faults shaded |
//! | [`time`] | one time scale for every Databricks-scale interval |
//! | [`error`] | harness errors (never verdicts) |

#![deny(unsafe_code)]
#![deny(missing_debug_implementations)]
#![warn(missing_docs)]

pub mod audit;
pub mod catalog;
pub mod checkpoint;
pub mod diagnostics;
pub mod entry;
pub mod error;
pub mod failpoint;
pub mod fault;
pub mod history;
pub mod junit;
pub mod kafka;
pub mod landed;
pub mod memlimit;
pub mod named;
pub mod observer;
pub mod oracle;
pub mod pipeline;
pub mod process;
pub mod program;
pub mod proto;
pub mod reaper;
pub mod report;
pub mod run;
pub mod rundir;
pub mod storage;
pub mod stream;
pub mod supervisor;
pub mod time;
pub mod timeline;
pub mod topology;
pub mod worker;
pub mod workload;

pub use error::{HarnessError, Result};
pub use fault::{Expectation, Fault, FaultCatalog, FaultCtx};
pub use history::{Event, History, Record};
pub use oracle::{Analysis, Verdict, analyze};
pub use pipeline::{Pipeline, PipelineOptions, Registry};
pub use report::Report;
pub use run::Scenario;
pub use time::{TimeScale, Timings};
pub use topology::{AwaitPolicy, Topology, TopologyKind};

/// Re-exported so pipelines and faults use the same versions as the harness.
pub use async_trait::async_trait;
pub use deltalake;
pub use rdkafka;
pub use tracing;
