//! What the correlator decides: plain data, carried out later by the executors. Serialised,
//! an action is exactly one line of `cutover replay` output (a public contract).

use cutover_events::emitted::{ApprovalDetail, ApprovalDetailType, DetailType, LifecycleDetail};
use serde::{Deserialize, Serialize};

/// One decided action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum Action {
    /// Put a lifecycle event on the bus.
    #[serde(rename = "emit")]
    Emit {
        /// Always `cutover`.
        source: String,
        detail_type: DetailType,
        detail: Box<LifecycleDetail>,
    },
    /// Put a pipeline approval's event on the bus (`Approval Waiting`, `Approval Decided`).
    /// Addition: its `replay` line's `action` is `emit.approval`.
    #[serde(rename = "emit.approval")]
    EmitApproval {
        /// Always `cutover`.
        source: String,
        detail_type: ApprovalDetailType,
        detail: Box<ApprovalDetail>,
    },
    /// The one top-level message of a deployment (or of an approval waiting, whose
    /// `deployment_id` is its `approval/…` id).
    #[serde(rename = "slack.post")]
    SlackPost(SlackMessage),
    /// Replace that message with the deployment's current state.
    #[serde(rename = "slack.update")]
    SlackUpdate(SlackMessage),
    /// A reply in the thread of `thread_of`'s message.
    #[serde(rename = "slack.reply")]
    SlackReply(SlackMessage),
    /// Invalidate a CloudFront distribution's paths.
    #[serde(rename = "cloudfront.invalidate")]
    Invalidate(Invalidation),
}

impl Action {
    /// The deployment the action is about (an approval's `approval/…` id for its own actions).
    pub fn deployment_id(&self) -> &str {
        match self {
            Self::Emit { detail, .. } => &detail.deployment_id,
            Self::EmitApproval { detail, .. } => &detail.approval_id,
            Self::SlackPost(m) | Self::SlackUpdate(m) | Self::SlackReply(m) => &m.deployment_id,
            Self::Invalidate(i) => &i.deployment_id,
        }
    }

    /// The `action` name it has in `replay` output (`emit`, `slack.post`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Emit { .. } => "emit",
            Self::EmitApproval { .. } => "emit.approval",
            Self::SlackPost(_) => "slack.post",
            Self::SlackUpdate(_) => "slack.update",
            Self::SlackReply(_) => "slack.reply",
            Self::Invalidate(_) => "cloudfront.invalidate",
        }
    }
}

/// A Slack message: `text` is the notification and screen-reader fallback, `blocks` the
/// Block Kit layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlackMessage {
    /// The deployment the message is about.
    pub deployment_id: String,
    pub channel: String,
    /// Replies only: the deployment whose top-level message is the thread parent. It differs
    /// from `deployment_id` when a rollback deployment reports in the thread of the
    /// deployment it undoes. Addition to the shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_of: Option<String>,
    pub text: String,
    pub blocks: Vec<serde_json::Value>,
    /// Replies only: also show it in the channel (`reply_broadcast`), as the route's
    /// `broadcast` asks. Addition to the shape; present only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broadcast: bool,
}

/// A CloudFront invalidation. `caller_reference` is derived from the deployment and the
/// distribution, so a retry of the same decision is idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalidation {
    pub deployment_id: String,
    pub distribution_id: String,
    pub paths: Vec<String>,
    pub caller_reference: String,
}

/// `cutover-<distribution>-<deployment tail>-<hash>`, at most 128 characters, only
/// `[A-Za-z0-9._-]`, the same for the same deployment and distribution.
pub fn caller_reference(deployment_id: &str, distribution_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{deployment_id}\n{distribution_id}").as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let clean = |s: &str, max: usize| -> String {
        let s: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
        let start = s.len().saturating_sub(max);
        s[start..].to_owned()
    };
    let tail = deployment_id.rsplit('/').next().unwrap_or(deployment_id);
    format!("cutover-{}-{}-{hash}", clean(distribution_id, 40), clean(tail, 50))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_reference_is_stable_short_and_distinct() {
        let long = "arn:aws:ecs:us-west-2:123456789012:service-deployment/my-cluster/my-service/EZe5RNVLH6PPzHXINuP28";
        let a = caller_reference(long, "E123EXAMPLE");
        assert_eq!(a, caller_reference(long, "E123EXAMPLE"));
        assert!(a.len() <= 128, "{a}");
        assert!(a.starts_with("cutover-E123EXAMPLE-EZe5RNVLH6PPzHXINuP28-"), "{a}");
        assert_ne!(a, caller_reference(long, "E999"));
        assert_ne!(caller_reference("ecs-svc/1", "E1"), caller_reference("ecs-svc/2", "E1"));
        let huge = "x".repeat(500);
        assert!(caller_reference(&huge, &huge).len() <= 128);
    }
}
