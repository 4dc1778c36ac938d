//! Token buckets by key: how often one caller may do one thing.
//!
//! The relay limits signed node-to-node requests per calling account, and key releases
//! per (share, recipient): both keys are chosen by whoever calls, so the table is
//! bounded, and buckets that have filled up again (their callers went quiet) are the
//! first to go when it is full.

use crate::config::ReleasePolicy;
use crate::error::ApiError;
use crate::peers::PeerPolicy;
use datamgmt_abi::{AccountId, ShareId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; past this, full buckets are forgotten (a forgotten key starts
/// again with a full bucket, which is what a full bucket is anyway).
const MAX_KEYS: usize = 100_000;

/// A rate per key: `per_second` on average, `burst` at once.
pub struct RateLimiter<K> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// `per_second` on average and `burst` at once; `per_second == 0.0` lets everything
    /// through.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst: f64::from(burst.max(1)), buckets: Mutex::default() }
    }

    /// Takes one token of `key` at `now`; when there is none, how long until there is.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, bucket| bucket.refilled(now, per_second, burst) < burst);
            if buckets.len() >= MAX_KEYS {
                // Every tracked caller is busy: refuse newcomers rather than grow.
                return Err(Duration::from_secs(1));
            }
        }
        let bucket =
            buckets.entry(key.clone()).or_insert(Bucket { tokens: self.burst, updated: now });
        bucket.tokens = bucket.refilled(now, self.per_second, self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second))
        }
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, per_second: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * per_second).min(burst)
    }
}

/// The relay's limits on what other nodes ask of it.
pub struct Limiters {
    peer_requests: RateLimiter<AccountId>,
    releases: RateLimiter<(ShareId, AccountId)>,
}

impl Limiters {
    /// Limits from the configuration.
    pub fn new(peers: &PeerPolicy, releases: &ReleasePolicy) -> Self {
        let per_minute = releases.per_share_recipient_per_minute;
        Self {
            peer_requests: RateLimiter::new(
                f64::from(peers.requests_per_second),
                peers.requests_per_second.saturating_mul(2),
            ),
            releases: RateLimiter::new(f64::from(per_minute) / 60.0, per_minute),
        }
    }

    /// A 429 once `account` has sent more signed requests than it may.
    pub fn peer_requests(&self, account: &AccountId) -> Result<(), ApiError> {
        self.peer_requests.check(account, Instant::now()).map_err(|wait| {
            ApiError::TooManyRequests {
                what: "signed requests from this node".into(),
                retry_after: wait,
            }
        })
    }

    /// A 429 once `share_id`'s key went to `recipient` as often as it may for now.
    pub fn releases(&self, share_id: ShareId, recipient: &AccountId) -> Result<(), ApiError> {
        self.releases.check(&(share_id, *recipient), Instant::now()).map_err(|wait| {
            ApiError::TooManyRequests {
                what: "releases of this share to this node".into(),
                retry_after: wait,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = RateLimiter::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(&"a", start).is_ok());
        }
        let wait = limiter.check(&"a", start).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(limiter.check(&"b", start).is_ok());
        // Half a second later, one more token.
        let later = start + Duration::from_millis(500);
        assert!(limiter.check(&"a", later).is_ok());
        assert!(limiter.check(&"a", later).is_err());
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = RateLimiter::new(0.0, 0);
        let now = Instant::now();
        assert!((0..10_000).all(|_| limiter.check(&1u8, now).is_ok()));
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = RateLimiter::new(1.0, 1);
        let now = Instant::now();
        for key in 0..MAX_KEYS {
            let _ = limiter.check(&key, now);
        }
        // Every bucket is empty (busy): a newcomer is refused, the table does not grow.
        assert!(limiter.check(&usize::MAX, now).is_err());
        // Once they have refilled, they make room.
        let later = now + Duration::from_secs(2);
        assert!(limiter.check(&usize::MAX, later).is_ok());
        assert!(limiter.buckets.lock().unwrap().len() < MAX_KEYS);
    }
}
