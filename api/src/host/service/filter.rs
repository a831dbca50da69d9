//! Which hosts a request means: the filter (with `and`/`or`/`not`, bounded), the orders
//! and their keysets, listing, counting, and matching events against a filter.

use std::collections::HashSet;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{host, host_group_member, host_tag, tag};
use ipnet::IpNet;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::actor::HostScope;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{ChangeKind, Item};
use crate::filter::{BoolFilter, Terms};
use crate::host::catalog::like_pattern;
use crate::host::rows::scope_condition;
use crate::net;
use crate::page::{Cursor, Keyset, Page, PageRequest, SortValue};
use crate::validate;

/// How to read a host list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostOrderField {
    #[default]
    Address,
    Name,
    CreatedAt,
    LastSeen,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct HostOrder {
    pub field: HostOrderField,
    pub descending: bool,
}

/// Which hosts to keep. All set fields must hold; `and`, `or` and `not` compose filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFilter {
    pub address: Option<IpAddr>,
    pub within: Option<IpNet>,
    pub name: Option<String>,
    pub os: Option<String>,
    pub tags_any: Option<Vec<String>>,
    pub tags_all: Option<Vec<String>>,
    pub tags_none: Option<Vec<String>>,
    pub group: Option<i64>,
    pub support_group: Option<i64>,
    pub location: Option<i64>,
    pub excluded: Option<bool>,
    pub and: Vec<HostFilter>,
    pub or: Vec<HostFilter>,
    pub not: Option<Box<HostFilter>>,
    /// Who is asking: only hosts of these support groups (set on the outermost filter).
    pub scope: HostScope,
}

pub(super) fn col(c: host::Column) -> SimpleExpr {
    Expr::col((host::Entity, c))
}

impl HostFilter {
    /// The SQL condition of this filter, checked for size.
    pub fn condition(&self) -> AppResult<Condition> {
        Ok(Condition::all()
            .add(scope_condition(&self.scope))
            .add(crate::filter::condition(self)?))
    }

    /// No condition but the scope.
    pub fn is_unfiltered(&self) -> bool {
        *self
            == Self {
                scope: self.scope.clone(),
                ..Default::default()
            }
    }
}

impl BoolFilter for HostFilter {
    fn all_of(&self) -> &[Self] {
        &self.and
    }

    fn any_of(&self) -> &[Self] {
        &self.or
    }

    fn none_of(&self) -> Option<&Self> {
        self.not.as_deref()
    }

    fn own(&self, terms: &mut Terms) -> AppResult<Condition> {
        let mut cond = Condition::all();
        let mut count = |n: usize| terms.count(n);
        if let Some(addr) = self.address {
            count(1)?;
            cond = cond.add(col(host::Column::Address).eq(net::ip_key(addr)));
        }
        if let Some(net) = &self.within {
            count(1)?;
            let (lo, hi) = net::net_key_range(net);
            cond = cond.add(col(host::Column::Address).between(lo, hi));
            // IPv4 hosts are stored mapped into ::ffff:0:0/96; an IPv6 network that merely
            // spans that block (such as ::/0) means IPv6 hosts, not them.
            if let Some((mlo, mhi)) = net::mapped_block_inside(net) {
                cond = cond.add(col(host::Column::Address).between(mlo, mhi).not());
            }
        }
        if let Some(name) = &self.name {
            count(1)?;
            let name = validate::line("name", name, validate::MAX_NAME_LEN)?;
            cond = cond.add(
                Expr::expr(Func::lower(col(host::Column::Names)))
                    .like(like_pattern(&validate::key(&name))),
            );
        }
        if let Some(os) = &self.os {
            count(1)?;
            let os = validate::key(&validate::line("os", os, 100)?);
            let mut any = Condition::any();
            for c in [
                host::Column::OsName,
                host::Column::OsFamily,
                host::Column::OsVendor,
                host::Column::OsType,
            ] {
                any = any.add(Expr::expr(Func::lower(col(c))).like(like_pattern(&os)));
            }
            cond = cond.add(any);
        }
        if let Some(tags) = &self.tags_any {
            count(1)?;
            cond = cond.add(col(host::Column::Id).in_subquery(hosts_tagged(tags)?));
        }
        if let Some(tags) = &self.tags_all {
            count(tags.len().max(1))?;
            for t in tags {
                cond = cond
                    .add(col(host::Column::Id).in_subquery(hosts_tagged(std::slice::from_ref(t))?));
            }
        }
        if let Some(tags) = &self.tags_none {
            count(1)?;
            cond = cond.add(col(host::Column::Id).not_in_subquery(hosts_tagged(tags)?));
        }
        if let Some(group) = self.group {
            count(1)?;
            let members = Query::select()
                .column(host_group_member::Column::HostId)
                .from(host_group_member::Entity)
                .and_where(Expr::col(host_group_member::Column::HostGroupId).eq(group))
                .to_owned();
            cond = cond.add(col(host::Column::Id).in_subquery(members));
        }
        if let Some(id) = self.support_group {
            count(1)?;
            cond = cond.add(col(host::Column::SupportGroupId).eq(id));
        }
        if let Some(id) = self.location {
            count(1)?;
            cond = cond.add(col(host::Column::LocationId).eq(id));
        }
        if let Some(excluded) = self.excluded {
            count(1)?;
            let active = excluded_now(db::now());
            cond = cond.add(if excluded { active } else { active.not() });
        }
        Ok(cond)
    }
}

/// Hosts excluded from scans at `now`: a reason set, and no end or an end still ahead.
pub(super) fn excluded_now(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(col(host::Column::ExclusionReason).is_not_null())
        .add(
            Condition::any()
                .add(col(host::Column::ExclusionUntil).is_null())
                .add(col(host::Column::ExclusionUntil).gt(now)),
        )
}

