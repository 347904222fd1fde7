//! Reference pipeline `features-inference` — incident 2.
//!
//! ```text
//!  producer ──▶ topic sensors ──▶ [features] ──▶ table features ──▶ [inference] ──▶ table predictions
//!              (task "features")                                  (task "inference"; finds its
//!                                                                  output through the catalog)
//! ```
//! Two tasks, inference depending on features. The inference query writes the way
//! `saveAsTable` into an external location does: it resolves `predictions` through the catalog
//! at every batch and creates a table where it finds none — which is how a catalog entry that
//! points at the wrong location loses data without a sound.

use crate::audit::compare;
use crate::common::{Append, Extra, Loops, Readings, Tick, parse_all, schema, transform_delta};
use harness::deltalake::arrow::array::{Float64Array, Int64Array, StringArray};
use harness::deltalake::arrow::datatypes::SchemaRef;
use harness::history::{History, TableAudit};
use harness::pipeline::landed_ids;
use harness::pipeline::{
    ConcurrentWriter, Delivered, MicroBatch, Oddity, Pipeline, PipelineEnv, PipelineOptions, PipelinePlan, QueryError,
    QueryLogic, QuerySpec, SourceSpec, TableSpec, TaskPlan, TopicSpec, Upstream, Workload,
};
use harness::{HarnessError, Result, async_trait};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The feature-extraction query.
pub const FEATURES: &str = "features";
/// The inference query.
pub const INFERENCE: &str = "inference";
/// The inference output table.
pub const PREDICTIONS: &str = "predictions";

/// The `features-inference` pipeline.
#[derive(Debug, Clone, Copy)]
pub struct FeaturesInference;

/// A sensor reading on the `sensors` topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SensorReading {
    /// Unique id.
    pub id: i64,
    /// Sensor.
    pub sensor: String,
    /// Reading. The features code as first written assumes every reading has one.
    pub reading: f64,
    /// Any other field the sensor sends (passed through to the features table).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A sensor reading as the fixed features code reads it: a reading may be missing (null).
#[derive(Debug, Clone, Deserialize)]
struct MaybeReading {
    id: i64,
    sensor: String,
    reading: Option<f64>,
    #[serde(flatten)]
    extra: Extra,
}

fn features_schema() -> SchemaRef {
    schema("id long, sensor string, f1 double, f2 double, batch long")
}

fn predictions_schema() -> SchemaRef {
    schema("id long, score double?")
}

impl Pipeline for FeaturesInference {
    fn name(&self) -> &'static str {
        "features-inference"
    }

    fn about(&self) -> &'static str {
        "incident 2: feature extraction and inference as two tasks; inference finds its output through the catalog"
    }

    fn plan(&self, run_id: &str, o: &PipelineOptions) -> Result<PipelinePlan> {
        let sensors = format!("lf-{run_id}-sensors");
        let queries = vec![
            QuerySpec {
                name: FEATURES.into(),
                source: SourceSpec::Kafka { topic: sensors.clone() },
                sink: FEATURES.into(),
                create_sink: false,
            },
            QuerySpec {
                name: INFERENCE.into(),
                source: SourceSpec::Delta { table: FEATURES.into(), app_id: FEATURES.into() },
                sink: PREDICTIONS.into(),
                create_sink: true,
            },
        ];
        Ok(PipelinePlan {
            topics: vec![TopicSpec { name: sensors, partitions: o.partitions, ..Default::default() }],
            tables: vec![
                TableSpec { name: FEATURES.into(), schema: features_schema(), properties: BTreeMap::new() },
                TableSpec { name: PREDICTIONS.into(), schema: predictions_schema(), properties: BTreeMap::new() },
            ],
            queries,
            tasks: vec![
                TaskPlan { name: FEATURES.into(), queries: vec![FEATURES.into()], depends_on: vec![] },
                TaskPlan { name: INFERENCE.into(), queries: vec![INFERENCE.into()], depends_on: vec![FEATURES.into()] },
            ],
            upstream: Oddity::ALL.iter().map(|&oddity| Upstream { oddity, query: FEATURES.into() }).collect(),
            program: None,
        })
    }

    fn query(&self, spec: &QuerySpec, env: &PipelineEnv) -> Result<Box<dyn QueryLogic>> {
        Ok(match spec.name.as_str() {
            FEATURES => Box::new(Features {
                null_readings: env.deployed(Oddity::Poison),
                append: Append { merge_schema: env.deployed(Oddity::NewField) },
            }),
            INFERENCE => Box::new(Inference),
            name => {
                return Err(HarnessError::bad_input(
                    format!("features-inference has no query {name:?}"),
                    "check the plan",
                ));
            }
        })
    }

    fn workload(
        &self,
        env: &PipelineEnv,
        _plan: &PipelinePlan,
        history: History,
        seed: u64,
    ) -> Result<Arc<dyn Workload>> {
        let readings = Arc::new(Readings::new(env, history.clone(), "sensors")?);
        Ok(Arc::new(SensorWorkload { env: env.clone(), history, seed, readings, loops: Loops::default() }))
    }
}

