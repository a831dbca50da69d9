//! An entry of an incident's timeline (append-only): a note, a status change, or a change of
//! its record, with author and time.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_note")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: i64,
    pub at: DateTimeUtc,
    /// `CREATED`, `NOTE`, `STATUS` or `UPDATED`.
    pub kind: String,
    pub author_id: Option<i64>,
    pub author_name: String,
    pub text: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
