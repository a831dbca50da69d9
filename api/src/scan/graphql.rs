//! Scans in GraphQL: profiles, scans, runs (with `scanRunEvents`), `startScan`,
//! `cancelScanRun` and `importNmapXml`. Resolvers stay thin: guard, one service call, `From`.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject, Subscription};
use entity::{scan, scan_profile, scan_run};
use futures_util::{Stream, StreamExt};

use super::ingest;
use super::profile::{Extra, Options, Technique};
use super::service::{self, ScanInput, Targets};
use super::{RUN_TOPIC, runner};
use crate::actor::Role::{Admin, Analyst};
use crate::actor::{Identity, Role};
use crate::db;
use crate::error::AppError;
use crate::events;
use crate::graphql::connection::ImportRejection;
use crate::graphql::connection::{TotalCount, connection, list_reader, page, page_cost};
use crate::graphql::guard::{self, Access, Area};
use crate::graphql::scalars::{DateTime, Upload};
use crate::graphql::{identity, node, state};

/// Scans, their profiles and runs: analysts and admins.
pub static SCANS: Area = Area {
    name: "scans",
    readers: &[Admin, Analyst],
    writers: &[Admin, Analyst],
};

/// Scan profiles decide what nmap does: analysts use them, admins write them.
pub static SCAN_PROFILES: Area = Area {
    name: "scan profiles",
    readers: &[Admin, Analyst],
    writers: &[Admin],
};

/// The rule of `parent.field` for the scan domain's fields.
pub fn access(parent: &str, field: &str) -> Option<Access> {
    use Access::*;
    Some(match (parent, field) {
        ("Query", "scanProfiles" | "scanProfile" | "scans" | "scan" | "scanRuns" | "scanRun") => {
            Read(&SCANS)
        }
        ("Subscription", "scanRunEvents") => Read(&SCANS),
        (
            "Mutation",
            "createScan" | "updateScan" | "deleteScan" | "startScan" | "cancelScanRun"
            | "importNmapXml",
        ) => Write(&SCANS),
        ("Mutation", "createScanProfile" | "updateScanProfile" | "deleteScanProfile") => {
            Write(&SCAN_PROFILES)
        }
        ("ScanProfile", "id" | "name" | "description" | "options" | "createdAt" | "updatedAt")
        | (
            "ScanOptions",
            "tcpPorts" | "udpPorts" | "technique" | "serviceDetection" | "osDetection" | "timing"
            | "hostTimeoutSecs" | "extras" | "fallBackToConnect",
        ) => Read(&SCAN_PROFILES),
        (
            "Scan",
            "id" | "name" | "profile" | "targets" | "schedule" | "timeZone" | "enabled"
            | "nextRunAt" | "createdAt" | "updatedAt" | "runs",
        )
        | ("ScanTargets", "allHosts" | "groupIds" | "cidrs")
        | (
            "ScanRun",
            "id" | "scan" | "origin" | "status" | "queuedAt" | "startedAt" | "finishedAt"
            | "hostsUp" | "portsSeen" | "error" | "targets" | "excluded" | "command" | "stderrTail"
            | "rawXmlBytes",
        )
        | ("ScanRunEvent", "run") => Read(&SCANS),
        ("CreateScanProfilePayload" | "UpdateScanProfilePayload", "scanProfile")
        | ("DeleteScanProfilePayload", "deletedScanProfileId")
        | ("CreateScanPayload" | "UpdateScanPayload", "scan")
        | ("DeleteScanPayload", "deletedScanId")
        | ("StartScanPayload" | "CancelScanRunPayload", "scanRun")
        | (
            "ImportNmapXmlPayload",
            "scanRun" | "hosts" | "hostsDown" | "hostsCreated" | "ports" | "changes" | "findings"
            | "rejectedCount" | "rejected" | "stoppedAt",
        ) => Public,
        _ => return None,
    })
}

/// A scan object behind `node(id:)`.
pub enum ScanNode {
    ScanProfile(ScanProfile),
    Scan(Scan),
    ScanRun(ScanRun),
}

