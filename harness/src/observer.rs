//! The observer: what the world shows, sampled and recorded on change. Ground truth comes from
//! here, not from what processes say about themselves: each sink's Delta version and its query's
//! `txn`, each source's end positions, and each checkpoint's last commit.

use crate::checkpoint::Checkpoint;
use crate::delta_log::TableLog;
use crate::history::{Event, History, Positions, lagging};
use crate::kafka::{Closing, client_config};
use crate::pipeline::{PipelineEnv, PipelinePlan, QuerySpec, SourceSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long one sample waits for the broker: a broker that is down must not stop the sampling
/// of sinks and checkpoints (a source end it cannot read is simply not observed this time).
const BROKER_WAIT: Duration = Duration::from_millis(500);
use tokio::sync::{oneshot, watch};
use tokio_util::task::AbortOnDropHandle;

/// What the world showed of one query at the last sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryWorld {
    /// Its sink table's version.
    pub sink_version: Option<i64>,
    /// Its `txn` version in the sink (last batch that landed).
    pub txn: Option<i64>,
    /// Its source's end.
    pub source_end: Positions,
    /// Its checkpoint's last committed batch and where it ended.
    pub committed: Option<(i64, Positions)>,
}

impl QueryWorld {
    /// True when the source holds data the query has not committed.
    pub fn lagging(&self) -> bool {
        lagging(&self.source_end, self.committed.as_ref().map(|(_, e)| e))
    }
}

/// The world at the last sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct World {
    /// Per query.
    pub queries: BTreeMap<String, QueryWorld>,
    /// How many samples were taken.
    pub samples: u64,
}

impl World {
    /// True when no query lags its source.
    pub fn caught_up(&self) -> bool {
        !self.queries.is_empty() && self.queries.values().all(|q| !q.lagging())
    }
}

/// A running observer.
#[derive(Debug)]
pub struct Observer {
    world: watch::Receiver<World>,
    stop: oneshot::Sender<()>,
    /// Aborted if dropped without `stop()`.
    task: AbortOnDropHandle<()>,
}

impl Observer {
    /// Starts sampling every `interval`.
    pub fn start(env: PipelineEnv, plan: &PipelinePlan, history: History, interval: Duration) -> Observer {
        let (tx, rx) = watch::channel(World::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = match &plan.program {
            Some(program) => {
                // A spec that loaded fills in for the run (its commands did); nothing watched if not.
                let watches = program.spec.watches(&env, plan).unwrap_or_default();
                tokio::spawn(observe_flows(env, program.clone(), watches, history, interval, tx, stop_rx))
            }
            None => tokio::spawn(observe(env, plan.queries.clone(), history, interval, tx, stop_rx)),
        };
        Observer { world: rx, stop: stop_tx, task: AbortOnDropHandle::new(task) }
    }

    /// The world as last sampled; `changed()` on it awaits the next sample.
    pub fn world(&self) -> watch::Receiver<World> {
        self.world.clone()
    }

    /// Takes one last sample and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// A sample's moments: every `interval` (late ones not caught up), and one last when told to stop.
struct Ticks {
    ticker: tokio::time::Interval,
    stop: oneshot::Receiver<()>,
}

impl Ticks {
    fn new(interval: Duration, stop: oneshot::Receiver<()>) -> Ticks {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticks { ticker, stop }
    }

    /// Waits for the next sample's moment; true for the last.
    async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.ticker.tick() => false,
            _ = &mut self.stop => true,
        }
    }
}

struct Sampler {
    env: PipelineEnv,
    queries: Vec<QuerySpec>,
    history: History,
    consumer: Option<Closing>,
    /// A Kafka topic's partitions, once known.
    partitions: BTreeMap<String, Vec<i32>>,
    tables: BTreeMap<String, TableLog>,
    world: World,
}

