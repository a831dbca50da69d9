//! Darknet analytics, read from the roll-ups only (never a scan of the raw events, which only
//! [`events`] pages through; per-source answers are in [`super::sources`]). Time windows of the roll-ups are whole hours: `from` is rounded
//! down and `to` up.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use entity::{darknet_country_hour, darknet_event, darknet_port_hour};
use ipnet::IpNet;
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::parse::Protocol;
use super::store::sum;
use crate::db::Snapshot;
use crate::error::{AppError, AppResult};
use crate::net::{ip_from_key, net_key_range};
use crate::page::{Cursor, Keyset, Page, PageRequest, SortValue};

/// The protocols with names; any other is `OTHER`.
pub const NAMED_PROTOCOLS: [i16; 4] = [1, 6, 17, 58];
/// Most rows a top list gives.
pub const MAX_TOP: u64 = 1000;
/// Most groups a time series gives.
pub const MAX_SERIES: u64 = 50;
/// Most points one series has.
pub const MAX_POINTS: i64 = 24 * 92;

/// A time window, in whole hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first hour (since the epoch).
    pub start: i64,
    /// The hour after the last.
    pub end: i64,
}

impl Window {
    /// `from` rounded down to its hour, `to` up; the last 24 hours when both are left out.
    pub fn new(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> AppResult<Self> {
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to - Duration::hours(24));
        if from >= to {
            return Err(AppError::bad_input("`from` must be before `to`"));
        }
        Ok(Self {
            start: from.timestamp().div_euclid(3600),
            end: (to.timestamp() + 3599).div_euclid(3600),
        })
    }

    pub fn start_time(&self) -> DateTime<Utc> {
        hour_start(self.start)
    }

    pub fn end_time(&self) -> DateTime<Utc> {
        hour_start(self.end)
    }

    pub(super) fn condition(&self, hour: impl ColumnTrait) -> Condition {
        Condition::all()
            .add(hour.gte(self.start))
            .add(hour.lt(self.end))
    }
}

/// The start of an hour since the epoch.
pub fn hour_start(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(hour.saturating_mul(3600), 0).unwrap_or_default()
}

/// A protocol to keep: one by number, or every one without a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolSel {
    Is(i16),
    Other,
}

fn protocol_condition(col: impl ColumnTrait, sel: Option<ProtocolSel>) -> Condition {
    match sel {
        None => Condition::all(),
        Some(ProtocolSel::Is(n)) => Condition::all().add(col.eq(n)),
        Some(ProtocolSel::Other) => Condition::all().add(col.is_not_in(NAMED_PROTOCOLS)),
    }
}

/// Events on one destination port (-1: none) of one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCount {
    pub protocol: i16,
    pub port: i32,
    pub events: i64,
}

/// Events from one country (`None`: unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryCount {
    pub country: Option<String>,
    pub events: i64,
}

/// A top list and the total it is a share of.
#[derive(Debug, Clone, PartialEq)]
pub struct Top<T> {
    pub total: i64,
    pub rows: Vec<T>,
}

/// The alias of a summed count.
const N: &str = "n";

/// The busiest destination ports of a window and the window's total, read in one snapshot.
pub async fn top_ports(
    db: &Snapshot,
    w: Window,
    sensor: Option<i64>,
    protocol: Option<ProtocolSel>,
    limit: u64,
) -> AppResult<Top<PortCount>> {
    use darknet_port_hour::Column as C;
    let b = db.get_database_backend();
    let mut cond = w
        .condition(C::Hour)
        .add(protocol_condition(C::Protocol, protocol));
    if let Some(s) = sensor {
        cond = cond.add(C::SensorId.eq(s));
    }
    let total: Option<i64> = darknet_port_hour::Entity::find()
        .select_only()
        .column_as(sum(b, "events"), N)
        .filter(cond.clone())
        .into_tuple()
        .one(db)
        .await?;
    let rows: Vec<(i16, i32, i64)> = darknet_port_hour::Entity::find()
        .select_only()
        .column(C::Protocol)
        .column(C::Port)
        .column_as(sum(b, "events"), N)
        .filter(cond)
        .group_by(C::Protocol)
        .group_by(C::Port)
        .order_by_desc(Expr::col(Alias::new(N)))
        .order_by_asc(C::Protocol)
        .order_by_asc(C::Port)
        .limit(limit.min(MAX_TOP))
        .into_tuple()
        .all(db)
        .await?;
    Ok(Top {
        total: total.unwrap_or_default(),
        rows: rows
            .into_iter()
            .map(|(protocol, port, events)| PortCount {
                protocol,
                port,
                events,
            })
            .collect(),
    })
}

