//! A program pipeline's spec file (TOML) as data: its topics, tables, flows, tasks and cluster,
//! how it is read and checked, the placeholders a command may hold, and what a run keeps of a
//! program ([`ProgramPlan`]: the spec, what was produced, the run's topic names). Nothing here
//! knows a run's environment: filling a spec in for a run is `program`'s. Re-exported from
//! [`crate::program`].

use crate::error::{HarnessError, Result};
use crate::time::TimeScale;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use crate::topology::ProgramCommand;

/// Every placeholder a command, an argument, an environment value or a working directory may
/// hold; the run fills each in.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("{bootstrap}", "the Kafka bootstrap servers (host:port,...)"),
    ("{topic:NAME}", "the run's name of topic NAME"),
    ("{table:NAME}", "the absolute path of table NAME's location"),
    ("{table_uri:NAME}", "table NAME's location as a file:// URI"),
    (
        "{catalog}",
        "the run's catalog file (JSON: {\"tables\": {NAME: location}}); a program that resolves its tables through it at every batch meets a moved entry (external-location-mismatch)",
    ),
    ("{checkpoint}", "a checkpoint directory of the task's own (exists, empty at first)"),
    ("{group}", "a Kafka consumer group id of the task's own"),
    ("{events}", "a file the task may write query events to (JSON lines)"),
    ("{run_dir}", "the run directory"),
    ("{spec_dir}", "the directory of the spec file"),
    ("{task}", "the task's name"),
    ("{await}", "how the layout has the task await its queries: each (in order) or any"),
    (
        "{cluster_port}",
        "the loopback port the spec's [cluster] listens on under shared-cluster (empty in other layouts: the task is its own driver)",
    ),
];

/// A program pipeline's spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// Its name, as reports show it.
    pub name: String,
    /// One line about it.
    #[serde(default)]
    pub about: String,
    /// Its time scale (`60:1`, `test`, `real`, or real seconds per nominal second). Programs
    /// start in seconds, not milliseconds: the default is `60:1` (a nominal minute takes a
    /// second), so the restart bound (10 nominal minutes) is 10 s.
    #[serde(default)]
    pub scale: Option<String>,
    /// How long, in real time, the program may take from its start until every flow has landed
    /// records (`90s`, `2m`): what a JVM and a Spark session's first batches take. Default: three
    /// restart bounds, at least 30 s.
    #[serde(default)]
    pub start_within: Option<String>,
    /// What the harness produces.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// Topics the harness creates and produces to.
    pub topics: Vec<ProgramTopic>,
    /// Tables the program writes.
    pub tables: Vec<ProgramTable>,
    /// Source topic → sink table: the units of progress.
    pub flows: Vec<Flow>,
    /// The processes that run the program.
    pub tasks: Vec<ProgramTask>,
    /// The engine pipeline (by name) this program is a version of — `telemetry` for the seed
    /// incident's job on Spark. `loudfail matrix` runs it beside each cell, so the engine's
    /// verdict (loudfail's model of the job) stands beside the program's.
    #[serde(default)]
    pub model: Option<String>,
    /// A cluster the tasks can share (a Spark Connect server), started under `shared-cluster`
    /// before them; every task is then its client (`{cluster_port}`).
    #[serde(default)]
    pub cluster: Option<ProgramCluster>,
    /// The directory of the spec file (set when loaded).
    #[serde(skip)]
    pub dir: PathBuf,
    /// The spec file (set when loaded).
    #[serde(skip)]
    pub path: PathBuf,
}

/// What the harness produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Records per second, per topic.
    #[serde(default = "default_rate")]
    pub rate: u32,
}

fn default_rate() -> u32 {
    100
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec { rate: default_rate() }
    }
}

/// A topic: the harness creates it and produces JSON records to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramTopic {
    /// Its name in the spec (the run's topic name is unique to the run: `{topic:NAME}`).
    pub name: String,
    /// Partitions.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// The record's fields beyond `id` (a unique integer) and `ts` (microseconds since the
    /// epoch): name → `string`, `int`, `float` or `bool`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldType>,
}

