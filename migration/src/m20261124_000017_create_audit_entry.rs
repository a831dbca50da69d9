//! The audit log: every mutation, who, what, when, from where, and how it ended.
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table("audit_entry")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("actor_user_id").null())
                    .col(cols::short("actor", 128).not_null())
                    .col(cols::short("action", 64).not_null())
                    .col(cols::short("target", 255).null())
                    .col(cols::short("client_addr", 64).null())
                    .col(cols::short("outcome", 32).not_null())
                    .col(cols::instant(b, "at").not_null())
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_audit_entry_at", &["at", "id"][..]),
            ("idx_audit_entry_actor", &["actor_user_id", "id"][..]),
            ("idx_audit_entry_action", &["action", "id"][..]),
        ] {
            cols::index(name, "audit_entry", columns)
                .ensure(manager)
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_entry").to_owned())
            .await
    }
}
