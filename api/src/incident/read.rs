//! Reading incidents as the caller may see them: an incident linked to hosts is visible to a
//! non-admin only if at least one of those hosts is (or it has none), on every path (lists,
//! counts, `node`, reports, subscriptions); its host list shows only the hosts they see.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    host, incident, incident_address, incident_article, incident_host, incident_lookup,
    incident_note, incident_tag, incident_vulnerability, tag,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::{LookupKind, Status};
use crate::actor::HostScope;
use crate::error::{AppError, AppResult};
use crate::page::{Page, PageRequest};

/// Most incidents a report counts (the reports read one narrow row per incident).
pub const MAX_REPORTED: u64 = 200_000;

/// The incidents `scope` sees: those without hosts, and those with a host it sees.
pub fn visible(scope: &HostScope) -> Condition {
    match scope {
        HostScope::All => Condition::all(),
        HostScope::SupportGroups(groups) => {
            let linked = Query::select()
                .column(incident_host::Column::IncidentId)
                .from(incident_host::Entity)
                .to_owned();
            let mut seen = Query::select();
            seen.column((incident_host::Entity, incident_host::Column::IncidentId))
                .from(incident_host::Entity)
                .inner_join(
                    host::Entity,
                    Expr::col((host::Entity, host::Column::Id))
                        .equals((incident_host::Entity, incident_host::Column::HostId)),
                );
            if groups.is_empty() {
                seen.and_where(Expr::val(1).eq(0));
            } else {
                seen.and_where(
                    Expr::col((host::Entity, host::Column::SupportGroupId)).is_in(groups.clone()),
                );
            }
            Condition::any()
                .add(incident::Column::Id.not_in_subquery(linked))
                .add(incident::Column::Id.in_subquery(seen.to_owned()))
        }
    }
}

/// Which incidents. Empty lists mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct IncidentFilter {
    pub statuses: Vec<Status>,
    pub severities: Vec<&'static str>,
    /// A classification value (agent, action, asset or discovery) by id.
    pub lookup_ids: Vec<i64>,
    /// Occurred at or after.
    pub since: Option<DateTime<Utc>>,
    /// Occurred before.
    pub until: Option<DateTime<Utc>>,
    pub host_id: Option<i64>,
    pub tag_id: Option<i64>,
}

