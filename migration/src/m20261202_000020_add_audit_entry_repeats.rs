//! How many identical attempts one audit entry stands for (refused aliases of one request are
//! recorded once, with their count).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("audit_entry", "repeats").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table("audit_entry")
                    .add_column(ColumnDef::new("repeats").integer().not_null().default(1))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("audit_entry")
                    .drop_column("repeats")
                    .to_owned(),
            )
            .await
    }
}
