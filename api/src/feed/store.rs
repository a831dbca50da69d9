//! Writing feeds and what they bring: the feed list (create, change, delete, OPML import),
//! the poller's claim on a feed, and the outcome of a poll: new articles (sanitised,
//! de-duplicated by entry id and normalised link, tagged), their indicators, their matches,
//! the feed's new state, and one outbox event per kind for the whole poll. Every function
//! takes `&impl ConnectionTrait` and opens no transaction.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{article, article_indicator, article_tag, feed, tag};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};

use super::fetch::FetchError;
use super::indicators::{self, Indicator};
use super::parse::{Entry, OpmlFeed};
use super::{ARTICLE_TOPIC, FetchStatus, MAX_INTERVAL, MIN_INTERVAL, html, matching, next_delay};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::validate;

/// Longest feed URL.
pub const MAX_URL: usize = 2048;
/// Longest summary kept (sanitised HTML).
const MAX_SUMMARY: usize = 16 * 1024;
/// Longest plain text kept for search.
const MAX_SEARCH: usize = 256 * 1024;

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A feed's fields. `None` leaves a field as it is (on creation: its default).
#[derive(Debug, Clone, Default)]
pub struct FeedInput {
    pub name: Option<String>,
    pub url: Option<String>,
    pub interval: Option<Duration>,
    pub enabled: Option<bool>,
}

/// A feed URL, checked: an absolute `http` or `https` URL of at most [`MAX_URL`] bytes.
pub fn check_url(url: &str) -> AppResult<String> {
    let url = url.trim();
    if url.len() > MAX_URL {
        return Err(AppError::bad_input(format!(
            "`url` is longer than {MAX_URL} bytes"
        )));
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| AppError::bad_input(format!("`url` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::bad_input(
            "`url` must be an http:// or https:// URL with a host",
        ));
    }
    Ok(parsed.to_string())
}

fn check_interval(interval: Duration) -> AppResult<i64> {
    if interval < MIN_INTERVAL || interval > MAX_INTERVAL {
        return Err(AppError::bad_input(format!(
            "`pollIntervalSeconds` must be between {} and {}",
            MIN_INTERVAL.as_secs(),
            MAX_INTERVAL.as_secs()
        )));
    }
    Ok(interval.as_secs() as i64)
}

/// Lists a feed, due at once.
pub async fn create(db: &impl ConnectionTrait, input: FeedInput) -> AppResult<feed::Model> {
    let name = validate::line(
        "name",
        input
            .name
            .as_deref()
            .ok_or_else(|| AppError::bad_input("a feed needs a `name`"))?,
        255,
    )?;
    let url = check_url(
        input
            .url
            .as_deref()
            .ok_or_else(|| AppError::bad_input("a feed needs a `url`"))?,
    )?;
    let interval = check_interval(input.interval.unwrap_or(super::DEFAULT_INTERVAL))?;
    let now = db::now();
    let made = feed::ActiveModel {
        name_key: Set(validate::key(&name)),
        name: Set(name),
        url_key: Set(sha256_hex(&url)),
        url: Set(url),
        poll_interval_secs: Set(interval),
        enabled: Set(input.enabled.unwrap_or(true)),
        etag: Set(None),
        last_modified: Set(None),
        last_status: Set(FetchStatus::Never.as_str().to_owned()),
        last_error: Set(None),
        last_fetched_at: Set(None),
        last_success_at: Set(None),
        consecutive_failures: Set(0),
        next_poll_at: Set(now),
        articles: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| AppError::conflict_on_unique(e, "a feed with this name or URL is listed"))?;
    Ok(made)
}

