//! Marks each exposure change when a digest lists it (`digested`), so the digest job takes
//! the changes not listed yet instead of those past the last listed id. On MySQL an id is
//! handed out at insert: an import that commits after a digest may hold ids below the ones
//! that digest listed, and those changes were never listed.
//!
//! Changes at or below the last digest's `through_change_id` are marked as listed. Each step
//! checks what is there first, so a process killed in between leaves a state this migration
//! finishes when it runs again.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "exposure_change";
const COLUMN: &str = "digested";
const INDEX: &str = "idx_exposure_change_digested";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_column(TABLE, COLUMN).await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(TABLE)
                        .add_column(ColumnDef::new(COLUMN).boolean().not_null().default(false))
                        .to_owned(),
                )
                .await?;
        }
        let listed = Query::select()
            .expr(Expr::cust("COALESCE(MAX(through_change_id), 0)"))
            .from("exposure_digest")
            .to_owned();
        manager
            .exec_stmt(
                Query::update()
                    .table(TABLE)
                    .value(COLUMN, true)
                    .and_where(Expr::col("id").lte(Expr::SubQuery(
                        None,
                        Box::new(SubQueryStatement::SelectStatement(listed)),
                    )))
                    .and_where(Expr::col(COLUMN).eq(false))
                    .to_owned(),
            )
            .await?;
        crate::cols::index(INDEX, TABLE, &[COLUMN, "id"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_index(TABLE, INDEX).await? {
            manager
                .drop_index(Index::drop().name(INDEX).table(TABLE).to_owned())
                .await?;
        }
        if manager.has_column(TABLE, COLUMN).await? {
            manager
                .alter_table(Table::alter().table(TABLE).drop_column(COLUMN).to_owned())
                .await?;
        }
        Ok(())
    }
}
