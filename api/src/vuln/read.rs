//! Reading findings, the catalog, imports and their analytics, as the caller may see them:
//! findings follow their host's support group on every path (lists, counts, `node`, the
//! summaries, `scanDelta`, subscriptions).

use std::collections::{HashMap, HashSet};

use entity::{
    finding, finding_change, finding_import, finding_import_host, finding_sighting, host,
    host_group_member, tag, vulnerability, vulnerability_cve, vulnerability_tag,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::lifecycle::Status;
use crate::actor::HostScope;
use crate::error::AppResult;
use crate::host::service::scope_condition;
use crate::page::{Page, PageRequest};

/// What to list of findings. Empty lists mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FindingFilter {
    /// Risk levels (0 none to 4 critical).
    pub risks: Vec<i16>,
    pub statuses: Vec<Status>,
    /// A CVE id, upper case.
    pub cve: Option<String>,
    pub host_id: Option<i64>,
    pub host_group_id: Option<i64>,
    pub support_group_id: Option<i64>,
    pub vulnerability_id: Option<i64>,
    /// Findings an import reported (new, seen or reopened).
    pub import_id: Option<i64>,
}

fn cve_vulnerabilities(cve: &str) -> SelectStatement {
    Query::select()
        .column(vulnerability_cve::Column::VulnerabilityId)
        .from(vulnerability_cve::Entity)
        .and_where(Expr::col(vulnerability_cve::Column::Cve).eq(cve.to_owned()))
        .to_owned()
}

impl FindingFilter {
    /// The condition on `finding` (joined with `host`) it stands for.
    pub fn condition(&self) -> Condition {
        let mut cond = Condition::all();
        if !self.risks.is_empty() {
            cond = cond.add(finding::Column::Risk.is_in(self.risks.clone()));
        }
        if !self.statuses.is_empty() {
            cond =
                cond.add(finding::Column::Status.is_in(self.statuses.iter().map(|s| s.as_str())));
        }
        if let Some(cve) = &self.cve {
            cond = cond.add(finding::Column::VulnerabilityId.in_subquery(cve_vulnerabilities(cve)));
        }
        if let Some(h) = self.host_id {
            cond = cond.add(finding::Column::HostId.eq(h));
        }
        if let Some(g) = self.host_group_id {
            let members = Query::select()
                .column(host_group_member::Column::HostId)
                .from(host_group_member::Entity)
                .and_where(Expr::col(host_group_member::Column::HostGroupId).eq(g))
                .to_owned();
            cond = cond.add(finding::Column::HostId.in_subquery(members));
        }
        if let Some(g) = self.support_group_id {
            cond = cond.add(Expr::col((host::Entity, host::Column::SupportGroupId)).eq(g));
        }
        if let Some(v) = self.vulnerability_id {
            cond = cond.add(finding::Column::VulnerabilityId.eq(v));
        }
        if let Some(i) = self.import_id {
            let seen = Query::select()
                .column(finding_sighting::Column::FindingId)
                .from(finding_sighting::Entity)
                .and_where(Expr::col(finding_sighting::Column::ImportId).eq(i))
                .and_where(Expr::col(finding_sighting::Column::Outcome).ne("FIXED"))
                .to_owned();
            cond = cond.add(finding::Column::Id.in_subquery(seen));
        }
        cond
    }
}

fn finding_query(scope: &HostScope, filter: &FindingFilter) -> sea_orm::Select<finding::Entity> {
    finding::Entity::find()
        .inner_join(host::Entity)
        .filter(scope_condition(scope))
        .filter(filter.condition())
}

/// Findings `scope` sees, newest first.
pub async fn findings(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &FindingFilter,
    page: &PageRequest,
) -> AppResult<Page<finding::Model>> {
    crate::page::by_id(
        db,
        finding_query(scope, filter),
        finding::Column::Id,
        "finding:ID:DESC",
        true,
        page,
        |f| f.id,
    )
    .await
}

pub async fn count_findings(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &FindingFilter,
) -> AppResult<u64> {
    Ok(finding_query(scope, filter).count(db).await?)
}

