//! Comparing what a table holds with what should be there.

use harness::deltalake::arrow::array::{Array, AsArray, RecordBatch};
use harness::deltalake::arrow::datatypes::Int64Type;
use harness::deltalake::datafusion::prelude::SessionContext;
use harness::{HarnessError, Result};

/// Runs `sql` against `table` (registered as `t`) and returns the batches.
pub async fn query(table: harness::deltalake::DeltaTable, sql: &str) -> Result<Vec<RecordBatch>> {
    let ctx = SessionContext::new();
    let err = |e: harness::deltalake::datafusion::error::DataFusionError| HarnessError::Check {
        what: sql.to_string(),
        problem: e.to_string(),
    };
    let provider = table.table_provider().await.map_err(err)?;
    ctx.register_table("t", provider).map_err(err)?;
    ctx.sql(sql).await.map_err(err)?.collect().await.map_err(err)
}

/// The Int64 column `i` of every batch.
pub fn int64s(batches: &[RecordBatch], i: usize) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column(i).as_primitive::<Int64Type>();
            (0..a.len()).filter(|j| !a.is_null(*j)).map(|j| a.value(j)).collect::<Vec<_>>()
        })
        .collect()
}

/// The string column `i` of every batch (nulls as None).
pub fn strings(batches: &[RecordBatch], i: usize) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let col = b.column(i);
            let a =
                harness::deltalake::arrow::compute::cast(col, &harness::deltalake::arrow::datatypes::DataType::Utf8)
                    .unwrap_or_else(|_| col.clone());
            let a = a.as_string::<i32>();
            (0..a.len()).map(|j| (!a.is_null(j)).then(|| a.value(j).to_string())).collect::<Vec<_>>()
        })
        .collect()
}

pub use harness::pipeline::compare;
