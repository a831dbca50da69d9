//! Scans: a profile, its targets, a schedule in a time zone, and when it is next due.
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        let mut table = cols::named_table(b, "scan", 128);
        table
            .col(cols::reference("profile_id").not_null())
            .col(ColumnDef::new("targets").text().not_null())
            .col(cols::short("schedule", 128).null())
            .col(cols::short("time_zone", 64).not_null())
            .col(ColumnDef::new("enabled").boolean().not_null())
            .col(cols::instant(b, "next_run_at").null())
            .col(cols::reference("created_by_user_id").null())
            .foreign_key(&mut cols::fk(
                "scan",
                "profile_id",
                "scan_profile",
                ForeignKeyAction::Restrict,
            ));
        manager.create_table(table).await?;
        cols::index("idx_scan_due", "scan", &["enabled", "next_run_at"])
            .ensure(manager)
            .await?;
        cols::index("idx_scan_profile", "scan", &["profile_id"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("scan").to_owned())
            .await
    }
}
