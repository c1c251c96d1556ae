//! Durable state: the correlator's journal and snapshots, the outbox of decided actions, and
//! what the executors learned (Slack message `ts`, invalidation ids).
//!
//! The correlator is deterministic, so its state is kept as an event-sourced journal: each
//! accepted message is journaled with its `now`, in the same transaction as the actions it
//! decided. Recovery loads the latest snapshot and replays the journal after it; the replayed
//! actions are discarded, because the outbox already holds them. Snapshots compact the journal.
//!
//! The store is split by caller: [`Journal`] (the driver), [`Outbox`] and [`Claim`] (the
//! lanes), [`SlackMessages`] (the Slack lane), [`SinkRefs`] (the sink lane), [`Health`] (`/readyz`, `/metrics`, OTLP). A
//! backend implements all six, and so is a [`Store`]. Every method of every part blocks: see
//! [`Store`].
//!
//! [`sqlite`] is the embedded default; [`dynamodb`] is for several replicas. Both pass the
//! suite in [`conformance`].

mod claim;
pub mod conformance;
pub mod dynamodb;
mod health;
mod journal;
mod outbox;
mod sink_refs;
mod slack_messages;
pub mod sqlite;

pub use claim::Claim;
pub use health::Health;
pub use journal::{GATHER_MAX, Journal, JournalEntry, Recovery};
pub use outbox::{Lane, NewAction, Outbox, OutboxItem, Status};
pub use sink_refs::SinkRefs;
pub use slack_messages::SlackMessages;

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

/// A backend: every part of the store, each given to its caller on its own.
///
/// Every method blocks the calling thread until the store answers (SQLite file IO; DynamoDB
/// calls run on the store's own runtime while the caller waits): call it from
/// `tokio::task::block_in_place` or a blocking task, never straight from an async task.
/// That is the one rule for blocking: no method is async, none may be called on an async task.
pub trait Store: Journal + Outbox + Claim + SlackMessages + SinkRefs + Health {}

impl<T: Journal + Outbox + Claim + SlackMessages + SinkRefs + Health> Store for T {}
