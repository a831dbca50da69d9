//! Events per hour, sensor, protocol and destination port (-1: none).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_port_hour")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sensor_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub protocol: i16,
    #[sea_orm(primary_key, auto_increment = false)]
    pub port: i32,
    pub events: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
