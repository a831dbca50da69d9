//! Findings into the database: the catalog entry of each check, the finding per host,
//! vulnerability, port and protocol, its status history and what each import saw. One batch
//! of a report per call, in the caller's transaction, with one outbox event per kind of
//! change per batch. Every function takes `&impl ConnectionTrait` and opens no transaction.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{
    finding, finding_change, finding_import, finding_import_host, finding_sighting, vulnerability,
    vulnerability_cve,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::lifecycle::{Outcome, Status};
use super::parse::Finding;
use super::{FINDING_TOPIC, Source};
use crate::db;
use crate::error::AppResult;
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::host::service::{Intake, resolve};

/// A batch of one report.
pub struct Batch<'a> {
    pub import_id: i64,
    pub source: Source,
    /// When the report saw these findings.
    pub at: DateTime<Utc>,
    pub findings: &'a [Finding],
    /// Hosts the report covered (with or without findings): the ones whose absent findings
    /// the import fixes when it ends.
    pub covered: &'a [IpAddr],
    pub intake: Intake<'a>,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Findings recorded (new, seen again or reopened).
    pub findings: u64,
    pub new: u64,
    pub reopened: u64,
    /// Hosts of the batch (covered or with findings) this import had not met yet.
    pub hosts: u64,
    /// Findings refused, with the reason, by their position in the batch.
    pub refused: Vec<(usize, String)>,
}

/// The catalog key of a check: its scanner and id, or its name when it has no id (nmap's
/// script findings are named per CVE and product).
fn vuln_key(source: Source, f: &Finding) -> String {
    let id = match (&f.check_id, source) {
        (Some(id), Source::OpenVas | Source::Nessus) => format!("id\n{id}"),
        _ => format!("name\n{}", f.name.to_lowercase()),
    };
    crate::auth::service::sha256_hex(&format!("{}\n{id}", source.as_str()))
}

fn refs_json(f: &Finding) -> String {
    serde_json::to_string(&f.references).unwrap_or_else(|_| "[]".into())
}

