//! What landed in a sink, read from the table itself: the ids of every row in its live files.
//!
//! This is how a black-box pipeline is judged from the world alone. Whatever wrote the table —
//! our engine, Spark, a Python service — the rows it holds are the truth: a flow progresses when
//! new ids land, it lags while ids were produced that have not landed, and the audit counts ids
//! missing, duplicated and unexpected. Reading is incremental: each look at a table reads only
//! the data files that commits since the last look added, and forgets the ids of files they
//! removed (a compaction rewrites rows without landing anything new). A row a deletion vector
//! removed is gone; a table that maps its columns has its id column read by its physical name.

use crate::delta_log::{Columns, DataFile, TableLog};
use crate::error::{HarnessError, Result};
use deltalake::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The ids a table holds, kept up to date one look at a time.
#[derive(Debug)]
pub struct LandedIds {
    location: PathBuf,
    id_column: String,
    log: Option<TableLog>,
    /// Live data file (with its deletion vector) → the ids its live rows carry.
    files: BTreeMap<DataFile, Vec<i64>>,
    /// Id → how many live rows carry it.
    counts: HashMap<i64, u64>,
    /// Rows whose id column is null or not a number.
    pub rows_without_id: u64,
}

/// What one look found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// The table's version (-1: no table there yet).
    pub version: i64,
    /// Whether anything changed since the last look.
    pub changed: bool,
    /// The ids of the files added since the last look, once per row.
    pub added: Vec<i64>,
    /// Whether files were removed since the last look (their ids are forgotten).
    pub removed: bool,
}

impl Look {
    fn unchanged(version: i64) -> Look {
        Look { version, ..Look::default() }
    }
}

impl LandedIds {
    /// A reader of the table at `location` (which may not exist yet), by its `id_column`.
    pub fn new(location: impl Into<PathBuf>, id_column: impl Into<String>) -> LandedIds {
        LandedIds {
            location: location.into(),
            id_column: id_column.into(),
            log: None,
            files: BTreeMap::new(),
            counts: HashMap::new(),
            rows_without_id: 0,
        }
    }

    /// How many live rows carry `id`.
    pub fn count(&self, id: i64) -> u64 {
        self.counts.get(&id).copied().unwrap_or(0)
    }

    /// Every id with its number of live rows.
    pub fn counts(&self) -> &HashMap<i64, u64> {
        &self.counts
    }

    /// Brings the ids up to date with the table's latest version. A table that does not exist
    /// (yet) holds nothing; a file that cannot be read is an error (the table is damaged, or
    /// the id column is missing: the spec names the wrong column).
    pub async fn look(&mut self) -> Result<Look> {
        match self.log.as_mut() {
            None => match TableLog::open(&self.location).await? {
                Some(log) => self.log = Some(log),
                // Not committed yet.
                None => return Ok(Look::unchanged(-1)),
            },
            Some(log) => {
                let before = log.version();
                log.update().await?;
                if log.version() == before {
                    return Ok(Look::unchanged(before));
                }
            }
        }
        let log = self.log.as_ref().expect("opened above");
        let version = log.version();
        let (live, columns, root) = (log.files()?, log.columns()?, log.root()?);
        let mut look = Look::unchanged(version);
        let gone: Vec<DataFile> = self.files.keys().filter(|f| !live.contains(*f)).cloned().collect();
        for f in gone {
            look.changed = true;
            look.removed = true;
            for id in self.files.remove(&f).unwrap_or_default() {
                if let Some(c) = self.counts.get_mut(&id) {
                    *c -= 1;
                    if *c == 0 {
                        self.counts.remove(&id);
                    }
                }
            }
        }
        for f in live {
            if self.files.contains_key(&f) {
                continue;
            }
            look.changed = true;
            let (ids, without) = read_ids(&f, &root, &columns, &self.id_column)?;
            self.rows_without_id += without;
            for id in &ids {
                *self.counts.entry(*id).or_default() += 1;
            }
            look.added.extend_from_slice(&ids);
            self.files.insert(f, ids);
        }
        Ok(look)
    }
}

