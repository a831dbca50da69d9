//! One import of a scanner report: who, when, and what it did.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "finding_import")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `OPENVAS`, `NESSUS`, `NESSUS_CSV` or `NMAP`.
    pub kind: String,
    /// `RUNNING`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    pub created_by: Option<i64>,
    pub created_by_name: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// Hosts the report covered.
    pub hosts: i64,
    /// Findings it reported (accepted).
    pub findings: i64,
    pub new_findings: i64,
    pub reopened: i64,
    /// Open findings of its hosts it no longer reported.
    pub fixed: i64,
    pub skipped: i64,
    pub rejected: i64,
    /// Why the reading stopped early or failed.
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
