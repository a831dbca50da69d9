//! What hosts expose, in GraphQL: `Service` (a host's port and protocol, with its history),
//! `ExposureChange`, the `exposureChanges` and `topOpenPorts` queries and the
//! `exposureEvents` subscription. Everything follows the visibility of the host it hangs on.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject, Subscription};
use entity::{exposure_change, exposure_digest, host, host_service, service_observation};
use futures_util::{Stream, StreamExt};

use super::loaders::{self, HostId};
use super::types::Host;
use crate::error::AppError;
use crate::events;
use crate::graphql::connection::{TotalCount, connection, list_reader, page, page_cost};
use crate::graphql::scalars::DateTime;
use crate::graphql::{guard, node, scope, state};
use crate::host::service::exposure::{self, ChangeFilter, EXPOSURE_TOPIC};

/// A transport protocol.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    fn of(s: &str) -> Self {
        match s {
            "udp" => Self::Udp,
            "sctp" => Self::Sctp,
            _ => Self::Tcp,
        }
    }
}

/// What a scan found a port to be (nmap's states).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    /// Something answers.
    Open,
    /// Reachable, nothing listening.
    Closed,
    /// No answer: a filter drops the probes.
    Filtered,
    /// Reachable, but open or closed could not be told.
    Unfiltered,
    /// Open or filtered: nmap could not tell which.
    OpenFiltered,
    /// Closed or filtered: nmap could not tell which.
    ClosedFiltered,
}

impl PortState {
    fn of(s: &str) -> Self {
        match s {
            "open" => Self::Open,
            "closed" => Self::Closed,
            "unfiltered" => Self::Unfiltered,
            "open|filtered" => Self::OpenFiltered,
            "closed|filtered" => Self::ClosedFiltered,
            _ => Self::Filtered,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Filtered => "filtered",
            Self::Unfiltered => "unfiltered",
            Self::OpenFiltered => "open|filtered",
            Self::ClosedFiltered => "closed|filtered",
        }
    }
}

/// One NSE script's result on a port.
#[derive(SimpleObject)]
pub struct ScriptResult {
    /// The script, e.g. `http-title`.
    pub id: String,
    /// What it printed (cut at 4 KiB).
    pub output: String,
}

/// What a host exposes on one port and protocol, as last seen.
pub struct Service(pub host_service::Model);

/// What a host exposes on one port and protocol, as last seen.
#[Object]
impl Service {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Service", self.0.id)
    }

    /// The host it is on.
    async fn host(&self, ctx: &Context<'_>) -> Result<Host> {
        loaders::of(ctx)?
            .load_one(HostId(self.0.host_id))
            .await?
            .map(Host)
            .ok_or_else(|| AppError::not_found("host").into())
    }

    /// TCP, UDP or SCTP.
    async fn protocol(&self) -> Protocol {
        Protocol::of(&self.0.protocol)
    }

    /// The port number.
    async fn port(&self) -> i32 {
        self.0.port
    }

    /// Its state at the last scan that saw it.
    async fn state(&self) -> PortState {
        PortState::of(&self.0.state)
    }

    /// The service nmap named, e.g. `http`.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// The software, e.g. `nginx` (with service detection).
    async fn product(&self) -> Option<&str> {
        self.0.product.as_deref()
    }

    /// Its version, e.g. `1.18.0`.
    async fn version(&self) -> Option<&str> {
        self.0.version.as_deref()
    }

    /// More that nmap said of it.
    async fn extra_info(&self) -> Option<&str> {
        self.0.extra_info.as_deref()
    }

    /// Its CPE name, e.g. `cpe:/a:igor_sysoev:nginx:1.18.0`.
    async fn cpe(&self) -> Option<&str> {
        self.0.cpe.as_deref()
    }

    /// NSE script results from the last scan that ran scripts on it.
    async fn scripts(&self) -> Vec<ScriptResult> {
        self.0
            .scripts
            .as_deref()
            .and_then(|s| serde_json::from_str::<Vec<(String, String)>>(s).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(id, output)| ScriptResult { id, output })
            .collect()
    }

    /// When a scan first saw it.
    async fn first_seen(&self) -> DateTime {
        self.0.first_seen.into()
    }

    /// When a scan last saw it.
    async fn last_seen(&self) -> DateTime {
        self.0.last_seen.into()
    }

    /// When its state last changed.
    async fn state_changed_at(&self) -> DateTime {
        self.0.state_changed_at.into()
    }

    /// Every scan's sight of it, newest first.
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
    ) -> Result<ObservationConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = exposure::history(&db, self.0.id, &page).await?;
        let id = self.0.id;
        let total = TotalCount::of(&db, exposure::count_history(&db, id)).await?;
        Ok(ObservationConnection::new(found, total))
    }
}

