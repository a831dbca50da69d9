//! A darknet sensor: it sends as its own user of the `sensor` role.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sensor")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub name_key: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Its monitored networks: CIDRs, one per line.
    pub networks: String,
    pub location: Option<String>,
    pub enabled: bool,
    pub user_id: i64,
    pub last_seen_at: Option<DateTimeUtc>,
    pub events: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
