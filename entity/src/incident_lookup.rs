//! A value of one of the incident classification lists (agent, action, asset, discovery).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_lookup")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `AGENT`, `ACTION`, `ASSET` or `DISCOVERY`.
    pub kind: String,
    pub name: String,
    pub name_key: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
