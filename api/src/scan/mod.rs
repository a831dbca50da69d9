//! Scans: structured nmap profiles, scheduled and on-demand runs executed inside the process,
//! and imports of nmap XML, all recording their results through the inventory's exposure
//! service (`host::service::exposure`).

pub mod parse;
