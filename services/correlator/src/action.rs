//! What the correlator decides: plain data, carried out later by the executors. Serialised,
//! an action is exactly one line of `cutover replay` output (a public contract).

use cutover_events::emitted::{
    ActionDetail, ActionDetailType, ApprovalDetail, ApprovalDetailType, DetailType, LifecycleDetail,
};
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
    /// Put the event of an action a person took from Slack on the bus (`Action Taken`).
    /// Addition: its `replay` line's `action` is `emit.action`; only a journal with requests
    /// from Slack decides it.
    #[serde(rename = "emit.action")]
    EmitAction {
        /// Always `cutover`.
        source: String,
        detail_type: ActionDetailType,
        detail: Box<ActionDetail>,
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
    /// Tell one `[[sinks]]` entry of a lifecycle event (a GitHub deployment status, a Grafana
    /// annotation, …). Addition: its `replay` line's `action` is `sink`; only a config with
    /// sinks decides it.
    #[serde(rename = "sink")]
    Sink(Box<SinkDelivery>),
    /// Act on AWS for a person who asked from Slack (`/cutover rollback`, a button): one call,
    /// made once. Addition: its `replay` line's `action` is `control`; only a journal with
    /// requests from Slack decides it (never a recorded SQS stream).
    #[serde(rename = "control")]
    Control(Box<Control>),
}

impl Action {
    /// The deployment the action is about (an approval's `approval/…` id for its own actions).
    pub fn deployment_id(&self) -> &str {
        match self {
            Self::Emit { detail, .. } => &detail.deployment_id,
            Self::EmitApproval { detail, .. } => &detail.approval_id,
            Self::EmitAction { detail, .. } => &detail.action_id,
            Self::SlackPost(m) | Self::SlackUpdate(m) | Self::SlackReply(m) => &m.deployment_id,
            Self::Invalidate(i) => &i.deployment_id,
            Self::Sink(s) => &s.detail.deployment_id,
            Self::Control(c) => &c.deployment_id,
        }
    }

    /// What orders the action within its lane: actions with the same key run in decision
    /// order, one after the other. The deployment, and for a sink also the sink, so one sink's
    /// outage holds back no other sink.
    pub fn sequence_key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Sink(s) => std::borrow::Cow::Owned(format!("{}\u{1f}{}", s.sink, s.detail.deployment_id)),
            other => std::borrow::Cow::Borrowed(other.deployment_id()),
        }
    }

    /// The `action` name it has in `replay` output (`emit`, `slack.post`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Emit { .. } => "emit",
            Self::EmitApproval { .. } => "emit.approval",
            Self::EmitAction { .. } => "emit.action",
            Self::SlackPost(_) => "slack.post",
            Self::SlackUpdate(_) => "slack.update",
            Self::SlackReply(_) => "slack.reply",
            Self::Invalidate(_) => "cloudfront.invalidate",
            Self::Sink(_) => "sink",
            Self::Control(_) => "control",
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

/// An AWS call a person asked for from Slack, bound to the one object it acts on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// The Slack request that asked for it (its `trigger_id`).
    pub request_id: String,
    /// The deployment it acts on; empty (and left out) for a deploy, which starts one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deployment_id: String,
    /// The Slack user id of who asked.
    pub user: String,
    /// When they asked (Cutover's clock).
    pub asked_at: cutover_events::Timestamp,
    pub call: Call,
}

