//! Feeds in GraphQL: the feed list (and its OPML), articles with search, intel matches, the
//! mutations of the list, `refreshFeed`, and `articleEvents`/`intelMatchEvents`. Resolvers
//! stay thin: guard, one service call, `From`.

mod live;
pub mod loaders;
mod mutation;
mod query;
pub mod types;

use async_graphql::Context;

pub use live::FeedSubscription;
pub use mutation::FeedMutation;
pub use query::FeedQuery;
pub use types::{Article, Feed, IntelMatch};

use crate::actor::Role::{Admin, Analyst, Viewer};
use crate::feed::read;
use crate::graphql::guard::{Access, Area};
use crate::graphql::{identity, state};

/// The feed list: every reader; admins change it.
pub static FEEDS: Area = Area {
    name: "feeds",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin],
};

/// Where a feed is fetched from: its URL often carries the provider's key, so admins only
/// (they keep the list); the OPML export holds the URLs too.
pub static FEED_URLS: Area = Area {
    name: "feed URLs",
    readers: &[Admin],
    writers: &[Admin],
};

/// Polling a feed now: analysts and admins.
pub static FEED_REFRESH: Area = Area {
    name: "feed refresh",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin, Analyst],
};

/// Articles and intel matches: every reader (matches about hosts follow the host's support
/// group); analysts and admins add and delete articles by hand.
pub static INTEL: Area = Area {
    name: "intel",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin, Analyst],
};

/// The rule of `parent.field` for the feed domain's fields.
pub fn access(parent: &str, field: &str) -> Option<Access> {
    use Access::*;
    Some(match (parent, field) {
        ("Query", "feeds" | "feed") => Read(&FEEDS),
        ("Query", "feedsOpml") | ("Feed", "url") => Read(&FEED_URLS),
        ("Query", "articles" | "article" | "intelMatches" | "intelMatch") => Read(&INTEL),
        ("Subscription", "articleEvents" | "intelMatchEvents") => Read(&INTEL),
        ("Mutation", "createFeed" | "updateFeed" | "deleteFeed" | "importOpml") => Write(&FEEDS),
        ("Mutation", "refreshFeed") => Write(&FEED_REFRESH),
        ("Mutation", "createArticle" | "deleteArticle") => Write(&INTEL),
        (
            "Feed",
            "id"
            | "name"
            | "pollIntervalSeconds"
            | "enabled"
            | "lastStatus"
            | "lastError"
            | "lastFetchedAt"
            | "lastSuccessAt"
            | "consecutiveFailures"
            | "nextPollAt"
            | "articleCount"
            | "createdAt",
        ) => Read(&FEEDS),
        (
            "Article",
            "id" | "feed" | "title" | "link" | "publishedAt" | "fetchedAt" | "author" | "summary"
            | "body" | "tags" | "indicators" | "matches",
        )
        | ("Indicator", "kind" | "value")
        | (
            "IntelMatch",
            "id" | "kind" | "article" | "indicator" | "host" | "address" | "cve" | "matchedAt",
        )
        | ("ArticleEvent", "at" | "cursor" | "article")
        | ("IntelMatchEvent", "at" | "cursor" | "intelMatch") => Read(&INTEL),
        ("FeedPayload", "feed")
        | ("DeleteFeedPayload", "deletedFeedId")
        | (
            "RefreshFeedPayload",
            "feed" | "newArticles" | "duplicates" | "skipped" | "newMatches" | "error",
        )
        | ("ImportOpmlPayload", "created" | "rejectedCount" | "rejected")
        | ("CreateArticlePayload", "article" | "newMatches")
        | ("DeleteArticlePayload", "deletedArticleId") => Public,
        _ => return None,
    })
}

/// The feed domain's objects behind `node(id:)`.
pub enum FeedNode {
    Feed(Feed),
    Article(Article),
    IntelMatch(IntelMatch),
}

/// The object behind `node(id:)`, when the caller may read it: `None` when `kind` is not
/// this domain's.
pub async fn fetch_node(
    ctx: &Context<'_>,
    kind: &str,
    id: i64,
) -> crate::error::AppResult<Option<Option<FeedNode>>> {
    if !matches!(kind, "Feed" | "Article" | "IntelMatch") {
        return Ok(None);
    }
    let who = identity(ctx);
    let allowed = who
        .principal()
        .is_some_and(|p| INTEL.readers.contains(&p.role));
    if !allowed {
        return Ok(Some(None));
    }
    let db = &state(ctx)?.db;
    Ok(Some(match kind {
        "Feed" => read::feed(db, id).await?.map(|f| FeedNode::Feed(Feed(f))),
        "Article" => read::article(db, id)
            .await?
            .map(|a| FeedNode::Article(Article(a))),
        _ => read::intel_match(db, &who.host_scope(), id)
            .await?
            .map(|m| FeedNode::IntelMatch(IntelMatch(m))),
    }))
}
