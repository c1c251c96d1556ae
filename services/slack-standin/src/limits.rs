//! Slack's rate limits, as the stand-in enforces them once told to ([`Standin::limit_rates`]).
//!
//! Slack applies its limits per method, per app and workspace, and `chat.postMessage` also per
//! channel ("one message per second per channel, short bursts allowed"). A call over its limit
//! is answered HTTP 429 with `Retry-After` (whole seconds) and `{"ok": false, "error":
//! "ratelimited"}`, and is not carried out. Each limit here is a token bucket: `burst` calls at
//! once, refilled at `per_minute`.
//!
//! [`Standin::limit_rates`]: crate::Standin::limit_rates

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One method's limit: `per_minute` sustained, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub per_minute: f64,
    pub burst: f64,
}

/// The limits the stand-in enforces. [`RateLimits::slack`] is Slack's published model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimits {
    /// `chat.postMessage` (top-level messages and thread replies), per channel.
    pub post_per_channel: Limit,
    /// Methods limited per workspace, by name.
    pub per_workspace: HashMap<String, Limit>,
}

impl RateLimits {
    /// Slack's tiers for the methods Cutover calls: `chat.postMessage` about one a second per
    /// channel with short bursts; `chat.update`, `conversations.history` and
    /// `conversations.replies` Tier 3 (50 a minute, sporadic bursts); `chat.postEphemeral`
    /// Tier 4 (100 a minute); `views.open` Tier 4; `usergroups.users.list` Tier 2 (20).
    pub fn slack() -> Self {
        let tier = |per_minute: f64, burst: f64| Limit { per_minute, burst };
        Self {
            post_per_channel: tier(60.0, 4.0),
            per_workspace: HashMap::from([
                ("chat.update".to_owned(), tier(50.0, 10.0)),
                ("conversations.history".to_owned(), tier(50.0, 10.0)),
                ("conversations.replies".to_owned(), tier(50.0, 10.0)),
                ("chat.postEphemeral".to_owned(), tier(100.0, 20.0)),
                ("views.open".to_owned(), tier(100.0, 20.0)),
                ("usergroups.users.list".to_owned(), tier(20.0, 5.0)),
            ]),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets, by method and scope (a channel, or the workspace).
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    pub(crate) limits: Option<RateLimits>,
    buckets: HashMap<(String, String), Bucket>,
}

impl Limiter {
    /// Takes a token for `method` (in `channel`, for a post) at `now`; `Err` is how long until
    /// one is there (the `Retry-After`).
    pub(crate) fn take(&mut self, method: &str, channel: Option<&str>, now: Instant) -> Result<(), Duration> {
        let Some(limits) = &self.limits else { return Ok(()) };
        let (limit, scope) = match method {
            "chat.postMessage" => (limits.post_per_channel, channel.unwrap_or_default()),
            m => match limits.per_workspace.get(m) {
                Some(l) => (*l, ""),
                None => return Ok(()),
            },
        };
        let per_second = limit.per_minute / 60.0;
        let bucket = self
            .buckets
            .entry((method.to_owned(), scope.to_owned()))
            .or_insert(Bucket { tokens: limit.burst, at: now });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(limit.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_takes_a_burst_then_one_a_second_and_other_channels_are_apart() {
        let mut l = Limiter { limits: Some(RateLimits::slack()), ..Limiter::default() };
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(l.take("chat.postMessage", Some("C1"), t0), Ok(()));
        }
        let wait = l.take("chat.postMessage", Some("C1"), t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1), "the fifth waits for a token");
        assert_eq!(l.take("chat.postMessage", Some("C2"), t0), Ok(()), "another channel has its own");
        assert_eq!(l.take("chat.postMessage", Some("C1"), t0 + Duration::from_secs(1)), Ok(()));
        assert!(l.take("chat.postMessage", Some("C1"), t0 + Duration::from_secs(1)).is_err());
        // chat.update: ten at once, then 50 a minute across the workspace.
        for _ in 0..10 {
            assert_eq!(l.take("chat.update", Some("C1"), t0), Ok(()));
        }
        assert_eq!(l.take("chat.update", Some("C2"), t0), Err(Duration::from_secs_f64(1.2)));
        assert_eq!(l.take("auth.test", None, t0), Ok(()), "methods without a limit");
    }

    #[test]
    fn without_limits_nothing_is_refused() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        assert!((0..100).all(|_| l.take("chat.postMessage", Some("C1"), t0).is_ok()));
    }
}
