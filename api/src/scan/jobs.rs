//! The scan scheduler's job: every tick it fails runs abandoned by a dead process, queues the
//! scans whose schedule came due, and starts queued runs up to the concurrency cap.

use std::time::Duration;

use crate::db;
use crate::error::AppResult;
use crate::jobs::{Job, JobReport};
use crate::scan::{runner, service};
use crate::state::AppState;

pub const NAME: &str = "run-scans";

/// The scan domain's jobs, with their periods from the configuration.
pub fn all(state: &AppState) -> Vec<Job> {
    vec![Job {
        name: NAME,
        every: Duration::from_secs(state.config.scan_tick_secs.max(1)),
        run: |state| Box::pin(async move { run_once(&state).await }),
    }]
}

pub async fn run_once(state: &AppState) -> AppResult<JobReport> {
    let reaped = db::write(&state.db, |txn| {
        Box::pin(async move { service::reap_abandoned(txn).await })
    })
    .await?;
    let queued = db::write(&state.db, |txn| {
        Box::pin(async move { service::enqueue_due(txn).await })
    })
    .await?;
    let started = runner::drain(state.clone()).await?;
    Ok(JobReport {
        items: (reaped.len() + queued.len()) as i64 + started as i64,
    })
}
