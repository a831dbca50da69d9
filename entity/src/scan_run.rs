//! One run of a scan, or one import of nmap XML.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scan_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub scan_id: Option<i64>,
    /// `SCHEDULE`, `MANUAL` or `IMPORT`.
    pub origin: String,
    /// `QUEUED`, `RUNNING`, `SUCCEEDED`, `FAILED` or `CANCELLED`.
    pub status: String,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// Until when the running process holds the run.
    pub lease_until: Option<DateTimeUtc>,
    pub instance: Option<String>,
    pub requested_by_user_id: Option<i64>,
    /// The targets given to nmap, one per line.
    #[sea_orm(column_type = "Text")]
    pub targets: String,
    /// Addresses skipped under a port-scan exclusion, one per line.
    #[sea_orm(column_type = "Text")]
    pub excluded: String,
    pub hosts_up: i64,
    pub ports_seen: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub command: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub stderr_tail: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub raw_xml: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
