//! Exposure digests: per support group, the exposure changes of one period, for notification.
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
                    .table("exposure_digest")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("support_group_id").null())
                    .col(cols::instant(b, "period_start").not_null())
                    .col(cols::instant(b, "period_end").not_null())
                    .col(ColumnDef::new("opened").big_integer().not_null())
                    .col(ColumnDef::new("closed").big_integer().not_null())
                    .col(ColumnDef::new("changed").big_integer().not_null())
                    .col(ColumnDef::new("change_ids").text().not_null())
                    .col(ColumnDef::new("through_change_id").big_integer().not_null())
                    .col(cols::instant(b, "created_at").not_null())
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_exposure_digest_group",
            "exposure_digest",
            &["support_group_id", "id"],
        )
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("exposure_digest").to_owned())
            .await
    }
}
