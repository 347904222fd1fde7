//! The vocabulary of pipelines: what a plan holds (topics, tables, queries, tasks), what a
//! query's logic gets and returns (micro-batches, query errors), the workload's and a concurrent
//! writer's traits, and a run's environment. Everything here is data and traits, below the
//! engine that runs them (`stream`, `workload`, `program`); [`crate::pipeline`] re-exports it
//! all with the [`crate::Pipeline`] trait and the building blocks of a pipeline of one's own.

use crate::catalog::Catalog;
use crate::error::{HarnessError, Result};
pub use crate::error_kind::ErrorKind;
use crate::failpoint::Failpoints;
use crate::history::{Positions, TableAudit};
pub use crate::proto::PipelineOptions;
use crate::proto::RunConfig;
use async_trait::async_trait;
use deltalake::DeltaTable;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A topic the pipeline reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopicSpec {
    /// Its name (unique to the run).
    pub name: String,
    /// Partitions.
    pub partitions: i32,
    /// The fields of the generic workload's records beyond `id` and `ts`; a pipeline with a
    /// workload of its own ignores them.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, crate::program_spec::FieldType>,
}

/// A Delta table the pipeline writes.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Catalog name.
    pub name: String,
    /// Arrow schema.
    pub schema: SchemaRef,
    /// Table properties (`delta.isolationLevel`, ...).
    pub properties: BTreeMap<String, String>,
}

/// Where a query reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceSpec {
    /// A Kafka topic, read by offsets kept in the checkpoint (as Spark's Kafka source does).
    Kafka {
        /// The topic.
        topic: String,
    },
    /// A Delta table written by another query, read by that query's batch ids (its `txn`).
    Delta {
        /// The table.
        table: String,
        /// The app id of the query writing it.
        app_id: String,
    },
}

/// One streaming query: source → transform → exactly-once Delta sink, in micro-batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuerySpec {
    /// Its name (also its checkpoint directory and sink app id).
    pub name: String,
    /// Where it reads.
    pub source: SourceSpec,
    /// The table it writes (catalog name), resolved through the catalog at every batch.
    pub sink: String,
    /// When the catalog points the sink at a location without a table, create one there
    /// (what `saveAsTable` into an external location does) instead of failing.
    #[serde(default)]
    pub create_sink: bool,
}

impl QuerySpec {
    /// The `txn` app id the query commits with.
    pub fn app_id(&self) -> &str {
        &self.name
    }
}

pub use crate::topology::TaskPlan;

/// Everything the harness sets up for a pipeline.
#[derive(Debug, Clone, Default)]
pub struct PipelinePlan {
    /// Topics to create.
    pub topics: Vec<TopicSpec>,
    /// Tables to create.
    pub tables: Vec<TableSpec>,
    /// Queries.
    pub queries: Vec<QuerySpec>,
    /// The pipeline's tasks.
    pub tasks: Vec<TaskPlan>,
    /// Out-of-the-ordinary records the workload can send down a query's source on demand (for
    /// faults that start in the data). Empty when it can send none.
    pub upstream: Vec<Upstream>,
    /// For a program pipeline (a black box described by a spec file): its spec and what the
    /// run produced. None for pipelines on loudfail's engine.
    pub program: Option<Arc<crate::program_spec::ProgramPlan>>,
}

impl PipelinePlan {
    /// The plan of a one-query pipeline: topic `lf-<run>-<name>` (with `partitions`) into the
    /// table `name` (created with `schema`), by the query `name` on the task `name`. Add the
    /// generic workload's record fields to `topics[0].fields`.
    pub fn ingest(run_id: &str, name: &str, partitions: i32, schema: SchemaRef) -> PipelinePlan {
        let topic = format!("lf-{run_id}-{name}");
        PipelinePlan {
            topics: vec![TopicSpec { name: topic.clone(), partitions, ..TopicSpec::default() }],
            tables: vec![TableSpec { name: name.into(), schema, properties: BTreeMap::new() }],
            queries: vec![QuerySpec {
                name: name.into(),
                source: SourceSpec::Kafka { topic },
                sink: name.into(),
                create_sink: false,
            }],
            tasks: vec![TaskPlan { name: name.into(), queries: vec![name.into()], depends_on: vec![] }],
            upstream: vec![],
            program: None,
        }
    }
}

