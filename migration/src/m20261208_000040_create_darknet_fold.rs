//! The darknet's fold mark: the last event whose batch is in the per-source roll-ups. Ingest
//! writes events and the per-hour roll-ups; the per-source roll-ups (per source, per hour and
//! source, per source and port, per source and sensor) take events past the mark in bulk, and
//! readers add what lies past it. Until now ingest kept them itself, so every event already
//! stored is in them: the mark starts at the newest event.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "darknet_fold";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .col(ColumnDef::new("upto").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // Idempotent: a process killed after the table was made adds the row on the next run.
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        db.execute_raw(Statement::from_string(
            backend,
            "INSERT INTO darknet_fold (id, upto) \
             SELECT 1, COALESCE(MAX(id), 0) FROM darknet_event \
             WHERE NOT EXISTS (SELECT 1 FROM darknet_fold WHERE id = 1)",
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).if_exists().to_owned())
            .await
    }
}
