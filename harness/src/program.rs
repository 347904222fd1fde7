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
pub use crate::program_spec::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A program task's own checkpoint directory (`{checkpoint}`).
fn task_checkpoint(env: &PipelineEnv, task: &str) -> PathBuf {
    env.config.run_dir.join("checkpoints").join(task)
}

/// A program task's events file (`{events}`).
fn task_events(env: &PipelineEnv, task: &str) -> PathBuf {
    env.config.run_dir.join("events").join(format!("{task}.jsonl"))
}

impl ProgramSpec {
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

    fn replay_args(&self, _options: &PipelineOptions) -> String {
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
    use crate::time::TimeScale;

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
