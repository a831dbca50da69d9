//! Host rules: creating, changing, finding and bulk-adding hosts, with their events.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{host, host_group, host_group_member, host_tag, location, support_group, tag};
use ipnet::IpNet;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::TOPIC;
use super::catalog::{self, like_pattern};
use super::rows::host_event;
pub use super::rows::{get, scope_condition, touch};
use crate::actor::HostScope;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::net;
use crate::page::{Cursor, Keyset, Page, PageRequest, SortValue};
use crate::validate;

/// Operating system as reported by a scanner or typed by a person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Os {
    pub name: Option<String>,
    pub family: Option<String>,
    pub vendor: Option<String>,
    pub kind: Option<String>,
}

/// A host to create.
#[derive(Debug, Clone)]
pub struct NewHost {
    pub address: IpAddr,
    pub names: Vec<String>,
    pub os: Os,
    pub sponsor: Option<String>,
    pub technical_contact: Option<String>,
    pub notes: Option<String>,
    pub link: Option<String>,
    pub confidential_data: bool,
    pub support_group_id: Option<i64>,
    pub location_id: Option<i64>,
    pub tags: Vec<String>,
    pub group_ids: Vec<i64>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

impl NewHost {
    pub fn at(address: IpAddr) -> Self {
        Self {
            address,
            names: Vec::new(),
            os: Os::default(),
            sponsor: None,
            technical_contact: None,
            notes: None,
            link: None,
            confidential_data: false,
            support_group_id: None,
            location_id: None,
            tags: Vec::new(),
            group_ids: Vec::new(),
            first_seen: None,
            last_seen: None,
        }
    }
}

/// Changes to a host: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct HostChanges {
    pub address: Option<IpAddr>,
    pub names: Option<Vec<String>>,
    pub os_name: Option<Option<String>>,
    pub os_family: Option<Option<String>>,
    pub os_vendor: Option<Option<String>>,
    pub os_type: Option<Option<String>>,
    pub sponsor: Option<Option<String>>,
    pub technical_contact: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub link: Option<Option<String>>,
    pub confidential_data: Option<bool>,
    pub support_group_id: Option<Option<i64>>,
    pub location_id: Option<Option<i64>>,
    pub first_seen: Option<Option<DateTime<Utc>>>,
    pub last_seen: Option<Option<DateTime<Utc>>>,
}

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

/// What a write learns when its address is held: that it is taken, and nothing else (not by
/// whom, not the host's id), the same whether or not the caller can see that host. Addresses
/// are unique across the inventory, so this one bit is a deliberate, documented choice.
pub const ADDRESS_TAKEN: &str = "is already in the inventory";

/// Deepest nesting of `and`/`or`/`not` accepted, and most conditions in one filter.
const MAX_FILTER_DEPTH: usize = 6;
const MAX_FILTER_TERMS: usize = 64;

fn col(c: host::Column) -> SimpleExpr {
    Expr::col((host::Entity, c))
}

impl HostFilter {
    /// The SQL condition of this filter, checked for size.
    pub fn condition(&self) -> AppResult<Condition> {
        let mut terms = 0;
        Ok(Condition::all()
            .add(scope_condition(&self.scope))
            .add(self.build(0, &mut terms)?))
    }

    /// No condition but the scope.
    pub fn is_unfiltered(&self) -> bool {
        *self
            == Self {
                scope: self.scope.clone(),
                ..Default::default()
            }
    }

    fn build(&self, depth: usize, terms: &mut usize) -> AppResult<Condition> {
        if depth > MAX_FILTER_DEPTH {
            return Err(AppError::bad_input(format!(
                "filters nest at most {MAX_FILTER_DEPTH} deep"
            )));
        }
        let mut cond = Condition::all();
        let mut count = |n: usize| -> AppResult<()> {
            *terms += n;
            if *terms > MAX_FILTER_TERMS {
                return Err(AppError::bad_input(format!(
                    "a filter holds at most {MAX_FILTER_TERMS} conditions"
                )));
            }
            Ok(())
        };
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
        for f in &self.and {
            cond = cond.add(f.build(depth + 1, terms)?);
        }
        if !self.or.is_empty() {
            let mut any = Condition::any();
            for f in &self.or {
                any = any.add(f.build(depth + 1, terms)?);
            }
            cond = cond.add(any);
        }
        if let Some(f) = &self.not {
            cond = cond.add(f.build(depth + 1, terms)?.not());
        }
        Ok(cond)
    }
}