/// The id in `column` of every live row of the table at `location`, once per row (rows whose
/// id is null are left out), read from its data files, that column alone: what a sink holds,
/// whoever wrote it — an audit's truth, without a query engine. An error where no table is
/// there, or where a data file cannot be read.
pub async fn landed_ids(location: &Path, column: &str) -> Result<Vec<i64>> {
    let mut ids = LandedIds::new(location, column);
    let look = ids.look().await?;
    if look.version < 0 {
        return Err(no_table(location));
    }
    Ok(ids.files.into_values().flatten().collect())
}

/// The ids of every live row of one data file, and how many live rows had none.
fn read_ids(file: &DataFile, root: &Path, columns: &Columns, column: &str) -> Result<(Vec<i64>, u64)> {
    let (mut ids, mut without) = (Vec::new(), 0u64);
    let help = "name the column that carries the record's id in the spec's id_column";
    for batch in read_columns(file, root, columns, &[column], "id column", help)? {
        let col =
            deltalake::arrow::compute::cast(batch.column(0), &DataType::Int64).map_err(|e| damaged(&file.path, &e))?;
        let a = col.as_primitive::<Int64Type>();
        for i in 0..a.len() {
            if a.is_null(i) {
                without += 1;
            } else {
                ids.push(a.value(i));
            }
        }
    }
    Ok((ids, without))
}

/// The live rows of one data file (those its deletion vector did not remove), `wanted` columns
/// alone (by their names in the table; `mapping` gives their names in the file), in that order.
/// A column missing is bad input, named as a `what`, with `help`.
fn read_columns(
    data: &DataFile,
    root: &Path,
    mapping: &Columns,
    wanted: &[&str],
    what: &str,
    help: &str,
) -> Result<Vec<RecordBatch>> {
    let path = data.path.as_path();
    let file = std::fs::File::open(path).map_err(|e| HarnessError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| damaged(path, &e))?;
    let schema = builder.parquet_schema();
    let mut indices = Vec::new();
    for column in wanted {
        let physical = mapping.physical(column);
        let Some(index) = schema.columns().iter().position(|c| c.path().parts() == [physical.to_string()]) else {
            let names: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();
            let mapped =
                if physical == *column { String::new() } else { format!(" (by its mapped name {physical:?})") };
            return Err(HarnessError::bad_input(
                format!(
                    "data file {} of a sink has no {what} {column:?}{mapped} (it has: {})",
                    path.display(),
                    names.join(", ")
                ),
                help,
            ));
        };
        indices.push(index);
    }
    let mask = ProjectionMask::leaves(schema, indices.iter().copied());
    let reader = builder.with_projection(mask).build().map_err(|e| damaged(path, &e))?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|e| damaged(path, &e))?;
    // A projection keeps the file's column order: a column asked for stands at its rank there.
    let order: Vec<usize> = indices.iter().map(|i| indices.iter().filter(|j| *j < i).count()).collect();
    let deleted = match &data.deletion_vector {
        Some(dv) => Some(dv.deleted_rows(root)?),
        None => None,
    };
    // Named as the table names them, not as the file does.
    let renamed = wanted.iter().any(|c| mapping.physical(c) != *c);
    let mut first_row = 0u64;
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let mut b = b.project(&order).map_err(|e| damaged(path, &e))?;
        if renamed {
            let fields: Vec<_> = b
                .schema_ref()
                .fields()
                .iter()
                .zip(wanted)
                .map(|(f, name)| f.as_ref().clone().with_name(*name))
                .collect();
            let schema = std::sync::Arc::new(deltalake::arrow::datatypes::Schema::new(fields));
            b = RecordBatch::try_new(schema, b.columns().to_vec()).map_err(|e| damaged(path, &e))?;
        }
        if let Some(deleted) = &deleted {
            let rows = b.num_rows() as u64;
            let live: BooleanArray = (first_row..first_row + rows).map(|i| Some(!deleted.contains(i))).collect();
            first_row += rows;
            b = deltalake::arrow::compute::filter_record_batch(&b, &live).map_err(|e| damaged(path, &e))?;
        }
        out.push(b);
    }
    Ok(out)
}

