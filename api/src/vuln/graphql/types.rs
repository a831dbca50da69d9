//! The vulnerability domain's GraphQL objects: catalog entries, findings, their history,
//! imports, and the answers of the analytics.

use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, SimpleObject};
use entity::{finding, finding_change, finding_import, vulnerability};

use super::loaders::{self, CvesOf, TagsOf, VulnerabilityId};
use crate::error::AppError;
use crate::graphql::connection::{TotalCount, connection, list_reader, page, page_cost};
use crate::graphql::node;
use crate::graphql::scalars::DateTime;
use crate::host::graphql::Host;
use crate::host::graphql::loaders::{self as host_loaders, HostId};
use crate::vuln::lifecycle::Status;
use crate::vuln::parse;
use crate::vuln::{Kind, Source, read};

/// How bad a finding is: HECTOR's five levels (a scanner's own, else its CVSS score's:
/// above 9 critical, above 6 high, above 3 medium, above 0 low).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Risk {
    /// Informational.
    None,
    /// CVSS above 0 up to 3.
    Low,
    /// CVSS above 3 up to 6.
    Medium,
    /// CVSS above 6 up to 9.
    High,
    /// CVSS above 9.
    Critical,
}

impl Risk {
    pub fn of(level: i16) -> Self {
        match parse::Risk::from_level(level) {
            parse::Risk::None => Self::None,
            parse::Risk::Low => Self::Low,
            parse::Risk::Medium => Self::Medium,
            parse::Risk::High => Self::High,
            parse::Risk::Critical => Self::Critical,
        }
    }

    pub fn level(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
            Self::Critical => 4,
        }
    }
}

/// Where a finding stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum FindingStatus {
    /// Reported and not dealt with.
    Open,
    /// Gone: marked fixed, or absent from a newer report of its host.
    Fixed,
    /// Accepted as it is; imports leave it so.
    Ignored,
    /// Not a real vulnerability; imports leave it so.
    FalsePositive,
    /// Fixed once and reported again.
    Reopened,
}

impl FindingStatus {
    pub fn of(stored: &str) -> Self {
        match Status::parse(stored).unwrap_or(Status::Open) {
            Status::Open => Self::Open,
            Status::Fixed => Self::Fixed,
            Status::Ignored => Self::Ignored,
            Status::FalsePositive => Self::FalsePositive,
            Status::Reopened => Self::Reopened,
        }
    }

    pub fn status(self) -> Status {
        match self {
            Self::Open => Status::Open,
            Self::Fixed => Status::Fixed,
            Self::Ignored => Status::Ignored,
            Self::FalsePositive => Status::FalsePositive,
            Self::Reopened => Status::Reopened,
        }
    }
}

/// The kind of file an import reads.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum FindingImportKind {
    /// An OpenVAS or Greenbone (GVM) XML report.
    Openvas,
    /// A Nessus `.nessus` (v2) XML file.
    Nessus,
    /// A Nessus CSV export (HECTOR's 13 columns, found by their header names).
    NessusCsv,
    /// nmap XML (`-oX`) of a scan that ran the `vulners` script or `vuln` category scripts.
    Nmap,
}

impl FindingImportKind {
    pub fn kind(self) -> Kind {
        match self {
            Self::Openvas => Kind::OpenVas,
            Self::Nessus => Kind::Nessus,
            Self::NessusCsv => Kind::NessusCsv,
            Self::Nmap => Kind::Nmap,
        }
    }

    fn of(stored: &str) -> Self {
        match Kind::parse(stored).unwrap_or(Kind::OpenVas) {
            Kind::OpenVas => Self::Openvas,
            Kind::Nessus => Self::Nessus,
            Kind::NessusCsv => Self::NessusCsv,
            Kind::Nmap => Self::Nmap,
        }
    }
}

/// The scanner a check belongs to.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum VulnerabilitySource {
    /// An OpenVAS/Greenbone NVT.
    Openvas,
    /// A Nessus plugin.
    Nessus,
    /// An nmap script (`vulners` per CVE and product, or a `vuln` category script).
    Nmap,
}

