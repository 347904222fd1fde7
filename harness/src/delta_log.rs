//! A Delta table's log, read the cheap way where it can be: its commit files, each once.
//!
//! Three readers need the same few facts of a sink — its version, the `txn` each writer
//! recorded, the data files live in it — and need them often: the engine before every batch
//! (has this batch committed already?), the observer at every sample, the audit at the end.
//! Replaying the log through delta-rs at each look costs more with every commit (a JSON parse of
//! the whole log, and arrow on top). A [`LogTail`] reads each commit file once, in order; a
//! commit file appears whole (Delta commits by an atomic create), so what it has read stays
//! true. Where the log cannot be read this way — its first commits cleaned up behind a
//! checkpoint, a data file with a deletion vector, a table that is not on local disk — a
//! [`TableLog`] reads it through delta-rs instead, and says the same.

use crate::error::{HarnessError, Result};
use deltalake::DeltaTable;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A Delta log on local disk read incrementally: the commits written since the last read, and
/// no other.
#[derive(Debug)]
pub struct LogTail {
    root: url::Url,
    log: PathBuf,
    version: i64,
    txns: BTreeMap<String, i64>,
    files: BTreeSet<PathBuf>,
}

impl LogTail {
    /// The log of the table at `location` (an absolute path), nothing read yet.
    pub fn new(location: &Path) -> LogTail {
        LogTail {
            root: url::Url::from_directory_path(location)
                .unwrap_or_else(|()| url::Url::parse("file:///").expect("a url")),
            log: location.join("_delta_log"),
            version: -1,
            txns: BTreeMap::new(),
            files: BTreeSet::new(),
        }
    }

    /// Reads the commits written since the last read. An error when the log cannot be read
    /// this way (the caller reads it through delta-rs instead); what was read before stays.
    pub fn advance(&mut self) -> std::io::Result<()> {
        let unreadable = |why: String| std::io::Error::other(why);
        loop {
            let next = self.log.join(format!("{:020}.json", self.version + 1));
            let text = match std::fs::read_to_string(&next) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if self.version < 0 && self.log.join("_last_checkpoint").exists() {
                        return Err(unreadable("its first commits were cleaned up behind a checkpoint".into()));
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            // Applied only once the whole commit is understood.
            let (mut txns, mut added, mut removed) = (Vec::new(), Vec::new(), Vec::new());
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let action: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| unreadable(format!("commit {} does not parse: {e}", next.display())))?;
                if let Some(txn) = action.get("txn") {
                    if let (Some(app), Some(v)) = (txn.get("appId").and_then(|a| a.as_str()), txn.get("version")) {
                        txns.push((app.to_string(), v.as_i64().unwrap_or(-1)));
                    }
                } else if let Some(add) = action.get("add") {
                    if add.get("deletionVector").is_some_and(|d| !d.is_null()) {
                        return Err(unreadable(format!(
                            "commit {} adds a file with a deletion vector",
                            next.display()
                        )));
                    }
                    added.push(self.file(add)?);
                } else if let Some(remove) = action.get("remove") {
                    removed.push(self.file(remove)?);
                }
            }
            self.txns.extend(txns);
            for f in removed {
                self.files.remove(&f);
            }
            self.files.extend(added);
            self.version += 1;
        }
    }

    /// Where an add or remove action's file is: its `path` is a URI, relative to the table's
    /// root unless absolute (percent-encoded either way).
    fn file(&self, action: &serde_json::Value) -> std::io::Result<PathBuf> {
        let path = action.get("path").and_then(|p| p.as_str()).unwrap_or_default();
        self.root
            .join(path)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .ok_or_else(|| std::io::Error::other(format!("data file {path:?} is not on local disk")))
    }

    /// The newest version read (-1: no commit yet).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The newest `txn` version of `app_id` read.
    pub fn txn(&self, app_id: &str) -> Option<i64> {
        self.txns.get(app_id).copied()
    }

    /// The data files live at the newest version read.
    pub fn files(&self) -> &BTreeSet<PathBuf> {
        &self.files
    }
}

/// A table's log, kept up to date one look at a time: by its commit files where they can be
/// read that way, else through delta-rs.
#[derive(Debug)]
pub enum TableLog {
    /// Each commit file read once.
    Tail(LogTail),
    /// delta-rs's own replay.
    Table(Box<DeltaTable>),
}

