//! Faults: a name, a target, `inject` and `heal`, and what each topology is expected to make of
//! it. Faults are written against this public API only (the `faults` crate is the catalogue),
//! so a user's own fault is as first-class as ours.

use crate::error::{HarnessError, Result};
pub use crate::error_kind::ErrorKind;
use crate::history::{Event, History, Record};
use crate::pipeline::{ConcurrentWriter, PipelinePlan, Workload};
use crate::proto::Control;
use crate::supervisor::{NOT_RUNNING, Supervisor};
use crate::time::{TimeScale, Timings};
pub use crate::topology::Scope;
use crate::topology::{JobSpec, Topology};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// What a topology is expected to make of a fault (DESIGN.md's expected matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Expectation {
    /// The fault fails loudly and the job restarts.
    #[serde(rename = "LOUD+RESTARTED")]
    LoudRestarted,
    /// The fault goes unnoticed while every state says RUNNING.
    Silent,
    /// Records are lost without a sound.
    Loss,
    /// Loud and restarted, but the failure spread to tasks beyond the fault's reach.
    Collateral,
    /// A degradation a healthy pipeline rides out ([`Fault::absorbable`]): nothing fails,
    /// nothing stalls for long, nothing is lost — the run comes out CLEAN.
    #[serde(rename = "CLEAN")]
    Absorbed,
}

impl Expectation {
    /// What a failure of `query` alone (its driver alive) is expected to come out as: loud and
    /// restarted where the layout sees it ([`JobSpec::sees_failure_of`]), silent where a task
    /// awaits another query in order while this one is dead.
    pub fn of_query_failure(topology: &Topology, plan: &PipelinePlan, query: &str) -> Expectation {
        if plan.job(topology).sees_failure_of(query) { Expectation::LoudRestarted } else { Expectation::Silent }
    }

    /// What losing the driver of `query` (a crash, an OOM kill) is expected to come out as:
    /// loud, and every task on that driver restarted. Beyond its reach only where a task's
    /// failure fails the run at once (no task retries, tasks not isolated) while other tasks
    /// run on drivers of their own — a program of several tasks under `multi-query`, each its
    /// own driver: the new run restarts them too, which is collateral.
    pub fn of_driver_loss(topology: &Topology, plan: &PipelinePlan, query: &str) -> Expectation {
        let job = plan.job(topology);
        let reach = Scope::Cluster.reach(&job, query);
        let spreads =
            !job.isolated_tasks && topology.max_retries == 0 && job.tasks.iter().any(|t| !reach.contains(&t.name));
        if spreads { Expectation::Collateral } else { Expectation::LoudRestarted }
    }

    /// The same for a failure that recurs at every start until healed (a wrong path, a poison
    /// record). Where it is seen, its task exhausts its retries; a task that is not alone on its
    /// cluster then fails the run, and the new run restarts every other task too: collateral.
    pub fn of_persistent_query_failure(topology: &Topology, plan: &PipelinePlan, query: &str) -> Expectation {
        let job = plan.job(topology);
        match Self::of_query_failure(topology, plan, query) {
            Expectation::LoudRestarted if !job.isolated_tasks && job.tasks.len() > 1 => Expectation::Collateral,
            e => e,
        }
    }
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expectation::LoudRestarted => "LOUD+RESTARTED",
            Expectation::Silent => "SILENT",
            Expectation::Loss => "LOSS",
            Expectation::Collateral => "COLLATERAL",
            Expectation::Absorbed => "CLEAN",
        })
    }
}

/// What a fault is — everything but how it strikes — declared once, as a constant:
///
/// ```
/// use harness::fault::{Expect, FaultInfo, Scope};
/// const INFO: FaultInfo = FaultInfo::new("driver-crash", "the driver dies at once (SIGKILL)")
///     .strikes("the cluster of")
///     .scope(Scope::Cluster)
///     .fits_programs()
///     .expect(Expect::DriverLoss);
/// assert_eq!(INFO.name, "driver-crash");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultInfo {
    /// Its name (`concurrent-append`).
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// What of its target it strikes, for the report (`the cluster of`, `the sink of`): the
    /// target reads `the cluster of query resolver`.
    pub strikes: &'static str,
    /// How far it reaches by its nature.
    pub scope: Scope,
    /// True when it works on any program — on processes, the broker, storage, the data or the
    /// tables — not only on pipelines running on loudfail's engine (a failpoint inside a
    /// query, a query's own report, a catalog it reads at every batch).
    pub fits_programs: bool,
    /// Set for a fault that fits programs only: why it does not fit loudfail's engine
    /// pipelines, and the fault to choose for them instead. [`Fault::check`] refuses an engine
    /// pipeline with them.
    pub programs_only: Option<(&'static str, &'static str)>,
    /// True for a degradation a healthy pipeline is meant to ride out (broker latency,
    /// retriable request errors): when nothing fails because of it, it is no fault that went
    /// unnoticed but one absorbed, and the run is judged as if it had none — CLEAN, unless the
    /// world shows a stall, a loss or duplicates. When something does fail, it is judged like
    /// any other fault.
    pub absorbable: bool,
    /// True when its effect lasts until it is healed (a wrong catalog entry), so the job can
    /// only recover after the heal; false when it strikes once (a conflicting commit). A fault
    /// that ends on its own before the horizon (an outage) records its end with
    /// [`FaultCtx::healed`].
    pub persists_until_healed: bool,
    /// True when it acts on the broker itself (takes it down, slows or fails its answers,
    /// holds an answer): only the embedded broker can be made to, so a run with `--broker` (an
    /// external one) refuses it before it starts.
    pub acts_on_the_broker: bool,
    /// What each topology is expected to make of it.
    pub expect: Expect,
}

