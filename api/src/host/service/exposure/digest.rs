//! Exposure digests: per support group, the changes since the last digest.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{exposure_change, exposure_digest, host};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::*;
use crate::actor::HostScope;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::page::{Page, PageRequest};

/// Most changes one digest lists (all are counted).
const DIGEST_ITEMS: usize = 1000;

/// Most changes one run takes (the rest go into the next run's digests).
const DIGEST_RUN: u64 = 500_000;

/// Writes one digest per support group of the exposure changes no digest lists yet, marks them
/// listed (`digested`), and returns how many digests it wrote. Not by the last listed id: on
/// MySQL an import that commits after a digest may hold ids below those it listed. An import
/// of an old file is reported too (by when it was recorded, not by the scan's time). Delivery
/// (mail, chat) reads them; this only produces the lists.
pub async fn make_digests(db: &impl ConnectionTrait) -> AppResult<u64> {
    let now = db::now();
    let last: Option<exposure_digest::Model> = exposure_digest::Entity::find()
        .order_by_desc(exposure_digest::Column::Id)
        .one(db)
        .await?;
    let since = last.as_ref().map(|d| d.period_end);
    let rows: Vec<(i64, String, DateTime<Utc>, Option<i64>)> = exposure_change::Entity::find()
        .select_only()
        .column(exposure_change::Column::Id)
        .column(exposure_change::Column::Kind)
        .column(exposure_change::Column::At)
        .column(host::Column::SupportGroupId)
        .inner_join(host::Entity)
        .filter(exposure_change::Column::Digested.eq(false))
        .order_by_asc(exposure_change::Column::Id)
        .limit(DIGEST_RUN)
        .into_tuple()
        .all(db)
        .await?;
    let Some(through) = rows.iter().map(|r| r.0).max() else {
        return Ok(0);
    };
    let start = since.unwrap_or_else(|| rows.iter().map(|r| r.2).min().unwrap_or(now));
    mark_digested(db, rows.iter().map(|r| r.0)).await?;
    let mut groups: HashMap<Option<i64>, Vec<(i64, String)>> = HashMap::new();
    for (id, kind, _, group) in rows {
        groups.entry(group).or_default().push((id, kind));
    }
    let mut written = 0;
    for (group, changes) in groups {
        let count = |k: &str| changes.iter().filter(|c| c.1 == k).count() as i64;
        let ids: Vec<i64> = changes.iter().take(DIGEST_ITEMS).map(|c| c.0).collect();
        exposure_digest::ActiveModel {
            support_group_id: Set(group),
            period_start: Set(start),
            period_end: Set(now),
            opened: Set(count(change::OPENED)),
            closed: Set(count(change::CLOSED)),
            changed: Set(count(change::CHANGED)),
            change_ids: Set(serde_json::to_string(&ids).map_err(AppError::internal)?),
            through_change_id: Set(through),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        written += 1;
    }
    Ok(written)
}

/// Marks the changes `ids` (ascending) listed: a statement per up to 500 runs of consecutive
/// ids, each run a range. Only ids that were read: a range over ids the read did not see could
/// mark a change another import committed since (an `UPDATE` reads the latest rows).
async fn mark_digested(db: &impl ConnectionTrait, ids: impl Iterator<Item = i64>) -> AppResult<()> {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for id in ids {
        match runs.last_mut() {
            Some((_, hi)) if *hi + 1 == id => *hi = id,
            _ => runs.push((id, id)),
        }
    }
    for chunk in runs.chunks(500) {
        let mut any = sea_orm::Condition::any();
        for &(lo, hi) in chunk {
            any = any.add(exposure_change::Column::Id.between(lo, hi));
        }
        exposure_change::Entity::update_many()
            .col_expr(
                exposure_change::Column::Digested,
                sea_orm::sea_query::Expr::value(true),
            )
            .filter(any)
            .exec(db)
            .await?;
    }
    Ok(())
}

fn digest_query(scope: &HostScope, group: Option<i64>) -> sea_orm::Select<exposure_digest::Entity> {
    let mut query = exposure_digest::Entity::find();
    match scope {
        HostScope::All => {}
        HostScope::SupportGroups(groups) => {
            query = query.filter(exposure_digest::Column::SupportGroupId.is_in(groups.clone()));
        }
    }
    if let Some(g) = group {
        query = query.filter(exposure_digest::Column::SupportGroupId.eq(g));
    }
    query
}

/// Digests of the support groups `scope` sees (admins also those of hosts without a group),
/// newest first.
pub async fn digests(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    group: Option<i64>,
    page: &PageRequest,
) -> AppResult<Page<exposure_digest::Model>> {
    crate::page::by_id(
        db,
        digest_query(scope, group),
        exposure_digest::Column::Id,
        "exposureDigest:ID:DESC",
        true,
        page,
        |d| d.id,
    )
    .await
}

pub async fn count_digests(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    group: Option<i64>,
) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(digest_query(scope, group).count(db).await?)
}

/// The changes a digest lists, as `scope` sees them.
pub async fn digest_changes(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    digest: &exposure_digest::Model,
) -> AppResult<Vec<exposure_change::Model>> {
    let ids: Vec<i64> = serde_json::from_str(&digest.change_ids).unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        out.extend(
            change_query(scope, &ChangeFilter::default())
                .filter(exposure_change::Column::Id.is_in(chunk.to_vec()))
                .order_by_asc(exposure_change::Column::Id)
                .all(db)
                .await?,
        );
    }
    Ok(out)
}