/// The busiest source countries of a window and the window's total, read in one snapshot.
pub async fn top_countries(
    db: &Snapshot,
    w: Window,
    sensor: Option<i64>,
    limit: u64,
) -> AppResult<Top<CountryCount>> {
    use darknet_country_hour::Column as C;
    let b = db.get_database_backend();
    let mut cond = w.condition(C::Hour);
    if let Some(s) = sensor {
        cond = cond.add(C::SensorId.eq(s));
    }
    let total: Option<i64> = darknet_country_hour::Entity::find()
        .select_only()
        .column_as(sum(b, "events"), N)
        .filter(cond.clone())
        .into_tuple()
        .one(db)
        .await?;
    let rows: Vec<(String, i64)> = darknet_country_hour::Entity::find()
        .select_only()
        .column(C::Country)
        .column_as(sum(b, "events"), N)
        .filter(cond)
        .group_by(C::Country)
        .order_by_desc(Expr::col(Alias::new(N)))
        .order_by_asc(C::Country)
        .limit(limit.min(MAX_TOP))
        .into_tuple()
        .all(db)
        .await?;
    Ok(Top {
        total: total.unwrap_or_default(),
        rows: rows
            .into_iter()
            .map(|(country, events)| CountryCount {
                country: (!country.is_empty()).then_some(country),
                events,
            })
            .collect(),
    })
}

/// The width of a time series' points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

/// What a time series is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Nothing,
    Protocol,
    Port,
    Country,
    Sensor,
}

/// The group of one series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKey {
    All,
    Protocol(i16),
    Port(i16, i32),
    Country(Option<String>),
    Sensor(i64),
}

/// One series: its group, its total and a point per bucket (empty buckets are zero).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub key: SeriesKey,
    pub total: i64,
    pub points: Vec<(DateTime<Utc>, i64)>,
}

/// Filters of a time series (each applies where its roll-up has the column: a country filter
/// to the country roll-up, a protocol or port filter to the port roll-up).
#[derive(Debug, Clone, Default)]
pub struct SeriesFilter {
    pub sensor: Option<i64>,
    pub protocol: Option<ProtocolSel>,
    pub port: Option<i32>,
    pub country: Option<String>,
}

