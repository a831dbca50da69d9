//! Live darknet views: `darknetActivity` (per-second aggregates, raw events on request) and
//! `darknetSpikeEvents`. Ingest writes one outbox row per batch with a summary, so the
//! aggregates need no query; each subscriber gets at most one message per second, and raw
//! events past its per-second cap are counted as dropped (a gap marker), never queued.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Object, Result, SimpleObject, Subscription};
use entity::darknet_spike;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use super::types::{
    DarknetCountryCount, DarknetEvent, DarknetPortCount, DarknetProtocol, DarknetShare,
};
use crate::darknet::{ACTIVITY_TOPIC, SPIKE_TOPIC, read, spike};
use crate::error::AppError;
use crate::events::{self, Event};
use crate::graphql::connection::connection;
use crate::graphql::guard;
use crate::graphql::scalars::DateTime;
use crate::graphql::{identity, node, state};

/// Most raw events one message carries.
pub const MAX_RAW_PER_SECOND: i32 = 1000;
/// Most batches one window remembers for its raw events.
const MAX_WINDOW_BATCHES: usize = 1000;

/// A port whose hourly count went past its trailing baseline.
#[derive(Clone)]
pub struct DarknetSpike(pub darknet_spike::Model);

impl From<darknet_spike::Model> for DarknetSpike {
    fn from(m: darknet_spike::Model) -> Self {
        Self(m)
    }
}

/// A port whose hourly count went past its trailing baseline.
#[Object]
impl DarknetSpike {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("DarknetSpike", self.0.id)
    }

    /// The start of the hour it happened in.
    async fn hour(&self) -> DateTime {
        DateTime(read::hour_start(self.0.hour))
    }

    /// The protocol.
    async fn protocol(&self) -> DarknetProtocol {
        DarknetProtocol::of(self.0.protocol)
    }

    /// Its IP protocol number.
    async fn protocol_number(&self) -> i32 {
        i32::from(self.0.protocol)
    }

    /// The destination port (null for protocols without ports).
    async fn port(&self) -> Option<i32> {
        (self.0.port >= 0).then_some(self.0.port)
    }

    /// Events in that hour when it was detected.
    async fn events(&self) -> i64 {
        self.0.events
    }

    /// The port's average per hour over the 24 hours before.
    async fn baseline(&self) -> f64 {
        self.0.baseline
    }

    /// When it was detected.
    async fn detected_at(&self) -> DateTime {
        DateTime(self.0.detected_at)
    }
}

connection!(DarknetSpikeConnection, DarknetSpikeEdge, DarknetSpike);

/// A spike was detected.
#[derive(SimpleObject)]
pub struct DarknetSpikeEvent {
    /// The spike.
    pub spike: DarknetSpike,
}

/// Events of one protocol.
#[derive(SimpleObject, Clone)]
pub struct DarknetProtocolCount {
    /// The protocol.
    pub protocol: DarknetProtocol,
    /// Its IP protocol number.
    pub protocol_number: i32,
    /// Events.
    pub events: i64,
}

/// What the darknet received in one window of (about) a second.
#[derive(SimpleObject)]
pub struct DarknetActivity {
    /// When the window's first batch was committed.
    pub from: DateTime,
    /// When the window's last batch was committed.
    pub to: DateTime,
    /// Events accepted in the window.
    pub events: i64,
    /// Batches accepted in the window.
    pub batches: i64,
    /// Events per protocol.
    pub protocols: Vec<DarknetProtocolCount>,
    /// The busiest ports (of each batch's ten busiest).
    pub top_ports: Vec<DarknetPortCount>,
    /// The busiest countries (of each batch's ten busiest).
    pub top_countries: Vec<DarknetCountryCount>,
    /// The busiest sources (of each batch's ten busiest).
    pub top_sources: Vec<DarknetShare>,
    /// With `raw: true`: the window's events, oldest first, up to the per-second cap.
    pub raw_events: Vec<DarknetEvent>,
    /// With `raw: true`: events of the window not sent (over the cap): a gap.
    pub raw_dropped: i64,
}

