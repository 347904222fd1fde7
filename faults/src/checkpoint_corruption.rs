//! `checkpoint-corruption`: the driver dies while a query writes its `offsets/` entry, and the
//! entry is left torn — half a JSON document.
//!
//! Made real in three steps: the query is held at the start of its next batch (failpoint
//! `<query>.batch`, just after it planned the batch), its newest `offsets/<batch>` is cut in half,
//! and its cluster is killed (SIGKILL). The crash is loud; the harm comes after it: every time
//! the query starts again it reads the torn entry and fails (`Checkpoint`), until the heal does
//! what Spark's documentation tells an operator to do — delete the damaged entry — and the batch
//! is planned afresh from the last commit. The sink's `txn` keeps that replay exactly-once.
//!
//! Under `await each` the restarted query's failure is silent unless it is the first one
//! awaited: the new run says RUNNING with the query dead.

use harness::fault::{ErrorKind, Expect, Fault, FaultCtx, FaultInfo, Heal, Scope};
use harness::history::Event;
use harness::process::Signal;
use harness::{HarnessError, Result, async_trait};

/// The fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckpointCorruption;

// The crash takes the cluster (its scope); what follows is the torn query failing alone at
// every start, so the new run is silent where its task awaits another query first.
const INFO: FaultInfo = FaultInfo::new(
    "checkpoint-corruption",
    "the driver dies mid-write and leaves a query's offsets entry torn; the query fails at every start until it is deleted",
)
.strikes("the checkpoint of")
.scope(Scope::Cluster)
.persists_until_healed()
.expect(Expect::QueryFailure);

const KIND: ErrorKind = ErrorKind::Checkpoint;

#[async_trait]
impl Fault for CheckpointCorruption {
    fn info(&self) -> FaultInfo {
        INFO
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, cluster, mark) = (ctx.query()?, ctx.cluster()?, ctx.mark());
        let failpoint = format!("{query}.batch");
        ctx.arm(&query, &failpoint, "1*pause").await?;
        let hit = ctx.await_failpoint(mark, &failpoint).await?;
        let batch = hit
            .get("batch")
            .and_then(|b| b.as_i64())
            .ok_or_else(|| ctx.fail(format!("failpoint {failpoint} did not say which batch: {hit}")))?;
        // A torn write: the first half of the entry the query just planned.
        let entry = ctx.checkpoint_dir(&query).join("offsets").join(batch.to_string());
        let whole = std::fs::read(&entry).map_err(|e| HarnessError::io(&entry, e))?;
        std::fs::write(&entry, &whole[..whole.len() / 2]).map_err(|e| HarnessError::io(&entry, e))?;
        ctx.record(Event::Phase { name: format!("tore {}", entry.display()) });
        // What Spark's documentation tells an operator to do.
        let heal = Heal::by(format!("deleted the torn {}", entry.display()), move |_| {
            Box::pin(async move {
                match std::fs::remove_file(&entry) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HarnessError::io(&entry, e)),
                    _ => Ok(()),
                }
            })
        });
        let harm =
            async {
                ctx.strike(&cluster, Signal::SIGKILL).await?;
                // The harm: the query's next start reads the torn entry.
                let what = format!("{query} to fail on its torn checkpoint");
                let ((at, error), _) =
                    ctx.history()
                        .wait_for(mark, ctx.reach_timeout(), &what, |r| match &r.event {
                            harness::Event::QueryTerminated {
                                query: q, error: Some(e), error_kind: Some(k), ..
                            } if *q == query && *k == KIND => Some((r.at, e.clone())),
                            _ => None,
                        })
                        .await?;
                ctx.effect(at, &query, KIND, &error);
                Ok(())
            };
        let outcome = harm.await;
        heal.or_undo(ctx, outcome).await
    }
}
