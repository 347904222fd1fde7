//! loudfail's fault catalogue. Every fault here uses only the harness's public API, so a user's
//! own fault is written the same way (see `examples/custom_fault.rs`).
//!
//! | module | fault |
//! |---|---|
//! | [`concurrent_append`] | a writer commits what a resolver's MERGE read, between its read and its commit |

#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

pub mod concurrent_append;

use harness::FaultCatalog;
use std::sync::Arc;

/// Every fault of the catalogue.
pub fn catalog() -> FaultCatalog {
    FaultCatalog::new().with(Arc::new(concurrent_append::ConcurrentAppend::default()))
}
