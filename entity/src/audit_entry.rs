//! One audited mutation.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entry")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub actor_user_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub client_addr: Option<String>,
    /// `OK` or the error code.
    pub outcome: String,
    pub at: DateTimeUtc,
    /// How many identical attempts of one request this entry stands for.
    pub repeats: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
