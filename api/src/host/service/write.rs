//! Creating, changing and deleting one host, with its event.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{host, host_group, location, support_group};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::*;
use crate::actor::HostScope;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::ChangeKind;
use crate::host::catalog::{self};
use crate::host::rows::{changed, get};
use crate::net;
use crate::validate;

/// Operating system as reported by a scanner or typed by a person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Os {
    pub name: Option<String>,
    pub family: Option<String>,
    pub vendor: Option<String>,
    pub kind: Option<String>,
}

/// A host to create.
#[derive(Debug, Clone)]
pub struct NewHost {
    pub address: IpAddr,
    pub names: Vec<String>,
    pub os: Os,
    pub sponsor: Option<String>,
    pub technical_contact: Option<String>,
    pub notes: Option<String>,
    pub link: Option<String>,
    pub confidential_data: bool,
    pub support_group_id: Option<i64>,
    pub location_id: Option<i64>,
    pub tags: Vec<String>,
    pub group_ids: Vec<i64>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

impl NewHost {
    pub fn at(address: IpAddr) -> Self {
        Self {
            address,
            names: Vec::new(),
            os: Os::default(),
            sponsor: None,
            technical_contact: None,
            notes: None,
            link: None,
            confidential_data: false,
            support_group_id: None,
            location_id: None,
            tags: Vec::new(),
            group_ids: Vec::new(),
            first_seen: None,
            last_seen: None,
        }
    }
}

/// Changes to a host: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct HostChanges {
    pub address: Option<IpAddr>,
    pub names: Option<Vec<String>>,
    pub os_name: Option<Option<String>>,
    pub os_family: Option<Option<String>>,
    pub os_vendor: Option<Option<String>>,
    pub os_type: Option<Option<String>>,
    pub sponsor: Option<Option<String>>,
    pub technical_contact: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub link: Option<Option<String>>,
    pub confidential_data: Option<bool>,
    pub support_group_id: Option<Option<i64>>,
    pub location_id: Option<Option<i64>>,
    pub first_seen: Option<Option<DateTime<Utc>>>,
    pub last_seen: Option<Option<DateTime<Utc>>>,
}

/// What a write learns when its address is held: that it is taken, and nothing else (not by
/// whom, not the host's id), the same whether or not the caller can see that host. Addresses
/// are unique across the inventory, so this one bit is a deliberate, documented choice.
pub const ADDRESS_TAKEN: &str = "is already in the inventory";

pub(super) fn names_text(names: &[String]) -> (String, String) {
    let key = names.first().map(|n| validate::key(n)).unwrap_or_default();
    (names.join("\n"), key)
}

pub fn names_of(h: &host::Model) -> Vec<String> {
    h.names
        .split('\n')
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) async fn check_refs(
    db: &impl ConnectionTrait,
    support_group_id: Option<i64>,
    location_id: Option<i64>,
) -> AppResult<()> {
    if let Some(id) = support_group_id
        && catalog::get::<support_group::Entity>(db, id)
            .await?
            .is_none()
    {
        return Err(AppError::bad_input("no support group with that id"));
    }
    if let Some(id) = location_id
        && catalog::get::<location::Entity>(db, id).await?.is_none()
    {
        return Err(AppError::bad_input("no location with that id"));
    }
    Ok(())
}

pub(super) fn os_field(field: &str, v: Option<&str>) -> AppResult<Option<String>> {
    validate::optional_line(field, v, 100)
}

/// A non-admin may only place hosts in their own support groups (else they could not see them).
pub(super) fn check_placement(scope: &HostScope, support_group_id: Option<i64>) -> AppResult<()> {
    if scope.sees(support_group_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "hosts you add must belong to one of your support groups".into(),
        ))
    }
}

