//! Executors carry out the outbox's actions, each on its own lane, in decision order, with
//! retries (exponential backoff with jitter) and a record of what happened.
//!
//! Each action is marked `attempting` before its call and finished after it. An action found
//! `attempting` when picked up again had an unknown outcome (a crash, a timeout after sending):
//! the executor first looks for its effect (the Slack message by its metadata, the
//! invalidation by its caller reference) before doing it again.

pub mod cloudfront;
pub mod controls;
pub mod eventbridge;
pub mod lane;
pub mod sinks;
pub mod slack;

/// What an attempt ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the result (a `ts`, an invalidation id, an event id).
    Done(String),
    /// Not done, and known not to be: retry after the delay (`None`: the backoff's).
    Retry { after_ms: Option<u64>, error: String },
    /// Maybe done (sent, no answer): look before the next attempt.
    Unknown { error: String },
    /// Will never succeed: an answer proves it (a deleted message for an update, a request
    /// the API calls invalid). Logged and counted.
    Failed(String),
    /// Not the action's failure but the setup's (a refused Slack token, a missing bus or
    /// distribution, access denied): retried with backoff, and `/readyz` names it until an
    /// action of the lane goes through. Nothing is dropped.
    SetupFault(String),
    /// A later action makes this one pointless.
    Superseded(String),
    /// Another replica claimed it first (a shared store): left to that replica.
    Claimed,
    /// Not tried: a rate limit gives it a turn at `until_ms` (wall clock, ms since the epoch).
    /// It waits in the outbox until then; not an attempt.
    Deferred { until_ms: i64 },
}

impl Outcome {
    /// A short label for traces: `done`, `retry`, `unknown`, `failed`, `setup_fault`,
    /// `superseded`, `claimed`, `deferred`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Done(_) => "done",
            Self::Retry { .. } => "retry",
            Self::Unknown { .. } => "unknown",
            Self::Failed(_) => "failed",
            Self::SetupFault(_) => "setup_fault",
            Self::Superseded(_) => "superseded",
            Self::Claimed => "claimed",
            Self::Deferred { .. } => "deferred",
        }
    }
}

/// Claims action `id` before its call. `Err` is the outcome to report instead: another
/// replica has it ([`Outcome::Claimed`]), or the store failed (a retry).
pub fn claim(store: &mut dyn crate::store::Store, id: i64) -> Result<(), Outcome> {
    match store.mark_attempting(id) {
        Ok(()) => Ok(()),
        Err(crate::store::StoreError::Conflict { .. }) => Err(Outcome::Claimed),
        Err(e) => Err(Outcome::Retry { after_ms: Some(1_000), error: e.to_string() }),
    }
}

/// Exponential backoff with full jitter between half and all of the step.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial_ms: u64,
    pub max_ms: u64,
}

impl Backoff {
    /// The delay before attempt `attempts + 1`.
    pub fn delay_ms(&self, attempts: u32, jitter_seed: u64) -> u64 {
        let step = self.initial_ms.saturating_mul(1u64 << attempts.min(20)).min(self.max_ms).max(1);
        let half = step / 2;
        half + splitmix(jitter_seed) % (step - half + 1)
    }
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub use crate::clock::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let b = Backoff { initial_ms: 100, max_ms: 1_000 };
        for seed in 0..50 {
            let d0 = b.delay_ms(0, seed);
            assert!((50..=100).contains(&d0), "{d0}");
            let d3 = b.delay_ms(3, seed);
            assert!((400..=800).contains(&d3), "{d3}");
            let d9 = b.delay_ms(9, seed);
            assert!((500..=1_000).contains(&d9), "{d9}");
        }
        let spread: std::collections::BTreeSet<u64> = (0..50).map(|s| b.delay_ms(2, s)).collect();
        assert!(spread.len() > 10, "jitter spreads retries");
    }
}
