//! Events per source, protocol and destination port (-1: none).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_source_port")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub src: Vec<u8>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub protocol: i16,
    #[sea_orm(primary_key, auto_increment = false)]
    pub port: i32,
    pub events: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
