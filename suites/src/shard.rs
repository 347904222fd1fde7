//! Splitting a matrix or an exploration across machines: `--shard K/N` takes the K-th of N
//! shares, by position (cells in matrix order, generated cases in generation order), so N
//! runners given the same seed and `1/N` … `N/N` run every cell or case exactly once between
//! them, each judged as it would be alone. Their JUnit files merge as CI merges any (each suite
//! is named with its shard), and their kept regressions are JSON lines: concatenated, then
//! replayed by any later exploration.

use harness::{HarnessError, Result};
use std::fmt;
use std::str::FromStr;

/// The K-th of N shares (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which share, from 1.
    pub k: u32,
    /// Of how many.
    pub n: u32,
}

impl Shard {
    /// The whole: `1/1`.
    pub const WHOLE: Shard = Shard { k: 1, n: 1 };

    /// Whether the item at `index` (0-based, in order) is this share's.
    pub fn takes(self, index: usize) -> bool {
        index % self.n as usize == (self.k - 1) as usize
    }

    /// The items of `all` that are this share's, in order.
    pub fn of<T>(self, all: Vec<T>) -> Vec<T> {
        all.into_iter().enumerate().filter(|(i, _)| self.takes(*i)).map(|(_, t)| t).collect()
    }

    /// True for `1/1`.
    pub fn is_whole(self) -> bool {
        self.n == 1
    }
}

impl FromStr for Shard {
    type Err = HarnessError;

    fn from_str(s: &str) -> Result<Shard> {
        let bad = || {
            HarnessError::bad_input(
                format!("shard {s:?} is not K/N with 1 <= K <= N"),
                "pass --shard like 2/4: the second of four shares (one per CI runner)",
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_everything_once_and_bad_ones_are_refused() {
        let all: Vec<usize> = (0..80).collect();
        let mut seen: Vec<usize> = (1..=3).flat_map(|k| Shard { k, n: 3 }.of(all.clone())).collect();
        seen.sort();
        assert_eq!(seen, all);
        assert_eq!(Shard { k: 2, n: 4 }.of(all.clone())[..3], [1, 5, 9]);
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { k: 2, n: 4 });
        for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains("K/N") && e.contains("--shard"), "{bad}: {e}");
        }
    }
}
