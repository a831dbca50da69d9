//! `hostEvents`: host changes as they commit, on any replica.

use async_graphql::{Context, Enum, ID, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::inputs::{self, HostFilterInput};
use super::types::Host;
use crate::actor::HostScope;
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
}

#[Object]
impl HostEvent {
    async fn kind(&self) -> ChangeKind {
        match self.event.kind.as_str() {
            "CREATED" => ChangeKind::Created,
            "DELETED" => ChangeKind::Deleted,
            _ => ChangeKind::Updated,
        }
    }

    async fn at(&self) -> DateTime<Utc> {
        self.event.at
    }

    /// Pass as `after` to resume from this event.
    async fn cursor(&self) -> String {
        Cursor {
            ordering: EVENT_ORDERING.into(),
            key: SortValue::Id,
            id: self.event.id,
        }
        .encode()
    }

    async fn host_id(&self) -> ID {
        node::encode("Host", self.event.entity_id)
    }

    /// The host as it is now; null once deleted.
    async fn host(&self, ctx: &Context<'_>) -> Result<Option<Host>> {
        let scope = crate::graphql::scope(ctx);
        Ok(service::get(&state(ctx).db, &scope, self.event.entity_id)
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
        let resume = after
            .map(|c| Cursor::decode(&c, EVENT_ORDERING).map(|c| c.id))
            .transpose()?;
        let st = state(ctx).clone();
        let db = st.db.clone();
        filter.condition()?; // refuse a bad filter now, not at the first event
        let unfiltered = filter.is_unfiltered() && filter.scope == HostScope::All;
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            TOPIC,
            resume,
            st.shutdown.clone(),
        )
        .filter_map(move |event| {
            let (db, filter) = (db.clone(), filter.clone());
            async move {
                if event.kind == "DELETED" {
                    // The host is gone; its support group travelled in the event.
                    let group = event.payload["supportGroupId"].as_i64();
                    return filter.scope.sees(group).then_some(HostEvent { event });
                }
                if unfiltered {
                    return Some(HostEvent { event });
                }
                match service::matches(&db, event.entity_id, &filter).await {
                    Ok(true) => Some(HostEvent { event }),
                    Ok(false) => None,
                    Err(e) => {
                        tracing::warn!(error = ?e, "cannot match a host event against its filter");
                        None
                    }
                }
            }
        });
        Ok(stream)
    }
}
