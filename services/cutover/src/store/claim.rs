//! The claim: a lane marks an action started before its effect, so a crash leaves it
//! `attempting` (look for the effect before repeating it), and with replicas only one claims it.

use super::StoreError;

/// Claiming an action before running it.
///
/// Its methods block: the rule is on [`Store`](super::Store).
pub trait Claim: Send + std::fmt::Debug {
    /// Marks an action started (its outcome unknown until marked otherwise): the claim. In a
    /// shared store, [`StoreError::Conflict`] says another replica claimed it first; leave it.
    fn mark_attempting(&mut self, id: i64) -> Result<(), StoreError>;
}
