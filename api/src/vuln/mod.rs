//! Vulnerabilities: the catalog, findings on hosts and their lifecycle, imported from scanner
//! reports. So far the readers of those reports ([`parse`]): bytes in, findings out, never
//! touching the database; the import pipeline, the catalog and the GraphQL surface build on
//! them.

pub mod lifecycle;
pub mod parse;
