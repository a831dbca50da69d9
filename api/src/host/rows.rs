//! The host rows everything in the inventory builds on: which hosts a caller sees, reading
//! one as they see it, and marking hosts updated with their events. Both the host service and
//! the catalogs use these; neither imports the other for them.

use entity::host;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::TOPIC;
use crate::actor::HostScope;
use crate::db;
use crate::error::AppResult;
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::net;

fn col(c: host::Column) -> SimpleExpr {
    Expr::col((host::Entity, c))
}

/// The hosts `scope` sees.
pub fn scope_condition(scope: &HostScope) -> Condition {
    match scope {
        HostScope::All => Condition::all(),
        HostScope::SupportGroups(groups) if groups.is_empty() => {
            Condition::all().add(Expr::val(1).eq(0))
        }
        HostScope::SupportGroups(groups) => {
            Condition::all().add(col(host::Column::SupportGroupId).is_in(groups.clone()))
        }
    }
}

/// Host `id`, if `scope` sees it.
pub async fn get(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<Option<host::Model>> {
    Ok(host::Entity::find()
        .filter(col(host::Column::Id).eq(id))
        .filter(scope_condition(scope))
        .one(db)
        .await?)
}

/// Hosts by id, whoever sees them (callers apply a [`HostScope`] to what they hand on).
pub async fn any_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, host::Model>> {
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let rows = host::Entity::find()
            .filter(col(host::Column::Id).is_in(chunk.to_vec()))
            .all(db)
            .await?;
        found.extend(rows.into_iter().map(|h| (h.id, h)));
    }
    Ok(found)
}

/// The item of a host in an event. A deleted host's address and support group travel with
/// it, so the deletion is shown only to those who saw the host; for other changes the id is
/// enough (subscribers read the host as it is now), so a bulk change packs into id ranges.
pub(crate) fn host_item(kind: ChangeKind, h: &host::Model) -> Item {
    let data = if kind == ChangeKind::Deleted {
        json!({
            "address": net::ip_from_key(&h.address).map(|a| a.to_string()),
            "supportGroupId": h.support_group_id,
        })
    } else {
        serde_json::Value::Null
    };
    Item { id: h.id, data }
}

/// One event for a change of `kind` to `hosts` (one outbox row per batch, not per host).
pub(crate) fn host_event(kind: ChangeKind, hosts: &[host::Model]) -> NewEvent {
    NewEvent {
        topic: TOPIC,
        kind,
        items: hosts.iter().map(|h| host_item(kind, h)).collect(),
    }
}

/// Records the event of a change of `kind` to one host.
pub(crate) async fn changed(
    db: &impl ConnectionTrait,
    kind: ChangeKind,
    host: &host::Model,
) -> AppResult<()> {
    events::record(db, vec![host_event(kind, std::slice::from_ref(host))]).await
}

/// Marks hosts updated and records their events.
pub async fn touch(db: &impl ConnectionTrait, hosts: &[host::Model]) -> AppResult<()> {
    let ids: Vec<i64> = hosts.iter().map(|h| h.id).collect();
    for chunk in ids.chunks(1000) {
        host::Entity::update_many()
            .col_expr(host::Column::UpdatedAt, Expr::val(db::now()))
            .filter(host::Column::Id.is_in(chunk.to_vec()))
            .exec(db)
            .await?;
    }
    events::record(db, vec![host_event(ChangeKind::Updated, hosts)]).await
}
