//! `findingEvents`: findings reported, reopened, fixed or changed by people, as they commit
//! on any replica. Each event's findings are loaded once per replica, whatever the number of
//! subscribers, and filtered per subscriber by what they see.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Result, Subscription};
use futures_util::{Stream, StreamExt};

use super::query::FindingFilterInput;
use super::types::Finding;
use crate::events::{self, Event, EventBus};
use crate::graphql::node;
use crate::graphql::scalars::DateTime;
use crate::graphql::{guard, identity, state};
use crate::page::{Cursor, SortValue};
use crate::vuln::FINDING_TOPIC;
use crate::vuln::read::{self, FindingFilter};

const EVENT_ORDERING: &str = "event:finding";

/// What happened to a finding.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum FindingChangeKind {
    /// First reported.
    Created,
    /// Its status or ticket changed (fixed, reopened, ignored, ...).
    Updated,
}

/// A finding was reported or changed.
pub struct FindingEvent {
    event: Arc<Event>,
    index: usize,
    finding: entity::finding::Model,
}

/// A finding was reported or changed.
#[Object]
impl FindingEvent {
    /// What happened.
    async fn kind(&self) -> FindingChangeKind {
        match self.event.kind {
            events::ChangeKind::Created => FindingChangeKind::Created,
            _ => FindingChangeKind::Updated,
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
            key: SortValue::Position(self.index as i64),
            id: self.event.id,
        }
        .encode()
    }

    /// The finding's global id.
    async fn finding_id(&self) -> ID {
        node::encode("Finding", self.finding.id)
    }

    /// The finding as it is now.
    async fn finding(&self) -> Finding {
        Finding(self.finding.clone())
    }
}

type Rows = Arc<HashMap<i64, (entity::finding::Model, entity::host::Model)>>;

#[derive(Default)]
pub struct FindingSubscription;

#[Subscription]
impl FindingSubscription {
    /// Findings on hosts you see as they are reported, reopened, fixed or changed; on any
    /// replica.
    async fn finding_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only findings that match this filter.")] filter: Option<
            FindingFilterInput,
        >,
        #[graphql(desc = "Replay the events after this event `cursor` first.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = FindingEvent> + use<>> {
        // Subscriptions resolve their root field outside the guard extension: check it here.
        guard::check(
            identity(ctx),
            super::access("Subscription", "findingEvents"),
            "Subscription",
            "findingEvents",
            guard::Operation::Read,
        )?;
        let filter = filter.unwrap_or_default().filter()?;
        let scope = identity(ctx).host_scope();
        let resume = after
            .map(|c| Cursor::decode(&c, EVENT_ORDERING))
            .transpose()?
            .map(|c| match c.key {
                SortValue::Position(at) => (c.id - 1, Some((c.id, at))),
                _ => (c.id, None),
            });
        let (resume, skip_through) = (resume.map(|r| r.0), resume.and_then(|r| r.1));
        let st = state(ctx)?.clone();
        let resume = match resume {
            Some(id) => id,
            None => events::latest_id(&st.db).await?,
        };
        let (db, bus) = (st.db.clone(), st.events.clone());
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            FINDING_TOPIC,
            Some(resume),
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, bus, filter, scope) = (db.clone(), bus.clone(), filter.clone(), scope.clone());
            async move {
                let delivered: Vec<FindingEvent> = match matching(&db, &bus, &event, &filter).await
                {
                    Ok((rows, wanted)) => event
                        .items
                        .iter()
                        .enumerate()
                        .filter(|(index, _)| {
                            skip_through.is_none_or(|(id, at)| event.id != id || *index as i64 > at)
                        })
                        .filter_map(|(index, item)| {
                            let (f, h) = rows.get(&item.id)?;
                            (scope.sees(h.support_group_id)
                                && wanted.as_ref().is_none_or(|w| w.contains(&f.id)))
                            .then(|| FindingEvent {
                                event: event.clone(),
                                index,
                                finding: f.clone(),
                            })
                        })
                        .collect(),
                    Err(e) => {
                        tracing::warn!(error = ?e, "cannot load the findings of an event");
                        Vec::new()
                    }
                };
                futures_util::stream::iter(delivered)
            }
        })
        .flatten();
        Ok(stream)
    }
}

/// The event's findings with their hosts (loaded once per event on this replica), and, when
/// the filter narrows, the ids that match it (once per event and filter).
async fn matching(
    db: &sea_orm::DatabaseConnection,
    bus: &EventBus,
    event: &Arc<Event>,
    filter: &FindingFilter,
) -> crate::error::AppResult<(Rows, Option<Arc<HashSet<i64>>>)> {
    let ids: Vec<i64> = event.items.iter().map(|i| i.id).collect();
    let rows: Rows = bus
        .shared(format!("finding:{}:rows", event.id), || {
            read::findings_by_ids(db, &ids)
        })
        .await?;
    if *filter == FindingFilter::default() {
        return Ok((rows, None));
    }
    let key = format!("finding:{}:match:{filter:?}", event.id);
    let wanted = bus
        .shared(key, || read::matching_ids(db, filter, &ids))
        .await?;
    Ok((rows, Some(wanted)))
}
