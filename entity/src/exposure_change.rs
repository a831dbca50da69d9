//! A port that opened, closed or changed its service, as one run found.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exposure_change")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub host_id: i64,
    pub service_id: i64,
    pub run_id: i64,
    /// `OPENED`, `CLOSED` or `CHANGED`.
    pub kind: String,
    pub protocol: String,
    pub port: i32,
    /// The service before and after, as text (`nginx 1.18.0`).
    pub previous: Option<String>,
    pub current: Option<String>,
    pub at: DateTimeUtc,
    /// Whether an exposure digest lists it yet.
    pub digested: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::host::Entity",
        from = "Column::HostId",
        to = "super::host::Column::Id"
    )]
    Host,
}

impl Related<super::host::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Host.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
