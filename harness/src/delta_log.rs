//! A Delta table's log, read the cheap way where it can be: its commit files, each once.
//!
//! Three readers need the same few facts of a sink — its version, the `txn` each writer
//! recorded, the data files live in it — and need them often: the engine before every batch
//! (has this batch committed already?), the observer at every sample, the audit at the end.
//! Replaying the log through delta-rs at each look costs more with every commit (a JSON parse of
//! the whole log, and arrow on top). A [`LogTail`] reads each commit file once, in order; a
//! commit file appears whole (Delta commits by an atomic create), so what it has read stays
//! true. Where the log cannot be read this way — its first commits cleaned up behind a
//! checkpoint, a table that is not on local disk — a [`TableLog`] reads it through delta-rs
//! instead, and says the same.
//!
//! Whoever wrote the table, its rows are read as its log defines them: a data file's rows less
//! those its deletion vector removed (Spark's and Databricks' DELETE, UPDATE and MERGE), and a
//! column by its physical name where the table maps columns (`delta.columnMapping.mode`).

use crate::error::{HarnessError, Result};
use deltalake::DeltaTable;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A data file live in a table: where it is, and the deletion vector that removed some of its
/// rows, if any. A file whose deletion vector changes is another `DataFile`: its live rows
/// changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataFile {
    /// The Parquet file.
    pub path: PathBuf,
    /// Rows of it that are deleted.
    pub deletion_vector: Option<DeletionVector>,
}

/// A deletion vector as a log's `add` action describes it (the Delta protocol's "Deletion
/// Vector Descriptor"): which rows of its file, by index, are gone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionVector {
    /// `u`: a file beside the table's data, named by a UUID (with an optional directory
    /// prefix); `i`: inline, the bitmap itself; `p`: a file at an absolute path.
    pub storage_type: String,
    /// The prefix and Z85-encoded UUID (`u`), the Z85-encoded bitmap (`i`), or the path (`p`).
    pub path_or_inline_dv: String,
    /// Where in its file the vector starts (`u`, `p`).
    #[serde(default)]
    pub offset: Option<i32>,
    /// Its size in bytes (undecoded).
    pub size_in_bytes: i32,
    /// How many rows it removes.
    pub cardinality: i64,
}

/// The magic number of a Delta deletion vector: a portable `RoaringBitmapArray`.
const PORTABLE_ROARING: u32 = 1_681_511_377;

