//! Reading feeds, articles and matches. Feeds and articles are organisation-wide; a match
//! tied to a host is seen only by those who see that host (its support group), on every
//! path: lists, counts, `node`, an article's matches and `intelMatchEvents`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{article, article_indicator, article_tag, feed, host, intel_match, tag};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::MatchKind;
use super::indicators::Kind;
use crate::actor::HostScope;
use crate::error::{AppError, AppResult};
use crate::page::{Cursor, Keyset, Page, PageRequest, SortValue};

/// Most words a search takes.
pub const MAX_TERMS: usize = 8;

/// Feeds by name.
pub async fn feeds(
    db: &impl ConnectionTrait,
    order: crate::page::KeyOrder,
    page: &PageRequest,
) -> AppResult<Page<feed::Model>> {
    crate::page::by_key(
        db,
        feed::Entity::find(),
        crate::page::KeyedList {
            what: "feed",
            key: feed::Column::NameKey,
            id: feed::Column::Id,
            key_of: |f| &f.name_key,
            id_of: |f| f.id,
        },
        order,
        page,
    )
    .await
}

pub async fn count_feeds(db: &impl ConnectionTrait) -> AppResult<u64> {
    Ok(feed::Entity::find().count(db).await?)
}

pub async fn feed(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<feed::Model>> {
    Ok(feed::Entity::find_by_id(id).one(db).await?)
}

pub async fn feeds_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, feed::Model>> {
    Ok(feed::Entity::find()
        .filter(feed::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect())
}

/// Every feed's name and URL, by name (the OPML export).
pub async fn feed_list(db: &impl ConnectionTrait) -> AppResult<Vec<(String, String)>> {
    Ok(feed::Entity::find()
        .select_only()
        .column(feed::Column::Name)
        .column(feed::Column::Url)
        .order_by_asc(feed::Column::NameKey)
        .into_tuple()
        .all(db)
        .await?)
}

/// Which articles. Every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ArticleFilter {
    /// Words that must all appear in the title, summary or body (any case).
    pub terms: Vec<String>,
    pub feed_ids: Vec<i64>,
    pub tag_id: Option<i64>,
    /// An indicator, normalised.
    pub indicator: Option<(Kind, String)>,
    /// Published at or after.
    pub since: Option<DateTime<Utc>>,
    /// Published before.
    pub until: Option<DateTime<Utc>>,
}

/// `%`, `_` and the escape itself made literal for `LIKE ... ESCAPE '!'`.
fn like_literal(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn article_query(filter: &ArticleFilter) -> sea_orm::Select<article::Entity> {
    let mut q = article::Entity::find();
    for term in &filter.terms {
        q = q.filter(Expr::cust_with_values(
            "search_text LIKE ? ESCAPE '!'",
            [like_literal(&term.to_lowercase())],
        ));
    }
    if !filter.feed_ids.is_empty() {
        q = q.filter(article::Column::FeedId.is_in(filter.feed_ids.clone()));
    }
    if let Some(t) = filter.tag_id {
        let with = Query::select()
            .column(article_tag::Column::ArticleId)
            .from(article_tag::Entity)
            .and_where(Expr::col(article_tag::Column::TagId).eq(t))
            .to_owned();
        q = q.filter(article::Column::Id.in_subquery(with));
    }
    if let Some((kind, value)) = &filter.indicator {
        let with = Query::select()
            .column(article_indicator::Column::ArticleId)
            .from(article_indicator::Entity)
            .and_where(Expr::col(article_indicator::Column::Kind).eq(kind.as_str()))
            .and_where(
                Expr::col(article_indicator::Column::Lookup).eq(super::store::lookup_of(value)),
            )
            .to_owned();
        q = q.filter(article::Column::Id.in_subquery(with));
    }
    if let Some(t) = filter.since {
        q = q.filter(article::Column::PublishedAt.gte(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(article::Column::PublishedAt.lt(t));
    }
    q
}

/// Articles, the most recently published first.
pub async fn articles(
    db: &impl ConnectionTrait,
    filter: &ArticleFilter,
    page: &PageRequest,
) -> AppResult<Page<article::Model>> {
    let keyset = Keyset {
        name: "article:PUBLISHED:DESC".into(),
        key: Some(Expr::col((article::Entity, article::Column::PublishedAt))),
        nullable: false,
        id: Expr::col((article::Entity, article::Column::Id)),
        descending: true,
    };
    let query = article_query(filter).filter(keyset.window(page)?);
    let query = if keyset.ascending(page) {
        query
            .order_by_asc(article::Column::PublishedAt)
            .order_by_asc(article::Column::Id)
    } else {
        query
            .order_by_desc(article::Column::PublishedAt)
            .order_by_desc(article::Column::Id)
    };
    let rows = query.limit(page.limit + 1).all(db).await?;
    Ok(Page::from_rows(rows, page, |a| Cursor {
        ordering: keyset.name.clone(),
        key: SortValue::Time(Some(a.published_at)),
        id: a.id,
    }))
}

pub async fn count_articles(db: &impl ConnectionTrait, filter: &ArticleFilter) -> AppResult<u64> {
    Ok(article_query(filter).count(db).await?)
}

pub async fn article(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<article::Model>> {
    Ok(article::Entity::find_by_id(id).one(db).await?)
}

pub async fn articles_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, article::Model>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(1000) {
        for a in article::Entity::find()
            .filter(article::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            out.insert(a.id, a);
        }
    }
    Ok(out)
}

/// The tag names of articles `ids`, by article, A to Z.
pub async fn tags_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = article_tag::Entity::find()
        .select_only()
        .column(article_tag::Column::ArticleId)
        .column_as(Expr::col((tag::Entity, tag::Column::Name)), "name")
        .join(
            sea_orm::JoinType::InnerJoin,
            article_tag::Entity::belongs_to(tag::Entity)
                .from(article_tag::Column::TagId)
                .to(tag::Column::Id)
                .into(),
        )
        .filter(article_tag::Column::ArticleId.is_in(ids.to_vec()))
        .order_by_asc(Expr::col((tag::Entity, tag::Column::NameKey)))
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, name) in rows {
        out.entry(id).or_default().push(name);
    }
    Ok(out)
}

/// The indicators of articles `ids`, by article, by kind and value.
pub async fn indicators_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<article_indicator::Model>>> {
    let rows = article_indicator::Entity::find()
        .filter(article_indicator::Column::ArticleId.is_in(ids.to_vec()))
        .order_by_asc(article_indicator::Column::Kind)
        .order_by_asc(article_indicator::Column::Value)
        .all(db)
        .await?;
    let mut out: HashMap<i64, Vec<article_indicator::Model>> = HashMap::new();
    for i in rows {
        out.entry(i.article_id).or_default().push(i);
    }
    Ok(out)
}

pub async fn indicators_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, article_indicator::Model>> {
    Ok(article_indicator::Entity::find()
        .filter(article_indicator::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect())
}

/// The matches `scope` sees: those tied to no host, and those of hosts it sees.
pub fn visible_matches(scope: &HostScope) -> Condition {
    match scope {
        HostScope::All => Condition::all(),
        HostScope::SupportGroups(groups) => {
            let mut seen = Query::select();
            seen.column(host::Column::Id).from(host::Entity);
            if groups.is_empty() {
                seen.and_where(Expr::val(1).eq(0));
            } else {
                seen.and_where(Expr::col(host::Column::SupportGroupId).is_in(groups.clone()));
            }
            Condition::any()
                .add(intel_match::Column::HostId.is_null())
                .add(intel_match::Column::HostId.in_subquery(seen.to_owned()))
        }
    }
}

/// Which matches. Every field narrows; empty lists mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MatchFilter {
    pub kinds: Vec<MatchKind>,
    pub article_id: Option<i64>,
    pub host_id: Option<i64>,
    /// Matched at or after.
    pub since: Option<DateTime<Utc>>,
}

fn match_query(scope: &HostScope, filter: &MatchFilter) -> sea_orm::Select<intel_match::Entity> {
    let mut q = intel_match::Entity::find().filter(visible_matches(scope));
    if !filter.kinds.is_empty() {
        q = q.filter(intel_match::Column::Kind.is_in(filter.kinds.iter().map(|k| k.as_str())));
    }
    if let Some(a) = filter.article_id {
        q = q.filter(intel_match::Column::ArticleId.eq(a));
    }
    if let Some(h) = filter.host_id {
        q = q.filter(intel_match::Column::HostId.eq(h));
    }
    if let Some(t) = filter.since {
        q = q.filter(intel_match::Column::MatchedAt.gte(t));
    }
    q
}

/// Matches `scope` sees, newest first.
pub async fn matches(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &MatchFilter,
    page: &PageRequest,
) -> AppResult<Page<intel_match::Model>> {
    crate::page::by_id(
        db,
        match_query(scope, filter),
        intel_match::Column::Id,
        "intel_match:ID:DESC",
        true,
        page,
        |m| m.id,
    )
    .await
}

pub async fn count_matches(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &MatchFilter,
) -> AppResult<u64> {
    Ok(match_query(scope, filter).count(db).await?)
}

/// Match `id`, if `scope` sees it.
pub async fn intel_match(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<Option<intel_match::Model>> {
    Ok(match_query(scope, &MatchFilter::default())
        .filter(intel_match::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Matches by id with the support group of their host (`None` inside for no host or a host
/// without a group), whoever sees them: subscriptions decide per subscriber.
pub async fn matches_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, (intel_match::Model, Option<Option<i64>>)>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(1000) {
        let rows = intel_match::Entity::find()
            .filter(intel_match::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        let host_ids: Vec<i64> = rows.iter().filter_map(|m| m.host_id).collect();
        let groups: HashMap<i64, Option<i64>> = host::Entity::find()
            .select_only()
            .column(host::Column::Id)
            .column(host::Column::SupportGroupId)
            .filter(host::Column::Id.is_in(host_ids))
            .into_tuple::<(i64, Option<i64>)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        for m in rows {
            let group = m.host_id.map(|h| groups.get(&h).copied().flatten());
            out.insert(m.id, (m, group));
        }
    }
    Ok(out)
}

/// The tag `name` (any case), or an error naming it.
pub async fn tag_id(db: &impl ConnectionTrait, name: &str) -> AppResult<Option<i64>> {
    if name.trim().is_empty() {
        return Err(AppError::bad_input("`tag` must not be empty"));
    }
    crate::vuln::read::tag_id(db, name).await
}
