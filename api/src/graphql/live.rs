//! What every subscription over the outbox shares: where it starts (after a client's event
//! cursor, else after the newest event now), and the stream of a topic's events with each
//! event's rows loaded once per replica (every subscriber of that event gets the same load)
//! and handed to the subscriber's own filter.

use std::future::Future;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use sea_orm::DatabaseConnection;

use crate::error::AppResult;
use crate::events::{self, Event, Topic};
use crate::page::{Cursor, SortValue};
use crate::state::AppState;

/// The cursor of `event` in `ordering` (what a client passes as `after` to resume).
pub fn cursor(ordering: &str, event: &Event) -> String {
    Cursor {
        ordering: ordering.into(),
        key: SortValue::Id,
        id: event.id,
    }
    .encode()
}

/// The event id a subscription starts after: the client's cursor, else the newest now.
pub async fn start(state: &AppState, after: Option<String>, ordering: &str) -> AppResult<i64> {
    match after.map(|c| Cursor::decode(&c, ordering)).transpose()? {
        Some(c) => Ok(c.id),
        None => events::latest_id(&state.db).await,
    }
}

/// The events of `topic` after `resume`: for each, `load` reads the rows of its item ids once
/// per replica (shared by every subscriber under `topic`'s name and the event id), and
/// `deliver` turns them into what this subscriber gets (nothing, when it sees none). A load
/// that fails is logged and the event skipped for this subscriber.
pub fn rows_per_event<R, T, L, Fut, D>(
    state: &AppState,
    topic: Topic,
    resume: i64,
    load: L,
    deliver: D,
) -> impl Stream<Item = T> + Send + 'static + use<R, T, L, Fut, D>
where
    R: Send + Sync + 'static,
    T: Send + 'static,
    L: Fn(DatabaseConnection, Vec<i64>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = AppResult<R>> + Send,
    D: Fn(&Arc<Event>, &R, &[i64]) -> Vec<T> + Clone + Send + Sync + 'static,
{
    let (db, bus) = (state.db.clone(), state.events.clone());
    events::subscribe(
        state.db.clone(),
        &state.events,
        topic,
        Some(resume),
        state.shutdown.clone(),
    )
    .then(move |event| {
        let (db, bus, load, deliver) = (db.clone(), bus.clone(), load.clone(), deliver.clone());
        async move {
            let ids: Vec<i64> = event.items.iter().map(|i| i.id).collect();
            let key = format!("{}:{}:rows", topic.0, event.id);
            let delivered = match bus.shared(key, || load(db, ids.clone())).await {
                Ok(rows) => deliver(&event, &rows, &ids),
                Err(e) => {
                    tracing::warn!(topic = topic.0, error = ?e, "cannot load the rows of an event");
                    Vec::new()
                }
            };
            futures_util::stream::iter(delivered)
        }
    })
    .flatten()
}
