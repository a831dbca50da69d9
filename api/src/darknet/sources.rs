//! Per-source answers: the busiest sources, distinct sources, a scanner's profile and which
//! addresses the darknet has seen. Each is a per-source roll-up plus what the events past its
//! fold mark add (see [`super::fold`]): the tail is bounded by the folder, read by event id
//! (the key), and read in the same snapshot as the mark and the roll-up (each answer takes a
//! [`Snapshot`]), so an event is counted once whether it was folded or not.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{
    darknet_event, darknet_source, darknet_source_hour, darknet_source_port, darknet_source_sensor,
};
use ipnet::IpNet;
use sea_orm::sea_query::{Alias, Expr, Order, Query, SelectStatement, SimpleExpr, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::fold::{self, Roll};
use super::read::{MAX_POINTS, MAX_TOP, PortCount, Top, Window, top_ports};
use super::store::sum;
use crate::db::Snapshot;
use crate::error::AppResult;
use crate::net::{ip_key, net_key_range};

use darknet_event::Column as E;

/// Sources an `IN` list names at once.
const CHUNK: usize = 500;
/// The destination port of a roll-up (-1: none), over the events.
const PORT: &str = "COALESCE(dst_port, -1)";

/// The events' source, to group the tail by: on SQLite written `+src`, so that the planner
/// reads the tail by its id range whatever index the events have (it walked the index led by
/// the source, for its order, before migration 042 replaced it).
fn tail_src(backend: DbBackend) -> SimpleExpr {
    match backend {
        DbBackend::Sqlite => Expr::cust("+src"),
        _ => Expr::col(E::Src),
    }
}

/// Tail events from sources in `lo..=hi` (a network), found by the tail's id range: on
/// SQLite the source is written `+src` (with an index led by the source, before migration
/// 042, the planner read the network's events of all time off it: 20 ms for a /16 at
/// 10,000,000 events).
fn tail_in(backend: DbBackend, lo: Vec<u8>, hi: Vec<u8>) -> Condition {
    use sea_orm::ExprTrait as _;
    Condition::all()
        .add(tail_src(backend).gte(lo))
        .add(tail_src(backend).lte(hi))
}

/// Tail events in the window `w`. On SQLite the hour is written `+hour`, so that the planner
/// reads the tail by its id range instead of the stretch of the events' index led by the hour
/// that the window covers: every event of those hours, folded or not (30 ms for a day at
/// 2,000,000 events when the tail was empty).
fn tail_window(backend: DbBackend, w: &Window) -> Condition {
    use sea_orm::ExprTrait as _;
    let hour = match backend {
        DbBackend::Sqlite => Expr::cust("+hour"),
        _ => Expr::col(E::Hour),
    };
    Condition::all()
        .add(hour.clone().gte(w.start))
        .add(hour.lt(w.end))
}

/// Events from one source in a window, with what is known of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCount {
    pub source: darknet_source::Model,
    pub events: i64,
}

/// What the events past the fold mark add to one source.
#[derive(Debug, Clone)]
struct Tail {
    events: i64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    country: Option<String>,
    asn: Option<i64>,
}

/// The events past `mark` that meet `cond`, per source.
async fn tails(
    db: &impl ConnectionTrait,
    mark: i64,
    cond: Condition,
) -> AppResult<HashMap<Vec<u8>, Tail>> {
    type Row = (
        Vec<u8>,
        i64,
        DateTime<Utc>,
        DateTime<Utc>,
        Option<String>,
        Option<i64>,
    );
    let src = tail_src(db.get_database_backend());
    let rows: Vec<Row> = darknet_event::Entity::find()
        .select_only()
        .column_as(src.clone(), "src")
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(E::SeenAt.min(), "first")
        .column_as(E::SeenAt.max(), "last")
        .column_as(E::Country.min(), "country")
        .column_as(E::Asn.min(), "asn")
        .filter(E::Id.gt(mark))
        .filter(cond)
        .group_by(src)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(src, events, first, last, country, asn)| {
            let tail = Tail {
                events,
                first,
                last,
                country,
                asn,
            };
            (src, tail)
        })
        .collect())
}

