//! One accepted request or file chunk of a sensor, with its idempotency key and report.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_batch")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub sensor_id: i64,
    pub idempotency_key: Option<String>,
    pub received_at: DateTimeUtc,
    pub accepted: i64,
    pub rejected: i64,
    /// The rejected lines (JSON), so a retry answers as the first attempt did.
    pub report: String,
    /// The first and last hour (since the epoch) of its events; none without events, or when
    /// recorded before migration 046.
    pub first_hour: Option<i64>,
    pub last_hour: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
