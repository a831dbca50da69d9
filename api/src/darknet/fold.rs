//! The per-source roll-ups, folded in bulk. A batch writes its events and the per-hour
//! roll-ups (ports, countries) in its own transaction; each of the four per-source roll-ups
//! (per hour and source, per source and port, per source and sensor, per source) takes the
//! events past its own fold mark many batches at a time, in one transaction that moves that
//! mark. On MySQL the two by source (per source and sensor, per source) fold together, from
//! one grouping of their events ([`fold_by_source`]): reading and sorting the events of the
//! range was most of what each cost. The roll-up by source and port folds in two halves of the
//! sources, each with its own mark, and on MySQL the folder lets it fall further behind under
//! a flood ([`SLOW_FACTOR`]): it writes the most rows, fewer per event the more events a fold
//! takes.
//!
//! Why: a batch of 10,000 events touches about 7,000 sources, and writing each of them into
//! four tables was most of what ingest cost; 400,000 events touch far fewer per event.
//! Readers lose nothing: every per-source answer is the roll-up plus what the events past its
//! mark add (see [`super::sources`]), read in one snapshot, so an accepted batch counts at once
//! and exactly once, folded or not.
//!
//! A mark is an event id. A fold never goes past a [`settled`] id, at or below which every
//! event is committed, so no batch can commit an id at or below a mark a fold has set. With
//! each mark goes a batch mark: every event past the mark belongs to a batch past it, and the
//! batches record the first and last hour of their events, so one source's unfolded events
//! are found by their hours ([`unfolded`]), and a fold of the roll-ups by hour and source and
//! by source and port reads its events off the events' index by hour alone (`by_hours`). On
//! MySQL batches go on writing while a roll-up folds (it locks only its mark's row, and reads
//! committed events without locking them). SQLite has one writer: there a fold groups the
//! events outside any write transaction, into a temporary table, and takes the writer only to
//! add the grouped rows (`fold_staged`).

use std::time::{Duration, Instant};

use entity::{darknet_event, darknet_fold};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::store::{
    Merge, Rollup, apply_staged, close_gate, drop_staged, drop_temporary, fold_from_staged,
    fold_into, stage_fold, stage_grouped,
};
use crate::db;
use crate::error::{AppError, AppResult};

/// Longest the folder leaves a smaller tail unfolded.
pub const FOLD_WAIT: Duration = Duration::from_secs(5);
/// Most events one fold transaction takes (a longer tail takes several).
pub const FOLD_MAX: i64 = crate::config::DARKNET_FOLD_MAX;
/// Most events one fold of a slow roll-up ([`Roll::is_slow`]) takes on MySQL, where the folder
/// lets [`SLOW_FACTOR`] times the threshold wait (2,000,000 by default). A grouping of more
/// events writes fewer rows per event: in isolation, folding one half's share of 2,000,000
/// events took MariaDB 2.5 s in one transaction against 3.2 s in three of 800,000.
pub const SLOW_FOLD_MAX: i64 = 2_000_000;

/// The page caches of a SQLite fold's own connection, in KiB (SQLite's default is 2,000):
/// what it reads it reads once, in order, and it runs while batches write, so what it holds
/// adds to the process's peak.
const FOLD_CACHE_KIB: u32 = 512;

/// A per-source roll-up, by the id of its fold mark. The roll-up by source and port folds in
/// two halves of the sources, each with its own mark (migration 045), so that two folds share
/// its work (see [`Roll::is_slow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roll {
    /// `darknet_source_hour`.
    SourceHour = 1,
    /// `darknet_source_port`, the sources whose key ends in a byte below 0x80.
    SourcePortLow = 2,
    /// `darknet_source_sensor`.
    SourceSensor = 3,
    /// `darknet_source`.
    Source = 4,
    /// `darknet_source_port`, the other sources.
    SourcePortHigh = 5,
}

/// The sources of [`Roll::SourcePortLow`], as a condition on `darknet_event` (the same text on
/// both backends; `src` is a 16-byte key, compared as bytes). [`Roll::source_port`] says the
/// same of one key.
const LOW_SOURCES: &str = "SUBSTR(src, 16, 1) < X'80'";
/// The sources of [`Roll::SourcePortHigh`]: every other one.
const HIGH_SOURCES: &str = "SUBSTR(src, 16, 1) >= X'80'";

/// The roll-up by source and port, each half of it taking its sources ([`Roll::rollup`]).
const BY_PORT: Rollup = Rollup {
    table: "darknet_source_port",
    keys: &[
        ("src", "src"),
        ("protocol", "protocol"),
        ("port", "COALESCE(dst_port, -1)"),
    ],
    values: &[("events", "COUNT(*)", Merge::Add)],
    only: None,
};