/// A source as the roll-up holds it, with its tail added.
fn with_tail(
    src: &[u8],
    stored: Option<darknet_source::Model>,
    tail: Option<&Tail>,
) -> Option<darknet_source::Model> {
    let Some(t) = tail else { return stored };
    Some(match stored {
        None => darknet_source::Model {
            src: src.to_vec(),
            events: t.events,
            first_seen: t.first,
            last_seen: t.last,
            country: t.country.clone(),
            asn: t.asn,
        },
        Some(mut s) => {
            s.events += t.events;
            s.first_seen = s.first_seen.min(t.first);
            s.last_seen = s.last_seen.max(t.last);
            s.country = s.country.or_else(|| t.country.clone());
            s.asn = s.asn.or(t.asn);
            s
        }
    })
}

/// The stored rows of `srcs`, by source.
async fn stored(
    db: &impl ConnectionTrait,
    srcs: &[Vec<u8>],
) -> AppResult<HashMap<Vec<u8>, darknet_source::Model>> {
    let mut found = HashMap::with_capacity(srcs.len());
    for chunk in srcs.chunks(CHUNK) {
        for s in darknet_source::Entity::find()
            .filter(darknet_source::Column::Src.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(s.src.clone(), s);
        }
    }
    Ok(found)
}

/// Sources in `srcs` order, each the roll-up's row and its tail.
async fn models(
    db: &impl ConnectionTrait,
    mark: i64,
    srcs: &[Vec<u8>],
) -> AppResult<HashMap<Vec<u8>, darknet_source::Model>> {
    let mut rows = stored(db, srcs).await?;
    let mut added = HashMap::new();
    for chunk in srcs.chunks(CHUNK) {
        added.extend(
            tails(
                db,
                mark,
                Condition::all().add(E::Src.is_in(chunk.iter().cloned())),
            )
            .await?,
        );
    }
    Ok(srcs
        .iter()
        .filter_map(|src| {
            with_tail(src, rows.remove(src), added.get(src)).map(|m| (src.clone(), m))
        })
        .collect())
}

/// The first and last hour holding a source's events; `None` before any event.
async fn span(db: &impl ConnectionTrait, mark: i64) -> AppResult<Option<(i64, i64)>> {
    use darknet_source_hour::Column as C;
    let mut span: Option<(i64, i64)> = None;
    let mut widen = |first: Option<i64>, last: Option<i64>| {
        if let (Some(f), Some(l)) = (first, last) {
            span = Some(span.map_or((f, l), |(a, b)| (a.min(f), b.max(l))));
        }
    };
    // Two statements on the roll-up: each reads one end of its key.
    let first: Option<Option<i64>> = darknet_source_hour::Entity::find()
        .select_only()
        .column_as(C::Hour.min(), "n")
        .into_tuple()
        .one(db)
        .await?;
    let last: Option<Option<i64>> = darknet_source_hour::Entity::find()
        .select_only()
        .column_as(C::Hour.max(), "n")
        .into_tuple()
        .one(db)
        .await?;
    widen(first.flatten(), last.flatten());
    let tail: Option<(Option<i64>, Option<i64>)> = darknet_event::Entity::find()
        .select_only()
        .column_as(E::Hour.min(), "first")
        .column_as(E::Hour.max(), "last")
        .filter(E::Id.gt(mark))
        .into_tuple()
        .one(db)
        .await?;
    if let Some((f, l)) = tail {
        widen(f, l);
    }
    Ok(span)
}