impl FaultInfo {
    /// A fault that strikes one query (`query resolver`): scope [`Scope::Query`], for
    /// loudfail's engine only, striking once, expected as a query's failure.
    pub const fn new(name: &'static str, about: &'static str) -> Self {
        FaultInfo {
            name,
            about,
            strikes: "",
            scope: Scope::Query,
            fits_programs: false,
            programs_only: None,
            absorbable: false,
            persists_until_healed: false,
            acts_on_the_broker: false,
            expect: Expect::QueryFailure,
        }
    }

    /// It acts on the broker itself, which only the embedded broker can be made to.
    pub const fn acts_on_the_broker(mut self) -> Self {
        self.acts_on_the_broker = true;
        self
    }

    /// What of its target it strikes (`the cluster of`).
    pub const fn strikes(mut self, what: &'static str) -> Self {
        self.strikes = what;
        self
    }

    /// How far it reaches.
    pub const fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// It works on any program.
    pub const fn fits_programs(mut self) -> Self {
        self.fits_programs = true;
        self
    }

    /// It fits programs only (`--pipeline-file`): `why` not loudfail's engine pipelines, and
    /// the fault to choose for them `instead`.
    pub const fn programs_only(mut self, why: &'static str, instead: &'static str) -> Self {
        self.fits_programs = true;
        self.programs_only = Some((why, instead));
        self
    }

    /// A healthy pipeline rides it out: expected CLEAN.
    pub const fn absorbable(mut self) -> Self {
        self.absorbable = true;
        self.expect = Expect::Always(Expectation::Absorbed);
        self
    }

    /// Its effect lasts until it is healed.
    pub const fn persists_until_healed(mut self) -> Self {
        self.persists_until_healed = true;
        self
    }

    /// What each topology is expected to make of it.
    pub const fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }
}

/// The rule a fault's expectation follows, applied to the query it aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The same in every layout.
    Always(Expectation),
    /// [`Expectation::of_query_failure`]: a query fails once, its driver alive.
    QueryFailure,
    /// [`Expectation::of_persistent_query_failure`]: a query fails at every start until healed.
    PersistentQueryFailure,
    /// [`Expectation::of_driver_loss`]: the query's driver is lost.
    DriverLoss,
}

impl Expect {
    /// What `topology` is expected to make of it on `plan` when it strikes `query` (None: the
    /// fault aims at no query it could find — the fault's check refuses such a plan).
    pub fn of(self, topology: &Topology, plan: &PipelinePlan, query: Option<&str>) -> Expectation {
        match (self, query) {
            (Expect::Always(e), _) => e,
            (_, None) => Expectation::LoudRestarted,
            (Expect::QueryFailure, Some(q)) => Expectation::of_query_failure(topology, plan, q),
            (Expect::PersistentQueryFailure, Some(q)) => Expectation::of_persistent_query_failure(topology, plan, q),
            (Expect::DriverLoss, Some(q)) => Expectation::of_driver_loss(topology, plan, q),
        }
    }
}

/// The query a fault aims at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Aim {
    /// The last query of the pipeline's last task (the resolver, inference).
    #[default]
    LastQuery,
    /// A query (or a program's flow) by name.
    Query(String),
    /// A service every query depends on (`the Kafka broker`, `the catalog`): the effect is the
    /// first query to fail; the pipeline needs one.
    Service(&'static str),
}

impl Aim {
    /// The query, by name.
    pub fn query(name: impl Into<String>) -> Aim {
        Aim::Query(name.into())
    }

    /// The query it aims at in `plan` (a service: the pipeline's first); a bad-input error
    /// naming `fault` when there is none.
    pub fn resolve(&self, fault: &str, plan: &PipelinePlan) -> Result<String> {
        let none = || {
            HarnessError::bad_input(
                "the pipeline has no queries",
                format!("{fault} needs a query to strike; give the pipeline one"),
            )
        };
        match self {
            Aim::Query(q) => plan.query(q).map(|q| q.name.clone()),
            Aim::LastQuery => plan.tasks.last().and_then(|t| t.queries.last()).cloned().ok_or_else(none),
            Aim::Service(_) => plan.queries.first().map(|q| q.name.clone()).ok_or_else(none),
        }
    }

