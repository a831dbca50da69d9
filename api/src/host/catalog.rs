//! The named lookup tables around hosts (tags, host groups, support groups, locations) and
//! host URLs. Names are unique case-insensitively on both backends through a lower-cased key.
//!
//! Who owns what: support groups are the admins' to create, change and delete (they decide
//! who sees which hosts). Tags, locations and host groups are shared: anyone who writes the
//! inventory may create them, but renaming, changing or deleting one is refused unless every
//! host that uses it is the caller's, so one support group cannot change what another group's
//! hosts look like. A change that reaches hosts marks them updated and records their events,
//! in the same transaction. Names (and support groups' contact addresses) are visible to every
//! inventory reader: they are what one picks from when filing a host.

use std::collections::HashMap;

use entity::{host, host_group, host_group_member, host_tag, location, support_group, tag, url};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, IntoIden, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Value,
};

use crate::actor::HostScope;
use crate::db;
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::page::{KeyOrder, KeyedList, Page, PageRequest};
use crate::validate;

/// A table of named things with `id`, `name`, `name_key`, `created_at`, `updated_at`.
pub trait Named: EntityTrait + Default {
    /// What it is called in messages: "tag", "host group".
    const WHAT: &'static str;
    const MAX_LEN: usize;
    fn id_of(model: &Self::Model) -> i64;
    fn key_of(model: &Self::Model) -> &str;
    /// Only admins create, change or delete these.
    const ADMIN_ONLY: bool;
    fn id_col() -> Self::Column;
    fn key_col() -> Self::Column;
    /// The hosts that use row `id` (a condition on `host`).
    fn hosts_using(id: i64) -> Condition;
}

macro_rules! named {
    ($module:ident, $what:literal, $max:expr, admin_only: $admin:expr, used_by: $used:expr) => {
        impl Named for $module::Entity {
            const WHAT: &'static str = $what;
            const MAX_LEN: usize = $max;
            const ADMIN_ONLY: bool = $admin;
            fn hosts_using(id: i64) -> Condition {
                let used: fn(i64) -> Condition = $used;
                used(id)
            }
            fn id_of(model: &Self::Model) -> i64 {
                model.id
            }
            fn key_of(model: &Self::Model) -> &str {
                &model.name_key
            }
            fn id_col() -> Self::Column {
                $module::Column::Id
            }
            fn key_col() -> Self::Column {
                $module::Column::NameKey
            }
        }
    };
}

fn host_col(c: host::Column) -> Expr {
    Expr::col((host::Entity, c))
}

named!(tag, "tag", validate::MAX_TAG_LEN, admin_only: false, used_by: |id| {
    let links = Query::select()
        .column(host_tag::Column::HostId)
        .from(host_tag::Entity)
        .and_where(Expr::col(host_tag::Column::TagId).eq(id))
        .to_owned();
    Condition::all().add(host_col(host::Column::Id).in_subquery(links))
});
named!(host_group, "host group", 255, admin_only: false, used_by: |id| {
    let members = Query::select()
        .column(host_group_member::Column::HostId)
        .from(host_group_member::Entity)
        .and_where(Expr::col(host_group_member::Column::HostGroupId).eq(id))
        .to_owned();
    Condition::all().add(host_col(host::Column::Id).in_subquery(members))
});
named!(support_group, "support group", 255, admin_only: true, used_by: |id| {
    Condition::all().add(host_col(host::Column::SupportGroupId).eq(id))
});
named!(location, "location", 255, admin_only: false, used_by: |id| {
    Condition::all().add(host_col(host::Column::LocationId).eq(id))
});

/// The hosts `scope` does not see: those of other support groups and those of none.
fn outside(scope: &HostScope) -> Condition {
    match scope {
        HostScope::All => Condition::all().add(Expr::val(1).eq(0)),
        HostScope::SupportGroups(groups) if groups.is_empty() => Condition::all(),
        HostScope::SupportGroups(groups) => Condition::any()
            .add(host_col(host::Column::SupportGroupId).is_null())
            .add(host_col(host::Column::SupportGroupId).is_not_in(groups.clone())),
    }
}

