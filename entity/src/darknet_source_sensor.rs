//! Events per source and sensor.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_source_sensor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub src: Vec<u8>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sensor_id: i64,
    pub events: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
