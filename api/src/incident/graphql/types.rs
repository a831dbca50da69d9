//! The incident domain's GraphQL objects.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use entity::{incident, incident_lookup, incident_note};

use super::loaders::{self, AddressesOf, ArticlesOf, HostsOf, LookupId, TagsOf, VulnerabilitiesOf};
use crate::feed::graphql::Article;
use crate::graphql::connection::{TotalCount, connection, list_reader, page, page_cost};
use crate::graphql::node;
use crate::graphql::scalars::DateTime;
use crate::graphql::scope;
use crate::host::graphql::Host;
use crate::incident::{self as domain, read};
use crate::vuln::graphql::Vulnerability;

/// Where an incident stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IncidentStatus {
    /// Reported, not looked at yet.
    Open,
    /// Being looked into.
    Investigating,
    /// The damage is stopped.
    Contained,
    /// Dealt with.
    Resolved,
    /// Done, lessons recorded.
    Closed,
}

impl IncidentStatus {
    pub fn of(stored: &str) -> Self {
        match domain::Status::parse(stored).unwrap_or(domain::Status::Open) {
            domain::Status::Open => Self::Open,
            domain::Status::Investigating => Self::Investigating,
            domain::Status::Contained => Self::Contained,
            domain::Status::Resolved => Self::Resolved,
            domain::Status::Closed => Self::Closed,
        }
    }

    pub fn status(self) -> domain::Status {
        match self {
            Self::Open => domain::Status::Open,
            Self::Investigating => domain::Status::Investigating,
            Self::Contained => domain::Status::Contained,
            Self::Resolved => domain::Status::Resolved,
            Self::Closed => domain::Status::Closed,
        }
    }
}

/// How serious an incident is.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IncidentSeverity {
    /// Little harm.
    Low,
    /// Some harm.
    Medium,
    /// Serious harm.
    High,
    /// Grave harm, all hands.
    Critical,
}

impl IncidentSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }

    fn of(stored: &str) -> Self {
        match stored {
            "LOW" => Self::Low,
            "HIGH" => Self::High,
            "CRITICAL" => Self::Critical,
            _ => Self::Medium,
        }
    }
}

/// Who may be told (Traffic Light Protocol 2.0).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tlp {
    /// No limit.
    Clear,
    /// The community.
    Green,
    /// The recipients' organisations, on a need-to-know basis.
    Amber,
    /// The recipients' organisation only.
    AmberStrict,
    /// The recipients only.
    Red,
}

impl Tlp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "CLEAR",
            Self::Green => "GREEN",
            Self::Amber => "AMBER",
            Self::AmberStrict => "AMBER_STRICT",
            Self::Red => "RED",
        }
    }

    fn of(stored: &str) -> Self {
        match stored {
            "CLEAR" => Self::Clear,
            "GREEN" => Self::Green,
            "AMBER_STRICT" => Self::AmberStrict,
            "RED" => Self::Red,
            _ => Self::Amber,
        }
    }
}

/// How much something cost (HECTOR's magnitudes).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Magnitude {
    /// Not known (yet).
    Unknown,
    /// Nothing.
    None,
    /// Hardly noticeable.
    Insignificant,
    /// Small.
    Minor,
    /// Noticeable.
    Moderate,
    /// Large.
    Major,
}

impl Magnitude {
    pub fn of(stored: &str) -> Self {
        match domain::Magnitude::parse(stored).unwrap_or(domain::Magnitude::Unknown) {
            domain::Magnitude::Unknown => Self::Unknown,
            domain::Magnitude::None => Self::None,
            domain::Magnitude::Insignificant => Self::Insignificant,
            domain::Magnitude::Minor => Self::Minor,
            domain::Magnitude::Moderate => Self::Moderate,
            domain::Magnitude::Major => Self::Major,
        }
    }

    pub fn magnitude(self) -> domain::Magnitude {
        match self {
            Self::Unknown => domain::Magnitude::Unknown,
            Self::None => domain::Magnitude::None,
            Self::Insignificant => domain::Magnitude::Insignificant,
            Self::Minor => domain::Magnitude::Minor,
            Self::Moderate => domain::Magnitude::Moderate,
            Self::Major => domain::Magnitude::Major,
        }
    }
}

/// The classification lists.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IncidentLookupKind {
    /// Whose action it was (external, internal, partner).
    Agent,
    /// What they did (malware, hacking, social, ...).
    Action,
    /// What was affected.
    Asset,
    /// How it was found.
    Discovery,
}

impl IncidentLookupKind {
    pub fn kind(self) -> domain::LookupKind {
        match self {
            Self::Agent => domain::LookupKind::Agent,
            Self::Action => domain::LookupKind::Action,
            Self::Asset => domain::LookupKind::Asset,
            Self::Discovery => domain::LookupKind::Discovery,
        }
    }

    fn of(stored: &str) -> Self {
        match domain::LookupKind::parse(stored).unwrap_or(domain::LookupKind::Agent) {
            domain::LookupKind::Agent => Self::Agent,
            domain::LookupKind::Action => Self::Action,
            domain::LookupKind::Asset => Self::Asset,
            domain::LookupKind::Discovery => Self::Discovery,
        }
    }
}