    /// How a report names it.
    pub fn describe(&self) -> String {
        match self {
            Aim::LastQuery => "the pipeline's last query".into(),
            Aim::Query(q) => format!("query {q}"),
            Aim::Service(s) => (*s).into(),
        }
    }
}

/// A fault. What it is, is its [`FaultInfo`]; what it does, [`Fault::inject`], which hands
/// back its [`Heal`]. Faults hold no state of their own between the two: one value serves
/// any number of runs at once.
#[async_trait]
pub trait Fault: Send + Sync + Debug {
    /// What it is.
    fn info(&self) -> FaultInfo;

    /// The query it aims at (by default the pipeline's last).
    fn aim(&self) -> Aim {
        Aim::LastQuery
    }

    /// The query it strikes in `plan`, by default what [`Fault::aim`] resolves to.
    fn query(&self, plan: &PipelinePlan) -> Result<String> {
        self.aim().resolve(self.info().name, plan)
    }

    /// What it targets, for the report (`the cluster of query resolver`).
    fn target(&self) -> String {
        let (strikes, aim) = (self.info().strikes, self.aim());
        match aim {
            Aim::Service(_) => aim.describe(),
            _ if strikes.is_empty() => aim.describe(),
            _ => format!("{strikes} {}", aim.describe()),
        }
    }

    /// Checks that the pipeline has what the fault needs (a query, a writer, ...); by default
    /// that its query is there, and that it is a program when the fault fits programs only.
    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        self.query(plan)?;
        match self.info().programs_only {
            Some((why, instead)) if !plan.is_program() => Err(HarnessError::bad_input(
                format!("{} fits programs (--pipeline-file): {why}", self.name()),
                format!("choose {instead} for a reference pipeline"),
            )),
            _ => Ok(()),
        }
    }

    /// The memory limit clusters need for this fault to act (a driver that can run out).
    fn cluster_memory(&self) -> Option<u64> {
        None
    }

    /// What `topology` is expected to make of it on `plan` (where its target sits in the await
    /// order matters: see [`Expectation::of_query_failure`]); by default its info's rule.
    fn expectation(&self, topology: &Topology, plan: &PipelinePlan) -> Expectation {
        self.info().expect.of(topology, plan, self.query(plan).ok().as_deref())
    }

    /// Makes it happen. Returns once the fault has taken effect (recording
    /// [`Event::FaultEffect`]) with what undoes it, or fails with a harness error when it could
    /// not — having undone what it had done.
    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal>;

    /// Its name (`info().name`).
    fn name(&self) -> &'static str {
        self.info().name
    }
    /// One line for `--help` (`info().about`).
    fn about(&self) -> &'static str {
        self.info().about
    }
    /// How far it reaches (`info().scope`).
    fn scope(&self) -> Scope {
        self.info().scope
    }
    /// `info().fits_programs`.
    fn fits_programs(&self) -> bool {
        self.info().fits_programs
    }
    /// `info().absorbable`.
    fn absorbable(&self) -> bool {
        self.info().absorbable
    }
    /// `info().persists_until_healed`.
    fn persists_until_healed(&self) -> bool {
        self.info().persists_until_healed
    }
}

/// Any fault that finds its query through [`FaultCtx::query`], aimed at another query than its
/// own ([`Fault::aim`]): `Aimed::new(Arc::new(StorageReadOnly), Aim::query("ml"))`.
#[derive(Debug, Clone)]
pub struct Aimed {
    fault: Arc<dyn Fault>,
    aim: Aim,
}

impl Aimed {
    /// `fault`, aimed at `aim`.
    pub fn new(fault: Arc<dyn Fault>, aim: Aim) -> Self {
        Aimed { fault, aim }
    }
}

#[async_trait]
impl Fault for Aimed {
    fn info(&self) -> FaultInfo {
        self.fault.info()
    }

    fn aim(&self) -> Aim {
        self.aim.clone()
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        self.query(plan)?;
        self.fault.check(plan)
    }

    fn cluster_memory(&self) -> Option<u64> {
        self.fault.cluster_memory()
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        self.fault.inject(ctx).await
    }
}

/// What undoes a fault, handed back by [`Fault::inject`]; run at the heal (after the horizon).
/// A fault that struck once, or ended on its own, hands back [`Heal::nothing`].
pub struct Heal {
    what: String,
    undo: Option<UndoFn>,
}

type UndoFn =
    Box<dyn for<'c> FnOnce(&'c FaultCtx<'c>) -> futures::future::BoxFuture<'c, Result<()>> + Send + Sync + 'static>;

impl Debug for Heal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heal").field("what", &self.what).field("undo", &self.undo.is_some()).finish()
    }
}

impl Heal {
    /// Nothing to undo.
    pub fn nothing() -> Heal {
        Heal { what: String::new(), undo: None }
    }

