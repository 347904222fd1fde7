//! The catalog: table name → storage location (an external location), in a file the run owns.
//! Queries resolve every table through it, the way Unity Catalog resolves a table name, so a
//! catalog entry that points at the wrong place is a fault the pipeline really meets.

use crate::error::{HarnessError, Result};
use crate::rundir::{read_json, write_json_atomic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The catalog file's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Table name → location (an absolute path or a URL).
    pub tables: BTreeMap<String, String>,
}

impl Catalog {
    /// Reads a catalog file; a file that does not parse is a clear error.
    pub fn load(path: &Path) -> Result<Catalog> {
        if !path.is_file() {
            return Err(HarnessError::bad_input(
                format!("catalog {} does not exist", path.display()),
                "pass the path of a catalog file",
            ));
        }
        read_json(path).map_err(|e| match e {
            HarnessError::Json { source, .. } => HarnessError::bad_input(
                format!("catalog {} does not parse: {source}", path.display()),
                r#"a catalog is JSON: {"tables": {"<name>": "<location>"}}"#,
            ),
            other => other,
        })
    }

    /// Writes the catalog file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json_atomic(path, self)
    }

    /// The location of a table.
    pub fn location(&self, table: &str) -> Result<PathBuf> {
        self.tables.get(table).map(PathBuf::from).ok_or_else(|| {
            HarnessError::bad_input(
                format!("table {table:?} is not in the catalog"),
                "add it to catalog.json or check the pipeline's table names",
            )
        })
    }

    /// The location of a table as a URL delta-rs accepts.
    pub fn url(&self, table: &str) -> Result<url::Url> {
        let path = self.location(table)?;
        url::Url::from_directory_path(&path).map_err(|()| {
            HarnessError::bad_input(
                format!("catalog location {} of table {table:?} is not an absolute path", path.display()),
                "use absolute paths in catalog.json",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_that_does_not_parse_names_the_file_and_the_fix() {
        let scratch = tempfile::tempdir().unwrap();
        let p = scratch.path().join("catalog.json");
        std::fs::write(&p, "{tables: nope").unwrap();
        let err = Catalog::load(&p).unwrap_err().to_string();
        assert!(err.contains("does not parse") && err.contains("Help:"), "{err}");
    }

    #[test]
    fn unknown_tables_are_errors() {
        let c = Catalog::default();
        assert!(c.location("bronze").is_err());
    }
}