async fn observe(
    env: PipelineEnv,
    queries: Vec<QuerySpec>,
    history: History,
    interval: Duration,
    tx: watch::Sender<World>,
    stop: oneshot::Receiver<()>,
) {
    let consumer = client_config(&env.config.bootstrap)
        .set("group.id", "loudfail-observer")
        .create::<BaseConsumer>()
        .ok()
        .map(Closing::new);
    let mut s = Sampler {
        env,
        queries,
        history,
        consumer,
        partitions: BTreeMap::new(),
        tables: BTreeMap::new(),
        world: World::default(),
    };
    let mut ticks = Ticks::new(interval, stop);
    loop {
        let last = ticks.next().await;
        s.sample().await;
        tx.send_replace(s.world.clone());
        if last {
            return;
        }
    }
}

impl Sampler {
    /// The sink's version now and the `txn` of `app_id` in it; None while the table cannot
    /// be read (not created yet).
    async fn sink(&mut self, name: &str, app_id: &str) -> Option<(i64, Option<i64>)> {
        if !self.tables.contains_key(name) {
            let location = self.env.catalog.location(name).ok()?;
            // Not created yet: observed once it is.
            let log = TableLog::open(&location).await.ok()??;
            self.tables.insert(name.to_string(), log);
        }
        let log = self.tables.get_mut(name)?;
        log.update().await.ok()?;
        Some((log.version(), log.txn(app_id).await.ok().flatten()))
    }

    /// The end offset of every partition of `topic`. Its partitions are asked for once (a
    /// run's topics keep theirs); their ends at every sample.
    async fn kafka_end(&mut self, topic: &str) -> Option<Positions> {
        let c = self.consumer.as_ref()?.get();
        let (t, known) = (topic.to_string(), self.partitions.get(topic).cloned());
        let (partitions, end) = tokio::task::spawn_blocking(move || {
            let partitions: Vec<i32> = match known {
                Some(p) => p,
                None => {
                    let md = c.fetch_metadata(Some(&t), BROKER_WAIT).ok()?;
                    md.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect()
                }
            };
            let end = crate::kafka::end_offsets(&c, &t, &partitions, BROKER_WAIT).ok()?;
            Some((partitions, end))
        })
        .await
        .ok()
        .flatten()?;
        if !partitions.is_empty() {
            self.partitions.insert(topic.to_string(), partitions);
        }
        Some(end)
    }

    async fn sample(&mut self) {
        self.world.samples += 1;
        // Order matters: checkpoints first, then sinks, then source ends. Each is read no later
        // than what it is compared with, so a sample can show lag that is gone, never hide lag
        // that is there (a drain must not end on a stale sample).
        let mut committed: BTreeMap<String, Option<(i64, Positions)>> = BTreeMap::new();
        for q in &self.queries {
            let c = Checkpoint::at(&self.env.checkpoint(&q.name)).last_committed().ok().flatten();
            committed.insert(q.name.clone(), c);
        }
        let mut txns: BTreeMap<String, Option<i64>> = BTreeMap::new();
        for q in self.queries.clone() {
            let Some((version, txn)) = self.sink(&q.sink, q.app_id()).await else { continue };
            txns.insert(q.name.clone(), txn);
            let w = self.world.queries.entry(q.name.clone()).or_default();
            if w.sink_version != Some(version) || w.txn != txn {
                w.sink_version = Some(version);
                w.txn = txn;
                self.history.record(Event::SinkObserved { query: q.name.clone(), table: q.sink.clone(), version, txn });
            }
        }
        // Queries reading one topic share its ends: one request per topic and sample.
        let mut topic_ends: BTreeMap<String, Option<Positions>> = BTreeMap::new();
        for q in self.queries.clone() {
            let end = match &q.source {
                SourceSpec::Kafka { topic } => match topic_ends.get(topic) {
                    Some(end) => end.clone(),
                    None => {
                        let end = self.kafka_end(topic).await;
                        topic_ends.insert(topic.clone(), end.clone());
                        end
                    }
                },
                SourceSpec::Delta { table, app_id } => {
                    let upstream = self.queries.iter().find(|u| u.app_id() == app_id && u.sink == *table);
                    let txn = upstream.and_then(|u| txns.get(&u.name).copied().flatten());
                    Some(txn.map(|v| Positions::from([(table.clone(), v)])).unwrap_or_default())
                }
            };
            let committed = committed.remove(&q.name).flatten();
            let w = self.world.queries.entry(q.name.clone()).or_default();
            if committed.is_some() && w.committed != committed {
                w.committed = committed.clone();
                let (batch, end) = committed.unwrap_or_default();
                self.history.record(Event::CheckpointObserved { query: q.name.clone(), batch, end });
            }
            if let Some(end) = end
                && w.source_end != end
            {
                w.source_end = end.clone();
                self.history.record(Event::SourceObserved { query: q.name.clone(), end });
            }
        }
    }
}