/// The object of type `kind` and id `id`, when the caller may read scans: `None` when `kind`
/// is not the scan domain's.
pub async fn fetch_node(
    ctx: &Context<'_>,
    kind: &str,
    id: i64,
) -> crate::error::AppResult<Option<Option<ScanNode>>> {
    if !matches!(kind, "ScanProfile" | "Scan" | "ScanRun") {
        return Ok(None);
    }
    let allowed = identity(ctx)
        .principal()
        .is_some_and(|p| SCANS.readers.contains(&p.role));
    if !allowed {
        return Ok(Some(None));
    }
    let db = &state(ctx)?.db;
    Ok(Some(match kind {
        "ScanProfile" => service::profile(db, id)
            .await?
            .map(|m| ScanNode::ScanProfile(ScanProfile(m))),
        "Scan" => service::get_scan(db, id)
            .await?
            .map(|m| ScanNode::Scan(Scan(m))),
        _ => service::get_run(db, id)
            .await?
            .map(|m| ScanNode::ScanRun(ScanRun(m))),
    }))
}

// ---- options ----

/// How TCP ports are probed.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "Technique")]
pub enum ScanTechnique {
    /// Full connections (`-sT`): works without privileges.
    Connect,
    /// Half-open SYN probes (`-sS`): needs raw sockets.
    Syn,
}

/// An extra nmap option from the allowed list.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "Extra")]
pub enum ScanExtra {
    /// `-Pn`: treat every target as up.
    SkipHostDiscovery,
    /// `-n`: never resolve names.
    NoDns,
    /// `--open`: list only open ports.
    OpenOnly,
    /// `--reason`: say why a port is in its state.
    Reason,
    /// `--version-light`: quicker version detection.
    VersionLight,
    /// `--defeat-rst-ratelimit`.
    DefeatRstRatelimit,
}

/// nmap options, as structure.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "ScanOptionsInput")]
pub struct ScanOptions {
    /// TCP ports: numbers and ranges, e.g. `22,80,8000-8100`; null for no TCP scan.
    pub tcp_ports: Option<String>,
    /// UDP ports (a UDP scan needs raw sockets); null for none.
    pub udp_ports: Option<String>,
    /// How TCP ports are probed.
    #[graphql(default_with = "ScanTechnique::Connect")]
    pub technique: ScanTechnique,
    /// Detect services and versions (`-sV`).
    #[graphql(default)]
    pub service_detection: bool,
    /// Detect the operating system (`-O`, needs raw sockets).
    #[graphql(default)]
    pub os_detection: bool,
    /// nmap's timing template, 0 (paranoid) to 5 (insane).
    #[graphql(default = 3)]
    pub timing: i32,
    /// Give up on a host after this many seconds.
    pub host_timeout_secs: Option<i32>,
    /// Extra options from the allowed list.
    #[graphql(default)]
    pub extras: Vec<ScanExtra>,
    /// Without raw sockets, run as a connect scan (no UDP, no OS detection) instead of
    /// failing the run.
    #[graphql(default)]
    pub fall_back_to_connect: bool,
}

impl ScanOptions {
    fn into_options(self) -> Result<Options> {
        let timing = u8::try_from(self.timing)
            .map_err(|_| AppError::bad_input("`timing` is 0 to 5 (nmap's -T0 to -T5)"))?;
        let host_timeout_secs = self
            .host_timeout_secs
            .map(|t| {
                u32::try_from(t)
                    .map_err(|_| AppError::bad_input("`hostTimeoutSecs` is 1 to 86400 seconds"))
            })
            .transpose()?;
        let o = Options {
            tcp_ports: self.tcp_ports,
            udp_ports: self.udp_ports,
            technique: self.technique.into(),
            service_detection: self.service_detection,
            os_detection: self.os_detection,
            timing,
            host_timeout_secs,
            extras: self.extras.into_iter().map(Into::into).collect(),
            fall_back_to_connect: self.fall_back_to_connect,
        };
        o.validate()?;
        Ok(o)
    }

    fn from_options(o: Options) -> Self {
        Self {
            tcp_ports: o.tcp_ports,
            udp_ports: o.udp_ports,
            technique: o.technique.into(),
            service_detection: o.service_detection,
            os_detection: o.os_detection,
            timing: i32::from(o.timing),
            host_timeout_secs: o.host_timeout_secs.map(|t| t as i32),
            extras: o.extras.into_iter().map(Into::into).collect(),
            fall_back_to_connect: o.fall_back_to_connect,
        }
    }
}

