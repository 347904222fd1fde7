//! Reference pipeline `telemetry` — incident 1.
//!
//! ```text
//!  producer ──▶ topic telemetry ──▶ [bronze] ──▶ table bronze ──▶ [domain_<d>] ──▶ table domain_<d>   (2..6 of them)
//!  producer ──▶ topic alert-events (RESOLVE) ──▶ [resolver] ──MERGE──▶ table alerts ◀── ML writer (CREATE, appends)
//! ```
//! Every query is a micro-batch query with a checkpoint and an exactly-once sink. The resolver
//! MERGEs (predicate `target.alert_id = source.alert_id`) into the table the ML writer appends
//! to; the failpoint `resolver.before-commit` sits between its read and its commit.
//!
//! Ids: telemetry record `i` belongs to domain `i % domains`; ML alerts are `A{n:010}-00`; a
//! RESOLVE is produced only after its alert's CREATE committed, so every resolved alert exists.

use crate::audit::{compare, strings};
use crate::common::{Append, Extra, Loops, Readings, Tick, parse_all, schema, transform_delta};
use harness::deltalake::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use harness::deltalake::arrow::datatypes::SchemaRef;
use harness::deltalake::datafusion::prelude::{SessionContext, col, lit};
use harness::deltalake::kernel::transaction::CommitProperties;
use harness::history::{Event, History, TableAudit};
use harness::pipeline::{
    ConcurrentWriter, Delivered, MicroBatch, Oddity, Pipeline, PipelineEnv, PipelineOptions, PipelinePlan, QueryError,
    QueryLogic, QuerySpec, SourceSpec, TableSpec, TaskPlan, TopicSpec, Upstream, Workload,
};
use harness::pipeline::{landed_ids, landed_rows, open_table};
use harness::{HarnessError, Result, async_trait};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Domain names, in order; `--domains N` uses the first N.
pub const DOMAINS: [&str; 6] = ["temperature", "pressure", "vibration", "humidity", "voltage", "flow"];
/// The resolver's failpoint between reading its snapshot and committing its MERGE.
pub const RESOLVER_BEFORE_COMMIT: &str = "resolver.before-commit";
/// The resolver query's name.
pub const RESOLVER: &str = "resolver";
/// The alerts table.
pub const ALERTS: &str = "alerts";

/// The `telemetry` pipeline.
#[derive(Debug, Clone, Copy)]
pub struct Telemetry;

/// A telemetry record on the `telemetry` topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reading {
    /// Unique id.
    pub id: i64,
    /// Device.
    pub device: String,
    /// Domain.
    pub domain: String,
    /// Value.
    pub value: f64,
    /// Any other field the device sends (passed through to bronze).
    #[serde(flatten)]
    pub extra: Extra,
}

/// An alert event on the `alert-events` topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Unique id.
    pub event_id: i64,
    /// The alert it resolves.
    pub alert_id: String,
    /// `RESOLVE`.
    pub kind: String,
}

/// An alert event as the fixed resolver reads it: the alert id may be missing (null).
#[derive(Debug, Clone, Deserialize)]
struct MaybeAlertEvent {
    event_id: i64,
    alert_id: Option<String>,
    kind: String,
}

/// An ML alert's id.
pub fn alert_id(n: u64) -> String {
    format!("A{n:010}-00")
}

fn parse_alert_number(id: &str) -> Option<u64> {
    id.strip_prefix('A')?.get(..10)?.parse().ok()
}

fn bronze_schema() -> SchemaRef {
    schema("id long, device string, domain string, value double, batch long")
}

fn domain_schema() -> SchemaRef {
    schema("id long, device string, value double")
}

fn alerts_schema() -> SchemaRef {
    schema("alert_id string, status string, created_by string, resolved_by long?")
}

fn domain_query(d: &str) -> String {
    format!("domain_{d}")
}

