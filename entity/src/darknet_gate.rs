//! The darknet's ingest gate (one row, `id` 1): on MySQL every batch holds it shared while it
//! writes, and a fold takes it exclusively to read the newest event id that no batch in flight
//! can still commit below.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_gate")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
