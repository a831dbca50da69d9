//! One row per scheduled job: the next period that is due. Claiming a period is a single
//! compare-and-set `UPDATE`, so with N replicas each period runs once.
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
                    .table("job_schedule")
                    .if_not_exists()
                    .col(cols::short("name", 64).not_null().primary_key())
                    .col(cols::instant(b, "next_due_at").not_null())
                    .col(cols::short("claimed_by", 64).null())
                    .col(cols::instant(b, "claimed_at").null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("job_schedule").to_owned())
            .await
    }
}