fn default_partitions() -> i32 {
    2
}

/// A sink table the program writes; the harness assigns its location and reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramTable {
    /// Its name in the spec (`{table:NAME}`).
    pub name: String,
    /// The column holding each record's `id` (the audit reads it).
    #[serde(default = "default_id_column")]
    pub id_column: String,
    /// The txn app id the program commits with, when it has one (shown in reports).
    #[serde(default)]
    pub txn_app_id: Option<String>,
}

fn default_id_column() -> String {
    "id".into()
}

/// A flow: records of a topic landing in a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Its name (the query's name, as reports show it).
    pub name: String,
    /// What it reads: a declared topic, or a table another flow writes (the flow streams that
    /// table's new rows; its records are those of the topic at the head of the chain). A name
    /// that is both a topic and a table is the topic.
    pub source: String,
    /// The table it writes.
    pub sink: String,
    /// The consumer group that keeps its progress in Kafka, if it does (placeholders of the
    /// task that runs it, e.g. `{group}`): its committed offsets are watched and recorded.
    #[serde(default)]
    pub consumer_group: Option<String>,
    /// Its Spark-style checkpoint directory, if it has one (e.g. `{checkpoint}/ingest`):
    /// `commits/<batch>` and `offsets/<batch>` are watched and the last committed batch recorded.
    #[serde(default)]
    pub checkpoint: Option<String>,
}

/// What the world shows of a flow's own progress bookkeeping, with the run's values filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowWatch {
    /// Its consumer group.
    pub consumer_group: Option<String>,
    /// Its checkpoint directory.
    pub checkpoint: Option<PathBuf>,
}

/// A task: one process of the program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramTask {
    /// Its name.
    pub name: String,
    /// The program and its arguments. A relative program path with a `/` is resolved against
    /// the working directory; a bare name is looked up on `PATH`.
    pub command: Vec<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the spec file's directory (default: that directory).
    #[serde(default)]
    pub workdir: Option<String>,
    /// The flows it runs.
    pub flows: Vec<String>,
    /// Tasks it starts after (once their processes have started).
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// A cluster the tasks share: one process that listens on `{cluster_port}` (loopback) once it
/// is ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramCluster {
    /// The program and its arguments, as a task's.
    pub command: Vec<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the spec file's directory (default: that directory).
    #[serde(default)]
    pub workdir: Option<String>,
}

impl ProgramCluster {
    /// The cluster as a process of the run named `shared`, to be filled in like a task.
    pub(crate) fn as_task(&self) -> ProgramTask {
        ProgramTask {
            name: "shared".into(),
            command: self.command.clone(),
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            flows: Vec::new(),
            depends_on: Vec::new(),
        }
    }
}

pub(crate) fn spec_error(path: &Path, problem: impl std::fmt::Display) -> HarnessError {
    HarnessError::bad_input(
        format!("pipeline spec {}: {problem}", path.display()),
        "see \"Your pipeline, as it is\" in the README for every key of a spec file",
    )
}

