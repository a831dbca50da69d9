//! Scans: structured nmap profiles, scheduled and on-demand runs executed inside the process,
//! and imports of nmap XML, all recording their results through the inventory's exposure
//! service (`host::service::exposure`).

pub use crate::nmap_xml as parse;
pub mod profile;
pub mod service;

/// The outbox topic of scan runs (state and progress).
pub const RUN_TOPIC: crate::events::Topic = crate::events::Topic("scanRun");
pub mod graphql;
pub mod ingest;
pub mod jobs;
pub mod runner;