/// One scan's sight of a service.
pub struct ServiceObservation(pub service_observation::Model);

impl From<service_observation::Model> for ServiceObservation {
    fn from(m: service_observation::Model) -> Self {
        Self(m)
    }
}

/// One scan's sight of a service.
#[Object]
impl ServiceObservation {
    /// When the scan saw it.
    async fn observed_at(&self) -> DateTime {
        self.0.observed_at.into()
    }

    /// Its state then.
    async fn state(&self) -> PortState {
        PortState::of(&self.0.state)
    }

    /// The service nmap named then.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// The software then.
    async fn product(&self) -> Option<&str> {
        self.0.product.as_deref()
    }

    /// Its version then.
    async fn version(&self) -> Option<&str> {
        self.0.version.as_deref()
    }

    /// The scan run (or import) that saw it.
    async fn scan_run_id(&self) -> ID {
        node::encode("ScanRun", self.0.run_id)
    }
}

connection!(ObservationConnection, ObservationEdge, ServiceObservation);

/// How a port's exposure changed.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ExposureChangeKind {
    /// It is open now and was not (or was never seen before).
    Opened,
    /// It was open and is not any more.
    Closed,
    /// It is still open, with another service, product or version.
    Changed,
}

impl ExposureChangeKind {
    fn of(s: &str) -> Self {
        match s {
            exposure::change::OPENED => Self::Opened,
            exposure::change::CLOSED => Self::Closed,
            _ => Self::Changed,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Opened => exposure::change::OPENED,
            Self::Closed => exposure::change::CLOSED,
            Self::Changed => exposure::change::CHANGED,
        }
    }
}

/// A port that opened, closed or changed its service, as one scan run found.
pub struct ExposureChange {
    pub change: exposure_change::Model,
    /// The host, when it was loaded with the change.
    pub host: Option<host::Model>,
}

impl From<exposure_change::Model> for ExposureChange {
    fn from(change: exposure_change::Model) -> Self {
        Self { change, host: None }
    }
}

/// A port that opened, closed or changed its service, as one scan run found.
#[Object]
impl ExposureChange {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("ExposureChange", self.change.id)
    }

    /// What happened.
    async fn kind(&self) -> ExposureChangeKind {
        ExposureChangeKind::of(&self.change.kind)
    }

    /// The host.
    async fn host(&self, ctx: &Context<'_>) -> Result<Host> {
        if let Some(h) = &self.host {
            return Ok(Host(h.clone()));
        }
        loaders::of(ctx)?
            .load_one(HostId(self.change.host_id))
            .await?
            .map(Host)
            .ok_or_else(|| AppError::not_found("host").into())
    }

    /// The service's global id (a `Service`).
    async fn service_id(&self) -> ID {
        node::encode("Service", self.change.service_id)
    }

    /// TCP, UDP or SCTP.
    async fn protocol(&self) -> Protocol {
        Protocol::of(&self.change.protocol)
    }

    /// The port number.
    async fn port(&self) -> i32 {
        self.change.port
    }

    /// The service before (name, product and version), when it was open.
    async fn previous(&self) -> Option<&str> {
        self.change.previous.as_deref()
    }

    /// The service now, when it is open.
    async fn current(&self) -> Option<&str> {
        self.change.current.as_deref()
    }

    /// When the scan saw the change.
    async fn at(&self) -> DateTime {
        self.change.at.into()
    }

    /// The scan run (or import) that found it.
    async fn scan_run_id(&self) -> ID {
        node::encode("ScanRun", self.change.run_id)
    }
}

connection!(ExposureChangeConnection, ExposureChangeEdge, ExposureChange);

/// Which exposure changes to list.
#[derive(InputObject, Default)]
pub struct ExposureChangeFilter {
    /// Only this host's.
    pub host_id: Option<ID>,
    /// Only those this scan run (or import) found.
    pub scan_run_id: Option<ID>,
    /// Only these kinds.
    pub kinds: Option<Vec<ExposureChangeKind>>,
    /// Only this port.
    pub port: Option<i32>,
    /// Only those at or after this time.
    pub since: Option<DateTime>,
    /// Only those before this time.
    pub until: Option<DateTime>,
}

