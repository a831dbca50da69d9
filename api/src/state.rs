//! What every request, job and subscription shares.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::actor::{CredentialCache, Watchers};
use crate::config::{Config, Secret};
use crate::events::EventBus;
use crate::page::PageLimits;
use crate::rate::{RateLimiter, SocketSlots};

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
    pub auth_cache: Arc<CredentialCache>,
    /// Per-identity budgets of operations.
    pub rate: Arc<RateLimiter>,
    /// Open WebSockets per identity.
    pub sockets: Arc<SocketSlots>,
    /// What signs access tokens: the configured secret, or the one generated for this data.
    pub signing_key: Arc<Secret>,
    /// The callers of open subscriptions, re-checked together.
    pub watchers: Arc<Watchers>,
    /// Whether the database is known to be down.
    pub db_health: Arc<crate::db::Health>,
    /// Statements sent to the database.
    pub db_stats: Arc<crate::db::Stats>,
    /// The configured GeoIP databases (none until [`AppState::open_geoip`]).
    pub geoip: Arc<crate::geoip::GeoIp>,
}

impl AppState {
    /// The state of a process that has connected (and migrated): nothing started yet.
    pub fn new(
        db: DatabaseConnection,
        config: Config,
        instance: Arc<str>,
        signing_key: Secret,
    ) -> Self {
        let rate = RateLimiter::new(config.rate_limit_per_minute);
        let sockets = Arc::new(SocketSlots::new(config.max_sockets_per_identity));
        Self {
            db,
            config: Arc::new(config),
            events: EventBus::default(),
            shutdown: CancellationToken::new(),
            instance,
            auth_cache: Arc::default(),
            rate: Arc::new(rate),
            sockets,
            signing_key: Arc::new(signing_key),
            watchers: Arc::default(),
            db_health: Arc::default(),
            db_stats: Arc::default(),
            geoip: Arc::default(),
        }
    }

    /// Opens the GeoIP databases the configuration names; says once when there are none.
    pub fn open_geoip(&mut self) -> crate::error::AppResult<()> {
        let paths: Vec<&std::path::Path> =
            [&self.config.geoip_country_db, &self.config.geoip_asn_db]
                .into_iter()
                .flatten()
                .map(|p| p.as_path())
                .collect();
        if paths.is_empty() {
            tracing::info!(
                "no GeoIP database configured (HECTOR_GEOIP_COUNTRY_DB, HECTOR_GEOIP_ASN_DB): darknet events carry no country or AS number"
            );
        }
        self.geoip = Arc::new(crate::geoip::GeoIp::open(&paths)?);
        Ok(())
    }

    pub fn page_limits(&self) -> PageLimits {
        PageLimits {
            default: 50,
            max: self.config.max_page_size,
        }
    }
}
