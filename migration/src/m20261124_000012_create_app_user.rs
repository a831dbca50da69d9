//! People who sign in: argon2id password hashes, a role, a disabled flag.
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
                    .table("app_user")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::short("username", 64).not_null())
                    .col(cols::short("username_key", 64).not_null().unique_key())
                    .col(cols::short("email", 254).null())
                    .col(cols::short("display_name", 255).null())
                    .col(cols::short("role", 16).not_null())
                    .col(cols::short("password_hash", 255).not_null())
                    .col(ColumnDef::new("disabled").boolean().not_null())
                    .col(cols::instant(b, "last_login_at").null())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "updated_at").not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("app_user").to_owned())
            .await
    }
}