impl ExposureChangeFilter {
    fn into_filter(self) -> Result<ChangeFilter> {
        let port = self
            .port
            .map(|p| u16::try_from(p).map_err(|_| AppError::bad_input("`port` is 0 to 65535")))
            .transpose()?;
        let kinds = self.kinds.unwrap_or_default();
        if kinds.len() > 3 {
            return Err(AppError::bad_input("`kinds` takes at most 3 values").into());
        }
        Ok(ChangeFilter {
            host_id: self
                .host_id
                .map(|id| node::decode(&id, "Host"))
                .transpose()?,
            run_id: self
                .scan_run_id
                .map(|id| node::decode(&id, "ScanRun"))
                .transpose()?,
            kinds: kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            port,
            since: self.since.map(|t| t.0),
            until: self.until.map(|t| t.0),
        })
    }
}

/// How many hosts have a port open.
#[derive(SimpleObject)]
pub struct PortCount {
    /// TCP, UDP or SCTP.
    pub protocol: Protocol,
    /// The port number.
    pub port: i32,
    /// How many of the hosts you see have it open.
    pub hosts: i64,
}

/// A port of a report's question.
#[derive(InputObject, Clone, Copy)]
pub struct PortInput {
    /// TCP when left out.
    #[graphql(default_with = "Protocol::Tcp")]
    pub protocol: Protocol,
    /// The port number, 0 to 65535.
    pub port: i32,
}

fn port_refs(name: &str, ports: Option<Vec<PortInput>>) -> Result<Vec<exposure::PortRef>> {
    ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let port = u16::try_from(p.port)
                .map_err(|_| AppError::bad_input(format!("`{name}`: a port is 0 to 65535")))?;
            let protocol = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            };
            Ok(exposure::PortRef { protocol, port })
        })
        .collect()
}

/// HECTOR's advanced search by open ports and tags.
#[derive(InputObject, Default)]
pub struct PortSearchInput {
    /// Hosts with at least one of these open.
    pub any: Option<Vec<PortInput>>,
    /// Hosts with every one of these open.
    pub all: Option<Vec<PortInput>>,
    /// Hosts with none of these open.
    pub none: Option<Vec<PortInput>>,
    /// Only hosts with one of these tags.
    pub tags_in: Option<Vec<String>>,
    /// No hosts with one of these tags.
    pub tags_out: Option<Vec<String>>,
}

impl PortSearchInput {
    fn into_search(self) -> Result<exposure::PortSearch> {
        Ok(exposure::PortSearch {
            any: port_refs("any", self.any)?,
            all: port_refs("all", self.all)?,
            none: port_refs("none", self.none)?,
            tags_in: self.tags_in.unwrap_or_default(),
            tags_out: self.tags_out.unwrap_or_default(),
        })
    }
}

/// A host with many open ports, or many risky ones.
#[derive(SimpleObject)]
pub struct DangerousHost {
    /// The host.
    pub host: Host,
    /// How many ports it has open.
    pub open_ports: i64,
    /// How many of them are on the risky list.
    pub risky_ports: i64,
}

/// Ports exposed hosts should not have open (remote shells, file sharing, databases, remote
/// desktops), for `dangerousHosts` when no list is given.
pub const RISKY_PORTS: [i32; 16] = [
    21, 23, 69, 135, 139, 445, 1433, 1521, 2049, 3306, 3389, 5432, 5900, 6379, 9200, 27017,
];

/// One period's exposure changes on one support group's hosts: what a notification would say.
pub struct ExposureDigest(pub exposure_digest::Model);

impl From<exposure_digest::Model> for ExposureDigest {
    fn from(m: exposure_digest::Model) -> Self {
        Self(m)
    }
}

/// One period's exposure changes on one support group's hosts: what a notification would say.
#[Object]
impl ExposureDigest {
    /// The support group; null for hosts without one (admins only).
    async fn support_group(&self, ctx: &Context<'_>) -> Result<Option<super::types::SupportGroup>> {
        let Some(id) = self.0.support_group_id else {
            return Ok(None);
        };
        Ok(loaders::of(ctx)?
            .load_one(loaders::SupportGroupId(id))
            .await?
            .map(super::types::SupportGroup))
    }

    /// Where the period starts.
    async fn period_start(&self) -> DateTime {
        self.0.period_start.into()
    }

    /// Where the period ends (when the digest was written).
    async fn period_end(&self) -> DateTime {
        self.0.period_end.into()
    }

