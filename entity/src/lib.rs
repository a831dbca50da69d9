//! SeaORM entities: one file per table, nothing else. Relations are expressed as queries in
//! the services; the entities only describe rows.

pub mod event;
pub mod host;
pub mod host_group;
pub mod host_group_member;
pub mod host_tag;
pub mod job_run;
pub mod job_schedule;
pub mod location;
pub mod support_group;
pub mod tag;
pub mod url;
