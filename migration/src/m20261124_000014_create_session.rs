//! A login session: one family of rotating refresh tokens.
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
                    .table("session")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("user_id").not_null())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "expires_at").not_null())
                    .col(cols::instant(b, "revoked_at").null())
                    .col(cols::short("revoked_reason", 64).null())
                    .foreign_key(&mut cols::fk(
                        "session",
                        "user_id",
                        "app_user",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("session").to_owned())
            .await
    }
}
