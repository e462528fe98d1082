//! Per-client token buckets, sharded by address, with a bounded number of clients.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::RateLimit;

const SHARDS: usize = 16;

struct Bucket {
    tokens: f32,
    /// Milliseconds since the limiter's epoch at the last refill.
    last_ms: u64,
}

pub(crate) struct RateLimiter {
    shards: Box<[Mutex<HashMap<IpAddr, Bucket>>]>,
    per_ms: f64,
    burst: f32,
    /// Time for an empty bucket to fill up; a bucket idle this long is the same as no bucket.
    refill_ms: u64,
    shard_max: usize,
    epoch: Instant,
    hasher: RandomState,
}

impl RateLimiter {
    pub fn new(limit: RateLimit, max_clients: usize) -> Self {
        let qps = f64::from(limit.qps.max(1));
        let burst = limit.burst.max(1) as f32;
        RateLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_ms: qps / 1000.0,
            burst,
            refill_ms: (f64::from(burst) / qps * 1000.0).ceil() as u64,
            shard_max: (max_clients / SHARDS).max(16),
            epoch: Instant::now(),
            hasher: RandomState::new(),
        }
    }

    /// Takes a token for `client`; false when its bucket is empty.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let i = (self.hasher.hash_one(client) as usize) % SHARDS;
        let Some(shard) = self.shards.get(i) else {
            return true;
        };
        let mut map = match shard.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if map.len() >= self.shard_max && !map.contains_key(&client) {
            // Forget clients whose buckets have refilled; if the table is still full (a flood
            // of source addresses), start afresh rather than grow: rate limiting fails open for
            // a moment, memory stays bounded.
            let refill = self.refill_ms;
            map.retain(|_, b| now_ms.saturating_sub(b.last_ms) < refill);
            if map.len() >= self.shard_max {
                map.clear();
            }
        }
        let bucket = map.entry(client).or_insert(Bucket {
            tokens: self.burst,
            last_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(bucket.last_ms);
        if elapsed > 0 {
            bucket.tokens = (bucket.tokens + (elapsed as f64 * self.per_ms) as f32).min(self.burst);
            bucket.last_ms = now_ms;
        }
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let rl = RateLimiter::new(RateLimit { qps: 10, burst: 3 }, 100);
        let ip: IpAddr = [127, 0, 0, 9].into();
        let t0 = Instant::now();
        assert!((0..3).all(|_| rl.allow(ip, t0)));
        assert!(!rl.allow(ip, t0));
        // Another client has its own bucket.
        assert!(rl.allow([127, 0, 0, 10].into(), t0));
        assert!(rl.allow(ip, t0 + Duration::from_millis(150)));
        assert!(!rl.allow(ip, t0 + Duration::from_millis(150)));
    }

    #[test]
    fn table_stays_bounded() {
        let rl = RateLimiter::new(RateLimit { qps: 1, burst: 1 }, 16 * 16);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            rl.allow(IpAddr::from(i.to_be_bytes()), t0);
        }
        let total: usize = rl
            .shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(total <= 16 * 16, "{total} clients remembered");
    }
}
