//! Writing incidents: create, change, move through statuses, annotate, delete; and the
//! classification lists. Every change writes a timeline entry and an event in the caller's
//! transaction. Every function takes `&impl ConnectionTrait` and opens no transaction.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{
    host, incident, incident_address, incident_article, incident_host, incident_lookup,
    incident_note, incident_tag, incident_vulnerability, vulnerability,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter,
};

use super::{LookupKind, Magnitude, Status, TOPIC, read};
use crate::actor::Identity;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::validate;

/// Most links of one kind on an incident.
pub const MAX_LINKS: usize = 500;

/// What `createIncident` and `updateIncident` set. `None` leaves a field as it is (on
/// creation: its default); `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct IncidentInput {
    pub title: Option<String>,
    pub summary: Option<Option<String>>,
    pub severity: Option<&'static str>,
    pub tlp: Option<&'static str>,
    pub occurred_at: Option<Option<DateTime<Utc>>>,
    pub discovered_at: Option<Option<DateTime<Utc>>>,
    pub contained_at: Option<Option<DateTime<Utc>>>,
    pub resolved_at: Option<Option<DateTime<Utc>>>,
    pub assignee_id: Option<Option<i64>>,
    pub agent_id: Option<Option<i64>>,
    pub action_id: Option<Option<i64>>,
    pub asset_id: Option<Option<i64>>,
    pub discovery_id: Option<Option<i64>>,
    pub data_exposed: Option<bool>,
    pub integrity_loss: Option<Option<String>>,
    pub availability_loss: Option<Option<String>>,
    pub asset_loss: Option<Magnitude>,
    pub disruption: Option<Magnitude>,
    pub response_cost: Option<Magnitude>,
    pub overall_impact: Option<Magnitude>,
    pub lessons_learned: Option<Option<String>>,
    pub corrections: Option<Option<String>>,
    /// Replace the links of each kind when given.
    pub host_ids: Option<Vec<i64>>,
    pub addresses: Option<Vec<IpAddr>>,
    pub vulnerability_ids: Option<Vec<i64>>,
    pub article_ids: Option<Vec<i64>>,
    pub tags: Option<Vec<String>>,
}

fn text(field: &str, v: &Option<Option<String>>) -> AppResult<Option<Option<String>>> {
    v.as_ref()
        .map(|v| validate::optional_text(field, v.as_deref(), 16 * 1024))
        .transpose()
}

async fn check_lookup(
    db: &impl ConnectionTrait,
    field: &str,
    kind: LookupKind,
    id: Option<Option<i64>>,
) -> AppResult<()> {
    if let Some(Some(id)) = id {
        let found = incident_lookup::Entity::find_by_id(id).one(db).await?;
        if found.is_none_or(|l| l.kind != kind.as_str()) {
            return Err(AppError::bad_input(format!(
                "`{field}` is not a value of the {} list",
                kind.as_str().to_lowercase()
            )));
        }
    }
    Ok(())
}

fn note(
    incident_id: i64,
    who: &Identity,
    kind: &str,
    text: Option<String>,
    status: Option<(Option<Status>, Status)>,
) -> incident_note::ActiveModel {
    incident_note::ActiveModel {
        incident_id: Set(incident_id),
        at: Set(db::now()),
        kind: Set(kind.to_owned()),
        author_id: Set(who.principal().map(|p| p.user_id)),
        author_name: Set(who.display_name().to_owned()),
        text: Set(text),
        from_status: Set(status.and_then(|s| s.0).map(|s| s.as_str().to_owned())),
        to_status: Set(status.map(|s| s.1.as_str().to_owned())),
        ..Default::default()
    }
}

fn event(kind: ChangeKind, id: i64) -> Vec<NewEvent> {
    vec![NewEvent {
        topic: TOPIC,
        kind,
        items: vec![Item {
            id,
            data: serde_json::Value::Null,
        }],
    }]
}

