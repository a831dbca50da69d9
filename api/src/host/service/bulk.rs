//! Changes to many hosts at once: bulk adds from ranges and lists, tagging and grouping.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use entity::{host, host_group, host_group_member, host_tag, tag};
use ipnet::IpNet;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};

use super::*;
use crate::actor::HostScope;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::host::TOPIC;
use crate::host::catalog::{self};
use crate::host::rows::touch;
use crate::net;
use crate::validate;

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

pub(super) async fn ids_by_key(
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
pub(super) async fn link_tags(
    db: &impl ConnectionTrait,
    host_ids: &[i64],
    tag_ids: &[i64],
) -> AppResult<()> {
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

pub(super) async fn link_groups(
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

pub(super) async fn require_hosts(
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
