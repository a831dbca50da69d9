//! The feed domain's GraphQL objects.

use async_graphql::{Context, Enum, ID, Object, Result};
use entity::{article, article_indicator, feed, intel_match};

use super::loaders::{self, ArticleId, FeedId, IndicatorId, IndicatorsOf, TagsOf};
use crate::error::AppError;
use crate::feed::indicators::Kind;
use crate::feed::read::{self, MatchFilter};
use crate::feed::{FetchStatus, MatchKind};
use crate::graphql::connection::{TotalCount, connection, list_reader, page, page_cost};
use crate::graphql::node;
use crate::graphql::scalars::{DateTime, IpAddr};
use crate::graphql::scope;
use crate::host::graphql::Host;
use crate::host::graphql::loaders::{self as host_loaders, HostId};

/// How the last fetch of a feed ended.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum FeedFetchStatus {
    /// Not fetched yet.
    Never,
    /// Fetched and read.
    Ok,
    /// The server answered that nothing changed (304).
    NotModified,
    /// The fetch or the reading failed (see `lastError`).
    Failed,
}

impl From<FetchStatus> for FeedFetchStatus {
    fn from(s: FetchStatus) -> Self {
        match s {
            FetchStatus::Never => Self::Never,
            FetchStatus::Ok => Self::Ok,
            FetchStatus::NotModified => Self::NotModified,
            FetchStatus::Failed => Self::Failed,
        }
    }
}

/// What an indicator is.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IndicatorKind {
    /// A CVE id (`CVE-2021-44228`).
    Cve,
    /// An IPv4 address.
    #[graphql(name = "IPV4")]
    Ipv4,
    /// An IPv6 address.
    #[graphql(name = "IPV6")]
    Ipv6,
    /// A domain name.
    Domain,
    /// An http or https URL.
    Url,
    /// An MD5 hash.
    #[graphql(name = "MD5")]
    Md5,
    /// A SHA-1 hash.
    #[graphql(name = "SHA1")]
    Sha1,
    /// A SHA-256 hash.
    #[graphql(name = "SHA256")]
    Sha256,
}

impl IndicatorKind {
    pub fn kind(self) -> Kind {
        match self {
            Self::Cve => Kind::Cve,
            Self::Ipv4 => Kind::Ipv4,
            Self::Ipv6 => Kind::Ipv6,
            Self::Domain => Kind::Domain,
            Self::Url => Kind::Url,
            Self::Md5 => Kind::Md5,
            Self::Sha1 => Kind::Sha1,
            Self::Sha256 => Kind::Sha256,
        }
    }

    fn of(stored: &str) -> Self {
        match Kind::parse(stored).unwrap_or(Kind::Url) {
            Kind::Cve => Self::Cve,
            Kind::Ipv4 => Self::Ipv4,
            Kind::Ipv6 => Self::Ipv6,
            Kind::Domain => Self::Domain,
            Kind::Url => Self::Url,
            Kind::Md5 => Self::Md5,
            Kind::Sha1 => Self::Sha1,
            Kind::Sha256 => Self::Sha256,
        }
    }
}

/// What an article's indicator matched.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IntelMatchKind {
    /// A CVE with open findings on one of our hosts.
    OpenFinding,
    /// The address of one of our hosts.
    InventoryAddress,
    /// An address our darknet sensors saw.
    DarknetSource,
}

impl IntelMatchKind {
    pub fn kind(self) -> MatchKind {
        match self {
            Self::OpenFinding => MatchKind::OpenFinding,
            Self::InventoryAddress => MatchKind::InventoryAddress,
            Self::DarknetSource => MatchKind::DarknetSource,
        }
    }

    fn of(stored: &str) -> Self {
        match MatchKind::parse(stored).unwrap_or(MatchKind::DarknetSource) {
            MatchKind::OpenFinding => Self::OpenFinding,
            MatchKind::InventoryAddress => Self::InventoryAddress,
            MatchKind::DarknetSource => Self::DarknetSource,
        }
    }
}

/// A threat feed Hector polls.
#[derive(Clone)]
pub struct Feed(pub feed::Model);

impl From<feed::Model> for Feed {
    fn from(m: feed::Model) -> Self {
        Self(m)
    }
}

/// A threat feed Hector polls (RSS 0.9x/1.0/2.0, Atom or JSON Feed).
#[Object]
impl Feed {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Feed", self.0.id)
    }

    /// Its name, unique (any case).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Where it is fetched from (admins only: a feed URL often carries the provider's key).
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// How often it is polled while it works, in seconds.
    async fn poll_interval_seconds(&self) -> i64 {
        self.0.poll_interval_secs
    }

    /// Whether it is polled.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// How its last fetch ended.
    async fn last_status(&self) -> FeedFetchStatus {
        FetchStatus::parse(&self.0.last_status).into()
    }

    /// Why its last fetch failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// When it was last fetched.
    async fn last_fetched_at(&self) -> Option<DateTime> {
        self.0.last_fetched_at.map(DateTime)
    }

    /// When a fetch last worked (read, or not modified).
    async fn last_success_at(&self) -> Option<DateTime> {
        self.0.last_success_at.map(DateTime)
    }

    /// Failed fetches in a row; each doubles the wait before the next (at most a day).
    async fn consecutive_failures(&self) -> i32 {
        self.0.consecutive_failures
    }

    /// When it is polled next.
    async fn next_poll_at(&self) -> DateTime {
        DateTime(self.0.next_poll_at)
    }

    /// How many articles came from it.
    async fn article_count(&self) -> i64 {
        self.0.articles
    }

    /// When it was listed.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// An article read from a feed.
