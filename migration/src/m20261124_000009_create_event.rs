//! The event outbox: written in the same transaction as the change it describes, tailed by
//! every replica to feed subscriptions.
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
                    .table("event")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::short("topic", 32).not_null())
                    .col(cols::short("kind", 32).not_null())
                    .col(ColumnDef::new("entity_id").big_integer().not_null())
                    .col(ColumnDef::new("payload").text().not_null())
                    .col(cols::instant(b, "created_at").not_null())
                    .to_owned(),
            )
            .await?;
        cols::index("idx_event_topic", "event", &["topic", "id"])
            .ensure(manager)
            .await?;
        cols::index("idx_event_created_at", "event", &["created_at"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("event").to_owned())
            .await
    }
}
