//! Threat feeds: the feed list with its polling state, the articles read from it (sanitised,
//! de-duplicated by entry id and by link), their tags and indicators, and the matches of
//! those indicators against our own data.
use crate::cols;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Text of up to 16 MiB (MySQL `MEDIUMTEXT`; a plain `TEXT` holds 64 KiB).
fn long_text(backend: DbBackend, name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom("MEDIUMTEXT"),
        _ => col.text(),
    };
    col
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table("feed")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::short("name", 255).not_null())
                    .col(cols::short("name_key", 255).not_null().unique_key())
                    .col(cols::short("url", 2048).not_null())
                    .col(cols::short("url_key", 64).not_null().unique_key())
                    .col(
                        ColumnDef::new("poll_interval_secs")
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new("enabled").boolean().not_null())
                    .col(cols::short("etag", 512).null())
                    .col(cols::short("last_modified", 512).null())
                    .col(cols::short("last_status", 16).not_null())
                    .col(cols::short("last_error", 512).null())
                    .col(cols::instant(b, "last_fetched_at").null())
                    .col(cols::instant(b, "last_success_at").null())
                    .col(ColumnDef::new("consecutive_failures").integer().not_null())
                    .col(cols::instant(b, "next_poll_at").not_null())
                    .col(ColumnDef::new("articles").big_integer().not_null())
                    .col(cols::instant(b, "created_at").not_null())
                    .col(cols::instant(b, "updated_at").not_null())
                    .to_owned(),
            )
            .await?;
        cols::index("idx_feed_due", "feed", &["enabled", "next_poll_at"])
            .ensure(manager)
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("article")
                    .if_not_exists()
                    .col(cols::id("id"))
                    // Null for an article added by hand.
                    .col(cols::reference("feed_id").null())
                    .col(cols::short("entry_key", 64).not_null())
                    .col(cols::short("link_key", 64).null())
                    .col(cols::short("title", 1000).not_null())
                    .col(cols::short("link", 2048).null())
                    .col(cols::short("author", 255).null())
                    .col(ColumnDef::new("summary").text().null())
                    .col(long_text(b, "body").null())
                    .col(long_text(b, "search_text").not_null())
                    .col(cols::instant(b, "published_at").not_null())
                    .col(cols::instant(b, "fetched_at").not_null())
                    .foreign_key(&mut cols::fk(
                        "article",
                        "feed_id",
                        "feed",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index("uq_article_entry", "article", &["feed_id", "entry_key"])
            .unique()
            .ensure(manager)
            .await?;
        for (name, cols_) in [
            ("idx_article_link", &["feed_id", "link_key"][..]),
            ("idx_article_published", &["published_at", "id"][..]),
            (
                "idx_article_feed_published",
                &["feed_id", "published_at"][..],
            ),
        ] {
            cols::index(name, "article", cols_).ensure(manager).await?;
        }
        manager
            .create_table(cols::link_table(
                "article_tag",
                "article_id",
                "article",
                "tag_id",
                "tag",
            ))
            .await?;
        cols::index("idx_article_tag_tag", "article_tag", &["tag_id"])
            .ensure(manager)
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("article_indicator")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("article_id").not_null())
                    .col(cols::short("kind", 16).not_null())
                    .col(cols::short("value", 2048).not_null())
                    .col(cols::short("lookup", 191).not_null())
                    .col(cols::ip_key(b, "address").null())
                    .foreign_key(&mut cols::fk(
                        "article_indicator",
                        "article_id",
                        "article",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "uq_article_indicator",
            "article_indicator",
            &["article_id", "kind", "lookup"],
        )
        .unique()
        .ensure(manager)
        .await?;
        cols::index(
            "idx_article_indicator_lookup",
            "article_indicator",
            &["kind", "lookup"],
        )
        .ensure(manager)
        .await?;
        cols::index(
            "idx_article_indicator_address",
            "article_indicator",
            &["address"],
        )
        .ensure(manager)
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("intel_match")
                    .if_not_exists()
                    .col(cols::id("id"))
                    .col(cols::reference("article_id").not_null())
                    .col(cols::reference("indicator_id").not_null())
                    .col(cols::short("kind", 24).not_null())
                    .col(cols::reference("subject").not_null())
                    .col(cols::reference("host_id").null())
                    .col(cols::ip_key(b, "address").null())
                    .col(cols::short("cve", 32).null())
                    .col(cols::instant(b, "matched_at").not_null())
                    .foreign_key(&mut cols::fk(
                        "intel_match",
                        "article_id",
                        "article",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut cols::fk(
                        "intel_match",
                        "indicator_id",
                        "article_indicator",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut cols::fk(
                        "intel_match",
                        "host_id",
                        "host",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        cols::index(
            "uq_intel_match",
            "intel_match",
            &["indicator_id", "kind", "subject"],
        )
        .unique()
        .ensure(manager)
        .await?;
        cols::index("idx_intel_match_article", "intel_match", &["article_id"])
            .ensure(manager)
            .await?;
        cols::index("idx_intel_match_host", "intel_match", &["host_id"])
            .ensure(manager)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "intel_match",
            "article_indicator",
            "article_tag",
            "article",
            "feed",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
