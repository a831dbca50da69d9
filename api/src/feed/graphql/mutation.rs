//! Changing the feed list (admins) and polling a feed now (analysts and admins).

use std::time::Duration;

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::types::{Article, Feed};
use crate::db;
use crate::error::AppError;
use crate::feed::store::{self, FeedInput};
use crate::feed::{parse, poll};
use crate::graphql::connection::ImportRejection;
use crate::graphql::scalars::DateTime;
use crate::graphql::{identity, node, state};

/// Largest OPML document `importOpml` takes, in bytes.
const MAX_OPML: usize = 1024 * 1024;

/// A feed's fields. On creation a missing field takes its default (polled hourly, enabled);
/// on change it stays as it is.
#[derive(InputObject, Default)]
pub struct FeedFields {
    /// Its name, unique (any case; needed on creation).
    pub name: Option<String>,
    /// Where it is fetched from: an http or https URL (needed on creation). Internal
    /// addresses are refused when polled, unless the configuration allows them.
    pub url: Option<String>,
    /// How often it is polled while it works, in seconds (60 to 604800).
    pub poll_interval_seconds: Option<i32>,
    /// Whether it is polled.
    pub enabled: Option<bool>,
}

impl FeedFields {
    fn input(self) -> FeedInput {
        FeedInput {
            name: self.name,
            url: self.url,
            interval: self
                .poll_interval_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64)),
            enabled: self.enabled,
        }
    }
}

/// A new feed.
#[derive(InputObject)]
pub struct CreateFeedInput {
    /// Its fields (name and URL at least).
    pub fields: FeedFields,
}

/// A change to a feed.
#[derive(InputObject)]
pub struct UpdateFeedInput {
    /// The feed.
    pub id: ID,
    /// The fields to change.
    pub fields: FeedFields,
}

/// A feed to delete.
#[derive(InputObject)]
pub struct DeleteFeedInput {
    /// The feed.
    pub id: ID,
}

/// A feed to poll now.
#[derive(InputObject)]
pub struct RefreshFeedInput {
    /// The feed.
    pub id: ID,
}

/// Feeds to list, from another reader's export.
#[derive(InputObject)]
pub struct ImportOpmlInput {
    /// The OPML document (at most 1 MiB).
    pub opml: String,
    /// The poll interval of the new feeds, in seconds (hourly by default).
    pub poll_interval_seconds: Option<i32>,
}

/// An article added by hand.
#[derive(InputObject)]
pub struct CreateArticleInput {
    /// Its title.
    pub title: String,
    /// Where it is published (http or https).
    pub link: Option<String>,
    /// When it was published (now if not given).
    pub published_at: Option<DateTime>,
    /// Its summary (HTML or text; sanitised).
    pub summary: Option<String>,
    /// Its full text (HTML or text; sanitised).
    pub body: Option<String>,
    /// Tags to give it beside the ones found in it, by name (new names become tags).
    pub tags: Option<Vec<String>>,
}

/// An article to delete.
#[derive(InputObject)]
pub struct DeleteArticleInput {
    /// The article.
    pub id: ID,
}

/// The article `createArticle` stored.
#[derive(SimpleObject)]
pub struct CreateArticlePayload {
    /// The article, with its indicators and tags.
    pub article: Article,
    /// Intel matches its indicators made.
    pub new_matches: i32,
}

/// The article `deleteArticle` deleted.
#[derive(SimpleObject)]
pub struct DeleteArticlePayload {
    /// Its id.
    pub deleted_article_id: ID,
}

/// The feed a mutation listed or changed.
#[derive(SimpleObject)]
pub struct FeedPayload {
    /// The feed as it is now.
    pub feed: Feed,
}

/// The feed `deleteFeed` deleted.
#[derive(SimpleObject)]
pub struct DeleteFeedPayload {
    /// Its id.
    pub deleted_feed_id: ID,
}

/// What polling a feed now brought.
#[derive(SimpleObject)]
pub struct RefreshFeedPayload {
    /// The feed as it is now (status, next poll).
    pub feed: Feed,
    /// Articles stored.
    pub new_articles: i32,
    /// Entries already stored (same entry id or link).
    pub duplicates: i32,
    /// Entries past the per-fetch cap.
    pub skipped: i32,
    /// Intel matches the new articles made.
    pub new_matches: i32,
    /// Why the poll failed; null when it worked.
    pub error: Option<String>,
}

/// What `importOpml` did.
#[derive(SimpleObject)]
pub struct ImportOpmlPayload {
    /// The feeds it listed.
    pub created: Vec<Feed>,
    /// How many outlines it did not take.
    pub rejected_count: i32,
    /// The outlines it did not take (already listed, bad URL, broken document), by line.
    pub rejected: Vec<ImportRejection>,
}

#[derive(Default)]
pub struct FeedMutation;

