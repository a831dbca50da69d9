//! Drops the darknet per-source hourly roll-up's index by source. Every new (hour, source)
//! row went into it at a random place, so each ingest batch rewrote about one page of it per
//! source: the largest share of what ingest wrote. Top sources in a network are read by
//! seeking each hour of the window on the table's own key instead.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "darknet_source_hour";
const INDEX: &str = "idx_darknet_source_hour_src";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::cols::drop_index_if_there(manager, TABLE, INDEX).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::cols::index(INDEX, TABLE, &["src", "hour"])
            .ensure(manager)
            .await
    }
}
