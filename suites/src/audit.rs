//! Comparing what a table holds with what should be there.

use harness::deltalake::arrow::array::{Array, AsArray, RecordBatch};
use harness::deltalake::arrow::datatypes::Int64Type;
use harness::deltalake::datafusion::prelude::SessionContext;
use harness::history::TableAudit;
use harness::{HarnessError, Result};
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

const SAMPLES: usize = 20;

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

/// Compares `actual` (with multiplicity) with `expected` (a set).
pub fn compare<K: Eq + Hash + Ord + Clone + ToString>(
    table: &str,
    query: &str,
    expected: impl IntoIterator<Item = K>,
    actual: impl IntoIterator<Item = K>,
) -> TableAudit {
    let mut counts: HashMap<K, u64> = HashMap::new();
    for k in actual {
        *counts.entry(k).or_default() += 1;
    }
    let mut a = TableAudit { table: table.into(), query: query.into(), ..TableAudit::default() };
    let mut samples: BTreeMap<String, Vec<K>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for k in expected {
        if !seen.insert(k.clone()) {
            continue;
        }
        a.expected += 1;
        match counts.get(&k).copied().unwrap_or(0) {
            0 => {
                a.missing += 1;
                samples.entry("missing".into()).or_default().push(k);
            }
            1 => a.present += 1,
            _ => {
                a.present += 1;
                a.duplicated += 1;
                samples.entry("duplicated".into()).or_default().push(k);
            }
        }
    }
    for (k, _) in counts.iter().filter(|(k, _)| !seen.contains(*k)) {
        a.unexpected += 1;
        samples.entry("unexpected".into()).or_default().push(k.clone());
    }
    a.samples = samples
        .into_iter()
        .map(|(what, mut ids)| {
            ids.sort();
            (what, ids.into_iter().take(SAMPLES).map(|k| k.to_string()).collect())
        })
        .collect();
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_counts_each_problem_once() {
        let a = compare("t", "q", [1, 2, 3, 4], [1, 2, 2, 2, 4, 9]);
        assert_eq!((a.expected, a.present, a.missing, a.duplicated, a.unexpected), (4, 3, 1, 1, 1));
        assert_eq!(a.samples["missing"], vec!["3"]);
        assert_eq!(a.samples["duplicated"], vec!["2"]);
    }
}
