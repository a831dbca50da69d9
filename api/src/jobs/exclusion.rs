//! Lifts port-scan exclusions whose time is up (HECTOR's 1, 7 and 30-day exclusions).

use super::JobReport;
use crate::error::AppResult;
use crate::host::service;
use crate::state::AppState;

pub const NAME: &str = "lift-expired-scan-exclusions";

pub async fn run_once(state: &AppState) -> AppResult<JobReport> {
    let lifted = service::lift_expired_exclusions(&state.db).await?;
    Ok(JobReport {
        items: lifted as i64,
    })
}
