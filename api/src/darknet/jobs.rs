//! The darknet's upkeep job: spike detection over the roll-ups, then retention of raw events
//! (roll-ups stay), deleted in bounded batches, each its own transaction.

use std::time::Duration;

use entity::{darknet_batch, darknet_event};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::spike::{self, Threshold};
use crate::db;
use crate::error::AppResult;
use crate::jobs::{Job, JobReport};
use crate::state::AppState;

pub const NAME: &str = "darknet-upkeep";
/// Events one retention transaction deletes.
pub const RETENTION_BATCH: u64 = 5_000;
/// Most retention transactions one run takes (the next run goes on).
const RETENTION_ROUNDS: usize = 200;

/// The darknet's jobs, with their periods from the configuration.
pub fn all(state: &AppState) -> Vec<Job> {
    vec![Job {
        name: NAME,
        every: Duration::from_secs(state.config.darknet_tick_secs.max(1)),
        run: |state| Box::pin(async move { run_once(&state).await }),
    }]
}

pub async fn run_once(state: &AppState) -> AppResult<JobReport> {
    let threshold = Threshold {
        factor: state.config.darknet_spike_factor,
        min_events: state.config.darknet_spike_min_events,
    };
    let spikes = db::write(&state.db, move |txn| {
        Box::pin(async move { spike::detect(txn, db::now(), threshold).await })
    })
    .await?;
    let mut deleted = 0;
    if state.config.darknet_retention_days > 0 {
        let cutoff =
            db::now() - chrono::Duration::days(i64::from(state.config.darknet_retention_days));
        deleted = retain(&state.db, cutoff).await?;
    }
    Ok(JobReport {
        items: spikes.len() as i64 + deleted as i64,
    })
}

/// Deletes raw events seen before `cutoff` (folded ones only: see [`super::fold`]), and
/// batches received before it (those whose events every roll-up folded), a bounded batch per
/// transaction; answers how many events went.
pub async fn retain(
    db: &sea_orm::DatabaseConnection,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> AppResult<u64> {
    let mut deleted = 0;
    for _ in 0..RETENTION_ROUNDS {
        let gone = db::write(db, move |txn| {
            Box::pin(async move { delete_some(txn, cutoff).await })
        })
        .await?;
        deleted += gone;
        if gone < RETENTION_BATCH {
            break;
        }
    }
    db::write(db, move |txn| {
        Box::pin(async move {
            // A batch past a roll-up's batch mark bounds the hours of the events not folded yet
            // (see `fold::unfolded`): it stays until every roll-up folded all of its events.
            let kept_from = super::fold::batches_folded(txn).await?;
            darknet_batch::Entity::delete_many()
                .filter(darknet_batch::Column::ReceivedAt.lt(cutoff))
                .filter(darknet_batch::Column::Id.lte(kept_from))
                .exec(txn)
                .await?;
            Ok(())
        })
    })
    .await?;
    Ok(deleted)
}

async fn delete_some(
    db: &impl ConnectionTrait,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> AppResult<u64> {
    // Events past the fold mark are still the per-source roll-ups' only record of themselves.
    let folded = super::fold::folded(db).await?;
    let ids: Vec<i64> = darknet_event::Entity::find()
        .select_only()
        .column(darknet_event::Column::Id)
        .filter(darknet_event::Column::SeenAt.lt(cutoff))
        .filter(darknet_event::Column::Id.lte(folded))
        .order_by_asc(darknet_event::Column::SeenAt)
        .limit(RETENTION_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let done = darknet_event::Entity::delete_many()
        .filter(darknet_event::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}
