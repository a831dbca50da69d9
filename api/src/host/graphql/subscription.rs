//! `hostEvents`: host changes as they commit, on any replica.

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, Enum, ID, Object, Result, Subscription};
use futures_util::{Stream, StreamExt};

use super::inputs::{self, HostFilterInput};
use super::types::Host;
use std::collections::HashMap;
use std::sync::Arc;

use crate::events::{self, Event, EventBus};
use crate::graphql::node;
use crate::graphql::{guard, state};
use crate::host::service::HostFilter;
use crate::host::{TOPIC, service};
use crate::page::{Cursor, SortValue};

#[derive(Default)]
pub struct HostSubscription;

/// What happened to a host.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// It was added.
    Created,
    /// It changed.
    Updated,
    /// It was deleted.
    Deleted,
}

const EVENT_ORDERING: &str = "event:host";

/// The hosts of one event, loaded once for every subscriber (see [`EventBus::shared`]).
type EventHosts = Arc<HashMap<i64, entity::host::Model>>;

/// A change to a host.
pub struct HostEvent {
    event: Arc<Event>,
    /// Which of the event's hosts this is.
    index: usize,
    /// The host as the event found it, if it exists and this subscriber sees it.
    host: Option<entity::host::Model>,
}

impl HostEvent {
    fn host_key(&self) -> i64 {
        self.event.items.get(self.index).map_or(0, |i| i.id)
    }
}

/// A change to a host, as delivered by `hostEvents`.
#[Object]
impl HostEvent {
    /// What happened.
    async fn kind(&self) -> ChangeKind {
        match self.event.kind {
            events::ChangeKind::Created => ChangeKind::Created,
            events::ChangeKind::Updated => ChangeKind::Updated,
            events::ChangeKind::Deleted => ChangeKind::Deleted,
        }
    }

    /// When it was committed.
    async fn at(&self) -> DateTime {
        self.event.at.into()
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

    /// The id of the host (also for a deleted host).
    async fn host_id(&self) -> ID {
        node::encode("Host", self.host_key())
    }

    /// The host as it was when the event was delivered; null once deleted.
    async fn host(&self) -> Option<Host> {
        self.host.clone().map(Host)
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
        #[graphql(desc = "Only created and updated hosts that match this filter.")] filter: Option<
            HostFilterInput,
        >,
        #[graphql(desc = "Replay the events after this event `cursor` first.")] after: Option<
            String,
        >,
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
        // Without `after`, delivery starts at this subscription's own start: nothing committed
        // before it, even if this replica has not broadcast it yet.
        let resume = match resume {
            Some(id) => id,
            None => events::latest_id(&st.db).await?,
        };
        let resume = Some(resume);
        let (db, bus) = (st.db.clone(), st.events.clone());
        filter.condition()?; // refuse a bad filter now, not at the first event
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            TOPIC,
            resume,
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, bus, filter) = (db.clone(), bus.clone(), filter.clone());
            async move {
                let (wanted, hosts) = match matching(&db, &bus, &event, &filter).await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(error = ?e, "cannot match a host event against its filter");
                        (vec![false; event.items.len()], None)
                    }
                };
                let delivered: Vec<HostEvent> = wanted
                    .into_iter()
                    .enumerate()
                    .filter(|(index, wanted)| {
                        *wanted
                            && skip_through
                                .is_none_or(|(id, at)| event.id != id || *index as i64 > at)
                    })
                    .map(|(index, _)| {
                        let id = event.items.get(index).map_or(0, |i| i.id);
                        HostEvent {
                            event: event.clone(),
                            index,
                            host: hosts
                                .as_ref()
                                .and_then(|h| h.get(&id))
                                .filter(|h| filter.scope.sees(h.support_group_id))
                                .cloned(),
                        }
                    })
                    .collect();
                futures_util::stream::iter(delivered)
            }
        })
        .flatten();
        Ok(stream)
    }
}

/// Which items of `event` a subscriber with `filter` receives, and the event's hosts. The
/// work is shared by every subscriber of this replica: the hosts are read once per event, and
/// a filter's matches once per event and distinct filter (with its visibility), so an event
/// costs the same few queries however many subscribers it reaches.
async fn matching(
    db: &sea_orm::DatabaseConnection,
    bus: &EventBus,
    event: &Arc<Event>,
    filter: &HostFilter,
) -> crate::error::AppResult<(Vec<bool>, Option<EventHosts>)> {
    if event.kind == events::ChangeKind::Deleted {
        // What a deletion needs travelled with it.
        return Ok((
            service::deliverable(db, event.kind, &event.items, filter).await?,
            None,
        ));
    }
    let ids: Vec<i64> = event.items.iter().map(|i| i.id).collect();
    let hosts: EventHosts = bus
        .shared(format!("host:{}:rows", event.id), || {
            service::any_by_ids(db, &ids)
        })
        .await?;
    let wanted = if filter.is_unfiltered() {
        ids.iter()
            .map(|id| {
                hosts
                    .get(id)
                    .is_some_and(|h| filter.scope.sees(h.support_group_id))
            })
            .collect()
    } else {
        let key = format!("host:{}:match:{filter:?}", event.id);
        bus.shared(key, || {
            service::deliverable(db, event.kind, &event.items, filter)
        })
        .await?
        .as_ref()
        .clone()
    };
    Ok((wanted, Some(hosts)))
}