/// Applies `input` to `row`; the names of the fields it changed.
async fn apply(
    db: &impl ConnectionTrait,
    row: &mut incident::ActiveModel,
    input: &IncidentInput,
) -> AppResult<Vec<&'static str>> {
    let mut changed = Vec::new();
    macro_rules! set {
        ($field:ident, $name:literal, $value:expr) => {
            if let Some(v) = $value {
                row.$field = Set(v);
                changed.push($name);
            }
        };
    }
    set!(
        title,
        "title",
        input
            .title
            .as_deref()
            .map(|t| validate::line("title", t, 255))
            .transpose()?
    );
    set!(summary, "summary", text("summary", &input.summary)?);
    set!(severity, "severity", input.severity.map(str::to_owned));
    set!(tlp, "tlp", input.tlp.map(str::to_owned));
    set!(occurred_at, "occurredAt", input.occurred_at);
    set!(discovered_at, "discoveredAt", input.discovered_at);
    set!(contained_at, "containedAt", input.contained_at);
    set!(resolved_at, "resolvedAt", input.resolved_at);
    if let Some(Some(user)) = input.assignee_id {
        let found = crate::auth::service::users_by_ids(db, &[user]).await?;
        if found.is_empty() {
            return Err(AppError::bad_input("`assigneeId` names no user"));
        }
    }
    set!(assignee_id, "assignee", input.assignee_id);
    for (field, kind, id) in [
        ("agentId", LookupKind::Agent, input.agent_id),
        ("actionId", LookupKind::Action, input.action_id),
        ("assetId", LookupKind::Asset, input.asset_id),
        ("discoveryId", LookupKind::Discovery, input.discovery_id),
    ] {
        check_lookup(db, field, kind, id).await?;
    }
    set!(agent_id, "agent", input.agent_id);
    set!(action_id, "action", input.action_id);
    set!(asset_id, "asset", input.asset_id);
    set!(discovery_id, "discovery", input.discovery_id);
    set!(data_exposed, "dataExposed", input.data_exposed);
    set!(
        integrity_loss,
        "integrityLoss",
        text("integrityLoss", &input.integrity_loss)?
    );
    set!(
        availability_loss,
        "availabilityLoss",
        text("availabilityLoss", &input.availability_loss)?
    );
    let magnitude = |m: Option<Magnitude>| m.map(|m| m.as_str().to_owned());
    set!(asset_loss, "assetLoss", magnitude(input.asset_loss));
    set!(disruption, "disruption", magnitude(input.disruption));
    set!(
        response_cost,
        "responseCost",
        magnitude(input.response_cost)
    );
    set!(
        overall_impact,
        "overallImpact",
        magnitude(input.overall_impact)
    );
    set!(
        lessons_learned,
        "lessonsLearned",
        text("lessonsLearned", &input.lessons_learned)?
    );
    set!(
        corrections,
        "corrections",
        text("corrections", &input.corrections)?
    );
    // The times must follow each other.
    let times = [
        ("occurredAt", row.occurred_at.clone().take().flatten()),
        ("discoveredAt", row.discovered_at.clone().take().flatten()),
        ("containedAt", row.contained_at.clone().take().flatten()),
        ("resolvedAt", row.resolved_at.clone().take().flatten()),
    ];
    let mut last: Option<(&str, DateTime<Utc>)> = None;
    for (name, at) in times {
        if let Some(at) = at {
            if let Some((before, then)) = last
                && at < then
            {
                return Err(AppError::bad_input(format!(
                    "`{name}` is before `{before}`"
                )));
            }
            last = Some((name, at));
        }
    }
    Ok(changed)
}

