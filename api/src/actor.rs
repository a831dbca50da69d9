//! Who is acting and what they may see: the identity of a request, a subscription or a job,
//! its role and token scopes, and the hosts it sees (its [`HostScope`]). Shared by every
//! domain and by the GraphQL guard; how an identity is proven lives in `auth`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// What a user is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads and writes domain data.
    Analyst,
    /// Reads domain data.
    Viewer,
    /// Ingests sensor data, nothing else.
    Sensor,
    /// Reads what is shared with its organisation (sharing is a later issue: nothing yet).
    Partner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Analyst,
        Role::Viewer,
        Role::Sensor,
        Role::Partner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
            Role::Sensor => "sensor",
            Role::Partner => "partner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim().to_ascii_lowercase())
    }
}

/// What an API token may be used for, within its owner's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes {
    pub read: bool,
    pub write: bool,
    pub ingest: bool,
}

impl Scopes {
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "read" => out.read = true,
                "write" => out.write = true,
                "ingest" => out.ingest = true,
                _ => return None,
            }
        }
        (out != Self::default()).then_some(out)
    }

    pub fn names(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.read {
            out.push("read");
        }
        if self.write {
            out.push("write");
        }
        if self.ingest {
            out.push("ingest");
        }
        out
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A signed-in person: an access token of this session.
    Session { session_id: i64 },
    /// A machine: this API token.
    ApiToken { token_id: i64, scopes: Scopes },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub support_groups: Vec<i64>,
    pub credential: Credential,
    /// When the credential stops being valid (`None`: a token without expiry).
    pub expires_at: Option<DateTime<Utc>>,
}

/// The caller of a request, a subscription or a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    User(Principal),
}

/// Which hosts an identity sees. The default sees nothing, so a forgotten scope fails closed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostScope {
    All,
    /// Hosts of these support groups only (HECTOR's rule for non-admins).
    SupportGroups(Vec<i64>),
}

impl Default for HostScope {
    fn default() -> Self {
        Self::SupportGroups(Vec::new())
    }
}

impl HostScope {
    /// Whether a host of `support_group` is visible.
    pub fn sees(&self, support_group: Option<i64>) -> bool {
        match self {
            Self::All => true,
            Self::SupportGroups(groups) => support_group.is_some_and(|g| groups.contains(&g)),
        }
    }
}

impl Identity {
    /// How the caller is named in records such as "who set this exclusion".
    pub fn display_name(&self) -> &str {
        match self {
            Identity::Anonymous => "anonymous",
            Identity::User(p) => &p.username,
        }
    }

    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Identity::Anonymous => None,
            Identity::User(p) => Some(p),
        }
    }

    pub fn host_scope(&self) -> HostScope {
        match self {
            Identity::User(p) if p.role == Role::Admin => HostScope::All,
            Identity::User(p) => HostScope::SupportGroups(p.support_groups.clone()),
            Identity::Anonymous => HostScope::SupportGroups(Vec::new()),
        }
    }

    /// The key of the per-identity budget: a user's sessions and API tokens share one.
    pub fn rate_key(&self, client_addr: &str) -> String {
        match self {
            Identity::User(p) => format!("user:{}", p.user_id),
            Identity::Anonymous => format!("addr:{client_addr}"),
        }
    }
}

/// The address a request came from, as request data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

/// How long a verified credential is trusted before it is looked up again. Revocations made
/// on this replica take effect at once (the cache is cleared); on others within this time.
pub const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(5);

/// Verified credentials, by the SHA-256 of the bearer string.
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, (Identity, Instant)>>,
}

impl CredentialCache {
    pub fn get(&self, key: &str) -> Option<Identity> {
        let entries = self.entries.lock().ok()?;
        let (identity, at) = entries.get(key)?;
        // A cached credential never outlives its own expiry.
        let expired = identity
            .principal()
            .and_then(|p| p.expires_at)
            .is_some_and(|at| at <= Utc::now());
        (at.elapsed() < CREDENTIAL_CACHE_TTL && !expired).then(|| identity.clone())
    }

    pub fn put(&self, key: String, identity: Identity) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 50_000 {
                entries.clear();
            }
            entries.insert(key, (identity, Instant::now()));
        }
    }

    /// Forgets everything: called on every revocation, disabling and role change.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// What a long-lived connection learns when its caller is looked up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recheck {
    /// Still valid, with the same role and support groups.
    Unchanged,
    /// Still valid, but the role or support groups changed since the caller signed in.
    AccessChanged,
    /// Expired, revoked, or the user disabled.
    Invalid,
}

/// The principals of open subscriptions, re-checked together: one periodic pass looks every
/// one of them up in a few queries, however many sockets are open, and tells each socket its
/// verdict. A socket holds a [`Watched`]; dropping it leaves the registry.
#[derive(Default)]
pub struct Watchers {
    entries: Mutex<HashMap<u64, (Principal, tokio::sync::watch::Sender<Recheck>)>>,
    next: std::sync::atomic::AtomicU64,
}

/// One socket's place in [`Watchers`]: its verdict changes when a re-check finds its
/// credential invalid or its access changed.
pub struct Watched {
    id: u64,
    watchers: std::sync::Arc<Watchers>,
    pub verdict: tokio::sync::watch::Receiver<Recheck>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Ok(mut entries) = self.watchers.entries.lock() {
            entries.remove(&self.id);
            // A crowd that came and went leaves no table of its size behind.
            if entries.capacity() > 64 && entries.len() < entries.capacity() / 4 {
                entries.shrink_to_fit();
            }
        }
    }
}

impl Watchers {
    pub fn watch(self: &std::sync::Arc<Self>, principal: Principal) -> Watched {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = tokio::sync::watch::channel(Recheck::Unchanged);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(id, (principal, tx));
        }
        Watched {
            id,
            watchers: self.clone(),
            verdict: rx,
        }
    }

    /// Everyone watched now, by their place in the registry.
    pub fn snapshot(&self) -> Vec<(u64, Principal)> {
        self.entries
            .lock()
            .map(|e| e.iter().map(|(id, (p, _))| (*id, p.clone())).collect())
            .unwrap_or_default()
    }

    /// Hands a verdict to one watcher (gone already is fine).
    pub fn tell(&self, id: u64, verdict: Recheck) {
        if let Ok(entries) = self.entries.lock()
            && let Some((_, tx)) = entries.get(&id)
        {
            tx.send_if_modified(|v| {
                let changed = *v != verdict;
                *v = verdict;
                changed
            });
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_roles_parse_strictly() {
        assert_eq!(
            Scopes::parse("read, ingest").unwrap().names(),
            vec!["read", "ingest"]
        );
        assert!(Scopes::parse("read,admin").is_none());
        assert!(Scopes::parse("").is_none());
        assert_eq!(Role::parse("Analyst"), Some(Role::Analyst));
        assert_eq!(Role::parse("root"), None);
    }
}
