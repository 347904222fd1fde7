//! loudfail's engine: a chaos test harness for streaming pipelines that read Kafka and write
//! Delta Lake. For each (pipeline, topology, fault) it answers one question: does the fault fail
//! **loudly**, does the job **restart**, and does every record land **exactly once**?
//!
//! The modules below are the public API: what a pipeline, a fault or a test of one's own is
//! written against. A pipeline's building blocks (a producer for its workload, the loops it
//! runs, its tables, its audit) are re-exported from [`pipeline`].
//!
//! | module | what it is |
//! |---|---|
//! | [`run`] | one chaos run, start to verdict: the [`Scenario`] builder and its lifecycle |
//! | [`program`] | any program as a pipeline: a spec file, a generic workload, flows judged by what lands |
//! | [`pipeline`] | what a pipeline is to the harness: plan, query logic, workload ([`Pipeline`]) |
//! | [`fault`] | what a fault is: inject, heal, expectation ([`Fault`]) |
//! | [`topology`] | how queries are laid out on tasks and clusters; await policies |
//! | [`process`] | child processes: process groups, parent-death signal, reaping |
//! | [`catalog`] | table name → storage location |
//! | [`memlimit`] | memory limits for clusters: a memory cgroup, or `RLIMIT_AS` |
//! | [`named`] | things found by name: the pipeline registry, the fault catalogue |
//! | [`storage`] | directories made read-only for a while, and put back on every way out |
//! | [`history`] | the one append-only history everything is recorded in |
//! | [`oracle`] | pure functions of the history, and the verdict |
//! | [`report`] | the verdict table, `report.json`, the replay line |
//! | [`junit`] | JUnit XML for CI: a run, or a matrix of cells |
//! | [`timeline`] | `timeline.html`: lanes per run, task, cluster and query; faults shaded |
//! | [`time`] | one time scale for every Databricks-scale interval |
//! | [`error`] | harness errors (never verdicts) |
//! | [`error_kind`] | the class of a query's error, as the history records it |
//! | [`entry`] | a binary's `main`: the worker roles it serves, reaping on every way out |
//!
//! Inside, and private: how the engine does it.
//!
//! | module | what it is |
//! |---|---|
//! | `delta_log` | a table's log read the cheap way: each commit file once, else delta-rs |
//! | `landed` | the ids a sink table holds, read incrementally from its data files |
//! | `audit` | ids missing, duplicated and unexpected |
//! | `supervisor` | the jobs service: runs, tasks, retries, backoff, and the states a UI shows |
//! | `plan` | the vocabulary of pipelines: plans, specs, micro-batches, query errors, the traits below [`Pipeline`] |
//! | `program_spec` | a program's spec file as data, and what a run keeps of a program (re-exported from [`program`]) |
//! | `workload` | the loops a workload runs, stopped together; the generic workload |
//! | `worker` | the cluster and task processes (the binary re-executed) |
//! | `stream` | the micro-batch engine every query runs on: checkpoint, source, exactly-once sink |
//! | `checkpoint` | `offsets/` and `commits/`, as Spark lays them out |
//! | `diagnostics` | `tracing` at the levels `RUST_LOG` asks for |
//! | `failpoint` | named failpoints that travel across processes |
//! | `proto` | what crosses process boundaries |
//! | `kafka` | the run's broker: librdkafka's mock cluster, or an external one |
//! | `rundir` | the run directory and its layout |
//! | `reaper` | a watchdog process that outlives the harness and undoes what it left |
//! | `frozen` | a directory made unwritable, and how it is put back |
//! | `observer` | what the world shows: sink versions and txns, source ends, checkpoints |

#![deny(unsafe_code)]
#![deny(missing_debug_implementations)]
#![warn(missing_docs)]

mod audit;
pub mod catalog;
mod checkpoint;
mod delta_log;
mod diagnostics;
pub mod entry;
pub mod error;
pub mod error_kind;
mod failpoint;
pub mod fault;
mod forks;
mod frozen;
pub mod history;
pub mod junit;
mod kafka;
mod landed;
pub mod memlimit;
pub mod named;
mod observer;
pub mod oracle;
pub mod pipeline;
mod plan;
pub mod process;
pub mod program;
mod program_spec;
mod proto;
mod reaper;
pub mod report;
pub mod run;
mod rundir;
pub mod storage;
mod stream;
mod supervisor;
pub mod time;
pub mod timeline;
pub mod topology;
mod worker;
mod workload;

pub use error::{Doing, HarnessError, Result};
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
