//! A host of the inventory: one row per address.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "host")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// 16 bytes, big-endian, IPv4 mapped into IPv6.
    #[sea_orm(unique, column_type = "VarBinary(StringLen::N(16))")]
    pub address: Vec<u8>,
    /// Host names, one per line, the primary first.
    #[sea_orm(column_type = "Text")]
    pub names: String,
    /// The primary name lower-cased ("" when none): the ordering key.
    pub name_key: String,
    pub os_name: Option<String>,
    pub os_family: Option<String>,
    pub os_vendor: Option<String>,
    pub os_type: Option<String>,
    pub sponsor: Option<String>,
    pub technical_contact: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub notes: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub link: Option<String>,
    pub confidential_data: bool,
    pub support_group_id: Option<i64>,
    pub location_id: Option<i64>,
    /// Set while the host is excluded from port scans.
    #[sea_orm(column_type = "Text", nullable)]
    pub exclusion_reason: Option<String>,
    /// When the exclusion lapses; `None` with a reason means forever.
    pub exclusion_until: Option<DateTimeUtc>,
    pub exclusion_set_by: Option<String>,
    pub exclusion_set_by_user_id: Option<i64>,
    pub exclusion_set_at: Option<DateTimeUtc>,
    pub first_seen: Option<DateTimeUtc>,
    pub last_seen: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::support_group::Entity",
        from = "Column::SupportGroupId",
        to = "super::support_group::Column::Id"
    )]
    SupportGroup,
    #[sea_orm(has_many = "super::host_tag::Entity")]
    Tags,
    #[sea_orm(has_many = "super::host_group_member::Entity")]
    Groups,
    #[sea_orm(has_many = "super::url::Entity")]
    Urls,
    #[sea_orm(
        belongs_to = "super::location::Entity",
        from = "Column::LocationId",
        to = "super::location::Column::Id"
    )]
    Location,
}

impl Related<super::support_group::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SupportGroup.def()
    }
}

impl Related<super::location::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Location.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::host_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tags.def()
    }
}

impl Related<super::host_group_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Groups.def()
    }
}

impl Related<super::url::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Urls.def()
    }
}
