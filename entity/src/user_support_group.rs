//! A support group a user answers for.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_support_group")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub support_group_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::app_user::Entity",
        from = "Column::UserId",
        to = "super::app_user::Column::Id"
    )]
    User,
    #[sea_orm(
        belongs_to = "super::support_group::Entity",
        from = "Column::SupportGroupId",
        to = "super::support_group::Column::Id"
    )]
    SupportGroup,
}

impl Related<super::app_user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::support_group::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SupportGroup.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
