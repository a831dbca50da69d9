//! HECTOR's reports on what hosts expose: top open ports, the advanced port search,
//! dangerous hosts and web servers.

use std::collections::HashMap;

use entity::{host, host_service};
use sea_orm::Condition;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::*;
use crate::actor::HostScope;
use crate::error::{AppError, AppResult};
use crate::page::{Page, PageRequest};

/// One line of the top-ports report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCount {
    pub protocol: String,
    pub port: i32,
    pub hosts: i64,
}

/// The ports open on most hosts `scope` sees.
pub async fn top_open_ports(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    limit: u64,
) -> AppResult<Vec<PortCount>> {
    let rows: Vec<(String, i32, i64)> = host_service::Entity::find()
        .select_only()
        .column(host_service::Column::Protocol)
        .column(host_service::Column::Port)
        .column_as(host_service::Column::Id.count(), "hosts")
        .inner_join(host::Entity)
        .filter(scope_condition(scope))
        .filter(host_service::Column::State.eq(OPEN))
        .group_by(host_service::Column::Protocol)
        .group_by(host_service::Column::Port)
        .order_by_desc(Expr::col(sea_orm::sea_query::Alias::new("hosts")))
        .order_by_asc(host_service::Column::Port)
        .limit(limit.min(1000))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(protocol, port, hosts)| PortCount {
            protocol,
            port,
            hosts,
        })
        .collect())
}

/// A port of a report's question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRef {
    pub protocol: &'static str,
    pub port: u16,
}

/// HECTOR's advanced search: hosts with any, all or none of some open ports, and with or
/// without some tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PortSearch {
    pub any: Vec<PortRef>,
    pub all: Vec<PortRef>,
    pub none: Vec<PortRef>,
    pub tags_in: Vec<String>,
    pub tags_out: Vec<String>,
}

fn open_on(ports: &[PortRef]) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{ExprTrait, Query};
    let mut which = Condition::any();
    for p in ports {
        which = which.add(
            Condition::all()
                .add(
                    Expr::col((host_service::Entity, host_service::Column::Protocol))
                        .eq(p.protocol),
                )
                .add(
                    Expr::col((host_service::Entity, host_service::Column::Port))
                        .eq(i32::from(p.port)),
                ),
        );
    }
    Query::select()
        .column((host_service::Entity, host_service::Column::HostId))
        .from(host_service::Entity)
        .and_where(Expr::col((host_service::Entity, host_service::Column::State)).eq(OPEN))
        .cond_where(which)
        .to_owned()
}

fn search_query(
    scope: &HostScope,
    search: &PortSearch,
) -> AppResult<sea_orm::Select<host::Entity>> {
    use sea_orm::sea_query::ExprTrait;
    for (name, list) in [
        ("any", &search.any),
        ("all", &search.all),
        ("none", &search.none),
    ] {
        if list.len() > 64 {
            return Err(AppError::bad_input(format!(
                "`{name}` takes at most 64 ports"
            )));
        }
    }
    if search.any.is_empty() && search.all.is_empty() && search.none.is_empty() {
        return Err(AppError::bad_input(
            "give some ports: `any`, `all` or `none`",
        ));
    }
    let id = || Expr::col((host::Entity, host::Column::Id));
    let mut query = host::Entity::find().filter(scope_condition(scope));
    if !search.any.is_empty() {
        query = query.filter(id().in_subquery(open_on(&search.any)));
    }
    for p in &search.all {
        query = query.filter(id().in_subquery(open_on(std::slice::from_ref(p))));
    }
    if !search.none.is_empty() {
        query = query.filter(id().not_in_subquery(open_on(&search.none)));
    }
    if !search.tags_in.is_empty() {
        query = query
            .filter(id().in_subquery(crate::host::service::filter::hosts_tagged(&search.tags_in)?));
    }
    if !search.tags_out.is_empty() {
        query = query.filter(
            id().not_in_subquery(crate::host::service::filter::hosts_tagged(
                &search.tags_out,
            )?),
        );
    }
    Ok(query)
}

/// Hosts `scope` sees that match `search`, by id.
pub async fn hosts_by_ports(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    search: &PortSearch,
    page: &PageRequest,
) -> AppResult<Page<host::Model>> {
    crate::page::by_id(
        db,
        search_query(scope, search)?,
        host::Column::Id,
        "hostsByPorts:ID:ASC",
        false,
        page,
        |h| h.id,
    )
    .await
}

pub async fn count_hosts_by_ports(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    search: &PortSearch,
) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(search_query(scope, search)?.count(db).await?)
}

/// A host with many open ports, or many risky ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangerous {
    pub host: host::Model,
    pub open: i64,
    pub risky: i64,
}

/// Hosts `scope` sees with more than `max_open` open ports, or more than `max_risky` open
/// ports from `risky`; most open ports first, at most `limit`.
pub async fn dangerous_hosts(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    max_open: u32,
    risky: &[u16],
    max_risky: u32,
    limit: u64,
) -> AppResult<Vec<Dangerous>> {
    let count = |ports: Option<&[u16]>| {
        let mut q = host_service::Entity::find()
            .select_only()
            .column(host_service::Column::HostId)
            .column_as(host_service::Column::Id.count(), "n")
            .inner_join(host::Entity)
            .filter(scope_condition(scope))
            .filter(host_service::Column::State.eq(OPEN))
            .group_by(host_service::Column::HostId);
        if let Some(ports) = ports {
            q = q.filter(
                host_service::Column::Port
                    .is_in(ports.iter().map(|p| i32::from(*p)).collect::<Vec<_>>()),
            );
        }
        q
    };
    let open: HashMap<i64, i64> = count(None)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let risky_counts: HashMap<i64, i64> = if risky.is_empty() {
        HashMap::new()
    } else {
        count(Some(risky))
            .into_tuple::<(i64, i64)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    let mut hits: Vec<(i64, i64, i64)> = open
        .iter()
        .map(|(h, n)| (*h, *n, risky_counts.get(h).copied().unwrap_or(0)))
        .filter(|(_, n, r)| *n > i64::from(max_open) || *r > i64::from(max_risky))
        .collect();
    hits.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    hits.truncate(limit.min(1000) as usize);
    let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
    let hosts = crate::host::service::any_by_ids(db, &ids).await?;
    Ok(hits
        .into_iter()
        .filter_map(|(id, open, risky)| {
            hosts.get(&id).map(|h| Dangerous {
                host: h.clone(),
                open,
                risky,
            })
        })
        .collect())
}

/// Open services that serve the web (an `http` service, or a usual web port), on hosts
/// `scope` sees; at most `limit`, by host and port.
pub async fn web_servers(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    limit: u64,
) -> AppResult<Vec<host_service::Model>> {
    let web = Condition::any()
        .add(host_service::Column::Name.like("http%"))
        .add(host_service::Column::Name.like("ssl/http%"))
        .add(host_service::Column::Name.eq("https"))
        .add(host_service::Column::Port.is_in([80, 443, 8000, 8008, 8080, 8443]));
    Ok(host_service::Entity::find()
        .inner_join(host::Entity)
        .filter(scope_condition(scope))
        .filter(host_service::Column::State.eq(OPEN))
        .filter(host_service::Column::Protocol.eq("tcp"))
        .filter(web)
        .order_by_asc(host_service::Column::HostId)
        .order_by_asc(host_service::Column::Port)
        .limit(limit.min(1000))
        .all(db)
        .await?)
}
