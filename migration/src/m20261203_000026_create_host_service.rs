//! What each host exposes: one row per host, port and protocol, with its latest state.
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
                    .table("host_service")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("host_id").not_null())
                    .col(cols::short("protocol", 8).not_null())
                    .col(ColumnDef::new("port").integer().not_null())
                    .col(cols::short("state", 16).not_null())
                    .col(cols::short("name", 128).null())
                    .col(cols::short("product", 255).null())
                    .col(cols::short("version", 255).null())
                    .col(cols::short("extra_info", 255).null())
                    .col(cols::short("cpe", 255).null())
                    .col(ColumnDef::new("scripts").text().null())
                    .col(cols::instant(b, "first_seen").not_null())
                    .col(cols::instant(b, "last_seen").not_null())
                    .col(cols::instant(b, "state_changed_at").not_null())
                    .col(cols::reference("last_run_id").null())
                    .foreign_key(&mut cols::fk(
                        "host_service",
                        "host_id",
                        "host",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_host_service_key",
            "host_service",
            &["host_id", "protocol", "port"],
        )
        .unique()
        .ensure(manager)
        .await?;
        cols::index(
            "idx_host_service_port",
            "host_service",
            &["state", "port", "protocol"],
        )
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("host_service").to_owned())
            .await
    }
}
