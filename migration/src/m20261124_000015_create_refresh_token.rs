//! Refresh tokens, stored as SHA-256 hashes; a used one may never be used again.
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
                    .table("refresh_token")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("session_id").not_null())
                    .col(cols::short("token_hash", 64).not_null().unique_key())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "used_at").null())
                    .foreign_key(&mut cols::fk(
                        "refresh_token",
                        "session_id",
                        "session",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("refresh_token").to_owned())
            .await
    }
}
