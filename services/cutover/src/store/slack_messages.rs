//! What the Slack lane learned: each deployment's message (`channel`, `ts`), so updates and
//! replies find it across restarts and replicas.

use super::StoreError;

/// Each deployment's Slack message. Used by the Slack lane.
///
/// Its methods block: the rule is on [`Store`](super::Store).
pub trait SlackMessages: Send + std::fmt::Debug {
    /// The Slack message of a deployment: `(channel, ts)`.
    fn slack_message(&mut self, deployment_id: &str) -> Result<Option<(String, String)>, StoreError>;

    fn set_slack_message(&mut self, deployment_id: &str, channel: &str, ts: &str) -> Result<(), StoreError>;
}
