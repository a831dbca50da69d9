//! API tokens for machines: hashed, named, owned, scoped, expiring.
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
                    .table("api_token")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("user_id").not_null())
                    .col(cols::short("name", 100).not_null())
                    .col(cols::short("prefix", 16).not_null())
                    .col(cols::short("token_hash", 64).not_null().unique_key())
                    .col(cols::short("scopes", 64).not_null())
                    .col(cols::instant(b, "expires_at").null())
                    .col(cols::instant(b, "last_used_at").null())
                    .col(cols::instant(b, "revoked_at").null())
                    .col(cols::instant(b, "created_at").not_null())
                    .foreign_key(&mut cols::fk(
                        "api_token",
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
            .drop_table(Table::drop().table("api_token").to_owned())
            .await
    }
}