impl DeletionVector {
    /// The indexes of the rows it removes, read from where it is stored (`root`: the table's
    /// directory). An error names the vector and what is wrong with it: a table whose deletion
    /// vectors cannot be read cannot be counted.
    pub fn deleted_rows(&self, root: &Path) -> Result<roaring::RoaringTreemap> {
        let broken = |problem: String| HarnessError::Check {
            what: format!("a deletion vector of the table at {}", root.display()),
            problem,
        };
        let bitmap = match self.storage_type.as_str() {
            "i" => z85::decode(&self.path_or_inline_dv)
                .map_err(|e| broken(format!("its inline bitmap does not decode: {e}")))?,
            "u" | "p" => {
                let path = self.file(root).map_err(broken)?;
                let bytes = std::fs::read(&path).map_err(|e| HarnessError::io(&path, e))?;
                // A version byte, then per vector at its offset: its size (big-endian), the
                // bitmap with its magic, a CRC.
                let start = self.offset.unwrap_or(1).max(0) as usize;
                let size = self.size_in_bytes.max(0) as usize;
                let stated = bytes.get(start..start + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if bytes.first() != Some(&1) || stated != Some(size as u32) || bytes.len() < start + 4 + size {
                    return Err(broken(format!(
                        "{} does not hold a vector of {size} bytes at offset {start}",
                        path.display()
                    )));
                }
                bytes[start + 4..start + 4 + size].to_vec()
            }
            other => return Err(broken(format!("storage type {other:?} is not one of u, i, p"))),
        };
        let magic = bitmap.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if magic != Some(PORTABLE_ROARING) {
            return Err(broken(format!("its magic number is {magic:?}, not {PORTABLE_ROARING}")));
        }
        let rows = roaring::RoaringTreemap::deserialize_from(&bitmap[4..])
            .map_err(|e| broken(format!("its bitmap does not parse: {e}")))?;
        if rows.len() != self.cardinality.max(0) as u64 {
            return Err(broken(format!("it removes {} rows where the log says {}", rows.len(), self.cardinality)));
        }
        Ok(rows)
    }

    /// The file a stored vector is in.
    fn file(&self, root: &Path) -> std::result::Result<PathBuf, String> {
        if self.storage_type == "p" {
            return url::Url::parse(&self.path_or_inline_dv)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| format!("{:?} is not a path on local disk", self.path_or_inline_dv));
        }
        let encoded = &self.path_or_inline_dv;
        let split = encoded.len().checked_sub(20).filter(|i| encoded.is_char_boundary(*i));
        let Some((prefix, uuid)) = split.map(|i| encoded.split_at(i)) else {
            return Err(format!("{encoded:?} is too short to end in an encoded UUID"));
        };
        let uuid = z85::decode(uuid).map_err(|e| format!("{encoded:?} does not end in an encoded UUID: {e}"))?;
        let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
        if hex.len() != 32 {
            return Err(format!("{encoded:?} does not end in a 16-byte UUID"));
        }
        let name = format!(
            "deletion_vector_{}-{}-{}-{}-{}.bin",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        Ok(if prefix.is_empty() { root.join(name) } else { root.join(prefix).join(name) })
    }
}

/// A table's column mapping: the physical name (in its data files) of each top-level column
/// that has one. Empty where the table does not map columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns(BTreeMap<String, String>);

impl Columns {
    /// The mapping a `metaData` action defines: its configuration's `delta.columnMapping.mode`
    /// (`name` or `id`) and its schema's `delta.columnMapping.physicalName` of each field.
    fn of(configuration: Option<&serde_json::Value>, schema: &serde_json::Value) -> Columns {
        let mode = configuration.and_then(|c| c.get("delta.columnMapping.mode")).and_then(|m| m.as_str());
        if !matches!(mode, Some("name" | "id")) {
            return Columns::default();
        }
        let fields = schema.get("fields").and_then(|f| f.as_array()).into_iter().flatten();
        Columns(
            fields
                .filter_map(|f| {
                    let name = f.get("name")?.as_str()?;
                    let physical = f.get("metadata")?.get("delta.columnMapping.physicalName")?.as_str()?;
                    Some((name.to_string(), physical.to_string()))
                })
                .collect(),
        )
    }

