//! The micro-batch engine every query runs on, in the cluster process.
//!
//! ```text
//!   trigger ─▶ plan batch N ─▶ offsets/N ─▶ load sink (read) ─▶ sink txn ≥ N? ──yes──▶ skip ─┐
//!              (or replay the                                      │ no                     │
//!               uncommitted one)                                   ▼                        │
//!                                                  read source range ─▶ logic.process:      │
//!                                                  commit data + txn(app=query, version=N)  │
//!                                                                  │                        │
//!                                                                  ▼                        │
//!                                                      commits/N ◀─────────────────────────┘
//! ```
//!
//! A crash anywhere replays batch N with the same range; the sink's `txn` makes the replay
//! exactly-once. The query ends only with an error (or when its task goes away).

use crate::catalog::Catalog;
use crate::checkpoint::{Checkpoint, OffsetsEntry, Resume};
use crate::delta_log::LogTail;
use crate::error::HarnessError;
use crate::failpoint::Failpoints;
use crate::history::{ErrorKind, Event, Positions};
pub use crate::kafka::partition_key;
use crate::kafka::{Closing, client_config, end_offsets, nominal_retry_timers};
use crate::plan::{
    Input, KafkaRecord, MicroBatch, PipelineEnv, QueryError, QueryLogic, QuerySpec, SourceSpec, TableSpec,
};
use crate::proto::report;
use deltalake::DeltaTable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// Opens a table through the catalog; a location without a table is an error.
pub async fn open_table(catalog: &Catalog, table: &str) -> Result<DeltaTable, QueryError> {
    let url = catalog.url(table)?;
    Ok(deltalake::open_table(url).await?)
}

/// The `txn` version of `app_id` in a table: the newest its log holds. A table on local disk
/// has its log read incrementally, each commit file once in this process ([`LogTail`]); a log
/// replay at every batch (the kernel's) costs more with every commit. Elsewhere, delta-rs's.
pub async fn txn_version(table: &DeltaTable, app_id: &str) -> Result<Option<i64>, deltalake::DeltaTableError> {
    match tail_txn(table, app_id) {
        Some(txn) => Ok(txn),
        None => table.snapshot()?.transaction_version(table.log_store().as_ref(), app_id).await,
    }
}

/// The `txn` version of `app_id` as the table's log on local disk shows it now, read
/// incrementally; None where that log cannot be read so (not on local disk, no commit yet, an
/// unreadable commit file): the table's snapshot must answer.
fn tail_txn(table: &DeltaTable, app_id: &str) -> Option<Option<i64>> {
    static TAILS: std::sync::Mutex<std::collections::BTreeMap<std::path::PathBuf, LogTail>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    let path = table.table_url().to_file_path().ok()?;
    let mut tails = TAILS.lock().expect("log tails");
    let tail = tails.entry(path.clone()).or_insert_with(|| LogTail::new(&path));
    (tail.advance().is_ok() && tail.version() >= 0).then(|| tail.txn(app_id))
}

/// A query's source.
enum Source {
    /// `timeout`: how long it waits for the broker before the query fails.
    Kafka {
        topic: String,
        partitions: Vec<i32>,
        consumer: Closing,
        timeout: Duration,
    },
    Delta {
        table: String,
        app_id: String,
        handle: Option<DeltaTable>,
    },
}

