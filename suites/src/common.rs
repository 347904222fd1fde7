//! Pieces every reference pipeline uses: schemas, JSON records from Kafka, Delta-to-Delta
//! transforms, and a producer that waits for every delivery.

use harness::Result;
use harness::deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use harness::deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use harness::deltalake::datafusion::prelude::SessionContext;
use harness::deltalake::operations::write::SchemaMode;
use harness::history::{Event, History};
use harness::pipeline::{Delivered, ErrorKind, Input, KafkaRecord, MicroBatch, PipelineEnv, QueryError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// An Arrow schema written `"id long, sensor string, score double?"`: each column's name and
/// type (`long`, `double`, `string`), `?` after a type that may be null.
///
/// # Panics
/// On a column that is not `name type`, or another type: a schema is written in the code.
pub fn schema(columns: &str) -> SchemaRef {
    let field = |column: &str| {
        let (name, kind) = column.trim().split_once(' ').unwrap_or_else(|| panic!("{column:?} is not `name type`"));
        let (kind, nullable) = kind.strip_suffix('?').map_or((kind, false), |k| (k, true));
        let kind = match kind {
            "long" => DataType::Int64,
            "double" => DataType::Float64,
            "string" => DataType::Utf8,
            other => panic!("column {name:?}: type {other:?} is none of long, double, string"),
        };
        Field::new(name, kind, nullable)
    };
    Arc::new(Schema::new(columns.split(',').map(field).collect::<Vec<_>>()))
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

/// The field a firmware rollout adds to every reading (the `new-field` oddity).
pub const NEW_FIELD: &str = "firmware";

/// The readings a workload produces to its topic `lf-<run>-<stream>`: numbered from 0, each id
/// reserved before it is sent (the audit expects every id reserved), each send recorded in the
/// history as produced. After a firmware rollout every reading carries [`NEW_FIELD`].
#[derive(Debug)]
pub struct Readings {
    stream: &'static str,
    topic: String,
    history: History,
    producer: Producer,
    next: Mutex<i64>,
    firmware: AtomicBool,
}

impl Readings {
    /// The readings of `stream`, sent with a producer of their own.
    pub fn new(env: &PipelineEnv, history: History, stream: &'static str) -> Result<Readings> {
        Ok(Readings {
            stream,
            topic: format!("lf-{}-{stream}", env.config.run_id),
            history,
            producer: Producer::new(&env.config.bootstrap)?,
            next: Mutex::new(0),
            firmware: AtomicBool::new(false),
        })
    }

    /// The Kafka topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Readings reserved so far: ids `0..produced()`.
    pub fn produced(&self) -> i64 {
        *self.next.lock().expect("ledger")
    }

    /// Reserves `n` ids and sends the readings `make(id, extra)` gives as `(key, payload)`, `extra`
    /// holding what the firmware adds; records them produced once delivered. Returns the first id.
    pub async fn send(&self, n: i64, mut make: impl FnMut(i64, Extra) -> (String, Vec<u8>)) -> Result<i64> {
        let first = {
            let mut next = self.next.lock().expect("ledger");
            *next += n;
            *next - n
        };
        let mut extra = Extra::new();
        if self.firmware.load(Ordering::Relaxed) {
            extra.insert(NEW_FIELD.into(), "2.1.0".into());
        }
        let payloads = (first..first + n).map(|id| make(id, extra.clone())).collect();
        self.producer.send_all(&self.topic, payloads).await?;
        let stream = self.stream.into();
        self.history.record(Event::Produced { stream, first: first as u64, last: (first + n - 1) as u64 });
        Ok(first)
    }

    /// The firmware rollout: every reading from now on carries [`NEW_FIELD`].
    pub fn roll_out_firmware(&self) -> Delivered {
        self.firmware.store(true, Ordering::Relaxed);
        Delivered { stream: self.topic.clone(), what: format!("readings with a new field {NEW_FIELD:?} from now on") }
    }

    /// The producer, for the workload's other topics.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }
}

pub use harness::pipeline::{Loops, TICK, Tick, per_tick, spawn_loop};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_is_written_as_columns() {
        let s = schema("id long, sensor string, score double?");
        let fields: Vec<_> =
            s.fields().iter().map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable())).collect();
        assert_eq!(
            fields,
            [("id", DataType::Int64, false), ("sensor", DataType::Utf8, false), ("score", DataType::Float64, true)]
        );
    }
}
