//! Any program as a pipeline: a spec file (TOML) describes a black-box program — its topics,
//! its sink tables, its flows (a source topic → a sink table: the unit of progress) and its
//! tasks (the commands that run it) — and the harness runs it as it is, feeds it, and judges it
//! from what the world shows: records landing in its tables (read from their data files), process
//! liveness and exit codes. Nothing a program says about itself decides a verdict.
//!
//! ```toml
//! name = "python-ingest"
//! about = "Kafka topic -> Delta table, exactly once"
//! scale = "60:1"                       # optional; nominal:real
//!
//! [workload]
//! rate = 100                           # records per second, per topic
//!
//! [[topics]]
//! name = "events"
//! partitions = 2
//! fields = { reading = "float", device = "string" }
//!
//! [[tables]]
//! name = "events"
//! id_column = "id"
//!
//! [[flows]]
//! name = "ingest"
//! source = "events"
//! sink = "events"
//!
//! [[tasks]]
//! name = "ingest"
//! command = [".venv/bin/python", "pipeline.py", "--table", "{table:events}"]
//! flows = ["ingest"]
//! env = { BOOTSTRAP = "{bootstrap}", TOPIC = "{topic:events}" }
//! ```
//! Placeholders are listed in [`PLACEHOLDERS`].

use crate::error::{HarnessError, Result};
use crate::pipeline::{
    PipelineEnv, PipelineOptions, PipelinePlan, QueryLogic, QuerySpec, SourceSpec, TaskPlan, TopicSpec,
};
use crate::time::TimeScale;
pub use crate::workload::{FieldType, FlowView, Ledger};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    fn as_task(&self) -> ProgramTask {
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

/// A program task's own checkpoint directory (`{checkpoint}`).
fn task_checkpoint(env: &PipelineEnv, task: &str) -> PathBuf {
    env.config.run_dir.join("checkpoints").join(task)
}

/// A program task's events file (`{events}`).
fn task_events(env: &PipelineEnv, task: &str) -> PathBuf {
    env.config.run_dir.join("events").join(format!("{task}.jsonl"))
}

pub use crate::topology::ProgramCommand;

fn spec_error(path: &Path, problem: impl std::fmt::Display) -> HarnessError {
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
    fn check(&self) -> std::result::Result<(), String> {
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
    fn expand_with(
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

    /// `text` with its placeholders filled in for task `t` of a run.
    fn fill(
        &self,
        env: &PipelineEnv,
        plan: &PipelinePlan,
        job: Option<&crate::topology::JobSpec>,
        t: &ProgramTask,
        text: &str,
    ) -> Result<String> {
        let value = |key: &str| -> Option<String> {
            Some(match key.split_once(':') {
                Some(("topic", n)) => plan.program.as_ref()?.topic_names.get(n)?.clone(),
                Some(("table", n)) => env.catalog.location(n).ok()?.display().to_string(),
                Some(("table_uri", n)) => env.catalog.url(n).ok()?.to_string(),
                _ => match key {
                    "bootstrap" => env.config.bootstrap.clone(),
                    "checkpoint" => task_checkpoint(env, &t.name).display().to_string(),
                    "catalog" => crate::rundir::RunDir::catalog_in(&env.config.run_dir).display().to_string(),
                    "group" => format!("lf-{}-{}", env.config.run_id, t.name),
                    "events" => task_events(env, &t.name).display().to_string(),
                    "run_dir" => env.config.run_dir.display().to_string(),
                    "spec_dir" => self.dir.display().to_string(),
                    "task" => t.name.clone(),
                    "cluster_port" => job
                        .and_then(|j| j.clusters.iter().find_map(|c| c.port))
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    "await" => job
                        .and_then(|j| j.tasks.iter().find(|jt| jt.name == t.name))
                        .map_or(crate::topology::AwaitPolicy::Any, |jt| jt.await_policy)
                        .name()
                        .to_string(),
                    _ => return None,
                },
            })
        };
        self.expand_with(text, &t.name, &value).map_err(|e| HarnessError::bad_input(e, "fix the spec"))
    }

    /// What to watch of each flow's own bookkeeping, filled in for a run.
    pub fn watches(&self, env: &PipelineEnv, plan: &PipelinePlan) -> Result<BTreeMap<String, FlowWatch>> {
        let mut out = BTreeMap::new();
        for t in &self.tasks {
            for f in self.flows.iter().filter(|f| t.flows.contains(&f.name)) {
                let fill = |s: &Option<String>| s.as_ref().map(|s| self.fill(env, plan, None, t, s)).transpose();
                let watch = FlowWatch {
                    consumer_group: fill(&f.consumer_group)?,
                    checkpoint: fill(&f.checkpoint)?.map(|c| {
                        let c = PathBuf::from(c);
                        if c.is_absolute() { c } else { self.dir.join(c) }
                    }),
                };
                out.insert(f.name.clone(), watch);
            }
        }
        Ok(out)
    }

    /// Every task's command with its placeholders filled in for a run.
    pub fn commands(
        &self,
        env: &PipelineEnv,
        plan: &PipelinePlan,
        job: &crate::topology::JobSpec,
    ) -> Result<BTreeMap<String, ProgramCommand>> {
        let mut out = BTreeMap::new();
        for t in &self.tasks {
            out.insert(t.name.clone(), self.command(env, plan, job, t)?);
        }
        Ok(out)
    }

    /// The `[cluster]`'s command filled in for a run whose job has it (`shared-cluster`).
    pub fn cluster_command(
        &self,
        env: &PipelineEnv,
        plan: &PipelinePlan,
        job: &crate::topology::JobSpec,
    ) -> Result<Option<ProgramCommand>> {
        match &self.cluster {
            Some(c) if !job.clusters.is_empty() => self.command(env, plan, job, &c.as_task()).map(Some),
            _ => Ok(None),
        }
    }

    /// One process's command, its checkpoint and events places made.
    fn command(
        &self,
        env: &PipelineEnv,
        plan: &PipelinePlan,
        job: &crate::topology::JobSpec,
        t: &ProgramTask,
    ) -> Result<ProgramCommand> {
        let checkpoint = task_checkpoint(env, &t.name);
        std::fs::create_dir_all(&checkpoint).map_err(|e| HarnessError::io(&checkpoint, e))?;
        let events = task_events(env, &t.name);
        if let Some(p) = events.parent() {
            std::fs::create_dir_all(p).map_err(|e| HarnessError::io(p, e))?;
        }
        let fill = |s: &str| self.fill(env, plan, Some(job), t, s);
        let workdir = match &t.workdir {
            Some(w) => self.dir.join(fill(w)?),
            None => self.dir.clone(),
        };
        let mut argv = t.command.iter().map(|a| fill(a)).collect::<Result<Vec<_>>>()?;
        if argv[0].contains('/') && !Path::new(&argv[0]).is_absolute() {
            argv[0] = workdir.join(&argv[0]).display().to_string();
        }
        let env = t.env.iter().map(|(k, v)| Ok((k.clone(), fill(v)?))).collect::<Result<_>>()?;
        Ok(ProgramCommand { argv, env, workdir })
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

/// What the harness knows of a program pipeline in a run (part of its [`PipelinePlan`]).
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

/// A program pipeline: a spec file made a [`crate::Pipeline`].
#[derive(Debug)]
pub struct ProgramPipeline {
    spec: ProgramSpec,
    name: &'static str,
    about: &'static str,
}

impl ProgramPipeline {
    /// The pipeline a spec file describes.
    pub fn load(path: &Path) -> Result<ProgramPipeline> {
        ProgramPipeline::from_spec(ProgramSpec::load(path)?)
    }

    /// The pipeline a spec describes (one loaded and then changed: a test's variant of a
    /// shipped spec). It is checked as a spec file is.
    pub fn from_spec(spec: ProgramSpec) -> Result<ProgramPipeline> {
        spec.check().map_err(|e| spec_error(&spec.path, e))?;
        // A pipeline's name lives as long as the process (specs are loaded once per command).
        let name: &'static str = Box::leak(spec.name.clone().into_boxed_str());
        let about: &'static str = Box::leak(spec.about.clone().into_boxed_str());
        Ok(ProgramPipeline { spec, name, about })
    }

    /// Its spec.
    pub fn spec(&self) -> &ProgramSpec {
        &self.spec
    }
}

impl crate::Pipeline for ProgramPipeline {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        self.about
    }

    fn replay_args(&self) -> String {
        format!("--pipeline-file {}", self.spec.path.display())
    }

    fn summary(&self, _options: &PipelineOptions) -> String {
        format!("{} (a program: {})", self.name, self.spec.dir.display())
    }

    fn plan(&self, run_id: &str, _options: &PipelineOptions) -> Result<PipelinePlan> {
        let topic_names: BTreeMap<String, String> =
            self.spec.topics.iter().map(|t| (t.name.clone(), format!("lf-{run_id}-{}", t.name))).collect();
        let plan = ProgramPlan { spec: self.spec.clone(), ledger: Arc::default(), topic_names };
        Ok(PipelinePlan {
            topics: self
                .spec
                .topics
                .iter()
                .map(|t| TopicSpec {
                    name: plan.topic_names[&t.name].clone(),
                    partitions: t.partitions,
                    fields: t.fields.clone(),
                })
                .collect(),
            // The program makes its own tables; the harness only places them.
            tables: Vec::new(),
            queries: self
                .spec
                .flows
                .iter()
                .map(|f| QuerySpec {
                    name: f.name.clone(),
                    source: match self.spec.upstream_of(f) {
                        Some(u) => SourceSpec::Delta { table: u.sink.clone(), app_id: u.name.clone() },
                        None => SourceSpec::Kafka { topic: plan.topic_names[&f.source].clone() },
                    },
                    sink: f.sink.clone(),
                    create_sink: true,
                })
                .collect(),
            tasks: self
                .spec
                .tasks
                .iter()
                .map(|t| TaskPlan { name: t.name.clone(), queries: t.flows.clone(), depends_on: t.depends_on.clone() })
                .collect(),
            upstream: Vec::new(),
            program: Some(Arc::new(plan)),
        })
    }

    fn query(&self, spec: &QuerySpec, _env: &PipelineEnv) -> Result<Box<dyn QueryLogic>> {
        Err(HarnessError::bad_input(
            format!("flow {} of program {} runs in the program, not on loudfail's engine", spec.name, self.name),
            "a program pipeline's tasks run its own command",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> std::result::Result<ProgramSpec, String> {
        let scratch = tempfile::tempdir().unwrap();
        let p = scratch.path().join("loudfail.toml");
        std::fs::write(&p, text).unwrap();
        ProgramSpec::load(&p).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
name = "p"
[[topics]]
name = "events"
fields = { reading = "float" }
[[tables]]
name = "sink"
[[flows]]
name = "ingest"
source = "events"
sink = "sink"
[[tasks]]
name = "main"
command = ["python3", "p.py", "{table:sink}"]
env = { B = "{bootstrap}", T = "{topic:events}", BR = "{{literal}}" }
flows = ["ingest"]
"#;

    #[test]
    fn a_good_spec_loads_with_its_defaults() {
        let s = spec(GOOD).unwrap();
        assert_eq!(s.topics[0].partitions, 2);
        assert_eq!(s.tables[0].id_column, "id");
        assert_eq!(s.workload.rate, 100);
        assert!((s.time_scale().factor - 1.0 / 60.0).abs() < 1e-12);
    }

    #[test]
    fn bad_specs_name_the_problem() {
        let cases = [
            (GOOD.replace("name = \"p\"", "name = \"p\"\ncolour = 1"), "unknown field `colour`"),
            (GOOD.replace("command = [\"python3\", \"p.py\", \"{table:sink}\"]", "command = []"), "command is empty"),
            (GOOD.replace("{bootstrap}", "{bootstrap_servers}"), "unknown placeholder {bootstrap_servers}"),
            (GOOD.replace("{table:sink}", "{table:nope}"), "unknown placeholder {table:nope}"),
            (GOOD.replace("sink = \"sink\"", "sink = \"other\""), "sink \"other\" is not a declared table"),
            (GOOD.replace("flows = [\"ingest\"]", "flows = []"), "flow ingest is run by no task"),
            (GOOD.replace("{{literal}}", "{oops"), "unclosed"),
            (
                format!("{GOOD}\n[cluster]\ncommand = [\"server\"]\n"),
                "nothing in its command or env says {cluster_port}",
            ),
            (format!("{GOOD}\n[cluster]\ncommand = [\"server\", \"{{port}}\"]\n"), "unknown placeholder {port}"),
        ];
        for (text, want) in cases {
            let err = spec(&text).unwrap_err();
            assert!(err.contains(want) && err.contains("Help:"), "{want}: {err}");
        }
    }

    /// GOOD with a second flow reading table `sink` (written by `ingest`) into `scores`.
    fn chained(source: &str) -> String {
        GOOD.replace("flows = [\"ingest\"]", "flows = [\"ingest\", \"score\"]")
            + &format!(
                "[[tables]]\nname = \"scores\"\n[[flows]]\nname = \"score\"\nsource = \"{source}\"\nsink = \"scores\"\n"
            )
    }

    #[test]
    fn a_flow_may_read_a_table_another_flow_writes_and_carries_its_topics_records() {
        let s = spec(&chained("sink")).unwrap();
        let score = s.flows.iter().find(|f| f.name == "score").unwrap();
        assert_eq!(s.upstream_of(score).map(|f| f.name.as_str()), Some("ingest"));
        assert_eq!(s.root_topic(score), Some("events"));
        let pipeline = ProgramPipeline::from_spec(s).unwrap();
        let plan = crate::Pipeline::plan(&pipeline, "r", &PipelineOptions::default()).unwrap();
        let q = plan.query("score").unwrap();
        assert!(matches!(&q.source, SourceSpec::Delta { table, app_id } if table == "sink" && app_id == "ingest"));
        let flows = plan.program.as_ref().unwrap().flows();
        assert!(flows.iter().all(|f| f.topic == "lf-r-events"), "{flows:?}");
        // A table no flow writes is no source; a flow reading its own sink never reaches a topic.
        let err = spec(&chained("nowhere")).unwrap_err();
        assert!(err.contains("neither a declared topic nor a table another flow writes"), "{err}");
        let err = spec(&chained("scores")).unwrap_err();
        assert!(err.contains("form a cycle"), "{err}");
    }

    #[test]
    fn the_catalog_placeholder_is_known_and_a_task_saying_it_is_found() {
        let s = spec(&GOOD.replace("{{literal}}", "{catalog}")).unwrap();
        assert!(s.task_says("ingest", "{catalog}"));
        assert!(!spec(GOOD).unwrap().task_says("ingest", "{catalog}"));
    }

    #[test]
    fn scales_read_as_nominal_to_real() {
        assert!((parse_scale("60:1").unwrap().factor - 1.0 / 60.0).abs() < 1e-12);
        assert_eq!(parse_scale("real").unwrap(), TimeScale::REAL);
        assert!(parse_scale("1:60").is_none());
    }

    #[test]
    fn records_carry_id_ts_and_the_declared_fields() {
        let fields = BTreeMap::from([("reading".to_string(), FieldType::Float), ("ok".to_string(), FieldType::Bool)]);
        let v: serde_json::Value = serde_json::from_slice(&crate::workload::record(7, &fields, 1)).unwrap();
        assert_eq!(v["id"], 7);
        assert!(v["ts"].is_i64() && v["reading"].is_f64() && v["ok"].is_boolean());
        assert_eq!(crate::workload::record(7, &fields, 1)[..20], crate::workload::record(7, &fields, 1)[..20]);
    }
}