impl Roll {
    pub const ALL: [Roll; 5] = [
        Roll::SourceHour,
        Roll::SourcePortLow,
        Roll::SourcePortHigh,
        Roll::SourceSensor,
        Roll::Source,
    ];

    /// The half of the roll-up by source and port that holds `src` (a 16-byte key).
    pub fn source_port(src: &[u8]) -> Roll {
        match src.get(15) {
            Some(&last) if last >= 0x80 => Roll::SourcePortHigh,
            _ => Roll::SourcePortLow,
        }
    }

    /// Whether the folder lets this roll-up's events pile up further on MySQL
    /// ([`SLOW_FACTOR`]): the roll-up by source and port writes the most rows per event (one
    /// per source, protocol and port) and writes fewer the more events a fold takes, and only
    /// a scanner's profile reads it (adding the events past its mark, read by the events'
    /// key).
    pub fn is_slow(self) -> bool {
        matches!(self, Roll::SourcePortLow | Roll::SourcePortHigh)
    }

    /// What the roll-up holds and how the events give it.
    fn rollup(self) -> &'static Rollup {
        const COUNT: (&str, &str, Merge) = ("events", "COUNT(*)", Merge::Add);
        match self {
            Roll::SourceHour => &Rollup {
                table: "darknet_source_hour",
                keys: &[("hour", "hour"), ("src", "src")],
                values: &[COUNT],
                only: None,
            },
            Roll::SourcePortLow => &Rollup {
                only: Some(LOW_SOURCES),
                ..BY_PORT
            },
            Roll::SourcePortHigh => &Rollup {
                only: Some(HIGH_SOURCES),
                ..BY_PORT
            },
            Roll::SourceSensor => &Rollup {
                table: "darknet_source_sensor",
                keys: &[("src", "src"), ("sensor_id", "sensor_id")],
                values: &[COUNT],
                only: None,
            },
            Roll::Source => &Rollup {
                table: "darknet_source",
                keys: &[("src", "src")],
                values: &[
                    COUNT,
                    ("first_seen", "MIN(seen_at)", Merge::Least),
                    ("last_seen", "MAX(seen_at)", Merge::Greatest),
                    ("country", "MIN(country)", Merge::KeepKnown),
                    ("asn", "MIN(asn)", Merge::KeepKnown),
                ],
                only: None,
            },
        }
    }
}

/// The events of a fold range grouped by source and sensor, with what the per-source totals
/// take from them: on MySQL one grouping serves both roll-ups by source ([`fold_by_source`]).
/// A temporary table of the folding connection; its merges are never used.
const BY_SENSOR: Rollup = Rollup {
    table: "darknet_fold_by_sensor",
    keys: &[("src", "src"), ("sensor_id", "sensor_id")],
    values: &[
        ("events", "COUNT(*)", Merge::Add),
        ("first_seen", "MIN(seen_at)", Merge::Least),
        ("last_seen", "MAX(seen_at)", Merge::Greatest),
        ("country", "MIN(country)", Merge::KeepKnown),
        ("asn", "MIN(asn)", Merge::KeepKnown),
    ],
    only: None,
};

/// A roll-up's fold mark: events with larger ids are not in it yet.
pub async fn mark(db: &impl ConnectionTrait, roll: Roll) -> AppResult<i64> {
    let upto: Option<i64> = darknet_fold::Entity::find_by_id(roll as i32)
        .select_only()
        .column(darknet_fold::Column::Upto)
        .into_tuple()
        .one(db)
        .await?;
    upto.ok_or_else(missing_mark)
}

fn missing_mark() -> AppError {
    AppError::internal(sea_orm::DbErr::RecordNotFound(
        "a darknet fold mark (migration 040)".into(),
    ))
}

/// Most hours [`unfolded`] lists: past that, a read of one source's unfolded events reads
/// every event past the mark instead (a week: the events of a live sensor arrive in time
/// order, so a tail spans few hours unless old logs were imported).
pub const UNFOLDED_HOURS_MAX: i64 = 7 * 24;

/// A roll-up's mark, and when known the hours that hold every event past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfolded {
    pub mark: i64,
    /// In order; empty when no event lies past the mark. `None` when not known (a batch past
    /// the batch mark recorded before migration 046) or more than [`UNFOLDED_HOURS_MAX`].
    pub hours: Option<Vec<i64>>,
}

/// `roll`'s mark with the hours of the events past it, from the batches past its batch mark
/// (every event past the mark belongs to one: see `set_mark`): what lets a read of one
/// source's unfolded events go by the events' index by hour and source rather than read every
/// unfolded event. Read in the caller's snapshot, with the mark.
pub async fn unfolded(db: &impl ConnectionTrait, roll: Roll) -> AppResult<Unfolded> {
    let (mark, batch) = marks(db, roll).await?;
    let hours = match batch_hours(db, batch, None).await? {
        Hours::None => Some(Vec::new()),
        Hours::Span(lo, hi) if hi - lo < UNFOLDED_HOURS_MAX => Some((lo..=hi).collect()),
        Hours::Span(..) | Hours::Unknown => None,
    };
    Ok(Unfolded { mark, hours })
}