/// VERIS's units of a timeframe.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimeUnit {
    /// Under a minute.
    Seconds,
    /// Under an hour.
    Minutes,
    /// Under a day.
    Hours,
    /// Under a week.
    Days,
    /// Under 30 days.
    Weeks,
    /// Under a year.
    Months,
    /// A year or more.
    Years,
}

/// The time between two moments of an incident.
#[derive(SimpleObject)]
pub struct Timeframe {
    /// In seconds.
    pub seconds: i64,
    /// Its VERIS unit.
    pub unit: TimeUnit,
}

fn timeframe(
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<Timeframe> {
    domain::timeframe(from, to).map(|(seconds, unit)| Timeframe {
        seconds,
        unit: match unit {
            domain::TimeUnit::Seconds => TimeUnit::Seconds,
            domain::TimeUnit::Minutes => TimeUnit::Minutes,
            domain::TimeUnit::Hours => TimeUnit::Hours,
            domain::TimeUnit::Days => TimeUnit::Days,
            domain::TimeUnit::Weeks => TimeUnit::Weeks,
            domain::TimeUnit::Months => TimeUnit::Months,
            domain::TimeUnit::Years => TimeUnit::Years,
        },
    })
}

/// A value of a classification list (editable by admins; seeded with HECTOR's).
#[derive(Clone)]
pub struct IncidentLookup(pub incident_lookup::Model);

/// A value of a classification list (editable by admins; seeded with HECTOR's).
#[Object]
impl IncidentLookup {
    /// Its id.
    async fn id(&self) -> ID {
        node::encode("IncidentLookup", self.0.id)
    }

    /// Its list.
    async fn kind(&self) -> IncidentLookupKind {
        IncidentLookupKind::of(&self.0.kind)
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
}

async fn lookup(ctx: &Context<'_>, id: Option<i64>) -> Result<Option<IncidentLookup>> {
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(loaders::of(ctx)?
        .load_one(LookupId(id))
        .await?
        .map(IncidentLookup))
}

/// An incident: what happened, how it is classified, what it cost, where it stands and what
/// it touched. Visible to a non-admin when one of its hosts is theirs, or it has none.
#[derive(Clone)]
pub struct Incident(pub incident::Model);

impl From<incident::Model> for Incident {
    fn from(m: incident::Model) -> Self {
        Self(m)
    }
}

/// An incident: what happened, how it is classified, what it cost, where it stands and what
/// it touched. Visible to a non-admin when one of its hosts is theirs, or it has none.
#[Object]
impl Incident {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Incident", self.0.id)
    }

    /// Its title.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// What happened.
    async fn summary(&self) -> Option<&str> {
        self.0.summary.as_deref()
    }

    /// Where it stands.
    async fn status(&self) -> IncidentStatus {
        IncidentStatus::of(&self.0.status)
    }

    /// How serious it is.
    async fn severity(&self) -> IncidentSeverity {
        IncidentSeverity::of(&self.0.severity)
    }

    /// Who may be told.
    async fn tlp(&self) -> Tlp {
        Tlp::of(&self.0.tlp)
    }

    /// When it happened.
    async fn occurred_at(&self) -> Option<DateTime> {
        self.0.occurred_at.map(DateTime)
    }

    /// When it was found.
    async fn discovered_at(&self) -> Option<DateTime> {
        self.0.discovered_at.map(DateTime)
    }

    /// When the damage stopped.
    async fn contained_at(&self) -> Option<DateTime> {
        self.0.contained_at.map(DateTime)
    }

    /// When it was dealt with.
    async fn resolved_at(&self) -> Option<DateTime> {
        self.0.resolved_at.map(DateTime)
    }

    /// From the action to its discovery (when both times are known).
    async fn action_to_discovery(&self) -> Option<Timeframe> {
        timeframe(self.0.occurred_at, self.0.discovered_at)
    }

    /// From discovery to containment (when both times are known).
    async fn discovery_to_containment(&self) -> Option<Timeframe> {
        timeframe(self.0.discovered_at, self.0.contained_at)
    }

    /// Who handles it (a user name).
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let Some(id) = self.0.assignee_id else {
            return Ok(None);
        };
        let users = ctx
            .data::<crate::auth::graphql::Users>()
            .map_err(|_| crate::error::AppError::Internal("no user loader".into()))?;
        Ok(users.load_one(id).await?.map(|u| u.username))
    }

    /// Who reported it.
    async fn reporter(&self) -> &str {
        &self.0.reporter_name
    }

    /// Whose action it was.
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<IncidentLookup>> {
        lookup(ctx, self.0.agent_id).await
    }

    /// What they did.
    async fn action(&self, ctx: &Context<'_>) -> Result<Option<IncidentLookup>> {
        lookup(ctx, self.0.action_id).await
    }

    /// What was affected.
    async fn asset(&self, ctx: &Context<'_>) -> Result<Option<IncidentLookup>> {
        lookup(ctx, self.0.asset_id).await
    }

    /// How it was found.
    async fn discovery(&self, ctx: &Context<'_>) -> Result<Option<IncidentLookup>> {
        lookup(ctx, self.0.discovery_id).await
    }

    /// Confidentiality: whether data was exposed.
    async fn data_exposed(&self) -> bool {
        self.0.data_exposed
    }

    /// Integrity: what was altered.
    async fn integrity_loss(&self) -> Option<&str> {
        self.0.integrity_loss.as_deref()
    }

    /// Availability: what was lost, and for how long.
    async fn availability_loss(&self) -> Option<&str> {
        self.0.availability_loss.as_deref()
    }

    /// What the lost assets were worth.
    async fn asset_loss(&self) -> Magnitude {
        Magnitude::of(&self.0.asset_loss)
    }

    /// How much work stopped.
    async fn disruption(&self) -> Magnitude {
        Magnitude::of(&self.0.disruption)
    }

    /// What responding cost.
    async fn response_cost(&self) -> Magnitude {
        Magnitude::of(&self.0.response_cost)
    }

    /// The overall impact.
    async fn overall_impact(&self) -> Magnitude {
        Magnitude::of(&self.0.overall_impact)
    }

    /// Lessons learned (HECTOR's "20/20 hindsight").
    async fn lessons_learned(&self) -> Option<&str> {
        self.0.lessons_learned.as_deref()
    }

    /// The corrections recommended.
    async fn corrections(&self) -> Option<&str> {
        self.0.corrections.as_deref()
    }

    /// The hosts it touched that you see.
    async fn hosts(&self, ctx: &Context<'_>) -> Result<Vec<Host>> {
        Ok(loaders::of(ctx)?
            .load_one(HostsOf(self.0.id, scope(ctx)))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Host)
            .collect())
    }

    /// The attackers' addresses.
    async fn attacker_addresses(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(loaders::of(ctx)?
            .load_one(AddressesOf(self.0.id))
            .await?
            .unwrap_or_default()
            .iter()
            .filter_map(|k| crate::net::ip_from_key(k))
            .map(|a| a.to_string())
            .collect())
    }

    /// The vulnerabilities it exploited.
    async fn vulnerabilities(&self, ctx: &Context<'_>) -> Result<Vec<Vulnerability>> {
        Ok(loaders::of(ctx)?
            .load_one(VulnerabilitiesOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Vulnerability)
            .collect())
    }

    /// The threat-feed articles about it.
    async fn articles(&self, ctx: &Context<'_>) -> Result<Vec<Article>> {
        Ok(loaders::of(ctx)?
            .load_one(ArticlesOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Article)
            .collect())
    }

    /// Its tags, by name.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(loaders::of(ctx)?
            .load_one(TagsOf(self.0.id))
            .await?
            .unwrap_or_default())
    }

    /// Its timeline, oldest first: created, notes, status changes and changes of its record,
    /// with author and time. Nothing in it is ever changed or removed.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn timeline(
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
    ) -> Result<IncidentNoteConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let id = self.0.id;
        let found = read::notes(&db, id, &page).await?;
        let total = TotalCount::of(&db, read::count_notes(&db, id)).await?;
        Ok(IncidentNoteConnection::new(found, total))
    }

    /// When it was recorded.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When its record last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// What a timeline entry records.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IncidentNoteKind {
    /// The incident was recorded.
    Created,
    /// Someone wrote a note.
    Note,
    /// Its status changed.
    Status,
    /// Its record changed (`text` names the fields).
    Updated,
}

