//! Comparing what a table holds with what should be there.

use harness::deltalake::arrow::array::{Array, AsArray, RecordBatch};

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
