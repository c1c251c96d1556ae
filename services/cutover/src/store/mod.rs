//! Durable state: the correlator's journal and snapshots, the outbox of decided actions, and
//! what the executors learned (Slack message `ts`, invalidation ids).
//!
//! The correlator is deterministic, so its state is kept as an event-sourced journal: each
//! accepted message is journaled with its `now`, in the same transaction as the actions it
//! decided. Recovery loads the latest snapshot and replays the journal after it; the replayed
//! actions are discarded, because the outbox already holds them. Snapshots compact the journal.
//!
//! [`sqlite`] is the embedded default; [`dynamodb`] is for several replicas. Both pass the
//! suite in [`conformance`].

pub mod conformance;
pub mod dynamodb;
pub mod sqlite;

use cutover_correlator::Action;
use cutover_events::Timestamp;

/// One journaled input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub seq: i64,
    pub now: Timestamp,
    /// The SQS message body, as received.
    pub body: String,
}

/// What recovery starts from.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// The serialised correlator state, and the journal seq it includes.
    pub snapshot: Option<(i64, String)>,
    /// Journal entries after the snapshot, in order.
    pub journal: Vec<JournalEntry>,
}

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
}

impl Lane {
    pub fn of(action: &Action) -> Self {
        match action {
            Action::Emit { .. } => Self::EventBridge,
            Action::SlackPost(_) | Action::SlackUpdate(_) | Action::SlackReply(_) => Self::Slack,
            Action::Invalidate(_) => Self::CloudFront,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::CloudFront => "cloudfront",
            Self::EventBridge => "eventbridge",
        }
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

/// Storage failures. They carry the operation; the service retries or stops on them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite error is part of the text (not a `source`), so a chain prints it once.
    #[error("store {operation} failed: {cause}")]
    Sqlite { operation: &'static str, cause: rusqlite::Error },
    #[error("store {operation}: corrupt row: {detail}")]
    Corrupt { operation: &'static str, detail: String },
    /// A remote store (DynamoDB) failed; the SDK's error is part of the text.
    #[error("store {operation} failed: {cause}")]
    Remote { operation: &'static str, cause: String },
    /// Another writer changed what this write was conditional on.
    #[error("store {operation}: another writer got there first")]
    Conflict { operation: &'static str },
}

/// The durable state behind the service.
pub trait Store: Send + std::fmt::Debug {
    /// The snapshot and the journal after it.
    fn recover(&mut self) -> Result<Recovery, StoreError>;

    /// Atomically: journal `entries` (their `seq` is assigned here and returned) and add
    /// `actions` to the outbox, in order. Nothing is visible unless all of it is.
    fn commit(&mut self, entries: &[(Timestamp, String)], actions: &[NewAction]) -> Result<Vec<i64>, StoreError>;

    /// The journal entries after `seq`, or `None` when a snapshot newer than `seq` has
    /// compacted the journal past it (then recover from the snapshot). A replica reads what
    /// the others committed with it before deciding.
    fn journal_since(&mut self, seq: i64) -> Result<Option<Vec<JournalEntry>>, StoreError>;

    /// True when other processes write to the same store (replicas): the intake then catches
    /// up on their journal entries before deciding.
    fn shared(&self) -> bool {
        false
    }

    /// Saves the correlator state as of journal `seq` and drops the journal up to it.
    fn snapshot(&mut self, seq: i64, state: &str) -> Result<(), StoreError>;

    /// Actions of `lane` not finished, in decision order, that are due at `now_ms`. A
    /// deployment's actions run in decision order: one behind an earlier unfinished action of
    /// the same deployment that is not due yet waits for it (a Slack update never overtakes an
    /// older one of the same message, which would then overwrite the newer state).
    fn due(&mut self, lane: Lane, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;

    /// The earliest `next_attempt_ms` of an unfinished action of `lane`.
    fn next_due(&mut self, lane: Lane) -> Result<Option<i64>, StoreError>;

    /// Marks an action started (its outcome unknown until marked otherwise): the claim. In a
    /// shared store, [`StoreError::Conflict`] says another replica claimed it first; leave it.
    fn mark_attempting(&mut self, id: i64) -> Result<(), StoreError>;

    /// Puts an action back for a retry at `next_attempt_ms`, known not done (`pending`), or
    /// with an unknown outcome (`attempting`: look for its effect first). Counts the attempt.
    fn mark_retry(&mut self, id: i64, status: Status, next_attempt_ms: i64, error: &str) -> Result<(), StoreError>;

    /// Finishes an action with `status` and its result (an id, a `ts`, or why it failed).
    fn finish(&mut self, id: i64, status: Status, result: &str) -> Result<(), StoreError>;

    /// The Slack message of a deployment: `(channel, ts)`.
    fn slack_message(&mut self, deployment_id: &str) -> Result<Option<(String, String)>, StoreError>;

    fn set_slack_message(&mut self, deployment_id: &str, channel: &str, ts: &str) -> Result<(), StoreError>;

    /// Counts of outbox actions per status, for `/metrics` and tests.
    fn outbox_counts(&mut self) -> Result<Vec<(Lane, Status, u64)>, StoreError>;

    /// A cheap round trip, for `/readyz`.
    fn ping(&mut self) -> Result<(), StoreError>;
}
