//! Which support groups a user answers for (and so which hosts a non-admin sees).
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        let _ = b;
        manager
            .create_table(cols::link_table(
                "user_support_group",
                "user_id",
                "app_user",
                "support_group_id",
                "support_group",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("user_support_group").to_owned())
            .await
    }
}