/// How an import ended.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum FindingImportStatus {
    /// Still reading.
    Running,
    /// Read to the end; absent findings of its hosts are fixed.
    Succeeded,
    /// Stopped early (see `error`): what it read is recorded, nothing was marked fixed.
    Failed,
}

/// A check in the catalog (a Nessus plugin, an OpenVAS NVT, an nmap script's CVE), shared
/// by every finding of it.
#[derive(Clone)]
pub struct Vulnerability(pub vulnerability::Model);

impl From<vulnerability::Model> for Vulnerability {
    fn from(m: vulnerability::Model) -> Self {
        Self(m)
    }
}

/// A check in the catalog (a Nessus plugin, an OpenVAS NVT, an nmap script's CVE), shared
/// by every finding of it.
#[Object]
impl Vulnerability {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Vulnerability", self.0.id)
    }

    /// The scanner whose check it is.
    async fn source(&self) -> VulnerabilitySource {
        match Source::parse(&self.0.source) {
            Some(Source::Nessus) => VulnerabilitySource::Nessus,
            Some(Source::Nmap) => VulnerabilitySource::Nmap,
            _ => VulnerabilitySource::Openvas,
        }
    }

    /// The scanner's id of the check (Nessus plugin id, OpenVAS NVT OID, nmap script).
    async fn check_id(&self) -> Option<&str> {
        self.0.check_id.as_deref()
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it is (the newest report's words).
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// How to fix it.
    async fn solution(&self) -> Option<&str> {
        self.0.solution.as_deref()
    }

    /// Its CVE ids, sorted.
    async fn cves(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(loaders::of(ctx)?
            .load_one(CvesOf(self.0.id))
            .await?
            .unwrap_or_default())
    }

    /// Its CVSS base score (0 to 10).
    async fn cvss(&self) -> Option<f64> {
        self.0.cvss
    }

    /// Its CVSS vector.
    async fn cvss_vector(&self) -> Option<&str> {
        self.0.cvss_vector.as_deref()
    }

    /// Links for more.
    async fn references(&self) -> Vec<String> {
        serde_json::from_str(&self.0.refs).unwrap_or_default()
    }

    /// Its tags, by name.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(loaders::of(ctx)?
            .load_one(TagsOf(self.0.id))
            .await?
            .unwrap_or_default())
    }

    /// When a report first named it.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When a report last changed its description.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// A vulnerability on a host (and port), with where it stands. It follows its host's support
/// group: whoever sees the host sees its findings.
#[derive(Clone)]
pub struct Finding(pub finding::Model);

impl From<finding::Model> for Finding {
    fn from(m: finding::Model) -> Self {
        Self(m)
    }
}

