//! Scan rules: profiles, scans and their schedules, and the life of a run (queued, running,
//! succeeded, failed, cancelled) with its lease. Every function takes `&impl ConnectionTrait`
//! and opens no transaction; callers compose them in one `db::write`.

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use entity::{
    app_user, host, host_group, host_group_member, scan, scan_profile, scan_run, user_support_group,
};
use ipnet::IpNet;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::RUN_TOPIC;
use super::profile::Options;
use crate::actor::{HostScope, Identity, Role};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::host::catalog;
use crate::host::service::scope_condition;
use crate::net;
use crate::page::{Page, PageRequest};
use crate::validate;

/// How long a running scan is held without its process renewing it.
pub const RUN_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// The states of a run.
pub mod status {
    pub const QUEUED: &str = "QUEUED";
    pub const RUNNING: &str = "RUNNING";
    pub const SUCCEEDED: &str = "SUCCEEDED";
    pub const FAILED: &str = "FAILED";
    pub const CANCELLED: &str = "CANCELLED";
}

/// Why a run exists.
pub mod origin {
    pub const SCHEDULE: &str = "SCHEDULE";
    pub const MANUAL: &str = "MANUAL";
    pub const IMPORT: &str = "IMPORT";
}

/// What a scan scans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    pub all_hosts: bool,
    pub group_ids: Vec<i64>,
    pub cidrs: Vec<String>,
}

impl Targets {
    pub fn parse(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }

    async fn validate(&self, db: &impl ConnectionTrait) -> AppResult<()> {
        if !self.all_hosts && self.group_ids.is_empty() && self.cidrs.is_empty() {
            return Err(AppError::bad_input(
                "give targets: `allHosts`, some `groupIds` or some `cidrs`",
            ));
        }
        validate::bounded("groupIds", &self.group_ids, 100)?;
        validate::bounded("cidrs", &self.cidrs, 100)?;
        for c in &self.cidrs {
            IpNet::from_str(c.trim())
                .or_else(|_| c.trim().parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    AppError::bad_input(format!("`{c}` is not a network (CIDR) or address"))
                })?;
        }
        catalog::require_all::<host_group::Entity>(db, &self.group_ids).await
    }

    fn networks(&self) -> Vec<IpNet> {
        self.cidrs
            .iter()
            .filter_map(|c| {
                IpNet::from_str(c.trim())
                    .ok()
                    .or_else(|| c.trim().parse::<std::net::IpAddr>().ok().map(IpNet::from))
            })
            .collect()
    }
}

/// A schedule: a cron expression (five fields, or six with seconds first) read in a time zone.
pub fn next_run(schedule: &str, zone: &str, after: DateTime<Utc>) -> AppResult<DateTime<Utc>> {
    let tz: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| AppError::bad_input(format!("`{zone}` is not an IANA time zone")))?;
    if schedule.len() > 128 {
        return Err(AppError::bad_input("`schedule` is at most 128 characters"));
    }
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(schedule)
        .map_err(|e| AppError::bad_input(format!("`schedule` is not a cron expression: {e}")))?;
    let next = cron
        .find_next_occurrence(&after.with_timezone(&tz), false)
        .map_err(|e| AppError::bad_input(format!("`schedule` never fires: {e}")))?;
    Ok(next.with_timezone(&Utc))
}

// ---- profiles ----

pub async fn create_profile(
    db: &impl ConnectionTrait,
    name: &str,
    description: Option<&str>,
    options: &Options,
) -> AppResult<scan_profile::Model> {
    let name = validate::line("name", name, 128)?;
    let description = validate::optional_text("description", description, 2000)?;
    options.validate()?;
    let now = db::now();
    scan_profile::ActiveModel {
        name_key: Set(validate::key(&name)),
        name: Set(name),
        description: Set(description),
        options: Set(serde_json::to_string(options).map_err(AppError::internal)?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| AppError::conflict_on_unique(e, "a scan profile with that name exists"))
}

pub async fn update_profile(
    db: &impl ConnectionTrait,
    id: i64,
    name: Option<&str>,
    description: Option<Option<&str>>,
    options: Option<&Options>,
) -> AppResult<scan_profile::Model> {
    let row = profile(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("scan profile"))?;
    let mut row: scan_profile::ActiveModel = row.into();
    if let Some(name) = name {
        let name = validate::line("name", name, 128)?;
        row.name_key = Set(validate::key(&name));
        row.name = Set(name);
    }
    if let Some(d) = description {
        row.description = Set(validate::optional_text("description", d, 2000)?);
    }
    if let Some(o) = options {
        o.validate()?;
        row.options = Set(serde_json::to_string(o).map_err(AppError::internal)?);
    }
    row.updated_at = Set(db::now());
    row.update(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "a scan profile with that name exists"))
}

