//! Failed-login throttling: at most N failures per key (an account, a source address) in a
//! sliding window; past that, logins for the key are refused with a retry delay until the
//! oldest failure leaves the window. In process memory: each replica counts on its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Limiter {
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Entries kept before stale keys are swept.
const SWEEP_AT: usize = 10_000;

impl Limiter {
    pub fn new(window: Duration) -> Limiter {
        Limiter {
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `None` when `key` may try again, else how long it must wait.
    pub fn blocked(&self, key: &str, max: u32, now: Instant) -> Option<Duration> {
        if max == 0 {
            return None;
        }
        let mut map = self.failures.lock().ok()?;
        let q = map.get_mut(key)?;
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() < max as usize {
            return None;
        }
        let oldest = *q.front()?;
        Some(
            self.window
                .saturating_sub(now.duration_since(oldest))
                .max(Duration::from_secs(1)),
        )
    }

    pub fn record_failure(&self, key: &str, now: Instant) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= SWEEP_AT {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = map.entry(key.to_owned()).or_default();
        q.push_back(now);
        // Never more than needed to decide: the cap on any configured limit.
        if q.len() > 1000 {
            q.pop_front();
        }
    }

    pub fn reset(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let l = Limiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.blocked("a", 3, t0), None, "{i}");
            l.record_failure("a", t0 + Duration::from_secs(i));
        }
        let wait = l.blocked("a", 3, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(l.blocked("b", 3, t0), None);
        assert_eq!(l.blocked("a", 3, t0 + Duration::from_secs(61)), None);
        l.record_failure("a", t0);
        l.reset("a");
        assert_eq!(l.blocked("a", 1, t0), None);
        assert_eq!(l.blocked("a", 0, t0), None);
    }
}