/// Changes a feed. A new URL forgets the old one's validators and is due at once.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    input: FeedInput,
) -> AppResult<feed::Model> {
    let found = feed::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("feed"))?;
    let mut row: feed::ActiveModel = found.clone().into();
    if let Some(name) = &input.name {
        let name = validate::line("name", name, 255)?;
        row.name_key = Set(validate::key(&name));
        row.name = Set(name);
    }
    if let Some(url) = &input.url {
        let url = check_url(url)?;
        if url != found.url {
            row.url_key = Set(sha256_hex(&url));
            row.url = Set(url);
            row.etag = Set(None);
            row.last_modified = Set(None);
            row.consecutive_failures = Set(0);
            row.next_poll_at = Set(db::now());
        }
    }
    if let Some(interval) = input.interval {
        row.poll_interval_secs = Set(check_interval(interval)?);
    }
    if let Some(enabled) = input.enabled {
        row.enabled = Set(enabled);
        if enabled && !found.enabled {
            row.consecutive_failures = Set(0);
            row.next_poll_at = Set(db::now());
        }
    }
    row.updated_at = Set(db::now());
    row.update(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "a feed with this name or URL is listed"))
}

/// Deletes a feed with its articles (their indicators and matches go with them).
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    let gone = feed::Entity::delete_by_id(id).exec(db).await?;
    if gone.rows_affected == 0 {
        return Err(AppError::not_found("feed"));
    }
    Ok(())
}

/// What an OPML import did: the feeds it listed, and the outlines it did not take (already
/// listed, or refused), by line with the reason.
#[derive(Debug, Clone, Default)]
pub struct OpmlReport {
    pub created: Vec<feed::Model>,
    pub rejected: Vec<(u64, String)>,
}