/// Finding `id`, if `scope` sees its host.
pub async fn finding(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<Option<finding::Model>> {
    Ok(finding_query(scope, &FindingFilter::default())
        .filter(finding::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Findings by id with their hosts, whoever sees them (subscriptions apply the scope per
/// subscriber).
pub async fn findings_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, (finding::Model, host::Model)>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        for (f, h) in finding::Entity::find()
            .filter(finding::Column::Id.is_in(chunk.to_vec()))
            .find_also_related(host::Entity)
            .all(db)
            .await?
        {
            if let Some(h) = h {
                out.insert(f.id, (f, h));
            }
        }
    }
    Ok(out)
}

/// Which of findings `ids` match `filter` (whoever sees them).
pub async fn matching_ids(
    db: &impl ConnectionTrait,
    filter: &FindingFilter,
    ids: &[i64],
) -> AppResult<HashSet<i64>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(1000) {
        let found: Vec<i64> = finding_query(&HostScope::All, filter)
            .select_only()
            .column(finding::Column::Id)
            .filter(finding::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// The history of finding `id` (which the caller may see), oldest first.
pub async fn changes(
    db: &impl ConnectionTrait,
    finding_id: i64,
    page: &PageRequest,
) -> AppResult<Page<finding_change::Model>> {
    crate::page::by_id(
        db,
        finding_change::Entity::find().filter(finding_change::Column::FindingId.eq(finding_id)),
        finding_change::Column::Id,
        "findingChange:ID:ASC",
        false,
        page,
        |c| c.id,
    )
    .await
}

pub async fn count_changes(db: &impl ConnectionTrait, finding_id: i64) -> AppResult<u64> {
    Ok(finding_change::Entity::find()
        .filter(finding_change::Column::FindingId.eq(finding_id))
        .count(db)
        .await?)
}

/// What to list of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct VulnerabilityFilter {
    pub cve: Option<String>,
    /// Lower-case text the name contains.
    pub name_contains: Option<String>,
    pub tag_id: Option<i64>,
}

fn vulnerability_query(filter: &VulnerabilityFilter) -> sea_orm::Select<vulnerability::Entity> {
    let mut query = vulnerability::Entity::find();
    if let Some(cve) = &filter.cve {
        query = query.filter(vulnerability::Column::Id.in_subquery(cve_vulnerabilities(cve)));
    }
    if let Some(text) = &filter.name_contains {
        query = query.filter(
            Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(
                vulnerability::Column::Name,
            )))
            .like(crate::host::catalog::like_pattern(&text.to_lowercase())),
        );
    }
    if let Some(tag) = filter.tag_id {
        let tagged = Query::select()
            .column(vulnerability_tag::Column::VulnerabilityId)
            .from(vulnerability_tag::Entity)
            .and_where(Expr::col(vulnerability_tag::Column::TagId).eq(tag))
            .to_owned();
        query = query.filter(vulnerability::Column::Id.in_subquery(tagged));
    }
    query
}

/// The catalog, newest first.
pub async fn vulnerabilities(
    db: &impl ConnectionTrait,
    filter: &VulnerabilityFilter,
    page: &PageRequest,
) -> AppResult<Page<vulnerability::Model>> {
    crate::page::by_id(
        db,
        vulnerability_query(filter),
        vulnerability::Column::Id,
        "vulnerability:ID:DESC",
        true,
        page,
        |v| v.id,
    )
    .await
}

pub async fn count_vulnerabilities(
    db: &impl ConnectionTrait,
    filter: &VulnerabilityFilter,
) -> AppResult<u64> {
    Ok(vulnerability_query(filter).count(db).await?)
}

pub async fn vulnerabilities_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, vulnerability::Model>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        for v in vulnerability::Entity::find()
            .filter(vulnerability::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            out.insert(v.id, v);
        }
    }
    Ok(out)
}

/// The CVE ids of vulnerabilities `ids`, in order.
pub async fn cves_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<String>>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        for c in vulnerability_cve::Entity::find()
            .filter(vulnerability_cve::Column::VulnerabilityId.is_in(chunk.to_vec()))
            .order_by_asc(vulnerability_cve::Column::Cve)
            .all(db)
            .await?
        {
            out.entry(c.vulnerability_id).or_default().push(c.cve);
        }
    }
    Ok(out)
}

/// The tag names of vulnerabilities `ids`, by name.
pub async fn tag_names_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<String>>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        let rows: Vec<(i64, String)> = vulnerability_tag::Entity::find()
            .select_only()
            .column(vulnerability_tag::Column::VulnerabilityId)
            .column(tag::Column::Name)
            .inner_join(tag::Entity)
            .filter(vulnerability_tag::Column::VulnerabilityId.is_in(chunk.to_vec()))
            .order_by_asc(tag::Column::Name)
            .into_tuple()
            .all(db)
            .await?;
        for (id, name) in rows {
            out.entry(id).or_default().push(name);
        }
    }
    Ok(out)
}

/// The id of the tag named `name` (any case).
pub async fn tag_id(db: &impl ConnectionTrait, name: &str) -> AppResult<Option<i64>> {
    Ok(tag::Entity::find()
        .select_only()
        .column(tag::Column::Id)
        .filter(tag::Column::NameKey.eq(crate::validate::key(name)))
        .into_tuple()
        .one(db)
        .await?)
}

pub async fn count_imports(db: &impl ConnectionTrait) -> AppResult<u64> {
    Ok(finding_import::Entity::find().count(db).await?)
}