pub(in crate::host::service) fn hosts_tagged(
    names: &[String],
) -> AppResult<sea_orm::sea_query::SelectStatement> {
    validate::bounded("tags", names, 100)?;
    let keys: Vec<String> = names.iter().map(|n| validate::key(n.trim())).collect();
    Ok(Query::select()
        .column((host_tag::Entity, host_tag::Column::HostId))
        .from(host_tag::Entity)
        .inner_join(
            tag::Entity,
            Expr::col((tag::Entity, tag::Column::Id))
                .equals((host_tag::Entity, host_tag::Column::TagId)),
        )
        .and_where(Expr::col((tag::Entity, tag::Column::NameKey)).is_in(keys))
        .to_owned())
}

pub(super) fn keyset(order: HostOrder) -> Keyset {
    let (name, key, nullable) = match order.field {
        HostOrderField::Address => ("ADDRESS", None, false),
        HostOrderField::Name => ("NAME", Some(col(host::Column::NameKey)), false),
        HostOrderField::CreatedAt => ("CREATED_AT", Some(col(host::Column::CreatedAt)), false),
        HostOrderField::LastSeen => ("LAST_SEEN", Some(col(host::Column::LastSeen)), true),
    };
    let dir = if order.descending { "DESC" } else { "ASC" };
    Keyset {
        name: format!("host:{name}:{dir}"),
        key,
        nullable,
        // Ordering by address needs no tie-breaker: the address is unique.
        id: if order.field == HostOrderField::Address {
            col(host::Column::Address)
        } else {
            col(host::Column::Id)
        },
        descending: order.descending,
    }
}

pub(super) fn cursor_of(keyset: &Keyset, order: HostOrder, h: &host::Model) -> Cursor {
    let key = match order.field {
        HostOrderField::Address => SortValue::Id,
        HostOrderField::Name => SortValue::Text(h.name_key.clone()),
        HostOrderField::CreatedAt => SortValue::Time(Some(h.created_at)),
        HostOrderField::LastSeen => SortValue::Time(h.last_seen),
    };
    Cursor {
        ordering: keyset.name.clone(),
        key,
        id: h.id,
    }
}

/// A page of hosts matching `filter` in `order`.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &HostFilter,
    order: HostOrder,
    page: &PageRequest,
) -> AppResult<Page<host::Model>> {
    let keyset = keyset(order);
    let window = if order.field == HostOrderField::Address {
        address_window(&keyset, page)?
    } else {
        keyset.window(page)?
    };
    let query = host::Entity::find()
        .filter(filter.condition()?)
        .filter(window);
    let asc = keyset.ascending(page);
    let mut query = match &keyset.key {
        Some(key) if asc => query.order_by(key.clone(), sea_orm::Order::Asc),
        Some(key) => query.order_by(key.clone(), sea_orm::Order::Desc),
        None => query,
    };
    query = if asc {
        query.order_by(keyset.id.clone(), sea_orm::Order::Asc)
    } else {
        query.order_by(keyset.id.clone(), sea_orm::Order::Desc)
    };
    let rows = query.limit(page.limit + 1).all(db).await?;
    Ok(Page::from_rows(rows, page, |h| {
        let mut c = cursor_of(&keyset, order, h);
        if order.field == HostOrderField::Address {
            c.key = SortValue::Bytes(h.address.clone());
        }
        c
    }))
}

/// Address order continues after the address in the cursor (ids are not in address order).
pub(super) fn address_window(keyset: &Keyset, page: &PageRequest) -> AppResult<Condition> {
    let mut cond = Condition::all();
    let bound = |text: &str| -> AppResult<Vec<u8>> {
        match Cursor::decode(text, &keyset.name)?.key {
            SortValue::Bytes(b) => Ok(b),
            _ => Err(AppError::bad_input("invalid cursor")),
        }
    };
    let addr = col(host::Column::Address);
    if let Some(after) = &page.after {
        let b = bound(after)?;
        cond = cond.add(if keyset.descending {
            addr.clone().lt(b)
        } else {
            addr.clone().gt(b)
        });
    }
    if let Some(before) = &page.before {
        let b = bound(before)?;
        cond = cond.add(if keyset.descending {
            addr.gt(b)
        } else {
            addr.lt(b)
        });
    }
    Ok(cond)
}

pub async fn count(db: &impl ConnectionTrait, filter: &HostFilter) -> AppResult<u64> {
    Ok(host::Entity::find()
        .filter(filter.condition()?)
        .count(db)
        .await?)
}

/// Which items of a host event a subscriber with `filter` receives, in order: deletions when
/// the host's support group (which travelled in the event) is visible, other changes when the
/// host matches the filter now, decided for the whole batch in one query.
pub async fn deliverable(
    db: &impl ConnectionTrait,
    kind: ChangeKind,
    items: &[Item],
    filter: &HostFilter,
) -> AppResult<Vec<bool>> {
    if kind == ChangeKind::Deleted {
        return Ok(items
            .iter()
            .map(|i| filter.scope.sees(i.data["supportGroupId"].as_i64()))
            .collect());
    }
    if filter.is_unfiltered() && filter.scope == HostScope::All {
        return Ok(vec![true; items.len()]);
    }
    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    let mut matching = HashSet::new();
    for chunk in ids.chunks(1000) {
        let found: Vec<i64> = host::Entity::find()
            .select_only()
            .column(host::Column::Id)
            .filter(col(host::Column::Id).is_in(chunk.to_vec()))
            .filter(filter.condition()?)
            .into_tuple()
            .all(db)
            .await?;
        matching.extend(found);
    }
    Ok(ids.iter().map(|id| matching.contains(id)).collect())
}
