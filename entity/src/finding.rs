//! A vulnerability on a host (and port), with where it stands.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "finding")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub host_id: i64,
    pub vulnerability_id: i64,
    /// 0 when the finding is on no port.
    pub port: i32,
    /// `tcp`, `udp`, ...; empty when on no port.
    pub protocol: String,
    pub service: Option<String>,
    /// 0 none, 1 low, 2 medium, 3 high, 4 critical.
    pub risk: i16,
    /// `OPEN`, `FIXED`, `IGNORED`, `FALSE_POSITIVE` or `REOPENED`.
    pub status: String,
    pub output: Option<String>,
    pub ticket_url: Option<String>,
    pub first_seen: DateTimeUtc,
    pub last_seen: DateTimeUtc,
    pub first_import_id: Option<i64>,
    pub last_import_id: Option<i64>,
    pub status_changed_at: DateTimeUtc,
    pub status_changed_by: String,
    pub status_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::host::Entity",
        from = "Column::HostId",
        to = "super::host::Column::Id"
    )]
    Host,
    #[sea_orm(
        belongs_to = "super::vulnerability::Entity",
        from = "Column::VulnerabilityId",
        to = "super::vulnerability::Column::Id"
    )]
    Vulnerability,
}

impl Related<super::host::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Host.def()
    }
}

impl Related<super::vulnerability::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Vulnerability.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