impl Pipeline for Telemetry {
    fn name(&self) -> &'static str {
        "telemetry"
    }

    fn about(&self) -> &'static str {
        "incident 1: bronze ingestion, domain queries, and an alert resolver MERGEing beside an ML writer"
    }

    fn summary(&self, options: &PipelineOptions) -> String {
        format!("{} ({} domains)", self.name(), options.domains)
    }

    fn replay_args(&self, options: &PipelineOptions) -> String {
        format!("--pipeline {} --domains {}", self.name(), options.domains)
    }

    fn plan(&self, run_id: &str, o: &PipelineOptions) -> Result<PipelinePlan> {
        if !(1..=DOMAINS.len()).contains(&o.domains) {
            return Err(HarnessError::bad_input(
                format!("telemetry has 1 to {} domain queries, not {}", DOMAINS.len(), o.domains),
                "pass --domains between 1 and 6 (the default is 2)",
            ));
        }
        let topic = |n: &str| format!("lf-{run_id}-{n}");
        let domains = &DOMAINS[..o.domains];
        let mut queries = vec![QuerySpec {
            name: "bronze".into(),
            source: SourceSpec::Kafka { topic: topic("telemetry") },
            sink: "bronze".into(),
            create_sink: false,
        }];
        for d in domains {
            queries.push(QuerySpec {
                name: domain_query(d),
                source: SourceSpec::Delta { table: "bronze".into(), app_id: "bronze".into() },
                sink: domain_query(d),
                create_sink: false,
            });
        }
        queries.push(QuerySpec {
            name: RESOLVER.into(),
            source: SourceSpec::Kafka { topic: topic("alert-events") },
            sink: ALERTS.into(),
            create_sink: false,
        });
        let mut tables =
            vec![TableSpec { name: "bronze".into(), schema: bronze_schema(), properties: BTreeMap::new() }];
        for d in domains {
            tables.push(TableSpec { name: domain_query(d), schema: domain_schema(), properties: BTreeMap::new() });
        }
        tables.push(TableSpec {
            name: ALERTS.into(),
            schema: alerts_schema(),
            // delta-rs reads camelCase; Spark's `WriteSerializable` would silently mean Serializable.
            properties: BTreeMap::from([("delta.isolationLevel".to_string(), "serializable".to_string())]),
        });
        Ok(PipelinePlan {
            topics: vec![
                TopicSpec { name: topic("telemetry"), partitions: o.partitions, ..Default::default() },
                TopicSpec { name: topic("alert-events"), partitions: o.partitions, ..Default::default() },
            ],
            tables,
            // Two tasks when tasks are separate: ingestion, and alert resolution. In one
            // notebook (multi-query) they run in this order, the resolver awaited last.
            tasks: vec![
                TaskPlan {
                    name: "ingest".into(),
                    queries: queries[..queries.len() - 1].iter().map(|q| q.name.clone()).collect(),
                    depends_on: vec![],
                },
                TaskPlan { name: "alerts".into(), queries: vec![RESOLVER.into()], depends_on: vec![] },
            ],
            queries,
            upstream: vec![
                Upstream { oddity: Oddity::Poison, query: RESOLVER.into() },
                Upstream { oddity: Oddity::NewField, query: "bronze".into() },
            ],
            program: None,
        })
    }

    fn query(&self, spec: &QuerySpec, env: &PipelineEnv) -> Result<Box<dyn QueryLogic>> {
        Ok(match spec.name.as_str() {
            "bronze" => Box::new(Bronze { append: Append { merge_schema: env.deployed(Oddity::NewField) } }),
            RESOLVER => Box::new(Resolver { null_alert_ids: env.deployed(Oddity::Poison) }),
            name => match name.strip_prefix("domain_") {
                Some(d) if DOMAINS.contains(&d) => Box::new(Domain { domain: d.to_string() }),
                _ => return Err(HarnessError::bad_input(format!("telemetry has no query {name:?}"), "check the plan")),
            },
        })
    }

    fn workload(
        &self,
        env: &PipelineEnv,
        _plan: &PipelinePlan,
        history: History,
        seed: u64,
    ) -> Result<Arc<dyn Workload>> {
        Ok(Arc::new(TelemetryWorkload::new(env.clone(), history, seed)?))
    }
}

/// Raw telemetry → bronze, with the batch id in every row (the domain queries read by it).
#[derive(Debug)]
struct Bronze {
    /// How rows are appended (with schema evolution once that fix is deployed).
    append: Append,
}