    /// The name column `logical` has in the table's data files.
    pub fn physical<'a>(&'a self, logical: &'a str) -> &'a str {
        self.0.get(logical).map_or(logical, String::as_str)
    }
}

/// A Delta log on local disk read incrementally: the commits written since the last read, and
/// no other.
#[derive(Debug)]
pub struct LogTail {
    root: url::Url,
    log: PathBuf,
    version: i64,
    txns: BTreeMap<String, i64>,
    files: BTreeMap<PathBuf, Option<DeletionVector>>,
    columns: Columns,
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
            files: BTreeMap::new(),
            columns: Columns::default(),
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
            let (mut txns, mut added, mut removed, mut columns) = (Vec::new(), Vec::new(), Vec::new(), None);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let action: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| unreadable(format!("commit {} does not parse: {e}", next.display())))?;
                if let Some(txn) = action.get("txn") {
                    if let (Some(app), Some(v)) = (txn.get("appId").and_then(|a| a.as_str()), txn.get("version")) {
                        txns.push((app.to_string(), v.as_i64().unwrap_or(-1)));
                    }
                } else if let Some(add) = action.get("add") {
                    let dv = match add.get("deletionVector").filter(|d| !d.is_null()) {
                        None => None,
                        Some(d) => Some(DeletionVector::deserialize(d).map_err(|e| {
                            unreadable(format!(
                                "commit {} has a deletion vector that does not parse: {e}",
                                next.display()
                            ))
                        })?),
                    };
                    added.push((self.file(add)?, dv));
                } else if let Some(remove) = action.get("remove") {
                    removed.push(self.file(remove)?);
                } else if let Some(metadata) = action.get("metaData") {
                    let schema = metadata.get("schemaString").and_then(|s| s.as_str()).unwrap_or("{}");
                    let schema: serde_json::Value = serde_json::from_str(schema).map_err(|e| {
                        unreadable(format!("the schema of commit {} does not parse: {e}", next.display()))
                    })?;
                    columns = Some(Columns::of(metadata.get("configuration"), &schema));
                }
            }
            self.txns.extend(txns);
            // A file whose deletion vector changes is removed and added again in one commit.
            for f in removed {
                self.files.remove(&f);
            }
            self.files.extend(added);
            if let Some(columns) = columns {
                self.columns = columns;
            }
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
    pub fn files(&self) -> BTreeSet<DataFile> {
        self.files.iter().map(|(path, dv)| DataFile { path: path.clone(), deletion_vector: dv.clone() }).collect()
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
    /// goes on through delta-rs.
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

    /// The data files live at the newest version read, each with its deletion vector.
    pub fn files(&self) -> Result<BTreeSet<DataFile>> {
        match self {
            TableLog::Tail(tail) => Ok(tail.files()),
            TableLog::Table(t) => t
                .snapshot()?
                .log_data()
                .into_iter()
                .map(|view| {
                    let path = file_path(&t.log_store().to_uri(&view.object_store_path()))?;
                    let deletion_vector = view.deletion_vector_descriptor().map(|d| DeletionVector {
                        storage_type: d.storage_type.to_string(),
                        path_or_inline_dv: d.path_or_inline_dv,
                        offset: d.offset,
                        size_in_bytes: d.size_in_bytes,
                        cardinality: d.cardinality,
                    });
                    Ok(DataFile { path, deletion_vector })
                })
                .collect(),
        }
    }

    /// The table's column mapping at the newest version read.
    pub fn columns(&self) -> Result<Columns> {
        match self {
            TableLog::Tail(tail) => Ok(tail.columns.clone()),
            TableLog::Table(t) => {
                let state = t.snapshot()?;
                let configuration = serde_json::to_value(state.metadata().configuration()).unwrap_or_default();
                let schema = serde_json::to_value(state.schema().as_ref()).unwrap_or_default();
                Ok(Columns::of(Some(&configuration), &schema))
            }
        }
    }

    /// The table's directory.
    pub fn root(&self) -> Result<PathBuf> {
        let url = match self {
            TableLog::Tail(tail) => tail.root.clone(),
            TableLog::Table(t) => t.table_url().clone(),
        };
        url.to_file_path().map_err(|()| HarnessError::Check {
            what: format!("the table at {url}"),
            problem: "it is not on local disk".into(),
        })
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

/// Writes a checkpoint of the table at `dir` and deletes the commits before it, as a log
/// cleanup does: its log is then delta-rs's to read.
#[cfg(test)]
pub(crate) async fn clean_up_behind_a_checkpoint(dir: &Path) {
    let t = deltalake::open_table(url::Url::from_directory_path(dir).unwrap()).await.unwrap();
    deltalake::checkpoints::create_checkpoint(&t, None).await.unwrap();
    for v in 0..=t.version().unwrap() {
        std::fs::remove_file(dir.join("_delta_log").join(format!("{v:020}.json"))).unwrap();
    }
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
        (log.version(), log.files().unwrap().into_iter().map(|f| f.path).collect(), log.txn(app).await.unwrap())
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
        clean_up_behind_a_checkpoint(&dir).await;
        let cleaned = TableLog::open(&dir).await.unwrap().expect("a table");
        assert!(matches!(cleaned, TableLog::Table(_)), "a log without its first commits is delta-rs's to read");
        assert_eq!(seen(&cleaned, "q").await, truth(&dir, "q").await);
    }
}
