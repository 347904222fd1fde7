//! Pieces every reference pipeline uses: schemas, JSON records from Kafka, Delta-to-Delta
//! transforms, and a producer that waits for every delivery.

use harness::Result;
use harness::deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use harness::deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use harness::deltalake::datafusion::prelude::SessionContext;
use harness::deltalake::operations::write::SchemaMode;
use harness::pipeline::{ErrorKind, Input, KafkaRecord, MicroBatch, QueryError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// An Arrow schema from `(name, type, nullable)`.
pub fn schema(fields: &[(&str, DataType, bool)]) -> SchemaRef {
    Arc::new(Schema::new(fields.iter().map(|(n, t, null)| Field::new(*n, t.clone(), *null)).collect::<Vec<_>>()))
}

/// The Kafka records of a micro-batch.
pub fn kafka(input: &Input) -> Result<&[KafkaRecord], QueryError> {
    match input {
        Input::Kafka(r) => Ok(r),
        other => Err(QueryError::new(ErrorKind::Harness, format!("expected Kafka input, got {other:?}"))),
    }
}

/// Parses every record of a micro-batch as JSON; a record that does not parse fails the batch.
pub fn parse_all<T: for<'de> Deserialize<'de>>(input: &Input) -> Result<Vec<T>, QueryError> {
    kafka(input)?
        .iter()
        .map(|r| {
            serde_json::from_slice(&r.payload).map_err(|e| {
                QueryError::new(
                    ErrorKind::Parse,
                    format!("record at partition {} offset {}: {e}", r.partition, r.offset),
                )
            })
        })
        .collect()
}

/// A Delta-to-Delta query: `SELECT {columns} FROM {name} WHERE batch in the micro-batch [AND
/// {filter}]`, written to the sink with the batch's txn (even when empty: the txn is what makes
/// the batch exactly-once). Returns the rows written.
pub async fn transform_delta(
    b: MicroBatch<'_>,
    name: &str,
    columns: &str,
    filter: Option<&str>,
    out: SchemaRef,
) -> Result<u64, QueryError> {
    let commit = b.commit_properties();
    let Input::Delta { table, after, upto } = b.input else {
        return Err(QueryError::new(ErrorKind::Harness, format!("{} reads a Delta table", b.query.name)));
    };
    let ctx = SessionContext::new();
    ctx.register_table(name, table.table_provider().await?)?;
    let extra = filter.map(|f| format!(" AND {f}")).unwrap_or_default();
    let sql = format!("SELECT {columns} FROM {name} WHERE batch > {after} AND batch <= {upto}{extra}");
    let batches = ctx.sql(&sql).await?.collect().await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let batches = if batches.is_empty() { vec![RecordBatch::new_empty(out)] } else { batches };
    b.sink.write(batches).with_commit_properties(commit).await?;
    Ok(rows as u64)
}

/// Fields a record carries beyond those its query names. Queries that land raw records (bronze,
/// features) pass them through as nullable text columns, the way a query whose schema is
/// inferred from the data writes whatever arrives — which is how a new upstream field reaches
/// the sink table's schema check.
pub type Extra = BTreeMap<String, serde_json::Value>;

/// How a query appends rows to its sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Append {
    /// Let the write add columns the table lacks (schema evolution, Spark's `mergeSchema`).
    /// Without it delta-rs rejects a batch whose schema differs from the table's.
    pub merge_schema: bool,
}

impl Append {
    /// Appends one row per input record — `columns`, a `batch` column holding the micro-batch id
    /// (what downstream queries read by), then each record's [`Extra`] fields — to the sink,
    /// with the batch's txn. Returns the rows.
    pub async fn write(
        self,
        b: MicroBatch<'_>,
        schema: SchemaRef,
        mut columns: Vec<ArrayRef>,
        extras: &[&Extra],
    ) -> Result<u64, QueryError> {
        let rows = extras.len();
        let commit = b.commit_properties();
        columns.push(Arc::new(Int64Array::from_iter_values(std::iter::repeat_n(b.id, rows))));
        let names: BTreeSet<&String> = extras.iter().flat_map(|e| e.keys()).collect();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for name in names {
            fields.push(Field::new(name.as_str(), DataType::Utf8, true));
            columns.push(Arc::new(StringArray::from_iter(extras.iter().map(|e| {
                e.get(name).filter(|v| !v.is_null()).map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            }))));
        }
        let rb = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let mut write = b.sink.write(vec![rb]).with_commit_properties(commit);
        if self.merge_schema {
            write = write.with_schema_mode(SchemaMode::Merge);
        }
        write.await?;
        Ok(rows as u64)
    }
}

/// Appends one row per input record — `columns`, then a `batch` column holding the micro-batch
/// id — to the sink, with the batch's txn, for records without extra fields. Returns the rows.
pub async fn append_with_batch_id(
    b: MicroBatch<'_>,
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> Result<u64, QueryError> {
    let none = Extra::new();
    Append::default().write(b, schema, columns, &vec![&none; rows]).await
}

pub use harness::pipeline::Producer;

pub use harness::pipeline::{Loops, TICK, Tick, per_tick, spawn_loop};