#[async_trait]
impl QueryLogic for Bronze {
    async fn process(&mut self, b: MicroBatch<'_>) -> Result<u64, QueryError> {
        let readings: Vec<Reading> = parse_all(&b.input)?;
        let columns: Vec<harness::deltalake::arrow::array::ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(readings.iter().map(|r| r.id))),
            Arc::new(StringArray::from_iter_values(readings.iter().map(|r| r.device.as_str()))),
            Arc::new(StringArray::from_iter_values(readings.iter().map(|r| r.domain.as_str()))),
            Arc::new(Float64Array::from_iter_values(readings.iter().map(|r| r.value))),
        ];
        let extras: Vec<&Extra> = readings.iter().map(|r| &r.extra).collect();
        self.append.write(b, bronze_schema(), columns, &extras).await
    }
}

/// Bronze → one domain table.
#[derive(Debug)]
struct Domain {
    domain: String,
}

#[async_trait]
impl QueryLogic for Domain {
    async fn process(&mut self, b: MicroBatch<'_>) -> Result<u64, QueryError> {
        let filter = format!("domain = '{}'", self.domain);
        transform_delta(b, "bronze", "id, device, value", Some(&filter), domain_schema()).await
    }
}

/// RESOLVE events → MERGE into alerts.
#[derive(Debug)]
struct Resolver {
    /// The fix for poison events is deployed: an event without an alert id resolves nothing.
    null_alert_ids: bool,
}

#[async_trait]
impl QueryLogic for Resolver {
    async fn process(&mut self, b: MicroBatch<'_>) -> Result<u64, QueryError> {
        let commit = b.commit_properties();
        let events: Vec<AlertEvent> = if self.null_alert_ids {
            parse_all::<MaybeAlertEvent>(&b.input)?
                .into_iter()
                .filter_map(|e| Some(AlertEvent { event_id: e.event_id, alert_id: e.alert_id?, kind: e.kind }))
                .collect()
        } else {
            // The code as first written: an event without an alert id fails the batch.
            parse_all(&b.input)?
        };
        let events: Vec<AlertEvent> = events.into_iter().filter(|e| e.kind == "RESOLVE").collect();
        if events.is_empty() {
            return Ok(0);
        }
        let n = events.len() as u64;
        let min = events.iter().map(|e| e.alert_id.clone()).min().unwrap_or_default();
        let max = events.iter().map(|e| e.alert_id.clone()).max().unwrap_or_default();
        let rb = RecordBatch::try_new(
            schema("alert_id string, event_id long"),
            vec![
                Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.alert_id.as_str()))),
                Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.event_id))),
            ],
        )?;
        let source = SessionContext::new().read_batch(rb)?;
        // The sink snapshot was read before this call: whatever commits now, the MERGE commits
        // against the snapshot it read.
        b.failpoints
            .hit(
                RESOLVER_BEFORE_COMMIT,
                serde_json::json!({"table": ALERTS, "key": "alert_id", "min": min, "max": max, "batch": b.id}),
            )
            .await?;
        b.sink
            .merge(source, col("target.alert_id").eq(col("source.alert_id")))
            .with_source_alias("source")
            .with_target_alias("target")
            .when_matched_update(|u| u.update("status", lit("CLOSED")).update("resolved_by", col("source.event_id")))?
            .with_commit_properties(commit)
            .await?;
        Ok(n)
    }
}

#[derive(Debug, Default)]
struct Ledger {
    /// ML alerts created (committed): numbers 0..next_alert.
    next_alert: u64,
    /// Alerts created by faults.
    fault_alerts: Vec<String>,
    /// RESOLVE events produced: alert -> event id.
    resolved: BTreeMap<String, i64>,
    next_event: i64,
}

/// The workload: a telemetry producer, the ML writer, and RESOLVEs for created alerts.
#[derive(Debug)]
pub struct TelemetryWorkload {
    inner: Arc<Inner>,
    loops: Loops,
}