/// The hours of the events of some batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hours {
    /// They have no events.
    None,
    /// Every one of them lies in `first..=last`.
    Span(i64, i64),
    /// A batch with events predates migration 046, which records them.
    Unknown,
}

/// The hours of the events of the batches with ids in `(after, upto]` (`upto` `None`: every
/// later one).
async fn batch_hours(db: &impl ConnectionTrait, after: i64, upto: Option<i64>) -> AppResult<Hours> {
    use entity::darknet_batch::Column as B;
    let mut find = entity::darknet_batch::Entity::find()
        .select_only()
        .column_as(B::FirstHour.min(), "lo")
        .column_as(B::LastHour.max(), "hi")
        .column_as(
            Expr::cust("COUNT(CASE WHEN accepted > 0 AND first_hour IS NULL THEN 1 END)"),
            "unknown",
        )
        .filter(B::Id.gt(after));
    if let Some(upto) = upto {
        find = find.filter(B::Id.lte(upto));
    }
    let span: Option<(Option<i64>, Option<i64>, i64)> = find.into_tuple().one(db).await?;
    Ok(match span {
        Some((_, _, unknown)) if unknown > 0 => Hours::Unknown,
        Some((Some(lo), Some(hi), _)) => Hours::Span(lo, hi),
        // No batch with events.
        Some((None, None, _)) | None => Hours::None,
        Some(_) => Hours::Unknown,
    })
}

/// How many more events than a fold takes the hours it would read them by may hold (see
/// [`by_hours`]): read off the index, an event cost a quarter of one read by its id (MariaDB,
/// 2,000,000 events: 0.5 s against 2.2 s).
const HOURS_READ_MAX: i64 = 2;

/// The span of hours a fold of `roll`'s events with ids in `(after, until]` can read them by
/// (see [`fold_into`]): none for a roll-up that needs more than the index holds
/// (`reads_by_hours`); else one when it is known (the batches past `batch`, the fold mark's batch
/// mark, up to `upto`, recorded their events' hours) and holds at most [`HOURS_READ_MAX`]
/// times as many events as the fold takes (counted by the roll-up by hour and country): a
/// live sensor's events come in time order, so a fold's hours hold few others, but an import
/// of old logs may send a batch's hours back over days of events already folded.
async fn by_hours(
    db: &impl ConnectionTrait,
    roll: Roll,
    batch: i64,
    upto: Settled,
    (after, until): (i64, i64),
) -> AppResult<Option<(i64, i64)>> {
    use entity::darknet_country_hour::Column as C;
    if !reads_by_hours(roll) {
        return Ok(None);
    }
    let Hours::Span(first, last) = batch_hours(db, batch, Some(upto.batch)).await? else {
        return Ok(None);
    };
    if last - first >= UNFOLDED_HOURS_MAX {
        return Ok(None);
    }
    let held: Option<Option<i64>> = entity::darknet_country_hour::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(SUM(events) AS SIGNED)"), "n")
        .filter(C::Hour.between(first, last))
        .into_tuple()
        .one(db)
        .await?;
    let held = held.flatten().unwrap_or(0);
    Ok((held <= (until - after).saturating_mul(HOURS_READ_MAX)).then_some((first, last)))
}

/// The lowest mark: every event at or below it is in every per-source roll-up.
pub async fn folded(db: &impl ConnectionTrait) -> AppResult<i64> {
    lowest(db, darknet_fold::Column::Upto).await
}

/// The lowest batch mark: every roll-up holds every event of the batches at or below it (see
/// `set_mark`).
pub async fn batches_folded(db: &impl ConnectionTrait) -> AppResult<i64> {
    lowest(db, darknet_fold::Column::BatchUpto).await
}

/// The lowest value of a column of the marks (0 without marks).
async fn lowest(db: &impl ConnectionTrait, col: darknet_fold::Column) -> AppResult<i64> {
    let lowest: Option<Option<i64>> = darknet_fold::Entity::find()
        .select_only()
        .column_as(col.min(), "n")
        .into_tuple()
        .one(db)
        .await?;
    Ok(lowest.flatten().unwrap_or(0))
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

/// How many event ids lie past the lowest mark.
pub async fn pending(db: &impl ConnectionTrait) -> AppResult<i64> {
    Ok((newest(db).await? - folded(db).await?).max(0))
}

/// What a fold may take: every event at or below `event` is committed, and every event above
/// it belongs to a batch above `batch` (see [`settled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub event: i64,
    pub batch: i64,
}

