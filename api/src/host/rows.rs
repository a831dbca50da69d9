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
use crate::events::{self, NewEvent};
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

pub(crate) fn host_event(kind: &'static str, h: &host::Model) -> NewEvent {
    NewEvent {
        topic: TOPIC,
        kind,
        entity_id: h.id,
        payload: json!({
            "address": net::ip_from_key(&h.address).map(|a| a.to_string()),
            "supportGroupId": h.support_group_id,
        }),
    }
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
    events::record(db, hosts.iter().map(|h| host_event("UPDATED", h)).collect()).await
}
