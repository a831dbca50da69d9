//! An indicator of an article that matched our own data: a CVE with open findings on a host,
//! an address of our inventory, or an address our darknet sensors saw.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "intel_match")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub article_id: i64,
    pub indicator_id: i64,
    /// `OPEN_FINDING`, `INVENTORY_ADDRESS` or `DARKNET_SOURCE`.
    pub kind: String,
    /// What it matched, for uniqueness: the host's id, or 0 for a darknet source.
    pub subject: i64,
    pub host_id: Option<i64>,
    pub address: Option<Vec<u8>>,
    pub cve: Option<String>,
    pub matched_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
