//! Incidents (VERIS-style): the editable lookups seeded with HECTOR's values, incidents with
//! full timestamps, their links (hosts, attacker addresses, vulnerabilities, tags) and an
//! append-only timeline.
use crate::cols;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// HECTOR's seeds (its duplicates once each).
const SEEDS: &[(&str, &[&str])] = &[
    (
        "AGENT",
        &["External", "Internal", "Partner", "Other/Unknown"],
    ),
    (
        "ACTION",
        &[
            "Malware",
            "Hacking",
            "Social",
            "Spam",
            "Misuse",
            "Physical",
            "Error",
            "Environmental",
            "Phishing",
            "Other/Unknown",
        ],
    ),
    (
        "ASSET",
        &[
            "Database server",
            "Desktop/Workstation",
            "Laptop",
            "Mail server",
            "Mobile device",
            "Multifunction printer",
            "Removable media",
            "Web app or server",
            "Credentials",
            "Proxy server",
            "Fileserver server",
            "Management server",
            "IoT device",
            "Medical device",
            "None",
            "PII data",
        ],
    ),
    (
        "DISCOVERY",
        &[
            "3rd party event monitoring",
            "NIDS",
            "HIDS",
            "Anti-virus",
            "Internal security audit",
            "Unusual system behaviour",
            "End user report",
            "Application monitoring system",
            "Public disclosure via 3rd party",
            "Partner or vendor",
        ],
    ),
];

fn link(
    table: &'static str,
    other: &'static str,
    other_table: Option<&'static str>,
    b: DbBackend,
) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(table)
        .if_not_exists()
        .col(cols::reference("incident_id").not_null());
    match other_table {
        Some(_) => t.col(cols::reference(other).not_null()),
        None => t.col(cols::ip_key(b, other).not_null()),
    };
    t.primary_key(Index::create().col("incident_id").col(other))
        .foreign_key(&mut cols::fk(
            table,
            "incident_id",
            "incident",
            ForeignKeyAction::Cascade,
        ));
    if let Some(other_table) = other_table {
        t.foreign_key(&mut cols::fk(
            table,
            other,
            other_table,
            ForeignKeyAction::Cascade,
        ));
    }
    t.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table("incident_lookup")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::short("kind", 16).not_null())
                    .col(cols::short("name", 100).not_null())
                    .col(cols::short("name_key", 100).not_null())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "updated_at").not_null())
                    .to_owned(),
            )
            .await?;
        cols::index(
            "uq_incident_lookup_name",
            "incident_lookup",
            &["kind", "name_key"],
        )
        .unique()
        .ensure(manager)
        .await?;
        let now = sea_orm_migration::sea_orm::prelude::ChronoUtc::now();
        let mut seed = Query::insert();
        seed.into_table("incident_lookup").columns([
            "kind",
            "name",
            "name_key",
            "created_at",
            "updated_at",
        ]);
        for (kind, names) in SEEDS {
            for name in *names {
                seed.values([
                    (*kind).into(),
                    (*name).into(),
                    name.to_lowercase().into(),
                    now.into(),
                    now.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            }
        }
        // Seeded once: a migration killed after this statement finds the lists filled when it
        // runs again.
        let filled = manager
            .get_connection()
            .query_one(
                &Query::select()
                    .expr(Expr::col("id").count())
                    .from("incident_lookup")
                    .to_owned(),
            )
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        if filled == 0 {
            manager.exec_stmt(seed).await?;
        }

        let lookup = |name: &'static str| cols::reference(name).null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table("incident")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::short("title", 255).not_null())
                    .col(ColumnDef::new("summary").text().null())
                    .col(cols::short("status", 16).not_null())
                    .col(cols::short("severity", 16).not_null())
                    .col(cols::short("tlp", 16).not_null())
                    .col(cols::instant(b, "occurred_at").null())
                    .col(cols::instant(b, "discovered_at").null())
                    .col(cols::instant(b, "contained_at").null())
                    .col(cols::instant(b, "resolved_at").null())
                    .col(cols::reference("assignee_id").null())
                    .col(cols::reference("reporter_id").null())
                    .col(cols::short("reporter_name", 128).not_null())
                    .col(lookup("agent_id"))
                    .col(lookup("action_id"))
                    .col(lookup("asset_id"))
                    .col(lookup("discovery_id"))
                    .col(ColumnDef::new("data_exposed").boolean().not_null())
                    .col(ColumnDef::new("integrity_loss").text().null())
                    .col(ColumnDef::new("availability_loss").text().null())
                    .col(cols::short("asset_loss", 16).not_null())
                    .col(cols::short("disruption", 16).not_null())
                    .col(cols::short("response_cost", 16).not_null())
                    .col(cols::short("overall_impact", 16).not_null())
                    .col(ColumnDef::new("lessons_learned").text().null())
                    .col(ColumnDef::new("corrections").text().null())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "updated_at").not_null())
                    .foreign_key(&mut cols::fk(
                        "incident",
                        "assignee_id",
                        "app_user",
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, cols_) in [
            ("idx_incident_status", &["status", "id"][..]),
            ("idx_incident_occurred", &["occurred_at"][..]),
            ("idx_incident_agent", &["agent_id"][..]),
            ("idx_incident_action", &["action_id"][..]),
            ("idx_incident_asset", &["asset_id"][..]),
            ("idx_incident_discovery", &["discovery_id"][..]),
        ] {
            cols::index(name, "incident", cols_).ensure(manager).await?;
        }
        manager
            .create_table(link("incident_host", "host_id", Some("host"), b))
            .await?;
        manager
            .create_table(link("incident_address", "address", None, b))
            .await?;
        manager
            .create_table(link(
                "incident_vulnerability",
                "vulnerability_id",
                Some("vulnerability"),
                b,
            ))
            .await?;
        manager
            .create_table(link("incident_tag", "tag_id", Some("tag"), b))
            .await?;
        cols::index("idx_incident_host_host", "incident_host", &["host_id"])
            .ensure(manager)
            .await?;
        cols::index("idx_incident_tag_tag", "incident_tag", &["tag_id"])
            .ensure(manager)
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("incident_note")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("incident_id").not_null())
                    .col(cols::instant(b, "at").not_null())
                    .col(cols::short("kind", 16).not_null())
                    .col(cols::reference("author_id").null())
                    .col(cols::short("author_name", 128).not_null())
                    .col(ColumnDef::new("text").text().null())
                    .col(cols::short("from_status", 16).null())
                    .col(cols::short("to_status", 16).null())
                    .foreign_key(&mut cols::fk(
                        "incident_note",
                        "incident_id",
                        "incident",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "idx_incident_note_incident",
            "incident_note",
            &["incident_id", "id"],
        )
        .ensure(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "incident_note",
            "incident_tag",
            "incident_vulnerability",
            "incident_address",
            "incident_host",
            "incident",
            "incident_lookup",
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