/// Sensor readings → features.
#[derive(Debug)]
struct Features {
    /// The fix for poison readings is deployed: a missing reading counts as 0.
    null_readings: bool,
    /// How rows are appended (with schema evolution once that fix is deployed).
    append: Append,
}

#[async_trait]
impl QueryLogic for Features {
    async fn process(&mut self, b: MicroBatch<'_>) -> Result<u64, QueryError> {
        let readings: Vec<MaybeReading> = if self.null_readings {
            parse_all(&b.input)?
        } else {
            // The code as first written: a reading without a value fails the batch.
            parse_all::<SensorReading>(&b.input)?
                .into_iter()
                .map(|r| MaybeReading { id: r.id, sensor: r.sensor, reading: Some(r.reading), extra: r.extra })
                .collect()
        };
        let value = |r: &MaybeReading| r.reading.unwrap_or(0.0);
        let columns: Vec<harness::deltalake::arrow::array::ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(readings.iter().map(|r| r.id))),
            Arc::new(StringArray::from_iter_values(readings.iter().map(|r| r.sensor.as_str()))),
            Arc::new(Float64Array::from_iter_values(readings.iter().map(|r| value(r) * 2.0))),
            Arc::new(Float64Array::from_iter_values(readings.iter().map(|r| value(r) * value(r)))),
        ];
        let extras: Vec<&Extra> = readings.iter().map(|r| &r.extra).collect();
        self.append.write(b, features_schema(), columns, &extras).await
    }
}

/// Features → predictions (a linear model, good enough to be a model).
#[derive(Debug)]
struct Inference;

#[async_trait]
impl QueryLogic for Inference {
    async fn process(&mut self, b: MicroBatch<'_>) -> Result<u64, QueryError> {
        transform_delta(b, FEATURES, "id, 0.3 * f1 + 0.01 * f2 AS score", None, predictions_schema()).await
    }
}

/// The workload: sensor readings at the configured rate.
#[derive(Debug)]
pub struct SensorWorkload {
    env: PipelineEnv,
    history: History,
    seed: u64,
    readings: Arc<Readings>,
    loops: Loops,
}

struct Sensors {
    readings: Arc<Readings>,
    per_tick: i64,
    rng: rand::rngs::SmallRng,
}

#[async_trait]
impl Tick for Sensors {
    async fn tick(&mut self) -> Result<()> {
        let rng = &mut self.rng;
        let reading = |id, extra| {
            let sensor = format!("s-{}", rng.random_range(0..20));
            let r = SensorReading { id, sensor, reading: rng.random_range(0.0..10.0), extra };
            (r.sensor.clone(), serde_json::to_vec(&r).expect("serializes"))
        };
        self.readings.send(self.per_tick, reading).await.map(drop)
    }
}

#[async_trait]
impl Workload for SensorWorkload {
    async fn start(&self) -> Result<()> {
        let rng = rand::rngs::SmallRng::seed_from_u64(self.seed);
        let per_tick = crate::common::per_tick(self.env.config.options.rate);
        self.loops.spawn(Box::new(Sensors { readings: self.readings.clone(), per_tick, rng }), self.history.clone());
        Ok(())
    }

    async fn stop(&self) -> Result<()> {
        self.loops.stop().await;
        Ok(())
    }

    async fn audit(&self) -> Result<Vec<TableAudit>> {
        let produced = self.readings.produced();
        let cat = &self.env.catalog;
        let mut out = Vec::new();
        for (table, q) in [(FEATURES, FEATURES), (PREDICTIONS, INFERENCE)] {
            // The table the catalog names is the one users read: that is what is audited.
            let ids = landed_ids(&cat.location(table)?, "id").await?;
            out.push(compare(table, q, 0..produced, ids));
        }
        Ok(out)
    }

    fn writer(&self, _table: &str) -> Option<Arc<dyn ConcurrentWriter>> {
        None
    }

    async fn send(&self, oddity: Oddity) -> Result<Delivered> {
        let readings = &self.readings;
        match oddity {
            Oddity::Poison => {
                // A sensor whose value is missing: `"reading": null`.
                let null = |id, _| {
                    (
                        "s-0".into(),
                        serde_json::json!({"id": id, "sensor": "s-0", "reading": null}).to_string().into_bytes(),
                    )
                };
                let id = readings.send(1, null).await?;
                Ok(Delivered { stream: readings.topic().into(), what: format!("reading {id} with a null value") })
            }
            Oddity::NewField => Ok(readings.roll_out_firmware()),
        }
    }
}
