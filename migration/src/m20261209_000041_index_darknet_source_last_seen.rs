//! Indexes the darknet's per-source roll-up by when each source was last seen. The sources
//! with events in a window that reaches the newest event are those last seen at or after its
//! start: the 24-hour snapshot counts them on this index instead of grouping a day of rows.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "darknet_source";
const INDEX: &str = "idx_darknet_source_last_seen";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::cols::index(INDEX, TABLE, &["last_seen"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_index(TABLE, INDEX).await? {
            return Ok(());
        }
        manager
            .drop_index(Index::drop().name(INDEX).table(TABLE).to_owned())
            .await
    }
}
