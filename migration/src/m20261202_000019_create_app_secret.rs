//! Secrets the process generates for itself and keeps with the data (the development signing
//! key of access tokens), so they survive a restart and every replica shares them.
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table("app_secret")
                    .if_not_exists()
                    .col(cols::short("name", 64).not_null().primary_key())
                    .col(cols::short("value", 255).not_null())
                    .col(cols::instant(b, "created_at").not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("app_secret").to_owned())
            .await
    }
}