fn query(scope: &HostScope, filter: &IncidentFilter) -> sea_orm::Select<incident::Entity> {
    let mut q = incident::Entity::find().filter(visible(scope));
    if !filter.statuses.is_empty() {
        q = q.filter(incident::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    if !filter.severities.is_empty() {
        q = q.filter(incident::Column::Severity.is_in(filter.severities.clone()));
    }
    for id in &filter.lookup_ids {
        q = q.filter(
            Condition::any()
                .add(incident::Column::AgentId.eq(*id))
                .add(incident::Column::ActionId.eq(*id))
                .add(incident::Column::AssetId.eq(*id))
                .add(incident::Column::DiscoveryId.eq(*id)),
        );
    }
    if let Some(t) = filter.since {
        q = q.filter(incident::Column::OccurredAt.gte(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(incident::Column::OccurredAt.lt(t));
    }
    if let Some(h) = filter.host_id {
        let with = Query::select()
            .column(incident_host::Column::IncidentId)
            .from(incident_host::Entity)
            .and_where(Expr::col(incident_host::Column::HostId).eq(h))
            .to_owned();
        q = q.filter(incident::Column::Id.in_subquery(with));
    }
    if let Some(t) = filter.tag_id {
        let with = Query::select()
            .column(incident_tag::Column::IncidentId)
            .from(incident_tag::Entity)
            .and_where(Expr::col(incident_tag::Column::TagId).eq(t))
            .to_owned();
        q = q.filter(incident::Column::Id.in_subquery(with));
    }
    q
}

/// Incidents `scope` sees, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &IncidentFilter,
    page: &PageRequest,
) -> AppResult<Page<incident::Model>> {
    crate::page::by_id(
        db,
        query(scope, filter),
        incident::Column::Id,
        "incident:ID:DESC",
        true,
        page,
        |i| i.id,
    )
    .await
}

pub async fn count(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &IncidentFilter,
) -> AppResult<u64> {
    Ok(query(scope, filter).count(db).await?)
}

/// Incident `id`, if `scope` sees it.
pub async fn get(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<Option<incident::Model>> {
    Ok(query(scope, &IncidentFilter::default())
        .filter(incident::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Incidents by id with the support groups of their hosts (`None` for a host without one),
/// whoever sees them: subscriptions decide per subscriber with [`sees`].
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, (incident::Model, Vec<Option<i64>>)>> {
    let mut out: HashMap<i64, (incident::Model, Vec<Option<i64>>)> = HashMap::new();
    for chunk in ids.chunks(1000) {
        for i in incident::Entity::find()
            .filter(incident::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            out.insert(i.id, (i, Vec::new()));
        }
        let groups: Vec<(i64, Option<i64>)> = incident_host::Entity::find()
            .select_only()
            .column(incident_host::Column::IncidentId)
            .column_as(
                Expr::col((host::Entity, host::Column::SupportGroupId)),
                "support_group_id",
            )
            .join(
                sea_orm::JoinType::InnerJoin,
                incident_host::Entity::belongs_to(host::Entity)
                    .from(incident_host::Column::HostId)
                    .to(host::Column::Id)
                    .into(),
            )
            .filter(incident_host::Column::IncidentId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        for (id, group) in groups {
            if let Some(entry) = out.get_mut(&id) {
                entry.1.push(group);
            }
        }
    }
    Ok(out)
}

/// Whether `scope` sees an incident whose hosts are in `groups`.
pub fn sees(scope: &HostScope, groups: &[Option<i64>]) -> bool {
    groups.is_empty() || groups.iter().any(|g| scope.sees(*g))
}

/// The hosts of incidents `ids` that `scope` sees, by address.
pub async fn hosts_of(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<host::Model>>> {
    let mut out: HashMap<i64, Vec<host::Model>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        let links: Vec<(i64, i64)> = incident_host::Entity::find()
            .select_only()
            .column(incident_host::Column::IncidentId)
            .column(incident_host::Column::HostId)
            .filter(incident_host::Column::IncidentId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        let host_ids: Vec<i64> = links.iter().map(|l| l.1).collect();
        let hosts = crate::host::service::any_by_ids(db, &host_ids).await?;
        for (incident_id, host_id) in links {
            if let Some(h) = hosts
                .get(&host_id)
                .filter(|h| scope.sees(h.support_group_id))
            {
                out.entry(incident_id).or_default().push(h.clone());
            }
        }
    }
    for hosts in out.values_mut() {
        hosts.sort_by(|a, b| a.address.cmp(&b.address));
    }
    Ok(out)
}

/// The attacker addresses of incidents `ids`, in address order.
pub async fn addresses_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<Vec<u8>>>> {
    let mut out: HashMap<i64, Vec<Vec<u8>>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        for a in incident_address::Entity::find()
            .filter(incident_address::Column::IncidentId.is_in(chunk.to_vec()))
            .order_by_asc(incident_address::Column::Address)
            .all(db)
            .await?
        {
            out.entry(a.incident_id).or_default().push(a.address);
        }
    }
    Ok(out)
}

/// The vulnerability ids of incidents `ids`.
pub async fn vulnerabilities_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<i64>>> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        for v in incident_vulnerability::Entity::find()
            .filter(incident_vulnerability::Column::IncidentId.is_in(chunk.to_vec()))
            .order_by_asc(incident_vulnerability::Column::VulnerabilityId)
            .all(db)
            .await?
        {
            out.entry(v.incident_id)
                .or_default()
                .push(v.vulnerability_id);
        }
    }
    Ok(out)
}

/// The article ids of incidents `ids`.
pub async fn articles_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<i64>>> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        for a in incident_article::Entity::find()
            .filter(incident_article::Column::IncidentId.is_in(chunk.to_vec()))
            .order_by_asc(incident_article::Column::ArticleId)
            .all(db)
            .await?
        {
            out.entry(a.incident_id).or_default().push(a.article_id);
        }
    }
    Ok(out)
}

/// The tag names of incidents `ids`, by name.
pub async fn tags_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<String>>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        let rows: Vec<(i64, String)> = incident_tag::Entity::find()
            .select_only()
            .column(incident_tag::Column::IncidentId)
            .column_as(Expr::col((tag::Entity, tag::Column::Name)), "name")
            .join(
                sea_orm::JoinType::InnerJoin,
                incident_tag::Entity::belongs_to(tag::Entity)
                    .from(incident_tag::Column::TagId)
                    .to(tag::Column::Id)
                    .into(),
            )
            .filter(incident_tag::Column::IncidentId.is_in(chunk.to_vec()))
            .order_by_asc(Expr::col((tag::Entity, tag::Column::Name)))
            .into_tuple()
            .all(db)
            .await?;
        for (id, name) in rows {
            out.entry(id).or_default().push(name);
        }
    }
    Ok(out)
}

/// The timeline of incident `id` (which the caller sees), oldest first.
pub async fn notes(
    db: &impl ConnectionTrait,
    id: i64,
    page: &PageRequest,
) -> AppResult<Page<incident_note::Model>> {
    crate::page::by_id(
        db,
        incident_note::Entity::find().filter(incident_note::Column::IncidentId.eq(id)),
        incident_note::Column::Id,
        "incidentNote:ID:ASC",
        false,
        page,
        |n| n.id,
    )
    .await
}

pub async fn count_notes(db: &impl ConnectionTrait, id: i64) -> AppResult<u64> {
    Ok(incident_note::Entity::find()
        .filter(incident_note::Column::IncidentId.eq(id))
        .count(db)
        .await?)
}

/// The values of a classification list (every list when `kind` is none), by name.
pub async fn lookups(
    db: &impl ConnectionTrait,
    kind: Option<LookupKind>,
) -> AppResult<Vec<incident_lookup::Model>> {
    let mut q = incident_lookup::Entity::find();
    if let Some(kind) = kind {
        q = q.filter(incident_lookup::Column::Kind.eq(kind.as_str()));
    }
    Ok(q.order_by_asc(incident_lookup::Column::Kind)
        .order_by_asc(incident_lookup::Column::NameKey)
        .limit(10_000)
        .all(db)
        .await?)
}

pub async fn lookups_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, incident_lookup::Model>> {
    Ok(incident_lookup::Entity::find()
        .filter(incident_lookup::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect())
}

/// What the reports need of one incident.
#[derive(Debug, Clone, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct Reported {
    pub agent_id: Option<i64>,
    pub action_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub discovery_id: Option<i64>,
    pub overall_impact: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// The classification, impact and time of every incident `scope` sees that matches
/// `filter` (at most [`MAX_REPORTED`]).
pub async fn reported(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &IncidentFilter,
) -> AppResult<Vec<Reported>> {
    let rows = query(scope, filter)
        .select_only()
        .column(incident::Column::AgentId)
        .column(incident::Column::ActionId)
        .column(incident::Column::AssetId)
        .column(incident::Column::DiscoveryId)
        .column(incident::Column::OverallImpact)
        .column(incident::Column::OccurredAt)
        .limit(MAX_REPORTED + 1)
        .into_model::<Reported>()
        .all(db)
        .await?;
    if rows.len() as u64 > MAX_REPORTED {
        return Err(AppError::bad_input(format!(
            "more than {MAX_REPORTED} incidents match; narrow the filter"
        )));
    }
    Ok(rows)
}