pub async fn delete_profile(db: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    let used = scan::Entity::find()
        .filter(scan::Column::ProfileId.eq(id))
        .count(db)
        .await?;
    if used > 0 {
        return Err(AppError::Conflict(format!(
            "{used} scan(s) use this profile; change or delete them first"
        )));
    }
    let done = scan_profile::Entity::delete_by_id(id).exec(db).await?;
    if done.rows_affected == 0 {
        return Err(AppError::not_found("scan profile"));
    }
    Ok(())
}

pub async fn profile(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<scan_profile::Model>> {
    Ok(scan_profile::Entity::find_by_id(id).one(db).await?)
}

pub fn options_of(p: &scan_profile::Model) -> AppResult<Options> {
    serde_json::from_str(&p.options).map_err(AppError::internal)
}

pub async fn profiles(
    db: &impl ConnectionTrait,
    page: &PageRequest,
) -> AppResult<Page<scan_profile::Model>> {
    crate::page::by_id(
        db,
        scan_profile::Entity::find(),
        scan_profile::Column::Id,
        "scanProfile:ID:ASC",
        false,
        page,
        |p| p.id,
    )
    .await
}

// ---- scans ----

/// A new scan, or the parts of one to change.
#[derive(Debug, Clone, Default)]
pub struct ScanInput {
    pub name: Option<String>,
    pub profile_id: Option<i64>,
    pub targets: Option<Targets>,
    /// `Some(None)` clears the schedule (started by hand only).
    pub schedule: Option<Option<String>>,
    pub time_zone: Option<String>,
    pub enabled: Option<bool>,
}

/// Whether `who` may change or start scan `s`: admins any, others their own.
fn check_owner(who: &Identity, s: &scan::Model) -> AppResult<()> {
    match who {
        Identity::User(p) if p.role == Role::Admin => Ok(()),
        Identity::User(p) if s.created_by_user_id == Some(p.user_id) => Ok(()),
        _ => Err(AppError::Forbidden(
            "only the scan's creator or an admin may change or start it".into(),
        )),
    }
}

async fn schedule_fields(
    row: &mut scan::ActiveModel,
    schedule: Option<&str>,
    zone: &str,
    enabled: bool,
) -> AppResult<()> {
    let next = match schedule {
        Some(s) => Some(next_run(s, zone, db::now())?),
        None => {
            // Still check the zone.
            zone.parse::<chrono_tz::Tz>()
                .map_err(|_| AppError::bad_input(format!("`{zone}` is not an IANA time zone")))?;
            None
        }
    };
    row.schedule = Set(schedule.map(str::to_owned));
    row.time_zone = Set(zone.to_owned());
    row.enabled = Set(enabled);
    row.next_run_at = Set(next.filter(|_| enabled));
    Ok(())
}

pub async fn create_scan(
    db: &impl ConnectionTrait,
    who: &Identity,
    input: ScanInput,
) -> AppResult<scan::Model> {
    let name = validate::line("name", input.name.as_deref().unwrap_or_default(), 128)?;
    let profile_id = input
        .profile_id
        .ok_or_else(|| AppError::bad_input("give a `profileId`"))?;
    profile(db, profile_id)
        .await?
        .ok_or_else(|| AppError::bad_input("no scan profile with that id"))?;
    let targets = input.targets.unwrap_or_default();
    targets.validate(db).await?;
    let now = db::now();
    let mut row = scan::ActiveModel {
        name_key: Set(validate::key(&name)),
        name: Set(name),
        profile_id: Set(profile_id),
        targets: Set(serde_json::to_string(&targets).map_err(AppError::internal)?),
        created_by_user_id: Set(who.principal().map(|p| p.user_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    schedule_fields(
        &mut row,
        input.schedule.flatten().as_deref(),
        input.time_zone.as_deref().unwrap_or("UTC"),
        input.enabled.unwrap_or(true),
    )
    .await?;
    row.insert(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "a scan with that name exists"))
}

pub async fn update_scan(
    db: &impl ConnectionTrait,
    who: &Identity,
    id: i64,
    input: ScanInput,
) -> AppResult<scan::Model> {
    let current = get_scan(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("scan"))?;
    check_owner(who, &current)?;
    let mut row: scan::ActiveModel = current.clone().into();
    if let Some(name) = &input.name {
        let name = validate::line("name", name, 128)?;
        row.name_key = Set(validate::key(&name));
        row.name = Set(name);
    }
    if let Some(p) = input.profile_id {
        profile(db, p)
            .await?
            .ok_or_else(|| AppError::bad_input("no scan profile with that id"))?;
        row.profile_id = Set(p);
    }
    if let Some(t) = &input.targets {
        t.validate(db).await?;
        row.targets = Set(serde_json::to_string(t).map_err(AppError::internal)?);
    }
    let schedule = input.schedule.clone().unwrap_or(current.schedule.clone());
    let zone = input.time_zone.clone().unwrap_or(current.time_zone.clone());
    let enabled = input.enabled.unwrap_or(current.enabled);
    schedule_fields(&mut row, schedule.as_deref(), &zone, enabled).await?;
    row.updated_at = Set(db::now());
    row.update(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "a scan with that name exists"))
}

pub async fn delete_scan(db: &impl ConnectionTrait, who: &Identity, id: i64) -> AppResult<()> {
    let current = get_scan(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("scan"))?;
    check_owner(who, &current)?;
    // Its runs stay on record, without their scan.
    scan_run::Entity::update_many()
        .col_expr(scan_run::Column::ScanId, Expr::val(Option::<i64>::None))
        .filter(scan_run::Column::ScanId.eq(id))
        .exec(db)
        .await?;
    scan::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub async fn get_scan(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<scan::Model>> {
    Ok(scan::Entity::find_by_id(id).one(db).await?)
}

pub async fn scans(db: &impl ConnectionTrait, page: &PageRequest) -> AppResult<Page<scan::Model>> {
    crate::page::by_id(
        db,
        scan::Entity::find(),
        scan::Column::Id,
        "scan:ID:ASC",
        false,
        page,
        |s| s.id,
    )
    .await
}

// ---- runs ----

fn run_event(kind: ChangeKind, run_ids: &[i64]) -> NewEvent {
    NewEvent {
        topic: RUN_TOPIC,
        kind,
        items: run_ids
            .iter()
            .map(|id| Item {
                id: *id,
                data: serde_json::Value::Null,
            })
            .collect(),
    }
}

/// Records that runs changed (their state or progress).
pub async fn runs_changed(db: &impl ConnectionTrait, run_ids: &[i64]) -> AppResult<()> {
    events::record(db, vec![run_event(ChangeKind::Updated, run_ids)]).await
}

fn new_run(
    scan_id: Option<i64>,
    origin: &str,
    by: Option<i64>,
    status: &str,
) -> scan_run::ActiveModel {
    scan_run::ActiveModel {
        scan_id: Set(scan_id),
        origin: Set(origin.to_owned()),
        status: Set(status.to_owned()),
        queued_at: Set(db::now()),
        requested_by_user_id: Set(by),
        targets: Set(String::new()),
        excluded: Set(String::new()),
        hosts_up: Set(0),
        ports_seen: Set(0),
        ..Default::default()
    }
}

async fn active_run_of(
    db: &impl ConnectionTrait,
    scan_id: i64,
) -> AppResult<Option<scan_run::Model>> {
    Ok(scan_run::Entity::find()
        .filter(scan_run::Column::ScanId.eq(scan_id))
        .filter(scan_run::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .one(db)
        .await?)
}

/// Queues a run of scan `scan_id` now.
pub async fn start_scan(
    db: &impl ConnectionTrait,
    who: &Identity,
    scan_id: i64,
) -> AppResult<scan_run::Model> {
    let s = get_scan(db, scan_id)
        .await?
        .ok_or_else(|| AppError::not_found("scan"))?;
    check_owner(who, &s)?;
    if let Some(active) = active_run_of(db, scan_id).await? {
        return Err(AppError::Conflict(format!(
            "this scan already has a run {} (run {})",
            active.status.to_lowercase(),
            active.id
        )));
    }
    let run = new_run(
        Some(scan_id),
        origin::MANUAL,
        who.principal().map(|p| p.user_id),
        status::QUEUED,
    )
    .insert(db)
    .await?;
    events::record(db, vec![run_event(ChangeKind::Created, &[run.id])]).await?;
    Ok(run)
}

/// A run for an import of nmap XML by `who`, running from the start.
pub async fn start_import(
    db: &impl ConnectionTrait,
    who: &Identity,
    instance: &str,
) -> AppResult<scan_run::Model> {
    let mut row = new_run(
        None,
        origin::IMPORT,
        who.principal().map(|p| p.user_id),
        status::RUNNING,
    );
    row.started_at = Set(Some(db::now()));
    row.instance = Set(Some(instance.to_owned()));
    row.lease_until = Set(Some(lease_end()));
    let run = row.insert(db).await?;
    events::record(db, vec![run_event(ChangeKind::Created, &[run.id])]).await?;
    Ok(run)
}

/// Cancels a queued or running run: it stops at its next lease renewal.
pub async fn cancel_run(
    db: &impl ConnectionTrait,
    who: &Identity,
    run_id: i64,
) -> AppResult<scan_run::Model> {
    let run = get_run(db, run_id)
        .await?
        .ok_or_else(|| AppError::not_found("scan run"))?;
    let admin = matches!(who, Identity::User(p) if p.role == Role::Admin);
    let own = who
        .principal()
        .is_some_and(|p| run.requested_by_user_id == Some(p.user_id));
    let scan_owner = match run.scan_id {
        Some(id) => get_scan(db, id)
            .await?
            .is_some_and(|s| check_owner(who, &s).is_ok()),
        None => false,
    };
    if !(admin || own || scan_owner) {
        return Err(AppError::Forbidden(
            "only who started the run, the scan's creator or an admin may cancel it".into(),
        ));
    }
    let done = scan_run::Entity::update_many()
        .col_expr(scan_run::Column::Status, Expr::val(status::CANCELLED))
        .col_expr(scan_run::Column::FinishedAt, Expr::val(db::now()))
        .col_expr(
            scan_run::Column::LeaseUntil,
            Expr::val(Option::<DateTime<Utc>>::None),
        )
        .filter(scan_run::Column::Id.eq(run_id))
        .filter(scan_run::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .exec(db)
        .await?;
    if done.rows_affected == 0 {
        return Err(AppError::Conflict(format!(
            "the run has already ended ({})",
            run.status.to_lowercase()
        )));
    }
    runs_changed(db, &[run_id]).await?;
    get_run(db, run_id)
        .await?
        .ok_or_else(|| AppError::not_found("scan run"))
}

pub async fn get_run(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<scan_run::Model>> {
    Ok(scan_run::Entity::find_by_id(id).one(db).await?)
}

/// Runs by id (for events).
pub async fn runs_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<Vec<scan_run::Model>> {
    Ok(scan_run::Entity::find()
        .filter(scan_run::Column::Id.is_in(ids.to_vec()))
        .order_by_asc(scan_run::Column::Id)
        .all(db)
        .await?)
}

pub async fn runs(
    db: &impl ConnectionTrait,
    scan_id: Option<i64>,
    page: &PageRequest,
) -> AppResult<Page<scan_run::Model>> {
    let mut query = scan_run::Entity::find();
    if let Some(s) = scan_id {
        query = query.filter(scan_run::Column::ScanId.eq(s));
    }
    crate::page::by_id(
        db,
        query,
        scan_run::Column::Id,
        "scanRun:ID:DESC",
        true,
        page,
        |r| r.id,
    )
    .await
}

fn lease_end() -> DateTime<Utc> {
    db::now() + chrono::Duration::from_std(RUN_LEASE).unwrap_or(chrono::Duration::seconds(30))
}

/// Queues a run of every enabled scan whose schedule came due, and moves each schedule to its
/// next time (with a compare-and-set, so with several replicas each time fires once). A scan
/// whose previous run is still queued or running skips this time rather than piling up.
pub async fn enqueue_due(db: &impl ConnectionTrait) -> AppResult<Vec<i64>> {
    let now = db::now();
    let due = scan::Entity::find()
        .filter(scan::Column::Enabled.eq(true))
        .filter(scan::Column::NextRunAt.lte(now))
        .limit(100)
        .all(db)
        .await?;
    let mut queued = Vec::new();
    for s in due {
        let (Some(schedule), Some(was)) = (s.schedule.as_deref(), s.next_run_at) else {
            continue;
        };
        let next = next_run(schedule, &s.time_zone, now).ok();
        let moved = scan::Entity::update_many()
            .col_expr(scan::Column::NextRunAt, Expr::val(next))
            .filter(scan::Column::Id.eq(s.id))
            .filter(scan::Column::NextRunAt.eq(was))
            .exec(db)
            .await?;
        if moved.rows_affected != 1 || active_run_of(db, s.id).await?.is_some() {
            continue;
        }
        let run = new_run(
            Some(s.id),
            origin::SCHEDULE,
            s.created_by_user_id,
            status::QUEUED,
        )
        .insert(db)
        .await?;
        queued.push(run.id);
    }
    if !queued.is_empty() {
        events::record(db, vec![run_event(ChangeKind::Created, &queued)]).await?;
    }
    Ok(queued)
}

/// Marks runs whose process stopped renewing their lease as failed ("interrupted").
pub async fn reap_abandoned(db: &impl ConnectionTrait) -> AppResult<Vec<i64>> {
    let now = db::now();
    let abandoned: Vec<i64> = scan_run::Entity::find()
        .select_only()
        .column(scan_run::Column::Id)
        .filter(scan_run::Column::Status.eq(status::RUNNING))
        .filter(scan_run::Column::LeaseUntil.lt(now))
        .into_tuple()
        .all(db)
        .await?;
    if abandoned.is_empty() {
        return Ok(abandoned);
    }
    scan_run::Entity::update_many()
        .col_expr(scan_run::Column::Status, Expr::val(status::FAILED))
        .col_expr(scan_run::Column::FinishedAt, Expr::val(now))
        .col_expr(
            scan_run::Column::Error,
            Expr::val("interrupted: the process running it stopped renewing its lease"),
        )
        .filter(scan_run::Column::Id.is_in(abandoned.clone()))
        .filter(scan_run::Column::Status.eq(status::RUNNING))
        .filter(scan_run::Column::LeaseUntil.lt(now))
        .exec(db)
        .await?;
    runs_changed(db, &abandoned).await?;
    Ok(abandoned)
}

/// Takes the oldest queued run for `instance` if fewer than `cap` runs are running.
pub async fn claim_queued(
    db: &impl ConnectionTrait,
    instance: &str,
    cap: u64,
) -> AppResult<Option<scan_run::Model>> {
    let running = scan_run::Entity::find()
        .filter(scan_run::Column::Status.eq(status::RUNNING))
        .filter(scan_run::Column::Origin.ne(origin::IMPORT))
        .count(db)
        .await?;
    if running >= cap {
        return Ok(None);
    }
    let Some(next) = scan_run::Entity::find()
        .filter(scan_run::Column::Status.eq(status::QUEUED))
        .order_by_asc(scan_run::Column::Id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let taken = scan_run::Entity::update_many()
        .col_expr(scan_run::Column::Status, Expr::val(status::RUNNING))
        .col_expr(scan_run::Column::StartedAt, Expr::val(db::now()))
        .col_expr(scan_run::Column::Instance, Expr::val(instance))
        .col_expr(scan_run::Column::LeaseUntil, Expr::val(lease_end()))
        .filter(scan_run::Column::Id.eq(next.id))
        .filter(scan_run::Column::Status.eq(status::QUEUED))
        .exec(db)
        .await?;
    if taken.rows_affected != 1 {
        return Ok(None);
    }
    runs_changed(db, &[next.id]).await?;
    get_run(db, next.id).await
}

/// Extends a running run's lease; `false` when it is no longer running (cancelled, or taken
/// for abandoned), and the caller must stop.
pub async fn renew(db: &impl ConnectionTrait, run_id: i64) -> AppResult<bool> {
    let done = scan_run::Entity::update_many()
        .col_expr(scan_run::Column::LeaseUntil, Expr::val(lease_end()))
        .filter(scan_run::Column::Id.eq(run_id))
        .filter(scan_run::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// What a run recorded before it started nmap.
pub async fn record_command(
    db: &impl ConnectionTrait,
    run_id: i64,
    command: &str,
    targets: &[String],
    excluded: &[String],
) -> AppResult<()> {
    scan_run::Entity::update_many()
        .col_expr(scan_run::Column::Command, Expr::val(command))
        .col_expr(scan_run::Column::Targets, Expr::val(targets.join("\n")))
        .col_expr(scan_run::Column::Excluded, Expr::val(excluded.join("\n")))
        .filter(scan_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    runs_changed(db, &[run_id]).await
}

/// Adds to a run's progress (hosts up, ports seen) after a committed batch.
pub async fn add_progress(
    db: &impl ConnectionTrait,
    run_id: i64,
    hosts: u64,
    ports: u64,
) -> AppResult<()> {
    scan_run::Entity::update_many()
        .col_expr(
            scan_run::Column::HostsUp,
            Expr::col(scan_run::Column::HostsUp).add(hosts as i64),
        )
        .col_expr(
            scan_run::Column::PortsSeen,
            Expr::col(scan_run::Column::PortsSeen).add(ports as i64),
        )
        .filter(scan_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    runs_changed(db, &[run_id]).await
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub failed: Option<String>,
    pub stderr_tail: Option<String>,
    pub raw_xml: Option<Vec<u8>>,
}

/// Ends a running run; a run cancelled meanwhile stays cancelled.
pub async fn finish_run(db: &impl ConnectionTrait, run_id: i64, end: RunEnd) -> AppResult<()> {
    let state = if end.failed.is_some() {
        status::FAILED
    } else {
        status::SUCCEEDED
    };
    scan_run::Entity::update_many()
        .col_expr(scan_run::Column::Status, Expr::val(state))
        .col_expr(scan_run::Column::FinishedAt, Expr::val(db::now()))
        .col_expr(
            scan_run::Column::LeaseUntil,
            Expr::val(Option::<DateTime<Utc>>::None),
        )
        .col_expr(scan_run::Column::Error, Expr::val(end.failed))
        .col_expr(scan_run::Column::StderrTail, Expr::val(end.stderr_tail))
        .col_expr(scan_run::Column::RawXml, Expr::val(end.raw_xml))
        .filter(scan_run::Column::Id.eq(run_id))
        .filter(scan_run::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await?;
    runs_changed(db, &[run_id]).await
}

// ---- who and what a run scans ----

/// The hosts the creator of a scan sees now: all for an admin, their support groups' for
/// others; nothing for a user who is gone or disabled.
pub async fn owner_scope(db: &impl ConnectionTrait, user_id: Option<i64>) -> AppResult<HostScope> {
    let Some(user_id) = user_id else {
        return Ok(HostScope::default());
    };
    let Some(user) = app_user::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(HostScope::default());
    };
    if user.disabled {
        return Ok(HostScope::default());
    }
    match Role::parse(&user.role) {
        Some(Role::Admin) => Ok(HostScope::All),
        Some(Role::Analyst) => {
            let groups: Vec<i64> = user_support_group::Entity::find()
                .select_only()
                .column(user_support_group::Column::SupportGroupId)
                .filter(user_support_group::Column::UserId.eq(user_id))
                .into_tuple()
                .all(db)
                .await?;
            Ok(HostScope::SupportGroups(groups))
        }
        _ => Ok(HostScope::default()),
    }
}

/// A host's address key and exclusion (reason, until).
type ExclusionRow = (Vec<u8>, Option<String>, Option<DateTime<Utc>>);

/// Most targets one run hands to nmap.
pub const MAX_TARGETS: usize = 65_536;

/// What nmap is given: target specs and the addresses it must skip (hosts under a port-scan
/// exclusion). An admin's networks go to nmap whole, so it finds hosts not in the inventory
/// yet; anyone else's scans reach only inventory hosts they see.
pub async fn resolve_targets(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    targets: &Targets,
) -> AppResult<(Vec<String>, Vec<String>)> {
    let now = db::now();
    let excluded_cond = Condition::all()
        .add(host::Column::ExclusionReason.is_not_null())
        .add(
            Condition::any()
                .add(host::Column::ExclusionUntil.is_null())
                .add(host::Column::ExclusionUntil.gt(now)),
        );
    let mut out: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut excluded: Vec<String> = Vec::new();
    let mut hosts_where: Vec<Condition> = Vec::new();
    if targets.all_hosts {
        hosts_where.push(Condition::all());
    }
    if !targets.group_ids.is_empty() {
        let ids: Vec<i64> = host_group_member::Entity::find()
            .select_only()
            .column(host_group_member::Column::HostId)
            .filter(host_group_member::Column::HostGroupId.is_in(targets.group_ids.clone()))
            .into_tuple()
            .all(db)
            .await?;
        for chunk in ids.chunks(1000) {
            hosts_where.push(Condition::all().add(host::Column::Id.is_in(chunk.to_vec())));
        }
    }
    for net in targets.networks() {
        let (lo, hi) = net::net_key_range(&net);
        let inside = Condition::all()
            .add(host::Column::Address.gte(lo))
            .add(host::Column::Address.lte(hi));
        if *scope == HostScope::All {
            out.push(net.to_string());
            let skip: Vec<Vec<u8>> = host::Entity::find()
                .select_only()
                .column(host::Column::Address)
                .filter(inside)
                .filter(excluded_cond.clone())
                .into_tuple()
                .all(db)
                .await?;
            excluded.extend(
                skip.iter()
                    .filter_map(|k| net::ip_from_key(k))
                    .map(|a| a.to_string()),
            );
        } else {
            hosts_where.push(inside);
        }
    }
    for cond in hosts_where {
        let rows: Vec<ExclusionRow> = host::Entity::find()
            .select_only()
            .column(host::Column::Address)
            .column(host::Column::ExclusionReason)
            .column(host::Column::ExclusionUntil)
            .filter(cond)
            .filter(scope_condition(scope))
            .into_tuple()
            .all(db)
            .await?;
        for (key, reason, until) in rows {
            let Some(addr) = net::ip_from_key(&key) else {
                continue;
            };
            let addr = addr.to_string();
            if !seen.insert(addr.clone()) {
                continue;
            }
            // An exclusion that lapsed (and the job has not lifted yet) is not one.
            if reason.is_some() && until.is_none_or(|u| u > now) {
                excluded.push(addr);
            } else {
                out.push(addr);
            }
        }
        if out.len() > MAX_TARGETS {
            return Err(AppError::bad_input(format!(
                "the scan reaches more than {MAX_TARGETS} hosts; split it"
            )));
        }
    }
    excluded.sort();
    excluded.dedup();
    Ok((out, excluded))
}

pub async fn count_runs(db: &impl ConnectionTrait, scan_id: Option<i64>) -> AppResult<u64> {
    let mut query = scan_run::Entity::find();
    if let Some(s) = scan_id {
        query = query.filter(scan_run::Column::ScanId.eq(s));
    }
    Ok(query.count(db).await?)
}

pub async fn count_scans(db: &impl ConnectionTrait) -> AppResult<u64> {
    Ok(scan::Entity::find().count(db).await?)
}

pub async fn count_profiles(db: &impl ConnectionTrait) -> AppResult<u64> {
    Ok(scan_profile::Entity::find().count(db).await?)
}