/// Fails with `FORBIDDEN` unless `scope` may change catalog row `id` (see the module's rule).
async fn require_owner<E: Named>(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<()> {
    if *scope == HostScope::All {
        return Ok(());
    }
    if E::ADMIN_ONLY {
        return Err(AppError::Forbidden(format!(
            "{}s are managed by admins",
            E::WHAT
        )));
    }
    let hidden = host::Entity::find()
        .filter(E::hosts_using(id))
        .filter(outside(scope))
        .count(db)
        .await?;
    if hidden > 0 {
        return Err(AppError::Forbidden(format!(
            "the {} is used by hosts outside your support groups; an admin may change it",
            E::WHAT
        )));
    }
    Ok(())
}

/// The hosts that use catalog row `id`.
async fn hosts_using<E: Named>(db: &impl ConnectionTrait, id: i64) -> AppResult<Vec<host::Model>> {
    Ok(host::Entity::find()
        .filter(E::hosts_using(id))
        .all(db)
        .await?)
}

fn table<E: Named>() -> sea_orm::sea_query::DynIden {
    E::default().table_name().into_iden()
}

fn check_name<E: Named>(name: &str) -> AppResult<String> {
    if E::WHAT == "tag" {
        validate::tag(name)
    } else {
        validate::line("name", name, E::MAX_LEN)
    }
}

pub async fn get<E: Named>(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<E::Model>> {
    Ok(E::find().filter(E::id_col().eq(id)).one(db).await?)
}

pub async fn by_ids<E: Named>(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<E::Model>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        out.extend(
            E::find()
                .filter(E::id_col().is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

pub async fn count<E: Named>(db: &impl ConnectionTrait) -> AppResult<u64>
where
    E::Model: Sync,
{
    Ok(E::find().count(db).await?)
}

/// Fails with `BAD_USER_INPUT` naming the first id that does not exist.
pub async fn require_all<E: Named>(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<()> {
    let found = by_ids::<E>(db, ids).await?;
    for id in ids {
        if !found.iter().any(|m| E::id_of(m) == *id) {
            return Err(AppError::bad_input(format!("no {} with that id", E::WHAT)));
        }
    }
    Ok(())
}

pub async fn by_name<E: Named>(
    db: &impl ConnectionTrait,
    name: &str,
) -> AppResult<Option<E::Model>> {
    Ok(E::find()
        .filter(E::key_col().eq(validate::key(name.trim())))
        .one(db)
        .await?)
}

/// Creates a named row for `scope`; `CONFLICT` when the name (any case) exists.
pub async fn create<E: Named>(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    name: &str,
    extra: Vec<(&'static str, Value)>,
) -> AppResult<E::Model> {
    if E::ADMIN_ONLY && *scope != HostScope::All {
        return Err(AppError::Forbidden(format!(
            "{}s are managed by admins",
            E::WHAT
        )));
    }
    let name = check_name::<E>(name)?;
    let key = validate::key(&name);
    let now = db::now();
    let mut columns = vec!["name", "name_key", "created_at", "updated_at"];
    let mut values: Vec<Expr> = vec![
        Expr::val(name.clone()),
        Expr::val(key.clone()),
        Expr::val(now),
        Expr::val(now),
    ];
    for (col, value) in extra {
        columns.push(col);
        values.push(Expr::val(value));
    }
    let insert = Query::insert()
        .into_table(table::<E>())
        .columns(columns)
        .values_panic(values)
        .to_owned();
    db.execute(&insert).await.map_err(|e| {
        AppError::conflict_on_unique(e, format!("a {} named {name:?} exists", E::WHAT))
    })?;
    by_name::<E>(db, &name)
        .await?
        .ok_or_else(|| AppError::not_found(E::WHAT))
}

/// Renames and/or sets extra columns of a named row, if `scope` owns it; the hosts that use
/// it are marked updated, with their events.
pub async fn update<E: Named>(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
    name: Option<&str>,
    extra: Vec<(&'static str, Value)>,
) -> AppResult<E::Model> {
    if get::<E>(db, id).await?.is_none() {
        return Err(AppError::not_found(E::WHAT));
    }
    require_owner::<E>(db, scope, id).await?;
    let mut update = Query::update();
    update
        .table(table::<E>())
        .value("updated_at", db::now())
        .and_where(Expr::col("id").eq(id));
    let mut label = String::new();
    if let Some(name) = name {
        let name = check_name::<E>(name)?;
        update
            .value("name", name.clone())
            .value("name_key", validate::key(&name));
        label = name;
    }
    for (col, value) in extra {
        update.value(col, value);
    }
    db.execute(&update).await.map_err(|e| {
        AppError::conflict_on_unique(e, format!("a {} named {label:?} exists", E::WHAT))
    })?;
    super::rows::touch(db, &hosts_using::<E>(db, id).await?).await?;
    get::<E>(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(E::WHAT))
}

/// Deletes a named row, if `scope` owns it; links to hosts go with it (hosts keep existing,
/// marked updated, with their events).
pub async fn delete<E: Named>(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<E::Model> {
    let found = get::<E>(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(E::WHAT))?;
    require_owner::<E>(db, scope, id).await?;
    let hosts = hosts_using::<E>(db, id).await?;
    E::delete_many().filter(E::id_col().eq(id)).exec(db).await?;
    super::rows::touch(db, &hosts).await?;
    Ok(found)
}

/// A page of named rows in `order`, optionally those whose name contains `search`.
pub async fn list<E: Named>(
    db: &impl ConnectionTrait,
    search: Option<&str>,
    order: KeyOrder,
    page: &PageRequest,
) -> AppResult<Page<E::Model>>
where
    E::Model: Sync,
{
    let mut cond = Condition::all();
    if let Some(search) = search {
        let search = validate::line("search", search, E::MAX_LEN)?;
        cond = cond.add(
            Expr::col((table::<E>(), E::key_col())).like(like_pattern(&validate::key(&search))),
        );
    }
    list_where::<E>(db, cond, order, page).await
}

/// A page of the named rows that meet `cond`, in `order`.
pub async fn list_where<E: Named>(
    db: &impl ConnectionTrait,
    cond: Condition,
    order: KeyOrder,
    page: &PageRequest,
) -> AppResult<Page<E::Model>>
where
    E::Model: Sync,
{
    crate::page::by_key(
        db,
        E::find().filter(cond),
        KeyedList {
            what: E::WHAT,
            key: E::key_col(),
            id: E::id_col(),
            key_of: E::key_of,
            id_of: E::id_of,
        },
        order,
        page,
    )
    .await
}

/// `%term%` with `%`, `_` and `\` in the term matched literally.
pub fn like_pattern(term: &str) -> sea_orm::sea_query::LikeExpr {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// Finds each tag by name (any case) and creates the missing ones; returns them in input
/// order, without duplicates.
pub async fn find_or_create_tags(
    db: &impl ConnectionTrait,
    names: &[String],
) -> AppResult<Vec<tag::Model>> {
    validate::bounded("tags", names, 100)?;
    let mut clean: Vec<String> = Vec::new();
    for n in names {
        let n = validate::tag(n)?;
        if !clean.iter().any(|c| validate::key(c) == validate::key(&n)) {
            clean.push(n);
        }
    }
    if clean.is_empty() {
        return Ok(Vec::new());
    }
    let now = db::now();
    let rows: Vec<tag::ActiveModel> = clean
        .iter()
        .map(|n| tag::ActiveModel {
            name: Set(n.clone()),
            name_key: Set(validate::key(n)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    // Insert what is missing; an existing key is left as it is (on both backends).
    tag::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([tag::Column::NameKey])
        .exec(db)
        .await?;
    let keys: Vec<String> = clean.iter().map(|n| validate::key(n)).collect();
    let found = tag::Entity::find()
        .filter(tag::Column::NameKey.is_in(keys.clone()))
        .all(db)
        .await?;
    Ok(keys
        .iter()
        .filter_map(|k| found.iter().find(|t| &t.name_key == k).cloned())
        .collect())
}

/// How many hosts that `scope` sees carry each tag.
pub async fn tag_usage(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    tag_ids: &[i64],
) -> AppResult<HashMap<i64, i64>> {
    let mut out = HashMap::new();
    let visible = Query::select()
        .column((host::Entity, host::Column::Id))
        .from(host::Entity)
        .cond_where(super::rows::scope_condition(scope))
        .to_owned();
    for chunk in tag_ids.chunks(1000) {
        let rows: Vec<(i64, i64)> = host_tag::Entity::find()
            .select_only()
            .column(host_tag::Column::TagId)
            .column_as(Expr::col(host_tag::Column::HostId).count(), "uses")
            .filter(host_tag::Column::TagId.is_in(chunk.to_vec()))
            .filter(Expr::col(host_tag::Column::HostId).in_subquery(visible.clone()))
            .group_by(host_tag::Column::TagId)
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// Fails with `NOT_FOUND` unless `scope` sees host `host_id`.
async fn require_host(db: &impl ConnectionTrait, scope: &HostScope, host_id: i64) -> AppResult<()> {
    match super::rows::get(db, scope, host_id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::not_found("host")),
    }
}

pub async fn create_url(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    host_id: i64,
    address: &str,
    screenshot: Option<&str>,
) -> AppResult<url::Model> {
    let address = validate::link("url", Some(address), validate::MAX_URL_LEN)?
        .ok_or_else(|| AppError::bad_input("`url` must not be empty"))?;
    let screenshot = validate::optional_line("screenshot", screenshot, 255)?;
    require_host(db, scope, host_id).await?;
    let now = db::now();
    let row = url::ActiveModel {
        host_id: Set(host_id),
        url: Set(address),
        screenshot: Set(screenshot),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    row.insert(db).await.map_err(|e| {
        if is_unique_violation(&e) {
            AppError::Conflict("the host already has that URL".into())
        } else if matches!(
            e.sql_err(),
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
        ) {
            AppError::bad_input("no host with that id")
        } else {
            e.into()
        }
    })
}

pub async fn update_url(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
    address: Option<&str>,
    screenshot: Option<Option<&str>>,
) -> AppResult<url::Model> {
    let found = url(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("url"))?;
    let mut row: url::ActiveModel = found.into();
    if let Some(address) = address {
        let address = validate::link("url", Some(address), validate::MAX_URL_LEN)?
            .ok_or_else(|| AppError::bad_input("`url` must not be empty"))?;
        row.url = Set(address);
    }
    if let Some(screenshot) = screenshot {
        row.screenshot = Set(validate::optional_line("screenshot", screenshot, 255)?);
    }
    row.updated_at = Set(db::now());
    row.update(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "the host already has that URL"))
}

pub async fn delete_url(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<url::Model> {
    let found = url(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("url"))?;
    url::Entity::delete_by_id(id).exec(db).await?;
    Ok(found)
}

/// URL `id`, if `scope` sees its host.
pub async fn url(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<Option<url::Model>> {
    let Some(found) = url::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    Ok(super::rows::get(db, scope, found.host_id)
        .await?
        .map(|_| found))
}

/// The URLs of each host.
pub async fn urls_of_hosts(
    db: &impl ConnectionTrait,
    host_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<url::Model>>> {
    let mut out: HashMap<i64, Vec<url::Model>> = HashMap::new();
    for chunk in host_ids.chunks(1000) {
        let rows = url::Entity::find()
            .filter(url::Column::HostId.is_in(chunk.to_vec()))
            .order_by_asc(url::Column::Id)
            .all(db)
            .await?;
        for row in rows {
            out.entry(row.host_id).or_default().push(row);
        }
    }
    Ok(out)
}

/// The tags of each host, ordered by name.
pub async fn tags_of_hosts(
    db: &impl ConnectionTrait,
    host_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<tag::Model>>> {
    let mut out: HashMap<i64, Vec<tag::Model>> = HashMap::new();
    for chunk in host_ids.chunks(1000) {
        let links = host_tag::Entity::find()
            .filter(host_tag::Column::HostId.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        let tag_ids: Vec<i64> = links.iter().map(|l| l.tag_id).collect();
        let tags: HashMap<i64, tag::Model> = by_ids::<tag::Entity>(db, &tag_ids)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        for link in links {
            if let Some(t) = tags.get(&link.tag_id) {
                out.entry(link.host_id).or_default().push(t.clone());
            }
        }
    }
    for tags in out.values_mut() {
        tags.sort_by(|a, b| a.name_key.cmp(&b.name_key));
    }
    Ok(out)
}