/// The busiest sources of a window (in `within` when given), and the window's total.
pub async fn top_sources(
    db: &Snapshot,
    w: Window,
    within: Option<IpNet>,
    limit: u64,
) -> AppResult<Top<SourceCount>> {
    let limit = limit.min(MAX_TOP);
    let (hours_mark, mark) = (
        fold::mark(db, Roll::SourceHour).await?,
        fold::mark(db, Roll::Source).await?,
    );
    let Some((first, last)) = span(db, hours_mark).await? else {
        return Ok(Top {
            total: 0,
            rows: Vec::new(),
        });
    };
    if w.start <= first && last < w.end {
        return top_sources_ever(db, mark, w, within, limit).await;
    }
    if within.is_none()
        && let Some(top) = top_sources_walk(db, (hours_mark, mark), w, (first, last), limit).await?
    {
        return Ok(top);
    }
    use darknet_source_hour::Column as H;
    let mut rolled = w.condition(H::Hour);
    let mut fresh = tail_window(db.get_database_backend(), &w).add(E::Id.gt(hours_mark));
    if let Some(net) = within {
        let (lo, hi) = net_key_range(&net);
        // The roll-up is keyed by hour, then source, with no index by source (its upkeep
        // was the largest share of what ingest wrote): a network is read with one seek per
        // hour of the window that holds data.
        let hours = w.start.max(first)..w.end.min(last + 1);
        if hours.end - hours.start <= MAX_POINTS {
            rolled = Condition::all().add(H::Hour.is_in(hours));
        }
        rolled = rolled
            .add(H::Src.gte(lo.clone()))
            .add(H::Src.lte(hi.clone()));
        fresh = fresh.add(tail_in(db.get_database_backend(), lo, hi));
    }
    // (source, events) rows of the roll-up, then the tail's counts per source.
    let both = Query::select()
        .column(H::Src)
        .expr_as(Expr::col(H::Events), Alias::new("n"))
        .from(darknet_source_hour::Entity)
        .cond_where(rolled)
        .union(
            UnionType::All,
            Query::select()
                .expr_as(tail_src(db.get_database_backend()), Alias::new("src"))
                .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
                .from(darknet_event::Entity)
                .cond_where(fresh)
                .add_group_by([tail_src(db.get_database_backend())])
                .to_owned(),
        )
        .to_owned();
    let b = db.get_database_backend();
    let total = Query::select()
        .expr_as(sum(b, "n"), Alias::new("total"))
        .from_subquery(both.clone(), Alias::new("t"))
        .to_owned();
    let total: i64 = match db.query_one(&total).await? {
        Some(row) => row.try_get("", "total")?,
        None => 0,
    };
    let ranked = Query::select()
        .column(Alias::new("src"))
        .expr_as(sum(b, "n"), Alias::new("total"))
        .from_subquery(both, Alias::new("t"))
        .group_by_col(Alias::new("src"))
        .order_by(Alias::new("total"), Order::Desc)
        .order_by(Alias::new("src"), Order::Desc)
        .limit(limit)
        .to_owned();
    let rows: Vec<(Vec<u8>, i64)> = db
        .query_all(&ranked)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "src")?, r.try_get("", "total")?)))
        .collect::<Result<_, sea_orm::DbErr>>()?;
    listed(db, mark, total, rows).await
}

/// A top-sources answer: `rows` (source, events in the window), busiest first, each with what
/// the per-source roll-up and its tail know of the source.
async fn listed(
    db: &impl ConnectionTrait,
    mark: i64,
    total: i64,
    rows: Vec<(Vec<u8>, i64)>,
) -> AppResult<Top<SourceCount>> {
    let srcs: Vec<Vec<u8>> = rows.iter().map(|r| r.0.clone()).collect();
    let mut known = models(db, mark, &srcs).await?;
    Ok(Top {
        total,
        rows: rows
            .into_iter()
            .filter_map(|(src, events)| {
                known
                    .remove(&src)
                    .map(|source| SourceCount { source, events })
            })
            .collect(),
    })
}

/// Sources the walk of [`top_sources_walk`] counts at most before it gives way to grouping
/// the window.
const WALK_MAX: usize = 4_096;
/// Hours of a window the walk seeks per source at most.
const WALK_HOURS: i64 = 24 * 35;