impl Source {
    async fn open(spec: &SourceSpec, env: &PipelineEnv, query: &str) -> Result<Source, QueryError> {
        Ok(match spec {
            SourceSpec::Kafka { topic } => {
                let mut config = client_config(&env.config.bootstrap);
                let consumer: BaseConsumer = nominal_retry_timers(&mut config, env.config.scale)
                    .set("group.id", format!("loudfail-{query}"))
                    .set("enable.auto.commit", "false")
                    .set("enable.auto.offset.store", "false")
                    .set("auto.offset.reset", "earliest")
                    // A fetch parked at the end of a partition holds the next one back for up to
                    // this long (librdkafka's default is 500 ms); the broker is on loopback.
                    .set("fetch.wait.max.ms", "10")
                    .create()
                    .map_err(|e| QueryError::new(ErrorKind::Kafka, e.to_string()))?;
                let consumer = Closing::new(consumer);
                let (c, t) = (consumer.get(), topic.clone());
                let timeout = env.config.timings.source_timeout(env.config.scale);
                let partitions = blocking(move || {
                    let md = c.fetch_metadata(Some(&t), timeout)?;
                    Ok(md.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect::<Vec<_>>())
                })
                .await?;
                if partitions.is_empty() {
                    return Err(QueryError::new(ErrorKind::Kafka, format!("topic {topic} has no partitions")));
                }
                Source::Kafka { topic: topic.clone(), partitions, consumer, timeout }
            }
            SourceSpec::Delta { table, app_id } => {
                Source::Delta { table: table.clone(), app_id: app_id.clone(), handle: None }
            }
        })
    }

    /// Latest available positions.
    async fn end(&mut self, catalog: &Catalog) -> Result<Positions, QueryError> {
        match self {
            Source::Kafka { topic, partitions, consumer, timeout } => {
                let (c, t, ps, timeout) = (consumer.get(), topic.clone(), partitions.clone(), *timeout);
                blocking(move || end_offsets(&c, &t, &ps, timeout)).await
            }
            Source::Delta { table, app_id, handle } => {
                let t = match handle {
                    Some(t) => t,
                    None => handle.insert(open_table(catalog, table).await?),
                };
                // A trigger usually finds nothing new: where the log's tail answers, the
                // table's snapshot is brought up to date only by `read`, when there is a batch
                // (delta-rs's update lists the log and replays it: most of an idle trigger's
                // cost, 60 times a second at 600:1). Where it cannot, the snapshot answers,
                // brought up to date first.
                let txn = match tail_txn(t, app_id) {
                    Some(txn) => txn,
                    None => {
                        t.update_incremental(None).await?;
                        t.snapshot()?.transaction_version(t.log_store().as_ref(), app_id).await?
                    }
                };
                Ok(txn.map(|v| Positions::from([(table.clone(), v)])).unwrap_or_default())
            }
        }
    }

    /// Reads `[start, end)` (Kafka) or `(start, end]` (Delta).
    async fn read(&mut self, catalog: &Catalog, start: &Positions, end: &Positions) -> Result<Input, QueryError> {
        match self {
            Source::Kafka { topic, partitions, consumer, timeout } => {
                let mut ranges = Vec::new();
                for p in partitions.iter() {
                    let key = partition_key(topic, *p);
                    let (from, to) = (start.get(&key).copied().unwrap_or(0), end.get(&key).copied().unwrap_or(0));
                    if to > from {
                        ranges.push((*p, from, to));
                    }
                }
                let (c, t, timeout) = (consumer.get(), topic.clone(), *timeout);
                let records = blocking(move || read_kafka(&c, &t, &ranges, timeout)).await?;
                Ok(Input::Kafka(records))
            }
            Source::Delta { table, handle, .. } => {
                // A replayed batch reads without asking for the end first: open the table now.
                let t = match handle {
                    Some(t) => {
                        t.update_incremental(None).await?;
                        t.clone()
                    }
                    None => handle.insert(open_table(catalog, table).await?).clone(),
                };
                Ok(Input::Delta {
                    table: t,
                    after: start.get(table.as_str()).copied().unwrap_or(-1),
                    upto: end.get(table.as_str()).copied().unwrap_or(-1),
                })
            }
        }
    }
}