/// Creates a host with its tags and groups, and its `CREATED` event, in one transaction.
pub async fn create(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    new: NewHost,
) -> AppResult<host::Model> {
    check_placement(scope, new.support_group_id)?;
    let names = validate::names(&new.names)?;
    let (names, name_key) = names_text(&names);
    validate::bounded("groups", &new.group_ids, 100)?;
    let now = db::now();
    let row = host::ActiveModel {
        address: Set(net::ip_key(new.address)),
        names: Set(names),
        name_key: Set(name_key),
        os_name: Set(os_field("os.name", new.os.name.as_deref())?),
        os_family: Set(os_field("os.family", new.os.family.as_deref())?),
        os_vendor: Set(os_field("os.vendor", new.os.vendor.as_deref())?),
        os_type: Set(os_field("os.type", new.os.kind.as_deref())?),
        sponsor: Set(validate::optional_line(
            "sponsor",
            new.sponsor.as_deref(),
            255,
        )?),
        technical_contact: Set(validate::optional_line(
            "technicalContact",
            new.technical_contact.as_deref(),
            255,
        )?),
        notes: Set(validate::optional_text(
            "notes",
            new.notes.as_deref(),
            validate::MAX_NOTES_LEN,
        )?),
        link: Set(validate::link(
            "link",
            new.link.as_deref(),
            validate::MAX_LINK_LEN,
        )?),
        confidential_data: Set(new.confidential_data),
        support_group_id: Set(new.support_group_id),
        location_id: Set(new.location_id),
        exclusion_reason: Set(None),
        exclusion_until: Set(None),
        exclusion_set_by: Set(None),
        exclusion_set_at: Set(None),
        first_seen: Set(new.first_seen),
        last_seen: Set(new.last_seen),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    check_refs(db, new.support_group_id, new.location_id).await?;
    catalog::require_all::<host_group::Entity>(db, &new.group_ids).await?;
    let created = row
        .insert(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, format!("{} {ADDRESS_TAKEN}", new.address)))?;
    let tags = catalog::find_or_create_tags(db, &new.tags).await?;
    link_tags(
        db,
        &[created.id],
        &tags.iter().map(|t| t.id).collect::<Vec<_>>(),
    )
    .await?;
    link_groups(db, &[created.id], &new.group_ids).await?;
    changed(db, ChangeKind::Created, &created).await?;
    tracing::info!(host.id = created.id, "host created");
    Ok(created)
}

pub(super) fn set_opt<T: Clone + Into<sea_orm::Value>>(
    target: &mut sea_orm::ActiveValue<Option<T>>,
    value: Option<Option<T>>,
) where
    Option<T>: Into<sea_orm::Value>,
{
    if let Some(v) = value {
        *target = Set(v);
    }
}

/// Applies `changes` to host `id` and records an `UPDATED` event.
pub async fn update(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
    changes: HostChanges,
) -> AppResult<host::Model> {
    let line =
        |field: &str, v: Option<Option<String>>, max: usize| -> AppResult<Option<Option<String>>> {
            v.map(|v| validate::optional_line(field, v.as_deref(), max))
                .transpose()
        };
    let names = changes.names.as_deref().map(validate::names).transpose()?;
    let notes = changes
        .notes
        .map(|v| validate::optional_text("notes", v.as_deref(), validate::MAX_NOTES_LEN))
        .transpose()?;
    let link = changes
        .link
        .map(|v| validate::link("link", v.as_deref(), validate::MAX_LINK_LEN))
        .transpose()?;
    let os_name = line("os.name", changes.os_name, 100)?;
    let os_family = line("os.family", changes.os_family, 100)?;
    let os_vendor = line("os.vendor", changes.os_vendor, 100)?;
    let os_type = line("os.type", changes.os_type, 100)?;
    let sponsor = line("sponsor", changes.sponsor, 255)?;
    let technical = line("technicalContact", changes.technical_contact, 255)?;
    let found = get(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("host"))?;
    check_refs(
        db,
        changes.support_group_id.flatten(),
        changes.location_id.flatten(),
    )
    .await?;
    if let Some(group) = changes.support_group_id {
        check_placement(scope, group)?;
    }
    let mut row: host::ActiveModel = found.into();
    if let Some(addr) = changes.address {
        row.address = Set(net::ip_key(addr));
    }
    if let Some(names) = names {
        let (text, key) = names_text(&names);
        row.names = Set(text);
        row.name_key = Set(key);
    }
    set_opt(&mut row.os_name, os_name);
    set_opt(&mut row.os_family, os_family);
    set_opt(&mut row.os_vendor, os_vendor);
    set_opt(&mut row.os_type, os_type);
    set_opt(&mut row.sponsor, sponsor);
    set_opt(&mut row.technical_contact, technical);
    set_opt(&mut row.notes, notes);
    set_opt(&mut row.link, link);
    set_opt(&mut row.support_group_id, changes.support_group_id);
    set_opt(&mut row.location_id, changes.location_id);
    set_opt(&mut row.first_seen, changes.first_seen);
    set_opt(&mut row.last_seen, changes.last_seen);
    if let Some(c) = changes.confidential_data {
        row.confidential_data = Set(c);
    }
    row.updated_at = Set(db::now());
    let updated = row
        .update(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, format!("the address {ADDRESS_TAKEN}")))?;
    changed(db, ChangeKind::Updated, &updated).await?;
    Ok(updated)
}

/// Deletes host `id` (its links and URLs go with it) and records a `DELETED` event.
pub async fn delete(
    db: &impl ConnectionTrait,
    scope: &HostScope,
    id: i64,
) -> AppResult<host::Model> {
    let found = get(db, scope, id)
        .await?
        .ok_or_else(|| AppError::not_found("host"))?;
    host::Entity::delete_by_id(id).exec(db).await?;
    changed(db, ChangeKind::Deleted, &found).await?;
    tracing::info!(host.id = id, "host deleted");
    Ok(found)
}
