//! The changes people make: a finding's status (with why, and a ticket), and the tags of a
//! catalog entry. Every status change is a row of the finding's history and an event.

use entity::{finding, finding_change, vulnerability, vulnerability_tag};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::lifecycle::Status;
use super::store::finding_event;
use crate::actor::Identity;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{self, ChangeKind};
use crate::validate;

/// What `updateFinding` changes.
#[derive(Debug, Clone, Default)]
pub struct FindingUpdate {
    pub status: Option<Status>,
    /// Why (kept in the history).
    pub reason: Option<String>,
    /// `Some(None)` clears it.
    pub ticket_url: Option<Option<String>>,
}

/// Changes finding `id` as `who` (who must see its host). A status change must be one a
/// person may make ([`Status::may_become`]); it is recorded in the history.
pub async fn update_finding(
    db: &impl ConnectionTrait,
    who: &Identity,
    id: i64,
    update: FindingUpdate,
) -> AppResult<finding::Model> {
    let Some(current) = super::read::finding(db, &who.host_scope(), id).await? else {
        return Err(AppError::not_found("finding"));
    };
    let reason = validate::optional_text("reason", update.reason.as_deref(), 4096)?;
    let ticket = match &update.ticket_url {
        Some(url) => Some(validate::link("ticketUrl", url.as_deref(), 1024)?),
        None => None,
    };
    let now = db::now();
    let mut row: finding::ActiveModel = current.clone().into();
    if let Some(to) = update.status {
        let from = Status::parse(&current.status).unwrap_or(Status::Open);
        if !from.may_become(to) {
            return Err(AppError::bad_input(format!(
                "a finding that is {} cannot become {} (allowed: {})",
                from.as_str(),
                to.as_str(),
                Status::ALL
                    .iter()
                    .filter(|s| from.may_become(**s))
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        row.status = Set(to.as_str().to_owned());
        row.status_changed_at = Set(now);
        row.status_changed_by = Set(who.display_name().to_owned());
        row.status_reason = Set(reason.clone());
        finding_change::ActiveModel {
            finding_id: Set(id),
            at: Set(now),
            from_status: Set(Some(from.as_str().to_owned())),
            to_status: Set(to.as_str().to_owned()),
            by_user_id: Set(who.principal().map(|p| p.user_id)),
            by_name: Set(who.display_name().to_owned()),
            reason: Set(reason),
            import_id: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
    } else if reason.is_some() {
        return Err(AppError::bad_input("a reason goes with a status change"));
    }
    if let Some(ticket) = ticket {
        row.ticket_url = Set(ticket);
    }
    let updated = row.update(db).await?;
    if updated != current {
        events::record(db, vec![finding_event(ChangeKind::Updated, &[id])]).await?;
    }
    Ok(updated)
}

/// Sets the tags of catalog entry `id` (by name, created when new).
pub async fn set_vulnerability_tags(
    db: &impl ConnectionTrait,
    id: i64,
    tags: &[String],
) -> AppResult<vulnerability::Model> {
    let Some(v) = vulnerability::Entity::find_by_id(id).one(db).await? else {
        return Err(AppError::not_found("vulnerability"));
    };
    let tags = crate::host::catalog::find_or_create_tags(db, tags).await?;
    vulnerability_tag::Entity::delete_many()
        .filter(vulnerability_tag::Column::VulnerabilityId.eq(id))
        .exec(db)
        .await?;
    let rows: Vec<vulnerability_tag::ActiveModel> = tags
        .iter()
        .map(|t| vulnerability_tag::ActiveModel {
            vulnerability_id: Set(id),
            tag_id: Set(t.id),
        })
        .collect();
    if !rows.is_empty() {
        vulnerability_tag::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(v)
}