/// Records out of the ordinary that arrive from upstream: what faults that start in the data ask
/// a workload to produce. Each has a fix an operator deploys ([`PipelineEnv::deployed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Oddity {
    /// A record the query's transform fails on: a logic error in its foreachBatch, met by a
    /// value nobody planned for. Fixed by code that handles it.
    Poison,
    /// From now on, records carry a field the sink table does not have: the write is rejected
    /// for its schema. Fixed by enabling schema evolution (`mergeSchema`).
    NewField,
}

impl Oddity {
    /// Every oddity.
    pub const ALL: [Oddity; 2] = [Oddity::Poison, Oddity::NewField];

    /// Its name (`poison`, `new-field`).
    pub fn name(self) -> &'static str {
        match self {
            Oddity::Poison => "poison",
            Oddity::NewField => "new-field",
        }
    }

    /// What its fix is, for the history and the report.
    pub fn fix(self) -> &'static str {
        match self {
            Oddity::Poison => "code that handles the poison record",
            Oddity::NewField => "schema evolution (mergeSchema) on the sink",
        }
    }
}

/// An oddity a workload can send, and the query that meets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// What it sends.
    pub oddity: Oddity,
    /// The query whose source carries it.
    pub query: String,
}

/// What a workload sent when asked for an oddity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Where it went (a topic).
    pub stream: String,
    /// The record, as a person would name it (`reading 1234 with a null value`).
    pub what: String,
}

impl PipelinePlan {
    /// True for a program pipeline: a black box, judged from the world alone. Faults that need
    /// the engine's cooperation (a failpoint inside a query) do not fit it.
    pub fn is_program(&self) -> bool {
        self.program.is_some()
    }

    /// The job `topology` makes of this plan's tasks.
    pub fn job(&self, topology: &crate::topology::Topology) -> crate::topology::JobSpec {
        let drivers = match &self.program {
            Some(program) => crate::topology::Drivers::Programs { cluster: program.spec.cluster.is_some() },
            None => crate::topology::Drivers::Engine,
        };
        topology.job(&self.tasks, drivers)
    }

    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The query that meets `oddity`, when the workload can send it.
    pub fn meets(&self, oddity: Oddity) -> Option<&str> {
        self.upstream.iter().find(|u| u.oddity == oddity).map(|u| u.query.as_str())
    }

    /// A query by name.
    pub fn query(&self, name: &str) -> Result<&QuerySpec> {
        self.queries.iter().find(|q| q.name == name).ok_or_else(|| {
            let known: Vec<_> = self.queries.iter().map(|q| q.name.as_str()).collect();
            HarnessError::bad_input(format!("no query named {name:?}"), format!("queries: {}", known.join(", ")))
        })
    }
}

/// What a pipeline's code sees of its run (in the harness and in a cluster process alike).
#[derive(Debug, Clone)]
pub struct PipelineEnv {
    /// The run's configuration.
    pub config: RunConfig,
    /// The catalog.
    pub catalog: Catalog,
}

impl PipelineEnv {
    /// A run's unique prefix for topic names.
    pub fn topic(&self, name: &str) -> String {
        format!("lf-{}-{name}", self.config.run_id)
    }

    /// Where a query keeps its checkpoint.
    pub fn checkpoint(&self, query: &str) -> PathBuf {
        self.config.run_dir.join("checkpoints").join(query)
    }

    /// The real trigger interval.
    pub fn trigger(&self) -> Duration {
        self.config.scale.real(self.config.timings.trigger)
    }

    /// Whether the fix for `oddity` is deployed. Read when a query's logic is made (at the
    /// query's start), the way a redeployed job runs its new code from its next start.
    pub fn deployed(&self, oddity: Oddity) -> bool {
        Deployments::load(&self.config.run_dir).fixes.contains(&oddity)
    }
}

