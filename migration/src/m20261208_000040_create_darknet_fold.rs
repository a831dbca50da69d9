//! The darknet's fold marks: per per-source roll-up (1 per hour and source, 2 per source and
//! port, 3 per source and sensor, 4 per source), the last event it holds. Ingest writes
//! events and the per-hour roll-ups; each per-source roll-up takes the events past its mark in
//! bulk, and readers add what lies past it. Until now ingest kept them itself, so every event
//! already stored is in them: each mark starts at the newest event.
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
        for id in 1..=4 {
            let present = db
                .query_one_raw(Statement::from_string(
                    backend,
                    format!("SELECT id FROM darknet_fold WHERE id = {id}"),
                ))
                .await?
                .is_some();
            if !present {
                db.execute_raw(Statement::from_string(
                    backend,
                    format!(
                        "INSERT INTO darknet_fold (id, upto) \
                         SELECT {id}, COALESCE(MAX(id), 0) FROM darknet_event"
                    ),
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