// ---- objects ----

/// A named set of nmap options.
pub struct ScanProfile(pub scan_profile::Model);

/// A named set of nmap options.
#[Object]
impl ScanProfile {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("ScanProfile", self.0.id)
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it is for.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The nmap options.
    async fn options(&self) -> Result<ScanOptions> {
        Ok(ScanOptions::from_options(service::options_of(&self.0)?))
    }

    /// When it was made.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

impl From<scan_profile::Model> for ScanProfile {
    fn from(m: scan_profile::Model) -> Self {
        Self(m)
    }
}

connection!(ScanProfileConnection, ScanProfileEdge, ScanProfile);

/// What a scan scans.
#[derive(SimpleObject, InputObject, Clone, Default)]
#[graphql(input_name = "ScanTargetsInput")]
pub struct ScanTargets {
    /// Every host of the inventory (that the scan's creator sees).
    #[graphql(default)]
    pub all_hosts: bool,
    /// The hosts of these host groups.
    #[graphql(default)]
    pub group_ids: Vec<ID>,
    /// Networks (CIDR) or addresses. An admin's scan gives them to nmap whole, finding hosts
    /// not in the inventory yet; anyone else's reaches only inventory hosts they see.
    #[graphql(default)]
    pub cidrs: Vec<String>,
}

impl ScanTargets {
    fn into_targets(self) -> Result<Targets> {
        Ok(Targets {
            all_hosts: self.all_hosts,
            group_ids: self
                .group_ids
                .iter()
                .map(|id| node::decode(id, "HostGroup"))
                .collect::<Result<_, _>>()?,
            cidrs: self.cidrs,
        })
    }

    fn from_targets(t: Targets) -> Self {
        Self {
            all_hosts: t.all_hosts,
            group_ids: t
                .group_ids
                .into_iter()
                .map(|id| node::encode("HostGroup", id))
                .collect(),
            cidrs: t.cidrs,
        }
    }
}

/// A scan: a profile, its targets and a schedule.
pub struct Scan(pub scan::Model);

impl From<scan::Model> for Scan {
    fn from(m: scan::Model) -> Self {
        Self(m)
    }
}

/// A scan: a profile, its targets and a schedule.
#[Object]
impl Scan {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Scan", self.0.id)
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The profile it runs.
    async fn profile(&self, ctx: &Context<'_>) -> Result<Option<ScanProfile>> {
        Ok(service::profile(&state(ctx)?.db, self.0.profile_id)
            .await?
            .map(ScanProfile))
    }

    /// What it scans.
    async fn targets(&self) -> ScanTargets {
        ScanTargets::from_targets(Targets::parse(&self.0.targets))
    }

    /// A cron expression (five fields, or six with seconds first); null: started by hand only.
    async fn schedule(&self) -> Option<&str> {
        self.0.schedule.as_deref()
    }

    /// The IANA time zone the schedule is read in, e.g. `Europe/Berlin`.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// Whether the schedule runs it.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// When the schedule runs it next; null when it will not.
    async fn next_run_at(&self) -> Option<DateTime> {
        self.0.next_run_at.map(DateTime)
    }

    /// When it was made.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }

    /// Its runs, newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn runs(
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
    ) -> Result<ScanRunConnection> {
        run_list(ctx, Some(self.0.id), first, after, last, before).await
    }
}

connection!(ScanConnection, ScanEdge, Scan);

/// Why a run exists.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ScanRunOrigin {
    /// Its scan's schedule.
    Schedule,
    /// `startScan`.
    Manual,
    /// An import of nmap XML.
    Import,
}

/// Where a run is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ScanRunStatus {
    /// Waiting for a free slot.
    Queued,
    /// nmap is running (or an import is being read).
    Running,
    /// Finished; its results are recorded.
    Succeeded,
    /// Finished with an error (see `error`), or interrupted when its process stopped.
    Failed,
    /// Cancelled by `cancelScanRun`.
    Cancelled,
}

/// One run of a scan, or one import of nmap XML.
pub struct ScanRun(pub scan_run::Model);

