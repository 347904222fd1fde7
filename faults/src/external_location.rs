//! `external-location-mismatch`: the catalog entry for a table points at location A while its
//! data sits at B (incident 2). It shows up two ways, and each is a fault of its own:
//!
//! | fault | A is | what happens |
//! |---|---|---|
//! | `external-location-mismatch` | a place no table can be (its parent is a file) | the query's write fails at its next batch, and keeps failing until the entry is fixed |
//! | `external-location-mismatch-quiet` | an empty place | the query creates a fresh table at A (as `saveAsTable` does) and commits there: records land where no reader looks, and nothing fails |
//!
//! Both last until healed (the entry is pointed back at B). The quiet one must come out as
//! what it is: records missing from the table the catalog names.

use harness::fault::{Aim, ErrorKind, Expect, Expectation, Fault, FaultCtx, FaultInfo, Heal};
use harness::history::Event;
use harness::pipeline::PipelinePlan;
use harness::{HarnessError, Result, async_trait};
use std::path::PathBuf;

/// How the wrong location shows up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The write fails.
    Fails,
    /// A fresh table is created at the wrong location and written to.
    Quiet,
}

/// The fault.
#[derive(Debug, Clone)]
pub struct ExternalLocationMismatch {
    /// Which way it shows up.
    pub variant: Variant,
    /// The table whose entry is wrong.
    pub table: String,
    /// The query writing it.
    pub query: String,
}

// Retrying while RUNNING, then loud; on a shared cluster, past its retries the task fails the
// run, and the new run restarts the other task too: the failure spreads.
const FAILS: FaultInfo = FaultInfo::new(
    "external-location-mismatch",
    "the catalog points inference's output table at a location where no table can be; its writes fail",
)
.strikes("the catalog entry of")
.fits_programs()
.persists_until_healed()
.expect(Expect::PersistentQueryFailure);

const QUIET: FaultInfo = FaultInfo {
    name: "external-location-mismatch-quiet",
    about: "the catalog points inference's output table at an empty location; a fresh table is created there and written to",
    ..FAILS.expect(Expect::Always(Expectation::Loss))
};

impl ExternalLocationMismatch {
    /// The fault on `features-inference`'s output table.
    pub fn new(variant: Variant) -> Self {
        ExternalLocationMismatch { variant, table: "predictions".into(), query: "inference".into() }
    }
}

#[async_trait]
impl Fault for ExternalLocationMismatch {
    fn info(&self) -> FaultInfo {
        match self.variant {
            Variant::Fails => FAILS,
            Variant::Quiet => QUIET,
        }
    }

    fn aim(&self) -> Aim {
        Aim::query(&self.query)
    }

    fn check(&self, plan: &PipelinePlan) -> Result<()> {
        let fix = "external-location-mismatch needs a flow named inference writing table predictions, resolved through the catalog: --pipeline features-inference or spark-features-inference";
        let q = plan.query(&self.query).map_err(|_| {
            HarnessError::bad_input(format!("the pipeline has no query or flow named {}", self.query), fix)
        })?;
        if q.sink != self.table {
            return Err(HarnessError::bad_input(
                format!("query {} writes {}, not {}", self.query, q.sink, self.table),
                fix,
            ));
        }
        if let Some(program) = &plan.program
            && !program.spec.task_says(&self.query, "{catalog}")
        {
            return Err(HarnessError::bad_input(
                format!(
                    "the task running flow {} is not given the catalog ({{catalog}} appears nowhere in its command or env): a moved catalog entry would never reach it",
                    self.query
                ),
                "pass {catalog} to the task and resolve the table through it at every batch, as examples/spark/features_inference.py does",
            ));
        }
        Ok(())
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let before = ctx.catalog()?.location(&self.table)?;
        let elsewhere = ctx.run_dir().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).map_err(|e| HarnessError::io(&elsewhere, e))?;
        let a: PathBuf = match self.variant {
            Variant::Fails => {
                let blocker = elsewhere.join("not-a-directory");
                std::fs::write(&blocker, "a file where the external location's directory should be\n")
                    .map_err(|e| HarnessError::io(&blocker, e))?;
                blocker.join(&self.table)
            }
            Variant::Quiet => elsewhere.join(&self.table),
        };
        let mark = ctx.mark();
        ctx.repoint(&self.table, &a)?;
        let heal = Heal::repoint(&self.table, before.clone());
        let wrote_elsewhere = format!(
            "{} created a fresh table at {} and committed to it; {} at {} never sees it",
            self.query,
            a.display(),
            self.table,
            before.display()
        );
        let outcome = match self.variant {
            Variant::Fails => {
                let cause = format!("its table moved to {}", a.display());
                ctx.await_failure(mark, &self.query, None, &cause).await.map(drop)
            }
            Variant::Quiet if ctx.plan().is_program() => {
                self.first_commit_on_disk(ctx, &a, &wrote_elsewhere).await;
                Ok(())
            }
            Variant::Quiet => self.first_commit_reported(ctx, mark, &a, &wrote_elsewhere).await,
        };
        heal.or_undo(ctx, outcome).await
    }
}

impl ExternalLocationMismatch {
    /// A program tells nothing of its batches: the fresh table's first commit at `a`, on disk,
    /// is the effect (when it was written: its file's time).
    async fn first_commit_on_disk(&self, ctx: &FaultCtx<'_>, a: &std::path::Path, wrote_elsewhere: &str) {
        let first = a.join("_delta_log").join(format!("{:020}.json", 0));
        let deadline = std::time::Instant::now() + ctx.reach_timeout();
        loop {
            if let Ok(meta) = std::fs::metadata(&first) {
                let at = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                let at = at.map_or_else(harness::time::now_us, |d| d.as_micros() as i64);
                return ctx.effect(at, &self.query, ErrorKind::WroteElsewhere, wrote_elsewhere);
            }
            if std::time::Instant::now() >= deadline {
                let what = format!(
                    "no table appeared at {} within {:?}: {} does not follow the catalog entry",
                    a.display(),
                    ctx.reach_timeout(),
                    self.query
                );
                return ctx.effect(harness::time::now_us(), &self.query, ErrorKind::Unseen, &what);
            }
            // The world is sampled, as the observer samples it.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A batch in flight when the entry changed resolved its sink before: its commit lands at
    /// the old place. The first commit after which a table stands at `a` is the fault's effect.
    async fn first_commit_reported(
        &self,
        ctx: &FaultCtx<'_>,
        mark: usize,
        a: &std::path::Path,
        wrote_elsewhere: &str,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + ctx.reach_timeout();
        let mut since = mark;
        let at = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let what = format!("{} to commit a batch at {}", self.query, a.display());
            let (at, next) = ctx
                .history()
                .wait_for(since, left, &what, |r| match &r.event {
                    Event::BatchCommitted { query, skipped: false, .. } if *query == self.query => Some(r.at),
                    _ => None,
                })
                .await?;
            if a.join("_delta_log").is_dir() {
                break at;
            }
            since = next;
        };
        ctx.effect(at, &self.query, ErrorKind::WroteElsewhere, wrote_elsewhere);
        Ok(())
    }
}
