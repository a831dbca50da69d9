//! Ports whose hourly count went past their trailing baseline: raised once per hour and port.
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
                    .table("darknet_spike")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(ColumnDef::new("hour").big_integer().not_null())
                    .col(ColumnDef::new("protocol").small_integer().not_null())
                    .col(ColumnDef::new("port").integer().not_null())
                    .col(ColumnDef::new("events").big_integer().not_null())
                    .col(ColumnDef::new("baseline").double().not_null())
                    .col(cols::instant(b, "detected_at").not_null())
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_darknet_spike_key",
            "darknet_spike",
            &["hour", "protocol", "port"],
        )
        .unique()
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("darknet_spike").to_owned())
            .await
    }
}
