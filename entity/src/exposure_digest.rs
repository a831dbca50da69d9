//! One period's exposure changes on one support group's hosts, for notification.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exposure_digest")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `None`: hosts without a support group (admins).
    pub support_group_id: Option<i64>,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    pub opened: i64,
    pub closed: i64,
    pub changed: i64,
    /// The exposure changes, as a JSON list of ids (at most 1,000).
    #[sea_orm(column_type = "Text")]
    pub change_ids: String,
    /// The newest exposure change this digest (and every one before it) covered.
    pub through_change_id: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