/// The newest event id and the newest batch id, read in one statement, so in one snapshot.
async fn newest_both(db: &impl ConnectionTrait) -> AppResult<Settled> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM darknet_event) AS e, \
             (SELECT COALESCE(MAX(id), 0) FROM darknet_batch) AS b",
        ))
        .await?
        .ok_or_else(|| AppError::internal(sea_orm::DbErr::RecordNotFound("newest ids".into())))?;
    Ok(Settled {
        event: row.try_get("", "e")?,
        batch: row.try_get("", "b")?,
    })
}

/// The newest event id at or below which every event is committed, with the newest batch id
/// then, below which no batch can still commit. On MySQL both are read with the ingest gate
/// closed (`close_gate`): ids are handed out at insert, so a batch still writing may commit
/// ids below the newest one another batch committed; a batch takes the gate before it writes
/// its own row. SQLite's one writer commits its ids in order, and never reuses one
/// (`AUTOINCREMENT`). So every event above `event` belongs to a batch above `batch`.
pub async fn settled(db: &DatabaseConnection) -> AppResult<Settled> {
    if db.get_database_backend() != DbBackend::MySql {
        return newest_both(db).await;
    }
    db::write(db, |txn| {
        Box::pin(async move {
            close_gate(txn).await?;
            newest_both(txn).await
        })
    })
    .await
}

/// The span of hours the next fold of `roll` would read its events by, if any (see
/// `by_hours` and `reads_by_hours`).
pub async fn hours_read(db: &DatabaseConnection, roll: Roll) -> AppResult<Option<(i64, i64)>> {
    let upto = settled(db).await?;
    let plan = db::write_reading_committed(db, |txn| {
        Box::pin(async move {
            let (after, batch) = locked_mark(txn, roll).await?;
            let until = upto.event.min(after.saturating_add(most(txn, roll)));
            Ok((upto.event > after).then_some((after, batch, until)))
        })
    })
    .await?;
    match plan {
        Some((after, batch, until)) => by_hours(db, roll, batch, upto, (after, until)).await,
        None => Ok(None),
    }
}

/// Whether a fold of `roll` reads its events by their hours when it can ([`by_hours`]): the
/// roll-ups by hour and source and by source and port need nothing but what the events' index
/// by hour and source holds (migration 047).
fn reads_by_hours(roll: Roll) -> bool {
    matches!(
        roll,
        Roll::SourceHour | Roll::SourcePortLow | Roll::SourcePortHigh
    )
}

/// Most events one fold of `roll` takes.
fn most(db: &impl ConnectionTrait, roll: Roll) -> i64 {
    if roll.is_slow() && db.get_database_backend() == DbBackend::MySql {
        SLOW_FOLD_MAX
    } else {
        FOLD_MAX
    }
}

/// `roll`'s mark and batch mark, its row locked (`FOR UPDATE` on MySQL).
async fn locked_mark(db: &impl ConnectionTrait, roll: Roll) -> AppResult<(i64, i64)> {
    marks_of(db, roll, true).await
}

/// `roll`'s mark and batch mark.
async fn marks(db: &impl ConnectionTrait, roll: Roll) -> AppResult<(i64, i64)> {
    marks_of(db, roll, false).await
}

async fn marks_of(db: &impl ConnectionTrait, roll: Roll, lock: bool) -> AppResult<(i64, i64)> {
    let mut find = darknet_fold::Entity::find_by_id(roll as i32)
        .select_only()
        .column(darknet_fold::Column::Upto)
        .column(darknet_fold::Column::BatchUpto);
    if lock {
        find = find.lock_exclusive();
    }
    let mark: Option<(i64, i64)> = find.into_tuple().one(db).await?;
    mark.ok_or_else(missing_mark)
}

/// Folds up to [`FOLD_MAX`] events past its mark ([`SLOW_FOLD_MAX`] for a slow roll-up on
/// MySQL), none past `upto` ([`settled`]), into
/// one roll-up and moves the mark, in the caller's transaction; answers how many event ids it
/// covered. The mark's row is locked first (`FOR UPDATE` on MySQL; SQLite has one writer), so
/// two replicas folding the same roll-up take turns, and the second starts from the first's
/// mark. Batches do not wait: they write neither the mark nor the per-source roll-ups, and
/// in a transaction reading committed rows (`db::write_reading_committed`) the events read
/// are not locked. The roll-ups by hour and source and by source and port read their events
/// off the events' index by their hours when they can (`by_hours`).
pub async fn fold(db: &impl ConnectionTrait, roll: Roll, upto: Settled) -> AppResult<i64> {
    let (after, batch) = locked_mark(db, roll).await?;
    if upto.event <= after {
        return Ok(0);
    }
    let until = upto.event.min(after.saturating_add(most(db, roll)));
    let hours = by_hours(db, roll, batch, upto, (after, until)).await?;
    fold_into(db, roll.rollup(), (after, until), hours).await?;
    set_mark(db, roll, until, upto).await?;
    Ok(until - after)
}