    /// `undo`, described as `what` (`deployed the fix`), recorded as a phase when it is done.
    ///
    /// ```ignore
    /// Ok(Heal::by("the failpoint disarmed", move |ctx| Box::pin(async move { ctx.arm(&q, &fp, "off").await })))
    /// ```
    pub fn by<F>(what: impl Into<String>, undo: F) -> Heal
    where
        F: for<'c> FnOnce(&'c FaultCtx<'c>) -> futures::future::BoxFuture<'c, Result<()>> + Send + Sync + 'static,
    {
        Heal { what: what.into(), undo: Some(Box::new(undo)) }
    }

    /// Sends `signal` to `process` (SIGCONT to one a fault stopped); a process that is gone
    /// (the job replaced it) has nothing left to undo.
    pub fn signal(process: impl Into<String>, signal: crate::process::Signal) -> Heal {
        let process = process.into();
        Heal::by(format!("{signal} to {process}"), move |ctx| {
            Box::pin(async move { ctx.signal(&process, signal).await.map(drop) })
        })
    }

    /// Points `table` back at `location` in the catalog.
    pub fn repoint(table: impl Into<String>, location: std::path::PathBuf) -> Heal {
        let table = table.into();
        Heal::by(String::new(), move |ctx| Box::pin(async move { ctx.repoint(&table, &location) }))
    }

    /// Makes `dirs` writable again ([`crate::storage::thaw`]).
    pub fn thaw(dirs: Vec<std::path::PathBuf>) -> Heal {
        Heal::by(String::new(), move |ctx| {
            Box::pin(async move {
                for dir in dirs {
                    crate::storage::thaw(&dir)?;
                    ctx.record(Event::Phase { name: format!("writable again: {}", dir.display()) });
                }
                Ok(())
            })
        })
    }

    /// This heal when `outcome` is a success; else the fault undone at once (what it had done so
    /// far) and `outcome`'s error.
    pub async fn or_undo<T>(self, ctx: &FaultCtx<'_>, outcome: Result<T>) -> Result<Heal> {
        match outcome {
            Ok(_) => Ok(self),
            Err(e) => {
                if let Err(undo) = self.run(ctx).await {
                    ctx.record(Event::Phase { name: format!("{}: could not undo it: {undo}", ctx.fault.name()) });
                }
                Err(e)
            }
        }
    }

    /// Undoes the fault (recording what was done as a phase, when that is said).
    pub async fn run(self, ctx: &FaultCtx<'_>) -> Result<()> {
        let Some(undo) = self.undo else { return Ok(()) };
        undo(ctx).await?;
        if !self.what.is_empty() {
            ctx.record(Event::Phase { name: self.what });
        }
        Ok(())
    }
}

/// What a fault can reach while it runs.
#[derive(Debug)]
pub struct FaultCtx<'a> {
    pub(crate) fault: &'a dyn Fault,
    pub(crate) run_dir: &'a crate::rundir::RunDir,
    pub(crate) history: &'a History,
    pub(crate) supervisor: &'a Supervisor,
    pub(crate) workload: &'a Arc<dyn Workload>,
    pub(crate) plan: &'a PipelinePlan,
    pub(crate) job: &'a JobSpec,
    pub(crate) scale: TimeScale,
    pub(crate) timings: &'a Timings,
    pub(crate) broker: &'a crate::kafka::Broker,
}

