//! What every request, job and subscription shares.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::auth::rate::RateLimiter;
use crate::auth::service::AuthCache;
use crate::config::Config;
use crate::events::EventBus;
use crate::page::PageLimits;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub events: EventBus,
    /// Cancelled when the process stops; subscriptions and jobs end with it.
    pub shutdown: CancellationToken,
    /// This process's name in job runs and logs.
    pub instance: Arc<str>,
    /// Recently verified credentials (cleared on every revocation).
    pub auth_cache: Arc<AuthCache>,
    /// Per-identity request budgets.
    pub rate: Arc<RateLimiter>,
}

impl AppState {
    /// The state of a process that has connected (and migrated): nothing started yet.
    pub fn new(db: DatabaseConnection, config: Config, instance: Arc<str>) -> Self {
        let rate = RateLimiter::new(config.rate_limit_per_minute);
        Self {
            db,
            config: Arc::new(config),
            events: EventBus::default(),
            shutdown: CancellationToken::new(),
            instance,
            auth_cache: Arc::default(),
            rate: Arc::new(rate),
        }
    }

    pub fn page_limits(&self) -> PageLimits {
        PageLimits {
            default: 50,
            max: self.config.max_page_size,
        }
    }
}
