//! loudfail's reference pipelines and scenario catalogue.
//!
//! | module | what it is |
//! |---|---|
//! | [`telemetry`] | incident 1: bronze ingestion, domain queries, alert resolution beside an ML writer |
//! | [`features`] | incident 2: feature extraction and inference, the inference output found through the catalog |
//! | [`matrix`] | DESIGN.md's expected matrix as runnable cells |
//! | [`explore`] | property-based exploration of scenarios, with shrinking and kept regressions |
//! | [`audit`] | comparing what a table holds with what the workload produced |
//! | [`common`] | schemas, JSON records, Delta-to-Delta transforms, a producer |
//!
//! [`registry`] lists the pipelines the `loudfail` binary knows; [`faults()`] the faults.

#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

pub mod audit;
pub mod common;
pub mod explore;
pub mod features;
pub mod matrix;
pub mod shard;
pub mod telemetry;

use harness::pipeline::Registry;
use std::sync::Arc;

/// Every reference pipeline.
pub fn registry() -> Registry {
    Registry::new().with(Arc::new(telemetry::Telemetry)).with(Arc::new(features::FeaturesInference))
}

/// The pipelines loudfail ships as programs with spec files, found by name like the engine's:
/// (name, spec file relative to the workspace).
pub const SHIPPED_PROGRAMS: [(&str, &str); 2] = [
    ("spark-telemetry", "examples/spark/telemetry.toml"),
    ("spark-features-inference", "examples/spark/features_inference.toml"),
];

/// The spec file of a shipped program pipeline (`spark-telemetry`), if `name` is one.
pub fn shipped_program(name: &str) -> Option<std::path::PathBuf> {
    let (_, path) = SHIPPED_PROGRAMS.iter().find(|(n, _)| *n == name)?;
    Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
}

/// Every fault of the catalogue.
pub fn faults() -> harness::FaultCatalog {
    faults::catalog()
}
