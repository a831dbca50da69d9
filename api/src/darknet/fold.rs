//! The per-source roll-ups, folded in bulk. A batch writes its events and the per-hour
//! roll-ups (ports, countries) in its own transaction; the four per-source roll-ups (per
//! source, per hour and source, per source and port, per source and sensor) take the events
//! past the fold mark many batches at a time, in one transaction that moves the mark.
//!
//! Why: a batch of 10,000 events touches about 7,000 sources, and writing each of them into
//! four tables was most of what ingest cost; 100,000 events touch about 35,000. Readers lose
//! nothing: every per-source answer is the roll-up plus what the events past the mark add
//! (see [`super::read`]), so an accepted batch counts at once and exactly once, folded or not.
//!
//! The mark is an event id. Ids follow commit order: batches take the sensor locks before
//! their first insert (see `store::one_batch_at_a_time`) and SQLite has one writer, so no
//! batch can commit an id at or below a mark a fold has set.

use std::time::{Duration, Instant};

use entity::{darknet_event, darknet_fold};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};

use super::store::{Merge, fold_into, one_batch_at_a_time};
use crate::db;
use crate::error::{AppError, AppResult};

/// Events past the mark that make the folder fold at once.
pub const FOLD_AT: i64 = 100_000;
/// Longest the folder leaves a smaller tail unfolded.
pub const FOLD_WAIT: Duration = Duration::from_secs(5);
/// Most events one fold transaction takes (a longer tail takes several).
pub const FOLD_MAX: i64 = 250_000;

/// The fold mark: events with larger ids are not in the per-source roll-ups yet.
pub async fn mark(db: &impl ConnectionTrait) -> AppResult<i64> {
    let upto: Option<i64> = darknet_fold::Entity::find_by_id(1)
        .select_only()
        .column(darknet_fold::Column::Upto)
        .into_tuple()
        .one(db)
        .await?;
    upto.ok_or_else(|| {
        AppError::internal(sea_orm::DbErr::RecordNotFound(
            "the darknet fold mark (migration 040)".into(),
        ))
    })
}

/// The newest event's id (0 when there is none).
async fn newest(db: &impl ConnectionTrait) -> AppResult<i64> {
    let newest: Option<Option<i64>> = darknet_event::Entity::find()
        .select_only()
        .column_as(darknet_event::Column::Id.max(), "n")
        .into_tuple()
        .one(db)
        .await?;
    Ok(newest.flatten().unwrap_or(0))
}

/// How many event ids lie past the mark.
pub async fn pending(db: &impl ConnectionTrait) -> AppResult<i64> {
    Ok((newest(db).await? - mark(db).await?).max(0))
}

/// Folds up to [`FOLD_MAX`] events past the mark into the per-source roll-ups and moves the
/// mark, in the caller's transaction; answers how many event ids it covered.
pub async fn fold(db: &impl ConnectionTrait) -> AppResult<i64> {
    one_batch_at_a_time(db).await?;
    let after = mark(db).await?;
    let newest = newest(db).await?;
    if newest <= after {
        return Ok(0);
    }
    let upto = newest.min(after.saturating_add(FOLD_MAX));
    let range = (after, upto);
    let count = ("events", "COUNT(*)", Merge::Add);
    fold_into(
        db,
        "darknet_source_hour",
        &[("hour", "hour"), ("src", "src")],
        &[count],
        range,
    )
    .await?;
    fold_into(
        db,
        "darknet_source_port",
        &[
            ("src", "src"),
            ("protocol", "protocol"),
            ("port", "COALESCE(dst_port, -1)"),
        ],
        &[count],
        range,
    )
    .await?;
    fold_into(
        db,
        "darknet_source_sensor",
        &[("src", "src"), ("sensor_id", "sensor_id")],
        &[count],
        range,
    )
    .await?;
    fold_into(
        db,
        "darknet_source",
        &[("src", "src")],
        &[
            count,
            ("first_seen", "MIN(seen_at)", Merge::Least),
            ("last_seen", "MAX(seen_at)", Merge::Greatest),
            ("country", "MIN(country)", Merge::KeepKnown),
            ("asn", "MIN(asn)", Merge::KeepKnown),
        ],
        range,
    )
    .await?;
    darknet_fold::Entity::update_many()
        .col_expr(darknet_fold::Column::Upto, Expr::value(upto))
        .filter(darknet_fold::Column::Id.eq(1))
        .exec(db)
        .await?;
    Ok(upto - after)
}

/// Folds until nothing lies past the mark, a transaction per [`FOLD_MAX`] events; answers how
/// many event ids it covered.
pub async fn fold_all(db: &DatabaseConnection) -> AppResult<i64> {
    let mut total = 0;
    loop {
        let started = Instant::now();
        let done = db::write(db, |txn| Box::pin(async move { fold(txn).await })).await?;
        if done == 0 {
            return Ok(total);
        }
        tracing::debug!(
            events = done,
            ms = started.elapsed().as_millis() as u64,
            "darknet roll-ups folded"
        );
        total += done;
    }
}

/// Folds in the background, looking every `every`: when [`FOLD_AT`] events are waiting, or
/// a smaller tail has waited [`FOLD_WAIT`]. Every replica may run it (folds take
/// the same locks as batches); a failed fold is retried on the next look.
pub async fn run_folder(
    db: DatabaseConnection,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut waiting_since: Option<Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let waiting = match pending(&db).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = ?e, "could not read the darknet fold mark");
                continue;
            }
        };
        if waiting == 0 {
            waiting_since = None;
            continue;
        }
        let since = *waiting_since.get_or_insert_with(Instant::now);
        if waiting < FOLD_AT && since.elapsed() < FOLD_WAIT {
            continue;
        }
        // One transaction per look: under a flood the next look folds the next
        // [`FOLD_AT`] or more, rather than chasing every batch as it lands.
        let started = Instant::now();
        match db::write(&db, |txn| Box::pin(async move { fold(txn).await })).await {
            Ok(done) => {
                tracing::debug!(
                    events = done,
                    ms = started.elapsed().as_millis() as u64,
                    "darknet roll-ups folded"
                );
                waiting_since = None;
            }
            Err(e) => tracing::warn!(error = ?e, "folding the darknet roll-ups failed; retrying"),
        }
    }
}
