//! Widens the darknet events' index by hour and source (migration 042) to
//! `hour, src, protocol, dst_port, id`.
//!
//! Why: the per-source roll-ups by hour and source and by source and port need nothing else of
//! an event, so a fold of either reads this index alone, by the hours of its events, rather
//! than every column of every event by its id (see `darknet::fold::by_hours`). On MariaDB,
//! 2,000,000 events in a 128 MiB buffer pool: one half of the roll-up by source and port
//! folded in 1.8 s instead of 4.0-4.4 s, reading its events in 0.5 s instead of 2.2 s. Each
//! entry is six bytes longer. A source's events are still found by seeking it hour by hour,
//! and one source's events past a fold mark are read off this index too (their ports
//! without a row each).
//!
//! The new index is built before the old one is dropped: a process killed in between leaves
//! both, and the next start drops the old one.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "darknet_event";
const NEW: &str = "idx_darknet_event_hour_src_port";
const OLD: &str = "idx_darknet_event_hour_src";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::cols::index(NEW, TABLE, &["hour", "src", "protocol", "dst_port", "id"])
            .ensure(manager)
            .await?;
        crate::cols::drop_index_if_there(manager, TABLE, OLD).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::cols::index(OLD, TABLE, &["hour", "src", "id"])
            .ensure(manager)
            .await?;
        crate::cols::drop_index_if_there(manager, TABLE, NEW).await
    }
}
