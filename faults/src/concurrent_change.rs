//! `concurrent-metadata-change`: another job changes the sink table's metadata (sets a table
//! property, as an `ALTER TABLE ... SET TBLPROPERTIES` does) between a writer's read of its
//! snapshot and its commit. Delta's conflict check refuses the writer's commit
//! (`CommitConflictError::MetadataChanged`, delta-rs's own): one write fails, the next one
//! succeeds. A transient write failure, on any writer: a pipeline that fails loudly and replays
//! loses nothing; one that swallows the error and moves on loses the batch for good.
//!
//! Made real from the outside: the kernel says (inotify) when a writer starts a data file in the
//! table's directory — it has read its snapshot and not committed — and its process is stopped
//! (SIGSTOP) while the other job commits, then let go (SIGCONT). A writer that committed before
//! it could be stopped is let go and caught at its next batch.

use harness::fault::{Fault, FaultCtx, FaultInfo, Heal};
use harness::history::Event;
use harness::process::Signal;
use harness::{Result, async_trait};

/// The fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConcurrentMetadataChange;

const INFO: FaultInfo = FaultInfo::new(
    "concurrent-metadata-change",
    "another job changes the sink's table properties between a writer's read and its commit: one commit fails",
)
.strikes("the sink of")
.fits_programs();

/// How many batches the fault tries to catch between their read and their commit.
const ATTEMPTS: usize = 10;

#[async_trait]
impl Fault for ConcurrentMetadataChange {
    fn info(&self) -> FaultInfo {
        INFO
    }

    async fn inject(&self, ctx: &FaultCtx<'_>) -> Result<Heal> {
        let (query, cluster) = (ctx.query()?, ctx.cluster()?);
        let (table, location) = ctx.sink_of(&query)?;
        let url = ctx.catalog()?.url(&table)?;
        for attempt in 1..=ATTEMPTS {
            let mark = ctx.mark();
            let (file, _) = ctx.stop_at_next_write(&cluster, &location).await?;
            // Between its read and its commit, unless it was quicker than the kernel.
            let changed = async {
                let t = harness::deltalake::open_table(url.clone()).await?;
                if t.get_file_uris()?.any(|u| u.ends_with(&file)) {
                    return Ok::<_, harness::deltalake::DeltaTableError>(None);
                }
                let properties = std::collections::HashMap::from([(
                    "delta.logRetentionDuration".to_string(),
                    format!("interval {} days", 30 + attempt),
                )]);
                let t = t.set_tbl_properties().with_properties(properties).with_raise_if_not_exists(false).await?;
                // Where the query's `txn` stands at the change, while it is stopped.
                let before = t.snapshot()?.transaction_version(t.log_store().as_ref(), &query).await?;
                Ok(t.version().map(|v| (v, before)))
            }
            .await;
            ctx.signal(&cluster, Signal::SIGCONT).await?;
            let (version, before) = match changed {
                Ok(None) => continue,
                Ok(Some(changed)) => changed,
                Err(e) => return Err(ctx.fail(format!("changing {table}: {e}"))),
            };
            let name =
                format!("another job set a property of {table} (version {version}) while {file} was being written");
            ctx.record(Event::Phase { name });
            let cause = format!("{table}'s metadata changed under a write in flight");
            // The file may have been another writer's (a job of the workload's own): then the
            // query reads after the change and commits — its `txn` in the log moves past where
            // it stood — and this attempt caught nothing. A writer without a `txn` is awaited.
            let missed = async {
                match before {
                    Some(before) => committed_past(&location, &url, &query, before, ctx.reach_timeout()).await,
                    None => std::future::pending().await,
                }
            };
            let failed = tokio::select! {
                failed = ctx.await_failure(mark, &query, None, &cause) => Some(failed),
                () = missed => None,
            };
            match failed {
                // It struck once.
                Some(failed) => {
                    failed?;
                    return Ok(Heal::nothing());
                }
                None => ctx.record(Event::Phase {
                    name: format!("{query} committed past the change: the write caught was another writer's"),
                }),
            }
        }
        Err(ctx.fail(format!("{ATTEMPTS} writes of {table} committed before they could be caught in flight")))
    }
}

/// The newest `txn` version `app` committed to the table at `url`, if it commits with one.
async fn txn(url: &url::Url, app: &str) -> Option<i64> {
    let t = harness::deltalake::open_table(url.clone()).await.ok()?;
    t.snapshot().ok()?.transaction_version(t.log_store().as_ref(), app).await.ok().flatten()
}

/// Returns once the table's log shows `app` committed past `before`; never, within `reach`,
/// otherwise.
async fn committed_past(
    location: &std::path::Path,
    url: &url::Url,
    app: &str,
    before: i64,
    reach: std::time::Duration,
) {
    let deadline = tokio::time::Instant::now() + reach;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() || harness::storage::await_commit(location, left).await.is_err() {
            return std::future::pending().await;
        }
        if txn(url, app).await.is_some_and(|v| v > before) {
            return;
        }
    }
}