/// A vulnerability on a host (and port), with where it stands. It follows its host's support
/// group: whoever sees the host sees its findings.
#[Object]
impl Finding {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Finding", self.0.id)
    }

    /// The host it is on.
    async fn host(&self, ctx: &Context<'_>) -> Result<Host> {
        host_loaders::of(ctx)?
            .load_one(HostId(self.0.host_id))
            .await?
            .map(Host)
            .ok_or_else(|| AppError::not_found("host").into())
    }

    /// The vulnerability.
    async fn vulnerability(&self, ctx: &Context<'_>) -> Result<Vulnerability> {
        loaders::of(ctx)?
            .load_one(VulnerabilityId(self.0.vulnerability_id))
            .await?
            .map(Vulnerability)
            .ok_or_else(|| AppError::not_found("vulnerability").into())
    }

    /// The port; null when the finding is on the host as a whole.
    async fn port(&self) -> Option<i32> {
        (self.0.port != 0).then_some(self.0.port)
    }

    /// `tcp`, `udp`, ... ; null when on no port.
    async fn protocol(&self) -> Option<&str> {
        (!self.0.protocol.is_empty()).then_some(self.0.protocol.as_str())
    }

    /// The service the scanner named on the port.
    async fn service(&self) -> Option<&str> {
        self.0.service.as_deref()
    }

    /// How bad it is, as the newest report says.
    async fn risk(&self) -> Risk {
        Risk::of(self.0.risk)
    }

    /// Where it stands.
    async fn status(&self) -> FindingStatus {
        FindingStatus::of(&self.0.status)
    }

    /// What the check saw (plugin output), as the newest report says.
    async fn output(&self) -> Option<&str> {
        self.0.output.as_deref()
    }

    /// The ticket tracking its fix.
    async fn ticket_url(&self) -> Option<&str> {
        self.0.ticket_url.as_deref()
    }

    /// When a report first listed it.
    async fn first_seen(&self) -> DateTime {
        DateTime(self.0.first_seen)
    }

    /// When a report last listed it.
    async fn last_seen(&self) -> DateTime {
        DateTime(self.0.last_seen)
    }

    /// The import that first listed it (a `FindingImport`).
    async fn first_import_id(&self) -> Option<ID> {
        self.0
            .first_import_id
            .map(|i| node::encode("FindingImport", i))
    }

    /// The import that last listed it (a `FindingImport`).
    async fn last_import_id(&self) -> Option<ID> {
        self.0
            .last_import_id
            .map(|i| node::encode("FindingImport", i))
    }

    /// When its status last changed.
    async fn status_changed_at(&self) -> DateTime {
        DateTime(self.0.status_changed_at)
    }

    /// Who changed its status last: a user name, or `import N`.
    async fn status_changed_by(&self) -> &str {
        &self.0.status_changed_by
    }

    /// Why its status last changed.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }

    /// Every status change, oldest first: reported, fixed, reopened, ignored, ... with who,
    /// when and why.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn history(
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
    ) -> Result<FindingChangeConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let id = self.0.id;
        let found = read::changes(&db, id, &page).await?;
        let total = TotalCount::of(&db, read::count_changes(&db, id)).await?;
        Ok(FindingChangeConnection::new(found, total))
    }
}

connection!(FindingConnection, FindingEdge, Finding);
connection!(VulnerabilityConnection, VulnerabilityEdge, Vulnerability);
connection!(FindingChangeConnection, FindingChangeEdge, FindingChange);
connection!(FindingImportConnection, FindingImportEdge, FindingImport);

/// A change of a finding's status.
pub struct FindingChange(pub finding_change::Model);

impl From<finding_change::Model> for FindingChange {
    fn from(m: finding_change::Model) -> Self {
        Self(m)
    }
}

/// A change of a finding's status.
#[Object]
impl FindingChange {
    /// Its id (history rows are not nodes).
    async fn id(&self) -> ID {
        node::encode("FindingChange", self.0.id)
    }

    /// When.
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }

    /// The status before; null when the finding was first reported.
    async fn from_status(&self) -> Option<FindingStatus> {
        self.0.from_status.as_deref().map(FindingStatus::of)
    }

    /// The status after.
    async fn to_status(&self) -> FindingStatus {
        FindingStatus::of(&self.0.to_status)
    }

    /// Who: a user name, or `import N`.
    async fn by(&self) -> &str {
        &self.0.by_name
    }

    /// Why.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// The import that made the change (a `FindingImport`); null for a person's change.
    async fn import_id(&self) -> Option<ID> {
        self.0.import_id.map(|i| node::encode("FindingImport", i))
    }
}

/// One import of a scanner report: who, when, and what it did.
#[derive(Clone)]
pub struct FindingImport(pub finding_import::Model);

impl From<finding_import::Model> for FindingImport {
    fn from(m: finding_import::Model) -> Self {
        Self(m)
    }
}

/// One import of a scanner report: who, when, and what it did.
#[Object]
impl FindingImport {
    /// Its global id (`scanDelta` compares two).
    pub async fn id(&self) -> ID {
        node::encode("FindingImport", self.0.id)
    }