impl FaultCtx<'_> {
    /// The fault it serves.
    pub fn fault(&self) -> &dyn Fault {
        self.fault
    }

    /// The query the fault strikes ([`Fault::query`]).
    pub fn query(&self) -> Result<String> {
        self.fault.query(self.plan)
    }

    /// The cluster that executes the query the fault strikes.
    pub fn cluster(&self) -> Result<String> {
        self.cluster_of(&self.query()?)
    }

    /// A fault error of the fault it serves: what went wrong.
    pub fn fail(&self, problem: impl Into<String>) -> HarnessError {
        HarnessError::Fault { fault: self.fault.name().into(), problem: problem.into() }
    }

    /// The history.
    pub fn history(&self) -> &History {
        self.history
    }

    /// Records an event.
    pub fn record(&self, event: Event) {
        self.history.record(event);
    }

    /// A position in the history to await events after.
    pub fn mark(&self) -> usize {
        self.history.len()
    }

    /// The pipeline's plan.
    pub fn plan(&self) -> &PipelinePlan {
        self.plan
    }

    /// The run directory (a fault may make places of its own inside it, never outside).
    pub fn run_dir(&self) -> &std::path::Path {
        self.run_dir.root()
    }

    /// The catalog as it is now.
    pub fn catalog(&self) -> Result<crate::catalog::Catalog> {
        crate::catalog::Catalog::load(&self.run_dir.catalog())
    }

    /// The table `query` writes and where the catalog places it now.
    pub fn sink_of(&self, query: &str) -> Result<(String, std::path::PathBuf)> {
        let table = self.plan.query(query)?.sink.clone();
        let location = self.catalog()?.location(&table)?;
        Ok((table, location))
    }

    /// Points `table` at `location` in the catalog (queries see it at their next batch).
    pub fn repoint(&self, table: &str, location: &std::path::Path) -> Result<()> {
        let mut catalog = self.catalog()?;
        catalog.tables.insert(table.to_string(), location.display().to_string());
        catalog.save(&self.run_dir.catalog())?;
        self.record(Event::Phase { name: format!("catalog: {table} -> {}", location.display()) });
        Ok(())
    }

    /// Awaits the exit of a cluster process after `since` (for a program, the task process
    /// that is its own driver). Returns when it died — the earliest sign of it: its exit, or a
    /// task noticing its driver gone, whichever was first — its signal, and whether it ran out
    /// of memory.
    pub async fn await_cluster_exit(&self, since: usize, cluster: &str) -> Result<ClusterDeath> {
        self.await_cluster_exit_within(since, cluster, self.reach_timeout()).await
    }

    /// [`FaultCtx::await_cluster_exit`], waiting at most `timeout`.
    pub async fn await_cluster_exit_within(
        &self,
        since: usize,
        cluster: &str,
        timeout: Duration,
    ) -> Result<ClusterDeath> {
        let what = format!("cluster {cluster} to exit");
        self.history
            .wait_for(since, timeout, &what, |r| match &r.event {
                Event::ProcessExited { name, .. } if name == cluster => Some(()),
                _ => None,
            })
            .await?;
        let records = self.history.snapshot();
        let mut death = ClusterDeath { at: i64::MAX, signal: None, out_of_memory: None };
        for r in &records[since..] {
            match &r.event {
                Event::ProcessExited { name, signal, .. } if name == cluster => {
                    death.at = death.at.min(r.at);
                    death.signal = *signal;
                }
                Event::DriverLost { cluster: c, .. } if c == cluster => death.at = death.at.min(r.at),
                Event::OutOfMemory { name, mechanism, .. } if name == cluster => death.out_of_memory = Some(*mechanism),
                _ => {}
            }
        }
        Ok(death)
    }

    /// The clusters that execute `query`.
    pub fn clusters_running(&self, query: &str) -> Vec<String> {
        self.job.clusters_of(query)
    }

    /// The cluster that executes `query`; a fault error when none does.
    pub fn cluster_of(&self, query: &str) -> Result<String> {
        self.clusters_running(query)
            .into_iter()
            .next()
            .ok_or_else(|| self.fail(format!("no cluster runs query {query}")))
    }

    /// Sends `signal` to `process` ([`FaultCtx::signal`]); one that is not running is a fault
    /// error.
    pub async fn strike(&self, process: &str, signal: crate::process::Signal) -> Result<Sent> {
        self.signal(process, signal)
            .await?
            .ok_or_else(|| self.fail(format!("{process} was not running when the fault struck")))
    }

    /// Sends a signal to a process of the current run (a cluster or a task, by name), recorded
    /// as [`Event::Signalled`]. Returns when and to which pid it went, or None when no such
    /// process is running (it ended, or the job is between runs).
    pub async fn signal(&self, process: &str, signal: crate::process::Signal) -> Result<Option<Sent>> {
        let mark = self.mark();
        match self.supervisor.signal(process, signal).await {
            Ok(pid) => {
                let at = self.history.snapshot()[mark..]
                    .iter()
                    .find(|r| matches!(&r.event, Event::Signalled { pid: p, .. } if *p == pid))
                    .map(|r| r.at)
                    .unwrap_or_else(crate::time::now_us);
                Ok(Some(Sent { pid, at }))
            }
            Err(HarnessError::Process { problem, .. }) if problem == crate::supervisor::NOT_RUNNING => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stops `process` (SIGSTOP to its group) the moment a writer starts a data file in the
    /// table at `location` — between the writer's read of its snapshot and its commit — from
    /// the thread the kernel wakes, without a round trip through the runtime. Returns the data
    /// file's name and when the process was stopped; recorded as [`Event::Signalled`]. Let it go
    /// with [`FaultCtx::signal`] and SIGCONT.
    pub async fn stop_at_next_write(&self, process: &str, location: &std::path::Path) -> Result<(String, Sent)> {
        let pid = self.supervisor.pid(process).await?.ok_or_else(|| HarnessError::Process {
            name: process.to_string(),
            problem: crate::supervisor::NOT_RUNNING.into(),
        })?;
        let stopped = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let at = stopped.clone();
        let file = crate::storage::await_data_file_then(location, self.reach_timeout(), move || {
            if crate::process::signal(pid, crate::process::Signal::SIGSTOP).is_ok() {
                at.store(crate::time::now_us(), std::sync::atomic::Ordering::SeqCst);
            }
        })
        .await?;
        let at = stopped.load(std::sync::atomic::Ordering::SeqCst);
        if at == 0 {
            return Err(HarnessError::Process { name: process.to_string(), problem: NOT_RUNNING.into() });
        }
        self.history.append(Record {
            at,
            event: Event::Signalled { name: process.to_string(), pid, signal: crate::process::Signal::SIGSTOP as i32 },
        });
        Ok((file, Sent { pid, at }))
    }

    /// Awaits a committed batch of `query` after `since`; returns when it was reported.
    pub async fn await_commit(&self, since: usize, query: &str) -> Result<i64> {
        let what = format!("query {query} to commit a batch");
        let (at, _) = self
            .history
            .wait_for(since, self.reach_timeout(), &what, |r| match &r.event {
                Event::BatchCommitted { query: q, skipped: false, .. } if q == query => Some(r.at),
                _ => None,
            })
            .await?;
        Ok(at)
    }

    /// Where `query` keeps its checkpoint (`offsets/`, `commits/`).
    pub fn checkpoint_dir(&self, query: &str) -> std::path::PathBuf {
        self.run_dir.checkpoint(query)
    }

    /// The real duration of a nominal interval.
    pub fn real(&self, nominal: Duration) -> Duration {
        self.scale.real(nominal)
    }

    /// Records that the fault has ended on its own (an outage that is over): the job's recovery
    /// is measured from here. The heal after the horizon then has nothing left to undo.
    pub fn healed(&self) {
        self.record(Event::FaultHealed { fault: self.fault.name().into() });
    }

    /// Waits until a nominal interval (on the run's time scale) has passed since `start`.
    pub async fn wait_nominal(&self, start: std::time::Instant, nominal: Duration) {
        self.wait_until(start + self.real(nominal)).await;
    }

    /// Waits until `instant` (real time).
    pub async fn wait_until(&self, instant: std::time::Instant) {
        tokio::time::sleep_until(instant.into()).await;
    }

    /// The run's nominal timings.
    pub fn timings(&self) -> &Timings {
        self.timings
    }

    /// How long a fault may wait for the pipeline to reach it: long enough for a few batches at
    /// any scale, never less than 10 s of real time.
    pub fn reach_timeout(&self) -> Duration {
        self.real(self.timings.trigger * 20).max(Duration::from_secs(10))
    }

    fn clusters_of(&self, query: &str) -> Result<Vec<String>> {
        let clusters = self.job.clusters_of(query);
        if clusters.is_empty() {
            return Err(HarnessError::bad_input(format!("no task runs query {query:?}"), "check the fault's target"));
        }
        Ok(clusters)
    }

    /// Arms a failpoint on every cluster that executes `query`.
    pub async fn arm(&self, query: &str, failpoint: &str, action: &str) -> Result<()> {
        crate::failpoint::parse_action(action)
            .map_err(|e| HarnessError::bad_input(e, "see the failpoint grammar in harness::failpoint"))?;
        for c in self.clusters_of(query)? {
            self.supervisor.control(&c, Control::Arm { name: failpoint.into(), action: action.into() }).await?;
        }
        Ok(())
    }

    /// Releases a paused failpoint on every cluster that executes `query`.
    pub async fn release(&self, query: &str, failpoint: &str) -> Result<()> {
        for c in self.clusters_of(query)? {
            self.supervisor.control(&c, Control::Release { name: failpoint.into() }).await?;
        }
        Ok(())
    }

    /// Awaits a `failpoint_hit` of `failpoint` recorded after `since`; returns its context.
    pub async fn await_failpoint(&self, since: usize, failpoint: &str) -> Result<serde_json::Value> {
        let what = format!("failpoint {failpoint} to be reached");
        let (ctx, _) = self
            .history
            .wait_for(since, self.reach_timeout(), &what, |r| match &r.event {
                Event::FailpointHit { name, context } if name == failpoint => Some(context.clone()),
                _ => None,
            })
            .await?;
        Ok(ctx)
    }

    /// Awaits the termination of `query` after `since`.
    pub async fn await_termination(&self, since: usize, query: &str) -> Result<Termination> {
        let what = format!("query {query} to terminate");
        let (t, _) = self.history.wait_for(since, self.reach_timeout(), &what, |r| Termination::of(r, query)).await?;
        Ok(t)
    }

    /// Awaits the failure of `query` after `since` and records it as `fault`'s effect: the
    /// query terminating with an error — of class `kind`, when one is given — or, for a
    /// program, the process running it exiting with anything but success. A query that ends
    /// otherwise is a fault error: `cause` (what the fault did), and how it ended instead.
    ///
    /// A failure that never shows within the fault's reach is no harness error: the program
    /// may swallow it or retry in place forever. The effect is then recorded at the injection
    /// (kind `Unseen`) and the run goes on, to be judged from the world at the horizon —
    /// SILENT, LOSS or whatever it shows.
    pub async fn await_failure(
        &self,
        since: usize,
        query: &str,
        kind: Option<ErrorKind>,
        cause: &str,
    ) -> Result<Termination> {
        let program = self.job.task_of(query).filter(|t| t.program.is_some()).map(|t| t.name.clone());
        let what = format!("query {query} to terminate");
        let ended = self
            .history
            .wait_for(since, self.reach_timeout(), &what, |r| match &r.event {
                Event::QueryTerminated { .. } => Termination::of(r, query),
                Event::ProcessExited { name, code, signal, .. }
                    if program.as_ref() == Some(name) && *code != Some(0) =>
                {
                    let how = crate::process::describe_exit(*code, *signal);
                    Some(Termination {
                        at: r.at,
                        error: Some(format!("{cause}: the program's task {name} ended ({how})")),
                        error_kind: Some(ErrorKind::ProcessExited),
                    })
                }
                _ => None,
            })
            .await;
        let ended = match ended {
            Ok((t, _)) => t,
            Err(HarnessError::Timeout { .. }) => {
                let at = self.injected_at(since);
                let error = format!("{cause}; no failure of query {query} showed (no report, no process ended)");
                self.effect(at, query, ErrorKind::Unseen, &error);
                return Ok(Termination { at, error: Some(error), error_kind: Some(ErrorKind::Unseen) });
            }
            Err(e) => return Err(e),
        };
        match (&ended.error, &ended.error_kind) {
            (Some(error), Some(k)) if *k == ErrorKind::ProcessExited || kind.as_ref().is_none_or(|want| want == k) => {
                self.effect(ended.at, query, k.clone(), error);
                Ok(ended)
            }
            (error, k) => Err(self.fail(format!(
                "{cause}, but query {query} ended with {}: {}{}",
                k.as_ref().map_or("no error class", ErrorKind::name),
                error.as_deref().unwrap_or("no error"),
                kind.as_ref().map(|w| format!(" instead of {w}")).unwrap_or_default()
            ))),
        }
    }

    /// When the fault was injected (its [`Event::FaultInjected`], the last before `before`).
    pub fn injected_at(&self, before: usize) -> i64 {
        let records = self.history.snapshot();
        records[..before.min(records.len())]
            .iter()
            .rev()
            .find(|r| matches!(&r.event, Event::FaultInjected { fault: f, .. } if f == self.fault.name()))
            .map_or_else(crate::time::now_us, |r| r.at)
    }

    /// Records that a fault took effect at `at` (when the error happened, not when the harness
    /// noticed: detection latency is measured from here).
    pub fn effect(&self, at: i64, query: &str, error_kind: ErrorKind, error: &str) {
        self.history.append(Record {
            at,
            event: Event::FaultEffect {
                fault: self.fault.name().into(),
                query: query.into(),
                error_kind,
                error: error.into(),
            },
        });
    }

    /// Asks the workload to send `oddity` down the source of the query that meets it (recorded
    /// as a phase of the history).
    pub async fn send(&self, oddity: crate::pipeline::Oddity) -> Result<crate::pipeline::Delivered> {
        let sent = self.workload.send(oddity).await?;
        self.record(Event::Phase { name: format!("sent {} to {}", sent.what, sent.stream) });
        Ok(sent)
    }

    /// Deploys the fix for `oddity`, as an operator ships new code: queries run it from their
    /// next start ([`crate::pipeline::PipelineEnv::deployed`]).
    pub fn deploy_fix(&self, oddity: crate::pipeline::Oddity) -> Result<()> {
        crate::pipeline::Deployments::deploy(self.run_dir.root(), oddity)?;
        self.record(Event::Phase { name: format!("deployed the fix: {}", oddity.fix()) });
        Ok(())
    }

    /// Takes the run's broker down (`up` false: it stops answering) or brings it back, recorded
    /// as a phase. Only the embedded broker can be.
    pub async fn set_broker_available(&self, up: bool) -> Result<()> {
        self.broker.set_available(up).await?;
        self.record(Event::Phase { name: if up { "broker up again".into() } else { "broker down".into() } });
        Ok(())
    }

    /// The run's broker, to degrade (record what you do to it as a phase).
    pub fn broker(&self) -> &crate::kafka::Broker {
        self.broker
    }

    /// Makes the run's broker refuse every consumer group's offset commits (with a retriable
    /// error) or accept them again, recorded as a phase. Only the embedded broker can be.
    pub async fn refuse_offset_commits(&self, refuse: bool) -> Result<()> {
        self.broker.refuse_offset_commits(refuse).await?;
        let name = if refuse { "broker refuses offset commits" } else { "broker accepts offset commits again" };
        self.record(Event::Phase { name: name.into() });
        Ok(())
    }

    /// Waits until a consumer group commits offsets on the embedded broker, at most `timeout`:
    /// the broker takes that commit at once and holds its answer for `hold`, so a consumer
    /// that waits for it is caught between its commit and whatever it does next. True once the
    /// commit came; false when none came in time (the broker then holds the answer to the
    /// next one, whenever it comes).
    pub async fn await_offset_commit(&self, hold: Duration, timeout: Duration) -> Result<bool> {
        self.broker.hold_next_offset_commit_answer(hold).await?;
        self.record(Event::Phase { name: "broker holds the answer to the next offset commit".into() });
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.broker.offset_commit_taken().await? {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(false)
    }

    /// The PID of a process of the run now (None when it is not running).
    pub async fn pid(&self, process: &str) -> Result<Option<u32>> {
        self.supervisor.pid(process).await
    }

    /// The task process that runs `query` when the pipeline is a program (it is its own
    /// driver), to strike with a signal.
    pub fn program_task_of(&self, query: &str) -> Option<String> {
        self.job.task_of(query).filter(|t| t.program.is_some()).map(|t| t.name.clone())
    }

    /// Charges `bytes` more to `cgroup` (a driver's) with a [`crate::memlimit::Balloon`], held
    /// until it is dropped.
    pub fn balloon(&self, cgroup: &std::path::Path, bytes: u64) -> Result<crate::memlimit::Balloon> {
        crate::memlimit::Balloon::inflate(self.supervisor.bin(), cgroup, bytes, self.run_dir.root())
    }

    /// For a program pipeline: the process that is the driver of `query` — the shared cluster
    /// its task is a client of (a Spark Connect server), or else the task itself. None on
    /// loudfail's engine.
    pub fn program_driver_of(&self, query: &str) -> Option<String> {
        let task = self.job.task_of(query).filter(|t| t.program.is_some())?;
        let shared = self.job.clusters.iter().any(|c| c.name == task.cluster && c.program.is_some());
        Some(if shared { task.cluster.clone() } else { task.name.clone() })
    }

    /// How long a query's Kafka source waits for the broker before it fails, in real time.
    pub fn source_timeout(&self) -> Duration {
        self.timings.source_timeout(self.scale)
    }

    /// The workload's concurrent writer of `table`.
    pub fn writer(&self, table: &str) -> Result<Arc<dyn ConcurrentWriter>> {
        self.workload.writer(table).ok_or_else(|| {
            HarnessError::bad_input(
                format!("the pipeline has no concurrent writer for table {table:?}"),
                "choose a fault the pipeline supports",
            )
        })
    }
}

/// How a cluster died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDeath {
    /// When (the earliest sign of it).
    pub at: i64,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// How it ran out of memory, if it did.
    pub out_of_memory: Option<crate::memlimit::Mechanism>,
}

/// A signal the harness sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// To which process.
    pub pid: u32,
    /// When (the run's clock).
    pub at: i64,
}

