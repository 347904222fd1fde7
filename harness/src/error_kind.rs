//! The class of a query's error, as the history records it and the oracles read it.
//!
//! Written to `history.jsonl` as its name (`"ConcurrentAppend"`), so old runs still judge; a
//! name this build does not know is kept as [`ErrorKind::Other`], never lost or refused.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! error_kinds {
    ($( $(#[doc = $doc:literal])+ $kind:ident, )+) => {
        /// The class of a query's error: what a pipeline's code raised (Delta's commit conflicts,
        /// Kafka, a parse), or what the harness saw from outside (a process that ended, an
        /// effect no query reported).
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum ErrorKind {
            $( $(#[doc = $doc])+ $kind, )+
            /// Any other class, by its name (a pipeline's own). Built by [`ErrorKind::from_name`],
            /// which never makes one of a name listed above.
            Other(String),
        }

        impl ErrorKind {
            /// Every named class, in the order declared.
            pub const KNOWN: &'static [ErrorKind] = &[$(ErrorKind::$kind),+];

            /// Its name, as written to the history (`ConcurrentAppend`).
            pub fn name(&self) -> &str {
                match self {
                    $(ErrorKind::$kind => stringify!($kind),)+
                    ErrorKind::Other(name) => name,
                }
            }

            /// The class of a name: a known one, or [`ErrorKind::Other`].
            pub fn from_name(name: &str) -> ErrorKind {
                match name {
                    $(stringify!($kind) => ErrorKind::$kind,)+
                    other => ErrorKind::Other(other.to_string()),
                }
            }
        }
    };
}

error_kinds! {
    /// Delta: another writer appended files the transaction's read would have seen.
    ConcurrentAppend,
    /// Delta: another writer deleted files this transaction read.
    ConcurrentDeleteRead,
    /// Delta: another writer deleted files this transaction deletes.
    ConcurrentDeleteDelete,
    /// Delta: the table's metadata (its schema) changed under the transaction.
    MetadataChanged,
    /// Delta: another transaction of the same application id committed.
    ConcurrentTransaction,
    /// Delta: the table's protocol changed under the transaction.
    ProtocolChanged,
    /// Delta: any other commit conflict.
    CommitConflict,
    /// Delta: the commit was retried as often as allowed.
    MaxCommitAttempts,
    /// Delta: any other transaction error.
    Transaction,
    /// Delta: the location holds no table.
    NotATable,
    /// Delta: the table's location cannot be used.
    InvalidTableLocation,
    /// Delta: the object store failed (a read-only or missing directory).
    ObjectStore,
    /// Delta: the data did not match the table's schema.
    SchemaMismatch,
    /// Delta: any other error of delta-rs.
    Delta,
    /// Arrow failed (building or reading a batch).
    Arrow,
    /// DataFusion failed (a query plan, a MERGE).
    DataFusion,
    /// The Kafka source failed (fetching, a topic without partitions).
    Kafka,
    /// A record could not be parsed.
    Parse,
    /// A table name the catalog does not hold.
    TableNotFound,
    /// The catalog could not be read.
    CatalogUnavailable,
    /// The query's checkpoint could not be read or written.
    Checkpoint,
    /// An armed failpoint raised an error.
    Failpoint,
    /// The query's code panicked.
    Panic,
    /// The harness's own plumbing failed inside the query.
    Harness,
    /// Seen from outside: the process running the query ended.
    ProcessExited,
    /// Seen from outside: the kernel's OOM killer ended the cluster (a memory cgroup).
    OOMKilled,
    /// Seen from outside: the cluster could not allocate past its address-space limit.
    AllocationFailed,
    /// Seen from outside: the cluster is alive but stopped (SIGSTOP): no progress.
    DriverHung,
    /// Seen from outside: the cluster was killed.
    DriverCrashed,
    /// Seen from outside: the cluster died between a commit and its bookkeeping.
    CrashedAfterCommit,
    /// Seen from outside: the query wrote where its table's data does not live.
    WroteElsewhere,
    /// No query reported the fault's effect: it took effect when injected, to be judged from
    /// the world at the horizon.
    Unseen,
}

impl ErrorKind {
    /// A commit that lost to another writer's (`ConcurrentAppend`, `ConcurrentDeleteRead`,
    /// `ConcurrentDeleteDelete`, `ConcurrentTransaction`): retried on a fresh snapshot, it may
    /// succeed.
    pub fn is_concurrent_write(&self) -> bool {
        matches!(
            self,
            ErrorKind::ConcurrentAppend
                | ErrorKind::ConcurrentDeleteRead
                | ErrorKind::ConcurrentDeleteDelete
                | ErrorKind::ConcurrentTransaction
        )
    }
}

impl From<String> for ErrorKind {
    fn from(name: String) -> Self {
        ErrorKind::from_name(&name)
    }
}

impl From<&str> for ErrorKind {
    fn from(name: &str) -> Self {
        ErrorKind::from_name(name)
    }
}

impl From<ErrorKind> for String {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Other(name) => name,
            known => known.name().to_string(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Two kinds are one when their names are: an `Other` built by hand with a known name is that
/// known kind.
impl PartialEq for ErrorKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for ErrorKind {}

impl std::hash::Hash for ErrorKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}

impl PartialEq<str> for ErrorKind {
    fn eq(&self, other: &str) -> bool {
        self.name() == other
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_kind_reads_back_from_its_name() {
        for kind in ErrorKind::KNOWN {
            assert_eq!(&ErrorKind::from_name(kind.name()), kind);
            assert!(!matches!(ErrorKind::from_name(kind.name()), ErrorKind::Other(_)), "{kind}");
        }
    }

    #[test]
    fn the_history_holds_the_name_and_unknown_names_are_kept() {
        assert_eq!(serde_json::to_string(&ErrorKind::ConcurrentAppend).unwrap(), "\"ConcurrentAppend\"");
        let read: ErrorKind = serde_json::from_str("\"PoisonPill\"").unwrap();
        assert_eq!(read, ErrorKind::Other("PoisonPill".into()));
        assert_eq!(serde_json::to_string(&read).unwrap(), "\"PoisonPill\"");
        assert_eq!(ErrorKind::Other("Unseen".into()), ErrorKind::Unseen);
    }
}
