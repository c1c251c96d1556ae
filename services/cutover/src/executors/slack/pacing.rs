//! Slack's rate limits, kept to per method: `chat.postMessage` (posts and thread replies) per
//! channel at `[slack] messages_per_second`, `chat.update` across the workspace at
//! `updates_per_minute` (Slack's Tier 3), the look-ups after an unknown outcome
//! (`conversations.history`, `conversations.replies`) at Tier 3 too. Each lets `burst` calls go
//! at once, as Slack lets short bursts through, then one per interval.
//!
//! An action that has no turn yet is given the next free one, which is kept for it: it is put
//! back in the outbox until then ([`Outcome::Deferred`](super::super::Outcome::Deferred)), and
//! the lane runs other channels' actions meanwhile. A 429 holds only its own method and scope.
//!
//! The rule is the generic cell rate algorithm: each limit keeps the theoretical time of its
//! next call; a call may go once that time, less `burst - 1` intervals, has come.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A Slack method, as far as its limit goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `chat.postMessage`: a deployment's message or a reply in its thread. Per channel.
    Post,
    /// `chat.update`. Per workspace.
    Update,
    /// `conversations.history` / `conversations.replies`, before sending again what may have
    /// been sent. Per workspace.
    Lookup,
}

/// The limits Cutover keeps to (`[slack]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Posts (and replies) a second in one channel. Slack: about one.
    pub messages_per_second: f64,
    /// `chat.update` calls a minute in the workspace. Slack: Tier 3, 50.
    pub updates_per_minute: f64,
    /// Calls of one limit that may go at once before the pacing starts.
    pub burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { messages_per_second: 1.0, updates_per_minute: 50.0, burst: 3 }
    }
}

/// Look-ups: Slack's Tier 3, whatever the config says of updates.
const LOOKUPS_PER_MINUTE: f64 = 50.0;

/// An action's turn at a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Now. `waited`: the action had been given a later turn and it has come (it waited in
    /// the outbox meanwhile).
    Now { waited: bool },
    /// At this time, kept for it.
    Later(Instant),
}

type Key = (Method, String);

/// The limits' state.
#[derive(Debug, Clone)]
pub struct Pacer {
    limits: Limits,
    /// The theoretical time of each limit's next call.
    next: HashMap<Key, Instant>,
    /// A 429's `Retry-After`, per limit.
    held: HashMap<Key, Instant>,
    /// The turns given to actions that wait for them, by outbox id.
    turns: HashMap<(i64, Method), (Instant, String)>,
}

impl Pacer {
    pub fn new(limits: Limits) -> Self {
        Self { limits, next: HashMap::new(), held: HashMap::new(), turns: HashMap::new() }
    }

    fn interval(&self, method: Method) -> Duration {
        let per_second = match method {
            Method::Post => self.limits.messages_per_second,
            Method::Update => self.limits.updates_per_minute / 60.0,
            Method::Lookup => LOOKUPS_PER_MINUTE / 60.0,
        };
        Duration::from_secs_f64(1.0 / per_second.max(0.001))
    }

    fn key(method: Method, channel: &str) -> Key {
        (method, if method == Method::Post { channel.to_owned() } else { String::new() })
    }

    /// Action `id`'s turn at `method` (in `channel`, for a post) at `now`: now, or the next
    /// free turn, which is then kept for it.
    pub fn turn(&mut self, id: i64, method: Method, channel: &str, now: Instant) -> Turn {
        if let Some((at, _)) = self.turns.get(&(id, method)) {
            if *at > now {
                return Turn::Later(*at);
            }
            self.turns.remove(&(id, method));
            return Turn::Now { waited: true };
        }
        let key = Self::key(method, channel);
        let interval = self.interval(method);
        let tolerance = interval * self.limits.burst.max(1).saturating_sub(1);
        let next = self.next.get(&key).copied().unwrap_or(now);
        let mut at = next.checked_sub(tolerance).map_or(now, |earliest| earliest.max(now));
        if let Some(until) = self.held.get(&key) {
            at = at.max(*until);
        }
        self.next.insert(key.clone(), next.max(at) + interval);
        if at <= now {
            return Turn::Now { waited: false };
        }
        self.forget_stale(now);
        self.turns.insert((id, method), (at, key.1));
        Turn::Later(at)
    }

    /// Slack answered 429 (or `ratelimited`): nothing of this limit goes before `until`. The
    /// turns given meanwhile are given again after it, in order.
    pub fn hold(&mut self, method: Method, channel: &str, until: Instant) {
        let key = Self::key(method, channel);
        self.turns.retain(|(_, m), (_, scope)| !(*m == method && *scope == key.1));
        self.next.insert(key.clone(), until);
        self.held.insert(key, until);
    }

