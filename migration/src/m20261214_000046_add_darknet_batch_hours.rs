//! Records the first and last hour of each darknet batch's events (`first_hour`, `last_hour`;
//! empty for a batch without events, and for batches recorded before this migration), and with
//! each per-source roll-up's fold mark the newest batch whose events it folded all of
//! (`batch_upto`, 0 until its next fold). Together they bound the hours of the events past a
//! mark, so that one source's events past it are read off the events' index by hour and source
//! instead of every event past the mark.
//!
//! Each column is added only when missing, so a process killed in between leaves a state this
//! migration finishes when it runs again.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column, whether it is the fold's batch mark: not null, 0 by default).
const COLUMNS: [(&str, &str, bool); 3] = [
    ("darknet_batch", "first_hour", false),
    ("darknet_batch", "last_hour", false),
    ("darknet_fold", "batch_upto", true),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite alters a table one column at a time.
        for (table, column, mark) in COLUMNS {
            if manager.has_column(table, column).await? {
                continue;
            }
            let mut def = ColumnDef::new(column);
            def.big_integer();
            if mark {
                def.not_null().default(0);
            } else {
                def.null();
            }
            manager
                .alter_table(Table::alter().table(table).add_column(def).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column, _) in COLUMNS.into_iter().rev() {
            if manager.has_column(table, column).await? {
                manager
                    .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                    .await?;
            }
        }
        Ok(())
    }
}
