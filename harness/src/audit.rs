//! Comparing what a table holds with what should be there: ids missing, duplicated and
//! unexpected, with samples of each for the report.

use crate::history::TableAudit;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

const SAMPLES: usize = 20;

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
