//! The event outbox and its tail.
//!
//! A change and its event commit in one transaction ([`record`]). Every replica runs one
//! [`run_tailer`] that reads new rows in id order and broadcasts them to its own subscribers,
//! so a subscriber connected to any replica sees changes made through any other, with nothing
//! but the database in between. [`subscribe`] joins the stored backlog after a cursor with the
//! live broadcast and falls back to the database whenever a slow subscriber lags, so nothing
//! committed is skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::event;
use futures_util::Stream;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::error::AppResult;

/// How many events one read takes from the outbox.
const BATCH: u64 = 500;
/// How long an id gap (a transaction that took its id but had not committed yet) is watched
/// before it is taken for a rollback.
const GAP_PATIENCE: Duration = Duration::from_secs(10);
const MAX_WATCHED_GAPS: usize = 10_000;

/// A committed change, as subscribers receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub topic: String,
    pub kind: String,
    pub entity_id: i64,
    pub payload: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl From<event::Model> for Event {
    fn from(m: event::Model) -> Self {
        Self {
            id: m.id,
            topic: m.topic,
            kind: m.kind,
            entity_id: m.entity_id,
            payload: serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null),
            at: m.created_at,
        }
    }
}

/// A change to be recorded in the outbox.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub topic: &'static str,
    pub kind: &'static str,
    pub entity_id: i64,
    pub payload: serde_json::Value,
}

/// Writes events in the caller's transaction, chunked under the bind-parameter limits.
pub async fn record(db: &impl ConnectionTrait, events: Vec<NewEvent>) -> AppResult<()> {
    let at = db::now();
    let rows: Vec<event::ActiveModel> = events
        .into_iter()
        .map(|e| event::ActiveModel {
            topic: Set(e.topic.to_owned()),
            kind: Set(e.kind.to_owned()),
            entity_id: Set(e.entity_id),
            payload: Set(e.payload.to_string()),
            created_at: Set(at),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(db::chunk_size(5)) {
        event::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    Ok(())
}

/// The local fan-out of this replica.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    /// The newest id this replica has broadcast.
    published: Arc<std::sync::atomic::AtomicI64>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
            published: Arc::default(),
        }
    }

    pub fn published(&self) -> i64 {
        self.published.load(std::sync::atomic::Ordering::Acquire)
    }

    fn publish(&self, event: Event) {
        self.published
            .fetch_max(event.id, std::sync::atomic::Ordering::AcqRel);
        // No receivers is not an error: nobody is subscribed right now.
        let _ = self.tx.send(Arc::new(event));
    }
}

/// The id the tail starts after: the newest event at start-up.
pub async fn latest_id(db: &DatabaseConnection) -> AppResult<i64> {
    let last = event::Entity::find()
        .order_by_desc(event::Column::Id)
        .one(db)
        .await?;
    Ok(last.map_or(0, |e| e.id))
}

/// Reads new outbox rows every `poll` and broadcasts them until `shutdown`.
pub async fn run_tailer(
    db: DatabaseConnection,
    bus: EventBus,
    mut last: i64,
    poll: Duration,
    shutdown: CancellationToken,
) {
    bus.published
        .fetch_max(last, std::sync::atomic::Ordering::AcqRel);
    let mut gaps: BTreeMap<i64, Instant> = BTreeMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
        if let Err(e) = tail_once(&db, &bus, &mut last, &mut gaps).await {
            tracing::warn!(error = ?e, "reading the event outbox failed; retrying");
        }
    }
}