/// Replaces the links of incident `id` given in `input`, as `who` (who must see every host
/// they link).
async fn link(
    db: &impl ConnectionTrait,
    who: &Identity,
    id: i64,
    input: &IncidentInput,
) -> AppResult<Vec<&'static str>> {
    let mut changed = Vec::new();
    if let Some(hosts) = &input.host_ids {
        validate::bounded("hostIds", hosts, MAX_LINKS)?;
        let mut hosts = hosts.clone();
        hosts.sort_unstable();
        hosts.dedup();
        let scope = who.host_scope();
        let found = host::Entity::find()
            .filter(host::Column::Id.is_in(hosts.clone()))
            .filter(crate::host::service::scope_condition(&scope))
            .count(db)
            .await?;
        if found != hosts.len() as u64 {
            return Err(AppError::not_found("host"));
        }
        // Hosts the caller cannot see stay linked: they are someone else's to remove.
        let hidden: Vec<i64> = read::hosts_of(db, &crate::actor::HostScope::All, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .filter(|h| !scope.sees(h.support_group_id))
            .map(|h| h.id)
            .collect();
        let mut delete =
            incident_host::Entity::delete_many().filter(incident_host::Column::IncidentId.eq(id));
        if !hidden.is_empty() {
            delete = delete.filter(incident_host::Column::HostId.is_not_in(hidden));
        }
        delete.exec(db).await?;
        let rows: Vec<incident_host::ActiveModel> = hosts
            .iter()
            .map(|h| incident_host::ActiveModel {
                incident_id: Set(id),
                host_id: Set(*h),
            })
            .collect();
        if !rows.is_empty() {
            incident_host::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([
                    incident_host::Column::IncidentId,
                    incident_host::Column::HostId,
                ])
                .exec_without_returning(db)
                .await?;
        }
        changed.push("hosts");
    }
    if let Some(addresses) = &input.addresses {
        validate::bounded("attackerAddresses", addresses, MAX_LINKS)?;
        let mut keys: Vec<Vec<u8>> = addresses.iter().map(|a| crate::net::ip_key(*a)).collect();
        keys.sort_unstable();
        keys.dedup();
        incident_address::Entity::delete_many()
            .filter(incident_address::Column::IncidentId.eq(id))
            .exec(db)
            .await?;
        let rows: Vec<incident_address::ActiveModel> = keys
            .into_iter()
            .map(|k| incident_address::ActiveModel {
                incident_id: Set(id),
                address: Set(k),
            })
            .collect();
        if !rows.is_empty() {
            incident_address::Entity::insert_many(rows)
                .exec_without_returning(db)
                .await?;
        }
        changed.push("attackerAddresses");
    }
    if let Some(vulns) = &input.vulnerability_ids {
        validate::bounded("vulnerabilityIds", vulns, MAX_LINKS)?;
        let mut vulns = vulns.clone();
        vulns.sort_unstable();
        vulns.dedup();
        let found = vulnerability::Entity::find()
            .filter(vulnerability::Column::Id.is_in(vulns.clone()))
            .count(db)
            .await?;
        if found != vulns.len() as u64 {
            return Err(AppError::not_found("vulnerability"));
        }
        incident_vulnerability::Entity::delete_many()
            .filter(incident_vulnerability::Column::IncidentId.eq(id))
            .exec(db)
            .await?;
        let rows: Vec<incident_vulnerability::ActiveModel> = vulns
            .into_iter()
            .map(|v| incident_vulnerability::ActiveModel {
                incident_id: Set(id),
                vulnerability_id: Set(v),
            })
            .collect();
        if !rows.is_empty() {
            incident_vulnerability::Entity::insert_many(rows)
                .exec_without_returning(db)
                .await?;
        }
        changed.push("vulnerabilities");
    }
    if let Some(articles) = &input.article_ids {
        validate::bounded("articleIds", articles, MAX_LINKS)?;
        let mut articles = articles.clone();
        articles.sort_unstable();
        articles.dedup();
        if crate::feed::read::articles_by_ids(db, &articles)
            .await?
            .len()
            != articles.len()
        {
            return Err(AppError::not_found("article"));
        }
        incident_article::Entity::delete_many()
            .filter(incident_article::Column::IncidentId.eq(id))
            .exec(db)
            .await?;
        let rows: Vec<incident_article::ActiveModel> = articles
            .into_iter()
            .map(|a| incident_article::ActiveModel {
                incident_id: Set(id),
                article_id: Set(a),
            })
            .collect();
        if !rows.is_empty() {
            incident_article::Entity::insert_many(rows)
                .exec_without_returning(db)
                .await?;
        }
        changed.push("articles");
    }
    if let Some(tags) = &input.tags {
        let tags = crate::host::catalog::find_or_create_tags(db, tags).await?;
        incident_tag::Entity::delete_many()
            .filter(incident_tag::Column::IncidentId.eq(id))
            .exec(db)
            .await?;
        let rows: Vec<incident_tag::ActiveModel> = tags
            .iter()
            .map(|t| incident_tag::ActiveModel {
                incident_id: Set(id),
                tag_id: Set(t.id),
            })
            .collect();
        if !rows.is_empty() {
            incident_tag::Entity::insert_many(rows)
                .exec_without_returning(db)
                .await?;
        }
        changed.push("tags");
    }
    Ok(changed)
}