/// Events per bucket of `w`, for the `limit` largest groups of `group_by` (chosen and counted
/// in one snapshot).
pub async fn time_series(
    db: &Snapshot,
    w: Window,
    bucket: Bucket,
    group_by: GroupBy,
    filter: &SeriesFilter,
    limit: u64,
) -> AppResult<Vec<Series>> {
    let (start, end) = match bucket {
        Bucket::Hour => (w.start, w.end),
        Bucket::Day => (
            w.start.div_euclid(24) * 24,
            (w.end + 23).div_euclid(24) * 24,
        ),
    };
    let width = if bucket == Bucket::Day { 24 } else { 1 };
    if (end - start) / width > MAX_POINTS {
        return Err(AppError::bad_input(format!(
            "a time series has at most {MAX_POINTS} points: narrow the window or use DAY"
        )));
    }
    let w = Window { start, end };
    let b = db.get_database_backend();
    let limit = limit.clamp(1, MAX_SERIES);
    // (hour, key) -> events, for the chosen groups.
    let rows: Vec<(i64, SeriesKey, i64)> = match group_by {
        GroupBy::Country => {
            use darknet_country_hour::Column as C;
            let mut cond = w.condition(C::Hour);
            if let Some(s) = filter.sensor {
                cond = cond.add(C::SensorId.eq(s));
            }
            if let Some(c) = &filter.country {
                cond = cond.add(C::Country.eq(c.as_str()));
            }
            let top: Vec<String> = top_countries_in(db, cond.clone(), limit).await?;
            let rows: Vec<(i64, String, i64)> = darknet_country_hour::Entity::find()
                .select_only()
                .column(C::Hour)
                .column(C::Country)
                .column_as(sum(b, "events"), N)
                .filter(cond.add(C::Country.is_in(top)))
                .group_by(C::Hour)
                .group_by(C::Country)
                .into_tuple()
                .all(db)
                .await?;
            rows.into_iter()
                .map(|(h, c, e)| (h, SeriesKey::Country((!c.is_empty()).then_some(c)), e))
                .collect()
        }
        _ if filter.country.is_some() => {
            if group_by != GroupBy::Nothing && group_by != GroupBy::Sensor {
                return Err(AppError::bad_input(
                    "a country filter splits only by COUNTRY, SENSOR or nothing",
                ));
            }
            use darknet_country_hour::Column as C;
            let mut cond = w
                .condition(C::Hour)
                .add(C::Country.eq(filter.country.clone().unwrap_or_default()));
            if let Some(s) = filter.sensor {
                cond = cond.add(C::SensorId.eq(s));
            }
            let rows: Vec<(i64, i64, i64)> = darknet_country_hour::Entity::find()
                .select_only()
                .column(C::Hour)
                .column(C::SensorId)
                .column_as(sum(b, "events"), N)
                .filter(cond)
                .group_by(C::Hour)
                .group_by(C::SensorId)
                .into_tuple()
                .all(db)
                .await?;
            rows.into_iter()
                .map(|(h, s, e)| {
                    let key = if group_by == GroupBy::Sensor {
                        SeriesKey::Sensor(s)
                    } else {
                        SeriesKey::All
                    };
                    (h, key, e)
                })
                .collect()
        }
        _ => {
            use darknet_port_hour::Column as C;
            let mut cond = w
                .condition(C::Hour)
                .add(protocol_condition(C::Protocol, filter.protocol));
            if let Some(s) = filter.sensor {
                cond = cond.add(C::SensorId.eq(s));
            }
            if let Some(p) = filter.port {
                cond = cond.add(C::Port.eq(p));
            }
            // Only the columns the grouping needs, so the database sums what it can.
            let (proto_col, port_col, sensor_col) = match group_by {
                GroupBy::Protocol => (Expr::col(C::Protocol), Expr::val(-1), Expr::val(0i64)),
                GroupBy::Port => (Expr::col(C::Protocol), Expr::col(C::Port), Expr::val(0i64)),
                GroupBy::Sensor => (Expr::val(0i16), Expr::val(-1), Expr::col(C::SensorId)),
                _ => (Expr::val(0i16), Expr::val(-1), Expr::val(0i64)),
            };
            let mut query = darknet_port_hour::Entity::find()
                .select_only()
                .column(C::Hour)
                .column_as(proto_col, "p")
                .column_as(port_col, "q")
                .column_as(sensor_col, "s")
                .column_as(sum(b, "events"), N)
                .filter(cond)
                .group_by(C::Hour);
            query = match group_by {
                GroupBy::Protocol => query.group_by(C::Protocol),
                GroupBy::Port => query.group_by(C::Protocol).group_by(C::Port),
                GroupBy::Sensor => query.group_by(C::SensorId),
                _ => query,
            };
            let rows: Vec<(i64, i64, i64, i64, i64)> = query.into_tuple().all(db).await?;
            rows.into_iter()
                .map(|(h, proto, port, sensor, e)| {
                    let key = match group_by {
                        GroupBy::Protocol => SeriesKey::Protocol(proto as i16),
                        GroupBy::Port => SeriesKey::Port(proto as i16, port as i32),
                        GroupBy::Sensor => SeriesKey::Sensor(sensor),
                        _ => SeriesKey::All,
                    };
                    (h, key, e)
                })
                .collect()
        }
    };
    let mut by_key: BTreeMap<SeriesKey, BTreeMap<i64, i64>> = BTreeMap::new();
    for (hour, key, events) in rows {
        *by_key
            .entry(key)
            .or_default()
            .entry((hour - start).div_euclid(width))
            .or_default() += events;
    }
    let mut out: Vec<Series> = by_key
        .into_iter()
        .map(|(key, points)| Series {
            total: points.values().sum(),
            points: (0..(end - start) / width)
                .map(|i| {
                    (
                        hour_start(start + i * width),
                        points.get(&i).copied().unwrap_or(0),
                    )
                })
                .collect(),
            key,
        })
        .collect();
    out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
    out.truncate(limit as usize);
    if out.is_empty() && group_by == GroupBy::Nothing {
        out.push(Series {
            key: SeriesKey::All,
            total: 0,
            points: (0..(end - start) / width)
                .map(|i| (hour_start(start + i * width), 0))
                .collect(),
        });
    }
    Ok(out)
}

