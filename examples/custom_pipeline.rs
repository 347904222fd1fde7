//! A pipeline of your own, run under a fault of the catalogue — the way a team points loudfail at
//! its own streaming job.
//!
//! The pipeline `clicks` has one query: a Kafka topic of page clicks → the Delta table `clicks`,
//! in micro-batches with an exactly-once sink. The binary is its own cluster and task process:
//! the harness re-executes it with `__cluster` / `__task`, and `serve_if_worker` serves those
//! with the pipelines this binary knows.
//!
//! Run it: `cargo run --example custom_pipeline [FAULT [DIR]]` (default `driver-oom`; any fault
//! of `loudfail list` that fits a one-query pipeline; artifacts in DIR, by default
//! `target/loudfail/<run-id>`). Exit 0 for LOUD+RESTARTED with every click
//! landed once, 1 for a failing verdict, 2 for bad input or a harness error.

use harness::deltalake::arrow::array::{ArrayRef, Int64Array, StringArray};
use harness::deltalake::arrow::datatypes::{DataType, SchemaRef};
use harness::history::{Event, History, TableAudit};
use harness::pipeline::{
    ConcurrentWriter, MicroBatch, Pipeline, PipelineEnv, PipelineOptions, PipelinePlan, QueryError, QueryLogic,
    QuerySpec, Registry, SourceSpec, TableSpec, TaskPlan, TopicSpec, Workload,
};
use harness::stream::open_table;
use harness::topology::{AwaitPolicy, Topology};
use harness::{HarnessError, Result, Scenario, async_trait};
use std::sync::{Arc, Mutex};
use suites::audit::{compare, int64s, query};
use suites::common::{Loops, Producer, Tick, append_with_batch_id, parse_all, per_tick, schema};

const CLICKS: &str = "clicks";

/// The pipeline: a factory of plans, query logic and workloads.
#[derive(Debug)]
struct Clicks;

fn clicks_schema() -> SchemaRef {
    schema(&[("id", DataType::Int64, false), ("page", DataType::Utf8, false), ("batch", DataType::Int64, false)])
}

impl Pipeline for Clicks {
    fn name(&self) -> &'static str {
        CLICKS
    }

    fn about(&self) -> &'static str {
        "page clicks from Kafka into one Delta table"
    }

    fn plan(&self, run_id: &str, o: &PipelineOptions) -> Result<PipelinePlan> {
        let topic = format!("lf-{run_id}-{CLICKS}");
        Ok(PipelinePlan {
            topics: vec![TopicSpec { name: topic.clone(), partitions: o.partitions }],
            tables: vec![TableSpec { name: CLICKS.into(), schema: clicks_schema(), properties: Default::default() }],
            queries: vec![QuerySpec {
                name: CLICKS.into(),
                source: SourceSpec::Kafka { topic },
                sink: CLICKS.into(),
                create_sink: false,
            }],
            tasks: vec![TaskPlan { name: CLICKS.into(), queries: vec![CLICKS.into()], depends_on: vec![] }],
            upstream: vec![],
            program: None,
        })
    }

    // Called in the cluster process, once per query start.
    fn query(&self, _spec: &QuerySpec, _env: &PipelineEnv) -> Result<Box<dyn QueryLogic>> {
        Ok(Box::new(Ingest))
    }

    // Called in the harness process.
    fn workload(&self, env: &PipelineEnv, _: &PipelinePlan, history: History, _seed: u64) -> Result<Arc<dyn Workload>> {
        let producer = Producer::new(&env.config.bootstrap)?;
        let ledger = Arc::new(Ledger { env: env.clone(), history, producer, produced: Mutex::new(0) });
        Ok(Arc::new(ClickWorkload { ledger, loops: Loops::default() }))
    }
}

/// The query's logic: parse the batch's records, append them with the batch's `txn`.
#[derive(Debug)]
struct Ingest;