/// An entry of an incident's timeline.
pub struct IncidentNote(pub incident_note::Model);

impl From<incident_note::Model> for IncidentNote {
    fn from(m: incident_note::Model) -> Self {
        Self(m)
    }
}

/// An entry of an incident's timeline.
#[Object]
impl IncidentNote {
    /// Its id.
    async fn id(&self) -> ID {
        node::encode("IncidentNote", self.0.id)
    }

    /// When.
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }

    /// What it records.
    async fn kind(&self) -> IncidentNoteKind {
        match self.0.kind.as_str() {
            "CREATED" => IncidentNoteKind::Created,
            "STATUS" => IncidentNoteKind::Status,
            "UPDATED" => IncidentNoteKind::Updated,
            _ => IncidentNoteKind::Note,
        }
    }

    /// Who.
    async fn author(&self) -> &str {
        &self.0.author_name
    }

    /// The note, the status change's note, or the fields changed.
    async fn text(&self) -> Option<&str> {
        self.0.text.as_deref()
    }

    /// The status before a status change.
    async fn from_status(&self) -> Option<IncidentStatus> {
        self.0.from_status.as_deref().map(IncidentStatus::of)
    }

    /// The status after a status change (and on creation).
    async fn to_status(&self) -> Option<IncidentStatus> {
        self.0.to_status.as_deref().map(IncidentStatus::of)
    }
}

connection!(IncidentConnection, IncidentEdge, Incident);
connection!(IncidentNoteConnection, IncidentNoteEdge, IncidentNote);