impl TableLog {
    /// The log of the table at `location`, read up to now; `None` while no table is there
    /// (nothing committed yet).
    pub async fn open(location: &Path) -> Result<Option<TableLog>> {
        if !location.join("_delta_log").is_dir() {
            return Ok(None);
        }
        let mut tail = LogTail::new(location);
        match tail.advance() {
            Ok(()) if tail.version() >= 0 => return Ok(Some(TableLog::Tail(tail))),
            Ok(()) => return Ok(None),
            Err(_) => {}
        }
        let url = url::Url::from_directory_path(location).map_err(|()| {
            HarnessError::bad_input(
                format!("table location {} is not an absolute path", location.display()),
                "give every table an absolute location",
            )
        })?;
        match deltalake::open_table(url).await {
            Ok(t) => Ok(Some(TableLog::Table(Box::new(t)))),
            // A log directory without a first commit.
            Err(deltalake::DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads what was committed since the last look. A tail that can no longer be read its way
    /// (a commit with a deletion vector) goes on through delta-rs.
    pub async fn update(&mut self) -> Result<()> {
        match self {
            TableLog::Tail(tail) => {
                if tail.advance().is_err() {
                    let location = tail.log.parent().expect("a log has a table").to_path_buf();
                    let url = tail.root.clone();
                    let table = deltalake::open_table(url).await.map_err(|e| HarnessError::Check {
                        what: format!("the table at {}", location.display()),
                        problem: e.to_string(),
                    })?;
                    *self = TableLog::Table(Box::new(table));
                }
            }
            TableLog::Table(t) => t.update_incremental(None).await?,
        }
        Ok(())
    }

    /// The newest version read (-1: none).
    pub fn version(&self) -> i64 {
        match self {
            TableLog::Tail(tail) => tail.version(),
            TableLog::Table(t) => t.version().map_or(-1, |v| v as i64),
        }
    }

    /// The newest `txn` version of `app_id`.
    pub async fn txn(&self, app_id: &str) -> Result<Option<i64>> {
        match self {
            TableLog::Tail(tail) => Ok(tail.txn(app_id)),
            TableLog::Table(t) => Ok(t.snapshot()?.transaction_version(t.log_store().as_ref(), app_id).await?),
        }
    }

    /// The data files live at the newest version read.
    pub fn files(&self) -> Result<BTreeSet<PathBuf>> {
        match self {
            TableLog::Tail(tail) => Ok(tail.files().clone()),
            TableLog::Table(t) => t.get_file_uris()?.map(|uri| file_path(&uri)).collect(),
        }
    }
}

/// A data file's path, from the URI delta-rs gives it.
fn file_path(uri: &str) -> Result<PathBuf> {
    if let Ok(url) = url::Url::parse(uri)
        && let Ok(p) = url.to_file_path()
    {
        return Ok(p);
    }
    Ok(PathBuf::from(uri))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::kernel::Transaction;
    use deltalake::kernel::transaction::CommitProperties;
    use deltalake::protocol::SaveMode;
    use std::sync::Arc;

    fn rows(ids: &[i64], part: &str) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("part", DataType::Utf8, true),
        ]));
        let parts: Vec<&str> = ids.iter().map(|_| part).collect();
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids.to_vec())), Arc::new(StringArray::from(parts))])
            .unwrap()
    }

    async fn write(location: &Path, ids: &[i64], part: &str, mode: SaveMode, txn: Option<(&str, i64)>) {
        let url = url::Url::from_directory_path(location).unwrap();
        let table = match deltalake::open_table(url.clone()).await {
            Ok(t) => t,
            Err(_) => deltalake::DeltaTableBuilder::from_url(url).unwrap().build().unwrap(),
        };
        let mut props = CommitProperties::default();
        if let Some((app, v)) = txn {
            props = props.with_application_transaction(Transaction::new(app, v));
        }
        table
            .write(vec![rows(ids, part)])
            .with_save_mode(mode)
            .with_partition_columns(["part"])
            .with_commit_properties(props)
            .await
            .unwrap();
    }

    /// What delta-rs itself says of the table: version, live files, a writer's txn.
    async fn truth(location: &Path, app: &str) -> (i64, BTreeSet<PathBuf>, Option<i64>) {
        let t = deltalake::open_table(url::Url::from_directory_path(location).unwrap()).await.unwrap();
        let files = t.get_file_uris().unwrap().map(|u| file_path(&u).unwrap()).collect();
        let txn = t.snapshot().unwrap().transaction_version(t.log_store().as_ref(), app).await.unwrap();
        (t.version().unwrap() as i64, files, txn)
    }

    async fn seen(log: &TableLog, app: &str) -> (i64, BTreeSet<PathBuf>, Option<i64>) {
        (log.version(), log.files().unwrap(), log.txn(app).await.unwrap())
    }

    #[tokio::test]
    async fn the_tail_says_what_delta_rs_says_and_a_cleaned_up_log_is_read_through_delta_rs() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        assert!(TableLog::open(&dir).await.unwrap().is_none(), "no table yet");
        write(&dir, &[1, 2], "a b", SaveMode::Append, Some(("q", 0))).await;
        let mut log = TableLog::open(&dir).await.unwrap().expect("a table");
        assert!(matches!(log, TableLog::Tail(_)), "a whole log is read by its commit files");
        assert_eq!(seen(&log, "q").await, truth(&dir, "q").await);
        // Appends, a partition value that must be percent-decoded, and an overwrite that
        // removes every file before it.
        write(&dir, &[3], "c/d%e", SaveMode::Append, Some(("q", 1))).await;
        write(&dir, &[4], "a b", SaveMode::Append, None).await;
        log.update().await.unwrap();
        let (version, files, txn) = truth(&dir, "q").await;
        assert_eq!(seen(&log, "q").await, (version, files.clone(), txn));
        assert_eq!((version, files.len(), txn), (2, 3, Some(1)));
        assert!(files.iter().all(|f| f.is_file()), "every live file is where the log says: {files:?}");
        write(&dir, &[5], "a b", SaveMode::Overwrite, Some(("q", 2))).await;
        log.update().await.unwrap();
        assert_eq!(seen(&log, "q").await, truth(&dir, "q").await);
        assert_eq!(log.files().unwrap().len(), 1, "an overwrite removes what was live");

        // A checkpoint, then the commits before it cleaned up: delta-rs reads it from there.
        let t = deltalake::open_table(url::Url::from_directory_path(&dir).unwrap()).await.unwrap();
        deltalake::checkpoints::create_checkpoint(&t, None).await.unwrap();
        for v in 0..3 {
            std::fs::remove_file(dir.join("_delta_log").join(format!("{v:020}.json"))).unwrap();
        }
        let cleaned = TableLog::open(&dir).await.unwrap().expect("a table");
        assert!(matches!(cleaned, TableLog::Table(_)), "a log without its first commits is delta-rs's to read");
        assert_eq!(seen(&cleaned, "q").await, truth(&dir, "q").await);
    }
}