/// The fixes deployed during a run (`deployed.json` in the run directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployments {
    /// The oddities whose fix is deployed.
    pub fixes: std::collections::BTreeSet<Oddity>,
}

impl Deployments {
    /// The file in a run directory.
    pub fn path(run_dir: &std::path::Path) -> PathBuf {
        run_dir.join("deployed.json")
    }

    /// The deployed fixes (none when nothing was deployed, or the file cannot be read).
    pub fn load(run_dir: &std::path::Path) -> Deployments {
        std::fs::read(Self::path(run_dir)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Deploys the fix for `oddity` (written whole, then renamed: a query starting meanwhile
    /// reads the old file or the new one, never half of one).
    pub fn deploy(run_dir: &std::path::Path, oddity: Oddity) -> Result<()> {
        let mut d = Self::load(run_dir);
        d.fixes.insert(oddity);
        let path = Self::path(run_dir);
        let tmp = path.with_extension("json.new");
        let bytes = serde_json::to_vec_pretty(&d).expect("serializes");
        std::fs::write(&tmp, bytes).map_err(|e| HarnessError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| HarnessError::io(&path, e))
    }
}

/// The data of one micro-batch.
#[derive(Debug)]
pub enum Input {
    /// Records of a Kafka topic.
    Kafka(Vec<KafkaRecord>),
    /// New batches of a Delta table: those with batch id in `(after, upto]`.
    Delta {
        /// The table, loaded at a version holding batch `upto`.
        table: DeltaTable,
        /// Last batch already processed.
        after: i64,
        /// Last batch of this micro-batch.
        upto: i64,
    },
}

/// One Kafka record.
#[derive(Debug, Clone)]
pub struct KafkaRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A micro-batch handed to a query's logic.
#[derive(Debug)]
pub struct MicroBatch<'a> {
    /// Batch id.
    pub id: i64,
    /// The query.
    pub query: &'a QuerySpec,
    /// Its input.
    pub input: Input,
    /// The sink table, loaded (read) just before this call: operations built on it commit
    /// against this snapshot.
    pub sink: DeltaTable,
    /// The process's failpoints.
    pub failpoints: &'a Failpoints,
}

impl MicroBatch<'_> {
    /// Commit properties that make the sink exactly-once: a `txn` action (app id = query, version
    /// = batch id) committed with the data.
    pub fn commit_properties(&self) -> CommitProperties {
        CommitProperties::default().with_application_transaction(Transaction::new(self.query.app_id(), self.id))
    }
}

/// A query's error, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// Its class: `ConcurrentAppend`, `ConcurrentTransaction`, `NotATable`, `Failpoint`, ...
    pub kind: ErrorKind,
    /// Its message.
    pub message: String,
    /// When it failed a micro-batch: the source positions that batch had planned to reach. The
    /// query had read that far and not committed it, so its source certainly had lag then.
    pub pending: Option<Positions>,
}

impl QueryError {
    /// An error of a given class.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        QueryError { kind, message: message.into(), pending: None }
    }

    /// The same error, raised inside a batch that had planned to read up to `end`.
    pub fn in_batch(self, end: &Positions) -> Self {
        QueryError { pending: Some(end.clone()), ..self }
    }
}

impl From<deltalake::DeltaTableError> for QueryError {
    fn from(e: deltalake::DeltaTableError) -> Self {
        QueryError::new(classify_delta(&e), e.to_string())
    }
}

impl From<crate::failpoint::FailpointError> for QueryError {
    fn from(e: crate::failpoint::FailpointError) -> Self {
        QueryError::new(ErrorKind::Failpoint, e.to_string())
    }
}

impl From<HarnessError> for QueryError {
    fn from(e: HarnessError) -> Self {
        QueryError::new(ErrorKind::Harness, e.to_string())
    }
}

impl From<deltalake::datafusion::error::DataFusionError> for QueryError {
    fn from(e: deltalake::datafusion::error::DataFusionError) -> Self {
        QueryError::new(ErrorKind::DataFusion, e.to_string())
    }
}

