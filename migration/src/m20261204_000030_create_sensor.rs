//! Darknet sensors: each one sends as its own user of the `sensor` role.
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
                cols::named_table(b, "sensor", 100)
                    .col(ColumnDef::new("networks").text().not_null())
                    .col(cols::short("location", 255).null())
                    .col(ColumnDef::new("enabled").boolean().not_null())
                    .col(cols::reference("user_id").not_null().unique_key())
                    .col(cols::instant(b, "last_seen_at").null())
                    .col(ColumnDef::new("events").big_integer().not_null())
                    .foreign_key(&mut cols::fk(
                        "sensor",
                        "user_id",
                        "app_user",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sensor").to_owned())
            .await
    }
}
