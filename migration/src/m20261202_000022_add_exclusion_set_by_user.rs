//! A port-scan exclusion records who set it by user id as well as by name, so the API can
//! answer with the user (the name stays: it is what was recorded at the time).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager
            .has_column("host", "exclusion_set_by_user_id")
            .await?
        {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table("host")
                    .add_column(
                        ColumnDef::new("exclusion_set_by_user_id")
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("host")
                    .drop_column("exclusion_set_by_user_id")
                    .to_owned(),
            )
            .await
    }
}
