//! Darknet queries: sensors, raw events, and the analytics (roll-ups only).

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::live::DarknetSpikeConnection;
use super::types::*;
use crate::darknet::read::{self, EventFilter, SeriesFilter, Window};
use crate::darknet::{sensor, sources, spike};
use crate::db;
use crate::error::AppError;
use crate::graphql::connection::{TotalCount, connection, list_reader, page, page_cost};
use crate::graphql::node;
use crate::graphql::scalars::DateTime;
use crate::graphql::{snapshot, state};

connection!(SensorConnection, SensorEdge, Sensor);
connection!(DarknetEventConnection, DarknetEventEdge, DarknetEvent);

/// Which darknet events to list.
#[derive(InputObject, Default)]
pub struct DarknetEventFilter {
    /// Seen at or after this time.
    pub from: Option<DateTime>,
    /// Seen before this time.
    pub to: Option<DateTime>,
    /// Sources in this network (CIDR) or this address.
    pub source: Option<String>,
    /// This destination port.
    pub destination_port: Option<i32>,
    /// This protocol.
    pub protocol: Option<DarknetProtocol>,
    /// Sources from this country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Logged by this sensor.
    pub sensor_id: Option<ID>,
}

fn network(text: &str) -> Result<ipnet::IpNet, AppError> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| AppError::bad_input(format!("`{text}` is not an address or a network")))
}

fn country_of(text: &str) -> Result<String, AppError> {
    let t = text.trim().to_ascii_uppercase();
    if t.len() != 2 || !t.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(AppError::bad_input(format!(
            "`{text}` is not a two-letter country code"
        )));
    }
    Ok(t)
}

fn sensor_of(id: Option<ID>) -> Result<Option<i64>, AppError> {
    id.map(|i| node::decode(&i, "Sensor")).transpose()
}

fn window(from: Option<DateTime>, to: Option<DateTime>) -> Result<Window, AppError> {
    Window::new(from.map(|d| d.0), to.map(|d| d.0), db::now())
}

fn limit_of(n: Option<i32>, default: u64) -> Result<u64, AppError> {
    match n {
        None => Ok(default),
        Some(n) if (1..=read::MAX_TOP as i32).contains(&n) => Ok(n as u64),
        Some(_) => Err(AppError::bad_input(format!(
            "`limit` is between 1 and {}",
            read::MAX_TOP
        ))),
    }
}

fn port_of(p: Option<i32>) -> Result<Option<i32>, AppError> {
    match p {
        Some(p) if !(0..=65535).contains(&p) => {
            Err(AppError::bad_input("a port is between 0 and 65535"))
        }
        p => Ok(p),
    }
}

#[derive(Default)]
pub struct DarknetQuery;

