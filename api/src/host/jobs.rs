//! The inventory's scheduled jobs: lifting port-scan exclusions whose time is up (HECTOR's
//! 1, 7 and 30-day exclusions), and the exposure digest per support group.

use std::time::Duration;

use crate::error::AppResult;
use crate::host::service;
use crate::jobs::{Job, JobReport};
use crate::state::AppState;

pub const NAME: &str = "lift-expired-scan-exclusions";
pub const DIGEST: &str = "exposure-digest";

/// The inventory's jobs, with their periods from the configuration.
pub fn all(state: &AppState) -> Vec<Job> {
    vec![
        Job {
            name: NAME,
            every: Duration::from_secs(state.config.exclusion_job_secs),
            run: |state| Box::pin(async move { run_once(&state).await }),
        },
        Job {
            name: DIGEST,
            every: Duration::from_secs(state.config.digest_secs.max(1)),
            run: |state| Box::pin(async move { digest_once(&state).await }),
        },
    ]
}

/// Writes the exposure digests of the changes since the last ones.
pub async fn digest_once(state: &AppState) -> AppResult<JobReport> {
    let written = crate::db::write(&state.db, |txn| {
        Box::pin(async move { service::exposure::make_digests(txn).await })
    })
    .await?;
    Ok(JobReport {
        items: written as i64,
    })
}

pub async fn run_once(state: &AppState) -> AppResult<JobReport> {
    let lifted = crate::db::write(&state.db, |txn| {
        Box::pin(async move { service::lift_expired_exclusions(txn).await })
    })
    .await?;
    Ok(JobReport {
        items: lifted as i64,
    })
}