impl From<scan_run::Model> for ScanRun {
    fn from(m: scan_run::Model) -> Self {
        Self(m)
    }
}

/// Whether the caller may read a run's command, targets and output: admins, and who
/// requested it (the scan's creator, for scheduled runs).
fn sees_details(ctx: &Context<'_>, run: &scan_run::Model) -> bool {
    match identity(ctx) {
        Identity::User(p) => p.role == Role::Admin || run.requested_by_user_id == Some(p.user_id),
        Identity::Anonymous => false,
    }
}

/// One run of a scan, or one import of nmap XML.
#[Object]
impl ScanRun {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("ScanRun", self.0.id)
    }

    /// The scan it ran; null for an import, or when the scan was deleted.
    async fn scan(&self, ctx: &Context<'_>) -> Result<Option<Scan>> {
        let Some(id) = self.0.scan_id else {
            return Ok(None);
        };
        Ok(service::get_scan(&state(ctx)?.db, id).await?.map(Scan))
    }

    /// Why it exists.
    async fn origin(&self) -> ScanRunOrigin {
        match self.0.origin.as_str() {
            service::origin::SCHEDULE => ScanRunOrigin::Schedule,
            service::origin::IMPORT => ScanRunOrigin::Import,
            _ => ScanRunOrigin::Manual,
        }
    }

    /// Where it is.
    async fn status(&self) -> ScanRunStatus {
        match self.0.status.as_str() {
            service::status::QUEUED => ScanRunStatus::Queued,
            service::status::RUNNING => ScanRunStatus::Running,
            service::status::SUCCEEDED => ScanRunStatus::Succeeded,
            service::status::CANCELLED => ScanRunStatus::Cancelled,
            _ => ScanRunStatus::Failed,
        }
    }

    /// When it was queued.
    async fn queued_at(&self) -> DateTime {
        self.0.queued_at.into()
    }

    /// When it started.
    async fn started_at(&self) -> Option<DateTime> {
        self.0.started_at.map(DateTime)
    }

    /// When it ended.
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(DateTime)
    }

    /// Hosts found up so far.
    async fn hosts_up(&self) -> i64 {
        self.0.hosts_up
    }

    /// Ports recorded so far (every state).
    async fn ports_seen(&self) -> i64 {
        self.0.ports_seen
    }

    /// Why it failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    /// What nmap was given to scan (addresses and networks); null unless you are an admin or
    /// requested the run.
    async fn targets(&self, ctx: &Context<'_>) -> Option<Vec<String>> {
        sees_details(ctx, &self.0).then(|| lines(&self.0.targets))
    }

    /// Hosts skipped under a port-scan exclusion; null unless you are an admin or requested
    /// the run.
    async fn excluded(&self, ctx: &Context<'_>) -> Option<Vec<String>> {
        sees_details(ctx, &self.0).then(|| lines(&self.0.excluded))
    }

    /// The exact nmap command (its targets arrive on standard input); null unless you are an
    /// admin or requested the run.
    async fn command(&self, ctx: &Context<'_>) -> Option<&str> {
        sees_details(ctx, &self.0)
            .then_some(self.0.command.as_deref())
            .flatten()
    }

    /// The end of nmap's standard error; null unless you are an admin or requested the run.
    async fn stderr_tail(&self, ctx: &Context<'_>) -> Option<&str> {
        sees_details(ctx, &self.0)
            .then_some(self.0.stderr_tail.as_deref())
            .flatten()
    }

    /// The size of the XML nmap wrote, which is kept with the run; null when none is kept.
    async fn raw_xml_bytes(&self) -> Option<i64> {
        self.0.raw_xml.as_ref().map(|x| x.len() as i64)
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

connection!(ScanRunConnection, ScanRunEdge, ScanRun);

async fn run_list(
    ctx: &Context<'_>,
    scan_id: Option<i64>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<ScanRunConnection> {
    let page = page(ctx, first, after, last, before)?;
    let db = list_reader(ctx).await?;
    let found = service::runs(&db, scan_id, &page).await?;
    let total = TotalCount::of(&db, service::count_runs(&db, scan_id)).await?;
    Ok(ScanRunConnection::new(found, total))
}

// ---- queries ----

#[derive(Default)]
pub struct ScanQuery;

#[Object]
impl ScanQuery {
    /// Scan profiles, oldest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn scan_profiles(
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
    ) -> Result<ScanProfileConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = service::profiles(&db, &page).await?;
        let total = TotalCount::of(&db, service::count_profiles(&db)).await?;
        Ok(ScanProfileConnection::new(found, total))
    }

    /// A scan profile by id; null when there is none.
    async fn scan_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<ScanProfile>> {
        let Some(id) = node::decode_of(&id, "ScanProfile")? else {
            return Ok(None);
        };
        Ok(service::profile(&state(ctx)?.db, id)
            .await?
            .map(ScanProfile))
    }

    /// Scans, oldest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn scans(
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
    ) -> Result<ScanConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = service::scans(&db, &page).await?;
        let total = TotalCount::of(&db, service::count_scans(&db)).await?;
        Ok(ScanConnection::new(found, total))
    }

    /// A scan by id; null when there is none.
    async fn scan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Scan>> {
        let Some(id) = node::decode_of(&id, "Scan")? else {
            return Ok(None);
        };
        Ok(service::get_scan(&state(ctx)?.db, id).await?.map(Scan))
    }

    /// Scan runs and imports, newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn scan_runs(
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
        #[graphql(desc = "Only this scan's runs.")] scan_id: Option<ID>,
    ) -> Result<ScanRunConnection> {
        let scan_id = scan_id.map(|id| node::decode(&id, "Scan")).transpose()?;
        run_list(ctx, scan_id, first, after, last, before).await
    }

    /// A scan run by id; null when there is none.
    async fn scan_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<ScanRun>> {
        let Some(id) = node::decode_of(&id, "ScanRun")? else {
            return Ok(None);
        };
        Ok(service::get_run(&state(ctx)?.db, id).await?.map(ScanRun))
    }
}

