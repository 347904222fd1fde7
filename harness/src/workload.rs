//! Workloads: the loops a workload runs (a step every [`TICK`] until stopped, a failing or
//! panicking step recorded as a harness error), through which reference pipelines and program
//! pipelines produce; and [`IdWorkload`], the generic workload of records with unique ids,
//! audited by the id column of each sink.

use crate::error::Result;
use crate::history::{Event, History, TableAudit};
use crate::kafka::Producer;
use crate::plan::{PipelineEnv, PipelinePlan, SourceSpec, TopicSpec, Workload};
use crate::program_spec::{FieldType, FlowView, Ledger};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// One step of a workload loop (a producer tick, an ML job's commit).
#[async_trait::async_trait]
pub trait Tick: Send {
    /// Does one step.
    async fn tick(&mut self) -> Result<()>;
}

/// How often workload loops tick.
pub const TICK: Duration = Duration::from_millis(50);

/// Records per tick for a rate in records per second (at least one).
pub fn per_tick(rate: u32) -> i64 {
    (rate as f64 * TICK.as_secs_f64()).ceil().max(1.0) as i64
}

/// Runs `step` every [`TICK`] until `stop` turns true. A failing step is a harness problem:
/// it is recorded and the loop ends.
pub fn spawn_loop(
    mut step: Box<dyn Tick>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    history: crate::History,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            use futures::FutureExt;
            match std::panic::AssertUnwindSafe(step.tick()).catch_unwind().await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    history.record(crate::Event::harness_error_while("workload", &e));
                    return;
                }
                Err(panic) => {
                    let message = crate::error::panic_message(panic.as_ref());
                    history.record(crate::Event::harness_problem(
                        format!("workload panicked: {message}"),
                        "a bug in the pipeline's workload (its producer or writers): the panic's message names where",
                    ));
                    return;
                }
            }
        }
    })
}

/// The loops of a workload and the switch that stops them.
#[derive(Debug)]
pub struct Loops {
    stop: tokio::sync::watch::Sender<bool>,
    handles: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Default for Loops {
    fn default() -> Self {
        Loops { stop: tokio::sync::watch::channel(false).0, handles: std::sync::Mutex::new(Vec::new()) }
    }
}

impl Loops {
    /// Starts a loop.
    pub fn spawn(&self, step: Box<dyn Tick>, history: crate::History) {
        let h = spawn_loop(step, self.stop.subscribe(), history);
        self.handles.lock().expect("loops").push(h);
    }

    /// Stops every loop and waits for each to finish its step.
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let handles: Vec<_> = self.handles.lock().expect("loops").drain(..).collect();
        for h in handles {
            let _ = h.await;
        }
    }
}

/// The flows of a plan: a program's as its spec declares them; an engine pipeline's are its
/// queries that read a Kafka topic, their sinks' id column `id`.
pub fn flows_of(plan: &PipelinePlan) -> Vec<FlowView> {
    if let Some(program) = &plan.program {
        return program.flows();
    }
    plan.queries
        .iter()
        .filter_map(|q| match &q.source {
            SourceSpec::Kafka { topic } => Some(FlowView {
                name: q.name.clone(),
                topic: topic.clone(),
                table: q.sink.clone(),
                id_column: "id".into(),
            }),
            _ => None,
        })
        .collect()
}

/// The generic workload: JSON records with a unique integer `id`, `ts` (microseconds since the
/// epoch) and each topic's declared fields, at a rate, to every topic of the plan; what the
/// broker acknowledged is in its [`Ledger`]. The audit reads each sink's id column from its
/// data files and compares it with what was produced to the flows that write it: missing,
/// duplicated, unexpected. A program's workload, and any pipeline's that does not bring its own.
#[derive(Debug)]
pub struct IdWorkload {
    producer: Producer,
    catalog: crate::catalog::Catalog,
    ledger: Arc<Ledger>,
    /// Rows the concurrent writer appended to each table: negative ids, never produced.
    foreign: Arc<Ledger>,
    /// Set once upstream's schema drifted: every record from then on carries [`DRIFT_FIELD`].
    drifted: Arc<std::sync::atomic::AtomicBool>,
    topics: Vec<TopicSpec>,
    flows: Vec<FlowView>,
    rate: u32,
    history: History,
    seed: u64,
    next_id: Arc<AtomicI64>,
    loops: Loops,
}

impl IdWorkload {
    /// The workload of `plan`: a program's at its spec's rate, with the ledger the observer
    /// reads; any other at the run's rate.
    pub fn for_plan(env: &PipelineEnv, plan: &PipelinePlan, history: History, seed: u64) -> Result<IdWorkload> {
        let (ledger, rate) = match &plan.program {
            Some(p) => (p.ledger.clone(), p.spec.workload.rate),
            None => (Arc::default(), env.config.options.rate),
        };
        Ok(IdWorkload {
            producer: Producer::new(&env.config.bootstrap)?,
            catalog: env.catalog.clone(),
            ledger,
            foreign: Arc::default(),
            drifted: Arc::default(),
            topics: plan.topics.clone(),
            flows: flows_of(plan),
            rate,
            history,
            seed,
            next_id: Arc::new(AtomicI64::new(1)),
            loops: Loops::default(),
        })
    }
}

