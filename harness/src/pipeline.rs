//! What a pipeline is to the harness: a *factory* (turmoil's lesson: we might restart the host),
//! never an instance. The harness asks it for a plan (topics, tables, queries, tasks), the cluster
//! process asks it for each query's logic, and the harness asks it for the workload that feeds it
//! and audits what landed.
//!
//! A user's own pipeline implements [`Pipeline`] and registers it in a [`Registry`] handed to
//! `loudfail`'s entry points; it is then as first-class as the reference pipelines in `suites`.

use crate::error::Result;
use crate::history::History;
use std::fmt::Debug;
use std::sync::Arc;

pub use crate::plan::*;
// The building blocks of a pipeline of one's own: a producer for its workload, the loops it
// runs, its tables, its audit.
pub use crate::audit::compare;
pub use crate::kafka::Producer;
pub use crate::landed::{landed_ids, landed_rows};
pub use crate::program_spec::FieldType;
pub use crate::stream::open_table;
pub use crate::workload::{Loops, TICK, Tick, per_tick, spawn_loop};

/// A pipeline: a factory of plans, query logic and workloads.
pub trait Pipeline: Send + Sync + Debug {
    /// Registry name (`telemetry`).
    fn name(&self) -> &'static str;
    /// One line for `--help` and reports.
    fn about(&self) -> &'static str;
    /// How a report names the pipeline with the options that shape it (`telemetry (2 domains)`).
    fn summary(&self, _options: &PipelineOptions) -> String {
        self.name().to_string()
    }
    /// How a `loudfail run` line names this pipeline with the options that shape it
    /// (`--pipeline telemetry --domains 2`).
    fn replay_args(&self, _options: &PipelineOptions) -> String {
        format!("--pipeline {}", self.name())
    }
    /// Checks options and describes topics, tables, queries and tasks.
    fn plan(&self, run_id: &str, options: &PipelineOptions) -> Result<PipelinePlan>;
    /// The logic of one query (called in the cluster process).
    fn query(&self, spec: &QuerySpec, env: &PipelineEnv) -> Result<Box<dyn QueryLogic>>;
    /// The workload (called in the harness process). By default the generic one: records
    /// with a unique `id` and the topics' declared
    /// fields at the run's rate, each sink audited by its `id` column.
    fn workload(
        &self,
        env: &PipelineEnv,
        plan: &PipelinePlan,
        history: History,
        seed: u64,
    ) -> Result<Arc<dyn Workload>> {
        Ok(Arc::new(crate::workload::IdWorkload::for_plan(env, plan, history, seed)?))
    }
}

/// The pipelines a binary knows, by name.
pub type Registry = crate::named::Catalogue<dyn Pipeline>;

impl crate::named::Named for dyn Pipeline {
    const KIND: &'static str = "pipeline";
    fn entry_name(&self) -> &'static str {
        self.name()
    }
}
