//! Host groups: named sets of hosts that scans and reports target.
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = cols::named_table(manager.get_database_backend(), "host_group", 255);
        table.col(ColumnDef::new("detail").text().null());
        manager.create_table(table).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("host_group").to_owned())
            .await
    }
}