async fn top_countries_in(
    db: &impl ConnectionTrait,
    cond: Condition,
    limit: u64,
) -> AppResult<Vec<String>> {
    use darknet_country_hour::Column as C;
    let b = db.get_database_backend();
    let rows: Vec<(String, i64)> = darknet_country_hour::Entity::find()
        .select_only()
        .column(C::Country)
        .column_as(sum(b, "events"), N)
        .filter(cond)
        .group_by(C::Country)
        .order_by_desc(Expr::col(Alias::new(N)))
        .order_by_asc(C::Country)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A field whose values' shares are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareField {
    DestinationPort,
    Protocol,
    Country,
    Source,
    Sensor,
}

/// The total of a window and the `limit` largest values of `field` in it, as text, read in one
/// snapshot (by source: a roll-up and the events past its fold mark).
pub async fn shares(
    db: &Snapshot,
    field: ShareField,
    w: Window,
    limit: u64,
) -> AppResult<(i64, Vec<(String, i64)>)> {
    // As `PROTO=` writes it.
    let name =
        |p: i16| u8::try_from(p).map_or_else(|_| p.to_string(), |n| Protocol::of_number(n).name());
    Ok(match field {
        ShareField::DestinationPort => {
            let top = top_ports(db, w, None, None, limit).await?;
            let rows = top
                .rows
                .into_iter()
                .map(|p| {
                    let label = if p.port >= 0 {
                        format!("{}/{}", name(p.protocol), p.port)
                    } else {
                        name(p.protocol)
                    };
                    (label, p.events)
                })
                .collect();
            (top.total, rows)
        }
        ShareField::Country => {
            let top = top_countries(db, w, None, limit).await?;
            let rows = top
                .rows
                .into_iter()
                .map(|c| (c.country.unwrap_or_else(|| "unknown".into()), c.events))
                .collect();
            (top.total, rows)
        }
        ShareField::Source => {
            let top = super::sources::top_sources(db, w, None, limit).await?;
            let rows = top
                .rows
                .into_iter()
                .map(|s| (address(&s.source.src), s.events))
                .collect();
            (top.total, rows)
        }
        ShareField::Protocol | ShareField::Sensor => {
            use darknet_port_hour::Column as C;
            let b = db.get_database_backend();
            let col = if field == ShareField::Protocol {
                C::Protocol
            } else {
                C::SensorId
            };
            let total: Option<i64> = darknet_port_hour::Entity::find()
                .select_only()
                .column_as(sum(b, "events"), N)
                .filter(w.condition(C::Hour))
                .into_tuple()
                .one(db)
                .await?;
            let rows: Vec<(i64, i64)> = darknet_port_hour::Entity::find()
                .select_only()
                .column(col)
                .column_as(sum(b, "events"), N)
                .filter(w.condition(C::Hour))
                .group_by(col)
                .order_by_desc(Expr::col(Alias::new(N)))
                .order_by_asc(col)
                .limit(limit)
                .into_tuple()
                .all(db)
                .await?;
            let names: HashMap<i64, String> = if field == ShareField::Sensor {
                let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
                super::sensor::by_ids(db, &ids)
                    .await?
                    .into_iter()
                    .map(|s| (s.id, s.name))
                    .collect()
            } else {
                HashMap::new()
            };
            let rows = rows
                .into_iter()
                .map(|(k, n)| {
                    let label = if field == ShareField::Protocol {
                        name(k as i16)
                    } else {
                        names.get(&k).cloned().unwrap_or_else(|| k.to_string())
                    };
                    (label, n)
                })
                .collect();
            (total.unwrap_or_default(), rows)
        }
    })
}

