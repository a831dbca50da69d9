//! The record of every job run: when, where, how it ended and what it did.
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
                    .table("job_run")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::short("job", 64).not_null())
                    .col(cols::instant(b, "scheduled_for").not_null())
                    .col(cols::short("instance", 64).not_null())
                    .col(cols::instant(b, "started_at").not_null())
                    .col(cols::instant(b, "finished_at").null())
                    .col(cols::short("status", 16).not_null())
                    .col(ColumnDef::new("items").big_integer().not_null())
                    .col(ColumnDef::new("error").text().null())
                    .to_owned(),
            )
            .await?;
        cols::index("idx_job_run_period", "job_run", &["job", "scheduled_for"])
            .unique()
            .ensure(manager)
            .await?;
        cols::index("idx_job_run_job", "job_run", &["job", "id"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("job_run").to_owned())
            .await
    }
}
