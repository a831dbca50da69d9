//! `hostEvents`: host changes as they commit, on any replica.

use async_graphql::{Context, Enum, ID, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::inputs::{self, HostFilterInput};
use super::types::Host;
use crate::events::{self, Event};
use crate::graphql::node;
use crate::graphql::{guard, state};
use crate::host::{TOPIC, service};
use crate::page::{Cursor, SortValue};

#[derive(Default)]
pub struct HostSubscription;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

const EVENT_ORDERING: &str = "event:host";

/// A change to a host.
pub struct HostEvent {
    event: std::sync::Arc<Event>,
    /// Which of the event's hosts this is.
    index: usize,
}

impl HostEvent {
    fn host_key(&self) -> i64 {
        self.event.items.get(self.index).map_or(0, |i| i.id)
    }
}

#[Object]
impl HostEvent {
    async fn kind(&self) -> ChangeKind {
        match self.event.kind {
            events::ChangeKind::Created => ChangeKind::Created,
            events::ChangeKind::Updated => ChangeKind::Updated,
            events::ChangeKind::Deleted => ChangeKind::Deleted,
        }
    }

    async fn at(&self) -> DateTime<Utc> {
        self.event.at
    }

    /// Pass as `after` to resume from this event.
    async fn cursor(&self) -> String {
        Cursor {
            ordering: EVENT_ORDERING.into(),
            key: SortValue::Position(self.index as i64),
            id: self.event.id,
        }
        .encode()
    }

    async fn host_id(&self) -> ID {
        node::encode("Host", self.host_key())
    }

    /// The host as it is now; null once deleted.
    async fn host(&self, ctx: &Context<'_>) -> Result<Option<Host>> {
        let scope = crate::graphql::scope(ctx);
        Ok(service::get(&state(ctx)?.db, &scope, self.host_key())
            .await?
            .map(Host))
    }
}

#[Subscription]
impl HostSubscription {
    /// Hosts created, updated and deleted. With `filter`, created and updated hosts are
    /// delivered when they match it after the change; deletions are always delivered (the host
    /// is gone and cannot be matched), so clients drop ids they do not hold. With `after` (an
    /// event's `cursor`), events since that one are replayed first.
    async fn host_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<HostFilterInput>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = HostEvent> + use<>> {
        // Subscriptions resolve their root field outside the guard extension: check it here.
        guard::check(
            crate::graphql::identity(ctx),
            super::access::rule("Subscription", "hostEvents"),
            "Subscription",
            "hostEvents",
            guard::Operation::Read,
        )?;
        let filter = inputs::filter(ctx, filter)?;
        // A cursor names an event and the position of a host in it; older cursors (without a
        // position) name a whole event.
        let resume = after
            .map(|c| Cursor::decode(&c, EVENT_ORDERING))
            .transpose()?
            .map(|c| match c.key {
                SortValue::Position(at) => (c.id - 1, Some((c.id, at))),
                _ => (c.id, None),
            });
        let (resume, skip_through) = (resume.map(|r| r.0), resume.and_then(|r| r.1));
        let st = state(ctx)?.clone();
        let db = st.db.clone();
        filter.condition()?; // refuse a bad filter now, not at the first event
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            TOPIC,
            resume,
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, filter) = (db.clone(), filter.clone());
            async move {
                let wanted = service::deliverable(&db, event.kind, &event.items, &filter)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = ?e, "cannot match a host event against its filter");
                        vec![false; event.items.len()]
                    });
                let delivered: Vec<HostEvent> = wanted
                    .into_iter()
                    .enumerate()
                    .filter(|(index, wanted)| {
                        *wanted
                            && skip_through
                                .is_none_or(|(id, at)| event.id != id || *index as i64 > at)
                    })
                    .map(|(index, _)| HostEvent {
                        event: event.clone(),
                        index,
                    })
                    .collect();
                futures_util::stream::iter(delivered)
            }
        })
        .flatten();
        Ok(stream)
    }
}
