//! The run directory: everything one run leaves for its user.
//!
//! ```text
//! <run-dir>/
//!   .loudfail-run        marker: this directory belongs to loudfail (run id, version)
//!   run.json             the configuration every child process reads
//!   catalog.json         table name -> storage location
//!   history.jsonl        the history
//!   report.json          verdicts and figures
//!   junit.xml            the run as a JUnit test case, for CI
//!   timeline.html        lanes per run, task, cluster and query; faults shaded
//!   tables/<table>/      Delta tables
//!   checkpoints/<query>/ offsets/ and commits/ of each query
//!   logs/                stderr of every process
//! ```
//!
//! A run never writes outside it (the broker lives in memory; sockets are abstract).

use crate::error::{HarnessError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const MARKER: &str = ".loudfail-run";

/// What the marker file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    /// The run's id.
    pub run_id: String,
    /// loudfail's version that wrote it.
    pub version: String,
}

/// The directory of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Creates the run directory at `path`, or at `target/loudfail/<run-id>` when `path` is None.
    ///
    /// An existing directory is accepted only when it is empty: one that holds anything (an
    /// earlier run included) is refused, so nothing of the user's is ever overwritten.
    pub fn create(path: Option<&Path>, run_id: &str) -> Result<RunDir> {
        let root = match path {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from("target").join("loudfail").join(run_id),
        };
        if root.exists() {
            if !root.is_dir() {
                return Err(HarnessError::RunDir {
                    path: root,
                    problem: "exists and is not a directory".into(),
                    help: "pass --dir with a new or empty directory".into(),
                });
            }
            let mut entries = std::fs::read_dir(&root).map_err(|e| HarnessError::io(&root, e))?;
            if entries.next().is_some() {
                let problem = match Self::marker(&root) {
                    Some(m) => format!("already holds loudfail run {}", m.run_id),
                    None => "exists and is not a loudfail run directory".to_string(),
                };
                return Err(HarnessError::RunDir {
                    path: root,
                    problem,
                    help: "pass --dir with a new or empty directory (loudfail never writes into a directory that holds anything)".into(),
                });
            }
        }
        std::fs::create_dir_all(&root).map_err(|e| HarnessError::io(&root, e))?;
        let root = root.canonicalize().map_err(|e| HarnessError::io(&root, e))?;
        let dir = RunDir { root };
        let marker = Marker { run_id: run_id.to_string(), version: env!("CARGO_PKG_VERSION").into() };
        dir.write_json(MARKER, &marker)?;
        for sub in ["tables", "checkpoints", "logs"] {
            let p = dir.root.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| HarnessError::io(&p, e))?;
        }
        Ok(dir)
    }

    /// The marker of `path`, if it is a run directory.
    pub fn marker(path: &Path) -> Option<Marker> {
        let text = std::fs::read_to_string(path.join(MARKER)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `history.jsonl`.
    pub fn history(&self) -> PathBuf {
        self.root.join("history.jsonl")
    }

    /// `catalog.json`.
    pub fn catalog(&self) -> PathBuf {
        RunDir::catalog_in(&self.root)
    }

    /// The catalog file of the run directory `root`.
    pub fn catalog_in(root: &Path) -> PathBuf {
        root.join("catalog.json")
    }

    /// Where a table's data lives by default.
    pub fn table(&self, name: &str) -> PathBuf {
        self.root.join("tables").join(name)
    }

    /// A query's checkpoint.
    pub fn checkpoint(&self, query: &str) -> PathBuf {
        self.root.join("checkpoints").join(query)
    }

    /// A process's stderr log.
    pub fn log(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.stderr"))
    }

    /// A process's temporary directory (its `TMPDIR`), made if it is missing: what a process the
    /// run kills leaves behind stays with the run's other artifacts, not in /tmp.
    pub fn tmp(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join("tmp").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io(&dir, e))?;
        Ok(dir)
    }

    /// Writes a JSON file inside the run directory, atomically (temporary file, then rename).
    pub fn write_json<T: Serialize>(&self, rel: &str, value: &T) -> Result<PathBuf> {
        let path = self.root.join(rel);
        write_json_atomic(&path, value)?;
        Ok(path)
    }
}

/// Writes `value` as JSON to `path` through a temporary file and a rename, so a reader never
/// sees half a file and a crash never leaves one.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| HarnessError::json(path.display().to_string(), e))?;
    std::fs::write(&tmp, bytes).map_err(|e| HarnessError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| HarnessError::io(path, e))
}

/// Reads a JSON file.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| HarnessError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| HarnessError::json(path.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path in a directory removed when the first is dropped; nothing is there yet.
    fn scratch() -> (tempfile::TempDir, PathBuf) {
        let parent = tempfile::tempdir().unwrap();
        let p = parent.path().join("run");
        (parent, p)
    }

    #[test]
    fn a_new_directory_is_created_with_its_marker() {
        let (_parent, p) = scratch();
        let d = RunDir::create(Some(&p), "r1").unwrap();
        assert_eq!(RunDir::marker(d.root()).unwrap().run_id, "r1");
        assert!(d.root().join("tables").is_dir());
    }

    #[test]
    fn a_foreign_directory_is_refused_and_left_untouched() {
        let (_parent, p) = scratch();
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("precious.txt"), "keep").unwrap();
        let err = RunDir::create(Some(&p), "r1").unwrap_err();
        assert!(err.to_string().contains("not a loudfail run directory"), "{err}");
        assert!(err.is_bad_input());
        let names: Vec<_> = std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("precious.txt")]);
    }

    #[test]
    fn an_earlier_run_is_refused_by_name() {
        let (_parent, p) = scratch();
        RunDir::create(Some(&p), "r1").unwrap();
        let err = RunDir::create(Some(&p), "r2").unwrap_err();
        assert!(err.to_string().contains("already holds loudfail run r1"), "{err}");
    }
}
