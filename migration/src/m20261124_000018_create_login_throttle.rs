//! Failed sign-ins per account and per client address, for exponential back-off.
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
                    .table("login_throttle")
                    .if_not_exists()
                    .col(cols::short("key", 160).not_null().primary_key())
                    .col(ColumnDef::new("failures").integer().not_null())
                    .col(cols::instant(b, "blocked_until").null())
                    .col(cols::instant(b, "updated_at").not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("login_throttle").to_owned())
            .await
    }
}