/// The busiest sources of a window by the threshold rule. Sources are read in the order of
/// their events of all time, which bound their events in any window, and each is counted
/// exactly in the window (one seek per hour of the hourly roll-up, plus the tail past its
/// mark). The walk stops once the next source's bound falls below the `limit`-th count found,
/// so it reads about `limit` sources when the window's busiest are the busiest overall (as
/// with scanners, which scan all the time). `None` when the window is too wide or the walk
/// would read more than [`WALK_MAX`] sources: the caller then groups the window.
async fn top_sources_walk(
    db: &Snapshot,
    (hours_mark, mark): (i64, i64),
    w: Window,
    (first, last): (i64, i64),
    limit: u64,
) -> AppResult<Option<Top<SourceCount>>> {
    use darknet_source::Column as S;
    let hours: Vec<i64> = (w.start.max(first)..w.end.min(last + 1)).collect();
    if hours.len() as i64 > WALK_HOURS {
        return Ok(None);
    }
    let total = top_ports(db, w, None, None, 1).await?.total;
    if limit == 0 || total == 0 {
        return Ok(Some(Top {
            total,
            rows: Vec::new(),
        }));
    }
    let limit = limit as usize;
    // The window's events past the hourly roll-up's mark, which every count adds. A source's
    // bound is its stored events (at the per-source mark) plus those, plus the events the
    // hourly roll-up has folded and the per-source one has not, when it is ahead.
    let counts = |t: HashMap<Vec<u8>, Tail>| -> HashMap<Vec<u8>, i64> {
        t.into_iter().map(|(src, t)| (src, t.events)).collect()
    };
    let fresh = counts(tails(db, hours_mark, tail_window(db.get_database_backend(), &w)).await?);
    let mut extra = fresh.clone();
    if hours_mark > mark {
        for (src, n) in counts(tails(db, mark, Condition::all().add(E::Id.lte(hours_mark))).await?)
        {
            *extra.entry(src).or_default() += n;
        }
    }
    let mut counted: HashMap<Vec<u8>, i64> = HashMap::new();
    // The (events, source) the next page starts below, and the bound of every source the
    // walk has not read: the stored events of the last one read (0 once all are read).
    let mut after: Option<(i64, Vec<u8>)> = None;
    let mut ceiling;
    let mut page = limit + 1;
    loop {
        // A source last seen before the window, or first seen after it, has nothing in it
        // but what its tail holds, which the bound below covers.
        let mut q = darknet_source::Entity::find()
            .select_only()
            .column(S::Src)
            .column(S::Events)
            .filter(S::LastSeen.gte(w.start_time()))
            .filter(S::FirstSeen.lt(w.end_time()));
        if let Some((events, src)) = after.take() {
            q = q.filter(S::Events.lte(events)).filter(
                Condition::any()
                    .add(S::Events.lt(events))
                    .add(S::Src.lt(src)),
            );
        }
        let rows: Vec<(Vec<u8>, i64)> = q
            .order_by_desc(S::Events)
            .order_by_desc(S::Src)
            .limit(page as u64)
            .into_tuple()
            .all(db)
            .await?;
        let read_all = rows.len() < page;
        after = rows.last().cloned().map(|(src, events)| (events, src));
        ceiling = match (&after, read_all) {
            (Some((events, _)), false) => *events,
            _ => 0,
        };
        let srcs: Vec<Vec<u8>> = rows.into_iter().map(|(src, _)| src).collect();
        count_in(db, &hours, &srcs, &fresh, &mut counted).await?;
        if read_all || ceiling < kth(&counted, limit) {
            break;
        }
        if counted.len() >= WALK_MAX {
            return Ok(None);
        }
        page = (page * 2).min(WALK_MAX - counted.len());
    }
    // Sources of the tail the walk did not read whose bound still reaches the k-th count.
    let bar = kth(&counted, limit);
    let rest: Vec<Vec<u8>> = extra
        .iter()
        .filter(|(src, n)| !counted.contains_key(*src) && ceiling + **n >= bar)
        .map(|(src, _)| src.clone())
        .collect();
    if counted.len() + rest.len() > WALK_MAX {
        return Ok(None);
    }
    count_in(db, &hours, &rest, &fresh, &mut counted).await?;
    let mut ranked: Vec<(Vec<u8>, i64)> = counted.into_iter().filter(|c| c.1 > 0).collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    ranked.truncate(limit);
    Ok(Some(listed(db, mark, total, ranked).await?))
}