/// What the world shows of a program pipeline, sample after sample: per flow, how many records
/// were produced to its source (what the broker acknowledged), and how many of those ids its
/// sink table's live files hold (read incrementally: only the files new commits added). No
/// checkpoint, txn or report of the program's is needed.
async fn observe_flows(
    env: PipelineEnv,
    program: Arc<crate::program::ProgramPlan>,
    watches: BTreeMap<String, crate::program::FlowWatch>,
    history: History,
    interval: Duration,
    tx: watch::Sender<World>,
    stop: oneshot::Receiver<()>,
) {
    use crate::landed::LandedIds;
    use crate::oracle::FLOW_RECORDS;
    let flows = program.flows();
    // Consumer groups are asked on their own, so a broker that does not answer never holds up
    // the sampling of the sinks.
    let groups_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut group_watchers = Vec::new();
    for f in &flows {
        let Some(group) = watches.get(&f.name).and_then(|w| w.consumer_group.clone()) else { continue };
        let partitions = program
            .spec
            .topics
            .iter()
            .find(|t| program.topic_names.get(&t.name) == Some(&f.topic))
            .map_or(1, |t| t.partitions);
        group_watchers.push(tokio::spawn(watch_group(
            env.config.bootstrap.clone(),
            f.name.clone(),
            group,
            f.topic.clone(),
            partitions,
            history.clone(),
            groups_stop.clone(),
        )));
    }
    let mut checkpoints: BTreeMap<String, (std::path::PathBuf, i64)> =
        watches.iter().filter_map(|(flow, w)| Some((flow.clone(), (w.checkpoint.clone()?, -1)))).collect();
    let mut tables: BTreeMap<String, LandedIds> = BTreeMap::new();
    for f in &flows {
        if let Ok(location) = env.catalog.location(&f.table) {
            tables.entry(f.table.clone()).or_insert_with(|| LandedIds::new(location, f.id_column.clone()));
        }
    }
    let mut world = World::default();
    let mut said = EventFiles::new(&env.config.run_dir, program.spec.tasks.iter().map(|t| t.name.clone()));
    let mut last: BTreeMap<String, (i64, u64, u64)> = BTreeMap::new();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failing: BTreeMap<String, String> = BTreeMap::new();
    let mut ticks = Ticks::new(interval, stop);
    loop {
        let stopping = ticks.next().await;
        world.samples += 1;
        // Produced first, then landed: a sample may show lag that is gone, never hide lag that
        // is there.
        let produced: BTreeMap<String, u64> =
            flows.iter().map(|f| (f.name.clone(), program.ledger.count(&f.topic))).collect();
        let mut versions: BTreeMap<String, i64> = BTreeMap::new();
        let mut looks: BTreeMap<String, crate::landed::Look> = BTreeMap::new();
        for (name, t) in tables.iter_mut() {
            match t.look().await {
                Ok(look) => {
                    failing.remove(name);
                    versions.insert(name.clone(), look.version);
                    looks.insert(name.clone(), look);
                }
                // A table that cannot be read now (being written, storage frozen) is read at
                // the next sample; a lasting problem is said once.
                Err(e) => {
                    let message = e.to_string();
                    if failing.insert(name.clone(), message.clone()).as_ref() != Some(&message) {
                        history.record(Event::Phase { name: format!("observer: cannot read table {name}: {message}") });
                    }
                }
            }
        }
        for f in &flows {
            let Some(t) = tables.get(&f.table) else { continue };
            let version = versions.get(&f.table).copied().unwrap_or(-1);
            let n = produced[&f.name];
            // Only ids produced to this flow's source count as its records.
            let tally = tallies.entry(f.name.clone()).or_default();
            if let Some(look) = looks.get(&f.table) {
                tally.apply(look, t);
            }
            tally.produced(&program.ledger.ids_from(&f.topic, tally.seen), t);
            let (landed, rows) = (tally.landed, tally.rows);
            let w = world.queries.entry(f.name.clone()).or_default();
            let end = Positions::from([(FLOW_RECORDS.to_string(), n as i64)]);
            if w.source_end != end {
                w.source_end = end.clone();
                history.record(Event::SourceObserved { query: f.name.clone(), end });
            }
            let before = last.get(&f.name).copied().unwrap_or((-1, 0, 0));
            if before != (version, landed, rows) {
                last.insert(f.name.clone(), (version, landed, rows));
                tracing::debug!(
                    target: "harness::observer",
                    "flow {}: {landed} of {n} produced records landed in {} (version {version}, {rows} rows)",
                    f.name,
                    f.table
                );
                history.record(Event::FlowLanded {
                    flow: f.name.clone(),
                    table: f.table.clone(),
                    version,
                    landed,
                    rows,
                    added: landed.saturating_sub(before.1),
                });
            }
            w.sink_version = Some(version);
            w.committed = Some((version, Positions::from([(FLOW_RECORDS.to_string(), landed as i64)])));
        }
        for (flow, (dir, last)) in checkpoints.iter_mut() {
            if let Some((batch, offsets)) = last_committed_batch(dir).filter(|(b, _)| b > last) {
                *last = batch;
                history.record(Event::CheckpointCommitted { flow: flow.clone(), batch, offsets });
            }
        }
        said.read_new(&history);
        tx.send_replace(world.clone());
        if stopping {
            groups_stop.store(true, std::sync::atomic::Ordering::SeqCst);
            for w in group_watchers {
                let _ = w.await;
            }
            return;
        }
    }
}

