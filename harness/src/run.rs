//! One chaos run, from nothing to a verdict.
//!
//! ```text
//!  Scenario ──▶ check input (pipeline plan, faults) ─── bad input: error, nothing created
//!     │
//!     ▼
//!  broker up ─▶ run dir ─▶ topics, catalog, tables, run.json ─▶ history: run_started
//!     │
//!     ▼
//!  workload.start ─▶ supervisor.start (clusters, then tasks) ─▶ observer.start
//!     │
//!     ▼
//!  warm-up: every query commits a few batches ──────────────── timeout: ERROR
//!     │
//!     ▼
//!  fault.inject (returns once the designed error happened) ─── could not: ERROR
//!     │
//!     ▼
//!  observe for the horizon (and any retry cycle under way) ─▶ fault.heal ─▶ a query still stalled? operator restart
//!     │
//!     ▼
//!  workload.stop ─▶ drain: wait until no query lags ─▶ supervisor.stop (everything reaped)
//!     │
//!     ▼
//!  observer.stop (last sample) ─▶ audit every sink ─▶ run_ended ─▶ oracles ─▶ report.json
//! ```
//! Whatever happens in between, everything the run started is stopped before `run` returns.

use crate::catalog::Catalog;
use crate::error::{Doing, HarnessError, Result};
use crate::fault::{Fault, FaultCtx, Heal};
use crate::history::{ErrorKind, Event, FaultRecord, History, ScenarioRecord, Step};
use crate::kafka::Broker;
use crate::observer::Observer;
use crate::oracle::analyze;
use crate::pipeline::{Pipeline, PipelineEnv, PipelineOptions, PipelinePlan, Workload};
use crate::proto::RunConfig;
use crate::report::Report;
use crate::rundir::RunDir;
use crate::stream::open_table;
use crate::supervisor::{Supervisor, SupervisorConfig};
use crate::time::{TimeScale, Timings};
use crate::topology::{JobSpec, Topology};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything that defines one run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The pipeline.
    pub pipeline: Arc<dyn Pipeline>,
    /// Its options.
    pub options: PipelineOptions,
    /// The topology.
    pub topology: Topology,
    /// Faults to inject, in order.
    pub faults: Vec<Arc<dyn Fault>>,
    /// The schedule: how long (nominal) to wait before injecting each fault, counted from the
    /// moment the previous one took effect (from the end of the warm-up for the first). Missing
    /// entries are zero: each fault right after the one before.
    pub gaps: Vec<Duration>,
    /// The seed.
    pub seed: u64,
    /// The run directory (default `target/loudfail/<run-id>`).
    pub dir: Option<PathBuf>,
    /// The time scale.
    pub scale: TimeScale,
    /// Nominal timings.
    pub timings: Timings,
    /// An external broker's bootstrap address (default: the embedded one).
    pub broker: Option<String>,
    /// The binary that runs `__cluster` and `__task` (default: this executable).
    pub bin: Option<PathBuf>,
    /// The command that replays this run (default: a `loudfail run` line built from the fields).
    /// A binary of your own with its own command line sets its own.
    pub replay: Option<String>,
    /// The memory limit of every cluster, in bytes (default: none, or what a fault needs).
    pub cluster_memory: Option<u64>,
    /// Where tables live, for those the user places themselves (external locations); the rest
    /// live in the run directory.
    pub catalog: Option<Catalog>,
}

/// A loopback port nothing listens on now, for a program's cluster to listen on. It is taken
/// below the kernel's ephemeral range: a port released there can be handed to any process's
/// next random bind before the cluster binds it (measured: a Spark driver's own RPC server took
/// it, answered the readiness probe, and the Connect server failed to start).
fn free_port() -> Result<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|n| n.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (from, to) = (10_000u16, low.max(10_100));
    let span = to - from;
    // Each call of this process starts past the last one's port: runs in parallel (`--jobs`)
    // must not be handed the same port before either cluster binds it.
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = ((std::process::id() as u16).wrapping_mul(7919) % span + calls.wrapping_mul(17)) % span;
    for i in 0..span {
        let port = from + (start + i) % span;
        // Probed with no child being started: one would keep the probe's port bound.
        if crate::forks::closing_sockets(|| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return Ok(port);
        }
    }
    Err(HarnessError::io("a loopback port", std::io::Error::other("no free port below the ephemeral range")))
}

impl Scenario {
    /// A scenario with defaults: multi-query, await any, no fault, test time scale, seed 1.
    pub fn new(pipeline: Arc<dyn Pipeline>) -> Scenario {
        Scenario {
            pipeline,
            options: PipelineOptions::default(),
            topology: Topology::multi_query(crate::AwaitPolicy::Any),
            faults: Vec::new(),
            gaps: Vec::new(),
            seed: 1,
            dir: None,
            scale: TimeScale::TEST,
            timings: Timings::default(),
            broker: None,
            bin: None,
            replay: None,
            cluster_memory: None,
            catalog: None,
        }
    }

    /// Sets the topology.
    pub fn topology(mut self, t: Topology) -> Self {
        self.topology = t;
        self
    }

    /// Adds a fault.
    pub fn fault(mut self, f: Arc<dyn Fault>) -> Self {
        self.faults.push(f);
        self
    }