/// Reads the ranges; fails when the broker sends nothing for `timeout`.
fn read_kafka(
    consumer: &BaseConsumer,
    topic: &str,
    ranges: &[(i32, i64, i64)],
    timeout: Duration,
) -> Result<Vec<KafkaRecord>, rdkafka::error::KafkaError> {
    let mut out = Vec::new();
    if ranges.is_empty() {
        return Ok(out);
    }
    let mut tpl = TopicPartitionList::new();
    for (p, from, _) in ranges {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*from))?;
    }
    consumer.assign(&tpl)?;
    drop(tpl);
    let mut open: std::collections::HashMap<i32, i64> = ranges.iter().map(|(p, _, to)| (*p, *to)).collect();
    let mut deadline = Instant::now() + timeout;
    // A consumer error librdkafka recovers from by itself (a fetch that timed out, a leader
    // that moved) is retried through, as Spark's Kafka source does, until the source's timeout;
    // then it is the failure. A fatal one fails at once.
    let mut transient = None;
    while !open.is_empty() {
        if Instant::now() > deadline {
            return Err(transient.unwrap_or(rdkafka::error::KafkaError::MessageConsumption(
                rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e @ rdkafka::error::KafkaError::MessageConsumption(_))) => transient = Some(e),
            Some(Err(e)) => return Err(e),
            Some(Ok(m)) => {
                deadline = Instant::now() + timeout;
                let p = m.partition();
                if let Some(&to) = open.get(&p) {
                    if m.offset() < to {
                        out.push(KafkaRecord {
                            partition: p,
                            offset: m.offset(),
                            payload: m.payload().unwrap_or_default().to_vec(),
                        });
                    }
                    if m.offset() + 1 >= to {
                        open.remove(&p);
                    }
                }
            }
        }
    }
    consumer.unassign()?;
    Ok(out)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, rdkafka::error::KafkaError> + Send + 'static,
) -> Result<T, QueryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| QueryError::new(ErrorKind::Harness, e.to_string()))?
        .map_err(|e| QueryError::new(ErrorKind::Kafka, e.to_string()))
}

/// The sink of a query, resolved through the catalog file at every batch (a catalog entry that
/// changes takes effect at the next batch, as a table name resolved per write does).
struct Sink<'a> {
    spec: &'a QuerySpec,
    create: Option<&'a TableSpec>,
    catalog_file: std::path::PathBuf,
    location: Option<url::Url>,
    table: Option<DeltaTable>,
}

impl Sink<'_> {
    async fn resolve(&mut self) -> Result<&DeltaTable, QueryError> {
        let catalog = resolve_catalog(&self.catalog_file)?;
        let url = catalog.url(&self.spec.sink).map_err(|e| QueryError::new(ErrorKind::TableNotFound, e.to_string()))?;
        if self.location.as_ref() != Some(&url) || self.table.is_none() {
            self.table = None;
            let table =
                match deltalake::open_table(url.clone()).await {
                    Ok(t) => t,
                    Err(
                        deltalake::DeltaTableError::NotATable(_) | deltalake::DeltaTableError::InvalidTableLocation(_),
                    ) if self.create.is_some() => create_table(&url, self.create.expect("checked")).await?,
                    Err(e) => return Err(e.into()),
                };
            self.table = Some(table);
            self.location = Some(url);
        }
        let table = self.table.as_mut().expect("resolved above");
        table.update_incremental(None).await?;
        Ok(table)
    }
}

/// Reads the catalog (the metastore) as a query does: a catalog that cannot be read is a
/// query error of class `CatalogUnavailable`.
fn resolve_catalog(file: &std::path::Path) -> Result<Catalog, QueryError> {
    Catalog::load(file).map_err(|e| QueryError::new(ErrorKind::CatalogUnavailable, e.to_string()))
}

/// Creates a table at `url` with the schema and properties of `spec` (the directory too).
pub async fn create_table(url: &url::Url, spec: &TableSpec) -> Result<DeltaTable, QueryError> {
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
    if let Ok(path) = url.to_file_path() {
        std::fs::create_dir_all(&path).map_err(|e| {
            QueryError::new(ErrorKind::InvalidTableLocation, format!("cannot create {}: {e}", path.display()))
        })?;
    }
    let fields = spec
        .schema
        .fields()
        .iter()
        .map(|f| {
            let dt: deltalake::kernel::DataType = f.data_type().try_into_kernel()?;
            Ok(deltalake::kernel::StructField::new(f.name().clone(), dt, f.is_nullable()))
        })
        .collect::<Result<Vec<_>, deltalake::arrow::error::ArrowError>>()?;
    let table = DeltaTable::try_from_url(url.clone()).await?;
    Ok(table
        .create()
        .with_table_name(spec.name.clone())
        .with_columns(fields)
        .with_configuration(spec.properties.iter().map(|(k, v)| (k.clone(), Some(v.clone()))))
        .await?)
}

