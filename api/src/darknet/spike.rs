//! Spikes: a port whose count in an hour exceeds its trailing 24-hour average by a configured
//! factor. Detected from the roll-ups, recorded once per hour and port, each with an outbox
//! event.

use std::collections::{HashMap, HashSet};

use entity::{darknet_port_hour, darknet_spike};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::store::sum;
use super::{SPIKE_TOPIC, hour_of};
use crate::db;
use crate::error::AppResult;
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::page::{Page, PageRequest};

/// Hours of the trailing baseline.
pub const BASELINE_HOURS: i64 = 24;

/// What makes a spike.
#[derive(Debug, Clone, Copy)]
pub struct Threshold {
    pub factor: f64,
    pub min_events: i64,
}

/// Events per (protocol, port) in hours `[start, end)`, of `ports` only when given.
async fn counts(
    db: &impl ConnectionTrait,
    start: i64,
    end: i64,
    ports: Option<&HashSet<(i16, i32)>>,
) -> AppResult<HashMap<(i16, i32), i64>> {
    use darknet_port_hour::Column as C;
    let b = db.get_database_backend();
    let mut query = darknet_port_hour::Entity::find()
        .select_only()
        .column(C::Protocol)
        .column(C::Port)
        .column_as(sum(b, "events"), "n")
        .filter(C::Hour.gte(start))
        .filter(C::Hour.lt(end));
    if let Some(ports) = ports {
        let numbers: HashSet<i32> = ports.iter().map(|p| p.1).collect();
        query = query.filter(C::Port.is_in(numbers));
    }
    let rows: Vec<(i16, i32, i64)> = query
        .group_by(C::Protocol)
        .group_by(C::Port)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(p, port, _)| ports.is_none_or(|set| set.contains(&(*p, *port))))
        .map(|(p, port, n)| ((p, port), n))
        .collect())
}

/// Checks the previous and the current hour; records and announces each new spike.
pub async fn detect(
    db: &impl ConnectionTrait,
    now: chrono::DateTime<chrono::Utc>,
    t: Threshold,
) -> AppResult<Vec<darknet_spike::Model>> {
    let current = hour_of(now);
    let mut found = Vec::new();
    for hour in [current - 1, current] {
        let candidates: HashMap<(i16, i32), i64> = counts(db, hour, hour + 1, None)
            .await?
            .into_iter()
            .filter(|(_, n)| *n >= t.min_events)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let keys: HashSet<(i16, i32)> = candidates.keys().copied().collect();
        let before = counts(db, hour - BASELINE_HOURS, hour, Some(&keys)).await?;
        let known: HashSet<(i16, i32)> = darknet_spike::Entity::find()
            .filter(darknet_spike::Column::Hour.eq(hour))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.protocol, s.port))
            .collect();
        let mut keys: Vec<_> = candidates.into_iter().collect();
        keys.sort();
        for ((protocol, port), events) in keys {
            let baseline =
                before.get(&(protocol, port)).copied().unwrap_or(0) as f64 / BASELINE_HOURS as f64;
            if known.contains(&(protocol, port)) || events as f64 <= t.factor * baseline.max(1.0) {
                continue;
            }
            let spike = darknet_spike::ActiveModel {
                hour: Set(hour),
                protocol: Set(protocol),
                port: Set(port),
                events: Set(events),
                baseline: Set(baseline),
                detected_at: Set(db::now()),
                ..Default::default()
            }
            .insert(db)
            .await?;
            found.push(spike);
        }
    }
    if !found.is_empty() {
        events::record(
            db,
            vec![NewEvent {
                topic: SPIKE_TOPIC,
                kind: ChangeKind::Created,
                items: found
                    .iter()
                    .map(|s| Item {
                        id: s.id,
                        data: serde_json::Value::Null,
                    })
                    .collect(),
            }],
        )
        .await?;
    }
    Ok(found)
}

pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<Vec<darknet_spike::Model>> {
    Ok(darknet_spike::Entity::find()
        .filter(darknet_spike::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(darknet_spike::Column::Id)
        .all(db)
        .await?)
}

/// Spikes, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    page: &PageRequest,
) -> AppResult<Page<darknet_spike::Model>> {
    crate::page::by_id(
        db,
        darknet_spike::Entity::find(),
        darknet_spike::Column::Id,
        "darknetSpike:ID:DESC",
        true,
        page,
        |s| s.id,
    )
    .await
}

pub async fn count(db: &impl ConnectionTrait) -> AppResult<u64> {
    Ok(darknet_spike::Entity::find().count(db).await?)
}
