//! loudfail's fault catalogue. Every fault here uses only the harness's public API, so a user's
//! own fault is written the same way (see `examples/custom_fault.rs`).
//!
//! | module | fault |
//! |---|---|
//! | [`broker_outage`] | every broker stops answering for a while, then comes back |
//! | [`catalog_blip`] | the catalog (metastore) is unreachable for a while |
//! | [`commit_crash`] | the writer dies right after a sink commit lands, before it records its progress; or a program's driver, right after the broker takes its offset commit |
//! | [`checkpoint_corruption`] | the driver dies mid-write and leaves a query's offsets entry torn |
//! | [`concurrent_change`] | another job changes the sink's metadata between a writer's read and its commit |
//! | [`concurrent_append`] | a writer commits what a resolver's MERGE read, between its read and its commit |
//! | [`driver`] | a signal to the driver: it dies (SIGKILL), or hangs (SIGSTOP) until healed |
//! | [`driver_oom`] | a query's state outgrows its cluster's memory limit: the kernel kills the driver |
//! | [`external_location`] | a catalog entry points at the wrong location: the write fails, or lands where no reader looks |
//! | [`storage_read_only`] | a query's sink storage stops taking writes until healed |
//! | [`upstream`] | a poison record, or a new field the sink's schema rejects: the query fails at every start until a fix is deployed |

#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

pub mod broker_outage;
pub mod catalog_blip;
pub mod checkpoint_corruption;
pub mod commit_crash;
pub mod concurrent_append;
pub mod concurrent_change;
pub mod concurrent_writer;
pub mod driver;
pub mod driver_oom;
pub mod external_location;
pub mod outage;
pub mod schema_drift;
pub mod storage_read_only;
pub mod upstream;

use harness::FaultCatalog;
use std::sync::Arc;

/// Every fault of the catalogue.
pub fn catalog() -> FaultCatalog {
    use external_location::{ExternalLocationMismatch, Variant};
    FaultCatalog::new()
        .with(Arc::new(concurrent_append::ConcurrentAppend::default()))
        .with(Arc::new(ExternalLocationMismatch::new(Variant::Fails)))
        .with(Arc::new(ExternalLocationMismatch::new(Variant::Quiet)))
        .with(Arc::new(driver_oom::DriverOom))
        .with(Arc::new(driver::DriverSignal::crash()))
        .with(Arc::new(driver::DriverSignal::hang()))
        .with(Arc::new(catalog_blip::CatalogBlip::default()))
        .with(Arc::new(checkpoint_corruption::CheckpointCorruption))
        .with(Arc::new(upstream::DataFault::poison_record()))
        .with(Arc::new(upstream::DataFault::schema_mismatch()))
        .with(Arc::new(storage_read_only::StorageReadOnly))
        .with(Arc::new(commit_crash::CrashAfterCommit::sink()))
        .with(Arc::new(commit_crash::CrashAfterCommit::offsets()))
        .with(Arc::new(broker_outage::BrokerOutage::default()))
        .with(Arc::new(broker_outage::BrokerOutage::latency()))
        .with(Arc::new(broker_outage::BrokerOutage::errors()))
        .with(Arc::new(concurrent_change::ConcurrentMetadataChange))
        .with(Arc::new(concurrent_writer::ConcurrentWriter::default()))
        .with(Arc::new(schema_drift::ProgramData { oddity: harness::pipeline::Oddity::Poison }))
        .with(Arc::new(schema_drift::ProgramData { oddity: harness::pipeline::Oddity::NewField }))
}
