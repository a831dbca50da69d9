//! Hosts named by an outside report by their address: found in the inventory when the
//! reporter may touch them, added to the reporter's support group when they are new (and the
//! reporter may add hosts there), refused otherwise. One statement per chunk of addresses,
//! one host event per batch of new hosts.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::host;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::actor::{HostScope, Identity};
use crate::db;
use crate::error::AppResult;
use crate::events::{self, ChangeKind};
use crate::host::rows::host_event;
use crate::net;

/// Who brings the report: the hosts they may touch, and where new hosts go.
#[derive(Debug, Clone, Copy)]
pub struct Intake<'a> {
    pub scope: &'a HostScope,
    pub new_host_group: Option<i64>,
    /// When the report saw its hosts (first and last seen of new hosts).
    pub at: DateTime<Utc>,
}

/// Who records an import or a scan's results: the hosts they may touch, and the support
/// group of new hosts.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub scope: HostScope,
    pub new_host_group: Option<i64>,
}

/// Who records an import: the caller's hosts, new hosts in `group` (which a non-admin must
/// be a member of).
pub fn recorder_for(who: &Identity, group: Option<i64>) -> AppResult<Recorder> {
    let scope = who.host_scope();
    if let Some(g) = group
        && !scope.sees(Some(g))
    {
        return Err(crate::error::AppError::Forbidden(
            "new hosts can only go to one of your support groups".into(),
        ));
    }
    Ok(Recorder {
        scope,
        new_host_group: group,
    })
}

/// The host of each address, or why it was refused.
pub type Resolved = HashMap<IpAddr, Result<host::Model, String>>;

/// Finds or adds the hosts of `addresses` (each once, whatever the repeats), in the caller's
/// transaction.
pub async fn resolve(
    db: &impl ConnectionTrait,
    addresses: &[IpAddr],
    intake: Intake<'_>,
) -> AppResult<Resolved> {
    let mut wanted: Vec<IpAddr> = addresses.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let keys: Vec<Vec<u8>> = wanted.iter().map(|a| net::ip_key(*a)).collect();
    let mut by_key: HashMap<Vec<u8>, host::Model> = HashMap::new();
    for chunk in keys.chunks(1000) {
        for h in host::Entity::find()
            .filter(host::Column::Address.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            by_key.insert(h.address.clone(), h);
        }
    }
    let may_add = *intake.scope == HostScope::All || intake.scope.sees(intake.new_host_group);
    let mut out = Resolved::with_capacity(wanted.len());
    let mut fresh = Vec::new();
    for (address, key) in wanted.iter().zip(&keys) {
        match by_key.get(key) {
            Some(h) if intake.scope.sees(h.support_group_id) => {
                out.insert(*address, Ok(h.clone()));
            }
            Some(_) => {
                out.insert(
                    *address,
                    Err("the host belongs to another support group".into()),
                );
            }
            None if may_add => fresh.push(host::ActiveModel {
                address: Set(key.clone()),
                names: Set(String::new()),
                name_key: Set(String::new()),
                confidential_data: Set(false),
                support_group_id: Set(intake.new_host_group),
                first_seen: Set(Some(intake.at)),
                last_seen: Set(Some(intake.at)),
                created_at: Set(db::now()),
                updated_at: Set(db::now()),
                ..Default::default()
            }),
            None => {
                out.insert(
                    *address,
                    Err(
                        "the host is not in the inventory, and only admins add hosts outside \
                         their support groups"
                            .into(),
                    ),
                );
            }
        }
    }
    if fresh.is_empty() {
        return Ok(out);
    }
    let fresh_keys: Vec<Vec<u8>> = fresh
        .iter()
        .filter_map(|h| match &h.address {
            Set(k) => Some(k.clone()),
            _ => None,
        })
        .collect();
    for chunk in fresh.chunks(db::chunk_size(10)) {
        host::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    let mut created = Vec::with_capacity(fresh_keys.len());
    for chunk in fresh_keys.chunks(1000) {
        created.extend(
            host::Entity::find()
                .filter(host::Column::Address.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    for h in &created {
        if let Some(address) = net::ip_from_key(&h.address) {
            out.insert(address, Ok(h.clone()));
        }
    }
    events::record(db, vec![host_event(ChangeKind::Created, &created)]).await?;
    Ok(out)
}