// ---- mutations ----

/// A new scan profile.
#[derive(InputObject)]
pub struct CreateScanProfileInput {
    /// Its name, unique.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The nmap options.
    pub options: ScanOptions,
}

/// Changes to a scan profile; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateScanProfileInput {
    /// The profile.
    pub id: ID,
    /// A new name.
    pub name: Option<String>,
    /// A new description (null clears it).
    pub description: async_graphql::MaybeUndefined<String>,
    /// New options, as a whole.
    pub options: Option<ScanOptions>,
}

/// The profile to delete.
#[derive(InputObject)]
pub struct DeleteScanProfileInput {
    /// The profile (refused while a scan uses it).
    pub id: ID,
}

/// The profile `createScanProfile` made.
#[derive(SimpleObject)]
pub struct CreateScanProfilePayload {
    /// The new profile.
    pub scan_profile: ScanProfile,
}

/// The profile `updateScanProfile` changed.
#[derive(SimpleObject)]
pub struct UpdateScanProfilePayload {
    /// The profile as it is now.
    pub scan_profile: ScanProfile,
}

/// What `deleteScanProfile` removed.
#[derive(SimpleObject)]
pub struct DeleteScanProfilePayload {
    /// The id of the deleted profile.
    pub deleted_scan_profile_id: ID,
}

/// A new scan.
#[derive(InputObject)]
pub struct CreateScanInput {
    /// Its name, unique.
    pub name: String,
    /// The profile it runs.
    pub profile_id: ID,
    /// What it scans.
    pub targets: ScanTargets,
    /// A cron expression (five fields, or six with seconds first); null: by hand only.
    pub schedule: Option<String>,
    /// The IANA time zone the schedule is read in; UTC when left out.
    pub time_zone: Option<String>,
    /// Whether the schedule runs it; true when left out.
    pub enabled: Option<bool>,
}

/// Changes to a scan; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateScanInput {
    /// The scan.
    pub id: ID,
    /// A new name.
    pub name: Option<String>,
    /// Another profile.
    pub profile_id: Option<ID>,
    /// New targets, as a whole.
    pub targets: Option<ScanTargets>,
    /// A new schedule (null: by hand only).
    pub schedule: async_graphql::MaybeUndefined<String>,
    /// Another time zone.
    pub time_zone: Option<String>,
    /// Turn the schedule on or off.
    pub enabled: Option<bool>,
}