/// The `k`-th largest count, at least 1 (a source without events in the window is never
/// listed, so a bound of 0 never reaches it).
fn kth(counted: &HashMap<Vec<u8>, i64>, k: usize) -> i64 {
    let mut counts: Vec<i64> = counted.values().copied().collect();
    if counts.len() < k {
        return 1;
    }
    let (_, kth, _) = counts.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    (*kth).max(1)
}

/// Counts each of `srcs` in the window's `hours`: its rows of the hourly roll-up, found by
/// seeks on the roll-up's key (hour, source), and its `fresh` events past the roll-up's mark.
async fn count_in(
    db: &impl ConnectionTrait,
    hours: &[i64],
    srcs: &[Vec<u8>],
    fresh: &HashMap<Vec<u8>, i64>,
    counted: &mut HashMap<Vec<u8>, i64>,
) -> AppResult<()> {
    use darknet_source_hour::Column as H;
    // Each statement seeks (hour, source) pairs: at most `SEEKS` of them, so that MariaDB's
    // range optimizer keeps them as ranges (past its memory cap it would scan the table).
    const SEEKS: usize = 8_192;
    let chunk = (SEEKS / hours.len().max(1)).clamp(1, CHUNK);
    for chunk in srcs.chunks(chunk) {
        let folded: Vec<(Vec<u8>, i64)> = darknet_source_hour::Entity::find()
            .select_only()
            .column(H::Src)
            .column_as(sum(db.get_database_backend(), "events"), "n")
            .filter(H::Hour.is_in(hours.iter().copied()))
            .filter(H::Src.is_in(chunk.iter().cloned()))
            .group_by(H::Src)
            .into_tuple()
            .all(db)
            .await?;
        let folded: HashMap<Vec<u8>, i64> = folded.into_iter().collect();
        for src in chunk {
            let n = folded.get(src).copied().unwrap_or(0) + fresh.get(src).copied().unwrap_or(0);
            counted.insert(src.clone(), n);
        }
    }
    Ok(())
}

