//! A query's checkpoint, laid out as Spark's: `offsets/<batch>` is written before a batch runs
//! (what it will read), `commits/<batch>` after its sink committed. On restart a batch with an
//! offsets entry and no commit is replayed with exactly the same range; a committed one is
//! skipped.

use crate::error::{HarnessError, Result};
use crate::history::Positions;
use crate::rundir::{read_json, write_json_atomic};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `offsets/<batch>` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffsetsEntry {
    /// Batch id.
    pub batch: i64,
    /// Where the batch starts reading.
    pub start: Positions,
    /// Where it stops (exclusive for Kafka offsets, inclusive for Delta batch ids).
    pub end: Positions,
}

/// The `commits/<batch>` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitEntry {
    /// Batch id.
    pub batch: i64,
}

/// What a query does first after (re)starting.
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    /// Plan batch `batch` starting at `start`.
    Next {
        /// Next batch id.
        batch: i64,
        /// Where it starts.
        start: Positions,
    },
    /// Replay a planned batch that never committed.
    Replay(OffsetsEntry),
}

/// A checkpoint directory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    /// Opens (creating) the checkpoint at `dir`.
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        for sub in ["offsets", "commits"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| HarnessError::io(&p, e))?;
        }
        Ok(Checkpoint { dir: dir.to_path_buf() })
    }

    /// The checkpoint at `dir`, for reading only: nothing is created (a checkpoint not written
    /// yet simply has no entries).
    pub fn at(dir: &Path) -> Checkpoint {
        Checkpoint { dir: dir.to_path_buf() }
    }

    /// The highest batch id in `offsets/` or `commits/`.
    fn latest(&self, sub: &str) -> Result<Option<i64>> {
        latest_entry(&self.dir.join(sub))
    }

    /// Reads an offsets entry.
    pub fn offsets(&self, batch: i64) -> Result<OffsetsEntry> {
        read_json(&self.dir.join("offsets").join(batch.to_string()))
    }

    /// Where to resume.
    pub fn resume(&self) -> Result<Resume> {
        let planned = self.latest("offsets")?;
        let committed = self.latest("commits")?;
        Ok(match planned {
            None => Resume::Next { batch: 0, start: Positions::new() },
            Some(n) if committed == Some(n) => Resume::Next { batch: n + 1, start: self.offsets(n)?.end },
            Some(n) => Resume::Replay(self.offsets(n)?),
        })
    }

    /// Writes `offsets/<batch>` (before the batch runs).
    pub fn plan(&self, entry: &OffsetsEntry) -> Result<()> {
        write_json_atomic(&self.dir.join("offsets").join(entry.batch.to_string()), entry)
    }

    /// Writes `commits/<batch>` (after the sink committed).
    pub fn commit(&self, batch: i64) -> Result<()> {
        write_json_atomic(&self.dir.join("commits").join(batch.to_string()), &CommitEntry { batch })
    }

    /// The last committed batch and the positions it ended at, if any (what the observer reads).
    pub fn last_committed(&self) -> Result<Option<(i64, Positions)>> {
        match self.latest("commits")? {
            None => Ok(None),
            Some(n) => Ok(Some((n, self.offsets(n)?.end))),
        }
    }
}

fn latest_entry(dir: &Path) -> Result<Option<i64>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(HarnessError::io(dir, e)),
    };
    let mut best = None;
    for entry in rd {
        let entry = entry.map_err(|e| HarnessError::io(dir, e))?;
        // Temporary files of an atomic write in flight are not entries.
        if let Some(n) = entry.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) {
            best = best.max(Some(n));
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_replays_a_planned_batch_and_skips_a_committed_one() {
        let scratch = tempfile::tempdir().unwrap();
        let c = Checkpoint::open(&scratch.path().join("checkpoint")).unwrap();
        assert_eq!(c.resume().unwrap(), Resume::Next { batch: 0, start: Positions::new() });
        let e0 = OffsetsEntry { batch: 0, start: Positions::new(), end: [("t/0".to_string(), 5)].into() };
        c.plan(&e0).unwrap();
        assert_eq!(c.resume().unwrap(), Resume::Replay(e0.clone()));
        c.commit(0).unwrap();
        assert_eq!(c.resume().unwrap(), Resume::Next { batch: 1, start: e0.end.clone() });
        assert_eq!(c.last_committed().unwrap(), Some((0, e0.end)));
    }
}
