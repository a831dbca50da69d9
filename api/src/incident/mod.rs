//! Incidents, VERIS-style: what happened (title, summary, full timestamps), how it is
//! classified (agent, action, asset, discovery: HECTOR's editable lists), what it cost
//! (confidentiality, integrity, availability, four magnitudes), where it stands (status with
//! allowed transitions, severity, TLP, assignee) and what it touched (hosts, attacker
//! addresses, vulnerabilities, tags), with an append-only timeline.
//!
//! Rules here (no database): statuses and their transitions, magnitudes, VERIS timeframes.
//! [`service`] writes, [`read`] reads and counts, both as the caller may see: an incident
//! linked to hosts is visible to a non-admin only if one of those hosts is (or it has none).

pub mod graphql;
pub mod read;
pub mod service;

use chrono::{DateTime, Utc};

/// The outbox topic of incidents.
pub const TOPIC: crate::events::Topic = crate::events::Topic("incident");

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Open,
    Investigating,
    Contained,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Self; 5] = [
        Self::Open,
        Self::Investigating,
        Self::Contained,
        Self::Resolved,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Investigating => "INVESTIGATING",
            Self::Contained => "CONTAINED",
            Self::Resolved => "RESOLVED",
            Self::Closed => "CLOSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The changes that make sense: forward through the handling (skipping steps is fine),
    /// back to investigating when containment fails or a resolved or closed incident turns
    /// out not to be over, and closing only what is resolved or was never more than open.
    pub fn may_become(self, to: Self) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Open, Investigating | Contained | Resolved | Closed)
                | (Investigating, Contained | Resolved)
                | (Contained, Investigating | Resolved)
                | (Resolved, Investigating | Closed)
                | (Closed, Investigating)
        )
    }
}

/// How much something cost: HECTOR's magnitudes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Magnitude {
    Unknown,
    None,
    Insignificant,
    Minor,
    Moderate,
    Major,
}

impl Magnitude {
    pub const ALL: [Self; 6] = [
        Self::Unknown,
        Self::None,
        Self::Insignificant,
        Self::Minor,
        Self::Moderate,
        Self::Major,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::None => "NONE",
            Self::Insignificant => "INSIGNIFICANT",
            Self::Minor => "MINOR",
            Self::Moderate => "MODERATE",
            Self::Major => "MAJOR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The classification lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupKind {
    Agent,
    Action,
    Asset,
    Discovery,
}

impl LookupKind {
    pub const ALL: [Self; 4] = [Self::Agent, Self::Action, Self::Asset, Self::Discovery];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "AGENT",
            Self::Action => "ACTION",
            Self::Asset => "ASSET",
            Self::Discovery => "DISCOVERY",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// VERIS's units of a timeframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

/// The time from `from` to `to` and its VERIS unit, when both are known and in order.
pub fn timeframe(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Option<(i64, TimeUnit)> {
    let seconds = (to? - from?).num_seconds();
    if seconds < 0 {
        return None;
    }
    let unit = match seconds {
        0..60 => TimeUnit::Seconds,
        60..3_600 => TimeUnit::Minutes,
        3_600..86_400 => TimeUnit::Hours,
        86_400..604_800 => TimeUnit::Days,
        604_800..2_592_000 => TimeUnit::Weeks,
        2_592_000..31_536_000 => TimeUnit::Months,
        _ => TimeUnit::Years,
    };
    Some((seconds, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_move_only_as_incident_handling_does() {
        use Status::*;
        assert!(Open.may_become(Investigating));
        assert!(Open.may_become(Closed), "a false alarm closes at once");
        assert!(Contained.may_become(Investigating), "containment failed");
        assert!(Closed.may_become(Investigating), "it was not over");
        assert!(!Investigating.may_become(Closed), "resolve before closing");
        assert!(!Closed.may_become(Open));
        assert!(Status::ALL.iter().all(|s| !s.may_become(*s)));
        assert!(
            Status::ALL
                .iter()
                .all(|s| Status::parse(s.as_str()) == Some(*s))
        );
    }

    #[test]
    fn timeframes_take_veris_units() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0);
        let at = t(0);
        assert_eq!(timeframe(at, t(59)), Some((59, TimeUnit::Seconds)));
        assert_eq!(timeframe(at, t(3_600)), Some((3_600, TimeUnit::Hours)));
        assert_eq!(
            timeframe(at, t(8 * 86_400)),
            Some((8 * 86_400, TimeUnit::Weeks))
        );
        assert_eq!(
            timeframe(at, t(400 * 86_400)).map(|x| x.1),
            Some(TimeUnit::Years)
        );
        assert_eq!(timeframe(t(10), at), None, "out of order");
        assert_eq!(timeframe(None, at), None);
    }
}