#[Object]
impl DarknetQuery {
    /// Darknet sensors, oldest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn sensors(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
    ) -> Result<SensorConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = sensor::list(&db, &page).await?;
        let total = TotalCount::of(&db, sensor::count(&db)).await?;
        Ok(SensorConnection::new(found, total))
    }

    /// A sensor by id; null when there is none.
    async fn sensor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Sensor>> {
        let Some(id) = node::decode_of(&id, "Sensor")? else {
            return Ok(None);
        };
        Ok(sensor::get(&state(ctx)?.db, id).await?.map(Sensor))
    }

    /// Raw darknet events, newest first (kept for the retention period).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn darknet_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which events.")] filter: Option<DarknetEventFilter>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
    ) -> Result<DarknetEventConnection> {
        let f = filter.unwrap_or_default();
        let filter = EventFilter {
            from: f.from.map(|d| d.0),
            to: f.to.map(|d| d.0),
            source: f.source.as_deref().map(network).transpose()?,
            dst_port: port_of(f.destination_port)?,
            protocol: f.protocol.map(DarknetProtocol::selection),
            country: f.country.as_deref().map(country_of).transpose()?,
            sensor: sensor_of(f.sensor_id)?,
        };
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = read::events(&db, &filter, &page).await?;
        let total = TotalCount::of(&db, read::count_events(&db, &filter)).await?;
        Ok(DarknetEventConnection::new(found, total))
    }

    /// The busiest destination ports in a window (the last 24 hours by default).
    async fn darknet_top_ports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The window's start (rounded down to its hour).")] from: Option<DateTime>,
        #[graphql(desc = "The window's end (rounded up to its hour); now when left out.")]
        to: Option<DateTime>,
        #[graphql(desc = "Only this sensor's events.")] sensor_id: Option<ID>,
        #[graphql(desc = "Only this protocol.")] protocol: Option<DarknetProtocol>,
        #[graphql(desc = "How many ports (10 by default, at most 1000).")] limit: Option<i32>,
    ) -> Result<DarknetTopPorts> {
        let w = window(from, to)?;
        let (sensor, limit) = (sensor_of(sensor_id)?, limit_of(limit, 10)?);
        let protocol = protocol.map(DarknetProtocol::selection);
        let top = read::top_ports(&snapshot(ctx).await?, w, sensor, protocol, limit).await?;
        Ok(DarknetTopPorts {
            from: DateTime(w.start_time()),
            to: DateTime(w.end_time()),
            total: top.total,
            ports: top
                .rows
                .iter()
                .map(|p| DarknetPortCount::new(p, top.total))
                .collect(),
        })
    }

    /// The countries most events came from in a window (the last 24 hours by default).
    async fn darknet_top_countries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The window's start (rounded down to its hour).")] from: Option<DateTime>,
        #[graphql(desc = "The window's end (rounded up to its hour); now when left out.")]
        to: Option<DateTime>,
        #[graphql(desc = "Only this sensor's events.")] sensor_id: Option<ID>,
        #[graphql(desc = "How many countries (10 by default, at most 1000).")] limit: Option<i32>,
    ) -> Result<DarknetTopCountries> {
        let w = window(from, to)?;
        let (sensor, limit) = (sensor_of(sensor_id)?, limit_of(limit, 10)?);
        let top = read::top_countries(&snapshot(ctx).await?, w, sensor, limit).await?;
        Ok(DarknetTopCountries {
            from: DateTime(w.start_time()),
            to: DateTime(w.end_time()),
            total: top.total,
            countries: top
                .rows
                .into_iter()
                .map(|c| DarknetCountryCount {
                    share: if top.total > 0 {
                        c.events as f64 / top.total as f64
                    } else {
                        0.0
                    },
                    country: c.country,
                    events: c.events,
                })
                .collect(),
        })
    }

    /// The busiest sources in a window (the last 24 hours by default).
    async fn darknet_top_sources(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The window's start (rounded down to its hour).")] from: Option<DateTime>,
        #[graphql(desc = "The window's end (rounded up to its hour); now when left out.")]
        to: Option<DateTime>,
        #[graphql(desc = "Only sources in this network (CIDR).")] within: Option<String>,
        #[graphql(desc = "How many sources (10 by default, at most 1000).")] limit: Option<i32>,
    ) -> Result<DarknetTopSources> {
        let w = window(from, to)?;
        let within = within.as_deref().map(network).transpose()?;
        let limit = limit_of(limit, 10)?;
        let top = sources::top_sources(&snapshot(ctx).await?, w, within, limit).await?;
        Ok(DarknetTopSources {
            from: DateTime(w.start_time()),
            to: DateTime(w.end_time()),
            total: top.total,
            sources: top
                .rows
                .iter()
                .map(|s| DarknetSourceCount::new(&s.source, s.events, top.total))
                .collect(),
        })
    }

    /// Events per hour or day in a window (the last 24 hours by default), split by a field
    /// (its largest groups), with empty buckets as zero.
    #[expect(clippy::too_many_arguments, reason = "one GraphQL argument each")]
    async fn darknet_time_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The window's start (rounded down to its hour or day).")] from: Option<
            DateTime,
        >,
        #[graphql(desc = "The window's end (rounded up); now when left out.")] to: Option<DateTime>,
        #[graphql(
            desc = "The width of each point.",
            default_with = "DarknetBucket::Hour"
        )]
        bucket: DarknetBucket,
        #[graphql(desc = "What to split by.", default_with = "DarknetGroupBy::Nothing")]
        group_by: DarknetGroupBy,
        #[graphql(desc = "Only this sensor's events.")] sensor_id: Option<ID>,
        #[graphql(desc = "Only this protocol.")] protocol: Option<DarknetProtocol>,
        #[graphql(desc = "Only this destination port.")] port: Option<i32>,
        #[graphql(desc = "Only sources from this country (splits by COUNTRY, SENSOR or nothing).")]
        country: Option<String>,
        #[graphql(desc = "How many groups (10 by default, at most 50).")] limit: Option<i32>,
    ) -> Result<DarknetTimeSeries> {
        let w = window(from, to)?;
        let filter = SeriesFilter {
            sensor: sensor_of(sensor_id)?,
            protocol: protocol.map(DarknetProtocol::selection),
            port: port_of(port)?,
            country: country.as_deref().map(country_of).transpose()?,
        };
        if filter.country.is_some() && (filter.protocol.is_some() || filter.port.is_some()) {
            return Err(AppError::bad_input(
                "a country filter cannot be combined with a protocol or port filter",
            )
            .into());
        }
        let limit = self::limit_of(limit, 10)?;
        let series = read::time_series(
            &snapshot(ctx).await?,
            w,
            bucket.into(),
            group_by.into(),
            &filter,
            limit,
        )
        .await?;
        let (from, to) = series
            .first()
            .and_then(|s| Some((s.points.first()?.0, s.points.last()?.0)))
            .map_or((w.start_time(), w.end_time()), |(a, b)| {
                let width = if bucket == DarknetBucket::Day { 24 } else { 1 };
                (a, b + chrono::Duration::hours(width))
            });
        Ok(DarknetTimeSeries {
            from: DateTime(from),
            to: DateTime(to),
            bucket,
            series: series.into_iter().map(Into::into).collect(),
        })
    }

    /// A scanner's profile; null when the darknet never saw the address.
    async fn darknet_source(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address (IPv4 or IPv6).")] address: String,
        #[graphql(desc = "How many of its ports to list (20 by default, at most 1000).")]
        ports: Option<i32>,
    ) -> Result<Option<DarknetSourceProfile>> {
        let addr: std::net::IpAddr = address
            .trim()
            .parse()
            .map_err(|_| AppError::bad_input(format!("`{address}` is not an address")))?;
        let ports = limit_of(ports, 20)?;
        Ok(sources::source(&snapshot(ctx).await?, addr, ports)
            .await?
            .map(Into::into))
    }

    /// HECTOR's share view: a field's top values in a window (the last 24 hours by default)
    /// and what share of all events each has.
    async fn darknet_shares(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The field.")] field: DarknetField,
        #[graphql(desc = "The window's start (rounded down to its hour).")] from: Option<DateTime>,
        #[graphql(desc = "The window's end (rounded up to its hour); now when left out.")]
        to: Option<DateTime>,
        #[graphql(desc = "How many values (10 by default, at most 50).")] limit: Option<i32>,
    ) -> Result<DarknetShares> {
        let w = window(from, to)?;
        let n = limit_of(limit, 10)?.min(read::MAX_SERIES);
        let (total, rows) = read::shares(&snapshot(ctx).await?, field.into(), w, n).await?;
        let values: Vec<DarknetShare> = rows
            .into_iter()
            .map(|(value, events)| DarknetShare {
                value,
                events,
                share: if total > 0 {
                    events as f64 / total as f64
                } else {
                    0.0
                },
            })
            .collect();
        let listed: i64 = values.iter().map(|v| v.events).sum();
        Ok(DarknetShares {
            field,
            from: DateTime(w.start_time()),
            to: DateTime(w.end_time()),
            total,
            other: total - listed,
            values,
        })
    }

    /// HECTOR's 24-hour snapshot: the last day's events, sources, top ports, countries and
    /// sources, and events per hour, all read at one moment (so its parts agree).
    async fn darknet_snapshot(&self, ctx: &Context<'_>) -> Result<DarknetSnapshot> {
        let db = &snapshot(ctx).await?;
        let w = window(None, None)?;
        let ports = read::top_ports(db, w, None, None, 10).await?;
        let countries = read::top_countries(db, w, None, 10).await?;
        let sources = sources::top_sources(db, w, None, 10).await?;
        let hourly = read::time_series(
            db,
            w,
            read::Bucket::Hour,
            read::GroupBy::Nothing,
            &SeriesFilter::default(),
            1,
        )
        .await?;
        let total = ports.total;
        Ok(DarknetSnapshot {
            from: DateTime(w.start_time()),
            to: DateTime(w.end_time()),
            events: total,
            distinct_sources: sources::distinct_sources(db, w).await?,
            top_ports: ports
                .rows
                .iter()
                .map(|p| DarknetPortCount::new(p, total))
                .collect(),
            top_countries: countries
                .rows
                .into_iter()
                .map(|c| DarknetCountryCount {
                    share: if total > 0 {
                        c.events as f64 / total as f64
                    } else {
                        0.0
                    },
                    country: c.country,
                    events: c.events,
                })
                .collect(),
            top_sources: sources
                .rows
                .iter()
                .map(|s| DarknetSourceCount::new(&s.source, s.events, total))
                .collect(),
            hourly: hourly
                .into_iter()
                .next()
                .map(|s| {
                    s.points
                        .into_iter()
                        .map(|(at, events)| DarknetPoint {
                            at: DateTime(at),
                            events,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Detected spikes (a port's hourly count past its trailing baseline), newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn darknet_spikes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
    ) -> Result<DarknetSpikeConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = spike::list(&db, &page).await?;
        let total = TotalCount::of(&db, spike::count(&db)).await?;
        Ok(DarknetSpikeConnection::new(found, total))
    }
}
