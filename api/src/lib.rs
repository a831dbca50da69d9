//! Hector's application library: configuration, HTTP and GraphQL wiring, the domains and
//! their services, events and jobs. The `hector` binary only calls [`main`].

pub mod actor;
pub mod auth;
pub mod config;
pub mod darknet;
pub mod db;
pub mod error;
pub mod events;
pub mod feed;
pub mod filter;
pub mod geoip;
pub mod graphiql;
pub mod graphql;
pub mod host;
pub mod http;
pub mod incident;
pub mod jobs;
pub mod net;
/// nmap's XML, read as a stream (scans record its ports, findings its vulnerability scripts).
pub mod nmap_xml;
pub mod page;
pub mod rate;
pub mod scan;
pub mod schema;
pub mod state;
pub mod telemetry;
pub mod validate;
pub mod vuln;

mod app;
mod import;

pub use app::{Server, main, run, start};