/// Records a new incident reported by `who`, `OPEN`.
pub async fn create(
    db: &impl ConnectionTrait,
    who: &Identity,
    input: IncidentInput,
) -> AppResult<incident::Model> {
    if input.title.is_none() {
        return Err(AppError::bad_input("an incident needs a title"));
    }
    let now = db::now();
    let mut row = incident::ActiveModel {
        title: Set(String::new()),
        summary: Set(None),
        status: Set(Status::Open.as_str().to_owned()),
        severity: Set("MEDIUM".into()),
        tlp: Set("AMBER".into()),
        occurred_at: Set(None),
        discovered_at: Set(None),
        contained_at: Set(None),
        resolved_at: Set(None),
        assignee_id: Set(None),
        reporter_id: Set(who.principal().map(|p| p.user_id)),
        reporter_name: Set(who.display_name().to_owned()),
        agent_id: Set(None),
        action_id: Set(None),
        asset_id: Set(None),
        discovery_id: Set(None),
        data_exposed: Set(false),
        integrity_loss: Set(None),
        availability_loss: Set(None),
        asset_loss: Set(Magnitude::Unknown.as_str().to_owned()),
        disruption: Set(Magnitude::Unknown.as_str().to_owned()),
        response_cost: Set(Magnitude::Unknown.as_str().to_owned()),
        overall_impact: Set(Magnitude::Unknown.as_str().to_owned()),
        lessons_learned: Set(None),
        corrections: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply(db, &mut row, &input).await?;
    let created = row.insert(db).await?;
    link(db, who, created.id, &input).await?;
    note(created.id, who, "CREATED", None, Some((None, Status::Open)))
        .insert(db)
        .await?;
    events::record(db, event(ChangeKind::Created, created.id)).await?;
    Ok(created)
}

async fn visible(db: &impl ConnectionTrait, who: &Identity, id: i64) -> AppResult<incident::Model> {
    read::get(db, &who.host_scope(), id)
        .await?
        .ok_or_else(|| AppError::not_found("incident"))
}

/// Changes incident `id` (which `who` must see); the timeline says which fields changed.
pub async fn update(
    db: &impl ConnectionTrait,
    who: &Identity,
    id: i64,
    input: IncidentInput,
) -> AppResult<incident::Model> {
    let current = visible(db, who, id).await?;
    let mut row: incident::ActiveModel = current.clone().into();
    let mut changed = apply(db, &mut row, &input).await?;
    changed.extend(link(db, who, id, &input).await?);
    if changed.is_empty() {
        return Ok(current);
    }
    row.updated_at = Set(db::now());
    let updated = row.update(db).await?;
    note(id, who, "UPDATED", Some(changed.join(", ")), None)
        .insert(db)
        .await?;
    events::record(db, event(ChangeKind::Updated, id)).await?;
    Ok(updated)
}

/// Moves incident `id` to `to` (only the changes [`Status::may_become`] allows), with an
/// optional note; containing and resolving set their times when they are not known yet.
pub async fn change_status(
    db: &impl ConnectionTrait,
    who: &Identity,
    id: i64,
    to: Status,
    text: Option<String>,
) -> AppResult<incident::Model> {
    let current = visible(db, who, id).await?;
    let from = Status::parse(&current.status).unwrap_or(Status::Open);
    if !from.may_become(to) {
        return Err(AppError::bad_input(format!(
            "an incident that is {} cannot become {} (allowed: {})",
            from.as_str(),
            to.as_str(),
            Status::ALL
                .iter()
                .filter(|s| from.may_become(**s))
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let text = validate::optional_text("note", text.as_deref(), 16 * 1024)?;
    let now = db::now();
    let mut row: incident::ActiveModel = current.clone().into();
    row.status = Set(to.as_str().to_owned());
    if to == Status::Contained && current.contained_at.is_none() {
        row.contained_at = Set(Some(now));
    }
    if to == Status::Resolved && current.resolved_at.is_none() {
        row.resolved_at = Set(Some(now));
    }
    row.updated_at = Set(now);
    let updated = row.update(db).await?;
    note(id, who, "STATUS", text, Some((Some(from), to)))
        .insert(db)
        .await?;
    events::record(db, event(ChangeKind::Updated, id)).await?;
    Ok(updated)
}

/// Adds a note to incident `id`'s timeline.
pub async fn add_note(
    db: &impl ConnectionTrait,
    who: &Identity,
    id: i64,
    text: &str,
) -> AppResult<incident_note::Model> {
    visible(db, who, id).await?;
    let text = validate::text("text", text, 16 * 1024)?;
    let added = note(id, who, "NOTE", Some(text), None).insert(db).await?;
    events::record(db, event(ChangeKind::Updated, id)).await?;
    Ok(added)
}

/// Deletes incident `id` (which `who` must see) with its links and timeline.
pub async fn delete(db: &impl ConnectionTrait, who: &Identity, id: i64) -> AppResult<()> {
    visible(db, who, id).await?;
    incident::Entity::delete_by_id(id).exec(db).await?;
    events::record(db, event(ChangeKind::Deleted, id)).await
}

/// Adds a value to a classification list.
pub async fn create_lookup(
    db: &impl ConnectionTrait,
    kind: LookupKind,
    name: &str,
) -> AppResult<incident_lookup::Model> {
    let name = validate::line("name", name, 100)?;
    let now = db::now();
    incident_lookup::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        name_key: Set(validate::key(&name)),
        name: Set(name),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| AppError::conflict_on_unique(e, "that list already has a value of that name"))
}

/// Renames a value of a classification list (incidents keep it).
pub async fn rename_lookup(
    db: &impl ConnectionTrait,
    id: i64,
    name: &str,
) -> AppResult<incident_lookup::Model> {
    let name = validate::line("name", name, 100)?;
    let Some(found) = incident_lookup::Entity::find_by_id(id).one(db).await? else {
        return Err(AppError::not_found("incident lookup"));
    };
    let mut row: incident_lookup::ActiveModel = found.into();
    row.name_key = Set(validate::key(&name));
    row.name = Set(name);
    row.updated_at = Set(db::now());
    row.update(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "that list already has a value of that name"))
}