/// The scan to delete.
#[derive(InputObject)]
pub struct DeleteScanInput {
    /// The scan (its runs stay on record).
    pub id: ID,
}

/// The scan `createScan` made.
#[derive(SimpleObject)]
pub struct CreateScanPayload {
    /// The new scan.
    pub scan: Scan,
}

/// The scan `updateScan` changed.
#[derive(SimpleObject)]
pub struct UpdateScanPayload {
    /// The scan as it is now.
    pub scan: Scan,
}

/// What `deleteScan` removed.
#[derive(SimpleObject)]
pub struct DeleteScanPayload {
    /// The id of the deleted scan.
    pub deleted_scan_id: ID,
}

/// The scan to run now.
#[derive(InputObject)]
pub struct StartScanInput {
    /// The scan.
    pub scan_id: ID,
}

/// The run `startScan` queued.
#[derive(SimpleObject)]
pub struct StartScanPayload {
    /// The run; watch it with `scanRunEvents`.
    pub scan_run: ScanRun,
}

/// The run to cancel.
#[derive(InputObject)]
pub struct CancelScanRunInput {
    /// A queued or running run.
    pub scan_run_id: ID,
}

/// The run `cancelScanRun` cancelled.
#[derive(SimpleObject)]
pub struct CancelScanRunPayload {
    /// The run, now `CANCELLED` (nmap stops within seconds).
    pub scan_run: ScanRun,
}

/// An nmap XML file to import.
#[derive(InputObject)]
pub struct ImportNmapXmlInput {
    /// The file (`nmap -oX`), sent as a GraphQL multipart request.
    pub file: Upload,
    /// The support group of hosts the file finds that are not in the inventory yet (needed
    /// unless you are an admin: it must be one of yours).
    pub support_group_id: Option<ID>,
}

impl From<&ingest::Rejection> for ImportRejection {
    fn from(r: &ingest::Rejection) -> Self {
        Self {
            line: r.line as i64,
            reason: r.reason.clone(),
        }
    }
}

/// What an import did. Every accepted host is committed, also when others were refused.
#[derive(SimpleObject)]
pub struct ImportNmapXmlPayload {
    /// The import's run (its `exposureChanges` carry its id).
    pub scan_run: ScanRun,
    /// Hosts that were up and are recorded.
    pub hosts: i64,
    /// Hosts nmap listed as down.
    pub hosts_down: i64,
    /// Hosts added to the inventory.
    pub hosts_created: i64,
    /// Ports recorded.
    pub ports: i64,
    /// Exposure changes found.
    pub changes: i64,
    /// Vulnerability findings of nmap's `vulners`/`vuln` scripts, recorded as a finding
    /// import of kind `NMAP` (see `findingImports`).
    pub findings: i64,
    /// Hosts refused.
    pub rejected_count: i64,
    /// The first 1000 hosts refused, with their lines.
    pub rejected: Vec<ImportRejection>,
    /// Where the reading stopped early (malformed or truncated XML); null when it read to
    /// the end.
    pub stopped_at: Option<ImportRejection>,
}

#[derive(Default)]
pub struct ScanMutation;