#[Object]
impl FeedMutation {
    /// Lists a feed; it is polled at once.
    async fn create_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateFeedInput,
    ) -> Result<FeedPayload> {
        let fields = input.fields.input();
        let made = db::write(&state(ctx)?.db, move |txn| {
            let fields = fields.clone();
            Box::pin(async move { store::create(txn, fields).await })
        })
        .await?;
        Ok(FeedPayload { feed: Feed(made) })
    }

    /// Changes a feed; a new URL is polled at once, without the old one's validators.
    async fn update_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateFeedInput,
    ) -> Result<FeedPayload> {
        let id = node::decode(&input.id, "Feed")?;
        let fields = input.fields.input();
        let changed = db::write(&state(ctx)?.db, move |txn| {
            let fields = fields.clone();
            Box::pin(async move { store::update(txn, id, fields).await })
        })
        .await?;
        Ok(FeedPayload {
            feed: Feed(changed),
        })
    }

    /// Deletes a feed with its articles, their indicators and matches.
    async fn delete_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteFeedInput,
    ) -> Result<DeleteFeedPayload> {
        let id = node::decode(&input.id, "Feed")?;
        db::write(&state(ctx)?.db, move |txn| {
            Box::pin(async move { store::delete(txn, id).await })
        })
        .await?;
        Ok(DeleteFeedPayload {
            deleted_feed_id: input.id,
        })
    }

    /// Polls a feed now, whether due or not (also a disabled one); `CONFLICT` while another
    /// poll of it runs. A failed fetch is an answer (`error`), not an error.
    async fn refresh_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: RefreshFeedInput,
    ) -> Result<RefreshFeedPayload> {
        let id = node::decode(&input.id, "Feed")?;
        let st = state(ctx)?;
        let fetcher = poll::fetcher(&st.config)?;
        let report = poll::poll_now(st, &fetcher, id).await?;
        let feed = report
            .feed
            .clone()
            .ok_or_else(|| AppError::not_found("feed"))?;
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(RefreshFeedPayload {
            feed: Feed(feed),
            new_articles: count(report.new_articles.len()),
            duplicates: count(report.duplicates as usize),
            skipped: count(report.skipped as usize),
            new_matches: count(report.new_matches.len()),
            error: report.error,
        })
    }

    /// Adds an article by hand, read like a feed's: sanitised, tagged, its indicators
    /// extracted and matched against our data.
    async fn create_article(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateArticleInput,
    ) -> Result<CreateArticlePayload> {
        let author = identity(ctx).display_name().to_owned();
        let manual = store::ManualArticle {
            title: input.title,
            link: input.link,
            published: input.published_at.map(|t| t.0),
            summary: input.summary,
            body: input.body,
            tags: input.tags.unwrap_or_default(),
        };
        let (article, matches) = db::write(&state(ctx)?.db, move |txn| {
            let (author, manual) = (author.clone(), manual.clone());
            Box::pin(async move { store::add_article(txn, &author, manual, db::now()).await })
        })
        .await?;
        Ok(CreateArticlePayload {
            article: Article(article),
            new_matches: i32::try_from(matches.len()).unwrap_or(i32::MAX),
        })
    }

    /// Deletes an article with its indicators, matches and incident links.
    async fn delete_article(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteArticleInput,
    ) -> Result<DeleteArticlePayload> {
        let id = node::decode(&input.id, "Article")?;
        db::write(&state(ctx)?.db, move |txn| {
            Box::pin(async move { store::delete_article(txn, id).await })
        })
        .await?;
        Ok(DeleteArticlePayload {
            deleted_article_id: input.id,
        })
    }

    /// Lists the feeds of an OPML document, each on its own: one already listed or with a
    /// bad URL is reported by line and the others are listed.
    async fn import_opml(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: ImportOpmlInput,
    ) -> Result<ImportOpmlPayload> {
        if input.opml.len() > MAX_OPML {
            return Err(
                AppError::bad_input(format!("`opml` is larger than {MAX_OPML} bytes")).into(),
            );
        }
        let read = parse::parse_opml(input.opml.as_bytes());
        let interval = input
            .poll_interval_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64));
        let feeds = read.feeds.clone();
        let report = db::write(&state(ctx)?.db, move |txn| {
            let feeds = feeds.clone();
            Box::pin(async move { store::import_opml(txn, &feeds, interval).await })
        })
        .await?;
        let mut rejected: Vec<ImportRejection> = read
            .rejected
            .into_iter()
            .chain(report.rejected)
            .map(|(line, reason)| ImportRejection {
                line: line as i64,
                reason,
            })
            .collect();
        rejected.sort_by_key(|r| r.line);
        Ok(ImportOpmlPayload {
            created: report.created.into_iter().map(Feed).collect(),
            rejected_count: i32::try_from(rejected.len()).unwrap_or(i32::MAX),
            rejected,
        })
    }
}
