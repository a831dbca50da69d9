//! A port whose hourly count went past its trailing baseline.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_spike")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hour: i64,
    pub protocol: i16,
    pub port: i32,
    pub events: i64,
    pub baseline: f64,
    pub detected_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
