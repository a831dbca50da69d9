//! An article read from a feed (or added by hand): sanitised HTML, its plain text for search, and the keys that
//! de-duplicate it across polls (entry id; normalised link).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "article")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `None` for an article added by hand.
    pub feed_id: Option<i64>,
    /// SHA-256 (hex) of the entry's id in its feed, unique per feed.
    pub entry_key: String,
    /// SHA-256 (hex) of the normalised link.
    pub link_key: Option<String>,
    pub title: String,
    pub link: Option<String>,
    pub author: Option<String>,
    /// Sanitised HTML.
    pub summary: Option<String>,
    /// Sanitised HTML.
    pub body: Option<String>,
    /// Lower-cased plain text of title, summary and body.
    pub search_text: String,
    pub published_at: DateTimeUtc,
    pub fetched_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
