//! The audit log: one row per mutation and per sign-in attempt.

use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::db;
use crate::error::{AppError, AppResult};
use crate::page::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor_user_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub client_addr: Option<String>,
    pub outcome: String,
    /// Identical attempts this entry stands for (1 but for aggregated refusals).
    pub repeats: u32,
}

fn clip(s: String, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Records an entry as part of the caller's transaction: the entry commits with the change
/// it describes, or neither does.
pub async fn record_in(db: &impl ConnectionTrait, entry: NewEntry) -> AppResult<()> {
    let row = audit_entry::ActiveModel {
        actor_user_id: Set(entry.actor_user_id),
        actor: Set(clip(entry.actor, 128)),
        action: Set(clip(entry.action, 64)),
        target: Set(entry.target.map(|t| clip(t, 255))),
        client_addr: Set(entry.client_addr.map(|a| clip(a, 64))),
        outcome: Set(clip(entry.outcome, 32)),
        at: Set(db::now()),
        repeats: Set(entry.repeats.clamp(1, i32::MAX as u32) as i32),
        ..Default::default()
    };
    audit_entry::Entity::insert(row).exec(db).await?;
    Ok(())
}

/// Records an entry of a refusal, on its own; a failure to record is logged, never shown to
/// the caller (who is being refused already).
pub async fn record(db: &impl ConnectionTrait, entry: NewEntry) {
    if let Err(e) = record_in(db, entry).await {
        tracing::error!(error = ?e, "cannot write the audit log");
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_user_id: Option<i64>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Entries in time order, newest first when `newest_first`.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    newest_first: bool,
    page: &PageRequest,
) -> AppResult<Page<audit_entry::Model>> {
    let query = audit_entry::Entity::find().filter(filter.condition()?);
    let id = audit_entry::Column::Id;
    let ordering = if newest_first {
        "audit:ID:DESC"
    } else {
        "audit:ID:ASC"
    };
    crate::page::by_id(db, query, id, ordering, newest_first, page, |r| r.id).await
}

/// How many entries `filter` matches.
/// Audit entry `id`.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<audit_entry::Model>> {
    Ok(audit_entry::Entity::find_by_id(id).one(db).await?)
}

pub async fn count(db: &impl ConnectionTrait, filter: &AuditFilter) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(audit_entry::Entity::find()
        .filter(filter.condition()?)
        .count(db)
        .await?)
}

impl AuditFilter {
    /// The SQL condition of the filter, checked for size.
    fn condition(&self) -> AppResult<Condition> {
        let filter = self;
        for text in [&filter.action, &filter.outcome].into_iter().flatten() {
            if text.len() > 64 {
                return Err(AppError::bad_input(
                    "audit filters match at most 64 characters",
                ));
            }
        }
        let mut cond = Condition::all();
        if let Some(id) = filter.actor_user_id {
            cond = cond.add(audit_entry::Column::ActorUserId.eq(id));
        }
        if let Some(action) = &filter.action {
            cond = cond.add(audit_entry::Column::Action.eq(action.as_str()));
        }
        if let Some(outcome) = &filter.outcome {
            cond = cond.add(audit_entry::Column::Outcome.eq(outcome.as_str()));
        }
        if let Some(since) = filter.since {
            cond = cond.add(audit_entry::Column::At.gte(since));
        }
        if let Some(until) = filter.until {
            cond = cond.add(audit_entry::Column::At.lt(until));
        }
        Ok(cond)
    }
}
