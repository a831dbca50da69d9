//! Column builders that keep the two backends in agreement: the only place where a type is
//! chosen per engine.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Auto-increment 64-bit primary key.
pub fn id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// A UTC instant with microseconds. MySQL `DATETIME(6)`, never the 2038-bounded time type
/// (see PITFALLS.md); SQLite keeps its text form.
pub fn instant(backend: DbBackend, name: impl IntoIden) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom("DATETIME(6)"),
        _ => col.date_time(),
    };
    col
}

/// A 16-byte big-endian address key (IPv4 mapped into IPv6), so CIDR filters are range scans.
pub fn ip_key(backend: DbBackend, name: impl IntoIden) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom("VARBINARY(16)"),
        _ => col.blob(),
    };
    col
}

/// Bounded text that may be indexed (MySQL index keys are limited to 3072 bytes).
pub fn short(name: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).to_owned()
}

/// A reference to another table's `id`.
pub fn reference(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().to_owned()
}

/// `name`, its lower-cased unique key and the usual timestamps: the shape every named
/// lookup table (support group, location, host group, tag) shares.
pub fn named_table(
    backend: DbBackend,
    table: impl IntoIden + Clone + 'static,
    name_len: u32,
) -> TableCreateStatement {
    Table::create()
        .table(table)
        .if_not_exists()
        .col(id("id"))
        .col(short("name", name_len).not_null())
        .col(short("name_key", name_len).not_null().unique_key())
        .col(instant(backend, "created_at").not_null())
        .col(instant(backend, "updated_at").not_null())
        .to_owned()
}

/// `ON DELETE` behaviour for a foreign key from `from.col` to `to.id`.
pub fn fk(
    from: impl IntoIden + Clone + 'static,
    col: impl IntoIden,
    to: impl IntoIden + 'static,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from, col)
        .to(to, "id")
        .on_delete(on_delete)
        .to_owned()
}

/// An index a migration wants, created only if it is absent: MySQL has no
/// `CREATE INDEX IF NOT EXISTS` and its DDL is not transactional, so a migration killed between
/// two statements runs again from its first one and must find the finished ones done.
pub struct IndexSpec {
    table: &'static str,
    name: &'static str,
    stmt: IndexCreateStatement,
}

impl IndexSpec {
    pub fn unique(mut self) -> Self {
        self.stmt.unique();
        self
    }

    pub async fn ensure(self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        if manager.has_index(self.table, self.name).await? {
            return Ok(());
        }
        manager.create_index(self.stmt).await
    }
}

pub fn index(name: &'static str, table: &'static str, cols: &[&'static str]) -> IndexSpec {
    let mut idx = Index::create();
    idx.name(name).table(table).if_not_exists();
    for c in cols {
        idx.col(*c);
    }
    IndexSpec {
        table,
        name,
        stmt: idx.to_owned(),
    }
}

/// Drops the index `name` of `table` if it is there (see [`IndexSpec`]: a migration killed
/// after dropping it runs again).
pub async fn drop_index_if_there(
    manager: &SchemaManager<'_>,
    table: &'static str,
    name: &'static str,
) -> Result<(), DbErr> {
    if !manager.has_index(table, name).await? {
        return Ok(());
    }
    manager
        .drop_index(Index::drop().name(name).table(table).to_owned())
        .await
}

/// A many-to-many link table: composite primary key, both sides cascade on delete.
pub fn link_table(
    table: &'static str,
    left: &'static str,
    left_table: &'static str,
    right: &'static str,
    right_table: &'static str,
) -> TableCreateStatement {
    Table::create()
        .table(table)
        .if_not_exists()
        .col(reference(left).not_null())
        .col(reference(right).not_null())
        .primary_key(Index::create().col(left).col(right))
        .foreign_key(&mut fk(table, left, left_table, ForeignKeyAction::Cascade))
        .foreign_key(&mut fk(
            table,
            right,
            right_table,
            ForeignKeyAction::Cascade,
        ))
        .to_owned()
}

/// Bytes of any size up to gigabytes (MySQL `LONGBLOB`; a plain `BLOB` holds 64 KiB).
pub fn large_blob(backend: DbBackend, name: impl IntoIden) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom("LONGBLOB"),
        _ => col.blob(),
    };
    col
}
