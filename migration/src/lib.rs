//! Hector's schema, append-only: one concern per migration, portable between SQLite and
//! MySQL/MariaDB. Nothing here may depend on engine-specific SQL outside `cols`.
//!
//! Every step is safe to run again: MySQL DDL is not transactional, so a process killed in
//! the middle of a migration leaves some of its statements done and the migration unrecorded,
//! and the next start runs it from the top. Tables are created `IF NOT EXISTS`, indexes through
//! `cols::IndexSpec::ensure`, columns after `has_column`, rows with conflict-ignoring inserts.
//! `tests/it/storage.rs` runs every migration twice to hold this.

pub use sea_orm_migration::prelude::*;

mod cols;
mod m20261124_000001_create_support_group;
mod m20261124_000002_create_location;
mod m20261124_000003_create_host_group;
mod m20261124_000004_create_tag;
mod m20261124_000005_create_host;
mod m20261124_000006_create_host_tag;
mod m20261124_000007_create_host_group_member;
mod m20261124_000008_create_url;
mod m20261124_000009_create_event;
mod m20261124_000010_create_job_schedule;
mod m20261124_000011_create_job_run;
mod m20261124_000012_create_app_user;
mod m20261124_000013_create_user_support_group;
mod m20261124_000014_create_session;
mod m20261124_000015_create_refresh_token;
mod m20261124_000016_create_api_token;
mod m20261124_000017_create_audit_entry;
mod m20261124_000018_create_login_throttle;
mod m20261202_000019_create_app_secret;
mod m20261202_000020_add_audit_entry_repeats;
mod m20261202_000021_add_job_run_lease;
mod m20261202_000022_add_exclusion_set_by_user;
mod m20261203_000023_create_scan_profile;
mod m20261203_000024_create_scan;
mod m20261203_000025_create_scan_run;
mod m20261203_000026_create_host_service;
mod m20261203_000027_create_service_observation;
mod m20261203_000028_create_exposure_change;
mod m20261203_000029_create_exposure_digest;
mod m20261204_000030_create_sensor;
mod m20261204_000031_create_darknet_batch;
mod m20261204_000032_create_darknet_event;
mod m20261204_000033_create_darknet_rollups;
mod m20261204_000034_create_darknet_spike;
mod m20261205_000035_create_findings;
mod m20261205_000036_create_incidents;
mod m20261206_000037_create_feeds;
mod m20261206_000038_create_incident_article;
mod m20261207_000039_drop_darknet_source_hour_src_index;
mod m20261208_000040_create_darknet_fold;
mod m20261209_000041_index_darknet_source_last_seen;
mod m20261210_000042_index_darknet_event_by_hour_and_source;
mod m20261211_000043_create_darknet_gate;
mod m20261212_000044_add_exposure_change_digested;
mod m20261213_000045_split_darknet_source_port_fold;
mod m20261214_000046_add_darknet_batch_hours;
mod m20261215_000047_widen_darknet_event_hour_source_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_support_group::Migration),
            Box::new(m20261124_000002_create_location::Migration),
            Box::new(m20261124_000003_create_host_group::Migration),
            Box::new(m20261124_000004_create_tag::Migration),
            Box::new(m20261124_000005_create_host::Migration),
            Box::new(m20261124_000006_create_host_tag::Migration),
            Box::new(m20261124_000007_create_host_group_member::Migration),
            Box::new(m20261124_000008_create_url::Migration),
            Box::new(m20261124_000009_create_event::Migration),
            Box::new(m20261124_000010_create_job_schedule::Migration),
            Box::new(m20261124_000011_create_job_run::Migration),
            Box::new(m20261124_000012_create_app_user::Migration),
            Box::new(m20261124_000013_create_user_support_group::Migration),
            Box::new(m20261124_000014_create_session::Migration),
            Box::new(m20261124_000015_create_refresh_token::Migration),
            Box::new(m20261124_000016_create_api_token::Migration),
            Box::new(m20261124_000017_create_audit_entry::Migration),
            Box::new(m20261124_000018_create_login_throttle::Migration),
            Box::new(m20261202_000019_create_app_secret::Migration),
            Box::new(m20261202_000020_add_audit_entry_repeats::Migration),
            Box::new(m20261202_000021_add_job_run_lease::Migration),
            Box::new(m20261202_000022_add_exclusion_set_by_user::Migration),
            Box::new(m20261203_000023_create_scan_profile::Migration),
            Box::new(m20261203_000024_create_scan::Migration),
            Box::new(m20261203_000025_create_scan_run::Migration),
            Box::new(m20261203_000026_create_host_service::Migration),
            Box::new(m20261203_000027_create_service_observation::Migration),
            Box::new(m20261203_000028_create_exposure_change::Migration),
            Box::new(m20261203_000029_create_exposure_digest::Migration),
            Box::new(m20261204_000030_create_sensor::Migration),
            Box::new(m20261204_000031_create_darknet_batch::Migration),
            Box::new(m20261204_000032_create_darknet_event::Migration),
            Box::new(m20261204_000033_create_darknet_rollups::Migration),
            Box::new(m20261204_000034_create_darknet_spike::Migration),
            Box::new(m20261205_000035_create_findings::Migration),
            Box::new(m20261205_000036_create_incidents::Migration),
            Box::new(m20261206_000037_create_feeds::Migration),
            Box::new(m20261206_000038_create_incident_article::Migration),
            Box::new(m20261207_000039_drop_darknet_source_hour_src_index::Migration),
            Box::new(m20261208_000040_create_darknet_fold::Migration),
            Box::new(m20261209_000041_index_darknet_source_last_seen::Migration),
            Box::new(m20261210_000042_index_darknet_event_by_hour_and_source::Migration),
            Box::new(m20261211_000043_create_darknet_gate::Migration),
            Box::new(m20261212_000044_add_exposure_change_digested::Migration),
            Box::new(m20261213_000045_split_darknet_source_port_fold::Migration),
            Box::new(m20261214_000046_add_darknet_batch_hours::Migration),
            Box::new(m20261215_000047_widen_darknet_event_hour_source_index::Migration),
        ]
    }
}