    /// What it read.
    async fn kind(&self) -> FindingImportKind {
        FindingImportKind::of(&self.0.kind)
    }

    /// How it ended.
    async fn status(&self) -> FindingImportStatus {
        match self.0.status.as_str() {
            "SUCCEEDED" => FindingImportStatus::Succeeded,
            "FAILED" => FindingImportStatus::Failed,
            _ => FindingImportStatus::Running,
        }
    }

    /// Who imported it.
    async fn created_by(&self) -> &str {
        &self.0.created_by_name
    }

    /// When it started.
    async fn started_at(&self) -> DateTime {
        DateTime(self.0.started_at)
    }

    /// When it ended.
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(DateTime)
    }

    /// Hosts the report covered.
    async fn hosts(&self) -> i64 {
        self.0.hosts
    }

    /// Findings it listed and recorded.
    async fn findings(&self) -> i64 {
        self.0.findings
    }

    /// Findings listed for the first time.
    async fn new_findings(&self) -> i64 {
        self.0.new_findings
    }

    /// Fixed findings it listed again.
    async fn reopened(&self) -> i64 {
        self.0.reopened
    }

    /// Open findings of its hosts it no longer listed, now fixed.
    async fn fixed(&self) -> i64 {
        self.0.fixed
    }

    /// Items left out on purpose (informational ones).
    async fn skipped(&self) -> i64 {
        self.0.skipped
    }

    /// Items refused (unreadable, or on hosts the importer may not touch).
    async fn rejected(&self) -> i64 {
        self.0.rejected
    }

    /// Why it failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// Findings of one risk level.
#[derive(SimpleObject)]
pub struct RiskCount {
    /// The level.
    pub risk: Risk,
    /// How many findings.
    pub findings: u64,
    /// On how many hosts.
    pub hosts: u64,
}

impl From<read::RiskCount> for RiskCount {
    fn from(r: read::RiskCount) -> Self {
        Self {
            risk: Risk::of(r.risk),
            findings: r.findings,
            hosts: r.hosts,
        }
    }
}

/// A host's findings by risk level.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct HostRiskSummary {
    #[graphql(skip)]
    pub host_id: i64,
    /// Critical findings.
    pub critical: i64,
    /// High-risk findings.
    pub high: i64,
    /// Medium-risk findings.
    pub medium: i64,
    /// Low-risk findings.
    pub low: i64,
    /// All of them (informational ones too).
    pub total: i64,
    /// The highest risk among them.
    pub highest_risk: Risk,
}

#[ComplexObject]
impl HostRiskSummary {
    /// The host.
    async fn host(&self, ctx: &Context<'_>) -> Result<Host> {
        host_loaders::of(ctx)?
            .load_one(HostId(self.host_id))
            .await?
            .map(Host)
            .ok_or_else(|| AppError::not_found("host").into())
    }
}

impl From<read::HostRisk> for HostRiskSummary {
    fn from(r: read::HostRisk) -> Self {
        let highest_risk = if r.critical > 0 {
            Risk::Critical
        } else if r.high > 0 {
            Risk::High
        } else if r.medium > 0 {
            Risk::Medium
        } else if r.low > 0 {
            Risk::Low
        } else {
            Risk::None
        };
        Self {
            host_id: r.host_id,
            critical: r.critical,
            high: r.high,
            medium: r.medium,
            low: r.low,
            total: r.total,
            highest_risk,
        }
    }
}

/// What changed between two imports.
#[derive(SimpleObject)]
pub struct ScanDelta {
    /// The older import.
    pub from: FindingImport,
    /// The newer import.
    pub to: FindingImport,
    /// Findings `to` listed that `from` did not.
    pub new_count: u64,
    /// Findings `from` listed, on hosts `to` covered, that `to` did not.
    pub fixed_count: u64,
    /// The first of the new findings, by id.
    pub new: Vec<Finding>,
    /// The first of the fixed findings, by id.
    pub fixed: Vec<Finding>,
}
