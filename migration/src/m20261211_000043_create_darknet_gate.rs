//! The darknet's ingest gate: one row that every batch holds shared (on MySQL) while it
//! writes, and that a fold takes exclusively for as long as it reads the newest event id.
//! Batches then write their events side by side (before, they took turns for the whole
//! batch), and a fold still never passes an id that a batch in flight may yet commit.
//!
//! On MySQL it also drops the batches' foreign key to their sensor: inserting a batch row took
//! a shared lock on the sensor's row, and two batches side by side, each then locking the
//! sensors to add to their counters, deadlocked. A batch checks its sensor under that lock
//! instead, and deleting a sensor (allowed only before it sent an event) deletes its batches.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "darknet_gate";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .to_owned(),
            )
            .await?;
        // Idempotent: a process killed after the table was made adds the row on the next run.
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let present = db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT id FROM {TABLE} WHERE id = 1"),
            ))
            .await?
            .is_some();
        if !present {
            db.execute_raw(Statement::from_string(
                backend,
                format!("INSERT INTO {TABLE} (id) VALUES (1)"),
            ))
            .await?;
        }
        if backend == sea_orm_migration::sea_orm::DbBackend::MySql {
            let keys = db
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT CONSTRAINT_NAME AS name FROM information_schema.REFERENTIAL_CONSTRAINTS \
                     WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'darknet_batch' \
                     AND REFERENCED_TABLE_NAME = 'sensor'",
                ))
                .await?;
            for key in keys {
                let name: String = key.try_get("", "name")?;
                db.execute_unprepared(&format!(
                    "ALTER TABLE darknet_batch DROP FOREIGN KEY `{}`",
                    name.replace('`', "``")
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).if_exists().to_owned())
            .await
    }
}
