//! What the health endpoints and metrics read: the outbox's counts and a round trip.

use super::{Lane, Status, StoreError};

/// The store as `/readyz`, `/metrics` and the OTLP exporter read it.
///
/// Its methods block: the rule is on [`Store`](super::Store).
pub trait Health: Send + std::fmt::Debug {
    /// Counts of outbox actions per status, for `/metrics` and tests.
    fn outbox_counts(&mut self) -> Result<Vec<(Lane, Status, u64)>, StoreError>;

    /// A cheap round trip, for `/readyz`.
    fn ping(&mut self) -> Result<(), StoreError>;
}
