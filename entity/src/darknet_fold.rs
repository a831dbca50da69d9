//! A darknet fold mark: events up to `upto` (by id) are in one per-source roll-up (`id`: 1 per
//! hour and source, 2 and 5 per source and port, each for half of the sources, 3 per source and
//! sensor, 4 per source); the ones past it are read from the events themselves, all of them
//! from batches past `batch_upto` (by id; 0 when not known).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_fold")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub upto: i64,
    pub batch_upto: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