/// The AWS call of a [`Control`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// ECS rolling: `UpdateService` back to the previous task definition.
    EcsUpdateService { cluster: String, service: String, task_definition: String },
    /// CodeDeploy: `StopDeployment` with `autoRollbackEnabled`, which shifts the traffic back.
    CodedeployStopDeployment { deployment_id: String },
    /// ECS-native blue/green, canary, linear: `StopServiceDeployment` with `stopType`
    /// `ROLLBACK`.
    EcsStopServiceDeployment { service_deployment_arn: String },
    /// `/cutover deploy`: CodePipeline `StartPipelineExecution`, with a `clientRequestToken`
    /// made from the Slack request's id, so a repeated call starts no second execution.
    CodepipelineStartPipelineExecution { pipeline: String, client_request_token: String },
    /// ECS-native: `ContinueServiceDeployment` of the pause hook it waits at (`action`
    /// `CONTINUE`).
    EcsContinueServiceDeployment { service_deployment_arn: String, hook_id: String },
    /// CodeDeploy blue/green waiting to reroute (`READY`): `ContinueDeployment` with
    /// `deploymentWaitType` `READY_WAIT`, which starts the production traffic shift.
    CodedeployContinueDeployment { deployment_id: String },
    /// An approval's Approve or Reject: CodePipeline `PutApprovalResult` with the token of its
    /// notification. A repeat is answered `ApprovalAlreadyCompletedException`: done.
    CodepipelinePutApprovalResult {
        pipeline: String,
        stage: String,
        action: String,
        token: String,
        approved: bool,
        summary: String,
    },
}

impl Call {
    /// What the call names: the task definition, the deployment, the ARN, the pipeline.
    pub fn resource(&self) -> &str {
        match self {
            Self::EcsUpdateService { task_definition, .. } => task_definition,
            Self::CodedeployStopDeployment { deployment_id } => deployment_id,
            Self::EcsStopServiceDeployment { service_deployment_arn } => service_deployment_arn,
            Self::CodepipelineStartPipelineExecution { pipeline, .. } => pipeline,
            Self::CodepipelinePutApprovalResult { pipeline, .. } => pipeline,
            Self::EcsContinueServiceDeployment { hook_id, .. } => hook_id,
            Self::CodedeployContinueDeployment { deployment_id } => deployment_id,
        }
    }

    /// The AWS operation, as a log line and `check-config` name it.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::EcsUpdateService { .. } => "ecs:UpdateService",
            Self::CodedeployStopDeployment { .. } => "codedeploy:StopDeployment",
            Self::EcsStopServiceDeployment { .. } => "ecs:StopServiceDeployment",
            Self::CodepipelineStartPipelineExecution { .. } => "codepipeline:StartPipelineExecution",
            Self::CodepipelinePutApprovalResult { .. } => "codepipeline:PutApprovalResult",
            Self::EcsContinueServiceDeployment { .. } => "ecs:ContinueServiceDeployment",
            Self::CodedeployContinueDeployment { .. } => "codedeploy:ContinueDeployment",
        }
    }
}

/// One lifecycle event for one sink. The executor of its kind turns it into that tool's calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinkDelivery {
    /// The `[[sinks]]` entry's `name`.
    pub sink: String,
    pub kind: crate::routing::SinkKind,
    /// Stable for this sink, deployment and step (a UUID-shaped hash): the webhook's delivery
    /// id, and how an executor recognises its own earlier effect.
    pub delivery_id: String,
    pub detail_type: DetailType,
    /// The lifecycle event's `detail`, as emitted on the bus.
    pub detail: Box<LifecycleDetail>,
    /// The commit the deployment ships, where known: the deploy annotation's, the image's
    /// `org.opencontainers.image.revision`, the pipeline's source revision, or a version that
    /// is a commit SHA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The repository's URL, where known: the annotation's, the image's
    /// `org.opencontainers.image.source`, or the source revision's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// `delivery_id`: the first 16 bytes of SHA-256 over the sink, deployment, step, time and
/// traffic share, written as a UUID (`8-4-4-4-12` hex digits).
pub fn delivery_id(sink: &str, detail: &LifecycleDetail, detail_type: DetailType) -> String {
    use sha2::{Digest, Sha256};
    let percent = detail.traffic_percent.map(|p| p.0.to_string()).unwrap_or_default();
    let digest = Sha256::digest(
        format!("{sink}\n{}\n{}\n{}\n{percent}", detail.deployment_id, detail_type.as_str(), detail.at.millis())
            .as_bytes(),
    );
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
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