/// Hosts excluded from scans at `now`: a reason set, and no end or an end still ahead.
fn excluded_now(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(col(host::Column::ExclusionReason).is_not_null())
        .add(
            Condition::any()
                .add(col(host::Column::ExclusionUntil).is_null())
                .add(col(host::Column::ExclusionUntil).gt(now)),
        )
}

fn hosts_tagged(names: &[String]) -> AppResult<sea_orm::sea_query::SelectStatement> {
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

fn keyset(order: HostOrder) -> Keyset {
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

fn cursor_of(keyset: &Keyset, order: HostOrder, h: &host::Model) -> Cursor {
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
fn address_window(keyset: &Keyset, page: &PageRequest) -> AppResult<Condition> {
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

fn names_text(names: &[String]) -> (String, String) {
    let key = names.first().map(|n| validate::key(n)).unwrap_or_default();
    (names.join("\n"), key)
}

pub fn names_of(h: &host::Model) -> Vec<String> {
    h.names
        .split('\n')
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn check_refs(
    db: &impl ConnectionTrait,
    support_group_id: Option<i64>,
    location_id: Option<i64>,
) -> AppResult<()> {
    if let Some(id) = support_group_id
        && catalog::get::<support_group::Entity>(db, id)
            .await?
            .is_none()
    {
        return Err(AppError::bad_input("no support group with that id"));
    }
    if let Some(id) = location_id
        && catalog::get::<location::Entity>(db, id).await?.is_none()
    {
        return Err(AppError::bad_input("no location with that id"));
    }
    Ok(())
}

fn os_field(field: &str, v: Option<&str>) -> AppResult<Option<String>> {
    validate::optional_line(field, v, 100)
}

/// A non-admin may only place hosts in their own support groups (else they could not see them).
fn check_placement(scope: &HostScope, support_group_id: Option<i64>) -> AppResult<()> {
    if scope.sees(support_group_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "hosts you add must belong to one of your support groups".into(),
        ))
    }
}

/// Creates a host with its tags and groups, and its `CREATED` event, in one transaction.
pub async fn create(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    new: NewHost,
) -> AppResult<host::Model> {
    check_placement(scope, new.support_group_id)?;
    let names = validate::names(&new.names)?;
    let (names, name_key) = names_text(&names);
    validate::bounded("groups", &new.group_ids, 100)?;
    let now = db::now();
    let row = host::ActiveModel {
        address: Set(net::ip_key(new.address)),
        names: Set(names),
        name_key: Set(name_key),
        os_name: Set(os_field("os.name", new.os.name.as_deref())?),
        os_family: Set(os_field("os.family", new.os.family.as_deref())?),
        os_vendor: Set(os_field("os.vendor", new.os.vendor.as_deref())?),
        os_type: Set(os_field("os.type", new.os.kind.as_deref())?),
        sponsor: Set(validate::optional_line(
            "sponsor",
            new.sponsor.as_deref(),
            255,
        )?),
        technical_contact: Set(validate::optional_line(
            "technicalContact",
            new.technical_contact.as_deref(),
            255,
        )?),
        notes: Set(validate::optional_text(
            "notes",
            new.notes.as_deref(),
            validate::MAX_NOTES_LEN,
        )?),
        link: Set(validate::link(
            "link",
            new.link.as_deref(),
            validate::MAX_LINK_LEN,
        )?),
        confidential_data: Set(new.confidential_data),
        support_group_id: Set(new.support_group_id),
        location_id: Set(new.location_id),
        exclusion_reason: Set(None),
        exclusion_until: Set(None),
        exclusion_set_by: Set(None),
        exclusion_set_at: Set(None),
        first_seen: Set(new.first_seen),
        last_seen: Set(new.last_seen),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    check_refs(db, new.support_group_id, new.location_id).await?;
    catalog::require_all::<host_group::Entity>(db, &new.group_ids).await?;
    let created = row
        .insert(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, format!("{} {ADDRESS_TAKEN}", new.address)))?;
    let tags = catalog::find_or_create_tags(db, &new.tags).await?;
    link_tags(
        db,
        &[created.id],
        &tags.iter().map(|t| t.id).collect::<Vec<_>>(),
    )
    .await?;
    link_groups(db, &[created.id], &new.group_ids).await?;
    events::record(
        db,
        vec![host_event(
            ChangeKind::Created,
            std::slice::from_ref(&created),
        )],
    )
    .await?;
    tracing::info!(host.id = created.id, "host created");
    Ok(created)
}

fn set_opt<T: Clone + Into<sea_orm::Value>>(
    target: &mut sea_orm::ActiveValue<Option<T>>,
    value: Option<Option<T>>,
) where
    Option<T>: Into<sea_orm::Value>,
{
    if let Some(v) = value {
        *target = Set(v);
    }
}

/// Applies `changes` to host `id` and records an `UPDATED` event.
pub async fn update(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
    changes: HostChanges,
) -> AppResult<host::Model> {
    let line =
        |field: &str, v: Option<Option<String>>, max: usize| -> AppResult<Option<Option<String>>> {
            v.map(|v| validate::optional_line(field, v.as_deref(), max))
                .transpose()
        };
    let names = changes.names.as_deref().map(validate::names).transpose()?;
    let notes = changes
        .notes
        .map(|v| validate::optional_text("notes", v.as_deref(), validate::MAX_NOTES_LEN))
        .transpose()?;
    let link = changes
        .link
        .map(|v| validate::link("link", v.as_deref(), validate::MAX_LINK_LEN))
        .transpose()?;
    let os_name = line("os.name", changes.os_name, 100)?;
    let os_family = line("os.family", changes.os_family, 100)?;
    let os_vendor = line("os.vendor", changes.os_vendor, 100)?;
    let os_type = line("os.type", changes.os_type, 100)?;
    let sponsor = line("sponsor", changes.sponsor, 255)?;
    let technical = line("technicalContact", changes.technical_contact, 255)?;
    let found = get(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("host"))?;
    check_refs(
        db,
        changes.support_group_id.flatten(),
        changes.location_id.flatten(),
    )
    .await?;
    if let Some(group) = changes.support_group_id {
        check_placement(scope, group)?;
    }
    let mut row: host::ActiveModel = found.into();
    if let Some(addr) = changes.address {
        row.address = Set(net::ip_key(addr));
    }
    if let Some(names) = names {
        let (text, key) = names_text(&names);
        row.names = Set(text);
        row.name_key = Set(key);
    }
    set_opt(&mut row.os_name, os_name);
    set_opt(&mut row.os_family, os_family);
    set_opt(&mut row.os_vendor, os_vendor);
    set_opt(&mut row.os_type, os_type);
    set_opt(&mut row.sponsor, sponsor);
    set_opt(&mut row.technical_contact, technical);
    set_opt(&mut row.notes, notes);
    set_opt(&mut row.link, link);
    set_opt(&mut row.support_group_id, changes.support_group_id);
    set_opt(&mut row.location_id, changes.location_id);
    set_opt(&mut row.first_seen, changes.first_seen);
    set_opt(&mut row.last_seen, changes.last_seen);
    if let Some(c) = changes.confidential_data {
        row.confidential_data = Set(c);
    }
    row.updated_at = Set(db::now());
    let updated = row
        .update(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, format!("the address {ADDRESS_TAKEN}")))?;
    events::record(
        db,
        vec![host_event(
            ChangeKind::Updated,
            std::slice::from_ref(&updated),
        )],
    )
    .await?;
    Ok(updated)
}

/// Deletes host `id` (its links and URLs go with it) and records a `DELETED` event.
pub async fn delete(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<host::Model> {
    let found = get(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("host"))?;
    host::Entity::delete_by_id(id).exec(db).await?;
    events::record(
        db,
        vec![host_event(
            ChangeKind::Deleted,
            std::slice::from_ref(&found),
        )],
    )
    .await?;
    tracing::info!(host.id = id, "host deleted");
    Ok(found)
}

/// How long a port-scan exclusion lasts (HECTOR offered exactly these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExclusionLength {
    OneDay,
    SevenDays,
    ThirtyDays,
    Forever,
}

impl ExclusionLength {
    fn until(self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let days = match self {
            Self::OneDay => 1,
            Self::SevenDays => 7,
            Self::ThirtyDays => 30,
            Self::Forever => return None,
        };
        Some(from + chrono::Duration::days(days))
    }
}

/// Excludes host `id` from port scans for `length`, recording who asked and why.
pub async fn set_exclusion(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
    reason: &str,
    length: ExclusionLength,
    set_by: &str,
) -> AppResult<host::Model> {
    let reason = validate::text("reason", reason, 2000)?;
    let now = db::now();
    let found = get(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("host"))?;
    let mut row: host::ActiveModel = found.into();
    row.exclusion_reason = Set(Some(reason));
    row.exclusion_until = Set(length.until(now));
    row.exclusion_set_by = Set(Some(set_by.to_owned()));
    row.exclusion_set_at = Set(Some(now));
    row.updated_at = Set(now);
    let updated = row.update(db).await?;
    events::record(
        db,
        vec![host_event(
            ChangeKind::Updated,
            std::slice::from_ref(&updated),
        )],
    )
    .await?;
    Ok(updated)
}

/// Lifts the port-scan exclusion of host `id`.
pub async fn clear_exclusion(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<host::Model> {
    let found = get(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("host"))?;
    let mut row: host::ActiveModel = found.into();
    clear(&mut row);
    let updated = row.update(db).await?;
    events::record(
        db,
        vec![host_event(
            ChangeKind::Updated,
            std::slice::from_ref(&updated),
        )],
    )
    .await?;
    Ok(updated)
}

fn clear(row: &mut host::ActiveModel) {
    row.exclusion_reason = Set(None);
    row.exclusion_until = Set(None);
    row.exclusion_set_by = Set(None);
    row.exclusion_set_at = Set(None);
    row.updated_at = Set(db::now());
}

/// Lifts every exclusion whose time is up; returns how many. Idempotent.
pub async fn lift_expired_exclusions(db: &impl ConnectionTrait) -> AppResult<u64> {
    let now = db::now();
    let expired = host::Entity::find()
        .filter(host::Column::ExclusionReason.is_not_null())
        .filter(host::Column::ExclusionUntil.lte(now))
        .limit(10_000)
        .all(db)
        .await?;
    let mut events = Vec::with_capacity(expired.len());
    for found in expired {
        let mut row: host::ActiveModel = found.into();
        clear(&mut row);
        let updated = row.update(db).await?;
        events.push(host_event(
            ChangeKind::Updated,
            std::slice::from_ref(&updated),
        ));
    }
    let lifted = events.len() as u64;
    events::record(db, events).await?;
    Ok(lifted)
}

/// A bulk add: every address of `network` and of `addresses`, into `group_ids` and `tags`.
#[derive(Debug, Clone, Default)]
pub struct BulkAdd {
    pub network: Option<IpNet>,
    /// The support group new hosts get.
    pub support_group_id: Option<i64>,
    pub addresses: Vec<IpAddr>,
    pub group_ids: Vec<i64>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    pub created: u64,
    /// Addresses that already had a host (they still join the groups and tags).
    pub skipped: u64,
    pub created_ids: Vec<i64>,
}

/// Expands the addresses of a bulk add, refusing more than `max`. IPv4 networks of /30 and
/// wider leave out their network and broadcast addresses, as HECTOR did.
pub fn expand(add: &BulkAdd, max: u32) -> AppResult<Vec<IpAddr>> {
    let mut total = add.addresses.len() as u128;
    if let Some(net) = &add.network {
        total += net::net_size(net);
    }
    if total > u128::from(max) {
        return Err(AppError::bad_input(format!(
            "{total} addresses requested; one call adds at most {max} (HECTOR_MAX_BULK_HOSTS)"
        )));
    }
    if total == 0 {
        return Err(AppError::bad_input("give a `cidr` or some `addresses`"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(total as usize);
    if let Some(net) = &add.network {
        let skip_ends = matches!(net, IpNet::V4(v4) if v4.prefix_len() <= 30);
        for addr in net.hosts() {
            if skip_ends && (addr == net.network() || addr == net.broadcast()) {
                continue;
            }
            if seen.insert(addr) {
                out.push(addr);
            }
        }
    }
    for addr in &add.addresses {
        if seen.insert(*addr) {
            out.push(*addr);
        }
    }
    Ok(out)
}

/// Adds many hosts at once: creates the missing ones, skips those present, links all of them
/// to the groups and tags, and records one `CREATED` event per new host, all in one
/// transaction.
pub async fn add_many(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    add: BulkAdd,
    max: u32,
) -> AppResult<BulkOutcome> {
    check_placement(scope, add.support_group_id)?;
    let addresses = expand(&add, max)?;
    validate::bounded("groupIds", &add.group_ids, 100)?;
    catalog::require_all::<host_group::Entity>(db, &add.group_ids).await?;
    check_refs(db, add.support_group_id, None).await?;
    let tags = catalog::find_or_create_tags(db, &add.tags).await?;
    let keys: Vec<Vec<u8>> = addresses.iter().map(|a| net::ip_key(*a)).collect();
    let existing = ids_by_key(db, &keys).await?;
    if *scope != HostScope::All && !existing.is_empty() {
        let ids: Vec<i64> = existing.values().copied().collect();
        if by_ids(db, scope, &ids).await?.len() != ids.len() {
            return Err(AppError::Forbidden(
                "some of these addresses belong to hosts outside your support groups".into(),
            ));
        }
    }
    let now = db::now();
    let fresh: Vec<host::ActiveModel> = keys
        .iter()
        .filter(|k| !existing.contains_key(*k))
        .map(|k| host::ActiveModel {
            address: Set(k.clone()),
            names: Set(String::new()),
            name_key: Set(String::new()),
            confidential_data: Set(false),
            support_group_id: Set(add.support_group_id),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    let created = fresh.len() as u64;
    for chunk in fresh.chunks(db::chunk_size(8)) {
        host::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    let all = ids_by_key(db, &keys).await?;
    let created_ids: Vec<i64> = keys
        .iter()
        .filter(|k| !existing.contains_key(*k))
        .filter_map(|k| all.get(k).copied())
        .collect();
    let all_ids: Vec<i64> = all.values().copied().collect();
    link_tags(db, &all_ids, &tags.iter().map(|t| t.id).collect::<Vec<_>>()).await?;
    link_groups(db, &all_ids, &add.group_ids).await?;
    // One event for the whole add: a few outbox rows, however many hosts.
    let items = keys
        .iter()
        .filter(|k| !existing.contains_key(*k))
        .filter_map(|k| all.get(k))
        .map(|&id| Item {
            id,
            data: serde_json::Value::Null,
        })
        .collect();
    let event = NewEvent {
        topic: TOPIC,
        kind: ChangeKind::Created,
        items,
    };
    events::record(db, vec![event]).await?;
    tracing::info!(created, skipped = existing.len(), "hosts added in bulk");
    Ok(BulkOutcome {
        created,
        skipped: existing.len() as u64,
        created_ids,
    })
}

async fn ids_by_key(
    db: &impl ConnectionTrait,
    keys: &[Vec<u8>],
) -> AppResult<HashMap<Vec<u8>, i64>> {
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(1000) {
        let rows: Vec<(i64, Vec<u8>)> = host::Entity::find()
            .select_only()
            .column(host::Column::Id)
            .column(host::Column::Address)
            .filter(host::Column::Address.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|(id, k)| (k, id)));
    }
    Ok(out)
}

/// Links every host to every tag, leaving existing links alone.
async fn link_tags(db: &impl ConnectionTrait, host_ids: &[i64], tag_ids: &[i64]) -> AppResult<()> {
    if host_ids.is_empty() || tag_ids.is_empty() {
        return Ok(());
    }
    let mut have: HashSet<(i64, i64)> = HashSet::new();
    for chunk in host_ids.chunks(1000) {
        let rows = host_tag::Entity::find()
            .filter(host_tag::Column::HostId.is_in(chunk.to_vec()))
            .filter(host_tag::Column::TagId.is_in(tag_ids.to_vec()))
            .all(db)
            .await?;
        have.extend(rows.into_iter().map(|r| (r.host_id, r.tag_id)));
    }
    let rows: Vec<host_tag::ActiveModel> = host_ids
        .iter()
        .flat_map(|h| tag_ids.iter().map(move |t| (*h, *t)))
        .filter(|pair| !have.contains(pair))
        .map(|(h, t)| host_tag::ActiveModel {
            host_id: Set(h),
            tag_id: Set(t),
        })
        .collect();
    for chunk in rows.chunks(db::chunk_size(2)) {
        host_tag::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

async fn link_groups(
    db: &impl ConnectionTrait,
    host_ids: &[i64],
    group_ids: &[i64],
) -> AppResult<()> {
    if host_ids.is_empty() || group_ids.is_empty() {
        return Ok(());
    }
    let mut have: HashSet<(i64, i64)> = HashSet::new();
    for chunk in host_ids.chunks(1000) {
        let rows = host_group_member::Entity::find()
            .filter(host_group_member::Column::HostId.is_in(chunk.to_vec()))
            .filter(host_group_member::Column::HostGroupId.is_in(group_ids.to_vec()))
            .all(db)
            .await?;
        have.extend(rows.into_iter().map(|r| (r.host_id, r.host_group_id)));
    }
    let rows: Vec<host_group_member::ActiveModel> = host_ids
        .iter()
        .flat_map(|h| group_ids.iter().map(move |g| (*h, *g)))
        .filter(|pair| !have.contains(pair))
        .map(|(h, g)| host_group_member::ActiveModel {
            host_id: Set(h),
            host_group_id: Set(g),
        })
        .collect();
    for chunk in rows.chunks(db::chunk_size(2)) {
        host_group_member::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What a tag or group change on many hosts applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    Add,
    Remove,
}

async fn require_hosts(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    ids: &[i64],
) -> AppResult<Vec<host::Model>> {
    validate::bounded("hostIds", ids, validate::MAX_LIST)?;
    let found = by_ids(db, scope, ids).await?;
    if found.len() != ids.iter().collect::<HashSet<_>>().len() {
        return Err(AppError::bad_input("some host ids do not exist"));
    }
    Ok(found)
}

/// Adds or removes tags on many hosts; returns the hosts, each with an `UPDATED` event.
pub async fn retag(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    host_ids: &[i64],
    tag_names: &[String],
    change: LinkChange,
) -> AppResult<Vec<host::Model>> {
    let hosts = require_hosts(db, scope, host_ids).await?;
    let ids: Vec<i64> = hosts.iter().map(|h| h.id).collect();
    match change {
        LinkChange::Add => {
            let tags = catalog::find_or_create_tags(db, tag_names).await?;
            link_tags(db, &ids, &tags.iter().map(|t| t.id).collect::<Vec<_>>()).await?;
        }
        LinkChange::Remove => {
            validate::bounded("tags", tag_names, 100)?;
            let keys: Vec<String> = tag_names.iter().map(|n| validate::key(n.trim())).collect();
            let tags = tag::Entity::find()
                .filter(tag::Column::NameKey.is_in(keys))
                .all(db)
                .await?;
            for chunk in ids.chunks(1000) {
                host_tag::Entity::delete_many()
                    .filter(host_tag::Column::HostId.is_in(chunk.to_vec()))
                    .filter(host_tag::Column::TagId.is_in(tags.iter().map(|t| t.id)))
                    .exec(db)
                    .await?;
            }
        }
    }
    touch(db, &hosts).await?;
    Ok(hosts)
}

/// Adds or removes many hosts to or from host groups.
pub async fn regroup(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    host_ids: &[i64],
    group_ids: &[i64],
    change: LinkChange,
) -> AppResult<Vec<host::Model>> {
    validate::bounded("groupIds", group_ids, 100)?;
    let hosts = require_hosts(db, scope, host_ids).await?;
    catalog::require_all::<host_group::Entity>(db, group_ids).await?;
    let ids: Vec<i64> = hosts.iter().map(|h| h.id).collect();
    match change {
        LinkChange::Add => link_groups(db, &ids, group_ids).await?,
        LinkChange::Remove => {
            for chunk in ids.chunks(1000) {
                host_group_member::Entity::delete_many()
                    .filter(host_group_member::Column::HostId.is_in(chunk.to_vec()))
                    .filter(host_group_member::Column::HostGroupId.is_in(group_ids.to_vec()))
                    .exec(db)
                    .await?;
            }
        }
    }
    touch(db, &hosts).await?;
    Ok(hosts)
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
