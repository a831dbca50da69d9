//! What hosts expose: services per host, port and protocol, their history (one observation per
//! run that saw them) and exposure changes (a port opened, closed, or its service changed).
//! Every scan result and every import of nmap XML lands through [`record_scan_batch`], one
//! batch of hosts per transaction, with one outbox event per kind of change per batch. Reading
//! them is in `read`, HECTOR's reports in `reports`, the digests per support group in `digest`.

mod digest;
mod read;
mod reports;

pub use digest::*;
pub use read::*;
pub use reports::*;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{exposure_change, host, host_service, service_observation};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};

use super::{names_text, scope_condition};
use crate::actor::HostScope;
use crate::db;
use crate::error::AppResult;
use crate::events::{self, ChangeKind, Item, NewEvent, Topic};
use crate::host::rows::host_event;
use crate::net;

/// The outbox topic of exposure changes.
pub const EXPOSURE_TOPIC: Topic = Topic("exposure");

/// Most services listed of one host (every TCP and UDP port, with room).
const MAX_SERVICES_PER_HOST: u64 = 140_000;

/// nmap's word for a port that answers.
pub const OPEN: &str = "open";

/// A port as a scan reported it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScannedPort {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: &'static str,
    pub port: u16,
    pub state: &'static str,
    pub name: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub extra_info: Option<String>,
    pub cpe: Option<String>,
    pub scripts: Vec<(String, String)>,
}

/// An operating system as a scan guessed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScannedOs {
    pub name: String,
    pub family: Option<String>,
    pub vendor: Option<String>,
    pub kind: Option<String>,
}

/// A host that was up, with what it exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedHost {
    pub address: IpAddr,
    pub hostnames: Vec<String>,
    pub os: Option<ScannedOs>,
    pub ports: Vec<ScannedPort>,
}

/// Where a batch of results came from and who is recording it.
pub struct ScanBatch<'a> {
    pub run_id: i64,
    /// When the scan saw these hosts (an import: when its nmap run started).
    pub at: DateTime<Utc>,
    pub hosts: &'a [ScannedHost],
    /// Whether the scan probed a port (`protocol`, `port`): an open port of an up host that
    /// was probed and not reported open is closed now.
    pub probed: &'a (dyn Fn(&str, u16) -> bool + Sync),
    /// Which hosts the recorder may touch.
    pub scope: &'a HostScope,
    /// The support group of hosts the scan finds that are not in the inventory yet; a recorder
    /// who does not see every host may only add hosts to one of their own groups.
    pub new_host_group: Option<i64>,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub hosts_created: u64,
    pub hosts_updated: u64,
    /// Ports recorded (every state).
    pub ports: u64,
    pub changes: u64,
    /// Hosts refused, with the reason, by their position in the batch.
    pub refused: Vec<(usize, String)>,
}

/// The kind of an exposure change.
pub mod change {
    pub const OPENED: &str = "OPENED";
    pub const CLOSED: &str = "CLOSED";
    pub const CHANGED: &str = "CHANGED";
}

fn describe(name: Option<&str>, product: Option<&str>, version: Option<&str>) -> Option<String> {
    let text = [name, product, version]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!text.is_empty()).then(|| crate::validate::truncate(&text, 255))
}

fn scripts_json(scripts: &[(String, String)]) -> Option<String> {
    (!scripts.is_empty())
        .then(|| serde_json::to_string(scripts).ok())
        .flatten()
}

