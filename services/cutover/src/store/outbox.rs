//! The outbox: the actions decided, in decision order per lane, with where each stands. Its
//! callers are the lanes (executors).

use cutover_correlator::Action;

use super::StoreError;

/// Where an outbox action stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not tried, or failed in a way that says it did not happen.
    Pending,
    /// Started, outcome unknown (a crash or a timeout after sending): check before retrying.
    Attempting,
    /// Done; `result` holds what it produced.
    Done,
    /// Given up (a permanent error); `result` holds why.
    Failed,
    /// Replaced by a later action before it ran (a Slack update of the same message).
    Superseded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Attempting => "attempting",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "attempting" => Self::Attempting,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "superseded" => Self::Superseded,
            _ => return None,
        })
    }
}

/// The executor an action belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    Slack,
    CloudFront,
    EventBridge,
    /// Every `[[sinks]]` entry; each sink's actions of one deployment in decision order, so
    /// one sink down holds back no other.
    Sinks,
    /// The AWS calls people asked for from Slack (`[slack.actions]`).
    Controls,
}

impl Lane {
    pub fn of(action: &Action) -> Self {
        match action {
            Action::Emit { .. } | Action::EmitApproval { .. } | Action::EmitAction { .. } => Self::EventBridge,
            Action::SlackPost(_) | Action::SlackUpdate(_) | Action::SlackReply(_) => Self::Slack,
            Action::Invalidate(_) => Self::CloudFront,
            Action::Sink(_) => Self::Sinks,
            Action::Control(_) => Self::Controls,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::CloudFront => "cloudfront",
            Self::EventBridge => "eventbridge",
            Self::Sinks => "sinks",
            Self::Controls => "controls",
        }
    }

    /// Every lane.
    pub const ALL: [Self; 5] = [Self::Slack, Self::CloudFront, Self::EventBridge, Self::Sinks, Self::Controls];

    /// The lane `as_str` names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// An action to add to the outbox, with the trace of the message that decided it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAction {
    pub action: Action,
    /// The W3C `traceparent` of the message's span: the action's execution joins that trace.
    pub traceparent: Option<String>,
}

impl From<Action> for NewAction {
    fn from(action: Action) -> Self {
        Self { action, traceparent: None }
    }
}

/// One action in the outbox.
#[derive(Clone, Debug)]
pub struct OutboxItem {
    /// Decision order.
    pub id: i64,
    pub action: Action,
    /// The trace of the message that decided it, as committed.
    pub traceparent: Option<String>,
    pub status: Status,
    pub attempts: u32,
    /// Earliest time (ms since the epoch, wall clock) of the next attempt.
    pub next_attempt_ms: i64,
}

/// The outbox as a lane reads and finishes it.
///
/// Its methods block: the rule is on [`Store`](super::Store).
pub trait Outbox: Send + std::fmt::Debug {
    /// Actions of `lane` not finished, in decision order, that are due at `now_ms`. A
    /// deployment's actions run in decision order: one behind an earlier unfinished action of
    /// the same deployment (of the same sink, in the sink lane: [`Action::sequence_key`]) that
    /// is not due yet waits for it (a Slack update never overtakes an
    /// older one of the same message, which would then overwrite the newer state).
    fn due(&mut self, lane: Lane, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;

    /// The earliest `next_attempt_ms` of an unfinished action of `lane`.
    fn next_due(&mut self, lane: Lane) -> Result<Option<i64>, StoreError>;

    /// Puts an action back for a retry at `next_attempt_ms`, known not done (`pending`), or
    /// with an unknown outcome (`attempting`: look for its effect first). Counts the attempt.
    fn mark_retry(&mut self, id: i64, status: Status, next_attempt_ms: i64, error: &str) -> Result<(), StoreError>;

    /// Puts an action back, not tried, until `next_attempt_ms` (its turn under a rate limit):
    /// its status, attempts and last result stay as they are.
    fn defer(&mut self, id: i64, next_attempt_ms: i64) -> Result<(), StoreError>;

    /// Finishes an action with `status` and its result (an id, a `ts`, or why it failed).
    fn finish(&mut self, id: i64, status: Status, result: &str) -> Result<(), StoreError>;
}