    /// Adds a fault to inject `gap` (nominal) after the previous one took effect.
    pub fn fault_after(mut self, gap: Duration, f: Arc<dyn Fault>) -> Self {
        self.gaps.resize(self.faults.len(), Duration::ZERO);
        self.gaps.push(gap);
        self.faults.push(f);
        self
    }

    /// Adds a schedule of faults (see [`crate::FaultCatalog::schedule`]).
    pub fn schedule(self, faults: Vec<(Duration, Arc<dyn Fault>)>) -> Self {
        faults.into_iter().fold(self, |s, (gap, f)| s.fault_after(gap, f))
    }

    /// The wait before the `i`th fault.
    pub fn gap(&self, i: usize) -> Duration {
        self.gaps.get(i).copied().unwrap_or_default()
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the run directory.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Sets the worker binary.
    pub fn bin(mut self, bin: impl Into<PathBuf>) -> Self {
        self.bin = Some(bin.into());
        self
    }

    /// Sets the pipeline options.
    pub fn options(mut self, o: PipelineOptions) -> Self {
        self.options = o;
        self
    }

    /// Sets the time scale.
    pub fn scale(mut self, s: TimeScale) -> Self {
        self.scale = s;
        self
    }

    /// The command that replays this scenario.
    pub fn replay_line(&self) -> String {
        if let Some(r) = &self.replay {
            return r.clone();
        }
        let mut s = format!(
            "loudfail run {} --topology {} --await {}",
            self.pipeline.replay_args(&self.options),
            self.topology.kind.name(),
            self.topology.await_policy.name(),
        );
        if self.topology.monitor_queries {
            s.push_str(" --monitor-queries");
        }
        if self.topology.max_retries != self.topology.kind.default_retries() {
            s.push_str(&format!(" --max-retries {}", self.topology.max_retries));
        }
        for (i, f) in self.faults.iter().enumerate() {
            s.push_str(&format!(" --fault {}", f.name()));
            if !self.gap(i).is_zero() {
                s.push_str(&format!("@{}", crate::time::human(self.gap(i))));
            }
        }
        if self.faults.is_empty() {
            s.push_str(" --fault none");
        }
        if let Some(m) = self.cluster_memory {
            s.push_str(&format!(" --memory-limit {}M", m >> 20));
        }
        s.push_str(&format!(" --seed {}", self.seed));
        s
    }

    /// The clusters' memory limit: the one set, or the one a fault needs on loudfail's engine
    /// (a program is not made to grow: a fault squeezes it while it runs instead).
    pub fn memory_limit(&self, plan: &PipelinePlan) -> Option<u64> {
        let needed = || if plan.is_program() { None } else { self.faults.iter().find_map(|f| f.cluster_memory()) };
        self.cluster_memory.or_else(needed)
    }

    /// What the scenario is expected to show: its fault's expectation, or for a schedule the
    /// gravest of its faults' (LOSS, then SILENT, then COLLATERAL, then LOUD+RESTARTED).
    pub fn expectation(&self, plan: &PipelinePlan) -> Option<crate::fault::Expectation> {
        use crate::fault::Expectation as E;
        let gravity = |e: &E| match e {
            E::Loss => 4,
            E::Silent => 3,
            E::Collateral => 2,
            E::LoudRestarted => 1,
            E::Absorbed => 0,
        };
        self.faults.iter().map(|f| f.expectation(&self.topology, plan)).max_by_key(gravity)
    }

    /// Runs the scenario. Bad input is an `Err` (nothing was created); everything else, harness
    /// trouble included, is a [`Report`].
    pub async fn run(self) -> Result<Report> {
        let started = Instant::now();
        let run_id = format!("{}-{:x}", chrono_id(), self.seed);
        self.options.check()?;
        let plan = self.pipeline.plan(&run_id, &self.options)?;
        for f in &self.faults {
            if plan.is_program() && !f.fits_programs() {
                return Err(HarnessError::bad_input(
                    format!(
                        "fault {} needs the cooperation of loudfail's engine (it acts inside a query), and {} is a program",
                        f.name(),
                        self.pipeline.name()
                    ),
                    "choose a fault that fits any program (`loudfail list` says which)",
                ));
            }
            f.check(&plan)?;
            if let Some(addr) = self.broker.as_deref().filter(|_| f.info().acts_on_the_broker) {
                return Err(HarnessError::bad_input(
                    format!(
                        "fault {} acts on the broker itself, which loudfail can do only to its embedded broker, and --broker names an external one ({addr})",
                        f.name()
                    ),
                    "drop --broker to run it on the embedded broker, or choose a fault that leaves the broker alone (`loudfail list`)",
                ));
            }
        }
        if let Some(c) = &self.catalog {
            check_catalog(c, &plan)?;
        }
        if let Some(program) = &plan.program {
            if self.topology.kind == crate::topology::TopologyKind::SharedCluster && program.spec.cluster.is_none() {
                return Err(HarnessError::bad_input(
                    format!(
                        "program {} cannot run on a shared cluster: its spec has no [cluster] for its tasks to share, so each of its tasks is its own driver",
                        program.spec.name
                    ),
                    "use --topology multi-query (a failing task fails the run) or cluster-per-task (it fails alone), or give the spec a [cluster] (a Spark Connect server) listening on {cluster_port}",
                ));
            }
            program.spec.check_startable()?;
        }
        if let Some(bytes) = self.memory_limit(&plan) {
            let limit = crate::memlimit::MemoryLimit::new(bytes);
            let least = match limit.mechanism {
                crate::memlimit::Mechanism::Cgroup => 64u64 << 20,
                crate::memlimit::Mechanism::RlimitAs => 1536 << 20,
            };
            if bytes < least {
                return Err(HarnessError::bad_input(
                    format!(
                        "a memory limit of {} MiB is too small for a cluster to start at all (enforced here by {:?}: a cgroup charges a cluster about 20 MiB of its own, RLIMIT_AS counts the 1.2 GB of address space it maps)",
                        bytes >> 20,
                        limit.mechanism
                    ),
                    format!("pass --memory-limit of at least {}M", least >> 20),
                ));
            }
        }
        let bin = match &self.bin {
            Some(b) => b.clone(),
            None => std::env::current_exe().map_err(|e| HarnessError::io("current executable", e))?,
        };
        if !bin.is_file() {
            return Err(HarnessError::bad_input(
                format!("worker binary {} does not exist", bin.display()),
                "build loudfail first (cargo build) or pass the path of the loudfail binary",
            ));
        }
        // What a SIGKILL of this process would leave, its reaper cleans up.
        crate::reaper::ensure(&bin);
        let broker = match &self.broker {
            None => Broker::embedded()?,
            Some(addr) => Broker::external(addr, Duration::from_secs(5))?,
        };
        let mut job: JobSpec = plan.job(&self.topology);
        // What an earlier loudfail killed with SIGKILL could not clean up.
        crate::memlimit::sweep();
        let dir = RunDir::create(self.dir.as_deref(), &run_id)?;
        let env = self.env(&run_id, &dir, &broker, &plan)?;
        if let Some(program) = &plan.program {
            for c in &mut job.clusters {
                c.port = Some(free_port()?);
            }
            let cluster = program.spec.cluster_command(&env, &plan, &job)?;
            for c in &mut job.clusters {
                c.program = cluster.clone();
            }
            let mut commands = program.spec.commands(&env, &plan, &job)?;
            for t in &mut job.tasks {
                t.program = commands.remove(&t.name);
            }
        }
        let history = History::create(&dir.history())?;
        history.record(Event::RunStarted {
            run_id: run_id.clone(),
            seed: self.seed,
            scenario: Box::new(ScenarioRecord {
                pipeline: self.pipeline.name().into(),
                options: serde_json::to_value(&self.options).unwrap_or_default(),
                topology: self.topology.clone(),
                faults: self
                    .faults
                    .iter()
                    .map(|f| FaultRecord {
                        name: f.name().into(),
                        scope: f.scope(),
                        persistent: f.persists_until_healed(),
                        absorbable: f.absorbable(),
                    })
                    .collect(),
                job: job.clone(),
            }),
            scale: self.scale.factor,
            timings: self.timings.clone(),
        });
        let mut live = Live { supervisor: None, observer: None, workload: None };
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let own_peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let cpu_before = crate::process::cpu_times();
        let sampler = {
            let (peak, own_peak, history) = (peak.clone(), own_peak.clone(), history.clone());
            tokio::spawn(async move {
                loop {
                    let took = Instant::now();
                    let (own, children) = crate::process::run_memory_split(&history);
                    peak.fetch_max(own + children, std::sync::atomic::Ordering::Relaxed);
                    own_peak.fetch_max(own, std::sync::atomic::Ordering::Relaxed);
                    // Reading a large process's PSS walks its page tables (a JVM's take tens of
                    // milliseconds of kernel time): the sampler keeps to 2% of one core.
                    tokio::time::sleep((took.elapsed() * 50).max(Duration::from_millis(50))).await;
                }
            })
        };
        let outcome = self.drive(&env, &dir, &history, &broker, &plan, &job, &bin, &mut live).await;
        live.shutdown(&history).await;
        sampler.abort();
        // Whatever the faults' heals did (none ran after an error), the run's storage is
        // writable again.
        let mut roots = vec![dir.root().to_path_buf()];
        roots.extend(env.catalog.tables.values().map(std::path::PathBuf::from));
        crate::storage::thaw_within(&roots);
        if let Err(e) = outcome {
            history.record(Event::harness_error(&e));
        }
        history.record(Event::RunEnded);
        drop(broker);
        let records = history.snapshot();
        let analysis = analyze(&records);
        let report = Report {
            run_id,
            dir: dir.root().to_path_buf(),
            seed: self.seed,
            pipeline: self.pipeline.summary(&self.options),
            topology: self.topology.to_string(),
            faults: self.faults.iter().map(|f| format!("{} → {}", f.name(), f.target())).collect(),
            expected: self.expectation(&plan),
            scale: self.scale,
            detection_bound: self.scale.real(self.timings.detection_bound),
            // What the oracles judged by: the bound plus the cold start (at least 1.5× it).
            restart_bound: crate::oracle::Bounds::of(&records).map_or_else(
                || self.scale.real(self.timings.restart_bound),
                |b| Duration::from_micros(b.restart_us.max(0) as u64),
            ),
            horizon: self.scale.real(self.timings.horizon),
            analysis,
            wall: started.elapsed(),
            peak_memory: peak.load(std::sync::atomic::Ordering::Relaxed),
            harness_memory: own_peak.load(std::sync::atomic::Ordering::Relaxed),
            cpu_us: {
                let after = crate::process::cpu_times();
                crate::report::CpuUse {
                    harness: after.0.saturating_sub(cpu_before.0).as_micros() as u64,
                    processes: after.1.saturating_sub(cpu_before.1).as_micros() as u64,
                }
            },
            cluster_memory: crate::report::ClusterMemory::from_history(&records),
            replay: self.replay_line(),
        };
        report.save()?;
        crate::junit::write_run(&report)?;
        crate::timeline::write(&dir.root().join("timeline.html"), &records, &report)?;
        Ok(report)
    }

    /// The catalog (every table in the run directory, but those the user placed), the
    /// configuration children read, and the environment pipelines see.
    fn env(&self, run_id: &str, dir: &RunDir, broker: &Broker, plan: &PipelinePlan) -> Result<PipelineEnv> {
        let mut catalog = Catalog {
            tables: table_names(plan).into_iter().map(|t| (t.clone(), dir.table(&t).display().to_string())).collect(),
        };
        if let Some(user) = &self.catalog {
            catalog.tables.extend(user.tables.clone());
        }
        catalog.save(&dir.catalog())?;
        let config = RunConfig {
            run_id: run_id.to_string(),
            run_dir: dir.root().to_path_buf(),
            pipeline: self.pipeline.name().to_string(),
            options: self.options.clone(),
            bootstrap: broker.bootstrap().to_string(),
            scale: self.scale,
            timings: self.timings.clone(),
        };
        dir.write_json("run.json", &config)?;
        Ok(PipelineEnv { config, catalog })
    }

    #[allow(clippy::too_many_arguments)]
    async fn drive(
        &self,
        env: &PipelineEnv,
        dir: &RunDir,
        history: &History,
        broker: &Broker,
        plan: &PipelinePlan,
        job: &JobSpec,
        bin: &std::path::Path,
        live: &mut Live,
    ) -> Result<()> {
        let steps = Steps { scenario: self, env, dir, history, broker, plan, job };
        steps.provision().await.doing(|| "creating the run's topics and tables".into())?;
        let workload = steps.start(bin, live).await.doing(|| "starting the workload".into())?;
        let warmup_took = steps.warm_up().await?;
        // What the job may take to come back: the restart bound with its own cold start on top
        // (the oracles judge by the same).
        let restart_bound = crate::oracle::restart_bound(self.scale.real(self.timings.restart_bound), warmup_took);
        let supervisor = live.supervisor.as_ref().expect("started above");
        let faults = Faults { steps: &steps, supervisor, workload: &workload, restart_bound };
        let effect_mark = history.len();
        let heals = faults.strike().await?;
        history.record(Event::step(Step::Observe));
        tokio::time::sleep(self.scale.real(self.timings.horizon)).await;
        settle_retries(history, job, effect_mark, restart_bound.max(Duration::from_secs(10))).await;
        faults.heal(heals, effect_mark).await?;
        faults.on_call(effect_mark).await?;
        let observer = live.observer.as_ref().expect("started above");
        steps.drain(&workload, observer, restart_bound, warmup_took).await.doing(|| "draining".into())?;
        history.record(Event::step(Step::Audit));
        Ok(())
    }
}

/// What every step of a run works with.
struct Steps<'a> {
    scenario: &'a Scenario,
    env: &'a PipelineEnv,
    dir: &'a RunDir,
    history: &'a History,
    broker: &'a Broker,
    plan: &'a PipelinePlan,
    job: &'a JobSpec,
}

