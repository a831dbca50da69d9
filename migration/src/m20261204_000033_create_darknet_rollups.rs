//! Darknet roll-ups, kept on ingest in the events' transaction: counts per hour, sensor,
//! protocol and destination port; per hour, sensor and source country; per hour and source;
//! and per source (with its ports and sensors). Dashboards read only these.
use crate::cols;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn counter(table: &'static str) -> TableCreateStatement {
    Table::create()
        .table(table)
        .if_not_exists()
        .col(ColumnDef::new("events").big_integer().not_null())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        let hour = || ColumnDef::new("hour").big_integer().not_null().to_owned();
        let sensor = || cols::reference("sensor_id").not_null().to_owned();
        let protocol = || {
            ColumnDef::new("protocol")
                .small_integer()
                .not_null()
                .to_owned()
        };
        // -1: a protocol without ports.
        let port = || ColumnDef::new("port").integer().not_null().to_owned();
        let tables = [
            counter("darknet_port_hour")
                .col(hour())
                .col(sensor())
                .col(protocol())
                .col(port())
                .primary_key(
                    Index::create()
                        .col("hour")
                        .col("sensor_id")
                        .col("protocol")
                        .col("port"),
                )
                .to_owned(),
            // Country `""`: unknown.
            counter("darknet_country_hour")
                .col(hour())
                .col(sensor())
                .col(cols::short("country", 2).not_null())
                .primary_key(Index::create().col("hour").col("sensor_id").col("country"))
                .to_owned(),
            counter("darknet_source_hour")
                .col(hour())
                .col(cols::ip_key(b, "src").not_null())
                .primary_key(Index::create().col("hour").col("src"))
                .to_owned(),
            counter("darknet_source")
                .col(cols::ip_key(b, "src").not_null().primary_key())
                .col(cols::instant(b, "first_seen").not_null())
                .col(cols::instant(b, "last_seen").not_null())
                .col(cols::short("country", 2).null())
                .col(ColumnDef::new("asn").big_integer().null())
                .to_owned(),
            counter("darknet_source_port")
                .col(cols::ip_key(b, "src").not_null())
                .col(protocol())
                .col(port())
                .primary_key(Index::create().col("src").col("protocol").col("port"))
                .to_owned(),
            counter("darknet_source_sensor")
                .col(cols::ip_key(b, "src").not_null())
                .col(sensor())
                .primary_key(Index::create().col("src").col("sensor_id"))
                .to_owned(),
        ];
        for mut table in tables {
            // Keyed by their primary key alone: on SQLite one B-tree per table, not a rowid
            // table and an index beside it (InnoDB clusters on the primary key anyway).
            if b == sea_orm_migration::sea_orm::DbBackend::Sqlite {
                table.extra("WITHOUT ROWID");
            }
            manager.create_table(table).await?;
        }
        cols::index(
            "idx_darknet_source_hour_src",
            "darknet_source_hour",
            &["src", "hour"],
        )
        .ensure(manager)
        .await?;
        cols::index("idx_darknet_source_events", "darknet_source", &["events"])
            .ensure(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "darknet_source_sensor",
            "darknet_source_port",
            "darknet_source",
            "darknet_source_hour",
            "darknet_country_hour",
            "darknet_port_hour",
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