fn catalog_row(
    source: Source,
    key: String,
    f: &Finding,
    now: DateTime<Utc>,
) -> vulnerability::ActiveModel {
    vulnerability::ActiveModel {
        vuln_key: Set(key),
        source: Set(source.as_str().to_owned()),
        check_id: Set(f.check_id.clone()),
        name: Set(f.name.clone()),
        description: Set(f.description.clone()),
        solution: Set(f.solution.clone()),
        cvss: Set(f.cvss.map(f64::from)),
        cvss_vector: Set(f.cvss_vector.clone()),
        refs: Set(refs_json(f)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// The catalog entries of `findings`, added or refreshed (a newer report's text wins): the id
/// of each finding's check, by key.
async fn catalog(
    db: &impl ConnectionTrait,
    source: Source,
    findings: &[&Finding],
) -> AppResult<HashMap<String, i64>> {
    let now = db::now();
    let mut first: HashMap<String, &Finding> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for f in findings {
        let key = vuln_key(source, f);
        if let std::collections::hash_map::Entry::Vacant(slot) = first.entry(key.clone()) {
            order.push(key);
            slot.insert(f);
        }
    }
    let mut known: HashMap<String, vulnerability::Model> = HashMap::new();
    for chunk in order.chunks(500) {
        for v in vulnerability::Entity::find()
            .filter(vulnerability::Column::VulnKey.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            known.insert(v.vuln_key.clone(), v);
        }
    }
    let fresh: Vec<vulnerability::ActiveModel> = order
        .iter()
        .filter(|k| !known.contains_key(*k))
        .filter_map(|k| first.get(k).map(|f| catalog_row(source, k.clone(), f, now)))
        .collect();
    let mut cve_rows: Vec<(String, String)> = Vec::new();
    for chunk in fresh.chunks(db::chunk_size(12)) {
        vulnerability::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([vulnerability::Column::VulnKey])
            .exec_without_returning(db)
            .await?;
    }
    let missing: Vec<String> = order
        .iter()
        .filter(|k| !known.contains_key(*k))
        .cloned()
        .collect();
    for chunk in missing.chunks(500) {
        for v in vulnerability::Entity::find()
            .filter(vulnerability::Column::VulnKey.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            if let Some(f) = first.get(&v.vuln_key) {
                cve_rows.extend(f.cves.iter().map(|c| (v.vuln_key.clone(), c.clone())));
            }
            known.insert(v.vuln_key.clone(), v);
        }
    }
    // Entries a newer report describes differently.
    for key in &order {
        let (Some(v), Some(f)) = (known.get(key), first.get(key)) else {
            continue;
        };
        if missing.contains(key) {
            continue;
        }
        let refs = refs_json(f);
        let cvss = f.cvss.map(f64::from);
        let differs = v.name != f.name
            || (f.description.is_some() && v.description != f.description)
            || (f.solution.is_some() && v.solution != f.solution)
            || (cvss.is_some() && v.cvss != cvss)
            || (f.cvss_vector.is_some() && v.cvss_vector != f.cvss_vector)
            || (!f.references.is_empty() && v.refs != refs);
        if differs {
            let mut row: vulnerability::ActiveModel = v.clone().into();
            row.name = Set(f.name.clone());
            if f.description.is_some() {
                row.description = Set(f.description.clone());
            }
            if f.solution.is_some() {
                row.solution = Set(f.solution.clone());
            }
            if cvss.is_some() {
                row.cvss = Set(cvss);
            }
            if f.cvss_vector.is_some() {
                row.cvss_vector = Set(f.cvss_vector.clone());
            }
            if !f.references.is_empty() {
                row.refs = Set(refs);
            }
            row.updated_at = Set(now);
            row.update(db).await?;
            cve_rows.extend(f.cves.iter().map(|c| (key.clone(), c.clone())));
        }
    }
    let cves: Vec<vulnerability_cve::ActiveModel> = cve_rows
        .into_iter()
        .filter_map(|(key, cve)| {
            known.get(&key).map(|v| vulnerability_cve::ActiveModel {
                cve: Set(cve),
                vulnerability_id: Set(v.id),
            })
        })
        .collect();
    for chunk in cves.chunks(db::chunk_size(2)) {
        vulnerability_cve::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                vulnerability_cve::Column::Cve,
                vulnerability_cve::Column::VulnerabilityId,
            ])
            .exec_without_returning(db)
            .await?;
    }
    Ok(known.into_iter().map(|(k, v)| (k, v.id)).collect())
}

/// A finding's identity: host, vulnerability, port (0 for none), protocol (empty for none).
type Key = (i64, i64, i32, String);

fn key_of(host_id: i64, vuln_id: i64, f: &Finding) -> Key {
    (
        host_id,
        vuln_id,
        f.port.map_or(0, i32::from),
        if f.port.is_some() {
            f.protocol.clone().unwrap_or_default()
        } else {
            String::new()
        },
    )
}

async fn existing(
    db: &impl ConnectionTrait,
    host_ids: &[i64],
    vuln_ids: &[i64],
) -> AppResult<HashMap<Key, finding::Model>> {
    let mut out = HashMap::new();
    for hosts in host_ids.chunks(500) {
        for vulns in vuln_ids.chunks(500) {
            for f in finding::Entity::find()
                .filter(finding::Column::HostId.is_in(hosts.to_vec()))
                .filter(finding::Column::VulnerabilityId.is_in(vulns.to_vec()))
                .all(db)
                .await?
            {
                out.insert(
                    (f.host_id, f.vulnerability_id, f.port, f.protocol.clone()),
                    f,
                );
            }
        }
    }
    Ok(out)
}

/// Who an import's changes are by, in a finding's history.
pub fn import_author(import_id: i64) -> String {
    format!("import {import_id}")
}

/// Records one batch of a report: the checks in the catalog, new findings (open), findings
/// seen again (a fixed one reopened), the hosts the import covered, the sightings, and one
/// event per kind of change. Recording the same findings again in the same import, or in
/// a re-import of the same report, changes no status.
pub async fn record_batch(db: &impl ConnectionTrait, batch: Batch<'_>) -> AppResult<BatchOutcome> {
    let mut outcome = BatchOutcome::default();
    let addresses: Vec<Option<IpAddr>> = batch.findings.iter().map(|f| f.address).collect();
    let mut known: Vec<IpAddr> = addresses.iter().flatten().copied().collect();
    known.extend(batch.covered);
    let hosts = resolve(db, &known, batch.intake).await?;
    let mut covered_ids: Vec<i64> = hosts
        .values()
        .filter_map(|h| h.as_ref().ok().map(|h| h.id))
        .collect();
    covered_ids.sort_unstable();
    covered_ids.dedup();
    outcome.hosts = cover(db, batch.import_id, &covered_ids).await?;
    let mut accepted: Vec<(usize, i64)> = Vec::with_capacity(batch.findings.len());
    for (i, address) in addresses.iter().enumerate() {
        match address.map(|a| hosts.get(&a)) {
            None => outcome.refused.push((
                i,
                format!(
                    "the report gives no address for host `{}`",
                    crate::validate::truncate(&batch.findings[i].host, 80)
                ),
            )),
            Some(None) => outcome
                .refused
                .push((i, "the host could not be recorded".into())),
            Some(Some(Err(why))) => outcome.refused.push((i, why.clone())),
            Some(Some(Ok(h))) => accepted.push((i, h.id)),
        }
    }
    if accepted.is_empty() {
        return Ok(outcome);
    }
    let checks: Vec<&Finding> = accepted.iter().map(|(i, _)| &batch.findings[*i]).collect();
    let vuln_ids = catalog(db, batch.source, &checks).await?;
    let mut host_ids: Vec<i64> = accepted.iter().map(|(_, h)| *h).collect();
    host_ids.sort_unstable();
    host_ids.dedup();
    let mut ids: Vec<i64> = vuln_ids.values().copied().collect();
    ids.sort_unstable();
    let before = existing(db, &host_ids, &ids).await?;

    let by = import_author(batch.import_id);
    let at = batch.at;
    let mut fresh: Vec<finding::ActiveModel> = Vec::new();
    let mut fresh_keys: HashSet<Key> = HashSet::new();
    let mut seen_ids: Vec<i64> = Vec::new();
    let mut reopened_ids: Vec<i64> = Vec::new();
    let mut in_batch: HashSet<Key> = HashSet::new();
    for (i, host_id) in &accepted {
        let f = &batch.findings[*i];
        let Some(vuln_id) = vuln_ids.get(&vuln_key(batch.source, f)).copied() else {
            continue;
        };
        let key = key_of(*host_id, vuln_id, f);
        if !in_batch.insert(key.clone()) {
            // The same finding twice in one batch (a report listing a port twice).
            outcome.findings += 1;
            continue;
        }
        outcome.findings += 1;
        match before.get(&key) {
            Some(old) if old.last_import_id == Some(batch.import_id) => {}
            Some(old) => {
                let status = Status::parse(&old.status).unwrap_or(Status::Open);
                if status.after_import(true) == Some(Status::Reopened) {
                    reopened_ids.push(old.id);
                } else {
                    seen_ids.push(old.id);
                }
                let risk = f.risk.level();
                if old.risk != risk || old.output != f.output || old.service != f.service {
                    let mut row: finding::ActiveModel = old.clone().into();
                    row.risk = Set(risk);
                    row.output = Set(f.output.clone());
                    row.service = Set(f.service.clone());
                    row.update(db).await?;
                }
            }
            None => {
                fresh_keys.insert(key.clone());
                fresh.push(finding::ActiveModel {
                    host_id: Set(*host_id),
                    vulnerability_id: Set(vuln_id),
                    port: Set(key.2),
                    protocol: Set(key.3.clone()),
                    service: Set(f.service.clone()),
                    risk: Set(f.risk.level()),
                    status: Set(Status::Open.as_str().to_owned()),
                    output: Set(f.output.clone()),
                    ticket_url: Set(None),
                    first_seen: Set(at),
                    last_seen: Set(at),
                    first_import_id: Set(Some(batch.import_id)),
                    last_import_id: Set(Some(batch.import_id)),
                    status_changed_at: Set(at),
                    status_changed_by: Set(by.clone()),
                    status_reason: Set(None),
                    ..Default::default()
                });
            }
        }
    }
    for chunk in fresh.chunks(db::chunk_size(17)) {
        finding::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    let mut new_ids: Vec<i64> = Vec::new();
    if !fresh_keys.is_empty() {
        let after = existing(db, &host_ids, &ids).await?;
        new_ids = fresh_keys
            .iter()
            .filter_map(|k| after.get(k).map(|f| f.id))
            .collect();
        new_ids.sort_unstable();
    }
    outcome.new = new_ids.len() as u64;
    outcome.reopened = reopened_ids.len() as u64;

    let both: Vec<i64> = seen_ids.iter().chain(&reopened_ids).copied().collect();
    for chunk in both.chunks(1000) {
        finding::Entity::update_many()
            .col_expr(finding::Column::LastSeen, Expr::val(at))
            .col_expr(finding::Column::LastImportId, Expr::val(batch.import_id))
            .filter(finding::Column::Id.is_in(chunk.to_vec()))
            .exec(db)
            .await?;
    }
    let reason = format!("reported again by import {}", batch.import_id);
    for chunk in reopened_ids.chunks(1000) {
        finding::Entity::update_many()
            .col_expr(
                finding::Column::Status,
                Expr::val(Status::Reopened.as_str()),
            )
            .col_expr(finding::Column::StatusChangedAt, Expr::val(at))
            .col_expr(finding::Column::StatusChangedBy, Expr::val(by.clone()))
            .col_expr(finding::Column::StatusReason, Expr::val(reason.clone()))
            .filter(finding::Column::Id.is_in(chunk.to_vec()))
            .exec(db)
            .await?;
    }
    // History and sightings.
    let mut changes: Vec<finding_change::ActiveModel> = Vec::new();
    let change = |id: i64, from: Option<Status>, to: Status, reason: Option<String>| {
        finding_change::ActiveModel {
            finding_id: Set(id),
            at: Set(at),
            from_status: Set(from.map(|s| s.as_str().to_owned())),
            to_status: Set(to.as_str().to_owned()),
            by_user_id: Set(None),
            by_name: Set(by.clone()),
            reason: Set(reason),
            import_id: Set(Some(batch.import_id)),
            ..Default::default()
        }
    };
    changes.extend(
        new_ids
            .iter()
            .map(|id| change(*id, None, Status::Open, None)),
    );
    changes.extend(reopened_ids.iter().map(|id| {
        change(
            *id,
            Some(Status::Fixed),
            Status::Reopened,
            Some(reason.clone()),
        )
    }));
    for chunk in changes.chunks(db::chunk_size(9)) {
        finding_change::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    let sighting = |id: &i64, o: Outcome| finding_sighting::ActiveModel {
        import_id: Set(batch.import_id),
        finding_id: Set(*id),
        outcome: Set(o.as_str().to_owned()),
    };
    let sightings: Vec<finding_sighting::ActiveModel> = new_ids
        .iter()
        .map(|id| sighting(id, Outcome::New))
        .chain(seen_ids.iter().map(|id| sighting(id, Outcome::Seen)))
        .chain(
            reopened_ids
                .iter()
                .map(|id| sighting(id, Outcome::Reopened)),
        )
        .collect();
    for chunk in sightings.chunks(db::chunk_size(3)) {
        finding_sighting::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                finding_sighting::Column::ImportId,
                finding_sighting::Column::FindingId,
            ])
            .exec_without_returning(db)
            .await?;
    }
    let mut new_events = Vec::new();
    if !new_ids.is_empty() {
        new_events.push(finding_event(ChangeKind::Created, &new_ids));
    }
    if !reopened_ids.is_empty() {
        new_events.push(finding_event(ChangeKind::Updated, &reopened_ids));
    }
    events::record(db, new_events).await?;
    Ok(outcome)
}

/// Records that import `import_id` covered hosts `host_ids`; how many it had not met before.
async fn cover(db: &impl ConnectionTrait, import_id: i64, host_ids: &[i64]) -> AppResult<u64> {
    let mut met: HashSet<i64> = HashSet::new();
    for chunk in host_ids.chunks(1000) {
        met.extend(
            finding_import_host::Entity::find()
                .select_only()
                .column(finding_import_host::Column::HostId)
                .filter(finding_import_host::Column::ImportId.eq(import_id))
                .filter(finding_import_host::Column::HostId.is_in(chunk.to_vec()))
                .into_tuple::<i64>()
                .all(db)
                .await?,
        );
    }
    let rows: Vec<finding_import_host::ActiveModel> = host_ids
        .iter()
        .filter(|h| !met.contains(h))
        .map(|h| finding_import_host::ActiveModel {
            import_id: Set(import_id),
            host_id: Set(*h),
        })
        .collect();
    for chunk in rows.chunks(db::chunk_size(2)) {
        finding_import_host::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(rows.len() as u64)
}

/// One outbox event for findings `ids`.
pub fn finding_event(kind: ChangeKind, ids: &[i64]) -> NewEvent {
    NewEvent {
        topic: FINDING_TOPIC,
        kind,
        items: ids
            .iter()
            .map(|id| Item {
                id: *id,
                data: serde_json::Value::Null,
            })
            .collect(),
    }
}

/// Up to `limit` open findings of the hosts import `import_id` covered, checked by its
/// scanner, that it did not report: the ones it fixes.
pub async fn absent(
    db: &impl ConnectionTrait,
    import_id: i64,
    source: Source,
    limit: u64,
) -> AppResult<Vec<i64>> {
    let hosts = Query::select()
        .column(finding_import_host::Column::HostId)
        .from(finding_import_host::Entity)
        .and_where(finding_import_host::Column::ImportId.eq(import_id))
        .to_owned();
    let checks = Query::select()
        .column(vulnerability::Column::Id)
        .from(vulnerability::Entity)
        .and_where(vulnerability::Column::Source.eq(source.as_str()))
        .to_owned();
    Ok(finding::Entity::find()
        .select_only()
        .column(finding::Column::Id)
        .filter(finding::Column::HostId.in_subquery(hosts))
        .filter(finding::Column::VulnerabilityId.in_subquery(checks))
        .filter(finding::Column::Status.is_in([Status::Open.as_str(), Status::Reopened.as_str()]))
        .filter(
            sea_orm::Condition::any()
                .add(finding::Column::LastImportId.is_null())
                .add(finding::Column::LastImportId.ne(import_id)),
        )
        .order_by_asc(finding::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?)
}

/// Marks findings `ids` fixed by import `import_id`, with their history, sightings and one
/// event.
pub async fn fix(db: &impl ConnectionTrait, import_id: i64, ids: &[i64]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let at = db::now();
    let by = import_author(import_id);
    let reason = format!("not reported by import {import_id}");
    let before: Vec<(i64, String)> = finding::Entity::find()
        .select_only()
        .column(finding::Column::Id)
        .column(finding::Column::Status)
        .filter(finding::Column::Id.is_in(ids.to_vec()))
        .into_tuple()
        .all(db)
        .await?;
    finding::Entity::update_many()
        .col_expr(finding::Column::Status, Expr::val(Status::Fixed.as_str()))
        .col_expr(finding::Column::StatusChangedAt, Expr::val(at))
        .col_expr(finding::Column::StatusChangedBy, Expr::val(by.clone()))
        .col_expr(finding::Column::StatusReason, Expr::val(reason.clone()))
        .filter(finding::Column::Id.is_in(ids.to_vec()))
        .exec(db)
        .await?;
    let changes: Vec<finding_change::ActiveModel> = before
        .iter()
        .map(|(id, from)| finding_change::ActiveModel {
            finding_id: Set(*id),
            at: Set(at),
            from_status: Set(Some(from.clone())),
            to_status: Set(Status::Fixed.as_str().to_owned()),
            by_user_id: Set(None),
            by_name: Set(by.clone()),
            reason: Set(Some(reason.clone())),
            import_id: Set(Some(import_id)),
            ..Default::default()
        })
        .collect();
    for chunk in changes.chunks(db::chunk_size(9)) {
        finding_change::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    let sightings: Vec<finding_sighting::ActiveModel> = ids
        .iter()
        .map(|id| finding_sighting::ActiveModel {
            import_id: Set(import_id),
            finding_id: Set(*id),
            outcome: Set(Outcome::Fixed.as_str().to_owned()),
        })
        .collect();
    for chunk in sightings.chunks(db::chunk_size(3)) {
        finding_sighting::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                finding_sighting::Column::ImportId,
                finding_sighting::Column::FindingId,
            ])
            .exec_without_returning(db)
            .await?;
    }
    events::record(db, vec![finding_event(ChangeKind::Updated, ids)]).await
}

/// Counts added to an import's row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub hosts: u64,
    pub findings: u64,
    pub new: u64,
    pub reopened: u64,
    pub fixed: u64,
    pub skipped: u64,
    pub rejected: u64,
}

/// Starts an import of `kind` by user `user_id` named `by` (or by a scan run, named so).
pub async fn start_import(
    db: &impl ConnectionTrait,
    kind: super::Kind,
    user_id: Option<i64>,
    by: &str,
) -> AppResult<finding_import::Model> {
    Ok(finding_import::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        status: Set("RUNNING".into()),
        created_by: Set(user_id),
        created_by_name: Set(crate::validate::truncate(by, 128)),
        started_at: Set(db::now()),
        finished_at: Set(None),
        hosts: Set(0),
        findings: Set(0),
        new_findings: Set(0),
        reopened: Set(0),
        fixed: Set(0),
        skipped: Set(0),
        rejected: Set(0),
        error: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Adds `p` to import `id`'s counts.
pub async fn add_progress(db: &impl ConnectionTrait, id: i64, p: Progress) -> AppResult<()> {
    use finding_import::Column as C;
    let add = |c: C, n: u64| (c, Expr::col(c).add(n as i64));
    let mut update = finding_import::Entity::update_many();
    for (c, e) in [
        add(C::Hosts, p.hosts),
        add(C::Findings, p.findings),
        add(C::NewFindings, p.new),
        add(C::Reopened, p.reopened),
        add(C::Fixed, p.fixed),
        add(C::Skipped, p.skipped),
        add(C::Rejected, p.rejected),
    ] {
        update = update.col_expr(c, e);
    }
    update.filter(C::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// Ends import `id`: `SUCCEEDED`, or `FAILED` with why.
pub async fn finish_import(
    db: &impl ConnectionTrait,
    id: i64,
    error: Option<String>,
) -> AppResult<()> {
    finding_import::Entity::update_many()
        .col_expr(
            finding_import::Column::Status,
            Expr::val(if error.is_some() {
                "FAILED"
            } else {
                "SUCCEEDED"
            }),
        )
        .col_expr(finding_import::Column::FinishedAt, Expr::val(db::now()))
        .col_expr(finding_import::Column::Error, Expr::val(error))
        .filter(finding_import::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