/// The rows of every live data file of the table at `location`, `columns` alone: what a sink
/// holds, whoever wrote it, read without a query engine. An error where no table is there, or
/// where a data file cannot be read.
pub async fn landed_rows(location: &Path, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    let Some(log) = TableLog::open(location).await? else {
        return Err(no_table(location));
    };
    let (mapping, root) = (log.columns()?, log.root()?);
    let mut rows = Vec::new();
    for f in log.files()? {
        rows.extend(read_columns(
            &f,
            &root,
            &mapping,
            columns,
            "column",
            "read the columns the table's writer writes",
        )?);
    }
    Ok(rows)
}

fn no_table(location: &Path) -> HarnessError {
    HarnessError::Check {
        what: format!("the table at {}", location.display()),
        problem: "there is no Delta table there".into(),
    }
}

fn damaged(path: &Path, e: &dyn std::fmt::Display) -> HarnessError {
    HarnessError::Check { what: format!("reading {}", path.display()), problem: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    /// The tests' table: an `id`, a `note`.
    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("note", DataType::Utf8, true)]))
    }

    /// Creates the tests' table at `location`.
    async fn create(location: &Path) {
        let spec = crate::pipeline::TableSpec { name: "t".into(), schema: schema(), properties: Default::default() };
        let url = url::Url::from_directory_path(location).unwrap();
        crate::stream::create_table(&url, &spec).await.unwrap();
    }

    async fn append(location: &Path, ids: &[i64]) {
        let url = url::Url::from_directory_path(location).unwrap();
        let table = deltalake::open_table(url).await.unwrap();
        let rb = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(ids.iter().map(|i| format!("n{i}")).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        table.write(vec![rb]).await.unwrap();
    }

    #[tokio::test]
    async fn ids_are_read_once_per_file_and_counted_with_their_duplicates() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("table");
        let mut ids = LandedIds::new(&dir, "id");
        assert_eq!(ids.look().await.unwrap(), Look::unchanged(-1), "no table yet holds nothing");
        create(&dir).await;
        append(&dir, &[1, 2, 3]).await;
        let first = ids.look().await.unwrap();
        assert!(first.changed);
        assert_eq!((ids.count(1), ids.count(3), ids.count(4)), (1, 1, 0));
        append(&dir, &[3, 4]).await;
        assert!(ids.look().await.unwrap().changed);
        assert_eq!((ids.count(3), ids.count(4)), (2, 1), "a duplicate counts twice");
        assert!(!ids.look().await.unwrap().changed, "nothing new: nothing read");
        let rows = landed_rows(&dir, &["note", "id"]).await.unwrap();
        let names: Vec<&str> = rows[0].schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["note", "id"], "columns in the order asked for");
        assert_eq!(rows.iter().map(|r| r.num_rows()).sum::<usize>(), 5);
        let mut wrong = LandedIds::new(&dir, "alert_id");
        let err = wrong.look().await.unwrap_err().to_string();
        assert!(err.contains("no id column \"alert_id\"") && err.contains("Help:"), "{err}");
    }

    /// A copy of a table kept under `harness/testdata`, in a scratch directory.
    fn copy_of(name: &str, to: &Path) {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name);
        let mut stack = vec![from.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let target = to.join(p.strip_prefix(&from).unwrap());
                if p.is_dir() {
                    std::fs::create_dir_all(&target).unwrap();
                    stack.push(p);
                } else {
                    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                    std::fs::copy(&p, &target).unwrap();
                }
            }
        }
    }

    /// [`crate::delta_log::clean_up_behind_a_checkpoint`]; the log is then delta-rs's to read.
    async fn clean_up_behind_a_checkpoint(dir: &Path) {
        crate::delta_log::clean_up_behind_a_checkpoint(dir).await;
        assert!(matches!(TableLog::open(dir).await.unwrap(), Some(TableLog::Table(_))));
    }

    async fn counted(dir: &Path, column: &str) -> BTreeMap<i64, u64> {
        let mut ids = LandedIds::new(dir, column);
        ids.look().await.unwrap();
        ids.counts().iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// delta-rs's Python writer (deltalake 1.6.6) names a column-mapped table's columns
    /// `col-<uuid>` in its data files (`harness/testdata/column-mapped`: ids 0-2, then 3-4, with
    /// `delta.columnMapping.mode = name`). A program writing one is read by its ids all the same.
    #[tokio::test]
    async fn a_column_mapped_table_is_read_by_its_column_names() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("table");
        copy_of("column-mapped", &dir);
        let every = (0..5).map(|i| (i, 1)).collect::<BTreeMap<i64, u64>>();
        assert_eq!(counted(&dir, "id").await, every);
        let rows = landed_rows(&dir, &["device", "id"]).await.unwrap();
        let names: Vec<&str> = rows[0].schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["device", "id"], "named as the table names them");
        let err = LandedIds::new(&dir, "alert_id").look().await.unwrap_err().to_string();
        assert!(err.contains("no id column \"alert_id\""), "{err}");
        clean_up_behind_a_checkpoint(&dir).await;
        assert_eq!(counted(&dir, "id").await, every, "through delta-rs, the same");
    }

    /// Spark (and Databricks) DELETE, UPDATE and MERGE leave deletion vectors: a data file stays
    /// live with some of its rows marked gone. Here delta-kernel's own writer writes the vector
    /// (rows 3 and 7 of a file of ids 0-9) into a file under a prefix directory, as Spark
    /// places them, and a commit puts it on the file. Those rows are gone, whether the log is
    /// read by its commit files or through delta-rs.
    #[tokio::test]
    async fn rows_a_deletion_vector_removed_are_gone() {
        use buoyant_kernel::actions::deletion_vector::{DeletionVectorDescriptor, DeletionVectorStorageType};
        use buoyant_kernel::actions::deletion_vector_writer::{KernelDeletionVector, StreamingDeletionVectorWriter};
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("table");
        let url = url::Url::from_directory_path(&dir).unwrap();
        create(&dir).await;
        append(&dir, &(0..10).collect::<Vec<_>>()).await;
        let commit = std::fs::read_to_string(dir.join("_delta_log").join(format!("{:020}.json", 1))).unwrap();
        let add: serde_json::Value = commit
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find_map(|a| a.get("add").cloned())
            .unwrap();

        let mut bytes = Vec::new();
        let mut writer = StreamingDeletionVectorWriter::new(&mut bytes);
        let mut rows = KernelDeletionVector::new();
        rows.add_deleted_row_indexes([3u64, 7]);
        let written = writer.write_deletion_vector(rows).unwrap();
        writer.finalize().unwrap();
        let uuid = [0x5au8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let descriptor = DeletionVectorDescriptor::try_new(
            DeletionVectorStorageType::PersistedRelative,
            format!("ab{}", z85::encode(uuid)),
            Some(written.offset),
            written.size_in_bytes,
            written.cardinality,
        )
        .unwrap();
        let dv_file = descriptor.absolute_path(&url).unwrap().unwrap().to_file_path().unwrap();
        std::fs::create_dir_all(dv_file.parent().unwrap()).unwrap();
        std::fs::write(&dv_file, &bytes).unwrap();
        let mut with_dv = add.clone();
        with_dv["deletionVector"] = serde_json::json!({
            "storageType": "u",
            "pathOrInlineDv": descriptor.path_or_inline_dv,
            "offset": written.offset,
            "sizeInBytes": written.size_in_bytes,
            "cardinality": written.cardinality,
        });
        let actions = [
            serde_json::json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                "readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}}),
            serde_json::json!({"remove": {"path": add["path"], "deletionTimestamp": 1, "dataChange": true}}),
            serde_json::json!({"add": with_dv}),
        ];
        let text: String = actions.iter().map(|a| format!("{a}\n")).collect();
        std::fs::write(dir.join("_delta_log").join(format!("{:020}.json", 2)), text).unwrap();

        let live: BTreeMap<i64, u64> = (0..10).filter(|i| *i != 3 && *i != 7).map(|i| (i, 1)).collect();
        assert_eq!(counted(&dir, "id").await, live);
        let rows = landed_rows(&dir, &["id"]).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.num_rows()).sum::<usize>(), 8);
        clean_up_behind_a_checkpoint(&dir).await;
        assert_eq!(counted(&dir, "id").await, live, "through delta-rs, the same");
    }
}
