//! `articleEvents` (new articles) and `intelMatchEvents` (new matches), as they commit on
//! any replica. Each event's rows are loaded once per replica; a match about a host reaches
//! only the subscribers who see that host.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Object, Result, Subscription};
use futures_util::{Stream, StreamExt};

use super::types::{Article, IntelMatch};
use crate::events::{self, Event};
use crate::feed::{ARTICLE_TOPIC, MATCH_TOPIC, read};
use crate::graphql::scalars::DateTime;
use crate::graphql::{guard, identity, state};
use crate::page::{Cursor, SortValue};

const ARTICLE_ORDERING: &str = "event:article";
const MATCH_ORDERING: &str = "event:intel_match";

fn cursor(ordering: &str, event: &Event) -> String {
    Cursor {
        ordering: ordering.into(),
        key: SortValue::Id,
        id: event.id,
    }
    .encode()
}

/// A new article.
pub struct ArticleEvent {
    event: Arc<Event>,
    article: entity::article::Model,
}

/// A new article.
#[Object]
impl ArticleEvent {
    /// When it was committed.
    async fn at(&self) -> DateTime {
        DateTime(self.event.at)
    }

    /// Pass as `after` to resume after this event.
    async fn cursor(&self) -> String {
        cursor(ARTICLE_ORDERING, &self.event)
    }

    /// The article.
    async fn article(&self) -> Article {
        Article(self.article.clone())
    }
}

/// A new intel match.
pub struct IntelMatchEvent {
    event: Arc<Event>,
    found: entity::intel_match::Model,
}

/// A new intel match.
#[Object]
impl IntelMatchEvent {
    /// When it was committed.
    async fn at(&self) -> DateTime {
        DateTime(self.event.at)
    }

    /// Pass as `after` to resume after this event.
    async fn cursor(&self) -> String {
        cursor(MATCH_ORDERING, &self.event)
    }

    /// The match.
    async fn intel_match(&self) -> IntelMatch {
        IntelMatch(self.found.clone())
    }
}

type Matches = Arc<HashMap<i64, (entity::intel_match::Model, Option<Option<i64>>)>>;

/// Where a subscription starts: after `after`, else after the newest event now.
async fn start(st: &crate::state::AppState, after: Option<String>, ordering: &str) -> Result<i64> {
    let resume = after
        .map(|c| Cursor::decode(&c, ordering))
        .transpose()?
        .map(|c| c.id);
    Ok(match resume {
        Some(id) => id,
        None => events::latest_id(&st.db).await?,
    })
}

#[derive(Default)]
pub struct FeedSubscription;

#[Subscription]
impl FeedSubscription {
    /// Articles as they are stored, on any replica.
    async fn article_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Replay the events after this event `cursor` first.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = ArticleEvent> + use<>> {
        // Subscriptions resolve their root field outside the guard extension: check it here.
        guard::check(
            identity(ctx),
            super::access("Subscription", "articleEvents"),
            "Subscription",
            "articleEvents",
            guard::Operation::Read,
        )?;
        let st = state(ctx)?.clone();
        let resume = start(&st, after, ARTICLE_ORDERING).await?;
        let (db, bus) = (st.db.clone(), st.events.clone());
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            ARTICLE_TOPIC,
            Some(resume),
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, bus) = (db.clone(), bus.clone());
            async move {
                let ids: Vec<i64> = event.items.iter().map(|i| i.id).collect();
                let rows = match bus
                    .shared(format!("article:{}:rows", event.id), || {
                        read::articles_by_ids(&db, &ids)
                    })
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = ?e, "cannot load the articles of an event");
                        return futures_util::stream::iter(Vec::new());
                    }
                };
                let delivered: Vec<ArticleEvent> = ids
                    .iter()
                    .filter_map(|id| rows.get(id))
                    .map(|a| ArticleEvent {
                        event: event.clone(),
                        article: a.clone(),
                    })
                    .collect();
                futures_util::stream::iter(delivered)
            }
        })
        .flatten();
        Ok(stream)
    }

    /// Intel matches you see as they are found, on any replica: for new articles, and for
    /// new findings, hosts and darknet sources matched against stored articles.
    async fn intel_match_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Replay the events after this event `cursor` first.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = IntelMatchEvent> + use<>> {
        guard::check(
            identity(ctx),
            super::access("Subscription", "intelMatchEvents"),
            "Subscription",
            "intelMatchEvents",
            guard::Operation::Read,
        )?;
        let scope = identity(ctx).host_scope();
        let st = state(ctx)?.clone();
        let resume = start(&st, after, MATCH_ORDERING).await?;
        let (db, bus) = (st.db.clone(), st.events.clone());
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            MATCH_TOPIC,
            Some(resume),
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, bus, scope) = (db.clone(), bus.clone(), scope.clone());
            async move {
                let ids: Vec<i64> = event.items.iter().map(|i| i.id).collect();
                let rows: Matches = match bus
                    .shared(format!("intel_match:{}:rows", event.id), || {
                        read::matches_by_ids(&db, &ids)
                    })
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = ?e, "cannot load the matches of an event");
                        return futures_util::stream::iter(Vec::new());
                    }
                };
                let delivered: Vec<IntelMatchEvent> = ids
                    .iter()
                    .filter_map(|id| rows.get(id))
                    .filter(|(_, group)| group.is_none_or(|g| scope.sees(g)))
                    .map(|(m, _)| IntelMatchEvent {
                        event: event.clone(),
                        found: m.clone(),
                    })
                    .collect();
                futures_util::stream::iter(delivered)
            }
        })
        .flatten();
        Ok(stream)
    }
}
