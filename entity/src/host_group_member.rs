//! A host in a group.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "host_group_member")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub host_group_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub host_id: i64,
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
        belongs_to = "super::host_group::Entity",
        from = "Column::HostGroupId",
        to = "super::host_group::Column::Id"
    )]
    HostGroup,
}

impl Related<super::host::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Host.def()
    }
}

impl Related<super::host_group::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HostGroup.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