impl ProgramSpec {
    /// Reads and checks a spec file. Nothing is created; every problem names the key.
    pub fn load(path: &Path) -> Result<ProgramSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            HarnessError::bad_input(
                format!("cannot read pipeline spec {}: {e}", path.display()),
                "pass the path of a loudfail.toml with --pipeline-file",
            )
        })?;
        let mut spec: ProgramSpec = toml::from_str(&text).map_err(|e| spec_error(path, e))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        spec.dir = std::fs::canonicalize(if dir.as_os_str().is_empty() { Path::new(".") } else { &dir })
            .map_err(|e| HarnessError::io(&dir, e))?;
        spec.path = spec.dir.join(path.file_name().unwrap_or_default());
        spec.check().map_err(|e| spec_error(path, e))?;
        Ok(spec)
    }

    /// Checks names, references and placeholders.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        let name_ok = |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok(&self.name) {
            return Err(format!("name {:?} must be letters, digits, - and _", self.name));
        }
        if self.workload.rate == 0 {
            return Err("workload.rate must be above 0".into());
        }
        if let Some(s) = &self.start_within {
            crate::time::parse_human(s).ok_or_else(|| format!("start_within {s:?} is not a duration (`90s`, `2m`)"))?;
        }
        if let Some(s) = &self.scale {
            parse_scale(s).ok_or_else(|| format!("scale {s:?} is not `N:1`, `test`, `real` or a factor in (0, 1]"))?;
        }
        let mut seen = BTreeSet::new();
        for (kind, names) in [
            ("topic", self.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>()),
            ("table", self.tables.iter().map(|t| t.name.as_str()).collect()),
            ("flow", self.flows.iter().map(|f| f.name.as_str()).collect()),
            ("task", self.tasks.iter().map(|t| t.name.as_str()).collect()),
        ] {
            if names.is_empty() {
                return Err(format!("it declares no {kind}: a spec needs at least one [[{kind}s]]"));
            }
            seen.clear();
            for n in names {
                if !name_ok(n) {
                    return Err(format!("{kind} name {n:?} must be letters, digits, - and _"));
                }
                if !seen.insert(n) {
                    return Err(format!("two {kind}s are named {n:?}"));
                }
            }
        }
        for t in &self.topics {
            if !(1..=16).contains(&t.partitions) {
                return Err(format!("topic {}: partitions must be between 1 and 16", t.name));
            }
            if let Some(f) = t.fields.keys().find(|f| *f == "id" || *f == "ts") {
                return Err(format!("topic {}: field {f:?} is the harness's own (every record has id and ts)", t.name));
            }
        }
        for f in &self.flows {
            if !self.topics.iter().any(|t| t.name == f.source) && !self.flows.iter().any(|u| u.sink == f.source) {
                return Err(format!(
                    "flow {}: source {:?} is neither a declared topic nor a table another flow writes",
                    f.name, f.source
                ));
            }
            if self.root_topic(f).is_none() {
                return Err(format!(
                    "flow {}: its sources form a cycle (table to table, never reaching a topic)",
                    f.name
                ));
            }
            if !self.tables.iter().any(|t| t.name == f.sink) {
                return Err(format!("flow {}: sink {:?} is not a declared table", f.name, f.sink));
            }
        }
        let mut run_by: BTreeMap<&str, &str> = BTreeMap::new();
        for t in &self.tasks {
            if t.command.is_empty() || t.command[0].trim().is_empty() {
                return Err(format!("task {}: command is empty; give the program and its arguments", t.name));
            }
            for f in &t.flows {
                if !self.flows.iter().any(|x| &x.name == f) {
                    return Err(format!("task {}: flow {f:?} is not declared", t.name));
                }
                if let Some(other) = run_by.insert(f, &t.name) {
                    return Err(format!("flow {f} is run by two tasks ({other} and {})", t.name));
                }
            }
            for d in &t.depends_on {
                if !self.tasks.iter().any(|x| &x.name == d) || d == &t.name {
                    return Err(format!("task {}: depends_on {d:?} is not another task", t.name));
                }
            }
            let watched = self.flows.iter().filter(|f| t.flows.contains(&f.name));
            let watched = watched.flat_map(|f| f.consumer_group.iter().chain(f.checkpoint.iter()));
            for text in t.command.iter().chain(t.env.values()).chain(t.workdir.iter()).chain(watched) {
                self.expand_with(text, &t.name, &|_| Some(String::new()))?;
            }
        }
        if let Some(c) = &self.cluster {
            let t = c.as_task();
            if t.command.is_empty() || t.command[0].trim().is_empty() {
                return Err("cluster: command is empty; give the program and its arguments".into());
            }
            for text in t.command.iter().chain(t.env.values()).chain(t.workdir.iter()) {
                self.expand_with(text, "cluster", &|_| Some(String::new()))?;
            }
            if !t.command.iter().chain(t.env.values()).any(|a| a.contains("{cluster_port}")) {
                return Err(
                    "cluster: nothing in its command or env says {cluster_port}, the port it must listen on".into()
                );
            }
        }
        if let Some(f) = self.flows.iter().find(|f| !run_by.contains_key(f.name.as_str())) {
            return Err(format!("flow {} is run by no task: list it in a task's flows", f.name));
        }
        Ok(())
    }

    /// Whether the command, arguments or environment of the task that runs `flow` hold `text`
    /// (a placeholder, say).
    pub fn task_says(&self, flow: &str, text: &str) -> bool {
        self.tasks
            .iter()
            .filter(|t| t.flows.iter().any(|f| f == flow))
            .any(|t| t.command.iter().chain(t.env.values()).any(|a| a.contains(text)))
    }

    /// The flow that writes the table a flow reads, when it reads a table.
    pub fn upstream_of(&self, flow: &Flow) -> Option<&Flow> {
        if self.topics.iter().any(|t| t.name == flow.source) {
            return None;
        }
        self.flows.iter().find(|u| u.sink == flow.source)
    }

    /// The topic whose records a flow carries: its source, or the source of the flow that writes
    /// the table it reads, and so on. None when the chain never reaches a topic.
    pub fn root_topic<'a>(&'a self, flow: &'a Flow) -> Option<&'a str> {
        let mut f = flow;
        for _ in 0..=self.flows.len() {
            match self.upstream_of(f) {
                Some(u) => f = u,
                None => return self.topics.iter().any(|t| t.name == f.source).then_some(f.source.as_str()),
            }
        }
        None
    }

    /// How long the program may take to start, when the spec says (real time).
    pub fn start_within(&self) -> Option<std::time::Duration> {
        self.start_within.as_deref().and_then(crate::time::parse_human)
    }

    /// The time scale the spec asks for.
    pub fn time_scale(&self) -> TimeScale {
        self.scale.as_deref().and_then(parse_scale).unwrap_or(TimeScale { factor: 1.0 / 60.0 })
    }

    /// Fills the placeholders of `text` for `task`, `value` answering each key (`bootstrap`,
    /// `topic:events`, ...). An unknown placeholder is an error naming the known ones.
    pub(crate) fn expand_with(
        &self,
        text: &str,
        task: &str,
        value: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let c = rest.as_bytes()[i];
            if rest[i + 1..].starts_with(c as char) {
                out.push(c as char);
                rest = &rest[i + 2..];
                continue;
            }
            if c == b'}' {
                return Err(format!("task {task}: a lone '}}' in {text:?} (write '}}}}' for a brace)"));
            }
            let Some(end) = rest[i..].find('}') else {
                return Err(format!("task {task}: an unclosed '{{' in {text:?} (write '{{{{' for a brace)"));
            };
            let key = &rest[i + 1..i + end];
            let known = match key.split_once(':') {
                Some(("topic", n)) => self.topics.iter().any(|t| t.name == n),
                Some(("table" | "table_uri", n)) => self.tables.iter().any(|t| t.name == n),
                Some(_) => false,
                None => PLACEHOLDERS.iter().any(|(p, _)| p.trim_matches(['{', '}']) == key),
            };
            let filled = known.then(|| value(key)).flatten().ok_or_else(|| {
                let names: Vec<&str> = PLACEHOLDERS.iter().map(|(p, _)| *p).collect();
                format!("task {task}: unknown placeholder {{{key}}} in {text:?}; known: {}", names.join(", "))
            })?;
            out.push_str(&filled);
            rest = &rest[i + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Checks, before anything is created, that every task's working directory exists and its
    /// program can be started: a missing program is bad input, not a verdict. (A program or
    /// directory named through a placeholder the run fills in is checked when it starts.)
    pub fn check_startable(&self) -> Result<()> {
        let spec_dir = |key: &str| (key == "spec_dir").then(|| self.dir.display().to_string());
        let cluster = self.cluster.as_ref().map(ProgramCluster::as_task);
        for t in self.tasks.iter().chain(cluster.iter()) {
            let fixed = |s: &str| self.expand_with(s, &t.name, &spec_dir).ok();
            let workdir = match &t.workdir {
                None => Some(self.dir.clone()),
                Some(w) => fixed(w).map(|w| self.dir.join(w)),
            };
            let Some(workdir) = workdir else { continue };
            if !workdir.is_dir() {
                return Err(HarnessError::bad_input(
                    format!("task {}: working directory {} does not exist", t.name, workdir.display()),
                    "fix the task's workdir in the spec (relative to the spec file)",
                ));
            }
            let Some(program) = fixed(&t.command[0]) else { continue };
            let program = Path::new(&program);
            let found = if program.components().count() > 1 || program.is_absolute() {
                workdir.join(program).is_file()
            } else {
                std::env::var_os("PATH")
                    .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
                    .unwrap_or(false)
            };
            if !found {
                return Err(HarnessError::bad_input(
                    format!("task {}: program {} does not exist", t.name, program.display()),
                    "install it (for the Python example: ci/setup.sh makes its venv), or fix the task's command in the spec (a path with a / is relative to the task's workdir)",
                ));
            }
        }
        Ok(())
    }
}

/// Parses `N:1` (nominal:real) besides what [`TimeScale::parse`] takes.
pub fn parse_scale(s: &str) -> Option<TimeScale> {
    match s.split_once(':') {
        Some((n, r)) => {
            let (n, r) = (n.trim().parse::<f64>().ok()?, r.trim().parse::<f64>().ok()?);
            (n.is_finite() && r.is_finite() && n >= r && r > 0.0).then(|| TimeScale { factor: r / n })
        }
        None => TimeScale::parse(s),
    }
}

/// What the harness knows of a program pipeline in a run (part of its [`crate::pipeline::PipelinePlan`]).
#[derive(Debug)]
pub struct ProgramPlan {
    /// The spec.
    pub spec: ProgramSpec,
    /// What was produced (the observer and the audit read it).
    pub ledger: Arc<Ledger>,
    /// Spec topic name → the run's topic name.
    pub topic_names: BTreeMap<String, String>,
}

impl ProgramPlan {
    /// The flows with their run's topic names and tables' id columns.
    pub fn flows(&self) -> Vec<FlowView> {
        self.spec
            .flows
            .iter()
            .map(|f| FlowView {
                name: f.name.clone(),
                topic: self.spec.root_topic(f).map(|t| self.topic_names[t].clone()).unwrap_or_default(),
                table: f.sink.clone(),
                id_column: self
                    .spec
                    .tables
                    .iter()
                    .find(|t| t.name == f.sink)
                    .map(|t| t.id_column.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }
}

/// The type of a record's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text.
    String,
    /// A 64-bit integer.
    Int,
    /// A double.
    Float,
    /// true or false.
    Bool,
}

/// What the harness produced, per topic: the ids each delivery was acknowledged for.
#[derive(Debug, Default)]
pub struct Ledger {
    produced: Mutex<BTreeMap<String, Vec<i64>>>,
}

impl Ledger {
    /// The ids produced to `topic` (the run's topic name), in order.
    pub fn ids(&self, topic: &str) -> Vec<i64> {
        self.produced.lock().expect("ledger").get(topic).cloned().unwrap_or_default()
    }

    /// The ids produced to `topic` after the first `from`.
    pub fn ids_from(&self, topic: &str, from: usize) -> Vec<i64> {
        let produced = self.produced.lock().expect("ledger");
        produced.get(topic).map(|v| v.get(from..).unwrap_or_default().to_vec()).unwrap_or_default()
    }

    /// How many records were produced to `topic`.
    pub fn count(&self, topic: &str) -> u64 {
        self.produced.lock().expect("ledger").get(topic).map_or(0, |v| v.len() as u64)
    }

    pub(crate) fn add(&self, topic: &str, ids: &[i64]) {
        self.produced.lock().expect("ledger").entry(topic.to_string()).or_default().extend_from_slice(ids);
    }
}

/// A flow as a run sees it: records of a topic landing in a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowView {
    /// Its name (the query's).
    pub name: String,
    /// The run's topic it reads.
    pub topic: String,
    /// The table it writes (catalog name).
    pub table: String,
    /// The table's id column.
    pub id_column: String,
}
