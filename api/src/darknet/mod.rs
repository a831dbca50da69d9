//! Darknet sensors: what sensors watching unused address space send (everything they see is
//! somebody scanning). Lines are read by [`parse`] (never touching the database), written by
//! [`ingest`] in one transaction per batch together with the hourly roll-ups, folded into the
//! per-source roll-ups many batches at a time by [`fold`], and read back by [`read`] from the
//! roll-ups (plus, for per-source answers, the events not folded yet).

pub mod fold;
pub mod graphql;
pub mod ingest;
pub mod jobs;
pub mod parse;
pub mod read;
pub mod sensor;
pub mod sources;
pub mod spike;
mod store;

use chrono::{DateTime, Utc};

/// The outbox topic of accepted batches (one row per batch, never per event).
pub const ACTIVITY_TOPIC: crate::events::Topic = crate::events::Topic("darknet");
/// The outbox topic of detected spikes.
pub const SPIKE_TOPIC: crate::events::Topic = crate::events::Topic("darknetSpike");
/// How many ports, countries and sources a batch's summary lists.
pub const LIVE_TOP: usize = 10;

/// Hours since the Unix epoch: the bucket of every hourly roll-up.
pub fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}
