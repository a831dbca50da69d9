//! Reading services, their history and exposure changes, as the caller may see them.

use chrono::{DateTime, Utc};
use entity::{exposure_change, host, host_service, service_observation};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::*;
use crate::actor::HostScope;
use crate::error::AppResult;
use crate::page::{Page, PageRequest};

/// The services of host `host_id` (which the caller has already been allowed to see), by
/// protocol and port; only those in `state` when given.
pub async fn services_of(
    db: &impl ConnectionTrait,
    host_id: i64,
    state: Option<&str>,
) -> AppResult<Vec<host_service::Model>> {
    let mut query = host_service::Entity::find().filter(host_service::Column::HostId.eq(host_id));
    if let Some(state) = state {
        query = query.filter(host_service::Column::State.eq(state));
    }
    Ok(query
        .order_by_asc(host_service::Column::Protocol)
        .order_by_asc(host_service::Column::Port)
        .limit(MAX_SERVICES_PER_HOST)
        .all(db)
        .await?)
}

/// Service `id`, if `scope` sees its host.
pub async fn service(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<Option<host_service::Model>> {
    Ok(host_service::Entity::find_by_id(id)
        .inner_join(host::Entity)
        .filter(scope_condition(scope))
        .one(db)
        .await?)
}

/// The observations of service `service_id`, newest first.
pub async fn history(
    db: &impl ConnectionTrait,
    service_id: i64,
    page: &PageRequest,
) -> AppResult<Page<service_observation::Model>> {
    crate::page::by_id(
        db,
        service_observation::Entity::find()
            .filter(service_observation::Column::ServiceId.eq(service_id)),
        service_observation::Column::Id,
        "observation:ID:DESC",
        true,
        page,
        |o| o.id,
    )
    .await
}

pub async fn count_history(db: &impl ConnectionTrait, service_id: i64) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(service_observation::Entity::find()
        .filter(service_observation::Column::ServiceId.eq(service_id))
        .count(db)
        .await?)
}

/// What to list of exposure changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ChangeFilter {
    pub host_id: Option<i64>,
    pub run_id: Option<i64>,
    pub kinds: Vec<String>,
    pub port: Option<u16>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

pub(super) fn change_query(
    scope: &HostScope,
    filter: &ChangeFilter,
) -> sea_orm::Select<exposure_change::Entity> {
    let mut query = exposure_change::Entity::find()
        .inner_join(host::Entity)
        .filter(scope_condition(scope));
    if let Some(h) = filter.host_id {
        query = query.filter(exposure_change::Column::HostId.eq(h));
    }
    if let Some(r) = filter.run_id {
        query = query.filter(exposure_change::Column::RunId.eq(r));
    }
    if !filter.kinds.is_empty() {
        query = query.filter(exposure_change::Column::Kind.is_in(filter.kinds.clone()));
    }
    if let Some(p) = filter.port {
        query = query.filter(exposure_change::Column::Port.eq(i32::from(p)));
    }
    if let Some(t) = filter.since {
        query = query.filter(exposure_change::Column::At.gte(t));
    }
    if let Some(t) = filter.until {
        query = query.filter(exposure_change::Column::At.lt(t));
    }
    query
}

/// Exposure change `id`, if `scope` sees its host.
pub async fn change(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<Option<exposure_change::Model>> {
    Ok(change_query(scope, &ChangeFilter::default())
        .filter(exposure_change::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Exposure changes `scope` sees, newest first.
pub async fn changes(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &ChangeFilter,
    page: &PageRequest,
) -> AppResult<Page<exposure_change::Model>> {
    crate::page::by_id(
        db,
        change_query(scope, filter),
        exposure_change::Column::Id,
        "exposureChange:ID:DESC",
        true,
        page,
        |c| c.id,
    )
    .await
}

pub async fn count_changes(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    filter: &ChangeFilter,
) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(change_query(scope, filter).count(db).await?)
}

/// Exposure changes by id with their hosts, whoever sees them (subscriptions apply the scope
/// per subscriber).
pub async fn changes_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<Vec<(exposure_change::Model, Option<host::Model>)>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        out.extend(
            exposure_change::Entity::find()
                .filter(exposure_change::Column::Id.is_in(chunk.to_vec()))
                .find_also_related(host::Entity)
                .order_by_asc(exposure_change::Column::Id)
                .all(db)
                .await?,
        );
    }
    Ok(out)
}
