//! One accepted request (or file chunk) of a sensor: its idempotency key and its report.
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
                    .table("darknet_batch")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("sensor_id").not_null())
                    .col(cols::short("idempotency_key", 128).null())
                    .col(cols::instant(b, "received_at").not_null())
                    .col(ColumnDef::new("accepted").big_integer().not_null())
                    .col(ColumnDef::new("rejected").big_integer().not_null())
                    .col(ColumnDef::new("report").text().not_null())
                    .foreign_key(&mut cols::fk(
                        "darknet_batch",
                        "sensor_id",
                        "sensor",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_darknet_batch_key",
            "darknet_batch",
            &["sensor_id", "idempotency_key"],
        )
        .unique()
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("darknet_batch").to_owned())
            .await
    }
}
