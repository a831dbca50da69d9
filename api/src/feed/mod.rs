//! Threat feeds: a list of RSS, Atom and JSON feeds polled as a good citizen, the articles
//! read from them (sanitised, de-duplicated, auto-tagged), the indicators they name, and the
//! matches of those indicators against our own data: CVEs with open findings on our hosts,
//! addresses of our inventory, addresses our darknet sensors saw.
//!
//! Rules here (no database): fetch outcomes, back-off, what a match is. [`parse`],
//! [`indicators`] and [`html`] read outside input and are fuzzed alone; [`fetch`] is the only
//! code that makes outbound requests; [`store`] and [`matching`] write in the caller's
//! transaction; [`poll`] ties a fetch to its transaction; [`read`] reads as the caller may
//! see: a match tied to a host follows that host's support group.

pub mod fetch;
pub mod graphql;
pub mod html;
pub mod indicators;
pub mod jobs;
pub mod matching;
pub mod parse;
pub mod poll;
pub mod read;
pub mod store;

use std::time::Duration;

/// The outbox topic of new articles.
pub const ARTICLE_TOPIC: crate::events::Topic = crate::events::Topic("article");
/// The outbox topic of new intel matches.
pub const MATCH_TOPIC: crate::events::Topic = crate::events::Topic("intel_match");

/// Shortest and longest poll interval a feed may ask for.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
pub const MAX_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The interval of a feed that names none (an hour).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// The longest back-off after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// How the last fetch of a feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchStatus {
    Never,
    Ok,
    NotModified,
    Failed,
}

impl FetchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Never => "NEVER",
            Self::Ok => "OK",
            Self::NotModified => "NOT_MODIFIED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Self {
        [Self::Ok, Self::NotModified, Self::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
            .unwrap_or(Self::Never)
    }
}

/// When a feed is polled next: after its interval when the last poll worked, else after
/// its interval doubled per consecutive failure (2×, 4×, 8×, ...), at most [`MAX_BACKOFF`]
/// and never sooner than the interval.
pub fn next_delay(interval: Duration, consecutive_failures: u32) -> Duration {
    if consecutive_failures == 0 {
        return interval;
    }
    let factor = 1u32 << consecutive_failures.min(16);
    interval
        .saturating_mul(factor)
        .min(MAX_BACKOFF)
        .max(interval)
}

/// What an indicator of an article matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// A CVE with open findings on one of our hosts.
    OpenFinding,
    /// The address of one of our hosts.
    InventoryAddress,
    /// An address our darknet sensors saw.
    DarknetSource,
}

impl MatchKind {
    pub const ALL: [Self; 3] = [
        Self::OpenFinding,
        Self::InventoryAddress,
        Self::DarknetSource,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenFinding => "OPEN_FINDING",
            Self::InventoryAddress => "INVENTORY_ADDRESS",
            Self::DarknetSource => "DARKNET_SOURCE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_per_failure_up_to_a_day() {
        let hour = Duration::from_secs(3600);
        assert_eq!(next_delay(hour, 0), hour);
        assert_eq!(next_delay(hour, 1), hour * 2);
        assert_eq!(next_delay(hour, 3), hour * 8);
        assert_eq!(next_delay(hour, 10), MAX_BACKOFF);
        assert_eq!(next_delay(hour, u32::MAX), MAX_BACKOFF);
        // A weekly feed is not polled sooner because of the cap.
        assert_eq!(next_delay(MAX_INTERVAL, 2), MAX_INTERVAL);
    }

    #[test]
    fn stored_names_round_trip() {
        for k in MatchKind::ALL {
            assert_eq!(MatchKind::parse(k.as_str()), Some(k));
        }
        for s in [
            FetchStatus::Never,
            FetchStatus::Ok,
            FetchStatus::NotModified,
            FetchStatus::Failed,
        ] {
            assert_eq!(FetchStatus::parse(s.as_str()), s);
        }
    }
}