/// Folds the two roll-ups by source (per source and sensor, per source) together, in the
/// caller's transaction: up to [`FOLD_MAX`] events past their marks, none past `upto`
/// ([`settled`]), grouped once by source and sensor into a temporary table
/// (`BY_SENSOR`) that both fold from, so the events of the range are read and sorted once
/// instead of twice. Their marks move together; both are locked first, in id order, as
/// [`fold`] locks one. Marks that differ (a fold of one of them alone, by [`fold`]) are
/// folded each on its own. MySQL: a temporary table lives as long as its connection, and
/// SQLite stages its folds its own way (`fold_staged`). Answers the most event ids one of
/// them covered.
pub async fn fold_by_source(db: &impl ConnectionTrait, upto: Settled) -> AppResult<i64> {
    let marks: Vec<i64> = darknet_fold::Entity::find()
        .filter(darknet_fold::Column::Id.is_in([Roll::SourceSensor as i32, Roll::Source as i32]))
        .order_by_asc(darknet_fold::Column::Id)
        .select_only()
        .column(darknet_fold::Column::Upto)
        .lock_exclusive()
        .into_tuple()
        .all(db)
        .await?;
    let &[sensors, sources] = marks.as_slice() else {
        return Err(missing_mark());
    };
    if sensors != sources {
        let sensors = fold(db, Roll::SourceSensor, upto).await?;
        let sources = fold(db, Roll::Source, upto).await?;
        return Ok(sensors.max(sources));
    }
    let after = sensors;
    if upto.event <= after {
        return Ok(0);
    }
    let until = upto.event.min(after.saturating_add(FOLD_MAX));
    stage_grouped(db, &BY_SENSOR, (after, until)).await?;
    for roll in [Roll::SourceSensor, Roll::Source] {
        fold_from_staged(db, roll.rollup(), BY_SENSOR.table).await?;
    }
    drop_temporary(db, BY_SENSOR.table).await?;
    set_mark(db, Roll::SourceSensor, until, upto).await?;
    set_mark(db, Roll::Source, until, upto).await?;
    Ok(until - after)
}

/// Moves `roll`'s mark to `until`, a fold's end, and when that is all of `upto` (not cut short
/// by [`FOLD_MAX`]), its batch mark to `upto.batch`: every event past the mark then belongs to
/// a batch past it. A fold cut short leaves the batch mark, which still bounds the events past
/// the higher mark.
async fn set_mark(
    db: &impl ConnectionTrait,
    roll: Roll,
    until: i64,
    upto: Settled,
) -> AppResult<()> {
    let mut update = darknet_fold::Entity::update_many()
        .col_expr(darknet_fold::Column::Upto, Expr::value(until))
        .filter(darknet_fold::Column::Id.eq(roll as i32));
    if until == upto.event {
        update = update.col_expr(darknet_fold::Column::BatchUpto, Expr::value(upto.batch));
    }
    update.exec(db).await?;
    Ok(())
}

/// Folds every roll-up once on SQLite, on `own`, a connection of the fold's own (see
/// [`db::own_sqlite_connection`]): each roll-up's events are grouped into a temporary table
/// outside any write transaction, while batches go on writing (grouping, a sort of every event
/// of the range, was most of a fold's time at the one writer), then added to the roll-up in a
/// short write transaction that moves its mark, unless another fold moved it meanwhile. The
/// two halves by source and port fold together when their marks agree.
async fn fold_staged(
    own: &DatabaseConnection,
    upto: Settled,
    which: impl Fn(Roll) -> bool,
) -> AppResult<i64> {
    let mut most = 0;
    let mut folded_with_low = false;
    for roll in Roll::ALL.into_iter().filter(|r| which(*r)) {
        if roll == Roll::SourcePortHigh && folded_with_low {
            continue;
        }
        let started = Instant::now();
        let (after, batch) = marks(own, roll).await?;
        if upto.event <= after {
            continue;
        }
        let until = upto.event.min(after.saturating_add(FOLD_MAX));
        // Both halves by source and port from one grouping of their events when their marks
        // agree (as they do unless a fold of one half failed, or another replica's fold of one
        // half came between): each half grouping the range on its own read its events twice.
        let both = roll == Roll::SourcePortLow
            && which(Roll::SourcePortHigh)
            && mark(own, Roll::SourcePortHigh).await? == after;
        let (rollup, rolls) = if both {
            (&BY_PORT, vec![Roll::SourcePortLow, Roll::SourcePortHigh])
        } else {
            (roll.rollup(), vec![roll])
        };
        folded_with_low = both;
        let hours = by_hours(own, roll, batch, upto, (after, until)).await?;
        stage_fold(own, rollup, (after, until), hours).await?;
        let staged = started.elapsed();
        let done = db::write(own, |txn| {
            let rolls = rolls.clone();
            Box::pin(async move {
                for &roll in &rolls {
                    if mark(txn, roll).await? != after {
                        return Ok(0);
                    }
                }
                apply_staged(txn, rollup).await?;
                for &roll in &rolls {
                    set_mark(txn, roll, until, upto).await?;
                }
                Ok(until - after)
            })
        })
        .await;
        drop_staged(own, rollup).await?;
        let done = done?;
        tracing::debug!(
            roll = ?rolls,
            events = done,
            staged_ms = staged.as_millis() as u64,
            ms = started.elapsed().as_millis() as u64,
            "darknet roll-up folded"
        );
        most = most.max(done);
    }
    Ok(most)
}

