//! The darknet roll-up by source and port folds in two halves of the sources, each with its
//! own mark: mark 2 now holds the sources whose 16-byte key ends in a byte below 0x80, and mark
//! 5 the others. Two folds then share that roll-up's work, which is the largest of the four
//! (one row per source, protocol and port), and the folder lets it fall further behind under a
//! flood, so that what it leaves is folded by both halves side by side when the flood ends.
//! Both halves start where the one mark was.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Idempotent: one statement, which adds the row only when it is missing.
        manager
            .get_connection()
            .execute_raw(Statement::from_string(
                manager.get_database_backend(),
                "INSERT INTO darknet_fold (id, upto) \
                 SELECT 5, upto FROM darknet_fold WHERE id = 2 \
                 AND NOT EXISTS (SELECT 1 FROM darknet_fold f WHERE f.id = 5)",
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The one mark again: where the half further behind was.
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let high: Option<i64> = match db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT upto FROM darknet_fold WHERE id = 5",
            ))
            .await?
        {
            Some(row) => Some(row.try_get("", "upto")?),
            None => None,
        };
        if let Some(high) = high {
            db.execute_raw(Statement::from_string(
                backend,
                format!("UPDATE darknet_fold SET upto = {high} WHERE id = 2 AND upto > {high}"),
            ))
            .await?;
            db.execute_raw(Statement::from_string(
                backend,
                "DELETE FROM darknet_fold WHERE id = 5",
            ))
            .await?;
        }
        Ok(())
    }
}