    /// Ports that opened.
    async fn opened(&self) -> i64 {
        self.0.opened
    }

    /// Ports that closed.
    async fn closed(&self) -> i64 {
        self.0.closed
    }

    /// Services that changed.
    async fn changed(&self) -> i64 {
        self.0.changed
    }

    /// The changes (the first 1,000), oldest first.
    async fn changes(&self, ctx: &Context<'_>) -> Result<Vec<ExposureChange>> {
        let found = exposure::digest_changes(&state(ctx)?.db, &scope(ctx), &self.0).await?;
        Ok(found.into_iter().map(ExposureChange::from).collect())
    }
}

connection!(ExposureDigestConnection, ExposureDigestEdge, ExposureDigest);

#[derive(Default)]
pub struct ExposureQuery;

#[Object]
impl ExposureQuery {
    /// Ports that opened, closed or changed, newest first, on hosts you see.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn exposure_changes(
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
        #[graphql(desc = "Which changes.")] filter: Option<ExposureChangeFilter>,
    ) -> Result<ExposureChangeConnection> {
        let page = page(ctx, first, after, last, before)?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let (db, scope) = (list_reader(ctx).await?, scope(ctx));
        let found = exposure::changes(&db, &scope, &filter, &page).await?;
        let total = TotalCount::of(&db, exposure::count_changes(&db, &scope, &filter)).await?;
        Ok(ExposureChangeConnection::new(found, total))
    }

    /// The ports open on most of the hosts you see (HECTOR's "top ports").
    async fn top_open_ports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many ports, 1 to 1000.", default = 20)] limit: i32,
    ) -> Result<Vec<PortCount>> {
        if !(1..=1000).contains(&limit) {
            return Err(AppError::bad_input("`limit` is 1 to 1000").into());
        }
        let found = exposure::top_open_ports(&state(ctx)?.db, &scope(ctx), limit as u64).await?;
        Ok(found
            .into_iter()
            .map(|p| PortCount {
                protocol: Protocol::of(&p.protocol),
                port: p.port,
                hosts: p.hosts,
            })
            .collect())
    }

    /// Exposure digests of your support groups (admins: all), newest first; the
    /// `exposure-digest` job writes them (daily by default).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn exposure_digests(
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
        #[graphql(desc = "Only this support group's.")] support_group_id: Option<ID>,
    ) -> Result<ExposureDigestConnection> {
        let page = page(ctx, first, after, last, before)?;
        let group = support_group_id
            .map(|g| node::decode(&g, "SupportGroup"))
            .transpose()?;
        let (db, scope) = (list_reader(ctx).await?, scope(ctx));
        let found = exposure::digests(&db, &scope, group, &page).await?;
        let total = TotalCount::of(&db, exposure::count_digests(&db, &scope, group)).await?;
        Ok(ExposureDigestConnection::new(found, total))
    }

    /// Hosts by their open ports and tags (HECTOR's advanced search), by id.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn hosts_by_ports(
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
        #[graphql(desc = "The ports and tags.")] search: PortSearchInput,
    ) -> Result<super::types::HostConnection> {
        let page = page(ctx, first, after, last, before)?;
        let search = search.into_search()?;
        let (db, scope) = (list_reader(ctx).await?, scope(ctx));
        let found = exposure::hosts_by_ports(&db, &scope, &search, &page).await?;
        let total =
            TotalCount::of(&db, exposure::count_hosts_by_ports(&db, &scope, &search)).await?;
        Ok(super::types::HostConnection::new(found, total))
    }

    /// Hosts with more than `maxOpen` open ports, or more than `maxRisky` open ports from
    /// the risky list; most open ports first.
    async fn dangerous_hosts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "More open ports than this is dangerous.", default = 20)] max_open: i32,
        #[graphql(desc = "More risky open ports than this is dangerous.", default = 0)]
        max_risky: i32,
        #[graphql(
            desc = "The risky ports; a list of remote shells, file sharing, databases and remote desktops when left out."
        )]
        risky_ports: Option<Vec<i32>>,
        #[graphql(desc = "How many hosts, 1 to 1000.", default = 100)] limit: i32,
    ) -> Result<Vec<DangerousHost>> {
        let max_open =
            u32::try_from(max_open).map_err(|_| AppError::bad_input("`maxOpen` is 0 or more"))?;
        let max_risky =
            u32::try_from(max_risky).map_err(|_| AppError::bad_input("`maxRisky` is 0 or more"))?;
        if !(1..=1000).contains(&limit) {
            return Err(AppError::bad_input("`limit` is 1 to 1000").into());
        }
        let risky = risky_ports.unwrap_or_else(|| RISKY_PORTS.to_vec());
        if risky.len() > 1000 {
            return Err(AppError::bad_input("`riskyPorts` takes at most 1000 ports").into());
        }
        let risky: Vec<u16> = risky
            .into_iter()
            .map(|p| u16::try_from(p).map_err(|_| AppError::bad_input("a port is 0 to 65535")))
            .collect::<Result<_, _>>()?;
        let found = exposure::dangerous_hosts(
            &state(ctx)?.db,
            &scope(ctx),
            max_open,
            &risky,
            max_risky,
            limit as u64,
        )
        .await?;
        Ok(found
            .into_iter()
            .map(|d| DangerousHost {
                host: Host(d.host),
                open_ports: d.open,
                risky_ports: d.risky,
            })
            .collect())
    }

    /// Open services that serve the web (an `http` service, or a usual web port), by host
    /// and port.
    async fn web_servers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many services, 1 to 1000.", default = 100)] limit: i32,
    ) -> Result<Vec<Service>> {
        if !(1..=1000).contains(&limit) {
            return Err(AppError::bad_input("`limit` is 1 to 1000").into());
        }
        let found = exposure::web_servers(&state(ctx)?.db, &scope(ctx), limit as u64).await?;
        Ok(found.into_iter().map(Service).collect())
    }

    /// A service by id; null when there is none or its host is not yours to see.
    async fn service(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Service>> {
        let Some(id) = node::decode_of(&id, "Service")? else {
            return Ok(None);
        };
        Ok(exposure::service(&state(ctx)?.db, &scope(ctx), id)
            .await?
            .map(Service))
    }
}

