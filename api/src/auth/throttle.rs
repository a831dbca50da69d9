//! Password-check back-off, kept in the database so every replica agrees: after `free`
//! failures under a key (an account at an address, an address, an account) each further
//! failure doubles the wait, up to `max`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::login_throttle;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use crate::db;
use crate::error::{AppResult, is_unique_violation};

/// Failures older than this (or than the longest back-off, if longer) no longer count.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub free: u32,
    pub max: Duration,
}

/// The wait after `failures` failures.
pub fn backoff(policy: Policy, failures: u32) -> Option<Duration> {
    if failures < policy.free.max(1) {
        return None;
    }
    let doublings = (failures - policy.free.max(1)).min(20);
    Some(Duration::from_secs(1u64 << doublings).min(policy.max))
}

/// How long the longest block among `keys` still lasts.
pub async fn blocked_for(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> AppResult<Option<Duration>> {
    let now = db::now();
    let rows = login_throttle::Entity::find()
        .filter(login_throttle::Column::Key.is_in(keys.to_vec()))
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.blocked_until)
        .filter(|until| *until > now)
        .max()
        .and_then(|until| (until - now).to_std().ok()))
}

/// Counts a failure under every key.
pub async fn fail(db: &impl ConnectionTrait, keys: &[String], policy: Policy) -> AppResult<()> {
    let now = db::now();
    for key in keys {
        let found = login_throttle::Entity::find_by_id(key.clone())
            .one(db)
            .await?;
        // Failures are forgotten after a quiet spell, so an office behind one address is not
        // punished forever for typos spread over months.
        let quiet = chrono::Duration::from_std(policy.max.max(FORGET_AFTER)).unwrap_or_default();
        let recent = found
            .as_ref()
            .filter(|r| now - r.updated_at < quiet)
            .map_or(0, |r| r.failures.max(0) as u32);
        let failures = recent + 1;
        let until: Option<DateTime<Utc>> = backoff(policy, failures)
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now + d);
        match found {
            Some(row) => {
                let mut row: login_throttle::ActiveModel = row.into();
                row.failures = Set(failures.min(i32::MAX as u32) as i32);
                row.blocked_until = Set(until);
                row.updated_at = Set(now);
                row.update(db).await?;
            }
            None => {
                let row = login_throttle::ActiveModel {
                    key: Set(key.clone()),
                    failures: Set(1),
                    blocked_until: Set(until),
                    updated_at: Set(now),
                };
                match login_throttle::Entity::insert(row).exec(db).await {
                    Ok(_) => {}
                    // Another request counted the first failure at the same moment.
                    Err(e) if is_unique_violation(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

/// Forgets the failures under `key` (after a successful check).
pub async fn succeed(db: &impl ConnectionTrait, key: &str) -> AppResult<()> {
    login_throttle::Entity::delete_by_id(key.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_attempts_and_is_capped() {
        let p = Policy {
            free: 5,
            max: Duration::from_secs(60),
        };
        assert_eq!(backoff(p, 4), None);
        assert_eq!(backoff(p, 5), Some(Duration::from_secs(1)));
        assert_eq!(backoff(p, 6), Some(Duration::from_secs(2)));
        assert_eq!(backoff(p, 9), Some(Duration::from_secs(16)));
        assert_eq!(backoff(p, 20), Some(Duration::from_secs(60)));
    }
}
