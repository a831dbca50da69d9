//! URLs served by a host (HECTOR's `url`), with an optional screenshot name.
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
                    .table("url")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("host_id").not_null())
                    // 700 characters keep (host_id, url) under MySQL's 3072-byte key limit.
                    .col(cols::short("url", 700).not_null())
                    .col(cols::short("screenshot", 255).null())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "updated_at").not_null())
                    .foreign_key(&mut cols::fk(
                        "url",
                        "host_id",
                        "host",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index("idx_url_host_url", "url", &["host_id", "url"])
            .unique()
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("url").to_owned())
            .await
    }
}
