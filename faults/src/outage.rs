//! What the outages of a service every query depends on (the catalog, the broker) share: the
//! service goes away, the first query that fails for it is the fault's effect, and the outage
//! lasts its time. The fault then brings the service back — whatever happened meanwhile, a
//! harness error included — and records its own end ([`FaultCtx::healed`]), from which the job's
//! recovery is measured.

use harness::Result;
use harness::fault::FaultCtx;
use harness::history::Event;
use std::time::{Duration, Instant};

/// Awaits the first query that fails with `kind` after `mark` (the fault's effect), then the
/// rest of the outage: until `lasting` has passed since `started`.
pub async fn ride_out(
    ctx: &FaultCtx<'_>,
    fault: &str,
    kind: &str,
    mark: usize,
    started: Instant,
    lasting: Duration,
) -> Result<()> {
    let what = format!("a query to fail with {kind} during the outage");
    let ((at, query, error), _) = ctx
        .history()
        .wait_for(mark, ctx.reach_timeout().max(lasting), &what, |r| match &r.event {
            Event::QueryTerminated { query, error: Some(error), error_kind: Some(k), .. } if k == kind => {
                Some((r.at, query.clone(), error.clone()))
            }
            _ => None,
        })
        .await?;
    ctx.effect(at, fault, &query, kind, &error);
    ctx.wait_until(started + lasting).await;
    Ok(())
}
