//! An indicator an article names: a CVE id, an address, a domain, a URL or a hash.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "article_indicator")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub article_id: i64,
    /// `CVE`, `IPV4`, `IPV6`, `DOMAIN`, `URL`, `MD5`, `SHA1` or `SHA256`.
    pub kind: String,
    /// Normalised.
    pub value: String,
    /// The value when it fits an index (191 characters), else its SHA-256 (hex).
    pub lookup: String,
    /// The address key, for addresses.
    pub address: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
