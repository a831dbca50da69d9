//! Sensors: each is a row here and a user of the `sensor` role that cannot sign in, whose API
//! tokens (scope `ingest`) send as that sensor and nothing else.

use entity::{app_user, darknet_event, sensor};
use ipnet::IpNet;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter,
};

use crate::actor::{Role, Scopes};
use crate::auth::password::NewPassword;
use crate::auth::service::{self as auth, NewUser};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::page::{Page, PageRequest};
use crate::validate;

/// Most networks one sensor watches.
pub const MAX_NETWORKS: usize = 256;

/// The fields of a sensor; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct SensorInput {
    pub name: Option<String>,
    pub networks: Option<Vec<String>>,
    pub location: Option<Option<String>>,
    pub enabled: Option<bool>,
}

fn networks(list: &[String]) -> AppResult<String> {
    validate::bounded("networks", list, MAX_NETWORKS)?;
    let mut out: Vec<IpNet> = Vec::with_capacity(list.len());
    for n in list {
        let net: IpNet = n
            .trim()
            .parse()
            .map_err(|_| AppError::bad_input(format!("`{n}` is not a network (CIDR)")))?;
        out.push(net.trunc());
    }
    out.sort();
    out.dedup();
    Ok(out
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The networks of a stored sensor.
pub fn networks_of(s: &sensor::Model) -> Vec<String> {
    s.networks
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The user name of a sensor's account: `sensor.` and its name's letters and digits.
fn username_for(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    format!("sensor.{slug}")
}

/// Makes a sensor, its account, and a first token: the secret is returned here and never again.
pub async fn create(
    db: &impl ConnectionTrait,
    input: SensorInput,
) -> AppResult<(sensor::Model, String)> {
    let name = validate::line("name", input.name.as_deref().unwrap_or_default(), 100)?;
    let nets = networks(input.networks.as_deref().unwrap_or_default())?;
    let location = validate::optional_line("location", input.location.flatten().as_deref(), 255)?;
    let user = auth::create_user(
        db,
        NewUser {
            username: username_for(&name),
            email: None,
            display_name: Some(format!("Sensor {name}")),
            role: Role::Sensor,
            password: NewPassword::unusable(),
            support_group_ids: Vec::new(),
        },
    )
    .await
    .map_err(|e| match e {
        AppError::Conflict(_) => AppError::Conflict(format!("a sensor named {name:?} exists")),
        other => other,
    })?;
    let now = db::now();
    let made = sensor::ActiveModel {
        name: Set(name.clone()),
        name_key: Set(validate::key(&name)),
        networks: Set(nets),
        location: Set(location),
        enabled: Set(input.enabled.unwrap_or(true)),
        user_id: Set(user.id),
        last_seen_at: Set(None),
        events: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| AppError::conflict_on_unique(e, format!("a sensor named {name:?} exists")))?;
    let (_, secret) = token(db, &made, "first token", None).await?;
    tracing::info!(sensor.id = made.id, "sensor created");
    Ok((made, secret))
}

/// A new ingest token for a sensor.
pub async fn token(
    db: &impl ConnectionTrait,
    sensor: &sensor::Model,
    name: &str,
    expires_in_days: Option<u32>,
) -> AppResult<(entity::api_token::Model, String)> {
    auth::create_api_token(
        db,
        sensor.user_id,
        name,
        Scopes {
            ingest: true,
            ..Scopes::default()
        },
        expires_in_days,
    )
    .await
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<sensor::Model>> {
    Ok(sensor::Entity::find_by_id(id).one(db).await?)
}

async fn existing(db: &impl ConnectionTrait, id: i64) -> AppResult<sensor::Model> {
    get(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("sensor"))
}

/// The sensor a user of the `sensor` role sends as.
pub async fn of_user(db: &impl ConnectionTrait, user_id: i64) -> AppResult<Option<sensor::Model>> {
    Ok(sensor::Entity::find()
        .filter(sensor::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

pub async fn by_name(db: &impl ConnectionTrait, name: &str) -> AppResult<Option<sensor::Model>> {
    Ok(sensor::Entity::find()
        .filter(sensor::Column::NameKey.eq(validate::key(name)))
        .one(db)
        .await?)
}

pub async fn by_ids(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<sensor::Model>> {
    Ok(sensor::Entity::find()
        .filter(sensor::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// Changes a sensor. A disabled sensor keeps its tokens, and every line they send is refused
/// as from a disabled sensor.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    input: SensorInput,
) -> AppResult<sensor::Model> {
    let current = existing(db, id).await?;
    let mut active: sensor::ActiveModel = current.clone().into();
    if let Some(name) = &input.name {
        let name = validate::line("name", name, 100)?;
        active.name_key = Set(validate::key(&name));
        active.name = Set(name);
    }
    if let Some(list) = &input.networks {
        active.networks = Set(networks(list)?);
    }
    if let Some(location) = &input.location {
        active.location = Set(validate::optional_line(
            "location",
            location.as_deref(),
            255,
        )?);
    }
    if let Some(enabled) = input.enabled {
        active.enabled = Set(enabled);
    }
    active.updated_at = Set(db::now());
    active
        .update(db)
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "a sensor of that name exists"))
}

/// Deletes a sensor that never sent an event, and its account; one that did is disabled
/// instead, so its events keep their sensor.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    let current = existing(db, id).await?;
    let sent = darknet_event::Entity::find()
        .filter(darknet_event::Column::SensorId.eq(id))
        .count(db)
        .await?
        > 0;
    if sent || current.events > 0 {
        return Err(AppError::Conflict(
            "this sensor has sent events: disable it instead".into(),
        ));
    }
    // Its batches (all of them refused lines only); on MySQL no foreign key deletes them.
    entity::darknet_batch::Entity::delete_many()
        .filter(entity::darknet_batch::Column::SensorId.eq(id))
        .exec(db)
        .await?;
    sensor::Entity::delete_by_id(id).exec(db).await?;
    auth::revoke_api_tokens_of(db, current.user_id).await?;
    app_user::Entity::delete_by_id(current.user_id)
        .exec(db)
        .await?;
    Ok(())
}

pub async fn list(db: &impl ConnectionTrait, page: &PageRequest) -> AppResult<Page<sensor::Model>> {
    crate::page::by_id(
        db,
        sensor::Entity::find(),
        sensor::Column::Id,
        "sensor:ID:ASC",
        false,
        page,
        |s| s.id,
    )
    .await
}

pub async fn count(db: &impl ConnectionTrait) -> AppResult<u64> {
    Ok(sensor::Entity::find().count(db).await?)
}