/// Runs one query until it fails. Reports every committed batch. `create_sink` is the sink's
/// table when the query creates a missing sink.
pub async fn run_query(
    spec: &QuerySpec,
    mut logic: Box<dyn QueryLogic>,
    env: &PipelineEnv,
    create_sink: Option<&TableSpec>,
    failpoints: &Failpoints,
) -> Result<(), QueryError> {
    let checkpoint = Checkpoint::open(&env.checkpoint(&spec.name)).map_err(QueryError::from)?;
    let catalog_file = env.config.run_dir.join("catalog.json");
    // Source tables are resolved when the query starts, as Spark resolves them.
    let catalog = resolve_catalog(&catalog_file)?;
    let mut source = Source::open(&spec.source, env, &spec.name).await?;
    let mut sink =
        Sink { spec, create: create_sink.filter(|_| spec.create_sink), catalog_file, location: None, table: None };
    sink.resolve().await?;
    let batch_failpoint = format!("{}.batch", spec.name);
    let mut pending = checkpoint.resume().map_err(checkpoint_error)?;
    let mut ticker = tokio::time::interval(env.trigger());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (entry, replayed) = match &pending {
            Resume::Replay(entry) => (entry.clone(), true),
            Resume::Next { batch, start } => {
                let end = source.end(&catalog).await?;
                if !advanced(start, &end) {
                    continue;
                }
                let entry = OffsetsEntry { batch: *batch, start: start.clone(), end };
                checkpoint.plan(&entry).map_err(QueryError::from)?;
                (entry, false)
            }
        };
        let (rows, skipped) = async {
            failpoints.hit(&batch_failpoint, serde_json::json!({"batch": entry.batch})).await?;
            let sink = sink.resolve().await?;
            if txn_version(sink, spec.app_id()).await?.is_some_and(|v| v >= entry.batch) {
                return Ok((0, true));
            }
            let input = source.read(&catalog, &entry.start, &entry.end).await?;
            let batch = MicroBatch { id: entry.batch, query: spec, input, sink: sink.clone(), failpoints };
            Ok::<_, QueryError>((logic.process(batch).await?, false))
        }
        .await
        .map_err(|e| e.in_batch(&entry.end))?;
        checkpoint.commit(entry.batch).map_err(|e| QueryError::from(e).in_batch(&entry.end))?;
        report(Event::BatchCommitted { query: spec.name.clone(), batch: entry.batch, rows, replayed, skipped });
        pending = Resume::Next { batch: entry.batch + 1, start: entry.end };
    }
}

fn checkpoint_error(e: HarnessError) -> QueryError {
    QueryError::new(ErrorKind::Checkpoint, e.to_string())
}

/// True when any position of `end` is past `start`.
fn advanced(start: &Positions, end: &Positions) -> bool {
    end.iter().any(|(k, v)| match start.get(k) {
        Some(s) => v > s,
        // A Kafka partition starts at 0; a Delta source starts before batch 0.
        None => *v > 0 || !k.contains('/'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advanced_compares_every_position() {
        let p = |v: &[(&str, i64)]| v.iter().map(|(k, v)| (k.to_string(), *v)).collect::<Positions>();
        assert!(!advanced(&p(&[]), &p(&[("t/0", 0)])));
        assert!(advanced(&p(&[]), &p(&[("t/0", 3)])));
        assert!(!advanced(&p(&[("t/0", 3)]), &p(&[("t/0", 3)])));
        assert!(advanced(&p(&[]), &p(&[("bronze", 0)])));
        assert!(!advanced(&p(&[("bronze", 4)]), &p(&[("bronze", 4)])));
    }
}