/// Folds every roll-up once (up to [`FOLD_MAX`] events each, none past the events settled
/// when it starts): see `fold_some`.
pub async fn fold_each(db: &DatabaseConnection) -> AppResult<i64> {
    fold_some(db, |_| true).await
}

/// Folds each roll-up that `which` names once (up to [`FOLD_MAX`] events each, none past the
/// events settled when it starts): on MySQL side by side (by hour and source, each half by
/// source and port, and the two by source together: [`fold_by_source`]), on a SQLite file
/// staged ([`fold_staged`]), in an in-memory SQLite database a transaction per roll-up; answers
/// the most event ids one of them covered. A fold that fails does not undo the others.
async fn fold_some(db: &DatabaseConnection, which: impl Fn(Roll) -> bool + Copy) -> AppResult<i64> {
    let upto = settled(db).await?;
    if let Some(own) = db::own_sqlite_connection(db, FOLD_CACHE_KIB).await? {
        let most = fold_staged(&own, upto, which).await;
        // Its temporary tables go with it.
        own.close().await?;
        return most;
    }
    let folds = Roll::ALL.map(|roll| {
        logged(format!("{roll:?}"), async move {
            if !which(roll) {
                return Ok(0);
            }
            db::write_reading_committed(db, |txn| {
                Box::pin(async move { fold(txn, roll, upto).await })
            })
            .await
        })
    });
    let mut most = 0;
    if db.get_database_backend() == DbBackend::MySql {
        // Side by side: by hour and source, the two halves by source and port (different
        // sources of one table, each written in key order, so one may wait for the other's
        // locks but never in a cycle), and the two by source from one grouping.
        let [by_hour, low_ports, high_ports, ..] = folds;
        let by_source = logged("SourceSensor and Source".to_owned(), async move {
            if !which(Roll::Source) {
                return Ok(0);
            }
            db::write_reading_committed(db, |txn| {
                Box::pin(async move { fold_by_source(txn, upto).await })
            })
            .await
        });
        let done = tokio::join!(by_hour, low_ports, high_ports, by_source);
        for done in <[_; 4]>::from(done) {
            most = most.max(done?);
        }
    } else {
        // An in-memory SQLite database (one connection's own): one after another. Queued
        // together at SQLite's one writer, all four went ahead of the batches that arrived
        // meanwhile (in the benchmark a batch's 99th percentile passed 2 s).
        for fold in folds {
            most = most.max(fold.await?);
        }
    }
    Ok(most)
}

/// A fold of `what`, logged with how many event ids it covered and how long it took.
async fn logged(what: String, fold: impl Future<Output = AppResult<i64>>) -> AppResult<i64> {
    let started = Instant::now();
    let done = fold.await?;
    if done > 0 {
        tracing::debug!(
            roll = what,
            events = done,
            ms = started.elapsed().as_millis() as u64,
            "darknet roll-up folded"
        );
    }
    Ok(done)
}

/// Folds until nothing lies past any mark; answers how many event ids the furthest behind
/// roll-up took.
pub async fn fold_all(db: &DatabaseConnection) -> AppResult<i64> {
    let mut total = 0;
    loop {
        let done = fold_each(db).await?;
        if done == 0 {
            return Ok(total);
        }
        total += done;
    }
}

/// How many times [`crate::config::DARKNET_FOLD_AT`] (or the threshold configured instead)
/// the slow roll-ups ([`Roll::is_slow`]) may fall behind on MySQL while events keep coming
/// (see [`run_folder`]). In the benchmark's flood (2,000,000 events, MariaDB) the roll-up by
/// source and port folded 400,000 events at a time wrote about 1.3 million rows, folded at the
/// end about 0.8 million, and MariaDB's CPU for the whole ingest fell by 10%-20%. A profile
/// read meanwhile adds the source's unfolded events, found by their hours
/// ([`unfolded`]).
pub const SLOW_FACTOR: i64 = 5;

