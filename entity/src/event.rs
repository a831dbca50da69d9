//! A row of the event outbox.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The domain the event belongs to (`host`, ...).
    pub topic: String,
    /// `CREATED`, `UPDATED`, `DELETED` or a domain verb.
    pub kind: String,
    pub entity_id: i64,
    /// A small JSON document; subscribers filter on it without reading the entity.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