/// Records one batch of scan results in the caller's transaction: creates hosts not in the
/// inventory, updates operating systems, upserts services, writes an observation per port and
/// the exposure changes, and records one event per kind of change. Recording the same results
/// again (a re-import) changes nothing.
pub async fn record_scan_batch(
    db: &impl ConnectionTrait,
    batch: ScanBatch<'_>,
) -> AppResult<BatchOutcome> {
    let mut outcome = BatchOutcome::default();
    let at = batch.at;
    let keys: Vec<Vec<u8>> = batch.hosts.iter().map(|h| net::ip_key(h.address)).collect();
    let mut by_key: HashMap<Vec<u8>, host::Model> = HashMap::new();
    for chunk in keys.chunks(1000) {
        for h in host::Entity::find()
            .filter(host::Column::Address.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            by_key.insert(h.address.clone(), h);
        }
    }
    // Hosts the recorder may not touch, and new ones they may not add.
    let everyone = *batch.scope == HostScope::All;
    let mut accepted: Vec<usize> = Vec::with_capacity(batch.hosts.len());
    let mut seen_keys = HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        if !seen_keys.insert(key.clone()) {
            outcome
                .refused
                .push((i, "the same address twice in one batch".into()));
            continue;
        }
        match by_key.get(key) {
            Some(h) if !batch.scope.sees(h.support_group_id) => outcome
                .refused
                .push((i, "the host belongs to another support group".into())),
            None if !everyone && !batch.scope.sees(batch.new_host_group) => outcome.refused.push((
                i,
                "the host is not in the inventory, and only admins add hosts outside \
                     their support groups"
                    .into(),
            )),
            _ => accepted.push(i),
        }
    }
    // New hosts, in one statement per chunk.
    let fresh: Vec<host::ActiveModel> = accepted
        .iter()
        .filter(|i| !by_key.contains_key(&keys[**i]))
        .map(|&i| {
            let h = &batch.hosts[i];
            let (names, name_key) = names_text(&h.hostnames);
            let os = h.os.clone().unwrap_or_default();
            host::ActiveModel {
                address: Set(keys[i].clone()),
                names: Set(names),
                name_key: Set(name_key),
                os_name: Set((!os.name.is_empty()).then_some(os.name)),
                os_family: Set(os.family),
                os_vendor: Set(os.vendor),
                os_type: Set(os.kind),
                confidential_data: Set(false),
                support_group_id: Set(batch.new_host_group),
                first_seen: Set(Some(at)),
                last_seen: Set(Some(at)),
                created_at: Set(db::now()),
                updated_at: Set(db::now()),
                ..Default::default()
            }
        })
        .collect();
    outcome.hosts_created = fresh.len() as u64;
    for chunk in fresh.chunks(db::chunk_size(14)) {
        host::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    let mut created: Vec<host::Model> = Vec::new();
    if !fresh.is_empty() {
        let missing: Vec<Vec<u8>> = accepted
            .iter()
            .map(|i| keys[*i].clone())
            .filter(|k| !by_key.contains_key(k))
            .collect();
        for chunk in missing.chunks(1000) {
            for h in host::Entity::find()
                .filter(host::Column::Address.is_in(chunk.to_vec()))
                .all(db)
                .await?
            {
                created.push(h.clone());
                by_key.insert(h.address.clone(), h);
            }
        }
    }
    // Known hosts: operating system, names when they had none, and when they were seen.
    let created_ids: HashSet<i64> = created.iter().map(|h| h.id).collect();
    let mut updated: Vec<host::Model> = Vec::new();
    let mut seen_only: Vec<i64> = Vec::new();
    for &i in &accepted {
        let Some(h) = by_key.get(&keys[i]) else {
            continue;
        };
        if created_ids.contains(&h.id) {
            continue;
        }
        let scanned = &batch.hosts[i];
        let mut row: host::ActiveModel = h.clone().into();
        let mut changed = false;
        if let Some(os) = &scanned.os
            && h.last_seen.is_none_or(|l| l <= at)
            && (h.os_name.as_deref() != Some(os.name.as_str())
                || h.os_family != os.family
                || h.os_vendor != os.vendor
                || h.os_type != os.kind)
        {
            row.os_name = Set(Some(os.name.clone()));
            row.os_family = Set(os.family.clone());
            row.os_vendor = Set(os.vendor.clone());
            row.os_type = Set(os.kind.clone());
            changed = true;
        }
        if h.names.is_empty() && !scanned.hostnames.is_empty() {
            let (names, key) = names_text(&scanned.hostnames);
            row.names = Set(names);
            row.name_key = Set(key);
            changed = true;
        }
        if changed {
            row.last_seen = Set(Some(h.last_seen.map_or(at, |l| l.max(at))));
            row.first_seen = Set(Some(h.first_seen.map_or(at, |f| f.min(at))));
            row.updated_at = Set(db::now());
            updated.push(row.update(db).await?);
        } else if h.last_seen.is_none_or(|l| l < at) || h.first_seen.is_none_or(|f| f > at) {
            seen_only.push(h.id);
        }
    }
    for chunk in seen_only.chunks(1000) {
        // Moves `last_seen` forward and `first_seen` back to this scan: not a change anyone
        // is told about.
        host::Entity::update_many()
            .col_expr(host::Column::LastSeen, Expr::val(at))
            .filter(host::Column::Id.is_in(chunk.to_vec()))
            .filter(
                sea_orm::Condition::any()
                    .add(host::Column::LastSeen.is_null())
                    .add(host::Column::LastSeen.lt(at)),
            )
            .exec(db)
            .await?;
        host::Entity::update_many()
            .col_expr(host::Column::FirstSeen, Expr::val(at))
            .filter(host::Column::Id.is_in(chunk.to_vec()))
            .filter(
                sea_orm::Condition::any()
                    .add(host::Column::FirstSeen.is_null())
                    .add(host::Column::FirstSeen.gt(at)),
            )
            .exec(db)
            .await?;
    }
    outcome.hosts_updated = updated.len() as u64;

    // Services.
    let host_ids: Vec<i64> = accepted
        .iter()
        .filter_map(|i| by_key.get(&keys[*i]).map(|h| h.id))
        .collect();
    let mut existing: HashMap<(i64, String, i32), host_service::Model> = HashMap::new();
    for chunk in host_ids.chunks(1000) {
        for s in host_service::Entity::find()
            .filter(host_service::Column::HostId.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            existing.insert((s.host_id, s.protocol.clone(), s.port), s);
        }
    }
    let mut new_services: Vec<host_service::ActiveModel> = Vec::new();
    // (host, protocol, port, state, name, product, version) of each observation.
    type Seen = (
        i64,
        &'static str,
        i32,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut observations: Vec<Seen> = Vec::new();
    let mut changes: Vec<exposure_change::ActiveModel> = Vec::new();
    let mut touched: Vec<i64> = Vec::new();
    let change_row = |host_id: i64,
                      service_id: i64,
                      kind: &str,
                      protocol: &str,
                      port: i32,
                      previous: Option<String>,
                      current: Option<String>| exposure_change::ActiveModel {
        host_id: Set(host_id),
        service_id: Set(service_id),
        run_id: Set(batch.run_id),
        kind: Set(kind.to_owned()),
        protocol: Set(protocol.to_owned()),
        port: Set(port),
        previous: Set(previous),
        current: Set(current),
        at: Set(at),
        ..Default::default()
    };
    // Changes of services that do not exist yet, completed once they have ids.
    let mut pending_opened: Vec<(i64, &'static str, i32, Option<String>)> = Vec::new();
    for &i in &accepted {
        let Some(h) = by_key.get(&keys[i]) else {
            continue;
        };
        let scanned = &batch.hosts[i];
        let mut reported: HashSet<(&str, i32)> = HashSet::new();
        for p in &scanned.ports {
            let port = i32::from(p.port);
            if !reported.insert((p.protocol, port)) {
                continue;
            }
            outcome.ports += 1;
            observations.push((
                h.id,
                p.protocol,
                port,
                p.state.to_owned(),
                p.name.clone(),
                p.product.clone(),
                p.version.clone(),
            ));
            let now_text = describe(
                p.name.as_deref(),
                p.product.as_deref(),
                p.version.as_deref(),
            );
            let scripts = scripts_json(&p.scripts);
            match existing.get(&(h.id, p.protocol.to_owned(), port)) {
                None => {
                    new_services.push(host_service::ActiveModel {
                        host_id: Set(h.id),
                        protocol: Set(p.protocol.to_owned()),
                        port: Set(port),
                        state: Set(p.state.to_owned()),
                        name: Set(p.name.clone()),
                        product: Set(p.product.clone()),
                        version: Set(p.version.clone()),
                        extra_info: Set(p.extra_info.clone()),
                        cpe: Set(p.cpe.clone()),
                        scripts: Set(scripts),
                        first_seen: Set(at),
                        last_seen: Set(at),
                        state_changed_at: Set(at),
                        last_run_id: Set(Some(batch.run_id)),
                        ..Default::default()
                    });
                    if p.state == OPEN {
                        pending_opened.push((h.id, p.protocol, port, now_text));
                    }
                }
                Some(s) if s.last_seen > at => {
                    // An older scan than the one the service shows: history only.
                }
                Some(s) => {
                    let was_open = s.state == OPEN;
                    let is_open = p.state == OPEN;
                    let before = describe(
                        s.name.as_deref(),
                        s.product.as_deref(),
                        s.version.as_deref(),
                    );
                    let same = s.state == p.state
                        && s.name == p.name
                        && s.product == p.product
                        && s.version == p.version
                        && s.extra_info == p.extra_info
                        && s.cpe == p.cpe
                        && s.scripts == scripts;
                    if same {
                        if s.last_seen < at {
                            touched.push(s.id);
                        }
                        continue;
                    }
                    let mut row: host_service::ActiveModel = s.clone().into();
                    row.state = Set(p.state.to_owned());
                    row.name = Set(p.name.clone());
                    row.product = Set(p.product.clone());
                    row.version = Set(p.version.clone());
                    row.extra_info = Set(p.extra_info.clone());
                    row.cpe = Set(p.cpe.clone());
                    row.scripts = Set(scripts);
                    row.last_seen = Set(at);
                    row.last_run_id = Set(Some(batch.run_id));
                    if s.state != p.state {
                        row.state_changed_at = Set(at);
                    }
                    row.update(db).await?;
                    let kind = match (was_open, is_open) {
                        (false, true) => Some(change::OPENED),
                        (true, false) => Some(change::CLOSED),
                        (true, true) if before != now_text => Some(change::CHANGED),
                        _ => None,
                    };
                    if let Some(kind) = kind {
                        changes.push(change_row(
                            h.id, s.id, kind, p.protocol, port, before, now_text,
                        ));
                    }
                }
            }
        }
        // Open services of this host that the scan probed and did not find open.
        let gone: Vec<&host_service::Model> = existing
            .values()
            .filter(|s| {
                s.host_id == h.id
                    && s.state == OPEN
                    && s.last_seen <= at
                    && !reported.contains(&(s.protocol.as_str(), s.port))
                    && u16::try_from(s.port).is_ok_and(|p| (batch.probed)(&s.protocol, p))
            })
            .collect();
        for s in gone {
            let before = describe(
                s.name.as_deref(),
                s.product.as_deref(),
                s.version.as_deref(),
            );
            host_service::Entity::update_many()
                .col_expr(host_service::Column::State, Expr::val("closed"))
                .col_expr(host_service::Column::LastSeen, Expr::val(at))
                .col_expr(host_service::Column::StateChangedAt, Expr::val(at))
                .col_expr(host_service::Column::LastRunId, Expr::val(batch.run_id))
                .filter(host_service::Column::Id.eq(s.id))
                .exec(db)
                .await?;
            let protocol: &'static str = match s.protocol.as_str() {
                "udp" => "udp",
                "sctp" => "sctp",
                _ => "tcp",
            };
            observations.push((h.id, protocol, s.port, "closed".into(), None, None, None));
            changes.push(change_row(
                h.id,
                s.id,
                change::CLOSED,
                &s.protocol,
                s.port,
                before,
                None,
            ));
        }
    }
    for chunk in touched.chunks(1000) {
        host_service::Entity::update_many()
            .col_expr(host_service::Column::LastSeen, Expr::val(at))
            .col_expr(host_service::Column::LastRunId, Expr::val(batch.run_id))
            .filter(host_service::Column::Id.is_in(chunk.to_vec()))
            .exec(db)
            .await?;
    }
    for chunk in new_services.chunks(db::chunk_size(15)) {
        host_service::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    // Every service of these hosts, now with ids.
    let existing_ids: HashSet<i64> = existing.values().map(|s| s.id).collect();
    let mut ids: HashMap<(i64, String, i32), i64> = existing
        .values()
        .map(|s| ((s.host_id, s.protocol.clone(), s.port), s.id))
        .collect();
    if !new_services.is_empty() {
        let mut with_new: Vec<i64> = new_services
            .iter()
            .filter_map(|s| match &s.host_id {
                sea_orm::ActiveValue::Set(h) => Some(*h),
                _ => None,
            })
            .collect();
        with_new.sort_unstable();
        with_new.dedup();
        for chunk in with_new.chunks(1000) {
            let rows: Vec<(i64, i64, String, i32)> = host_service::Entity::find()
                .select_only()
                .column(host_service::Column::Id)
                .column(host_service::Column::HostId)
                .column(host_service::Column::Protocol)
                .column(host_service::Column::Port)
                .filter(host_service::Column::HostId.is_in(chunk.to_vec()))
                .into_tuple()
                .all(db)
                .await?;
            ids.extend(rows.into_iter().map(|(id, h, p, n)| ((h, p, n), id)));
        }
    }
    for (host_id, protocol, port, current) in pending_opened {
        if let Some(&sid) = ids.get(&(host_id, protocol.to_owned(), port)) {
            changes.push(change_row(
                host_id,
                sid,
                change::OPENED,
                protocol,
                port,
                None,
                current,
            ));
        }
    }
    // Observations, once per service and moment (a re-import adds none).
    let service_ids: Vec<i64> = observations
        .iter()
        .filter_map(|o| ids.get(&(o.0, o.1.to_owned(), o.2)).copied())
        .collect();
    // Only services that existed before this batch can have an observation of this moment.
    let service_ids: Vec<i64> = service_ids
        .into_iter()
        .filter(|id| existing_ids.contains(id))
        .collect();
    let mut already: HashSet<i64> = HashSet::new();
    for chunk in service_ids.chunks(1000) {
        let rows: Vec<i64> = service_observation::Entity::find()
            .select_only()
            .column(service_observation::Column::ServiceId)
            .filter(service_observation::Column::ServiceId.is_in(chunk.to_vec()))
            .filter(service_observation::Column::ObservedAt.eq(at))
            .into_tuple()
            .all(db)
            .await?;
        already.extend(rows);
    }
    let rows: Vec<service_observation::ActiveModel> = observations
        .into_iter()
        .filter_map(|(h, protocol, port, state, name, product, version)| {
            let sid = *ids.get(&(h, protocol.to_owned(), port))?;
            already
                .insert(sid)
                .then(|| service_observation::ActiveModel {
                    service_id: Set(sid),
                    run_id: Set(batch.run_id),
                    observed_at: Set(at),
                    state: Set(state),
                    name: Set(name),
                    product: Set(product),
                    version: Set(version),
                    ..Default::default()
                })
        })
        .collect();
    for chunk in rows.chunks(db::chunk_size(8)) {
        service_observation::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    outcome.changes = changes.len() as u64;
    let mut changed_hosts: Vec<i64> = changes
        .iter()
        .filter_map(|c| match &c.host_id {
            sea_orm::ActiveValue::Set(id) => Some(*id),
            _ => None,
        })
        .collect();
    changed_hosts.sort_unstable();
    changed_hosts.dedup();
    for chunk in changes.chunks(db::chunk_size(10)) {
        exposure_change::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    // Events: one per kind of change in this batch, not one per host or port.
    let mut new_events = Vec::new();
    if !created.is_empty() {
        new_events.push(host_event(ChangeKind::Created, &created));
    }
    if !updated.is_empty() {
        new_events.push(host_event(ChangeKind::Updated, &updated));
    }
    if !changed_hosts.is_empty() {
        // By host (an index), not by run: a run's changes grow with every batch.
        let mut change_ids: Vec<i64> = Vec::new();
        for chunk in changed_hosts.chunks(1000) {
            let rows: Vec<i64> = exposure_change::Entity::find()
                .select_only()
                .column(exposure_change::Column::Id)
                .filter(exposure_change::Column::HostId.is_in(chunk.to_vec()))
                .filter(exposure_change::Column::RunId.eq(batch.run_id))
                .filter(exposure_change::Column::At.eq(at))
                .into_tuple()
                .all(db)
                .await?;
            change_ids.extend(rows);
        }
        new_events.push(NewEvent {
            topic: EXPOSURE_TOPIC,
            kind: ChangeKind::Created,
            items: change_ids
                .into_iter()
                .map(|id| Item {
                    id,
                    data: serde_json::Value::Null,
                })
                .collect(),
        });
    }
    events::record(db, new_events).await?;
    Ok(outcome)
}
