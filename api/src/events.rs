//! The event outbox and its tail.
//!
//! A change and its event commit in one transaction ([`record`]). Every replica runs one
//! [`run_tailer`] that reads new rows in id order and broadcasts them to its own subscribers,
//! so a subscriber connected to any replica sees changes made through any other, with nothing
//! but the database in between. [`subscribe`] joins the stored backlog after a cursor with the
//! live broadcast and falls back to the database whenever a slow subscriber lags, so nothing
//! committed is skipped.
//!
//! Events are typed: a [`Topic`] (declared by the domain that owns it) and a [`ChangeKind`].
//! A change to many objects (a bulk add, a catalog rename reaching every host that uses it)
//! writes one outbox row per batch of up to [`MAX_BATCH_BYTES`] of items, each item an id and
//! its small payload; subscribers receive one event per item.

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
use crate::error::{AppError, AppResult};

/// How many events one read takes from the outbox.
const BATCH: u64 = 500;
/// How long an id gap (a transaction that took its id but had not committed yet) is watched
/// before it is taken for a rollback.
const GAP_PATIENCE: Duration = Duration::from_secs(10);
const MAX_WATCHED_GAPS: usize = 10_000;

/// Most payload bytes one outbox row carries (a MySQL `TEXT` holds 64 KiB).
pub const MAX_BATCH_BYTES: usize = 48 * 1024;

/// The stream of one domain's changes, declared by that domain (`Topic("host")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic(pub &'static str);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Updated => "UPDATED",
            Self::Deleted => "DELETED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::Deleted]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One object a change touched: its id and the small payload subscribers filter on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    pub id: i64,
    pub data: serde_json::Value,
}

/// A committed change, as subscribers receive it: one outbox row, one or many items.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub topic: String,
    pub kind: ChangeKind,
    pub items: Vec<Item>,
    pub at: DateTime<Utc>,
}

/// The payload of a batch row: items without data as id ranges (a bulk add is one range),
/// items with data one by one.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct Batch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ranges: Vec<(i64, i64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    items: Vec<Item>,
}

impl Batch {
    fn is_batch(payload: &serde_json::Value) -> bool {
        payload.get("ranges").is_some() || payload.get("items").is_some()
    }

    /// Every item, ranges first, in id order within them.
    fn expand(self) -> Vec<Item> {
        let mut out: Vec<Item> = self
            .ranges
            .iter()
            .flat_map(|&(start, end)| start..=end)
            .map(|id| Item {
                id,
                data: serde_json::Value::Null,
            })
            .collect();
        out.extend(self.items);
        out
    }
}

impl Event {
    fn from_row(m: event::Model) -> Option<Self> {
        let kind = ChangeKind::parse(&m.kind)?;
        let payload: serde_json::Value = serde_json::from_str(&m.payload).ok()?;
        // A row of one item (as written before batches) is its own payload.
        let items = if Batch::is_batch(&payload) {
            serde_json::from_value::<Batch>(payload).ok()?.expand()
        } else {
            vec![Item {
                id: m.entity_id,
                data: payload,
            }]
        };
        Some(Self {
            id: m.id,
            topic: m.topic,
            kind,
            items,
            at: m.created_at,
        })
    }
}

/// A change to be recorded in the outbox: one kind of change to one or many objects.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub topic: Topic,
    pub kind: ChangeKind,
    pub items: Vec<Item>,
}

/// Writes events in the caller's transaction: one row per event, or per batch of its items
/// when they are many, never one per item.
pub async fn record(db: &impl ConnectionTrait, events: Vec<NewEvent>) -> AppResult<()> {
    let at = db::now();
    let mut rows: Vec<event::ActiveModel> = Vec::new();
    for e in events {
        for batch in batches(e.items) {
            let first = batch
                .ranges
                .first()
                .map(|r| r.0)
                .or_else(|| batch.items.first().map(|i| i.id))
                .unwrap_or_default();
            rows.push(event::ActiveModel {
                topic: Set(e.topic.0.to_owned()),
                kind: Set(e.kind.as_str().to_owned()),
                entity_id: Set(first),
                payload: Set(serde_json::to_string(&batch).map_err(AppError::internal)?),
                created_at: Set(at),
                ..Default::default()
            });
        }
    }
    for chunk in rows.chunks(db::chunk_size(5)) {
        event::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    Ok(())
}

/// Packs items into batches of at most [`MAX_BATCH_BYTES`] of payload each: ids without data
/// as ranges of consecutive ids, the others one by one.
fn batches(items: Vec<Item>) -> Vec<Batch> {
    let (bare, full): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|i| i.data.is_null());
    let mut ids: Vec<i64> = bare.iter().map(|i| i.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    for id in ids {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == id => *end = id,
            _ => ranges.push((id, id)),
        }
    }
    let mut out: Vec<Batch> = Vec::new();
    let mut size = usize::MAX;
    let mut room = |len: usize, out: &mut Vec<Batch>| {
        if size.saturating_add(len) > MAX_BATCH_BYTES {
            out.push(Batch::default());
            size = 0;
        }
        size += len;
    };
    for range in ranges {
        room(format!("[{},{}],", range.0, range.1).len(), &mut out);
        if let Some(batch) = out.last_mut() {
            batch.ranges.push(range);
        }
    }
    for item in full {
        room(item.data.to_string().len() + 32, &mut out);
        if let Some(batch) = out.last_mut() {
            batch.items.push(item);
        }
    }
    out
}

