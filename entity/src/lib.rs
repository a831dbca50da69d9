//! SeaORM entities: one file per table, nothing else. Each declares its relations (the foreign
//! keys of its migration, and the lists that point back at it), so `find_related` and joins
//! work; the services still choose their queries.

pub mod api_token;
pub mod app_secret;
pub mod app_user;
pub mod audit_entry;
pub mod darknet_batch;
pub mod darknet_country_hour;
pub mod darknet_event;
pub mod darknet_port_hour;
pub mod darknet_source;
pub mod darknet_source_hour;
pub mod darknet_source_port;
pub mod darknet_source_sensor;
pub mod darknet_spike;
pub mod event;
pub mod exposure_change;
pub mod exposure_digest;
pub mod finding;
pub mod finding_change;
pub mod finding_import;
pub mod finding_import_host;
pub mod finding_sighting;
pub mod host;
pub mod host_group;
pub mod host_group_member;
pub mod host_service;
pub mod host_tag;
pub mod job_run;
pub mod job_schedule;
pub mod location;
pub mod login_throttle;
pub mod refresh_token;
pub mod scan;
pub mod scan_profile;
pub mod scan_run;
pub mod sensor;
pub mod service_observation;
pub mod session;
pub mod support_group;
pub mod tag;
pub mod url;
pub mod user_support_group;
pub mod vulnerability;
pub mod vulnerability_cve;
pub mod vulnerability_tag;