/// The busiest sources of all time (in `within` when given): the roll-up's leaders by its
/// events index, and every source of the tail that could overtake them.
async fn top_sources_ever(
    db: &Snapshot,
    mark: i64,
    w: Window,
    within: Option<IpNet>,
    limit: u64,
) -> AppResult<Top<SourceCount>> {
    use darknet_source::Column as S;
    let (mut rolled, mut fresh) = (Condition::all(), Condition::all());
    if let Some(net) = &within {
        let (lo, hi) = net_key_range(net);
        rolled = rolled
            .add(S::Src.gte(lo.clone()))
            .add(S::Src.lte(hi.clone()));
        fresh = fresh.add(tail_in(db.get_database_backend(), lo, hi));
    }
    let tail = tails(db, mark, fresh).await?;
    let total = match within {
        // Every event of the window: the hourly roll-ups are never behind.
        None => top_ports(db, w, None, None, 1).await?.total,
        Some(_) => {
            let stored: Option<i64> = darknet_source::Entity::find()
                .select_only()
                .column_as(sum(db.get_database_backend(), "events"), "n")
                .filter(rolled.clone())
                .into_tuple()
                .one(db)
                .await?;
            stored.unwrap_or_default() + tail.values().map(|t| t.events).sum::<i64>()
        }
    };
    if limit == 0 {
        return Ok(Top {
            total,
            rows: Vec::new(),
        });
    }
    let leaders = darknet_source::Entity::find()
        .filter(rolled)
        .order_by_desc(S::Events)
        .order_by_desc(S::Src)
        .limit(limit)
        .all(db)
        .await?;
    // A source outside the leaders has at most the last leader's stored events (none at all
    // when the leaders are every source there is).
    let full = leaders.len() as u64 == limit;
    let floor = if full {
        leaders.last().map_or(0, |s| s.events)
    } else {
        0
    };
    let mut ranked: HashMap<Vec<u8>, darknet_source::Model> = leaders
        .into_iter()
        .filter_map(|s| {
            let src = s.src.clone();
            with_tail(&src, Some(s), tail.get(&src)).map(|m| (src, m))
        })
        .collect();
    let mut totals: Vec<i64> = ranked.values().map(|s| s.events).collect();
    totals.sort_unstable_by(|a, b| b.cmp(a));
    let bar = if totals.len() as u64 >= limit {
        totals[limit as usize - 1]
    } else {
        0
    };
    let contenders: Vec<Vec<u8>> = tail
        .iter()
        .filter(|(src, t)| !ranked.contains_key(*src) && floor + t.events >= bar)
        .map(|(src, _)| src.clone())
        .collect();
    let mut found = if full {
        stored(db, &contenders).await?
    } else {
        HashMap::new()
    };
    for src in contenders {
        if let Some(m) = with_tail(&src, found.remove(&src), tail.get(&src)) {
            ranked.insert(src, m);
        }
    }
    let mut rows: Vec<darknet_source::Model> = ranked.into_values().collect();
    rows.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| b.src.cmp(&a.src)));
    rows.truncate(limit as usize);
    Ok(Top {
        total,
        rows: rows
            .into_iter()
            .map(|source| SourceCount {
                events: source.events,
                source,
            })
            .collect(),
    })
}

/// Distinct sources seen in a window.
pub async fn distinct_sources(db: &Snapshot, w: Window) -> AppResult<i64> {
    use darknet_source_hour::Column as H;
    let mark = fold::mark(db, Roll::SourceHour).await?;
    let Some((_, last)) = span(db, mark).await? else {
        return Ok(0);
    };
    if last < w.end {
        return distinct_sources_since(db, w).await;
    }
    let both: SelectStatement = Query::select()
        .column(H::Src)
        .from(darknet_source_hour::Entity)
        .cond_where(w.condition(H::Hour))
        .union(
            UnionType::Distinct,
            Query::select()
                .expr_as(tail_src(db.get_database_backend()), Alias::new("src"))
                .from(darknet_event::Entity)
                .cond_where(tail_window(db.get_database_backend(), &w).add(E::Id.gt(mark)))
                .to_owned(),
        )
        .to_owned();
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from_subquery(both, Alias::new("t"))
        .to_owned();
    Ok(match db.query_one(&count).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    })
}

/// Distinct sources of a window that reaches the newest event: those the per-source roll-up
/// last saw at or after the window's start (read off its index by last seen), and those of the
/// tail past its mark in the window that it does not count yet.
async fn distinct_sources_since(db: &impl ConnectionTrait, w: Window) -> AppResult<i64> {
    use darknet_source::Column as S;
    use sea_orm::ExprTrait as _;
    let mark = fold::mark(db, Roll::Source).await?;
    let start = w.start_time();
    let stored = darknet_source::Entity::find()
        .filter(S::LastSeen.gte(start))
        .count(db)
        .await?;
    let e = Alias::new("e");
    // `+e.src` on SQLite, as in `tail_src` (with the events' index led by the source, before
    // migration 042, it counted the tail by walking that index: 15 ms for an empty tail).
    let distinct = match db.get_database_backend() {
        DbBackend::Sqlite => "COUNT(DISTINCT +e.src)",
        _ => "COUNT(DISTINCT e.src)",
    };
    let fresh = Query::select()
        .expr_as(Expr::cust(distinct), Alias::new("n"))
        .from_as(darknet_event::Entity, e.clone())
        .left_join(
            darknet_source::Entity,
            Condition::all()
                .add(Expr::col((darknet_source::Entity, S::Src)).equals((e.clone(), E::Src)))
                .add(Expr::col((darknet_source::Entity, S::LastSeen)).gte(start)),
        )
        .and_where(Expr::col((e.clone(), E::Id)).gt(mark))
        .and_where(match db.get_database_backend() {
            // `+e.hour`, as in `tail_window`.
            DbBackend::Sqlite => Expr::cust("+e.hour").gte(w.start),
            _ => Expr::col((e, E::Hour)).gte(w.start),
        })
        .and_where(Expr::col((darknet_source::Entity, S::Src)).is_null())
        .to_owned();
    let fresh: i64 = match db.query_one(&fresh).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(stored as i64 + fresh)
}