#[Object]
impl ScanMutation {
    /// Makes a scan profile: nmap options, validated (nothing reaches a shell).
    async fn create_scan_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateScanProfileInput,
    ) -> Result<CreateScanProfilePayload> {
        let options = input.options.into_options()?;
        let (name, description) = (input.name, input.description);
        let made = db::write(&state(ctx)?.db, move |txn| {
            let (name, description, options) = (name.clone(), description.clone(), options.clone());
            Box::pin(async move {
                service::create_profile(txn, &name, description.as_deref(), &options).await
            })
        })
        .await?;
        Ok(CreateScanProfilePayload {
            scan_profile: ScanProfile(made),
        })
    }

    /// Changes a scan profile.
    async fn update_scan_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateScanProfileInput,
    ) -> Result<UpdateScanProfilePayload> {
        let id = node::decode(&input.id, "ScanProfile")?;
        let options = input.options.map(ScanOptions::into_options).transpose()?;
        let description: Option<Option<String>> = match input.description {
            async_graphql::MaybeUndefined::Undefined => None,
            async_graphql::MaybeUndefined::Null => Some(None),
            async_graphql::MaybeUndefined::Value(v) => Some(Some(v)),
        };
        let name = input.name;
        let changed = db::write(&state(ctx)?.db, move |txn| {
            let (name, description, options) = (name.clone(), description.clone(), options.clone());
            Box::pin(async move {
                service::update_profile(
                    txn,
                    id,
                    name.as_deref(),
                    description.as_ref().map(|d| d.as_deref()),
                    options.as_ref(),
                )
                .await
            })
        })
        .await?;
        Ok(UpdateScanProfilePayload {
            scan_profile: ScanProfile(changed),
        })
    }

    /// Deletes a scan profile no scan uses.
    async fn delete_scan_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteScanProfileInput,
    ) -> Result<DeleteScanProfilePayload> {
        let id = node::decode(&input.id, "ScanProfile")?;
        db::write(&state(ctx)?.db, move |txn| {
            Box::pin(async move { service::delete_profile(txn, id).await })
        })
        .await?;
        Ok(DeleteScanProfilePayload {
            deleted_scan_profile_id: input.id,
        })
    }

    /// Makes a scan.
    async fn create_scan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateScanInput,
    ) -> Result<CreateScanPayload> {
        let fields = ScanInput {
            name: Some(input.name),
            profile_id: Some(node::decode(&input.profile_id, "ScanProfile")?),
            targets: Some(input.targets.into_targets()?),
            schedule: Some(input.schedule),
            time_zone: input.time_zone,
            enabled: input.enabled,
        };
        let who = identity(ctx).clone();
        let made = db::write(&state(ctx)?.db, move |txn| {
            let (who, fields) = (who.clone(), fields.clone());
            Box::pin(async move { service::create_scan(txn, &who, fields).await })
        })
        .await?;
        Ok(CreateScanPayload { scan: Scan(made) })
    }

    /// Changes a scan (its creator or an admin).
    async fn update_scan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateScanInput,
    ) -> Result<UpdateScanPayload> {
        let id = node::decode(&input.id, "Scan")?;
        let fields = ScanInput {
            name: input.name,
            profile_id: input
                .profile_id
                .map(|p| node::decode(&p, "ScanProfile"))
                .transpose()?,
            targets: input.targets.map(ScanTargets::into_targets).transpose()?,
            schedule: match input.schedule {
                async_graphql::MaybeUndefined::Undefined => None,
                async_graphql::MaybeUndefined::Null => Some(None),
                async_graphql::MaybeUndefined::Value(v) => Some(Some(v)),
            },
            time_zone: input.time_zone,
            enabled: input.enabled,
        };
        let who = identity(ctx).clone();
        let changed = db::write(&state(ctx)?.db, move |txn| {
            let (who, fields) = (who.clone(), fields.clone());
            Box::pin(async move { service::update_scan(txn, &who, id, fields).await })
        })
        .await?;
        Ok(UpdateScanPayload {
            scan: Scan(changed),
        })
    }

    /// Deletes a scan (its creator or an admin); its runs stay on record.
    async fn delete_scan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteScanInput,
    ) -> Result<DeleteScanPayload> {
        let id = node::decode(&input.id, "Scan")?;
        let who = identity(ctx).clone();
        db::write(&state(ctx)?.db, move |txn| {
            let who = who.clone();
            Box::pin(async move { service::delete_scan(txn, &who, id).await })
        })
        .await?;
        Ok(DeleteScanPayload {
            deleted_scan_id: input.id,
        })
    }

    /// Runs a scan now (its creator or an admin); refused while it has a run queued or
    /// running.
    async fn start_scan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: StartScanInput,
    ) -> Result<StartScanPayload> {
        let id = node::decode(&input.scan_id, "Scan")?;
        let who = identity(ctx).clone();
        let st = state(ctx)?.clone();
        let run = db::write(&st.db, move |txn| {
            let who = who.clone();
            Box::pin(async move { service::start_scan(txn, &who, id).await })
        })
        .await?;
        // Start it here and now if a slot is free; otherwise the scheduler's next tick will.
        tokio::spawn(async move {
            if let Err(e) = runner::drain(st).await {
                tracing::warn!(error = ?e, "cannot start queued scan runs");
            }
        });
        Ok(StartScanPayload {
            scan_run: ScanRun(run),
        })
    }

    /// Cancels a queued or running run (who started it, the scan's creator, or an admin).
    async fn cancel_scan_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CancelScanRunInput,
    ) -> Result<CancelScanRunPayload> {
        let id = node::decode(&input.scan_run_id, "ScanRun")?;
        let who = identity(ctx).clone();
        let run = db::write(&state(ctx)?.db, move |txn| {
            let who = who.clone();
            Box::pin(async move { service::cancel_run(txn, &who, id).await })
        })
        .await?;
        Ok(CancelScanRunPayload {
            scan_run: ScanRun(run),
        })
    }

    /// Imports an nmap XML file (GraphQL multipart request) through the same path as a scan.
    /// Every complete, acceptable host is committed; the others are reported with their lines.
    async fn import_nmap_xml(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: ImportNmapXmlInput,
    ) -> Result<ImportNmapXmlPayload> {
        let group = input
            .support_group_id
            .map(|g| node::decode(&g, "SupportGroup"))
            .transpose()?;
        let who = identity(ctx).clone();
        let recorder = ingest::recorder_for(&who, group)?;
        let file = input.file.value(ctx)?.content;
        let st = state(ctx)?;
        let (run, report) = ingest::import(st, &who, &recorder, file, None).await?;
        Ok(ImportNmapXmlPayload {
            scan_run: ScanRun(run),
            hosts: report.hosts as i64,
            hosts_down: report.hosts_down as i64,
            hosts_created: report.hosts_created as i64,
            ports: report.ports as i64,
            changes: report.changes as i64,
            findings: report.findings as i64,
            rejected_count: report.rejected_count as i64,
            rejected: report.rejected.iter().map(Into::into).collect(),
            stopped_at: report.stopped.as_ref().map(Into::into),
        })
    }
}