/// Lists the feeds of an OPML document, each on its own: a bad or known one is reported and
/// the others are listed.
pub async fn import_opml(
    db: &impl ConnectionTrait,
    feeds: &[OpmlFeed],
    interval: Option<Duration>,
) -> AppResult<OpmlReport> {
    if let Some(i) = interval {
        check_interval(i)?;
    }
    let mut report = OpmlReport::default();
    let known: HashSet<String> = feed::Entity::find()
        .select_only()
        .column(feed::Column::UrlKey)
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let names: HashSet<String> = feed::Entity::find()
        .select_only()
        .column(feed::Column::NameKey)
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let (mut known, mut names) = (known, names);
    for f in feeds {
        let url = match check_url(&f.url) {
            Ok(u) => u,
            Err(e) => {
                report.rejected.push((f.line, e.message()));
                continue;
            }
        };
        if !known.insert(sha256_hex(&url)) {
            report
                .rejected
                .push((f.line, "this feed is already listed".into()));
            continue;
        }
        // A name taken by another feed gets the URL's host after it.
        let mut name = f.name.clone();
        if names.contains(&validate::key(&name)) {
            let host = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            name = validate::truncate(&format!("{name} ({host})"), 255);
        }
        if !names.insert(validate::key(&name)) {
            report
                .rejected
                .push((f.line, "another feed has this name".into()));
            continue;
        }
        let input = FeedInput {
            name: Some(name),
            url: Some(url),
            interval,
            enabled: Some(true),
        };
        match create(db, input).await {
            Ok(made) => report.created.push(made),
            Err(e @ (AppError::BadUserInput(_) | AppError::Conflict(_))) => {
                report.rejected.push((f.line, e.message()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Feeds due for a poll at `now`, the most overdue first.
pub async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<feed::Model>> {
    Ok(feed::Entity::find()
        .filter(feed::Column::Enabled.eq(true))
        .filter(feed::Column::NextPollAt.lte(now))
        .order_by_asc(feed::Column::NextPollAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Takes feed `id` for one poll: moves its next poll past `lease` with a compare-and-set on
/// the value read, so two replicas never poll it at once, and a poll whose process died is
/// retried once the lease ends. `None` when another poll holds it.
pub async fn claim(
    db: &impl ConnectionTrait,
    id: i64,
    lease: Duration,
    now: DateTime<Utc>,
) -> AppResult<Option<feed::Model>> {
    let Some(found) = feed::Entity::find_by_id(id).one(db).await? else {
        return Err(AppError::not_found("feed"));
    };
    // A poll that holds it has moved its next poll into the future beyond its own interval.
    let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let taken = feed::Entity::update_many()
        .col_expr(feed::Column::NextPollAt, Expr::val(until))
        .filter(feed::Column::Id.eq(id))
        .filter(feed::Column::NextPollAt.eq(found.next_poll_at))
        .exec(db)
        .await?;
    Ok((taken.rows_affected == 1).then_some(found))
}

/// How a poll ended, before it is recorded.
#[derive(Debug, Clone)]
pub enum Outcome {
    NotModified,
    Failed(String),
    Read {
        entries: Vec<Entry>,
        skipped: usize,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

impl From<FetchError> for Outcome {
    fn from(e: FetchError) -> Self {
        Self::Failed(e.to_string())
    }
}

/// What a recorded poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    pub new_articles: Vec<i64>,
    /// Entries already stored (same entry id or link).
    pub duplicates: u64,
    /// Entries past the per-fetch cap.
    pub skipped: u64,
    pub new_matches: Vec<i64>,
    pub error: Option<String>,
    /// The feed after the poll (state, next poll).
    pub feed: Option<feed::Model>,
}

/// Records a poll of feed `id` at `now`: its articles, indicators and matches (when read),
/// and the feed's state and next poll.
pub async fn record_poll(
    db: &impl ConnectionTrait,
    id: i64,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> AppResult<PollReport> {
    let Some(found) = feed::Entity::find_by_id(id).one(db).await? else {
        return Err(AppError::not_found("feed"));
    };
    let mut report = PollReport::default();
    let mut row: feed::ActiveModel = found.clone().into();
    row.last_fetched_at = Set(Some(now));
    let interval = Duration::from_secs(found.poll_interval_secs.max(1) as u64);
    let failures = match outcome {
        Outcome::NotModified => {
            row.last_status = Set(FetchStatus::NotModified.as_str().to_owned());
            row.last_error = Set(None);
            row.last_success_at = Set(Some(now));
            0
        }
        Outcome::Failed(reason) => {
            let reason = validate::truncate(&reason, 500);
            row.last_status = Set(FetchStatus::Failed.as_str().to_owned());
            row.last_error = Set(Some(reason.clone()));
            report.error = Some(reason);
            found.consecutive_failures.saturating_add(1)
        }
        Outcome::Read {
            entries,
            skipped,
            etag,
            last_modified,
        } => {
            let stored = store_entries(db, Some(&found), &entries, now).await?;
            report.duplicates = (entries.len() - stored.len()) as u64;
            report.skipped = skipped as u64;
            report.new_matches = attach(db, &stored, now).await?;
            report.new_articles = stored.iter().map(|(a, _)| *a).collect();
            row.articles = Set(found.articles + report.new_articles.len() as i64);
            row.etag = Set(etag);
            row.last_modified = Set(last_modified);
            row.last_status = Set(FetchStatus::Ok.as_str().to_owned());
            row.last_error = Set(None);
            row.last_success_at = Set(Some(now));
            0
        }
    };
    row.consecutive_failures = Set(failures);
    let delay = next_delay(interval, failures.max(0) as u32);
    row.next_poll_at = Set(now + chrono::Duration::from_std(delay).unwrap_or_default());
    report.feed = Some(row.update(db).await?);
    if !report.new_articles.is_empty() {
        events::record(db, vec![article_event(&report.new_articles)]).await?;
    }
    Ok(report)
}

/// An article added by hand (HECTOR's "Add article").
#[derive(Debug, Clone, Default)]
pub struct ManualArticle {
    pub title: String,
    pub link: Option<String>,
    pub published: Option<DateTime<Utc>>,
    /// HTML or text; sanitised like a feed's.
    pub summary: Option<String>,
    pub body: Option<String>,
    /// Tags to give it beside the ones found in it (new names become tags).
    pub tags: Vec<String>,
}

/// Stores an article added by hand by `author`, read like a feed's (sanitised, tagged,
/// indicators, matches, event); `CONFLICT` when an article added by hand has the same link
/// (or, without one, the same title and summary). Answers it and its new matches.
pub async fn add_article(
    db: &impl ConnectionTrait,
    author: &str,
    input: ManualArticle,
    now: DateTime<Utc>,
) -> AppResult<(article::Model, Vec<i64>)> {
    let title = validate::line("title", &input.title, 1000)?;
    let link = match input.link.as_deref() {
        Some(l) => Some(
            safe_link(None, l)
                .ok_or_else(|| AppError::bad_input("`link` must be an http:// or https:// URL"))?,
        ),
        None => None,
    };
    let summary = validate::optional_text("summary", input.summary.as_deref(), MAX_SUMMARY)?;
    let body = validate::optional_text("body", input.body.as_deref(), html::MAX_BODY)?;
    validate::bounded("tags", &input.tags, 50)?;
    let entry = Entry {
        id: String::new(),
        title,
        link,
        published: input.published,
        author: Some(validate::truncate(author, 255)),
        summary,
        body,
    };
    let stored = store_entries(db, None, std::slice::from_ref(&entry), now).await?;
    let Some((id, _)) = stored.first() else {
        return Err(AppError::Conflict(
            "an article added by hand with this link (or title and summary) is stored already"
                .into(),
        ));
    };
    let id = *id;
    if !input.tags.is_empty() {
        let tags = crate::host::catalog::find_or_create_tags(db, &input.tags).await?;
        let rows: Vec<article_tag::ActiveModel> = tags
            .iter()
            .map(|t| article_tag::ActiveModel {
                article_id: Set(id),
                tag_id: Set(t.id),
            })
            .collect();
        article_tag::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([article_tag::Column::ArticleId, article_tag::Column::TagId])
            .exec_without_returning(db)
            .await?;
    }
    let matches = attach(db, &stored, now).await?;
    events::record(db, vec![article_event(&[id])]).await?;
    let made = article::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("article"))?;
    Ok((made, matches))
}

/// Deletes an article with its tags, indicators, matches and incident links.
pub async fn delete_article(db: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    let Some(found) = article::Entity::find_by_id(id).one(db).await? else {
        return Err(AppError::not_found("article"));
    };
    article::Entity::delete_by_id(id).exec(db).await?;
    if let Some(feed_id) = found.feed_id {
        feed::Entity::update_many()
            .col_expr(
                feed::Column::Articles,
                sea_orm::sea_query::ExprTrait::sub(Expr::col(feed::Column::Articles), 1),
            )
            .filter(feed::Column::Id.eq(feed_id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// One outbox event for new articles `ids`.
fn article_event(ids: &[i64]) -> NewEvent {
    NewEvent {
        topic: ARTICLE_TOPIC,
        kind: ChangeKind::Created,
        items: ids
            .iter()
            .map(|id| Item {
                id: *id,
                data: serde_json::Value::Null,
            })
            .collect(),
    }
}

/// A link made comparable: no fragment, no tracking parameters, no trailing slash; scheme
/// and host lower case (the URL parser does that).
pub fn normalise_link(link: &str) -> Option<String> {
    let mut url = url::Url::parse(link.trim()).ok()?;
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !(k.starts_with("utm_") || k == "fbclid" || k == "gclid"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    let mut text = url.to_string();
    while text.ends_with('/') {
        text.pop();
    }
    Some(text)
}

/// A link safe to put in an `href`: resolved against the feed's URL when relative, and only
/// when it is http or https (a feed may say `javascript:`).
pub fn safe_link(base: Option<&url::Url>, link: &str) -> Option<String> {
    let parsed = match base {
        Some(base) => base.join(link.trim()).ok()?,
        None => url::Url::parse(link.trim()).ok()?,
    };
    (matches!(parsed.scheme(), "http" | "https") && parsed.as_str().len() <= MAX_URL)
        .then(|| parsed.to_string())
}

/// An entry's identity in its feed: its id, else its link, else its title and summary.
fn entry_key(e: &Entry) -> String {
    let basis = if !e.id.is_empty() {
        format!("id:{}", e.id)
    } else if let Some(link) = &e.link {
        format!("link:{link}")
    } else {
        format!(
            "text:{}\n{}",
            e.title,
            e.summary.as_deref().unwrap_or_default()
        )
    };
    sha256_hex(&basis)
}

/// Stores the entries not stored before (by entry id, or by normalised link when a feed's
/// ids are unstable); answers each new article's id with the indicators of its text.
async fn store_entries(
    db: &impl ConnectionTrait,
    feed: Option<&feed::Model>,
    entries: &[Entry],
    now: DateTime<Utc>,
) -> AppResult<Vec<(i64, Vec<Indicator>)>> {
    let feed_id = feed.map(|f| f.id);
    let same_feed = || match feed_id {
        Some(id) => article::Column::FeedId.eq(id),
        None => article::Column::FeedId.is_null(),
    };
    let base = feed.and_then(|f| url::Url::parse(&f.url).ok());
    let keyed: Vec<(String, Option<String>, Option<String>, &Entry)> = entries
        .iter()
        .map(|e| {
            let link = e.link.as_deref().and_then(|l| safe_link(base.as_ref(), l));
            let link_key = link
                .as_deref()
                .and_then(normalise_link)
                .map(|l| sha256_hex(&l));
            (entry_key(e), link_key, link, e)
        })
        .collect();
    let mut seen_entries: HashSet<String> = HashSet::new();
    let mut seen_links: HashSet<String> = HashSet::new();
    for chunk in keyed.chunks(500) {
        let entry_keys: Vec<String> = chunk.iter().map(|k| k.0.clone()).collect();
        let link_keys: Vec<String> = chunk.iter().filter_map(|k| k.1.clone()).collect();
        let rows: Vec<(String, Option<String>)> = article::Entity::find()
            .select_only()
            .column(article::Column::EntryKey)
            .column(article::Column::LinkKey)
            .filter(same_feed())
            .filter(
                sea_orm::Condition::any()
                    .add(article::Column::EntryKey.is_in(entry_keys))
                    .add(article::Column::LinkKey.is_in(link_keys)),
            )
            .into_tuple()
            .all(db)
            .await?;
        for (e, l) in rows {
            seen_entries.insert(e);
            seen_links.extend(l);
        }
    }
    let tags = tag::Entity::find()
        .select_only()
        .column(tag::Column::Id)
        .column(tag::Column::NameKey)
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?;
    let mut fresh: Vec<(String, article::ActiveModel, Vec<i64>, Vec<Indicator>)> = Vec::new();
    for (key, link_key, link, e) in keyed {
        if seen_entries.contains(&key) || link_key.as_ref().is_some_and(|l| seen_links.contains(l))
        {
            continue;
        }
        seen_entries.insert(key.clone());
        seen_links.extend(link_key.clone());
        let summary = e
            .summary
            .as_deref()
            .map(|s| validate::truncate(&html::sanitise(s), MAX_SUMMARY));
        let body = e.body.as_deref().map(html::sanitise);
        let summary_text = summary.as_deref().map(html::text).unwrap_or_default();
        let body_text = body.as_deref().map(html::text).unwrap_or_default();
        let title = html::text(&e.title);
        let found = indicators::extract(&format!("{title}\n{summary_text}\n{body_text}"));
        let tagged = tags_in(&tags, &format!("{title}\n{summary_text}"));
        let search = validate::truncate(
            &format!("{title}\n{summary_text}\n{body_text}").to_lowercase(),
            MAX_SEARCH,
        );
        let row = article::ActiveModel {
            feed_id: Set(feed_id),
            entry_key: Set(key.clone()),
            link_key: Set(link_key),
            title: Set(validate::truncate(&title, 1000)),
            link: Set(link),
            author: Set(e.author.clone()),
            summary: Set(summary),
            body: Set(body),
            search_text: Set(search),
            // A date in the future (a feed's mistake, or spam that wants to stay on top) is
            // taken as now.
            published_at: Set(e.published.filter(|p| *p <= now).unwrap_or(now)),
            fetched_at: Set(now),
            ..Default::default()
        };
        fresh.push((key, row, tagged, found));
    }
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    for chunk in fresh.chunks(db::chunk_size(12).min(500)) {
        article::Entity::insert_many(chunk.iter().map(|f| f.1.clone()).collect::<Vec<_>>())
            .exec_without_returning(db)
            .await?;
    }
    // No RETURNING on MySQL: read the ids back by their natural key.
    let mut ids: HashMap<String, i64> = HashMap::new();
    for chunk in fresh.chunks(500) {
        let keys: Vec<String> = chunk.iter().map(|f| f.0.clone()).collect();
        let rows: Vec<(i64, String)> = article::Entity::find()
            .select_only()
            .column(article::Column::Id)
            .column(article::Column::EntryKey)
            .filter(same_feed())
            .filter(article::Column::EntryKey.is_in(keys))
            .into_tuple()
            .all(db)
            .await?;
        ids.extend(rows.into_iter().map(|(id, k)| (k, id)));
    }
    let mut out = Vec::with_capacity(fresh.len());
    let mut tag_rows = Vec::new();
    for (key, _, tagged, found) in fresh {
        let Some(&id) = ids.get(&key) else { continue };
        tag_rows.extend(tagged.into_iter().map(|t| article_tag::ActiveModel {
            article_id: Set(id),
            tag_id: Set(t),
        }));
        out.push((id, found));
    }
    for chunk in tag_rows.chunks(db::chunk_size(2)) {
        article_tag::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([article_tag::Column::ArticleId, article_tag::Column::TagId])
            .exec_without_returning(db)
            .await?;
    }
    out.sort_by_key(|(id, _)| *id);
    Ok(out)
}

/// The tags (id, lower-cased name) named in `text` as whole words, any case.
pub fn tags_in(tags: &[(i64, String)], text: &str) -> Vec<i64> {
    let lower = text.to_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    tags.iter()
        .filter(|(_, name)| {
            !name.is_empty()
                && lower.match_indices(name.as_str()).any(|(at, m)| {
                    !word(lower[..at].chars().next_back())
                        && !word(lower[at + m.len()..].chars().next())
                })
        })
        .map(|(id, _)| *id)
        .collect()
}

/// The value under which an indicator is looked up: itself when it fits the index, else its
/// hash.
pub fn lookup_of(value: &str) -> String {
    if value.len() <= 191 {
        value.to_owned()
    } else {
        sha256_hex(value)
    }
}

/// Stores the indicators of new articles and matches them against our data; answers the new
/// matches' ids (their event is recorded).
async fn attach(
    db: &impl ConnectionTrait,
    articles: &[(i64, Vec<Indicator>)],
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    let rows: Vec<article_indicator::ActiveModel> = articles
        .iter()
        .flat_map(|(id, found)| {
            found.iter().map(move |i| article_indicator::ActiveModel {
                article_id: Set(*id),
                kind: Set(i.kind.as_str().to_owned()),
                lookup: Set(lookup_of(&i.value)),
                address: Set(i.address().map(crate::net::ip_key)),
                value: Set(i.value.clone()),
                ..Default::default()
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    for chunk in rows.chunks(db::chunk_size(5)) {
        article_indicator::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    let ids: Vec<i64> = articles.iter().map(|(id, _)| *id).collect();
    let mut stored = Vec::new();
    for chunk in ids.chunks(1000) {
        stored.extend(
            article_indicator::Entity::find()
                .filter(article_indicator::Column::ArticleId.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    matching::for_indicators(db, &stored, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_compare_without_tracking_fragments_and_trailing_slashes() {
        assert_eq!(
            normalise_link("HTTPS://Example.org/a/?utm_source=x&id=3#top"),
            normalise_link("https://example.org/a?id=3")
        );
        assert_ne!(
            normalise_link("https://example.org/a?id=3"),
            normalise_link("https://example.org/a?id=4")
        );
    }

    #[test]
    fn only_web_links_are_kept_and_relative_ones_resolve() {
        let base = url::Url::parse("https://news.example/feeds/rss.xml").ok();
        assert_eq!(
            safe_link(base.as_ref(), "/story/1").as_deref(),
            Some("https://news.example/story/1")
        );
        assert_eq!(safe_link(base.as_ref(), "javascript:alert(1)"), None);
        assert_eq!(
            safe_link(base.as_ref(), "data:text/html,<script>x</script>"),
            None
        );
        assert_eq!(safe_link(None, "ftp://news.example/x"), None);
    }

    #[test]
    fn tags_match_whole_words_in_any_case() {
        let tags = vec![
            (1, "log4j".to_owned()),
            (2, "java".to_owned()),
            (3, "c++".to_owned()),
        ];
        assert_eq!(
            tags_in(&tags, "Log4J exploited; JavaScript unaffected"),
            [1]
        );
        assert_eq!(tags_in(&tags, "A Java and C++ story"), [2, 3]);
    }
}
