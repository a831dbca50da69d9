//! Exposure changes: a port opened, closed, or its service changed, as one run found it.
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
                    .table("exposure_change")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("host_id").not_null())
                    .col(cols::reference("service_id").not_null())
                    .col(cols::reference("run_id").not_null())
                    .col(cols::short("kind", 16).not_null())
                    .col(cols::short("protocol", 8).not_null())
                    .col(ColumnDef::new("port").integer().not_null())
                    .col(cols::short("previous", 255).null())
                    .col(cols::short("current", 255).null())
                    .col(cols::instant(b, "at").not_null())
                    .foreign_key(&mut cols::fk(
                        "exposure_change",
                        "host_id",
                        "host",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut cols::fk(
                        "exposure_change",
                        "service_id",
                        "host_service",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_exposure_change_host",
            "exposure_change",
            &["host_id", "id"],
        )
        .ensure(manager)
        .await?;
        cols::index(
            "idx_exposure_change_run",
            "exposure_change",
            &["run_id", "id"],
        )
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("exposure_change").to_owned())
            .await
    }
}
