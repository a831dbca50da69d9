//! `incidentEvents`: incidents recorded, changed, annotated or deleted, as they commit on any
//! replica. Each event's incidents are loaded once per replica and shown to each subscriber
//! only when they see them.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Result, Subscription};
use futures_util::{Stream, StreamExt};

use super::types::Incident;
use crate::events::{self, Event};
use crate::graphql::node;
use crate::graphql::scalars::DateTime;
use crate::graphql::{guard, identity, state};
use crate::incident::{TOPIC, read};
use crate::page::{Cursor, SortValue};

const EVENT_ORDERING: &str = "event:incident";

/// What happened to an incident.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum IncidentChangeKind {
    /// Recorded.
    Created,
    /// Changed, moved to another status, or annotated.
    Updated,
    /// Deleted.
    Deleted,
}

/// An incident was recorded, changed or deleted.
pub struct IncidentEvent {
    event: Arc<Event>,
    id: i64,
    incident: Option<entity::incident::Model>,
}

/// An incident was recorded, changed or deleted.
#[Object]
impl IncidentEvent {
    /// What happened.
    async fn kind(&self) -> IncidentChangeKind {
        match self.event.kind {
            events::ChangeKind::Created => IncidentChangeKind::Created,
            events::ChangeKind::Updated => IncidentChangeKind::Updated,
            events::ChangeKind::Deleted => IncidentChangeKind::Deleted,
        }
    }

    /// When it was committed.
    async fn at(&self) -> DateTime {
        DateTime(self.event.at)
    }

    /// Pass as `after` to resume after this event.
    async fn cursor(&self) -> String {
        Cursor {
            ordering: EVENT_ORDERING.into(),
            key: SortValue::Id,
            id: self.event.id,
        }
        .encode()
    }

    /// The incident's global id.
    async fn incident_id(&self) -> ID {
        node::encode("Incident", self.id)
    }

    /// The incident as it is now; null once deleted.
    async fn incident(&self) -> Option<Incident> {
        self.incident.clone().map(Incident)
    }
}

type Rows = Arc<HashMap<i64, (entity::incident::Model, Vec<Option<i64>>)>>;

#[derive(Default)]
pub struct IncidentSubscription;

#[Subscription]
impl IncidentSubscription {
    /// Incidents you see as they are recorded, changed, annotated or deleted; on any
    /// replica. A deletion reaches admins only (what it touched is gone with it).
    async fn incident_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Replay the events after this event `cursor` first.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = IncidentEvent> + use<>> {
        // Subscriptions resolve their root field outside the guard extension: check it here.
        guard::check(
            identity(ctx),
            super::access("Subscription", "incidentEvents"),
            "Subscription",
            "incidentEvents",
            guard::Operation::Read,
        )?;
        let scope = identity(ctx).host_scope();
        let resume = after
            .map(|c| Cursor::decode(&c, EVENT_ORDERING))
            .transpose()?
            .map(|c| c.id);
        let st = state(ctx)?.clone();
        let resume = match resume {
            Some(id) => id,
            None => events::latest_id(&st.db).await?,
        };
        let (db, bus) = (st.db.clone(), st.events.clone());
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            TOPIC,
            Some(resume),
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, bus, scope) = (db.clone(), bus.clone(), scope.clone());
            async move {
                let ids: Vec<i64> = event.items.iter().map(|i| i.id).collect();
                let rows: Rows = match bus
                    .shared(format!("incident:{}:rows", event.id), || {
                        read::by_ids(&db, &ids)
                    })
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = ?e, "cannot load the incidents of an event");
                        return futures_util::stream::iter(Vec::new());
                    }
                };
                let delivered: Vec<IncidentEvent> = ids
                    .into_iter()
                    .filter_map(|id| match rows.get(&id) {
                        Some((i, groups)) => read::sees(&scope, groups).then(|| IncidentEvent {
                            event: event.clone(),
                            id,
                            incident: Some(i.clone()),
                        }),
                        None => (scope == crate::actor::HostScope::All).then(|| IncidentEvent {
                            event: event.clone(),
                            id,
                            incident: None,
                        }),
                    })
                    .collect();
                futures_util::stream::iter(delivered)
            }
        })
        .flatten();
        Ok(stream)
    }
}
