//! The asset inventory that everything else hangs on: hosts (one per address, v4 or v6), their
//! tags, groups, support groups, locations and URLs, and their port-scan exclusions.

pub mod catalog;
pub mod graphql;
pub mod jobs;
pub mod rows;
pub mod service;

/// The outbox topic of host changes.
pub const TOPIC: crate::events::Topic = crate::events::Topic("host");