/// The local fan-out of this replica.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    /// The newest id this replica has broadcast.
    published: Arc<std::sync::atomic::AtomicI64>,
    shared: Arc<SharedLoads>,
}

type Loaded = Arc<dyn std::any::Any + Send + Sync>;

/// What the subscribers of an event load about it, loaded once and shared: the first
/// subscriber to ask runs the query, the others wait for its answer. Keys name the event and
/// everything the answer depends on (a visibility, a filter). The newest [`Self::CAPACITY`]
/// keys are kept; a subscriber that lags past them loads again.
#[derive(Default)]
struct SharedLoads {
    entries: std::sync::Mutex<SharedEntries>,
}

#[derive(Default)]
struct SharedEntries {
    by_key: std::collections::HashMap<String, Arc<tokio::sync::OnceCell<Loaded>>>,
    order: std::collections::VecDeque<String>,
}

impl SharedLoads {
    const CAPACITY: usize = 4096;

    fn cell(&self, key: &str) -> Arc<tokio::sync::OnceCell<Loaded>> {
        let Ok(mut entries) = self.entries.lock() else {
            return Arc::default();
        };
        if let Some(cell) = entries.by_key.get(key) {
            return cell.clone();
        }
        let cell: Arc<tokio::sync::OnceCell<Loaded>> = Arc::default();
        entries.by_key.insert(key.to_owned(), cell.clone());
        entries.order.push_back(key.to_owned());
        while entries.order.len() > Self::CAPACITY {
            if let Some(old) = entries.order.pop_front() {
                entries.by_key.remove(&old);
            }
        }
        cell
    }
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
            shared: Arc::default(),
        }
    }

    /// The answer of `load` under `key`, run once for every subscriber that asks for the same
    /// key (see `SharedLoads`). A failed load is not kept: the next caller tries again.
    pub async fn shared<T, F, Fut>(&self, key: String, load: F) -> AppResult<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = AppResult<T>>,
    {
        let cell = self.shared.cell(&key);
        let loaded = cell
            .get_or_try_init(|| async { load().await.map(|v| Arc::new(v) as Loaded) })
            .await?
            .clone();
        loaded
            .downcast::<T>()
            .map_err(|_| AppError::Internal(format!("shared load {key:?} has another type").into()))
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
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
        // Logged once per outage, not once per poll.
        match tail_once(&db, &bus, &mut last, &mut gaps).await {
            Ok(()) if failing => {
                tracing::info!("reading the event outbox again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = ?e, "reading the event outbox failed; retrying");
                failing = true;
            }
            Err(_) => {}
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
                if let Some(event) = Event::from_row(row) {
                    bus.publish(event);
                }
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
    topic: Option<Topic>,
    after_id: i64,
    limit: u64,
) -> AppResult<Vec<Event>> {
    let mut query = event::Entity::find().filter(event::Column::Id.gt(after_id));
    if let Some(topic) = topic {
        query = query.filter(event::Column::Topic.eq(topic.0));
    }
    let rows = query
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(Event::from_row).collect())
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
    topic: Topic,
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
    topic: Topic,
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
                    // The database is away: the subscription waits for it, and reads on from
                    // its cursor when it is back.
                    Err(e) => {
                        tracing::warn!(error = ?e, "reading the event backlog failed; retrying");
                        tokio::select! {
                            () = tail.shutdown.cancelled() => return None,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                },
                Phase::Live => {
                    let next = tokio::select! {
                        () = tail.shutdown.cancelled() => return None,
                        next = tail.rx.recv() => next,
                    };
                    match next {
                        // Not what the subscription started after, nor what its backlog read.
                        Ok(event) if event.topic == tail.topic.0 && event.id > tail.last => {
                            tail.last = event.id;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bare(id: i64) -> Item {
        Item {
            id,
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_bulk_add_of_consecutive_ids_is_one_row() {
        let rows = batches((1..=65_536).map(bare).collect());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].ranges, vec![(1, 65_536)]);
        assert_eq!(rows[0].clone().expand().len(), 65_536);
        assert!(batches(Vec::new()).is_empty());
    }

    #[test]
    fn scattered_ids_and_items_with_data_stay_under_the_size_limit() {
        let mut items: Vec<Item> = (0..40_000).map(|n| bare(n * 2)).collect();
        items.extend((0..20_000).map(|id| Item {
            id,
            data: serde_json::json!({ "address": "198.51.100.200", "supportGroupId": 12 }),
        }));
        let rows = batches(items);
        let mut total = 0;
        for row in &rows {
            let text = serde_json::to_string(row).unwrap();
            assert!(text.len() <= MAX_BATCH_BYTES + 1024, "{}", text.len());
            total += row.clone().expand().len();
        }
        assert_eq!(total, 60_000, "nothing lost");
        // About 2.4 MB of payload: rows are filled, not one per item.
        assert!(rows.len() < 60, "{} rows", rows.len());
    }

    #[test]
    fn rows_written_before_batches_read_as_one_item() {
        let row = event::Model {
            id: 7,
            topic: "host".into(),
            kind: "DELETED".into(),
            entity_id: 42,
            payload: r#"{"address":"192.0.2.1","supportGroupId":null}"#.into(),
            created_at: Utc::now(),
        };
        let event = Event::from_row(row).unwrap();
        assert_eq!(event.kind, ChangeKind::Deleted);
        assert_eq!(event.items.len(), 1);
        assert_eq!(event.items[0].id, 42);
        assert_eq!(event.items[0].data["address"], "192.0.2.1");
    }
}
