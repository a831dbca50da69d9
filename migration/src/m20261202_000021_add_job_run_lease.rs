//! Job runs hold a lease their replica renews while it runs: a run whose lease ran out was
//! abandoned (its process died), so another replica marks it failed and runs the period again
//! as the next attempt. A period is then unique per attempt, not per job and time alone.
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        if !manager.has_column("job_run", "lease_until").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table("job_run")
                        .add_column(cols::instant(b, "lease_until").null())
                        .to_owned(),
                )
                .await?;
        }
        if !manager.has_column("job_run", "attempt").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table("job_run")
                        .add_column(ColumnDef::new("attempt").integer().not_null().default(1))
                        .to_owned(),
                )
                .await?;
        }
        cols::index(
            "idx_job_run_attempt",
            "job_run",
            &["job", "scheduled_for", "attempt"],
        )
        .unique()
        .ensure(manager)
        .await?;
        if manager.has_index("job_run", "idx_job_run_period").await? {
            manager
                .drop_index(
                    Index::drop()
                        .name("idx_job_run_period")
                        .table("job_run")
                        .to_owned(),
                )
                .await?;
        }
        cols::index("idx_job_run_status", "job_run", &["status", "job"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_job_run_status")
                    .table("job_run")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_job_run_attempt")
                    .table("job_run")
                    .to_owned(),
            )
            .await?;
        for column in ["attempt", "lease_until"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("job_run")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