#[derive(Clone)]
pub struct Article(pub article::Model);

impl From<article::Model> for Article {
    fn from(m: article::Model) -> Self {
        Self(m)
    }
}

/// An article read from a feed: sanitised, de-duplicated, tagged, with the indicators it
/// names and what they matched.
#[Object]
impl Article {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Article", self.0.id)
    }

    /// The feed it came from; null for an article added by hand.
    async fn feed(&self, ctx: &Context<'_>) -> Result<Option<Feed>> {
        let Some(id) = self.0.feed_id else {
            return Ok(None);
        };
        Ok(loaders::of(ctx)?.load_one(FeedId(id)).await?.map(Feed))
    }

    /// Its title (plain text).
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// Where it is published.
    async fn link(&self) -> Option<&str> {
        self.0.link.as_deref()
    }

    /// When it was published (when it was fetched, if the feed did not say).
    async fn published_at(&self) -> DateTime {
        DateTime(self.0.published_at)
    }

    /// When Hector fetched it.
    async fn fetched_at(&self) -> DateTime {
        DateTime(self.0.fetched_at)
    }

    /// Who wrote it.
    async fn author(&self) -> Option<&str> {
        self.0.author.as_deref()
    }

    /// Its summary, as sanitised HTML (no scripts, styles, handlers or unsafe links).
    async fn summary(&self) -> Option<&str> {
        self.0.summary.as_deref()
    }

    /// Its full text, as sanitised HTML.
    async fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }

    /// Its tags: existing tag names found as whole words in its title or summary.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(loaders::of(ctx)?
            .load_one(TagsOf(self.0.id))
            .await?
            .unwrap_or_default())
    }

    /// The indicators it names, by kind and value.
    async fn indicators(&self, ctx: &Context<'_>) -> Result<Vec<Indicator>> {
        Ok(loaders::of(ctx)?
            .load_one(IndicatorsOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Indicator)
            .collect())
    }

    /// What its indicators matched in our data (the matches you see), newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn matches(
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
    ) -> Result<IntelMatchConnection> {
        let page = page(ctx, first, after, last, before)?;
        let (db, scope) = (list_reader(ctx).await?, scope(ctx));
        let filter = MatchFilter {
            article_id: Some(self.0.id),
            ..Default::default()
        };
        let found = read::matches(&db, &scope, &filter, &page).await?;
        let total = TotalCount::of(&db, read::count_matches(&db, &scope, &filter)).await?;
        Ok(IntelMatchConnection::new(found, total))
    }
}

/// An indicator an article names.
#[derive(Clone)]
pub struct Indicator(pub article_indicator::Model);

/// An indicator an article names.
#[Object]
impl Indicator {
    /// What it is.
    async fn kind(&self) -> IndicatorKind {
        IndicatorKind::of(&self.0.kind)
    }

    /// Its value, normalised (CVE ids upper case; addresses canonical; domains, hashes and URL
    /// hosts lower case; defanged forms undone).
    async fn value(&self) -> &str {
        &self.0.value
    }
}

/// An indicator of an article that matched our own data.
#[derive(Clone)]
pub struct IntelMatch(pub intel_match::Model);

impl From<intel_match::Model> for IntelMatch {
    fn from(m: intel_match::Model) -> Self {
        Self(m)
    }
}

/// An indicator of an article that matched our own data: a CVE with open findings on one of
/// our hosts, an address of our inventory, or an address our darknet sensors saw.
#[Object]
impl IntelMatch {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("IntelMatch", self.0.id)
    }

    /// What it matched.
    async fn kind(&self) -> IntelMatchKind {
        IntelMatchKind::of(&self.0.kind)
    }

    /// The article.
    async fn article(&self, ctx: &Context<'_>) -> Result<Article> {
        loaders::of(ctx)?
            .load_one(ArticleId(self.0.article_id))
            .await?
            .map(Article)
            .ok_or_else(|| AppError::not_found("article").into())
    }

    /// The indicator of the article that matched.
    async fn indicator(&self, ctx: &Context<'_>) -> Result<Indicator> {
        loaders::of(ctx)?
            .load_one(IndicatorId(self.0.indicator_id))
            .await?
            .map(Indicator)
            .ok_or_else(|| AppError::not_found("indicator").into())
    }

    /// Our host it is about (open findings, or its address); null for a darknet source.
    async fn host(&self, ctx: &Context<'_>) -> Result<Option<Host>> {
        let Some(id) = self.0.host_id else {
            return Ok(None);
        };
        Ok(host_loaders::of(ctx)?.load_one(HostId(id)).await?.map(Host))
    }

    /// The address that matched (inventory and darknet matches).
    async fn address(&self) -> Option<IpAddr> {
        self.0
            .address
            .as_deref()
            .and_then(crate::net::ip_from_key)
            .map(IpAddr)
    }

    /// The CVE that matched (open-finding matches).
    async fn cve(&self) -> Option<&str> {
        self.0.cve.as_deref()
    }

    /// When it was found.
    async fn matched_at(&self) -> DateTime {
        DateTime(self.0.matched_at)
    }
}

connection!(FeedConnection, FeedEdge, Feed);
connection!(ArticleConnection, ArticleEdge, Article);
connection!(IntelMatchConnection, IntelMatchEdge, IntelMatch);