    /// Action `to` takes the turn `from` was given (`from` is superseded by it).
    pub fn hand_over(&mut self, from: i64, to: i64, method: Method) {
        if let Some(turn) = self.turns.remove(&(from, method)) {
            self.turns.entry((to, method)).or_insert(turn);
        }
    }

    /// Turns long past belong to actions that ended otherwise (superseded, folded, failed).
    fn forget_stale(&mut self, now: Instant) {
        if self.turns.len() < 4_096 {
            return;
        }
        let Some(cutoff) = now.checked_sub(Duration::from_secs(600)) else { return };
        self.turns.retain(|_, (at, _)| *at > cutoff);
        self.held.retain(|_, until| *until > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(burst: u32) -> Pacer {
        Pacer::new(Limits { messages_per_second: 1.0, updates_per_minute: 60.0, burst })
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_channel_lets_a_burst_through_then_one_a_second_in_order() {
        let mut p = pacer(3);
        let t0 = Instant::now();
        for id in 1..=3 {
            assert_eq!(p.turn(id, Method::Post, "C1", t0), Turn::Now { waited: false }, "burst: {id}");
        }
        assert_eq!(p.turn(4, Method::Post, "C1", t0), Turn::Later(t0 + S));
        assert_eq!(p.turn(5, Method::Post, "C1", t0), Turn::Later(t0 + 2 * S), "behind the fourth");
        assert_eq!(p.turn(6, Method::Post, "C2", t0), Turn::Now { waited: false }, "another channel goes");
        // Asked again before its turn: the same turn, not a new one.
        assert_eq!(p.turn(4, Method::Post, "C1", t0), Turn::Later(t0 + S));
        assert_eq!(p.turn(4, Method::Post, "C1", t0 + S), Turn::Now { waited: true });
        assert_eq!(p.turn(5, Method::Post, "C1", t0 + S), Turn::Later(t0 + 2 * S));
        // A newcomer queues behind the turns given.
        assert_eq!(p.turn(7, Method::Post, "C1", t0 + S), Turn::Later(t0 + 3 * S));
        // Idle long enough, the burst is there again.
        let later = t0 + 60 * S;
        for id in 8..=10 {
            assert_eq!(p.turn(id, Method::Post, "C1", later), Turn::Now { waited: false });
        }
    }

    #[test]
    fn updates_share_one_workspace_limit_apart_from_posts() {
        let mut p = pacer(1);
        let t0 = Instant::now();
        assert_eq!(p.turn(1, Method::Update, "C1", t0), Turn::Now { waited: false });
        assert_eq!(p.turn(2, Method::Update, "C2", t0), Turn::Later(t0 + S), "another channel, same limit");
        assert_eq!(p.turn(3, Method::Post, "C1", t0), Turn::Now { waited: false }, "posts are apart");
        assert_eq!(p.turn(4, Method::Lookup, "C1", t0), Turn::Now { waited: false }, "look-ups too");
    }

    #[test]
    fn a_429_holds_its_limit_and_gives_the_waiting_turns_again_after_it() {
        let mut p = pacer(1);
        let t0 = Instant::now();
        assert_eq!(p.turn(1, Method::Post, "C1", t0), Turn::Now { waited: false });
        assert_eq!(p.turn(2, Method::Post, "C1", t0), Turn::Later(t0 + S));
        p.hold(Method::Post, "C1", t0 + 30 * S);
        assert_eq!(p.turn(2, Method::Post, "C1", t0 + S), Turn::Later(t0 + 30 * S), "its turn is given again");
        assert_eq!(p.turn(3, Method::Post, "C1", t0 + S), Turn::Later(t0 + 31 * S));
        assert_eq!(p.turn(4, Method::Post, "C2", t0 + S), Turn::Now { waited: false }, "other channels go on");
        assert_eq!(p.turn(5, Method::Update, "C1", t0 + S), Turn::Now { waited: false });
    }

    #[test]
    fn a_superseding_update_takes_the_turn_of_the_one_it_replaces() {
        let mut p = pacer(1);
        let t0 = Instant::now();
        assert_eq!(p.turn(1, Method::Update, "C1", t0), Turn::Now { waited: false });
        assert_eq!(p.turn(2, Method::Update, "C1", t0), Turn::Later(t0 + S));
        p.hand_over(2, 3, Method::Update);
        assert_eq!(p.turn(3, Method::Update, "C1", t0 + S), Turn::Now { waited: true }, "no second wait");
    }
}