// ---- subscription ----

/// A run changed: queued, started, made progress, ended.
pub struct ScanRunEvent {
    run: scan_run::Model,
}

/// A run changed: queued, started, made progress, ended.
#[Object]
impl ScanRunEvent {
    /// The run as it is now.
    async fn run(&self) -> ScanRun {
        ScanRun(self.run.clone())
    }
}

type EventRuns = Arc<Vec<scan_run::Model>>;

#[derive(Default)]
pub struct ScanSubscription;

#[Subscription]
impl ScanSubscription {
    /// Scan runs as they are queued, start, make progress (after every committed batch of
    /// hosts) and end; only one run's with `scanRunId`.
    async fn scan_run_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this run's events.")] scan_run_id: Option<ID>,
    ) -> Result<impl Stream<Item = ScanRunEvent> + use<>> {
        guard::check(
            identity(ctx),
            access("Subscription", "scanRunEvents"),
            "Subscription",
            "scanRunEvents",
            guard::Operation::Read,
        )?;
        let only = scan_run_id
            .map(|id| node::decode(&id, "ScanRun"))
            .transpose()?;
        let st = state(ctx)?.clone();
        let resume = events::latest_id(&st.db).await?;
        let (db, bus) = (st.db.clone(), st.events.clone());
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            RUN_TOPIC,
            Some(resume),
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, bus) = (db.clone(), bus.clone());
            async move {
                let ids: Vec<i64> = event
                    .items
                    .iter()
                    .map(|i| i.id)
                    .filter(|id| only.is_none_or(|o| o == *id))
                    .collect();
                if ids.is_empty() {
                    return futures_util::stream::iter(Vec::new());
                }
                let all: Vec<i64> = event.items.iter().map(|i| i.id).collect();
                let runs: EventRuns = bus
                    .shared(format!("scanRun:{}:rows", event.id), || {
                        let db = db.clone();
                        async move { service::runs_by_ids(&db, &all).await }
                    })
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = ?e, "cannot load the runs of a scan-run event");
                        Arc::new(Vec::new())
                    });
                let mine: Vec<ScanRunEvent> = runs
                    .iter()
                    .filter(|r| ids.contains(&r.id))
                    .map(|r| ScanRunEvent { run: r.clone() })
                    .collect();
                futures_util::stream::iter(mine)
            }
        })
        .flatten();
        Ok(stream)
    }
}
