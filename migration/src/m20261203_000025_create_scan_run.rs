//! Scan runs: one execution of a scan (or one import of nmap XML), its lease, its command and
//! what it found.
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
                    .table("scan_run")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("scan_id").null())
                    .col(cols::short("origin", 16).not_null())
                    .col(cols::short("status", 16).not_null())
                    .col(cols::instant(b, "queued_at").not_null())
                    .col(cols::instant(b, "started_at").null())
                    .col(cols::instant(b, "finished_at").null())
                    .col(cols::instant(b, "lease_until").null())
                    .col(cols::short("instance", 64).null())
                    .col(cols::reference("requested_by_user_id").null())
                    .col(ColumnDef::new("targets").text().not_null())
                    .col(ColumnDef::new("excluded").text().not_null())
                    .col(ColumnDef::new("hosts_up").big_integer().not_null())
                    .col(ColumnDef::new("ports_seen").big_integer().not_null())
                    .col(ColumnDef::new("command").text().null())
                    .col(ColumnDef::new("stderr_tail").text().null())
                    .col(ColumnDef::new("error").text().null())
                    .col(cols::large_blob(b, "raw_xml").null())
                    .foreign_key(&mut cols::fk(
                        "scan_run",
                        "scan_id",
                        "scan",
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index("idx_scan_run_scan", "scan_run", &["scan_id", "id"])
            .ensure(manager)
            .await?;
        cols::index("idx_scan_run_status", "scan_run", &["status", "id"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("scan_run").to_owned())
            .await
    }
}
