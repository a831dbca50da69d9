//! One packet a darknet sensor logged.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "darknet_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub sensor_id: i64,
    pub batch_id: i64,
    pub seen_at: DateTimeUtc,
    /// Hours since the Unix epoch.
    pub hour: i64,
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
    pub protocol: i16,
    pub src_port: Option<i32>,
    pub dst_port: Option<i32>,
    pub icmp_type: Option<i16>,
    pub icmp_code: Option<i16>,
    pub tcp_flags: i16,
    pub ttl: Option<i16>,
    pub length: Option<i32>,
    pub country: Option<String>,
    pub asn: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
