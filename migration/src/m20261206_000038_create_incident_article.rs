//! An incident's links to the articles about it (threat-feed articles).
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(cols::link_table(
                "incident_article",
                "incident_id",
                "incident",
                "article_id",
                "article",
            ))
            .await?;
        cols::index(
            "idx_incident_article_article",
            "incident_article",
            &["article_id"],
        )
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("incident_article")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
