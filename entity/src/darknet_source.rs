//! One scanner seen by the darknet: its first and last sight and its events.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_source")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub src: Vec<u8>,
    pub events: i64,
    pub first_seen: DateTimeUtc,
    pub last_seen: DateTimeUtc,
    pub country: Option<String>,
    pub asn: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
