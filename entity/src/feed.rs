//! A threat feed (RSS, Atom or JSON Feed) and its polling state: validators for conditional
//! GET, the last outcome, the failure streak that drives back-off, and when it is next due.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// Lower-cased name, unique.
    pub name_key: String,
    pub url: String,
    /// SHA-256 of the URL (hex), unique: a feed is listed once.
    pub url_key: String,
    pub poll_interval_secs: i64,
    pub enabled: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `NEVER`, `OK`, `NOT_MODIFIED` or `FAILED`.
    pub last_status: String,
    pub last_error: Option<String>,
    pub last_fetched_at: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    pub consecutive_failures: i32,
    /// When it is next polled; while a poll runs, the end of that poll's lease.
    pub next_poll_at: DateTimeUtc,
    /// Articles stored from it.
    pub articles: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
