//! The feed domain's jobs: `feed-poll` polls the feeds that are due; `intel-match` matches
//! stored indicators again against findings, hosts and darknet sources that arrived or
//! changed since its last successful run (everything on its first run).

use std::time::Duration;

use entity::job_run;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{matching, poll};
use crate::db;
use crate::error::AppResult;
use crate::jobs::{Job, JobReport};
use crate::state::AppState;

pub const POLL: &str = "feed-poll";
pub const MATCH: &str = "intel-match";
/// How far back before its last run `intel-match` looks (transactions that committed after
/// that run started).
const OVERLAP: chrono::Duration = chrono::Duration::minutes(10);

/// The feed domain's jobs, with their periods from the configuration.
pub fn all(state: &AppState) -> Vec<Job> {
    vec![
        Job {
            name: POLL,
            every: Duration::from_secs(state.config.feed_tick_secs.max(1)),
            run: |state| {
                Box::pin(async move {
                    Ok(JobReport {
                        items: poll::poll_due(&state).await?,
                    })
                })
            },
        },
        Job {
            name: MATCH,
            every: Duration::from_secs(state.config.intel_match_secs.max(1)),
            run: |state| Box::pin(async move { rematch(&state).await }),
        },
    ]
}

/// One `intel-match` run.
pub async fn rematch(state: &AppState) -> AppResult<JobReport> {
    let last: Option<chrono::DateTime<chrono::Utc>> = job_run::Entity::find()
        .select_only()
        .column(job_run::Column::StartedAt)
        .filter(job_run::Column::Job.eq(MATCH))
        .filter(job_run::Column::Status.eq("SUCCEEDED"))
        .order_by_desc(job_run::Column::StartedAt)
        .limit(1)
        .into_tuple()
        .one(&state.db)
        .await?;
    let since = last.map(|t| t - OVERLAP);
    let found = db::write(&state.db, move |txn| {
        Box::pin(async move { matching::rematch_since(txn, since, db::now()).await })
    })
    .await?;
    Ok(JobReport {
        items: found.len() as i64,
    })
}
