//! `articleEvents` (new articles) and `intelMatchEvents` (new matches), as they commit on
//! any replica. Each event's rows are loaded once per replica; a match about a host reaches
//! only the subscribers who see that host.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Object, Result, Subscription};
use futures_util::Stream;

use super::types::{Article, IntelMatch};
use crate::events::Event;
use crate::feed::{ARTICLE_TOPIC, MATCH_TOPIC, read};
use crate::graphql::scalars::DateTime;
use crate::graphql::{guard, identity, live, state};

const ARTICLE_ORDERING: &str = "event:article";
const MATCH_ORDERING: &str = "event:intel_match";

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
        live::cursor(ARTICLE_ORDERING, &self.event)
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
        live::cursor(MATCH_ORDERING, &self.event)
    }

    /// The match.
    async fn intel_match(&self) -> IntelMatch {
        IntelMatch(self.found.clone())
    }
}

type Matches = HashMap<i64, (entity::intel_match::Model, Option<Option<i64>>)>;

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
        let st = state(ctx)?;
        let resume = live::start(st, after, ARTICLE_ORDERING).await?;
        Ok(live::rows_per_event(
            st,
            ARTICLE_TOPIC,
            resume,
            |db, ids| async move { read::articles_by_ids(&db, &ids).await },
            |event, rows, ids| {
                ids.iter()
                    .filter_map(|id| rows.get(id))
                    .map(|a| ArticleEvent {
                        event: event.clone(),
                        article: a.clone(),
                    })
                    .collect()
            },
        ))
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
        let st = state(ctx)?;
        let resume = live::start(st, after, MATCH_ORDERING).await?;
        Ok(live::rows_per_event(
            st,
            MATCH_TOPIC,
            resume,
            |db, ids| async move { read::matches_by_ids(&db, &ids).await },
            move |event, rows: &Matches, ids| {
                ids.iter()
                    .filter_map(|id| rows.get(id))
                    .filter(|(_, group)| group.is_none_or(|g| scope.sees(g)))
                    .map(|(m, _)| IntelMatchEvent {
                        event: event.clone(),
                        found: m.clone(),
                    })
                    .collect()
            },
        ))
    }
}
