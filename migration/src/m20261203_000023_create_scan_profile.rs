//! Scan profiles: named, structured nmap options (stored as validated JSON, never a flag string).
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        let mut table = cols::named_table(b, "scan_profile", 128);
        table
            .col(ColumnDef::new("description").text().null())
            .col(ColumnDef::new("options").text().not_null());
        manager.create_table(table).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("scan_profile").to_owned())
            .await
    }
}