/// How a query ended, as its cluster reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    /// When (the cluster's clock, the run's one clock).
    pub at: i64,
    /// The error, when it failed.
    pub error: Option<String>,
    /// The error's class.
    pub error_kind: Option<ErrorKind>,
}

impl Termination {
    /// The termination of `query` that `record` holds, if it holds one.
    fn of(record: &Record, query: &str) -> Option<Termination> {
        match &record.event {
            Event::QueryTerminated { query: q, error, error_kind, .. } if q == query => {
                Some(Termination { at: record.at, error: error.clone(), error_kind: error_kind.clone() })
            }
            _ => None,
        }
    }
}

/// Faults by name.
pub type FaultCatalog = crate::named::Catalogue<dyn Fault>;

impl crate::named::Named for dyn Fault {
    const KIND: &'static str = "fault";
    const ALSO: &'static [&'static str] = &["none"];
    fn entry_name(&self) -> &'static str {
        self.name()
    }
}

impl FaultCatalog {
    /// A schedule of faults as a command line names it: each entry a fault's name, or
    /// `NAME@GAP` to inject it GAP (nominal: `30s`, `2m`, `1m30s`) after the previous one took
    /// effect; entries may also be comma-separated. `none` alone is the fault-free baseline
    /// (an empty schedule). An unknown name or a bad gap is bad input naming the fix.
    pub fn schedule<S: AsRef<str>>(&self, entries: &[S]) -> Result<Vec<(std::time::Duration, Arc<dyn Fault>)>> {
        let entries: Vec<&str> =
            entries.iter().flat_map(|e| e.as_ref().split(',')).map(str::trim).filter(|e| !e.is_empty()).collect();
        if entries == ["none"] {
            return Ok(Vec::new());
        }
        entries
            .iter()
            .map(|entry| {
                let (name, gap) = match entry.split_once('@') {
                    None => (*entry, std::time::Duration::ZERO),
                    Some((name, gap)) => (
                        name,
                        crate::time::parse_human(gap).ok_or_else(|| {
                            HarnessError::bad_input(
                                format!("fault {entry:?}: {gap:?} is not a duration"),
                                "write the wait after @ like 30s, 2m or 1m30s (nominal time)",
                            )
                        })?,
                    ),
                };
                if name == "none" {
                    return Err(HarnessError::bad_input(
                        "`none` is a fault-free run: it cannot be part of a schedule",
                        "name `none` alone, or only real faults",
                    ));
                }
                Ok((gap, self.get(name)?))
            })
            .collect()
    }
}
