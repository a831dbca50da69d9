//! Hosts: the asset inventory, one row per address (v4 or v6).
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
                    .table("host")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::ip_key(b, "address").not_null().unique_key())
                    .col(ColumnDef::new("names").text().not_null())
                    .col(cols::short("name_key", 255).not_null())
                    .col(cols::short("os_name", 100).null())
                    .col(cols::short("os_family", 100).null())
                    .col(cols::short("os_vendor", 100).null())
                    .col(cols::short("os_type", 100).null())
                    .col(cols::short("sponsor", 255).null())
                    .col(cols::short("technical_contact", 255).null())
                    .col(ColumnDef::new("notes").text().null())
                    .col(ColumnDef::new("link").text().null())
                    .col(ColumnDef::new("confidential_data").boolean().not_null())
                    .col(cols::reference("support_group_id").null())
                    .col(cols::reference("location_id").null())
                    .col(ColumnDef::new("exclusion_reason").text().null())
                    .col(cols::instant(b, "exclusion_until").null())
                    .col(cols::short("exclusion_set_by", 255).null())
                    .col(cols::instant(b, "exclusion_set_at").null())
                    .col(cols::instant(b, "first_seen").null())
                    .col(cols::instant(b, "last_seen").null())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "updated_at").not_null())
                    .foreign_key(&mut cols::fk(
                        "host",
                        "support_group_id",
                        "support_group",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut cols::fk(
                        "host",
                        "location_id",
                        "location",
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_host_name_key", &["name_key", "id"][..]),
            ("idx_host_created_at", &["created_at", "id"][..]),
            ("idx_host_last_seen", &["last_seen", "id"][..]),
            ("idx_host_support_group", &["support_group_id"][..]),
            ("idx_host_location", &["location_id"][..]),
            ("idx_host_exclusion_until", &["exclusion_until"][..]),
        ] {
            cols::index(name, "host", columns).ensure(manager).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("host").to_owned())
            .await
    }
}
