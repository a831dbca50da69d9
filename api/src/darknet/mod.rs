//! Darknet sensors (issue in progress): what a sensor watching unused address space sends.
//! So far the readers of its lines, which never touch the database; ingestion, roll-ups and
//! the GraphQL follow.

pub mod geoip;
pub mod parse;