/// The field every record carries once upstream's schema drifted (a new producer version).
pub const DRIFT_FIELD: &str = "schema_v2_note";

/// A record of the generic workload, as JSON bytes.
pub fn record(id: i64, fields: &BTreeMap<String, FieldType>, seed: u64) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), id.into());
    m.insert("ts".into(), crate::time::now_us().into());
    // Values derive from the seed and the id: the same seed produces the same records.
    let h = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
    for (i, (name, ty)) in fields.iter().enumerate() {
        let x = h.rotate_left(i as u32 * 7);
        let v: serde_json::Value = match ty {
            FieldType::String => format!("{name}-{}", x % 97).into(),
            FieldType::Int => ((x % 10_000) as i64).into(),
            FieldType::Float => ((x % 100_000) as f64 / 100.0).into(),
            FieldType::Bool => x.is_multiple_of(2).into(),
        };
        m.insert(name.clone(), v);
    }
    serde_json::to_vec(&m).expect("a JSON object serializes")
}

/// One topic's production: a tick's records, acknowledged, in the ledger.
struct Production {
    producer: Producer,
    ledger: Arc<Ledger>,
    history: History,
    next: Arc<AtomicI64>,
    topic: String,
    fields: BTreeMap<String, FieldType>,
    seed: u64,
    per_tick: i64,
    drifted: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl Tick for Production {
    async fn tick(&mut self) -> Result<()> {
        let first = self.next.fetch_add(self.per_tick, Ordering::Relaxed);
        let ids: Vec<i64> = (first..first + self.per_tick).collect();
        let mut fields = self.fields.clone();
        if self.drifted.load(Ordering::Relaxed) {
            fields.insert(DRIFT_FIELD.into(), FieldType::String);
        }
        let payloads = ids.iter().map(|id| (id.to_string(), record(*id, &fields, self.seed))).collect();
        match self.producer.send_all(&self.topic, payloads).await {
            Ok(()) => {
                self.ledger.add(&self.topic, &ids);
                self.history.record(Event::Produced {
                    stream: self.topic.clone(),
                    first: first as u64,
                    last: (first + self.per_tick - 1) as u64,
                });
            }
            // The broker may be down on purpose (a fault): what was not acknowledged was not
            // produced, and is not expected anywhere. Production goes on.
            Err(e) => self.history.record(Event::Phase { name: format!("workload: not produced: {e}") }),
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Workload for IdWorkload {
    async fn start(&self) -> Result<()> {
        let per_tick = per_tick(self.rate);
        for t in &self.topics {
            let step = Production {
                producer: self.producer.clone(),
                ledger: self.ledger.clone(),
                history: self.history.clone(),
                next: self.next_id.clone(),
                topic: t.name.clone(),
                fields: t.fields.clone(),
                seed: self.seed,
                per_tick,
                drifted: self.drifted.clone(),
            };
            self.loops.spawn(Box::new(step), self.history.clone());
        }
        Ok(())
    }

    async fn stop(&self) -> Result<()> {
        self.loops.stop().await;
        Ok(())
    }

    /// A record that is not JSON (`Poison`), or upstream's schema drifting: from now on every
    /// record carries a new field (`NewField`).
    async fn send(&self, oddity: crate::plan::Oddity) -> Result<crate::plan::Delivered> {
        let streams: Vec<&str> = self.topics.iter().map(|t| t.name.as_str()).collect();
        if oddity == crate::plan::Oddity::Poison {
            // Not JSON: a record cut short. It has no id and is expected nowhere.
            let topic = streams.first().copied().unwrap_or_default();
            let payload = br#"{"id": 0, "ts": 17, "note": "cut sh"#.to_vec();
            self.producer.send_all(topic, vec![("bad".into(), payload)]).await?;
            return Ok(crate::plan::Delivered {
                stream: topic.to_string(),
                what: "a record that is not JSON (cut short)".into(),
            });
        }
        self.drifted.store(true, Ordering::Relaxed);
        Ok(crate::plan::Delivered {
            stream: streams.join(", "),
            what: format!("records with a new field {DRIFT_FIELD:?} from now on"),
        })
    }

    fn writer(&self, table: &str) -> Option<Arc<dyn crate::plan::ConcurrentWriter>> {
        let id_column = self.flows.iter().find(|f| f.table == table)?.id_column.clone();
        Some(Arc::new(ForeignWriter {
            table: table.to_string(),
            location: self.catalog.location(table).ok()?,
            id_column,
            foreign: self.foreign.clone(),
            history: self.history.clone(),
        }))
    }

    async fn audit(&self) -> Result<Vec<TableAudit>> {
        let mut out = Vec::new();
        let tables: BTreeSet<&str> = self.flows.iter().map(|f| f.table.as_str()).collect();
        for table in tables {
            let mine: Vec<&FlowView> = self.flows.iter().filter(|f| f.table == table).collect();
            let mut ids = crate::landed::LandedIds::new(self.catalog.location(table)?, mine[0].id_column.clone());
            ids.look().await?;
            let produced: Vec<Vec<i64>> = mine.iter().map(|f| self.ledger.ids(&f.topic)).collect();
            let foreign = self.foreign.ids(table);
            let mut all: BTreeSet<i64> = produced.iter().flatten().copied().collect();
            // The concurrent writer's rows must still be there, once each: a pipeline that
            // rewrites its table must not drop what others wrote.
            if !foreign.is_empty() {
                let set: BTreeSet<i64> = foreign.iter().copied().collect();
                let actual = ids.counts().iter().filter(|(id, _)| set.contains(id));
                let actual: Vec<i64> = actual.flat_map(|(id, n)| std::iter::repeat_n(*id, *n as usize)).collect();
                out.push(crate::audit::compare(table, "concurrent-writer", foreign.clone(), actual));
                all.extend(foreign);
            }
            // Each flow answers for its own ids; ids nobody produced are the first flow's.
            for (i, (f, expected)) in mine.iter().zip(produced).enumerate() {
                let set: BTreeSet<i64> = expected.iter().copied().collect();
                let actual = ids.counts().iter().filter(|(id, _)| set.contains(id) || (i == 0 && !all.contains(id)));
                let actual: Vec<i64> = actual.flat_map(|(id, n)| std::iter::repeat_n(*id, *n as usize)).collect();
                let mut a = crate::audit::compare(table, &f.name, expected, actual);
                if i == 0 {
                    a.unexpected += ids.rows_without_id;
                }
                out.push(a);
            }
        }
        Ok(out)
    }
}

/// Another job appending to a sink: rows with negative ids (never produced, so the audit tells
/// them apart) and every other column null, committed as blind appends between the pipeline's
/// own commits.
#[derive(Debug)]
struct ForeignWriter {
    table: String,
    location: std::path::PathBuf,
    id_column: String,
    foreign: Arc<Ledger>,
    history: History,
}

/// Rows per foreign commit.
const FOREIGN_ROWS: i64 = 10;

#[async_trait::async_trait]
impl crate::plan::ConcurrentWriter for ForeignWriter {
    async fn commit_overlapping(&self, _context: &serde_json::Value) -> Result<Vec<String>> {
        use deltalake::arrow::array::{ArrayRef, Int64Array, new_null_array};
        use deltalake::arrow::datatypes::DataType;
        let problem = |p: String| crate::HarnessError::Check { what: format!("table {}", self.table), problem: p };
        let url = url::Url::from_directory_path(&self.location)
            .map_err(|()| problem("its location is not an absolute path".into()))?;
        let table = deltalake::open_table(url).await.map_err(|e| problem(format!("cannot open it: {e}")))?;
        let schema = table.snapshot().map_err(|e| problem(e.to_string()))?.snapshot().arrow_schema();
        let first = -(self.foreign.count(&self.table) as i64) - 1;
        let ids: Vec<i64> = (0..FOREIGN_ROWS).map(|i| first - i).collect();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for field in schema.fields() {
            if field.name() == &self.id_column {
                if field.data_type() != &DataType::Int64 {
                    return Err(problem(format!(
                        "its id column {} is {}, not a 64-bit integer: the concurrent writer cannot write it",
                        self.id_column,
                        field.data_type()
                    )));
                }
                columns.push(Arc::new(Int64Array::from(ids.clone())));
            } else if field.is_nullable() {
                columns.push(new_null_array(field.data_type(), ids.len()));
            } else {
                return Err(problem(format!(
                    "column {} is not nullable: the concurrent writer fills only the id column",
                    field.name()
                )));
            }
        }
        let batch = deltalake::arrow::record_batch::RecordBatch::try_new(schema, columns)
            .map_err(|e| problem(format!("cannot build foreign rows: {e}")))?;
        table.write(vec![batch]).await.map_err(|e| problem(format!("the concurrent writer's append failed: {e}")))?;
        self.foreign.add(&self.table, &ids);
        self.history.record(Event::Phase {
            name: format!("concurrent writer: appended ids {first}..={} to {}", first - FOREIGN_ROWS + 1, self.table),
        });
        Ok(ids.iter().map(|i| i.to_string()).collect())
    }
}