/// Longest the slow roll-ups' tail waits while events keep coming (see `due`): a flood
/// passes in less, while steady traffic, which never leaves the folder a quiet
/// [`FOLD_WAIT`], would otherwise let their tail grow to [`SLOW_FACTOR`] times the
/// threshold, and a busy scanner's profile read a share of it (in the benchmark the busiest
/// source, 2.7% of the events, took its profile 1.7-2.0 s with 2,000,000 events waiting).
pub const SLOW_FOLD_WAIT: Duration = Duration::from_secs(60);

/// Events past the lowest mark of the roll-ups the folder folds at its threshold, and of the
/// slow ones ([`Roll::is_slow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backlog {
    fast: i64,
    slow: i64,
}

/// How far the roll-ups are behind the newest event; and the newest event's id.
async fn backlog(db: &impl ConnectionTrait) -> AppResult<(Backlog, i64)> {
    let newest = newest(db).await?;
    let marks: Vec<(i32, i64)> = darknet_fold::Entity::find()
        .select_only()
        .column(darknet_fold::Column::Id)
        .column(darknet_fold::Column::Upto)
        .into_tuple()
        .all(db)
        .await?;
    let mut backlog = Backlog { fast: 0, slow: 0 };
    for roll in Roll::ALL {
        let upto = marks
            .iter()
            .find(|m| m.0 == roll as i32)
            .map(|m| m.1)
            .ok_or_else(missing_mark)?;
        let behind = (newest - upto).max(0);
        let side = if roll.is_slow() {
            &mut backlog.slow
        } else {
            &mut backlog.fast
        };
        *side = (*side).max(behind);
    }
    Ok((backlog, newest))
}

/// How long the folder has seen a tail wait, of the fast roll-ups and of the slow ones, and
/// how long since the newest event came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waited {
    fast: Duration,
    slow: Duration,
    quiet: Duration,
}

/// Which roll-ups a look of the folder folds, (the fast ones, the slow ones): those `at` or
/// more events behind (the slow ones `at` times [`SLOW_FACTOR`]); the fast ones also when a
/// smaller tail has waited [`FOLD_WAIT`]; the slow ones also when no event came for
/// [`FOLD_WAIT`] (under a flood their tail waits, and is folded once it ends), or when their
/// tail has waited [`SLOW_FOLD_WAIT`].
fn due(backlog: Backlog, at: i64, waited: Waited) -> (bool, bool) {
    let fast = backlog.fast >= at || (backlog.fast > 0 && waited.fast >= FOLD_WAIT);
    let slow = backlog.slow >= at.saturating_mul(SLOW_FACTOR)
        || (backlog.slow > 0 && (waited.quiet >= FOLD_WAIT || waited.slow >= SLOW_FOLD_WAIT));
    (fast, slow)
}

/// How long a tail has waited, starting the clock when one appears and stopping it when
/// there is none.
fn waiting(since: &mut Option<Instant>, behind: i64) -> Duration {
    if behind == 0 {
        *since = None;
        return Duration::ZERO;
    }
    since.get_or_insert_with(Instant::now).elapsed()
}