/// A scanner's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceProfile {
    pub source: darknet_source::Model,
    pub distinct_ports: i64,
    pub ports: Vec<PortCount>,
    /// (sensor id, events).
    pub sensors: Vec<(i64, i64)>,
}

/// Distinct sensors that saw a source.
pub fn distinct_sensors(p: &SourceProfile) -> i64 {
    p.sensors.len() as i64
}

/// One source's events past a roll-up's mark: read off the events' index by hour and source
/// when the hours of the events past the mark are known ([`fold::unfolded`]; under a flood
/// the roll-up by source and port lets millions of events wait, and reading all of them for
/// one source's took seconds), else from every event past the mark. `None` when no event lies
/// past the mark.
fn one_source(key: &[u8], unfolded: &fold::Unfolded) -> Option<Condition> {
    let all = Condition::all()
        .add(E::Src.eq(key.to_vec()))
        .add(E::Id.gt(unfolded.mark));
    match &unfolded.hours {
        Some(hours) if hours.is_empty() => None,
        Some(hours) => Some(all.add(E::Hour.is_in(hours.iter().copied()))),
        None => Some(all),
    }
}

/// A source's profile with its busiest `ports`; `None` when the darknet never saw it.
pub async fn source(db: &Snapshot, addr: IpAddr, ports: u64) -> AppResult<Option<SourceProfile>> {
    let key = ip_key(addr);
    let by_source = fold::unfolded(db, Roll::Source).await?;
    let tail = match one_source(&key, &by_source) {
        Some(cond) => tails(db, by_source.mark, cond).await?.remove(&key),
        None => None,
    };
    let stored_row = stored(db, std::slice::from_ref(&key)).await?.remove(&key);
    let Some(source) = with_tail(&key, stored_row, tail.as_ref()) else {
        return Ok(None);
    };

    use darknet_source_port::Column as P;
    let tail_ports: Vec<(i16, i32, i64)> =
        match one_source(&key, &fold::unfolded(db, Roll::source_port(&key)).await?) {
            Some(cond) => {
                darknet_event::Entity::find()
                    .select_only()
                    .column(E::Protocol)
                    .column_as(Expr::cust(PORT), "port")
                    .column_as(Expr::cust("COUNT(*)"), "n")
                    .filter(cond)
                    .group_by(E::Protocol)
                    .group_by(Expr::cust(PORT))
                    .into_tuple()
                    .all(db)
                    .await?
            }
            None => Vec::new(),
        };
    // The stored counts of the ports the tail hit, a protocol at a time.
    let mut stored_ports: HashMap<(i16, i32), i64> = HashMap::new();
    let mut by_protocol: HashMap<i16, Vec<i32>> = HashMap::new();
    for (protocol, port, _) in &tail_ports {
        by_protocol.entry(*protocol).or_default().push(*port);
    }
    for (protocol, list) in by_protocol {
        for chunk in list.chunks(CHUNK) {
            for p in darknet_source_port::Entity::find()
                .filter(P::Src.eq(key.clone()))
                .filter(P::Protocol.eq(protocol))
                .filter(P::Port.is_in(chunk.iter().copied()))
                .all(db)
                .await?
            {
                stored_ports.insert((p.protocol, p.port), p.events);
            }
        }
    }
    let rolled_ports = darknet_source_port::Entity::find()
        .filter(P::Src.eq(key.clone()))
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or_default();
    let new_ports = tail_ports
        .iter()
        .filter(|(pr, po, _)| !stored_ports.contains_key(&(*pr, *po)))
        .count() as i64;
    let limit = ports.min(MAX_TOP);
    // The stored leaders, and every port of the tail with its stored count added: a port
    // outside both cannot rank above the stored leaders.
    let mut ranked: HashMap<(i16, i32), i64> = darknet_source_port::Entity::find()
        .filter(P::Src.eq(key.clone()))
        .order_by_desc(P::Events)
        .order_by_asc(P::Protocol)
        .order_by_asc(P::Port)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|p| ((p.protocol, p.port), p.events))
        .collect();
    for (protocol, port, n) in tail_ports {
        let stored = stored_ports.get(&(protocol, port)).copied().unwrap_or(0);
        ranked.insert((protocol, port), stored + n);
    }
    let mut top: Vec<PortCount> = ranked
        .into_iter()
        .map(|((protocol, port), events)| PortCount {
            protocol,
            port,
            events,
        })
        .collect();
    top.sort_by(|a, b| (b.events, a.protocol, a.port).cmp(&(a.events, b.protocol, b.port)));
    top.truncate(limit as usize);

    let mut sensors: HashMap<i64, i64> = darknet_source_sensor::Entity::find()
        .filter(darknet_source_sensor::Column::Src.eq(key.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.sensor_id, s.events))
        .collect();
    let tail_sensors: Vec<(i64, i64)> =
        match one_source(&key, &fold::unfolded(db, Roll::SourceSensor).await?) {
            Some(cond) => {
                darknet_event::Entity::find()
                    .select_only()
                    .column(E::SensorId)
                    .column_as(Expr::cust("COUNT(*)"), "n")
                    .filter(cond)
                    .group_by(E::SensorId)
                    .into_tuple()
                    .all(db)
                    .await?
            }
            None => Vec::new(),
        };
    for (sensor, n) in tail_sensors {
        *sensors.entry(sensor).or_default() += n;
    }
    let mut sensors: Vec<(i64, i64)> = sensors.into_iter().collect();
    sensors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Some(SourceProfile {
        source,
        distinct_ports: rolled_ports + new_ports,
        ports: top,
        sensors,
    }))
}