/// The summaries of one window, merged.
#[derive(Default)]
struct Window {
    first: Option<chrono::DateTime<chrono::Utc>>,
    last: Option<chrono::DateTime<chrono::Utc>>,
    events: i64,
    batches: Vec<i64>,
    batch_count: i64,
    protocols: BTreeMap<i64, i64>,
    ports: HashMap<(i64, i64), i64>,
    countries: HashMap<String, i64>,
    sources: HashMap<String, i64>,
}

fn pairs(v: &serde_json::Value) -> Vec<(serde_json::Value, i64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p.get(0)?.clone(), p.get(1)?.as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

impl Window {
    fn add(&mut self, event: &Event, sensor: Option<i64>) {
        for item in &event.items {
            let d = &item.data;
            if sensor.is_some_and(|s| d["sensor"].as_i64() != Some(s)) {
                continue;
            }
            self.first.get_or_insert(event.at);
            self.last = Some(event.at);
            self.events += d["events"].as_i64().unwrap_or(0);
            self.batch_count += 1;
            if self.batches.len() < MAX_WINDOW_BATCHES {
                self.batches.push(item.id);
            }
            for (p, n) in pairs(&d["protocols"]) {
                *self.protocols.entry(p.as_i64().unwrap_or(-1)).or_default() += n;
            }
            for (k, n) in pairs(&d["ports"]) {
                let key = (k[0].as_i64().unwrap_or(-1), k[1].as_i64().unwrap_or(-1));
                *self.ports.entry(key).or_default() += n;
            }
            for (c, n) in pairs(&d["countries"]) {
                *self
                    .countries
                    .entry(c.as_str().unwrap_or_default().to_owned())
                    .or_default() += n;
            }
            for (s, n) in pairs(&d["sources"]) {
                *self
                    .sources
                    .entry(s.as_str().unwrap_or_default().to_owned())
                    .or_default() += n;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.batch_count == 0
    }
}

fn top<K: Ord + Clone>(map: &HashMap<K, i64>) -> Vec<(K, i64)> {
    let mut v: Vec<(K, i64)> = map.iter().map(|(k, n)| (k.clone(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(crate::darknet::LIVE_TOP);
    v
}

fn share(n: i64, total: i64) -> f64 {
    if total > 0 {
        n as f64 / total as f64
    } else {
        0.0
    }
}

impl Window {
    fn into_activity(self, raw: Vec<DarknetEvent>, dropped: i64) -> DarknetActivity {
        let total = self.events;
        DarknetActivity {
            from: DateTime(self.first.unwrap_or_default()),
            to: DateTime(self.last.unwrap_or_default()),
            events: total,
            batches: self.batch_count,
            protocols: self
                .protocols
                .iter()
                .map(|(p, n)| DarknetProtocolCount {
                    protocol: DarknetProtocol::of(*p as i16),
                    protocol_number: *p as i32,
                    events: *n,
                })
                .collect(),
            top_ports: top(&self.ports)
                .into_iter()
                .map(|((p, port), n)| {
                    DarknetPortCount::new(
                        &read::PortCount {
                            protocol: p as i16,
                            port: port as i32,
                            events: n,
                        },
                        total,
                    )
                })
                .collect(),
            top_countries: top(&self.countries)
                .into_iter()
                .map(|(c, n)| DarknetCountryCount {
                    country: (!c.is_empty()).then_some(c),
                    events: n,
                    share: share(n, total),
                })
                .collect(),
            top_sources: top(&self.sources)
                .into_iter()
                .map(|(s, n)| DarknetShare {
                    value: s,
                    events: n,
                    share: share(n, total),
                })
                .collect(),
            raw_events: raw,
            raw_dropped: dropped,
        }
    }
}

/// Merges `events` into windows: a window opens with its first event and is sent a second
/// later (or when the stream ends).
fn per_second(
    events: impl Stream<Item = Arc<Event>> + Send + 'static,
    sensor: Option<i64>,
) -> impl Stream<Item = Window> + Send + 'static {
    let events = Box::pin(events);
    futures_util::stream::unfold(
        (events, Window::default(), None::<Instant>, false),
        move |(mut events, mut window, mut due, mut ended)| async move {
            loop {
                if ended {
                    if window.is_empty() {
                        return None;
                    }
                    return Some((std::mem::take(&mut window), (events, window, None, true)));
                }
                let next = match due {
                    Some(at) => tokio::select! {
                        biased;
                        () = tokio::time::sleep_until(at) => {
                            return Some((std::mem::take(&mut window), (events, Window::default(), None, false)));
                        }
                        next = events.next() => next,
                    },
                    None => events.next().await,
                };
                match next {
                    Some(event) => {
                        window.add(&event, sensor);
                        if !window.is_empty() && due.is_none() {
                            due = Some(Instant::now() + Duration::from_secs(1));
                        }
                    }
                    None => ended = true,
                }
            }
        },
    )
}

#[derive(Default)]
pub struct DarknetSubscription;

#[Subscription]
impl DarknetSubscription {
    /// What the darknet receives, at most one message a second: counts per protocol and the
    /// busiest ports, countries and sources; with `raw`, the events themselves up to
    /// `maxEventsPerSecond` (the rest counted in `rawDropped`).
    async fn darknet_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this sensor's events.")] sensor_id: Option<ID>,
        #[graphql(desc = "Send the events themselves too.", default)] raw: bool,
        #[graphql(
            desc = "With `raw`: most events per message (at most 1000).",
            default = 100
        )]
        max_events_per_second: i32,
    ) -> Result<impl Stream<Item = DarknetActivity> + use<>> {
        guard::check(
            identity(ctx),
            super::access("Subscription", "darknetActivity"),
            "Subscription",
            "darknetActivity",
            guard::Operation::Read,
        )?;
        if !(1..=MAX_RAW_PER_SECOND).contains(&max_events_per_second) {
            return Err(AppError::bad_input(format!(
                "`maxEventsPerSecond` is between 1 and {MAX_RAW_PER_SECOND}"
            ))
            .into());
        }
        let sensor = sensor_id
            .map(|id| node::decode(&id, "Sensor"))
            .transpose()?;
        let st = state(ctx)?.clone();
        let db = st.db.clone();
        let source = events::subscribe(
            st.db.clone(),
            &st.events,
            ACTIVITY_TOPIC,
            None,
            st.shutdown.clone(),
        );
        let cap = max_events_per_second as u64;
        Ok(per_second(source, sensor).then(move |window| {
            let db = db.clone();
            async move {
                if !raw {
                    return window.into_activity(Vec::new(), 0);
                }
                let rows = read::events_of_batches(&db, &window.batches, cap)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = ?e, "cannot load the raw events of a live window");
                        Vec::new()
                    });
                let rows: Vec<_> = rows
                    .into_iter()
                    .filter(|r| sensor.is_none_or(|s| s == r.sensor_id))
                    .collect();
                let dropped = (window.events - rows.len() as i64).max(0);
                window.into_activity(rows.into_iter().map(DarknetEvent).collect(), dropped)
            }
        }))
    }

    /// Spikes as they are detected.
    async fn darknet_spike_events(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = DarknetSpikeEvent> + use<>> {
        guard::check(
            identity(ctx),
            super::access("Subscription", "darknetSpikeEvents"),
            "Subscription",
            "darknetSpikeEvents",
            guard::Operation::Read,
        )?;
        let st = state(ctx)?.clone();
        let (db, bus) = (st.db.clone(), st.events.clone());
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            SPIKE_TOPIC,
            None,
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, bus) = (db.clone(), bus.clone());
            async move {
                let ids: Vec<i64> = event.items.iter().map(|i| i.id).collect();
                let spikes = bus
                    .shared(format!("darknetSpike:{}:rows", event.id), || {
                        let db = db.clone();
                        async move { spike::by_ids(&db, &ids).await }
                    })
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = ?e, "cannot load the spikes of an event");
                        Arc::new(Vec::new())
                    });
                futures_util::stream::iter(
                    spikes
                        .iter()
                        .map(|s| DarknetSpikeEvent {
                            spike: DarknetSpike(s.clone()),
                        })
                        .collect::<Vec<_>>(),
                )
            }
        })
        .flatten();
        Ok(stream)
    }
}