async fn tail_once(
    db: &DatabaseConnection,
    bus: &EventBus,
    last: &mut i64,
    gaps: &mut BTreeMap<i64, Instant>,
) -> AppResult<()> {
    // Late commits into earlier gaps first.
    if !gaps.is_empty() {
        let ids: Vec<i64> = gaps.keys().copied().collect();
        for chunk in ids.chunks(1000) {
            let late = event::Entity::find()
                .filter(event::Column::Id.is_in(chunk.to_vec()))
                .order_by_asc(event::Column::Id)
                .all(db)
                .await?;
            for row in late {
                gaps.remove(&row.id);
                bus.publish(row.into());
            }
        }
        let now = Instant::now();
        gaps.retain(|_, seen| now.duration_since(*seen) < GAP_PATIENCE);
    }
    loop {
        let rows = after(db, None, *last, BATCH).await?;
        let full = rows.len() as u64 == BATCH;
        for row in rows {
            let now = Instant::now();
            for missing in (*last + 1)..row.id {
                if gaps.len() >= MAX_WATCHED_GAPS {
                    break;
                }
                gaps.insert(missing, now);
            }
            *last = row.id;
            bus.publish(row);
        }
        if !full {
            return Ok(());
        }
    }
}

/// Stored events after `after_id`, oldest first, optionally of one topic.
pub async fn after(
    db: &impl ConnectionTrait,
    topic: Option<&str>,
    after_id: i64,
    limit: u64,
) -> AppResult<Vec<Event>> {
    let mut query = event::Entity::find().filter(event::Column::Id.gt(after_id));
    if let Some(topic) = topic {
        query = query.filter(event::Column::Topic.eq(topic));
    }
    let rows = query
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(Event::from).collect())
}

enum Phase {
    /// Reading stored events after the last delivered id.
    Backlog,
    Live,
}

/// Ids delivered recently, so the backlog and the live broadcast never deliver one twice.
#[derive(Default)]
struct Recent {
    set: std::collections::HashSet<i64>,
    order: std::collections::VecDeque<i64>,
}

impl Recent {
    const CAPACITY: usize = 8192;

    /// Remembers `id`; false when it was already delivered.
    fn insert(&mut self, id: i64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

struct Tail {
    db: DatabaseConnection,
    rx: broadcast::Receiver<Arc<Event>>,
    topic: &'static str,
    last: i64,
    phase: Phase,
    buffer: std::collections::VecDeque<Arc<Event>>,
    recent: Recent,
    shutdown: CancellationToken,
}

/// Events of `topic`, from after `resume` (a cursor id) when given, else from now, until
/// `shutdown`. The stream never skips a committed event: when this subscriber falls behind
/// the broadcast, it reads what it missed from the database.
pub fn subscribe(
    db: DatabaseConnection,
    bus: &EventBus,
    topic: &'static str,
    resume: Option<i64>,
    shutdown: CancellationToken,
) -> impl Stream<Item = Arc<Event>> + Send + 'static + use<> {
    let rx = bus.tx.subscribe();
    let start = Tail {
        db,
        rx,
        topic,
        last: resume.unwrap_or_else(|| bus.published()),
        phase: if resume.is_some() {
            Phase::Backlog
        } else {
            Phase::Live
        },
        buffer: Default::default(),
        recent: Recent::default(),
        shutdown,
    };
    futures_util::stream::unfold(start, |mut tail| async move {
        loop {
            if let Some(event) = tail.buffer.pop_front() {
                if tail.recent.insert(event.id) {
                    return Some((event, tail));
                }
                continue;
            }
            match tail.phase {
                Phase::Backlog => match after(&tail.db, Some(tail.topic), tail.last, BATCH).await {
                    Ok(rows) if rows.is_empty() => tail.phase = Phase::Live,
                    Ok(rows) => {
                        if let Some(newest) = rows.last() {
                            tail.last = tail.last.max(newest.id);
                        }
                        tail.buffer.extend(rows.into_iter().map(Arc::new));
                    }
                    Err(e) => {
                        tracing::warn!(error = ?e, "reading the event backlog failed");
                        return None;
                    }
                },
                Phase::Live => {
                    let next = tokio::select! {
                        () = tail.shutdown.cancelled() => return None,
                        next = tail.rx.recv() => next,
                    };
                    match next {
                        Ok(event) if event.topic == tail.topic => {
                            tail.last = tail.last.max(event.id);
                            tail.buffer.push_back(event);
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::debug!(missed, "subscriber lagged; reading from the outbox");
                            tail.phase = Phase::Backlog;
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        }
    })
}
