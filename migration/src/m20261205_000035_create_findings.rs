//! Vulnerabilities and findings: the catalog (one row per scanner check, its CVE ids in a
//! table of their own so a CVE filter is an index lookup), findings (one per host,
//! vulnerability, port and protocol), every status change, and the imports with what each
//! one saw (its hosts and a sighting per finding, which `scanDelta` compares).
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
                    .table("vulnerability")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::short("vuln_key", 64).not_null().unique_key())
                    .col(cols::short("source", 16).not_null())
                    .col(cols::short("check_id", 255).null())
                    .col(cols::short("name", 512).not_null())
                    .col(ColumnDef::new("description").text().null())
                    .col(ColumnDef::new("solution").text().null())
                    .col(ColumnDef::new("cvss").double().null())
                    .col(cols::short("cvss_vector", 255).null())
                    .col(ColumnDef::new("refs").text().not_null())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "updated_at").not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("vulnerability_cve")
                    .if_not_exists()
                    .col(cols::short("cve", 32).not_null())
                    .col(cols::reference("vulnerability_id").not_null())
                    .primary_key(Index::create().col("cve").col("vulnerability_id"))
                    .foreign_key(&mut cols::fk(
                        "vulnerability_cve",
                        "vulnerability_id",
                        "vulnerability",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(cols::link_table(
                "vulnerability_tag",
                "vulnerability_id",
                "vulnerability",
                "tag_id",
                "tag",
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("finding_import")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::short("kind", 16).not_null())
                    .col(cols::short("status", 16).not_null())
                    .col(cols::reference("created_by").null())
                    .col(cols::short("created_by_name", 128).not_null())
                    .col(cols::instant(b, "started_at").not_null())
                    .col(cols::instant(b, "finished_at").null())
                    .col(ColumnDef::new("hosts").big_integer().not_null())
                    .col(ColumnDef::new("findings").big_integer().not_null())
                    .col(ColumnDef::new("new_findings").big_integer().not_null())
                    .col(ColumnDef::new("reopened").big_integer().not_null())
                    .col(ColumnDef::new("fixed").big_integer().not_null())
                    .col(ColumnDef::new("skipped").big_integer().not_null())
                    .col(ColumnDef::new("rejected").big_integer().not_null())
                    .col(ColumnDef::new("error").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("finding")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("host_id").not_null())
                    .col(cols::reference("vulnerability_id").not_null())
                    // 0 and '' when the finding is on no port.
                    .col(ColumnDef::new("port").integer().not_null())
                    .col(cols::short("protocol", 8).not_null())
                    .col(cols::short("service", 128).null())
                    .col(ColumnDef::new("risk").small_integer().not_null())
                    .col(cols::short("status", 16).not_null())
                    .col(ColumnDef::new("output").text().null())
                    .col(cols::short("ticket_url", 1024).null())
                    .col(cols::instant(b, "first_seen").not_null())
                    .col(cols::instant(b, "last_seen").not_null())
                    .col(cols::reference("first_import_id").null())
                    .col(cols::reference("last_import_id").null())
                    .col(cols::instant(b, "status_changed_at").not_null())
                    .col(cols::short("status_changed_by", 128).not_null())
                    .col(ColumnDef::new("status_reason").text().null())
                    .foreign_key(&mut cols::fk(
                        "finding",
                        "host_id",
                        "host",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut cols::fk(
                        "finding",
                        "vulnerability_id",
                        "vulnerability",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "uq_finding_key",
            "finding",
            &["host_id", "vulnerability_id", "port", "protocol"],
        )
        .unique()
        .ensure(manager)
        .await?;
        cols::index("idx_finding_host_status", "finding", &["host_id", "status"])
            .ensure(manager)
            .await?;
        cols::index(
            "idx_finding_vulnerability",
            "finding",
            &["vulnerability_id"],
        )
        .ensure(manager)
        .await?;
        cols::index("idx_finding_status_risk", "finding", &["status", "risk"])
            .ensure(manager)
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("finding_change")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("finding_id").not_null())
                    .col(cols::instant(b, "at").not_null())
                    .col(cols::short("from_status", 16).null())
                    .col(cols::short("to_status", 16).not_null())
                    .col(cols::reference("by_user_id").null())
                    .col(cols::short("by_name", 128).not_null())
                    .col(ColumnDef::new("reason").text().null())
                    .col(cols::reference("import_id").null())
                    .foreign_key(&mut cols::fk(
                        "finding_change",
                        "finding_id",
                        "finding",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_finding_change_finding",
            "finding_change",
            &["finding_id", "id"],
        )
        .ensure(manager)
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("finding_import_host")
                    .if_not_exists()
                    .col(cols::reference("import_id").not_null())
                    .col(cols::reference("host_id").not_null())
                    .primary_key(Index::create().col("import_id").col("host_id"))
                    .foreign_key(&mut cols::fk(
                        "finding_import_host",
                        "import_id",
                        "finding_import",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut cols::fk(
                        "finding_import_host",
                        "host_id",
                        "host",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("finding_sighting")
                    .if_not_exists()
                    .col(cols::reference("import_id").not_null())
                    .col(cols::reference("finding_id").not_null())
                    .col(cols::short("outcome", 16).not_null())
                    .primary_key(Index::create().col("import_id").col("finding_id"))
                    .foreign_key(&mut cols::fk(
                        "finding_sighting",
                        "import_id",
                        "finding_import",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut cols::fk(
                        "finding_sighting",
                        "finding_id",
                        "finding",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_finding_sighting_finding",
            "finding_sighting",
            &["finding_id"],
        )
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "finding_sighting",
            "finding_import_host",
            "finding_change",
            "finding",
            "finding_import",
            "vulnerability_tag",
            "vulnerability_cve",
            "vulnerability",
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
