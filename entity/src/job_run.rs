//! One recorded run of a scheduled job.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job: String,
    /// The period this run claimed; unique per job and attempt.
    pub scheduled_for: DateTimeUtc,
    /// 1, or more when the period is run again after an abandoned attempt.
    pub attempt: i32,
    /// Until when the running process holds the run; it renews this while it works.
    pub lease_until: Option<DateTimeUtc>,
    /// Which process ran it.
    pub instance: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// `RUNNING`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    pub items: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