/// The address of a roll-up or event key.
pub fn address(key: &[u8]) -> String {
    ip_from_key(key).map_or_else(|| "?".into(), |a| a.to_string())
}

/// Which raw events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub source: Option<IpNet>,
    pub dst_port: Option<i32>,
    pub protocol: Option<ProtocolSel>,
    pub country: Option<String>,
    pub sensor: Option<i64>,
}

fn event_condition(f: &EventFilter) -> Condition {
    use darknet_event::Column as C;
    let mut cond = protocol_condition(C::Protocol, f.protocol);
    if let Some(from) = f.from {
        cond = cond.add(C::SeenAt.gte(from));
    }
    if let Some(to) = f.to {
        cond = cond.add(C::SeenAt.lt(to));
    }
    if let Some(net) = &f.source {
        let (lo, hi) = net_key_range(net);
        cond = cond.add(C::Src.gte(lo)).add(C::Src.lte(hi));
    }
    if let Some(p) = f.dst_port {
        cond = cond.add(C::DstPort.eq(p));
    }
    if let Some(c) = &f.country {
        cond = cond.add(C::Country.eq(c.as_str()));
    }
    if let Some(s) = f.sensor {
        cond = cond.add(C::SensorId.eq(s));
    }
    cond
}

/// How many raw events match (a scan of the events: asked for only by `totalCount`).
pub async fn count_events(db: &impl ConnectionTrait, f: &EventFilter) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    let count = |cond: Condition| darknet_event::Entity::find().filter(cond).count(db);
    // By source: seeking it hour by hour, as [`events`] does.
    let Some(runs) = source_runs(db, f, true).await? else {
        return Ok(count(event_condition(f)).await?);
    };
    let mut total = 0;
    for run in runs {
        let hours = darknet_event::Column::Hour.is_in(run);
        total += count(event_condition(f).add(hours)).await?;
    }
    Ok(total)
}

