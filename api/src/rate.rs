//! Per-identity budget of operations: a token bucket per user (their sessions and API tokens
//! share it) or anonymous address, in memory (each replica keeps its own; behind N replicas
//! the budget is up to N times larger). Every operation counts: each request of a batch, each
//! subscription started on a socket, and each request with a bad credential (against its
//! address).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

const MAX_KEYS: usize = 100_000;

impl RateLimiter {
    /// `per_minute` of 0 turns limiting off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one operation from `key`'s budget; false when it is spent.
    pub fn allow(&self, key: &str) -> bool {
        self.allow_n(key, 1)
    }

    /// Takes `n` operations from `key`'s budget at once, or none when fewer are left.
    pub fn allow_n(&self, key: &str, n: u32) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() > MAX_KEYS {
            // Forget buckets that have refilled anyway.
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_sec < capacity
            });
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(capacity);
        *at = now;
        if *tokens >= f64::from(n) {
            *tokens -= f64::from(n);
            true
        } else {
            false
        }
    }
}

/// Open WebSockets per identity on this replica, capped.
pub struct SocketSlots {
    max: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open socket of an identity; the slot is given back when this is dropped.
pub struct SocketSlot {
    key: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl SocketSlots {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for `key`, or `None` when it already holds the most sockets allowed.
    pub fn acquire(&self, key: &str) -> Option<SocketSlot> {
        let mut open = self.open.lock().ok()?;
        let count = open.entry(key.to_owned()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            key: key.to_owned(),
            open: self.open.clone(),
        })
    }

    /// Signed-in sockets open now, over every identity.
    pub fn total(&self) -> usize {
        self.open
            .lock()
            .map(|o| o.values().sum())
            .unwrap_or_default()
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(count) = open.get_mut(&self.key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_refuses_until_it_refills() {
        let limiter = RateLimiter::new(3);
        assert!(limiter.allow("a") && limiter.allow("a") && limiter.allow("a"));
        assert!(!limiter.allow("a"));
        assert!(limiter.allow("b"), "budgets are per identity");
        assert!(RateLimiter::new(0).allow("a"));
        let limiter = RateLimiter::new(10);
        assert!(limiter.allow_n("c", 10));
        assert!(!limiter.allow_n("c", 1), "a batch spends one per operation");
    }

    #[test]
    fn socket_slots_are_capped_and_given_back() {
        let slots = SocketSlots::new(2);
        let a = slots.acquire("u").unwrap();
        let _b = slots.acquire("u").unwrap();
        assert!(slots.acquire("u").is_none());
        assert!(slots.acquire("v").is_some(), "per identity");
        drop(a);
        assert!(slots.acquire("u").is_some());
    }
}