/// Folds in the background, looking every `every`: see `due` for when (`at`: see
/// [`crate::config::DARKNET_FOLD_AT`]). Every replica may run it (two folds of one roll-up
/// take turns on its mark); a failed fold is retried on the next look. Only on MySQL are the
/// slow roll-ups held back: on SQLite a fold groups its events off the one writer while
/// batches write, on the core they leave idle, and after a flood that writer would take the
/// halves' tail one after another (in the benchmark ingest went from 0.91x to 0.69x of
/// `.import`).
pub async fn run_folder(
    db: DatabaseConnection,
    every: Duration,
    at: i64,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let hold_back = db.get_database_backend() == DbBackend::MySql;
    let (mut fast_since, mut slow_since): (Option<Instant>, Option<Instant>) = (None, None);
    let (mut newest_seen, mut newest_since) = (None, Instant::now());
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let (backlog, newest) = match backlog(&db).await {
            Ok((b, newest)) if !hold_back => (
                Backlog {
                    fast: b.fast.max(b.slow),
                    slow: 0,
                },
                newest,
            ),
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(error = ?e, "could not read the darknet fold marks");
                continue;
            }
        };
        if newest_seen != Some(newest) {
            (newest_seen, newest_since) = (Some(newest), Instant::now());
        }
        let waited = Waited {
            fast: waiting(&mut fast_since, backlog.fast),
            slow: waiting(&mut slow_since, backlog.slow),
            quiet: newest_since.elapsed(),
        };
        let (fast, slow) = due(backlog, at, waited);
        if !fast && !slow {
            continue;
        }
        // Each roll-up once per look: under a flood the next look folds the next `at` or
        // more, rather than chasing every batch as it lands.
        let which = |roll: Roll| {
            if hold_back && roll.is_slow() {
                slow
            } else {
                fast
            }
        };
        match fold_some(&db, which).await {
            Ok(_) => {
                // What came meanwhile starts its own wait.
                if fast {
                    fast_since = None;
                }
                if slow {
                    slow_since = None;
                }
            }
            Err(e) => tracing::warn!(error = ?e, "folding the darknet roll-ups failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{
        BY_SENSOR, Backlog, FOLD_WAIT, Roll, SLOW_FACTOR, SLOW_FOLD_WAIT, Waited, due, waiting,
    };

    #[test]
    fn a_flood_folds_the_slow_roll_ups_only_far_behind_or_once_it_ends() {
        let at = 400_000;
        let b = |fast, slow| Backlog { fast, slow };
        let w = |fast, slow, quiet| Waited { fast, slow, quiet };
        let (none, long) = (Duration::ZERO, FOLD_WAIT);
        // Nothing behind, nothing to fold however long it has been.
        assert_eq!(due(b(0, 0), at, w(long, long, long)), (false, false));
        // Under a flood: the fast ones at `at`, the slow ones only at `at` times the factor.
        assert_eq!(due(b(at, at), at, w(none, none, none)), (true, false));
        assert_eq!(
            due(b(at - 1, at * SLOW_FACTOR - 1), at, w(none, long, none)),
            (false, false)
        );
        assert_eq!(
            due(b(0, at * SLOW_FACTOR), at, w(none, none, none)),
            (false, true)
        );
        // A small tail of the fast ones waits at most FOLD_WAIT, while events still come.
        assert_eq!(due(b(1, 1), at, w(long, long, none)), (true, false));
        // Once no event came for FOLD_WAIT, the slow ones fold what they have.
        assert_eq!(due(b(0, 1), at, w(none, none, long)), (false, true));
        assert_eq!(due(b(1, 1), at, w(long, long, long)), (true, true));
        // Steady traffic never leaves the folder quiet: the slow tail waits SLOW_FOLD_WAIT.
        let almost = SLOW_FOLD_WAIT - Duration::from_millis(1);
        assert_eq!(due(b(0, 1), at, w(none, almost, none)), (false, false));
        assert_eq!(
            due(b(0, 1), at, w(none, SLOW_FOLD_WAIT, none)),
            (false, true)
        );
    }

    #[test]
    fn a_tails_wait_starts_when_it_appears_and_ends_when_it_is_gone() {
        let mut since = None;
        assert_eq!(waiting(&mut since, 0), Duration::ZERO);
        assert!(since.is_none());
        waiting(&mut since, 5);
        let started = since.expect("the clock started");
        std::thread::sleep(Duration::from_millis(20));
        assert!(waiting(&mut since, 7) >= Duration::from_millis(20));
        assert_eq!(since, Some(started), "a growing tail keeps its start");
        assert_eq!(waiting(&mut since, 0), Duration::ZERO);
        assert!(since.is_none());
    }

    #[test]
    fn the_halves_by_source_and_port_split_the_sources_by_the_keys_last_byte() {
        let key = |last: u8| {
            let mut k = vec![0u8; 16];
            k[15] = last;
            k
        };
        assert_eq!(Roll::source_port(&key(0x00)), Roll::SourcePortLow);
        assert_eq!(Roll::source_port(&key(0x7f)), Roll::SourcePortLow);
        assert_eq!(Roll::source_port(&key(0x80)), Roll::SourcePortHigh);
        assert_eq!(Roll::source_port(&key(0xff)), Roll::SourcePortHigh);
        // Shorter than a key: SUBSTR gives '' there, below X'80'.
        assert_eq!(Roll::source_port(&[0xff; 4]), Roll::SourcePortLow);
        let slow: Vec<Roll> = Roll::ALL.into_iter().filter(|r| r.is_slow()).collect();
        assert_eq!(slow, [Roll::SourcePortLow, Roll::SourcePortHigh]);
    }

    #[test]
    fn the_grouping_by_sensor_holds_what_both_roll_ups_by_source_fold_from_it() {
        let staged_keys: Vec<&str> = BY_SENSOR.keys.iter().map(|k| k.0).collect();
        for roll in [Roll::SourceSensor, Roll::Source] {
            let rollup = roll.rollup();
            for (col, _) in rollup.keys {
                assert!(staged_keys.contains(col), "{roll:?}: key {col}");
            }
            for (col, expr, _) in rollup.values {
                let staged = BY_SENSOR.values.iter().find(|v| v.0 == *col);
                // The same aggregate over the events, so regrouping it gives the roll-up's.
                assert_eq!(staged.map(|v| v.1), Some(*expr), "{roll:?}: value {col}");
            }
        }
    }
}
