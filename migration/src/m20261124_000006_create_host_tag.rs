//! Which tags a host carries.
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(cols::link_table(
                "host_tag", "host_id", "host", "tag_id", "tag",
            ))
            .await?;
        cols::index("idx_host_tag_tag", "host_tag", &["tag_id", "host_id"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("host_tag").to_owned())
            .await
    }
}