/// The services of a host (asked through `Host.services`).
pub async fn services_of(
    ctx: &Context<'_>,
    host_id: i64,
    state_filter: Option<PortState>,
) -> Result<Vec<Service>> {
    let found = exposure::services_of(
        &state(ctx)?.db,
        host_id,
        state_filter.map(PortState::as_str),
    )
    .await?;
    Ok(found.into_iter().map(Service).collect())
}

/// The changes of one event, with their hosts, loaded once for every subscriber.
type EventChanges = Arc<Vec<(exposure_change::Model, Option<host::Model>)>>;

#[derive(Default)]
pub struct ExposureSubscription;

#[Subscription]
impl ExposureSubscription {
    /// Exposure changes as scans and imports commit them, on hosts you see.
    async fn exposure_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this host's.")] host_id: Option<ID>,
    ) -> Result<impl Stream<Item = ExposureChange> + use<>> {
        guard::check(
            crate::graphql::identity(ctx),
            super::access::rule("Subscription", "exposureEvents"),
            "Subscription",
            "exposureEvents",
            guard::Operation::Read,
        )?;
        let host_id = host_id.map(|id| node::decode(&id, "Host")).transpose()?;
        let st = state(ctx)?.clone();
        let resume = events::latest_id(&st.db).await?;
        let who = scope(ctx);
        let (db, bus) = (st.db.clone(), st.events.clone());
        let stream = events::subscribe(
            st.db.clone(),
            &st.events,
            EXPOSURE_TOPIC,
            Some(resume),
            st.shutdown.clone(),
        )
        .then(move |event| {
            let (db, bus, who) = (db.clone(), bus.clone(), who.clone());
            async move {
                let ids: Vec<i64> = event.items.iter().map(|i| i.id).collect();
                let loaded: Result<EventChanges, _> = bus
                    .shared(format!("exposure:{}:rows", event.id), || {
                        let (db, ids) = (db.clone(), ids.clone());
                        async move { exposure::changes_by_ids(&db, &ids).await }
                    })
                    .await;
                let changes = loaded.unwrap_or_else(|e| {
                    tracing::warn!(error = ?e, "cannot load the changes of an exposure event");
                    Arc::new(Vec::new())
                });
                let mine: Vec<ExposureChange> = changes
                    .iter()
                    .filter(|(c, h)| {
                        h.as_ref().is_some_and(|h| who.sees(h.support_group_id))
                            && host_id.is_none_or(|id| c.host_id == id)
                    })
                    .map(|(c, h)| ExposureChange {
                        change: c.clone(),
                        host: h.clone(),
                    })
                    .collect();
                futures_util::stream::iter(mine)
            }
        })
        .flatten();
        Ok(stream)
    }
}