/// Records a consumer group's committed offsets on `topic` whenever they change, until `stop`.
async fn watch_group(
    bootstrap: String,
    flow: String,
    group: String,
    topic: String,
    partitions: i32,
    history: History,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = match crate::kafka::client_config(&bootstrap).set("group.id", &group).create() {
        Ok(c) => c,
        Err(e) => {
            history.record(Event::Phase { name: format!("observer: cannot watch consumer group {group}: {e}") });
            return;
        }
    };
    let consumer = Closing::new(consumer);
    let mut last = Positions::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let (c, t) = (consumer.get(), topic.clone());
        let asked = tokio::task::spawn_blocking(move || {
            let mut tpl = rdkafka::TopicPartitionList::new();
            for p in 0..partitions {
                tpl.add_partition(&t, p);
            }
            c.committed_offsets(tpl, Duration::from_millis(500))
        })
        .await;
        if let Ok(Ok(tpl)) = asked {
            let offsets: Positions = tpl
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    rdkafka::Offset::Offset(o) => Some((format!("{}/{}", e.topic(), e.partition()), o)),
                    _ => None,
                })
                .collect();
            if offsets != last {
                last = offsets.clone();
                history.record(Event::GroupCommitted { flow: flow.clone(), group: group.clone(), offsets });
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The last batch a Spark-style checkpoint committed (`commits/<batch>`) and what its
/// `offsets/<batch>` says it read (the file's last line, as JSON when it parses).
fn last_committed_batch(dir: &std::path::Path) -> Option<(i64, serde_json::Value)> {
    let batch = std::fs::read_dir(dir.join("commits"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .max()?;
    let text = std::fs::read_to_string(dir.join("offsets").join(batch.to_string())).unwrap_or_default();
    let line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let offsets = serde_json::from_str(line).unwrap_or_else(|_| serde_json::Value::String(line.to_string()));
    Some((batch, offsets))
}

/// A flow's records in its sink, kept up to date from what each look at the table added and
/// the ids produced since the last sample — not recounted over everything produced.
#[derive(Debug, Default)]
struct Tally {
    /// Ids produced to the flow's source, and how many of the ledger's have been seen.
    mine: std::collections::HashSet<i64>,
    seen: usize,
    /// Produced, not landed yet.
    pending: std::collections::HashSet<i64>,
    /// Produced ids present in the sink, and the rows holding them.
    landed: u64,
    rows: u64,
}

impl Tally {
    /// What a look at the table changed. Ids produced later are counted whole when they are.
    fn apply(&mut self, look: &crate::landed::Look, table: &crate::landed::LandedIds) {
        if look.removed {
            // Files went away (an overwrite, a compaction): recount, which is rare.
            self.pending.clear();
            (self.landed, self.rows) = (0, 0);
            for id in std::mem::take(&mut self.mine) {
                self.count(id, table);
            }
            return;
        }
        for id in &look.added {
            if self.mine.contains(id) {
                self.rows += 1;
                if self.pending.remove(id) {
                    self.landed += 1;
                }
            }
        }
    }

    /// Ids newly produced, counted with whatever the sink already holds of them.
    fn produced(&mut self, ids: &[i64], table: &crate::landed::LandedIds) {
        self.seen += ids.len();
        for id in ids {
            self.count(*id, table);
        }
    }

    /// Counts one of the flow's ids with whatever the sink holds of it now.
    fn count(&mut self, id: i64, table: &crate::landed::LandedIds) {
        self.mine.insert(id);
        match table.count(id) {
            0 => {
                self.pending.insert(id);
            }
            c => {
                self.landed += 1;
                self.rows += c;
            }
        }
    }
}

/// The events files programs may write (`{events}`), read as they grow: each complete line is
/// recorded as [`Event::ProgramSaid`].
struct EventFiles {
    files: Vec<(String, std::path::PathBuf, u64)>,
}

impl EventFiles {
    fn new(run_dir: &std::path::Path, tasks: impl Iterator<Item = String>) -> EventFiles {
        let dir = run_dir.join("events");
        EventFiles { files: tasks.map(|t| (t.clone(), dir.join(format!("{t}.jsonl")), 0)).collect() }
    }

    fn read_new(&mut self, history: &History) {
        use std::io::{Read, Seek};
        for (task, path, offset) in &mut self.files {
            let Ok(mut f) = std::fs::File::open(&*path) else { continue };
            if f.seek(std::io::SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut text = String::new();
            if f.read_to_string(&mut text).is_err() {
                continue;
            }
            // Only complete lines: the rest is read once the program has finished writing it.
            let Some(end) = text.rfind('\n') else { continue };
            for line in text[..end].lines().filter(|l| !l.trim().is_empty()) {
                let said = serde_json::from_str(line).unwrap_or_else(|_| serde_json::Value::String(line.to_string()));
                history.record(Event::ProgramSaid { task: task.clone(), said });
            }
            *offset += end as u64 + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint as Spark writes it: `offsets/<batch>` is a version line, the batch's
    /// metadata, then one line per source; `commits/<batch>` once its sink committed.
    #[test]
    fn a_spark_checkpoint_shows_its_last_committed_batch() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("checkpoint");
        assert_eq!(last_committed_batch(&dir), None, "no checkpoint yet");
        std::fs::create_dir_all(dir.join("offsets")).unwrap();
        std::fs::create_dir_all(dir.join("commits")).unwrap();
        for b in 0..3 {
            let offsets =
                format!("v1\n{{\"batchWatermarkMs\":0}}\n{{\"readings\":{{\"0\":{},\"1\":{}}}}}\n", b * 10, b * 7);
            std::fs::write(dir.join("offsets").join(b.to_string()), offsets).unwrap();
        }
        // Batch 2 is planned, not committed.
        for b in 0..2 {
            std::fs::write(dir.join("commits").join(b.to_string()), "v1\n{\"nextBatchWatermarkMs\":0}\n").unwrap();
        }
        let (batch, offsets) = last_committed_batch(&dir).unwrap();
        assert_eq!(batch, 1);
        assert_eq!(offsets, serde_json::json!({"readings": {"0": 10, "1": 7}}));
    }
}