/// Import `id`.
pub async fn import(
    db: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<finding_import::Model>> {
    Ok(finding_import::Entity::find_by_id(id).one(db).await?)
}

/// Imports, newest first.
pub async fn imports(
    db: &impl ConnectionTrait,
    page: &PageRequest,
) -> AppResult<Page<finding_import::Model>> {
    crate::page::by_id(
        db,
        finding_import::Entity::find(),
        finding_import::Column::Id,
        "findingImport:ID:DESC",
        true,
        page,
        |i| i.id,
    )
    .await
}

/// Findings per risk level: how many, on how many hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskCount {
    pub risk: i16,
    pub findings: u64,
    pub hosts: u64,
}

/// How many findings `scope` sees per risk level (open ones unless the filter names
/// statuses), highest risk first.
pub async fn risk_summary(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &FindingFilter,
) -> AppResult<Vec<RiskCount>> {
    let filter = open_unless_named(filter);
    let rows: Vec<(i16, i64, i64)> = finding_query(scope, &filter)
        .select_only()
        .column(finding::Column::Risk)
        .column_as(
            Expr::col((finding::Entity, finding::Column::Id)).count(),
            "findings",
        )
        .column_as(
            Expr::col((finding::Entity, finding::Column::HostId)).count_distinct(),
            "hosts",
        )
        .group_by(finding::Column::Risk)
        .order_by_desc(finding::Column::Risk)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(risk, findings, hosts)| RiskCount {
            risk,
            findings: findings as u64,
            hosts: hosts as u64,
        })
        .collect())
}

fn open_unless_named(filter: &FindingFilter) -> FindingFilter {
    let mut filter = filter.clone();
    if filter.statuses.is_empty() {
        filter.statuses = vec![Status::Open, Status::Reopened];
    }
    filter
}

/// A host's findings by risk level.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct HostRisk {
    pub host_id: i64,
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub total: i64,
}

/// The hosts with the worst findings (open ones unless the filter names statuses): most
/// critical first, then high, medium, low; at most `limit`.
pub async fn most_affected_hosts(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &FindingFilter,
    limit: u64,
) -> AppResult<Vec<HostRisk>> {
    let filter = open_unless_named(filter);
    let level = |n: i16| {
        Expr::cust_with_values(
            "COUNT(CASE WHEN finding.risk = ? THEN 1 END)",
            [sea_orm::Value::from(n)],
        )
    };
    let mut query = finding_query(scope, &filter)
        .select_only()
        .column_as(
            Expr::col((finding::Entity, finding::Column::HostId)),
            "host_id",
        )
        .column_as(level(4), "critical")
        .column_as(level(3), "high")
        .column_as(level(2), "medium")
        .column_as(level(1), "low")
        .column_as(
            Expr::col((finding::Entity, finding::Column::Id)).count(),
            "total",
        )
        .group_by(Expr::col((finding::Entity, finding::Column::HostId)));
    for name in ["critical", "high", "medium", "low", "total"] {
        query = query.order_by_desc(Expr::cust(name));
    }
    Ok(query
        .order_by_asc(Expr::col((finding::Entity, finding::Column::HostId)))
        .limit(limit)
        .into_model::<HostRisk>()
        .all(db)
        .await?)
}

/// What changed between imports `a` and `b`: findings `b` reported that `a` did not, and
/// findings `a` reported on hosts `b` covered that `b` did not; at most `limit` of each, with
/// their counts.
pub async fn scan_delta(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    a: i64,
    b: i64,
    limit: u64,
) -> AppResult<Delta> {
    let reported = |import: i64| {
        Query::select()
            .column(finding_sighting::Column::FindingId)
            .from(finding_sighting::Entity)
            .and_where(Expr::col(finding_sighting::Column::ImportId).eq(import))
            .and_where(Expr::col(finding_sighting::Column::Outcome).ne("FIXED"))
            .to_owned()
    };
    let covered = Query::select()
        .column(finding_import_host::Column::HostId)
        .from(finding_import_host::Entity)
        .and_where(Expr::col(finding_import_host::Column::ImportId).eq(b))
        .to_owned();
    let new = finding_query(scope, &FindingFilter::default())
        .filter(finding::Column::Id.in_subquery(reported(b)))
        .filter(finding::Column::Id.not_in_subquery(reported(a)));
    let fixed = finding_query(scope, &FindingFilter::default())
        .filter(finding::Column::Id.in_subquery(reported(a)))
        .filter(finding::Column::Id.not_in_subquery(reported(b)))
        .filter(finding::Column::HostId.in_subquery(covered));
    Ok(Delta {
        new_count: new.clone().count(db).await?,
        fixed_count: fixed.clone().count(db).await?,
        new: new
            .order_by_asc(finding::Column::Id)
            .limit(limit)
            .all(db)
            .await?,
        fixed: fixed
            .order_by_asc(finding::Column::Id)
            .limit(limit)
            .all(db)
            .await?,
    })
}

/// The answer of [`scan_delta`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub new_count: u64,
    pub fixed_count: u64,
    pub new: Vec<finding::Model>,
    pub fixed: Vec<finding::Model>,
}