impl Steps<'_> {
    fn real(&self, d: Duration) -> Duration {
        self.scenario.scale.real(d)
    }

    /// Infrastructure: topics and tables.
    async fn provision(&self) -> Result<()> {
        for t in &self.plan.topics {
            self.broker.create_topic(&t.name, t.partitions).await?;
        }
        create_tables(self.env, self.plan).await
    }

    /// The system under test: its workload, the job (supervised), and the observer.
    async fn start(&self, bin: &std::path::Path, live: &mut Live) -> Result<Arc<dyn Workload>> {
        let (s, plan, history) = (self.scenario, self.plan, self.history);
        let workload = s.pipeline.workload(self.env, plan, history.clone(), s.seed)?;
        workload.start().await?;
        live.workload = Some(workload.clone());
        live.supervisor = Some(Supervisor::start(SupervisorConfig {
            bin: bin.to_path_buf(),
            run_dir: self.dir.clone(),
            history: history.clone(),
            job: self.job.clone(),
            scale: s.scale,
            timings: s.timings.clone(),
            env: Vec::new(),
            cluster_memory: s.memory_limit(plan).map(crate::memlimit::MemoryLimit::new),
            start_within: plan
                .program
                .as_ref()
                .and_then(|p| p.spec.start_within())
                .unwrap_or_default()
                .max(Duration::from_secs(60)),
        }));
        let sample = self.real(s.timings.trigger).clamp(Duration::from_millis(20), Duration::from_secs(1));
        live.observer = Some(Observer::start(self.env.clone(), plan, history.clone(), sample));
        Ok(workload)
    }

    /// Warm-up: every query commits a few batches (how many derives from the seed). Returns
    /// what it took.
    async fn warm_up(&self) -> Result<Duration> {
        let (s, plan, job, history, dir) = (self.scenario, self.plan, self.job, self.history, self.dir);
        history.record(Event::step(Step::Warmup));
        let warmup_began = Instant::now();
        let want = 2 + (s.seed % 3) as usize;
        let mut counts: std::collections::BTreeMap<String, usize> =
            plan.queries.iter().map(|q| (q.name.clone(), 0)).collect();
        // A program is a black box that may never start working: one that keeps exiting before
        // any of its flows landed a record, or lands nothing for three restart bounds (at least
        // 30 s), is a clear error, not an endless wait.
        let programs: Vec<&str> = job.tasks.iter().filter(|t| t.program.is_some()).map(|t| t.name.as_str()).collect();
        let warmup = if programs.is_empty() {
            self.real(s.timings.warmup_timeout)
        } else {
            let asked = plan.program.as_ref().and_then(|p| p.spec.start_within());
            self.real(s.timings.warmup_timeout)
                .min((self.real(s.timings.restart_bound) * 3).max(Duration::from_secs(30)))
                .max(asked.unwrap_or_default())
        };
        let mut exits: Vec<(String, String)> = Vec::new();
        let warmed = history
            .wait_for(0, warmup, "every query to commit its first batches", |r| {
                if let Event::ProcessExited { name, run, code, signal, .. } = &r.event
                    && programs.contains(&name.as_str())
                {
                    let how = match (code, signal) {
                        (Some(c), _) => format!("exit code {c}"),
                        (None, Some(s)) => format!("signal {s}"),
                        _ => "an unknown end".into(),
                    };
                    exits.push((how, format!("{name}-run{run}")));
                    return (exits.len() >= 3).then_some(false);
                }
                let query = r.event.progress_of()?;
                *counts.entry(query.to_string()).or_default() += 1;
                counts.values().all(|n| *n >= want).then_some(true)
            })
            .await;
        match warmed {
            Ok((true, _)) => {}
            Ok((false, _)) => {
                let (how, last) = exits.last().cloned().unwrap_or_default();
                return Err(HarnessError::bad_input(
                    format!(
                        "the program exited {} times before any of its flows landed a record (last: {how}); see {}",
                        exits.len(),
                        dir.root().join("logs").join(format!("{last}-attempt1.stderr")).display()
                    ),
                    "run its command by hand with the environment the spec gives it, and fix what makes it exit",
                ));
            }
            Err(HarnessError::Timeout { .. }) if !programs.is_empty() => {
                let idle: Vec<&str> = counts.iter().filter(|(_, n)| **n < want).map(|(q, _)| q.as_str()).collect();
                return Err(HarnessError::bad_input(
                    format!(
                        "nothing landed: flow(s) {} wrote no record to their sink within {} of the program's start",
                        idle.join(", "),
                        crate::time::human(warmup)
                    ),
                    format!(
                        "check that the program writes each record's id to the table's location the spec gives it ({{table:NAME}}), and read its log in {}",
                        dir.root().join("logs").display()
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
        let warmup_took = warmup_began.elapsed();
        history.record(Event::Started { took_us: warmup_took.as_micros() as i64 });
        Ok(warmup_took)
    }

    /// Drain: stop producing, then wait until no query lags its source.
    async fn drain(
        &self,
        workload: &Arc<dyn Workload>,
        observer: &Observer,
        restart_bound: Duration,
        warmup_took: Duration,
    ) -> Result<()> {
        let (plan, history) = (self.plan, self.history);
        history.record(Event::step(Step::Drain));
        workload.stop().await?;
        let mut world = observer.world();
        let after = world.borrow().samples + 1;
        // A program's final read ends when its flows caught up, or when nothing landed for a
        // restart bound: records it lost will never land, and waiting longer proves nothing. A
        // program restarted by the on-call engineer just now may need what its first start
        // took (a Spark session, its first batches) before anything lands: twice that, at least.
        let idle = plan.is_program().then(|| restart_bound.max(warmup_took * 2));
        let drained = tokio::time::timeout(self.real(self.scenario.timings.drain_timeout), async {
            let mut landed = None;
            let mut since = tokio::time::Instant::now();
            loop {
                {
                    let w = world.borrow_and_update();
                    if w.samples > after && w.caught_up() {
                        return true;
                    }
                    let now: Vec<_> = w.queries.values().map(|q| q.committed.clone()).collect();
                    if landed.as_ref() != Some(&now) {
                        landed = Some(now);
                        since = tokio::time::Instant::now();
                    } else if idle.is_some_and(|i| since.elapsed() > i) {
                        return false;
                    }
                }
                if world.changed().await.is_err() {
                    return true;
                }
            }
        })
        .await;
        if drained != Ok(true) {
            history.record(Event::Phase { name: "drain timed out: some query never caught up".into() });
        }
        Ok(())
    }
}

/// The faults' part of a run: struck in order, healed after the horizon, and the on-call
/// engineer after them.
struct Faults<'a> {
    steps: &'a Steps<'a>,
    supervisor: &'a Supervisor,
    workload: &'a Arc<dyn Workload>,
    restart_bound: Duration,
}

impl Faults<'_> {
    fn ctx(&self, i: usize) -> FaultCtx<'_> {
        let (st, s) = (self.steps, self.steps.scenario);
        FaultCtx {
            fault: s.faults[i].as_ref(),
            run_dir: st.dir,
            history: st.history,
            supervisor: self.supervisor,
            workload: self.workload,
            plan: st.plan,
            job: st.job,
            scale: s.scale,
            timings: &s.timings,
            broker: st.broker,
        }
    }

    /// Injects every fault in order, each after its gap; returns their heals, in fault order.
    async fn strike(&self) -> Result<Vec<Heal>> {
        let (s, plan, history) = (self.steps.scenario, self.steps.plan, self.steps.history);
        let restart_bound = self.restart_bound;
        let mut after_previous = history.len();
        let mut heals = Vec::with_capacity(s.faults.len());
        for (i, f) in s.faults.iter().enumerate() {
            if !s.gap(i).is_zero() {
                history.record(Event::Phase {
                    name: format!("wait {} before {}", crate::time::human(s.gap(i)), f.name()),
                });
                tokio::time::sleep(self.steps.real(s.gap(i))).await;
            }
            // The queries an earlier fault of the schedule left stopped.
            let mut stopped = std::collections::BTreeSet::new();
            if i > 0 {
                // The next fault of a schedule strikes a running pipeline: after a driver fault
                // its target may not exist yet. Every query committing again (within the restart
                // bound) says the job is back; a pipeline the previous fault left broken is
                // struck as it is.
                let all = plan.queries.len();
                let mut again = std::collections::BTreeSet::new();
                let back = history
                    .wait_for(after_previous, restart_bound, "the job to be back", |r| {
                        again.insert(r.event.progress_of()?.to_string());
                        (again.len() >= all).then_some(())
                    })
                    .await;
                if back.is_err() {
                    history.record(Event::Phase { name: format!("{} strikes a pipeline not all back", f.name()) });
                    stopped = plan.queries.iter().map(|q| q.name.clone()).filter(|q| !again.contains(q)).collect();
                }
            }
            history.record(Event::Phase { name: format!("inject {}", f.name()) });
            history.record(Event::FaultInjected { fault: f.name().into(), target: f.target() });
            let ctx = self.ctx(i);
            // A fault that waits for its target to act (a write, a batch) finds nothing to
            // strike in a query an earlier fault stopped: no harness error, its effect unseen,
            // the run judged from what the world shows.
            let stopped_target = ctx.query().ok().filter(|q| stopped.contains(q));
            let heal = match (f.inject(&ctx).await, stopped_target) {
                (Err(e), Some(query)) if matches!(e.cause(), HarnessError::Timeout { .. }) => {
                    let what = format!(
                        "{query} was stopped by an earlier fault: {} found nothing of it to strike ({})",
                        f.name(),
                        e.problem()
                    );
                    ctx.effect(ctx.injected_at(history.len()), &query, ErrorKind::Unseen, &what);
                    Heal::nothing()
                }
                (outcome, _) => outcome.doing(|| format!("injecting {}", f.name()))?,
            };
            heals.push(heal);
            after_previous = history.len();
        }
        Ok(heals)
    }

    /// Applies the heals, in fault order, and records each fault healed.
    async fn heal(&self, heals: Vec<Heal>, effect_mark: usize) -> Result<()> {
        let (s, history) = (self.steps.scenario, self.steps.history);
        for (i, (f, heal)) in s.faults.iter().zip(heals).enumerate() {
            heal.run(&self.ctx(i)).await.doing(|| format!("healing {}", f.name()))?;
            // A fault that ended on its own (an outage) recorded its heal when it ended.
            let healed_already = history.snapshot()[effect_mark..]
                .iter()
                .any(|r| matches!(&r.event, Event::FaultHealed { fault } if fault == f.name()));
            if !healed_already {
                history.record(Event::FaultHealed { fault: f.name().into() });
            }
        }

        Ok(())
    }

    /// The on-call engineer. A job that failed loudly gets the restart bound (from the heal)
    /// to recover on its own; a query that still has not committed since then (or at all, when
    /// nothing was loud) gets the job restarted by hand, so the exactly-once checks see a
    /// recovered system.
    async fn on_call(&self, effect_mark: usize) -> Result<()> {
        let (plan, history, supervisor) = (self.steps.plan, self.steps.history, self.supervisor);
        let restart_bound = self.restart_bound;
        if !self.steps.scenario.faults.is_empty() {
            let since = history.len();
            let records = history.snapshot();
            // Progress counts from the fault's effect, not its injection: a query may commit a
            // batch between the two (a poison record sent, not yet met). In a schedule, from the
            // last fault's: a query back after the first fault may have been broken, without a
            // sound, by the next.
            let struck = records[effect_mark..]
                .iter()
                .rposition(|r| matches!(r.event, Event::FaultEffect { .. }))
                .map_or(effect_mark, |i| effect_mark + i);
            let mut committed: std::collections::BTreeSet<String> =
                records[struck..].iter().filter_map(|r| r.event.progress_of().map(str::to_string)).collect();
            let loud = records[effect_mark..].iter().any(|r| {
                matches!(
                    &r.event,
                    Event::TaskState {
                        state: crate::history::TaskState::Failed | crate::history::TaskState::Retrying,
                        ..
                    } | Event::RunState { state: crate::history::RunState::Failed, .. }
                )
            });
            let all = plan.queries.len();
            if loud && committed.len() < all {
                // The predicate folds over the records it is handed, each once.
                let _ = history
                    .wait_for(since, restart_bound, "the job to recover after the heal", |r| {
                        if let Some(query) = r.event.progress_of() {
                            committed.insert(query.to_string());
                        }
                        (committed.len() >= all).then_some(())
                    })
                    .await;
            }
            let left: Vec<String> =
                plan.queries.iter().filter(|q| !committed.contains(&q.name)).map(|q| q.name.clone()).collect();
            if !left.is_empty() {
                supervisor.operator_restart(&format!("no progress since the fault in {}", left.join(", ")))?;
            } else {
                // Back after the fault, and stalled again since: a relapse longer than a lull.
                self.restart_what_stalled(|b| b.stall_us, "after the job had recovered").await?;
            }
        } else {
            self.restart_what_stalled(|b| b.silence_us, "and no fault").await?;
        }
        Ok(())
    }

    /// A query that stalls without a sound where no fault explains it — in a run without faults,
    /// or after the job had recovered from every fault (a program that deadlocked) — meets the
    /// same engineer at the end of the horizon: a stall still open then is watched until the
    /// query moves again, or until it has lasted longer than the run tolerates (`bound`: a run
    /// without faults, its restart bound; after a recovery, a lull's), and then the job is
    /// restarted. What it never wrote is then judged as the stall it is (SILENT, its window up
    /// to the restart), not as records lost: they wait in Kafka, and the restarted job lands
    /// them.
    async fn restart_what_stalled(&self, bound: fn(&crate::oracle::Bounds) -> i64, when: &str) -> Result<()> {
        let history = self.steps.history;
        let Some(bound) = crate::oracle::Bounds::of(&history.snapshot()).map(|b| bound(&b)) else {
            return Ok(());
        };
        // Each query's stall still open at the end of the history: since when. It lasts until
        // now (the observer records only what changes).
        let open = || -> (std::collections::BTreeMap<String, i64>, usize) {
            let records = history.snapshot();
            let last = records.last().map_or(0, |r| r.at);
            let stalls = crate::oracle::stalls(&records, true).into_iter().filter(|s| s.to >= last);
            (stalls.map(|s| (s.query, s.from)).collect(), records.len())
        };
        let (mut waiting, since) = open();
        let Some(due) = waiting.values().map(|from| from + bound).min() else { return Ok(()) };
        let now = crate::time::now_us();
        if due > now {
            // Ended early by the progress of every query that was stalled.
            let _ = history
                .wait_for(since, Duration::from_micros((due - now) as u64 + 1), "a stalled query to move again", |r| {
                    if let Some(q) = r.event.progress_of() {
                        waiting.remove(q);
                    }
                    waiting.is_empty().then_some(())
                })
                .await;
        }
        let (still, _) = open();
        let now = crate::time::now_us();
        let stalled: Vec<String> = still.into_iter().filter(|(_, from)| now - from > bound).map(|(q, _)| q).collect();
        if !stalled.is_empty() {
            self.supervisor.operator_restart(&format!("{} stalled without a sound, {when}", stalled.join(", ")))?;
        }
        Ok(())
    }
}

/// What a run has started, stopped in order whatever happened.
struct Live {
    supervisor: Option<Supervisor>,
    observer: Option<Observer>,
    workload: Option<Arc<dyn Workload>>,
}

impl Live {
    async fn shutdown(&mut self, history: &History) {
        let t = Instant::now();
        if let Some(w) = &self.workload
            && let Err(e) = w.stop().await
        {
            history.record(Event::harness_error_while("stopping the workload", &e));
        }
        if let Some(s) = self.supervisor.take() {
            s.stop().await;
        }
        tracing::debug!(took = ?t.elapsed(), "workload and job stopped");
        // Nothing writes any more: the observer's last sample and the audit read the same
        // still world, at once.
        let observed = async {
            if let Some(o) = self.observer.take() {
                o.stop().await;
            }
            tracing::debug!(took = ?t.elapsed(), "last sample taken");
        };
        let audited = async {
            if let Some(w) = self.workload.take() {
                match w.audit().await {
                    Ok(audits) => {
                        for a in audits {
                            history.record(Event::TableAudit(a));
                        }
                    }
                    Err(e) => history.record(Event::harness_error_while("auditing the tables", &e)),
                }
            }
            tracing::debug!(took = ?t.elapsed(), "tables audited");
        };
        tokio::join!(observed, audited);
    }
}

/// A user's catalog names tables of the pipeline, at absolute locations that hold nothing yet
/// (loudfail creates the tables there and never overwrites anything).
fn check_catalog(catalog: &Catalog, plan: &PipelinePlan) -> Result<()> {
    let names = table_names(plan);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for (table, location) in &catalog.tables {
        if !names.contains(&table.as_str()) {
            return Err(HarnessError::bad_input(
                format!("the catalog names table {table:?}, which the pipeline does not have"),
                format!("the pipeline's tables are: {}", names.join(", ")),
            ));
        }
        let path = std::path::Path::new(location);
        if !path.is_absolute() {
            return Err(HarnessError::bad_input(
                format!("catalog location {location:?} of table {table} is not an absolute path"),
                "give every table an absolute path",
            ));
        }
        if path.exists() && std::fs::read_dir(path).map(|mut d| d.next().is_some()).unwrap_or(true) {
            return Err(HarnessError::bad_input(
                format!("catalog location {location} of table {table} already holds something"),
                "point the table at a new or empty directory (loudfail never writes into one that holds anything)",
            ));
        }
    }
    Ok(())
}

/// Every table of a pipeline: those it plans, or those a program's spec declares.
fn table_names(plan: &PipelinePlan) -> Vec<String> {
    match &plan.program {
        Some(p) => p.spec.tables.iter().map(|t| t.name.clone()).collect(),
        None => plan.tables.iter().map(|t| t.name.clone()).collect(),
    }
}

/// Creates every table of the plan at its catalog location.
async fn create_tables(env: &PipelineEnv, plan: &PipelinePlan) -> Result<()> {
    for t in &plan.tables {
        let url = env.catalog.url(&t.name)?;
        crate::stream::create_table(&url, t)
            .await
            .map_err(|e| HarnessError::Check { what: format!("creating table {}", t.name), problem: e.message })?;
        // Prove it opens the way queries will open it.
        open_table(&env.catalog, &t.name)
            .await
            .map_err(|e| HarnessError::Check { what: format!("opening table {}", t.name), problem: e.message })?;
    }
    Ok(())
}

/// A sortable, readable id: `20261122-153012-123`.
fn chrono_id() -> String {
    let us = crate::time::now_us();
    let secs = us / 1_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{:03}", rem / 3600, (rem % 3600) / 60, rem % 60, (us / 1000) % 1000)
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Which tasks are between attempts: failed and waiting for a retry, or in an attempt that has
/// not progressed since it started. Fed a run's records in order.
#[derive(Default)]
struct Attempts {
    /// Per task: its latest state, and whether it progressed since.
    latest: std::collections::BTreeMap<String, (crate::history::TaskState, bool)>,
}

impl Attempts {
    fn note(&mut self, r: &crate::history::Record, job: &JobSpec) {
        match &r.event {
            Event::TaskState { task, state, .. } => {
                self.latest.insert(task.clone(), (*state, false));
            }
            event => {
                let task = event.progress_of().and_then(|q| job.task_of(q));
                if let Some(entry) = task.and_then(|t| self.latest.get_mut(&t.name)) {
                    entry.1 = true;
                }
            }
        }
    }

    fn waiting(&self) -> Vec<&str> {
        use crate::history::TaskState;
        self.latest
            .iter()
            .filter(|(_, (state, progressed))| match state {
                TaskState::Retrying => true,
                TaskState::Running => !*progressed,
                _ => false,
            })
            .map(|(task, _)| task.as_str())
            .collect()
    }
}

/// Observes on, past the horizon, while a task is between attempts. A fault held for the
/// horizon meets every retry the job makes within it, and a heal meets the job at rest: at a
/// fast time scale a retry's real costs (a process start, a query's first batch) are a large
/// part of the horizon, so a heal at the horizon would otherwise land wherever a retry cycle
/// stands — before or after the last retry, inside an attempt started before it — and the
/// verdict with it. An attempt under way is seen to its end (it fails or progresses), a retry
/// cycle to its end (retries exhausted, or one progresses). At most `cap`.
async fn settle_retries(history: &History, job: &JobSpec, from: usize, cap: Duration) {
    let seen = history.len();
    if seen <= from {
        return;
    }
    let mut attempts = Attempts::default();
    let mut next = from;
    let settled = history
        .wait_for(from, cap, "a retry cycle to end", |r| {
            attempts.note(r, job);
            next += 1;
            (next >= seen && attempts.waiting().is_empty()).then_some(())
        })
        .await;
    if settled.is_err() {
        history.record(Event::Phase {
            name: format!(
                "task {} still between attempts {} after the horizon: healed as it stands",
                attempts.waiting().join(", "),
                crate::time::human(cap)
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Record, TaskState};
    use crate::topology::{AwaitPolicy, ClusterSpec, TaskSpec};

    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_779), (2026, 11, 22));
    }

    /// A task is between attempts while it waits for a retry or runs one that has not
    /// progressed; a task that failed for good, or progresses, is at rest.
    #[test]
    fn a_retry_cycle_ends_when_retries_run_out_or_one_progresses() {
        let task = |name: &str, query: &str| TaskSpec {
            name: name.into(),
            cluster: "shared".into(),
            queries: vec![query.into()],
            await_policy: AwaitPolicy::Any,
            max_retries: 1,
            depends_on: vec![],
            program: None,
        };
        let job = JobSpec {
            clusters: vec![ClusterSpec::named("shared")],
            tasks: vec![task("ingest", "bronze"), task("alerts", "resolver")],
            monitor_queries: false,
            isolated_tasks: false,
        };
        let state = |task: &str, attempt, state| Record {
            at: 0,
            event: Event::TaskState { run: 1, task: task.into(), attempt, state, reason: None },
        };
        let commit = |query: &str| Record {
            at: 0,
            event: Event::BatchCommitted { query: query.into(), batch: 1, rows: 1, replayed: false, skipped: false },
        };
        let mut a = Attempts::default();
        let mut feed = |r: Record| {
            a.note(&r, &job);
            a.waiting().join(",")
        };
        assert_eq!(feed(state("ingest", 1, TaskState::Running)), "ingest", "started, not yet progressed");
        assert_eq!(feed(commit("bronze")), "");
        assert_eq!(feed(state("alerts", 1, TaskState::Running)), "alerts");
        assert_eq!(feed(commit("resolver")), "");
        assert_eq!(feed(state("alerts", 1, TaskState::Retrying)), "alerts");
        assert_eq!(feed(state("alerts", 2, TaskState::Running)), "alerts");
        assert_eq!(feed(state("alerts", 2, TaskState::Failed)), "", "retries exhausted");
        assert_eq!(feed(state("alerts", 1, TaskState::Pending)), "", "a new run, not yet started");
        assert_eq!(feed(state("alerts", 1, TaskState::Running)), "alerts");
        assert_eq!(feed(commit("resolver")), "", "a retry that progresses ends the cycle");
    }
}
