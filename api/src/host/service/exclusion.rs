//! Port-scan exclusions: set, cleared, and lifted when their time is up.

use chrono::{DateTime, Utc};
use entity::host;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};

use crate::actor::{HostScope, Identity};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{self, ChangeKind};
use crate::host::rows::{changed, get, host_event};
use crate::validate;

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
    set_by: &Identity,
) -> AppResult<host::Model> {
    let reason = validate::text("reason", reason, 2000)?;
    let now = db::now();
    let found = get(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("host"))?;
    let mut row: host::ActiveModel = found.into();
    row.exclusion_reason = Set(Some(reason));
    row.exclusion_until = Set(length.until(now));
    row.exclusion_set_by = Set(Some(set_by.display_name().to_owned()));
    row.exclusion_set_by_user_id = Set(set_by.principal().map(|p| p.user_id));
    row.exclusion_set_at = Set(Some(now));
    row.updated_at = Set(now);
    let updated = row.update(db).await?;
    changed(db, ChangeKind::Updated, &updated).await?;
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
    changed(db, ChangeKind::Updated, &updated).await?;
    Ok(updated)
}

pub(super) fn clear(row: &mut host::ActiveModel) {
    row.exclusion_reason = Set(None);
    row.exclusion_until = Set(None);
    row.exclusion_set_by = Set(None);
    row.exclusion_set_by_user_id = Set(None);
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
    let mut lifted = Vec::with_capacity(expired.len());
    for found in expired {
        let mut row: host::ActiveModel = found.into();
        clear(&mut row);
        lifted.push(row.update(db).await?);
    }
    // One event for the whole run: one outbox row per batch, not per host.
    events::record(db, vec![host_event(ChangeKind::Updated, &lifted)]).await?;
    Ok(lifted.len() as u64)
}
