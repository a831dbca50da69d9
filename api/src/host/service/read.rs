//! Reading hosts and what hangs off them.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{host, host_group, host_group_member};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::*;
use crate::actor::HostScope;
use crate::error::AppResult;
use crate::host::catalog::{self};
use crate::host::rows::scope_condition;
use crate::net;
use crate::page::{Page, PageRequest};

/// Host `id`, if `scope` sees it.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    ids: &[i64],
) -> AppResult<Vec<host::Model>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        out.extend(
            host::Entity::find()
                .filter(host::Column::Id.is_in(chunk.to_vec()))
                .filter(scope_condition(scope))
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// The host at `addr`, if `scope` sees it.
pub async fn by_address(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    addr: IpAddr,
) -> AppResult<Option<host::Model>> {
    Ok(host::Entity::find()
        .filter(host::Column::Address.eq(net::ip_key(addr)))
        .filter(scope_condition(scope))
        .one(db)
        .await?)
}

/// The groups of one host, a page at a time, ordered by name.
pub async fn groups_of_host(
    db: &impl ConnectionTrait,
    host_id: i64,
    page: &PageRequest,
) -> AppResult<Page<host_group::Model>> {
    let members = Query::select()
        .column(host_group_member::Column::HostGroupId)
        .from(host_group_member::Entity)
        .and_where(Expr::col(host_group_member::Column::HostId).eq(host_id))
        .to_owned();
    catalog::list_where::<host_group::Entity>(
        db,
        Condition::all()
            .add(Expr::col((host_group::Entity, host_group::Column::Id)).in_subquery(members)),
        crate::page::KeyOrder::BY_KEY,
        page,
    )
    .await
}

/// How many groups a host belongs to.
pub async fn group_count_of_host(db: &impl ConnectionTrait, host_id: i64) -> AppResult<u64> {
    Ok(host_group_member::Entity::find()
        .filter(host_group_member::Column::HostId.eq(host_id))
        .count(db)
        .await?)
}

/// Hosts per operating system (type, falling back to name), most first.
pub async fn os_breakdown(
    db: &impl ConnectionTrait,
    filter: &HostFilter,
) -> AppResult<Vec<(Option<String>, i64)>> {
    let os = SimpleExpr::from(Func::coalesce([
        col(host::Column::OsType),
        col(host::Column::OsName),
    ]));
    let rows: Vec<(Option<String>, i64)> = host::Entity::find()
        .select_only()
        .column_as(os.clone(), "os")
        .column_as(col(host::Column::Id).count(), "hosts")
        .filter(filter.condition()?)
        .group_by(os)
        .order_by(Expr::col("hosts"), sea_orm::Order::Desc)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows)
}

/// Whether the host is excluded from scans right now.
pub fn is_excluded(h: &host::Model, now: DateTime<Utc>) -> bool {
    h.exclusion_reason.is_some() && h.exclusion_until.is_none_or(|until| until > now)
}