#[async_trait]
impl QueryLogic for Ingest {
    async fn process(&mut self, b: MicroBatch<'_>) -> std::result::Result<u64, QueryError> {
        let clicks: Vec<serde_json::Value> = parse_all(&b.input)?;
        let field = |c: &serde_json::Value, k: &str| c.get(k).cloned().unwrap_or_default();
        let ids = clicks.iter().map(|c| field(c, "id").as_i64().ok_or_else(|| QueryError::new("Parse", "no id")));
        let ids: Vec<i64> = ids.collect::<std::result::Result<_, _>>()?;
        let pages: Vec<String> = clicks.iter().map(|c| field(c, "page").as_str().unwrap_or("").to_string()).collect();
        let columns: Vec<ArrayRef> =
            vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from_iter_values(pages.iter()))];
        append_with_batch_id(b, clicks_schema(), columns, clicks.len()).await
    }
}

/// What was produced: ids 0..produced.
#[derive(Debug)]
struct Ledger {
    env: PipelineEnv,
    history: History,
    producer: Producer,
    produced: Mutex<i64>,
}

/// One producer step: a tick's worth of clicks, recorded in the history.
struct Produce(Arc<Ledger>);

#[async_trait]
impl Tick for Produce {
    async fn tick(&mut self) -> Result<()> {
        let l = &self.0;
        let first = *l.produced.lock().expect("ledger");
        let n = per_tick(l.env.config.options.rate);
        let payloads = (first..first + n)
            .map(|id| {
                let click = serde_json::json!({"id": id, "page": format!("/page/{}", id % 7)});
                (id.to_string(), click.to_string().into_bytes())
            })
            .collect();
        l.producer.send_all(&l.env.topic(CLICKS), payloads).await?;
        *l.produced.lock().expect("ledger") = first + n;
        l.history.record(Event::Produced { stream: CLICKS.into(), first: first as u64, last: (first + n - 1) as u64 });
        Ok(())
    }
}

#[derive(Debug)]
struct ClickWorkload {
    ledger: Arc<Ledger>,
    loops: Loops,
}

#[async_trait]
impl Workload for ClickWorkload {
    async fn start(&self) -> Result<()> {
        self.loops.spawn(Box::new(Produce(self.ledger.clone())), self.ledger.history.clone());
        Ok(())
    }

    async fn stop(&self) -> Result<()> {
        self.loops.stop().await;
        Ok(())
    }

    // Every produced click must be in the table the catalog names, exactly once.
    async fn audit(&self) -> Result<Vec<TableAudit>> {
        let produced = *self.ledger.produced.lock().expect("ledger");
        let table = open_table(&self.ledger.env.catalog, CLICKS)
            .await
            .map_err(|e| HarnessError::Check { what: CLICKS.into(), problem: e.message })?;
        let ids = int64s(&query(table, "SELECT id FROM t").await?, 0);
        Ok(vec![compare(CLICKS, CLICKS, 0..produced, ids)])
    }

    fn writer(&self, _table: &str) -> Option<Arc<dyn ConcurrentWriter>> {
        None
    }
}

fn main() {
    let registry = Registry::new().with(Arc::new(Clicks));
    // Started by the run as one of its cluster or task processes.
    if let Some(code) = harness::worker::serve_if_worker(&registry) {
        std::process::exit(code);
    }
    let fault = std::env::args().nth(1).unwrap_or_else(|| "driver-oom".into());
    let dir = std::env::args().nth(2);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let code = rt.block_on(async {
        let result = async {
            let fault = faults::catalog().get(&fault)?;
            let mut scenario = Scenario::new(registry.get(CLICKS)?)
                .topology(Topology::multi_query(AwaitPolicy::Any))
                .fault(fault)
                .bin(std::env::current_exe().map_err(|e| HarnessError::io("this executable", e))?);
            // The command that reruns this scenario is this binary's own, not `loudfail run`.
            scenario.replay = Some(format!("cargo run --example custom_pipeline -- {}", scenario.faults[0].name()));
            if let Some(dir) = dir {
                scenario = scenario.dir(dir);
            }
            scenario.run().await
        };
        match result.await {
            Ok(report) => {
                print!("{}", report.render());
                report.exit_code()
            }
            Err(e) => {
                eprintln!("{e}");
                harness::report::EXIT_ERROR
            }
        }
    });
    drop(rt);
    std::process::exit(code);
}