/// Raw events, newest first (by time, then id), a keyset page at a time.
pub async fn events(
    db: &impl ConnectionTrait,
    f: &EventFilter,
    page: &PageRequest,
) -> AppResult<Page<darknet_event::Model>> {
    use darknet_event::Column as C;
    let keyset = Keyset {
        name: "darknetEvent:TIME:DESC".into(),
        key: Some(Expr::col((darknet_event::Entity, C::SeenAt))),
        nullable: false,
        id: Expr::col((darknet_event::Entity, C::Id)),
        descending: true,
    };
    let cond = Condition::all()
        .add(keyset.window(page)?)
        .add(event_condition(f));
    let ascending = keyset.ascending(page);
    let ordered = |query: sea_orm::Select<darknet_event::Entity>| {
        if ascending {
            query.order_by_asc(C::SeenAt).order_by_asc(C::Id)
        } else {
            query.order_by_desc(C::SeenAt).order_by_desc(C::Id)
        }
    };
    let cursor = |r: &darknet_event::Model| Cursor {
        ordering: keyset.name.clone(),
        key: SortValue::Time(Some(r.seen_at)),
        id: r.id,
    };
    // By source: the events' index leads with the hour (see migration 042), so each
    // statement seeks the source in a run of hours, the newest run first (the oldest when
    // paging backwards), until the page is full. Runs of hours are runs of time, so the pages
    // read one after another stay in order.
    let Some(runs) = source_runs(db, f, ascending).await? else {
        let query = ordered(darknet_event::Entity::find().filter(cond));
        let rows = query.limit(page.limit + 1).all(db).await?;
        return Ok(Page::from_rows(rows, page, cursor));
    };
    let mut rows: Vec<darknet_event::Model> = Vec::new();
    for run in runs {
        let wanted = page.limit + 1 - rows.len() as u64;
        let query = darknet_event::Entity::find()
            .filter(cond.clone().add(C::Hour.is_in(run)))
            .limit(wanted);
        rows.extend(ordered(query).all(db).await?);
        if rows.len() as u64 > page.limit {
            break;
        }
    }
    Ok(Page::from_rows(rows, page, cursor))
}

/// Hours one statement seeks a source in (see [`events`]): a week. MySQL estimates up to 200
/// ranges by diving into the index; past that it guesses from statistics, and took the time
/// index instead.
const HOURS_A_SEEK: i64 = 168;
/// Most statements a listing by source takes (over a year of hours).
const MAX_RUNS: usize = 64;

/// The hours a listing of `f` by source seeks it in (those of the stored events, within its
/// time filter), in runs of [`HOURS_A_SEEK`], newest first unless `ascending`. `None` without
/// a source, or over more than [`MAX_RUNS`] runs (events strewn over years): the listing then
/// walks the time index.
async fn source_runs(
    db: &impl ConnectionTrait,
    f: &EventFilter,
    ascending: bool,
) -> AppResult<Option<Vec<Vec<i64>>>> {
    use darknet_event::Column as C;
    if f.source.is_none() {
        return Ok(None);
    }
    // Two statements: each reads one end of the index led by the hour.
    let mut ends = Vec::with_capacity(2);
    for end in [C::Hour.min(), C::Hour.max()] {
        let hour: Option<Option<i64>> = darknet_event::Entity::find()
            .select_only()
            .column_as(end, "n")
            .into_tuple()
            .one(db)
            .await?;
        ends.push(hour.flatten());
    }
    let (Some(first), Some(last)) = (ends[0], ends[1]) else {
        return Ok(Some(Vec::new()));
    };
    let first = f.from.map_or(first, |t| first.max(super::hour_of(t)));
    let last = f.to.map_or(last, |t| last.min(super::hour_of(t)));
    let mut runs: Vec<Vec<i64>> = Vec::new();
    let mut start = first;
    while start <= last {
        if runs.len() == MAX_RUNS {
            return Ok(None);
        }
        let end = last.min(start.saturating_add(HOURS_A_SEEK - 1));
        runs.push((start..=end).collect());
        start = end + 1;
    }
    if !ascending {
        runs.reverse();
        for run in &mut runs {
            run.reverse();
        }
    }
    Ok(Some(runs))
}

/// One raw event.
pub async fn event(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<darknet_event::Model>> {
    Ok(darknet_event::Entity::find_by_id(id).one(db).await?)
}

/// Raw events of some batches (a live view's raw mode), oldest first, at most `limit`.
pub async fn events_of_batches(
    db: &impl ConnectionTrait,
    batches: &[i64],
    limit: u64,
) -> AppResult<Vec<darknet_event::Model>> {
    Ok(darknet_event::Entity::find()
        .filter(darknet_event::Column::BatchId.is_in(batches.iter().copied()))
        .order_by_asc(darknet_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
