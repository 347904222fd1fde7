//! A pipeline of your own on loudfail's engine, run under a fault of the catalogue. `clicks` has
//! one query: a Kafka topic of page clicks → the Delta table `clicks`, in micro-batches with an
//! exactly-once sink (each commit carries the batch's txn). The harness does the rest: topics,
//! the generic workload (records with a unique `id`, here with a `page` field), the audit of the
//! `id` column, the run's processes (this binary re-executed), Ctrl-C and panic cleanup.
//!
//! `cargo run --example custom_pipeline [FAULT[,FAULT@GAP...]|none] [DIR]` (default
//! `driver-oom`; `none` is the fault-free baseline). Exit 0 for a passing verdict with every
//! click landed once, 1 for a failing one, 2 for bad input or a harness error.

use harness::deltalake::arrow::array::{ArrayRef, Int64Array, StringArray};
use harness::deltalake::arrow::datatypes::SchemaRef;
use harness::pipeline::{FieldType, MicroBatch, Pipeline, PipelineEnv, PipelineOptions, PipelinePlan};
use harness::pipeline::{QueryError, QueryLogic, QuerySpec, Registry};
use harness::{Result, async_trait};
use std::sync::Arc;
use suites::common::{append_with_batch_id, parse_all, schema};

#[derive(Debug)]
struct Clicks;

fn clicks_schema() -> SchemaRef {
    schema("id long, page string, batch long")
}

impl Pipeline for Clicks {
    fn name(&self) -> &'static str {
        "clicks"
    }

    fn about(&self) -> &'static str {
        "page clicks from Kafka into one Delta table"
    }

    fn plan(&self, run_id: &str, o: &PipelineOptions) -> Result<PipelinePlan> {
        let mut plan = PipelinePlan::ingest(run_id, "clicks", o.partitions, clicks_schema());
        plan.topics[0].fields.insert("page".into(), FieldType::String);
        Ok(plan)
    }

    // Called in the cluster process, once per query start.
    fn query(&self, _spec: &QuerySpec, _env: &PipelineEnv) -> Result<Box<dyn QueryLogic>> {
        Ok(Box::new(Ingest))
    }
}

/// The query's logic: parse the batch's clicks, append them with the batch's txn.
#[derive(Debug)]
struct Ingest;

#[derive(serde::Deserialize)]
struct Click {
    id: i64,
    page: String,
}

#[async_trait]
impl QueryLogic for Ingest {
    async fn process(&mut self, b: MicroBatch<'_>) -> std::result::Result<u64, QueryError> {
        let clicks: Vec<Click> = parse_all(&b.input)?;
        println!("clicks: appending {} clicks", clicks.len()); // what it prints goes to logs/
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(clicks.iter().map(|c| c.id)));
        let pages: ArrayRef = Arc::new(StringArray::from_iter_values(clicks.iter().map(|c| c.page.as_str())));
        append_with_batch_id(b, clicks_schema(), vec![ids, pages], clicks.len()).await
    }
}

fn main() {
    harness::entry::main(Registry::new().with(Arc::new(Clicks)), faults::catalog(), "driver-oom")
}