/// Which of `keys` the darknet has seen as a source. Call it inside a transaction, so the
/// fold mark and the roll-up are read in one snapshot.
pub async fn seen(db: &impl ConnectionTrait, keys: &[Vec<u8>]) -> AppResult<HashSet<Vec<u8>>> {
    let mark = fold::mark(db, Roll::Source).await?;
    let mut found: HashSet<Vec<u8>> = HashSet::new();
    for chunk in keys.chunks(CHUNK) {
        found.extend(stored(db, chunk).await?.into_keys());
        let fresh: Vec<Vec<u8>> = darknet_event::Entity::find()
            .select_only()
            .column(E::Src)
            .distinct()
            .filter(E::Src.is_in(chunk.iter().cloned()))
            .filter(E::Id.gt(mark))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(fresh);
    }
    Ok(found)
}

/// Sources seen at or after `since`. Call it inside a transaction (see [`seen`]).
pub async fn seen_since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> AppResult<Vec<Vec<u8>>> {
    let mark = fold::mark(db, Roll::Source).await?;
    let mut found: Vec<Vec<u8>> = darknet_source::Entity::find()
        .select_only()
        .column(darknet_source::Column::Src)
        .filter(darknet_source::Column::LastSeen.gte(since))
        .into_tuple()
        .all(db)
        .await?;
    let fresh: Vec<Vec<u8>> = darknet_event::Entity::find()
        .select_only()
        .column_as(tail_src(db.get_database_backend()), "src")
        .distinct()
        .filter(E::Id.gt(mark))
        .filter(E::SeenAt.gte(since))
        .into_tuple()
        .all(db)
        .await?;
    found.extend(fresh);
    found.sort_unstable();
    found.dedup();
    Ok(found)
}
