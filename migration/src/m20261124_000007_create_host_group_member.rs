//! Which groups a host belongs to.
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(cols::link_table(
                "host_group_member",
                "host_group_id",
                "host_group",
                "host_id",
                "host",
            ))
            .await?;
        cols::index(
            "idx_host_group_member_host",
            "host_group_member",
            &["host_id", "host_group_id"],
        )
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("host_group_member").to_owned())
            .await
    }
}
