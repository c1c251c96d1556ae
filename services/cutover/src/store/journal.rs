//! The journal: each input that changed the correlator, with its `now`, committed with the
//! actions it decided; snapshots that compact it. Its caller is the driver (and recovery).

use cutover_events::Timestamp;

use super::{NewAction, StoreError};

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

/// At most about this many received messages are decided and committed in one transaction on
/// a store whose transactions have no item limit (SQLite): see [`Journal::gather_max`].
pub const GATHER_MAX: usize = 100;

/// The journal and its snapshots. Used by the driver alone.
///
/// Its methods block: the rule is on [`Store`](super::Store).
pub trait Journal: Send + std::fmt::Debug {
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

    /// How many received messages the driver may decide and commit in one transaction (it
    /// gathers the batches waiting up to about this many). One receive's worth unless the
    /// store says more: a DynamoDB transaction holds at most 100 items, entries and actions
    /// together, so it keeps to that.
    fn gather_max(&self) -> usize {
        10
    }

    /// Saves the correlator state as of journal `seq` and drops the journal up to it.
    fn snapshot(&mut self, seq: i64, state: &str) -> Result<(), StoreError>;
}