impl From<deltalake::arrow::error::ArrowError> for QueryError {
    fn from(e: deltalake::arrow::error::ArrowError) -> Self {
        QueryError::new(ErrorKind::Arrow, e.to_string())
    }
}

/// Classifies a delta-rs error by its type, never by its message.
pub fn classify_delta(e: &deltalake::DeltaTableError) -> ErrorKind {
    use deltalake::DeltaTableError as E;
    use deltalake::kernel::transaction::TransactionError as T;
    match e {
        E::Transaction { source: T::CommitConflict(c) } => {
            use deltalake::kernel::transaction::CommitConflictError as C;
            match c {
                C::ConcurrentAppend => ErrorKind::ConcurrentAppend,
                C::ConcurrentDeleteRead => ErrorKind::ConcurrentDeleteRead,
                C::ConcurrentDeleteDelete => ErrorKind::ConcurrentDeleteDelete,
                C::MetadataChanged => ErrorKind::MetadataChanged,
                C::ConcurrentTransaction => ErrorKind::ConcurrentTransaction,
                C::ProtocolChanged(_) => ErrorKind::ProtocolChanged,
                _ => ErrorKind::CommitConflict,
            }
        }
        E::Transaction { source: T::MaxCommitAttempts(_) } => ErrorKind::MaxCommitAttempts,
        E::Transaction { .. } => ErrorKind::Transaction,
        E::NotATable(_) => ErrorKind::NotATable,
        E::InvalidTableLocation(_) => ErrorKind::InvalidTableLocation,
        E::ObjectStore { .. } => ErrorKind::ObjectStore,
        E::Arrow { .. } => ErrorKind::Arrow,
        E::SchemaMismatch { .. } => ErrorKind::SchemaMismatch,
        _ => ErrorKind::Delta,
    }
}

/// The logic of one query: what it does with a micro-batch. It must commit to `batch.sink` with
/// `batch.commit_properties()` (or commit nothing), and return how many input rows it handled.
#[async_trait]
pub trait QueryLogic: Send {
    /// Processes one micro-batch.
    async fn process(&mut self, batch: MicroBatch<'_>) -> Result<u64, QueryError>;
}

/// A writer outside the pipeline's queries that commits to one of its tables (the ML job of
/// incident 1). Faults use it to commit exactly what conflicts with a reader.
#[async_trait]
pub trait ConcurrentWriter: Send + Sync + Debug {
    /// Commits rows whose keys fall inside what a reader read, as described by `context` (the
    /// reader's failpoint context). Returns the keys written; the workload's ledger includes them.
    async fn commit_overlapping(&self, context: &serde_json::Value) -> Result<Vec<String>>;
}

/// What feeds a pipeline during a run, and what checks the tables afterwards.
#[async_trait]
pub trait Workload: Send + Sync + Debug {
    /// Starts producing (returns at once; production runs until [`Workload::stop`]).
    async fn start(&self) -> Result<()>;
    /// Stops producing and waits for in-flight writes. Records what was produced in the history.
    async fn stop(&self) -> Result<()>;
    /// Compares every sink table with what was produced.
    async fn audit(&self) -> Result<Vec<TableAudit>>;
    /// The concurrent writer of a table, if the workload has one (none by default).
    fn writer(&self, _table: &str) -> Option<Arc<dyn ConcurrentWriter>> {
        None
    }
    /// Sends `oddity` down the source of the query that meets it (see [`PipelinePlan::upstream`]);
    /// records it in the history and its ledger, so the audit expects it like any other record.
    async fn send(&self, oddity: Oddity) -> Result<Delivered> {
        Err(HarnessError::bad_input(
            format!("the workload cannot send {} records", oddity.name()),
            "choose a fault the pipeline supports (its plan lists what it can send upstream)",
        ))
    }

    /// Source positions the workload has produced up to (for tests; the observer reads the broker).
    fn produced(&self) -> Positions {
        Positions::new()
    }
}
