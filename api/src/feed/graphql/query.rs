//! Reading feeds, articles (search and filters) and intel matches; the feed list as OPML.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::types::{
    Article, ArticleConnection, Feed, FeedConnection, IndicatorKind, IntelMatch,
    IntelMatchConnection, IntelMatchKind,
};
use crate::error::{AppError, AppResult};
use crate::feed::indicators;
use crate::feed::read::{self, ArticleFilter, MAX_TERMS, MatchFilter};
use crate::graphql::connection::{NameOrder, TotalCount, list_reader, page, page_cost};
use crate::graphql::scalars::DateTime;
use crate::graphql::{node, scope, state};

/// An indicator to look for.
#[derive(InputObject, Clone)]
pub struct IndicatorInput {
    /// What it is.
    pub kind: IndicatorKind,
    /// Its value, in any of the forms extraction reads (defanged ones too).
    pub value: String,
}

/// Which articles. Every field narrows.
#[derive(InputObject, Default, Clone)]
pub struct ArticleFilterInput {
    /// Words that must all appear in the title, summary or body (any case; at most 8).
    pub search: Option<String>,
    /// Only articles of these feeds.
    pub feed_ids: Option<Vec<ID>>,
    /// Only articles with this tag (by name, any case).
    pub tag: Option<String>,
    /// Only articles that name this indicator.
    pub indicator: Option<IndicatorInput>,
    /// Only articles published at or after this time.
    pub since: Option<DateTime>,
    /// Only articles published before this time.
    pub until: Option<DateTime>,
}

impl ArticleFilterInput {
    async fn filter(&self, db: &sea_orm::DatabaseConnection) -> AppResult<ArticleFilter> {
        let terms: Vec<String> = self
            .search
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(|t| t.chars().take(100).collect())
            .collect();
        if terms.len() > MAX_TERMS {
            return Err(AppError::bad_input(format!(
                "`search` takes at most {MAX_TERMS} words"
            )));
        }
        let feed_ids = self.feed_ids.clone().unwrap_or_default();
        crate::validate::bounded("feedIds", &feed_ids, 100)?;
        let tag_id = match &self.tag {
            Some(name) => Some(read::tag_id(db, name).await?.unwrap_or(0)),
            None => None,
        };
        let indicator = match &self.indicator {
            Some(i) => {
                let kind = i.kind.kind();
                let value = indicators::normalise(kind, &i.value).ok_or_else(|| {
                    AppError::bad_input(format!(
                        "`indicator.value` is not a valid {}",
                        kind.as_str()
                    ))
                })?;
                Some((kind, value))
            }
            None => None,
        };
        Ok(ArticleFilter {
            terms,
            feed_ids: node::decode_many(&feed_ids, "Feed")?,
            tag_id,
            indicator,
            since: self.since.map(|t| t.0),
            until: self.until.map(|t| t.0),
        })
    }
}

/// Which intel matches. Every field narrows; empty lists mean any.
#[derive(InputObject, Default, Clone)]
pub struct IntelMatchFilterInput {
    /// Only these kinds.
    pub kinds: Option<Vec<IntelMatchKind>>,
    /// Only matches of this article.
    pub article_id: Option<ID>,
    /// Only matches about this host.
    pub host_id: Option<ID>,
    /// Only matches found at or after this time.
    pub since: Option<DateTime>,
}

impl IntelMatchFilterInput {
    pub fn filter(&self) -> AppResult<MatchFilter> {
        Ok(MatchFilter {
            kinds: self
                .kinds
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(IntelMatchKind::kind)
                .collect(),
            article_id: self
                .article_id
                .as_ref()
                .map(|a| node::decode(a, "Article"))
                .transpose()?,
            host_id: self
                .host_id
                .as_ref()
                .map(|h| node::decode(h, "Host"))
                .transpose()?,
            since: self.since.map(|t| t.0),
        })
    }
}

#[derive(Default)]
pub struct FeedQuery;

#[Object]
impl FeedQuery {
    /// The feeds Hector polls, by name.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn feeds(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
        #[graphql(desc = "The order (by name, A to Z, by default).")] order_by: Option<NameOrder>,
    ) -> Result<FeedConnection> {
        let page = page(ctx, first, after, last, before)?;
        let order = NameOrder::or(order_by, crate::page::KeyOrder::BY_KEY);
        let db = list_reader(ctx).await?;
        let found = read::feeds(&db, order, &page).await?;
        let total = TotalCount::of(&db, read::count_feeds(&db)).await?;
        Ok(FeedConnection::new(found, total))
    }

    /// A feed by id; null when there is none.
    async fn feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Feed>> {
        let Some(id) = node::decode_of(&id, "Feed")? else {
            return Ok(None);
        };
        Ok(read::feed(&state(ctx)?.db, id).await?.map(Feed))
    }

    /// The feed list as an OPML 2.0 document (for other readers, or `importOpml` elsewhere);
    /// admins only, as it holds the feeds' URLs.
    async fn feeds_opml(&self, ctx: &Context<'_>) -> Result<String> {
        let list = read::feed_list(&state(ctx)?.db).await?;
        Ok(crate::feed::parse::write_opml("Hector feeds", &list))
    }

    /// Articles, the most recently published first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn articles(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
        #[graphql(desc = "Which articles.")] filter: Option<ArticleFilterInput>,
    ) -> Result<ArticleConnection> {
        let page = page(ctx, first, after, last, before)?;
        // Its names resolved first: the reader may hold a connection of the pool.
        let filter = filter.unwrap_or_default().filter(&state(ctx)?.db).await?;
        let db = list_reader(ctx).await?;
        let found = read::articles(&db, &filter, &page).await?;
        let total = TotalCount::of(&db, read::count_articles(&db, &filter)).await?;
        Ok(ArticleConnection::new(found, total))
    }

    /// An article by id; null when there is none.
    async fn article(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Article>> {
        let Some(id) = node::decode_of(&id, "Article")? else {
            return Ok(None);
        };
        Ok(read::article(&state(ctx)?.db, id).await?.map(Article))
    }

    /// Intel matches you see (those about hosts follow the host's support group), newest
    /// first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn intel_matches(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
        #[graphql(desc = "Which matches.")] filter: Option<IntelMatchFilterInput>,
    ) -> Result<IntelMatchConnection> {
        let page = page(ctx, first, after, last, before)?;
        let (db, scope) = (list_reader(ctx).await?, scope(ctx));
        let filter = filter.unwrap_or_default().filter()?;
        let found = read::matches(&db, &scope, &filter, &page).await?;
        let total = TotalCount::of(&db, read::count_matches(&db, &scope, &filter)).await?;
        Ok(IntelMatchConnection::new(found, total))
    }

    /// An intel match by id; null when there is none or you do not see it.
    async fn intel_match(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<IntelMatch>> {
        let Some(id) = node::decode_of(&id, "IntelMatch")? else {
            return Ok(None);
        };
        Ok(read::intel_match(&state(ctx)?.db, &scope(ctx), id)
            .await?
            .map(IntelMatch))
    }
}
