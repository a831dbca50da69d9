//! The history of every port: one observation per run that saw it.
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
                    .table("service_observation")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("service_id").not_null())
                    .col(cols::reference("run_id").not_null())
                    .col(cols::instant(b, "observed_at").not_null())
                    .col(cols::short("state", 16).not_null())
                    .col(cols::short("name", 128).null())
                    .col(cols::short("product", 255).null())
                    .col(cols::short("version", 255).null())
                    .foreign_key(&mut cols::fk(
                        "service_observation",
                        "service_id",
                        "host_service",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_service_observation_service",
            "service_observation",
            &["service_id", "id"],
        )
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("service_observation").to_owned())
            .await
    }
}