/// What the workload's loops share.
#[derive(Debug)]
struct Inner {
    env: PipelineEnv,
    history: History,
    seed: u64,
    /// Telemetry, on topic `telemetry`; the producer sends alert events too.
    readings: Readings,
    ledger: Arc<Mutex<Ledger>>,
    writer: Arc<MlWriter>,
    /// Poison events sent (their event ids count down from -1, apart from the real ones).
    poisoned: std::sync::atomic::AtomicI64,
}

/// The ML job: appends CREATE alerts to the alerts table.
#[derive(Debug)]
pub struct MlWriter {
    env: PipelineEnv,
    ledger: Arc<Mutex<Ledger>>,
    history: History,
}

impl MlWriter {
    async fn append(&self, ids: &[String]) -> Result<()> {
        let rb = RecordBatch::try_new(
            alerts_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(ids.iter().map(String::as_str))),
                Arc::new(StringArray::from_iter_values(ids.iter().map(|_| "OPEN"))),
                Arc::new(StringArray::from_iter_values(ids.iter().map(|_| "ml"))),
                Arc::new(Int64Array::from(vec![None::<i64>; ids.len()])),
            ],
        )
        .map_err(|e| HarnessError::Check { what: "ML alerts".into(), problem: e.to_string() })?;
        // A blind append can still lose to a MERGE that rewrote files (delta-rs reports
        // ConcurrentDeleteRead): the ML job retries on a fresh snapshot, as a real job would.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let table = open_table(&self.env.catalog, ALERTS)
                .await
                .map_err(|e| HarnessError::Check { what: ALERTS.into(), problem: e.message })?;
            match table.write(vec![rb.clone()]).with_commit_properties(CommitProperties::default()).await {
                Ok(_) => return Ok(()),
                Err(e) if attempt < 20 && harness::pipeline::classify_delta(&e).is_concurrent_write() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[async_trait]
impl ConcurrentWriter for MlWriter {
    async fn commit_overlapping(&self, context: &serde_json::Value) -> Result<Vec<String>> {
        let key = |k: &str| context.get(k).and_then(|v| v.as_str()).and_then(parse_alert_number);
        let (Some(lo), Some(hi)) = (key("min"), key("max")) else {
            return Err(HarnessError::Fault {
                fault: "concurrent-append".into(),
                problem: format!("the resolver's failpoint context has no alert range: {context}"),
            });
        };
        // One file whose alert_id stats span [min, max]: `A{lo}` sorts before `A{lo}-00`, and
        // `A{hi}-9k` after `A{hi}-00`. Neither form is ever produced by the ML job itself.
        let k = self.ledger.lock().expect("ledger").fault_alerts.len();
        let ids = vec![format!("A{lo:010}"), format!("A{hi:010}-9{k}")];
        self.append(&ids).await?;
        self.ledger.lock().expect("ledger").fault_alerts.extend(ids.iter().cloned());
        self.history.record(Event::Phase { name: format!("ML writer committed {} overlapping alerts", ids.len()) });
        Ok(ids)
    }
}

impl TelemetryWorkload {
    fn new(env: PipelineEnv, history: History, seed: u64) -> Result<TelemetryWorkload> {
        let readings = Readings::new(&env, history.clone(), "telemetry")?;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let writer = Arc::new(MlWriter { env: env.clone(), ledger: ledger.clone(), history: history.clone() });
        let inner = Arc::new(Inner { env, history, seed, readings, ledger, writer, poisoned: Default::default() });
        Ok(TelemetryWorkload { inner, loops: Loops::default() })
    }
}

impl Inner {
    fn topic(&self, name: &str) -> String {
        format!("lf-{}-{name}", self.env.config.run_id)
    }

    /// One tick of the telemetry producer.
    async fn produce_readings(&self, rng: &mut rand::rngs::SmallRng) -> Result<()> {
        let per_tick = crate::common::per_tick(self.env.config.options.rate);
        let domains = self.env.config.options.domains as i64;
        let reading = |id, extra| {
            let device = format!("dev-{}", rng.random_range(0..50));
            let domain = DOMAINS[(id % domains) as usize].to_string();
            let r = Reading { id, device, domain, value: rng.random_range(-40.0..120.0), extra };
            (r.device.clone(), serde_json::to_vec(&r).expect("serializes"))
        };
        self.readings.send(per_tick, reading).await.map(drop)
    }

    /// One tick of the ML job: create a few alerts, then resolve some of the previous tick's.
    async fn ml_tick(&self, rng: &mut rand::rngs::SmallRng, previous: &mut Vec<String>) -> Result<()> {
        let k = rng.random_range(2..6u64);
        let first = self.ledger.lock().expect("ledger").next_alert;
        let ids: Vec<String> = (first..first + k).map(alert_id).collect();
        use futures::FutureExt;
        let appended =
            std::panic::AssertUnwindSafe(self.writer.append(&ids)).catch_unwind().await.unwrap_or_else(|panic| {
                // object_store's buffered writer panics ("Already shut down") when delta-rs writes on
                // after a failed upload, as it does when storage refuses a data file: the ML job
                // crashed before committing anything.
                Err(HarnessError::Delta(harness::deltalake::DeltaTableError::Generic(format!(
                    "the ML job's write panicked: {}",
                    harness::error::panic_message(panic.as_ref())
                ))))
            });
        let ids = match appended {
            Ok(()) => {
                self.ledger.lock().expect("ledger").next_alert = first + k;
                self.history.record(Event::Produced { stream: "alerts".into(), first, last: first + k - 1 });
                ids
            }
            // The ML job is outside the system under test: when the table will not take its
            // commit (storage turned read-only), it tries again at its next tick, as a scheduled
            // job would. Its ledger holds only what committed; devices still resolve the alerts
            // that did.
            Err(HarnessError::Delta(e)) => {
                self.history.record(Event::Phase { name: format!("ML writer could not commit ({e}); next tick") });
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        // RESOLVE two in three of the alerts whose CREATE committed a tick ago.
        let to_resolve: Vec<String> = previous.drain(..).filter(|_| rng.random_range(0..3) != 0).collect();
        *previous = ids;
        if to_resolve.is_empty() {
            return Ok(());
        }
        let first_event = self.ledger.lock().expect("ledger").next_event;
        let events: Vec<AlertEvent> = to_resolve
            .iter()
            .enumerate()
            .map(|(i, a)| AlertEvent { event_id: first_event + i as i64, alert_id: a.clone(), kind: "RESOLVE".into() })
            .collect();
        let payloads =
            events.iter().map(|e| (e.alert_id.clone(), serde_json::to_vec(e).expect("serializes"))).collect();
        self.readings.producer().send_all(&self.topic("alert-events"), payloads).await?;
        let mut l = self.ledger.lock().expect("ledger");
        for e in &events {
            l.resolved.insert(e.alert_id.clone(), e.event_id);
        }
        l.next_event = first_event + events.len() as i64;
        let last = l.next_event - 1;
        drop(l);
        self.history.record(Event::Produced {
            stream: "alert-events".into(),
            first: first_event as u64,
            last: last as u64,
        });
        Ok(())
    }
}

#[async_trait]
impl Workload for TelemetryWorkload {
    async fn start(&self) -> Result<()> {
        let rng = |n: u64| rand::rngs::SmallRng::seed_from_u64(self.inner.seed.wrapping_add(n));
        let h = self.inner.history.clone();
        self.loops.spawn(Box::new(ReadingsLoop { inner: self.inner.clone(), rng: rng(0) }), h.clone());
        self.loops.spawn(Box::new(MlLoop { inner: self.inner.clone(), rng: rng(1), previous: Vec::new() }), h);
        Ok(())
    }

    async fn stop(&self) -> Result<()> {
        self.loops.stop().await;
        Ok(())
    }

    async fn audit(&self) -> Result<Vec<TableAudit>> {
        let me = &self.inner;
        let (produced, alerts, fault_alerts, resolved) = {
            let l = me.ledger.lock().expect("ledger");
            (me.readings.produced(), l.next_alert, l.fault_alerts.clone(), l.resolved.clone())
        };
        let cat = &me.env.catalog;
        let mut out = Vec::new();
        let bronze = landed_ids(&cat.location("bronze")?, "id").await?;
        out.push(compare("bronze", "bronze", 0..produced, bronze));
        let domains = me.env.config.options.domains as i64;
        for (i, d) in DOMAINS[..domains as usize].iter().enumerate() {
            let name = domain_query(d);
            let ids = landed_ids(&cat.location(&name)?, "id").await?;
            out.push(compare(&name, &name, (0..produced).filter(|id| id % domains == i as i64), ids));
        }
        let rows = landed_rows(&cat.location(ALERTS)?, &["alert_id", "status"]).await?;
        let ids: Vec<String> = strings(&rows, 0).into_iter().flatten().collect();
        let expected = (0..alerts).map(alert_id).chain(fault_alerts);
        let mut audit = compare(ALERTS, RESOLVER, expected, ids);
        // Alerts resolved: every alert that received a RESOLVE is CLOSED.
        let status: BTreeMap<String, String> =
            strings(&rows, 0).into_iter().zip(strings(&rows, 1)).filter_map(|(a, s)| Some((a?, s?))).collect();
        let open_resolved: Vec<String> =
            resolved.keys().filter(|a| status.get(*a).map(String::as_str) != Some("CLOSED")).cloned().collect();
        audit.unresolved = open_resolved.len() as u64;
        audit.resolutions = true;
        if !open_resolved.is_empty() {
            audit.samples.insert("resolved but open".into(), open_resolved.into_iter().take(20).collect());
        }
        audit.samples.insert("resolved".into(), vec![format!("{} RESOLVE events", resolved.len())]);
        out.push(audit);
        Ok(out)
    }

    fn writer(&self, table: &str) -> Option<Arc<dyn ConcurrentWriter>> {
        (table == ALERTS).then(|| self.inner.writer.clone() as Arc<dyn ConcurrentWriter>)
    }

    async fn send(&self, oddity: Oddity) -> Result<Delivered> {
        let me = &self.inner;
        match oddity {
            Oddity::Poison => {
                // A RESOLVE from a device that lost track of its alert: `"alert_id": null`. It
                // resolves nothing, so the audit expects nothing of it beyond not failing.
                let id = -1 - me.poisoned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let payload = serde_json::json!({"event_id": id, "alert_id": null, "kind": "RESOLVE"});
                let topic = me.topic("alert-events");
                me.readings
                    .producer()
                    .send_all(&topic, vec![("poison".into(), payload.to_string().into_bytes())])
                    .await?;
                Ok(Delivered { stream: topic, what: format!("RESOLVE event {id} with a null alert id") })
            }
            Oddity::NewField => Ok(me.readings.roll_out_firmware()),
        }
    }
}

struct ReadingsLoop {
    inner: Arc<Inner>,
    rng: rand::rngs::SmallRng,
}

#[async_trait]
impl Tick for ReadingsLoop {
    async fn tick(&mut self) -> Result<()> {
        self.inner.produce_readings(&mut self.rng).await
    }
}

struct MlLoop {
    inner: Arc<Inner>,
    rng: rand::rngs::SmallRng,
    previous: Vec<String>,
}

#[async_trait]
impl Tick for MlLoop {
    async fn tick(&mut self) -> Result<()> {
        self.inner.ml_tick(&mut self.rng, &mut self.previous).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_alert_ids_sort_around_the_resolved_range() {
        let (lo, hi) = (alert_id(100), alert_id(140));
        let below = format!("A{:010}", 100);
        let above = format!("A{:010}-90", 140);
        assert!(below < lo && lo < hi && hi < above);
        assert!(below > alert_id(99) && above < alert_id(141));
        assert_eq!(parse_alert_number(&hi), Some(140));
    }

    #[test]
    fn domains_are_bounded() {
        let o = PipelineOptions { domains: 7, ..PipelineOptions::default() };
        let err = Telemetry.plan("r", &o).unwrap_err().to_string();
        assert!(err.contains("1 to 6") && err.contains("--domains"), "{err}");
        let plan = Telemetry.plan("r", &PipelineOptions::default()).unwrap();
        assert_eq!(plan.queries.last().unwrap().name, RESOLVER);
        assert_eq!(plan.queries.len(), 4);
    }
}
