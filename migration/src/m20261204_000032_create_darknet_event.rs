//! Raw darknet events, one per logged packet (kept for a retention period; roll-ups stay).
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
                    .table("darknet_event")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("sensor_id").not_null())
                    .col(cols::reference("batch_id").not_null())
                    .col(cols::instant(b, "seen_at").not_null())
                    .col(ColumnDef::new("hour").big_integer().not_null())
                    .col(cols::ip_key(b, "src").not_null())
                    .col(cols::ip_key(b, "dst").not_null())
                    .col(ColumnDef::new("protocol").small_integer().not_null())
                    .col(ColumnDef::new("src_port").integer().null())
                    .col(ColumnDef::new("dst_port").integer().null())
                    .col(ColumnDef::new("icmp_type").small_integer().null())
                    .col(ColumnDef::new("icmp_code").small_integer().null())
                    .col(ColumnDef::new("tcp_flags").small_integer().not_null())
                    .col(ColumnDef::new("ttl").small_integer().null())
                    .col(ColumnDef::new("length").integer().null())
                    .col(cols::short("country", 2).null())
                    .col(ColumnDef::new("asn").big_integer().null())
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_darknet_event_seen", &["seen_at", "id"][..]),
            ("idx_darknet_event_src", &["src", "id"][..]),
            ("idx_darknet_event_port", &["dst_port", "id"][..]),
            ("idx_darknet_event_batch", &["batch_id"][..]),
        ] {
            cols::index(name, "darknet_event", columns)
                .ensure(manager)
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("darknet_event").to_owned())
            .await
    }
}
