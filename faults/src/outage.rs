//! What the faults share in finding their effect. The outages of a service every query depends
//! on (the catalog, the broker): the service goes away, the first query that fails for it is
//! the fault's effect, and the outage lasts its time. The fault then brings the service back —
//! whatever happened meanwhile, a harness error included — and records its own end
//! ([`FaultCtx::healed`]), from which the job's recovery is measured. And the faults a healthy
//! pipeline may ride out, whose effect is the first failure the world shows, if any.

use harness::Result;
use harness::fault::{ErrorKind, FaultCtx};
use harness::history::Event;
use std::time::{Duration, Instant};

/// Awaits the first query that fails with `kind` after `mark` (the fault's effect), then the
/// rest of the outage: until `lasting` has passed since `started`.
pub async fn ride_out(
    ctx: &FaultCtx<'_>,
    kind: ErrorKind,
    mark: usize,
    started: Instant,
    lasting: Duration,
) -> Result<()> {
    let what = format!("a query to fail with {kind} during the outage");
    let ((at, query, error), _) = ctx
        .history()
        .wait_for(mark, ctx.reach_timeout().max(lasting), &what, |r| match &r.event {
            Event::QueryTerminated { query, error: Some(error), error_kind: Some(k), .. } if *k == kind => {
                Some((r.at, query.clone(), error.clone()))
            }
            _ => None,
        })
        .await?;
    ctx.effect(at, &query, kind, &error);
    ctx.wait_until(started + lasting).await;
    Ok(())
}

/// Records the fault's effect: the first query that fails, or program task that exits
/// non-zero, after `mark` and within `within`; when nothing does, the fault itself, `Unseen` at
/// its injection on `query` (judged from the world at the horizon), said as `unseen`.
pub async fn effect_within(ctx: &FaultCtx<'_>, mark: usize, within: Duration, query: &str, unseen: &str) {
    match first_failure(ctx, mark, within, query).await {
        Some((at, query, kind, error)) => ctx.effect(at, &query, kind, &error),
        None => ctx.effect(ctx.injected_at(mark), query, ErrorKind::Unseen, unseen),
    }
}

/// The first query that fails, or program task that exits non-zero, after `mark` and within
/// `within`: `(when, its query, the error's class, the error)`; a program's exit is `target`'s
/// failure when the program runs it. None when nothing does.
async fn first_failure(
    ctx: &FaultCtx<'_>,
    mark: usize,
    within: Duration,
    target: &str,
) -> Option<(i64, String, ErrorKind, String)> {
    let programs: Vec<String> = ctx.plan().queries.iter().filter_map(|q| ctx.program_task_of(&q.name)).collect();
    ctx.history()
        .wait_for(mark, within, "a query to fail", |r| match &r.event {
            Event::QueryTerminated { query, error: Some(error), error_kind, .. } => {
                // A failure reported without a class is seen all the same: never `Unseen`, which
                // the oracles read as a fault nothing showed.
                let kind = error_kind.clone().unwrap_or_else(|| ErrorKind::Other(String::new()));
                Some((r.at, query.clone(), kind, error.clone()))
            }
            Event::ProcessExited { name, code, .. } if programs.contains(name) && *code != Some(0) => {
                let queries = &ctx.plan().tasks.iter().find(|t| &t.name == name)?.queries;
                let query = queries.iter().find(|q| *q == target).or(queries.first())?.clone();
                Some((r.at, query, ErrorKind::ProcessExited, format!("task {name} ended while the fault held")))
            }
            _ => None,
        })
        .await
        .ok()
        .map(|(found, _)| found)
}
