//! Normalisation: a typed inbound message becomes the facts the state machine reasons on,
//! each carrying its AWS time (DESIGN.md, "Which AWS time"), or the reason it is irrelevant.

use cutover_events::codedeploy::{self, DeploymentStatus, EventState, LifecycleStatus, Trigger};
use cutover_events::codepipeline::{ExecutionState, ExecutionStateChange};
use cutover_events::ecs::{
    DeploymentEventName, DeploymentStateChange, HookEventName, HookStateChange, StopCode, TaskStateChange, TaskStatus,
    arn_name, image_tag,
};
use cutover_events::inbound::Envelope;
use cutover_events::{Event, Inbound, Timestamp};
use serde::{Deserialize, Serialize};

use crate::shared::Shared;

/// The one key of an ECS service, for its census, its tags and its deploy annotations:
/// `<region>:<account>:<cluster>/<service>` when an ARN named them, so `prod/web` in two
/// regions or accounts never share anything; `<cluster>/<service>` ([`ServiceKey::named`]) where
/// nothing names them (CodeDeploy's target ids, a deploy annotation, whose account is matched on
/// its own). Serialised as the string (snapshots and journal entries keep their shape).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceKey(Shared);

impl ServiceKey {
    /// The service in `region` and `account`.
    pub fn new(region: &str, account: &str, cluster: &str, service: &str) -> Self {
        Self(Shared::from(format!("{region}:{account}:{cluster}/{service}")))
    }

    /// The service by its cluster and name alone.
    pub fn named(cluster: &str, service: &str) -> Self {
        Self(Shared::from(format!("{cluster}/{service}")))
    }

    /// The `(cluster, service)` pairs whose [`ServiceKey::named`] key this could be (a name
    /// may hold a `/`, so each split is one), for a lookup that formats no key.
    pub fn named_splits(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.match_indices('/').map(|(i, _)| (&self.0[..i], &self.0[i + 1..]))
    }

    /// Its AWS account, when it names one.
    pub fn account(&self) -> Option<&str> {
        let (scope, _) = self.0.split_once('/')?;
        scope.split(':').nth(1).filter(|a| !a.is_empty())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ServiceKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ServiceKey {
    /// A key as written before (a journal entry's `service_key`).
    fn from(s: &str) -> Self {
        Self(Shared::from(s))
    }
}

/// An ECS service, named so that two clusters (or accounts, or regions) never collide.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceRef {
    /// `<region>:<account>:<cluster>/<service>`.
    pub key: ServiceKey,
    pub cluster: String,
    pub service: String,
}

impl ServiceRef {
    fn new(region: &str, account: &str, cluster: &str, service: &str) -> Self {
        Self {
            key: ServiceKey::new(region, account, cluster, service),
            cluster: cluster.to_owned(),
            service: service.to_owned(),
        }
    }

    /// From an ECS cluster ARN and a service name.
    fn from_cluster_arn(cluster_arn: &str, service: &str) -> Self {
        let (region, account) = arn_region_account(cluster_arn);
        Self::new(region, account, arn_name(cluster_arn), service)
    }

    /// From `…:service/<cluster>/<service>`, or old-style `…:service/<service>` (cluster `default`).
    pub(crate) fn from_service_arn(arn: &str) -> Option<Self> {
        let (region, account) = arn_region_account(arn);
        let resource = arn.rsplit(':').next()?;
        let mut parts = resource.split('/');
        if parts.next()? != "service" {
            return None;
        }
        let (a, b) = (parts.next()?, parts.next());
        Some(match b {
            Some(service) => Self::new(region, account, a, service),
            None => Self::new(region, account, "default", a),
        })
    }

    /// From `…:service-deployment/<cluster>/<service>/<id>`.
    fn from_service_deployment_arn(arn: &str) -> Option<Self> {
        let (region, account) = arn_region_account(arn);
        let resource = arn.rsplit(':').next()?;
        let mut parts = resource.split('/');
        if parts.next()? != "service-deployment" {
            return None;
        }
        Some(Self::new(region, account, parts.next()?, parts.next()?))
    }
}

fn arn_region_account(arn: &str) -> (&str, &str) {
    let mut parts = arn.split(':');
    let region = parts.nth(3).unwrap_or("");
    let account = parts.next().unwrap_or("");
    (region, account)
}

/// One normalised fact.
#[derive(Clone, Debug)]
pub enum Fact {
    /// A service task changed state.
    Task(TaskFact),
    /// An ECS deployment (`ecs-svc/…`) changed state.
    EcsDeployment { service: ServiceRef, deployment_id: String, change: EcsDeploymentChange, at: Timestamp },
    /// An ECS-native deployment's lifecycle hook changed state.
    EcsHook {
        service: ServiceRef,
        deployment_arn: String,
        stage_after_production_shift: bool,
        /// A pause hook's state: waiting for someone to continue, or no longer.
        pause: Option<PauseFact>,
        at: Timestamp,
    },
    /// A CodeDeploy deployment or target changed state.
    CodeDeploy(CodeDeployFact),
    /// A CodePipeline execution, stage or action changed state.
    Pipeline(PipelineFact),
    /// A manual approval action's SNS notification: its token, expiry and review link (it names
    /// the pipeline, stage and action, not the execution), at the SNS delivery's time.
    ApprovalNotice(ApprovalNoticeFact),
    /// The reconciler (or a hook event) stated the share of production traffic on the new version.
    TrafficWeight { deployment_id: String, percent: f64, at: Timestamp },
    /// CI's deploy annotation (`cutover annotate`), at the event's time, with the account its
    /// envelope names (the emulator omits it).
    Annotation { annotation: Box<cutover_events::annotation::DeployAnnotation>, at: Timestamp, account: Option<String> },
}

impl Fact {
    /// The AWS time of the fact.
    pub fn at(&self) -> Timestamp {
        match self {
            Self::Task(t) => t.at,
            Self::EcsDeployment { at, .. }
            | Self::EcsHook { at, .. }
            | Self::TrafficWeight { at, .. }
            | Self::Annotation { at, .. } => *at,
            Self::CodeDeploy(c) => c.at,
            Self::Pipeline(p) => p.at,
            Self::ApprovalNotice(n) => n.at,
        }
    }
}

/// What an ECS deployment event (or DescribeServices' `rolloutState`) says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EcsDeploymentChange {
    InProgress { rollback: bool, rollback_target: Option<String> },
    Completed,
    Failed { reason: Option<String> },
}

/// A service task's state.
#[derive(Clone, Debug)]
pub struct TaskFact {
    pub service: ServiceRef,
    pub task_arn: String,
    /// `startedBy` when it is an ECS deployment id.
    pub deployment_id: Option<String>,
    pub version: u64,
    pub last_status: TaskStatus,
    pub desired_status: TaskStatus,
    pub task_definition: Option<String>,
    pub image_tag: Option<String>,
    /// Set when the task stopped because it failed (not scaled in or replaced).
    pub failure: Option<String>,
    pub at: Timestamp,
}

/// What a CodeDeploy event (or GetDeployment / GetDeploymentTarget) says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeDeployChange {
    /// Created, queued or in progress.
    Started,
    /// Replacement installed, waiting to reroute: not cut over.
    Ready,
    /// Production traffic is on the replacement (AllowTraffic succeeded / target succeeded).
    TargetCutOver,
    /// A target failed.
    TargetFailed,
    Succeeded,
    Failed {
        reason: Option<String>,
    },
    Stopped,
    /// Only identity (an instance trigger in progress, …).
    Other,
}

/// A CodeDeploy fact, with whatever identity the event (or the API answer) carried. Serialised,
/// it is the body of a journaled `code_deploy` observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeDeployFact {
    pub deployment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group: Option<String>,
    /// `(cluster, service)` from an ECS target id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    pub change: CodeDeployChange,
    pub at: Timestamp,
}

/// A CodePipeline fact.
#[derive(Clone, Debug)]
pub struct PipelineFact {
    pub pipeline: String,
    pub execution_id: String,
    pub state: ExecutionState,
    pub stage: Option<String>,
    pub action: Option<String>,
    pub is_approval: bool,
    /// The action's provider (`ECS`, `CodeDeployToECS`, `CodeDeploy`, `CloudFormation`, …),
    /// for action events.
    pub provider: Option<String>,
    /// The action's category (`Deploy`, `Approval`, `Source`, …), for action events.
    pub category: Option<String>,
    /// The pipeline's version (structure) the execution runs.
    pub pipeline_version: Option<u64>,
    pub codedeploy_deployment_id: Option<String>,
    pub trigger_type: Option<String>,
    pub trigger_detail: Option<String>,
    pub revision: Option<String>,
    pub branch_or_tag: Option<String>,
    pub at: Timestamp,
}

/// A manual approval's SNS notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalNoticeFact {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    /// The token `PutApprovalResult` takes.
    pub token: Option<String>,
    pub expires: Option<Timestamp>,
    pub review_link: Option<String>,
    pub custom_data: Option<String>,
    pub at: Timestamp,
}

/// The result of normalising one message.
#[derive(Debug)]
pub enum Normalised {
    Facts(Vec<Fact>),
    Irrelevant(&'static str),
}

/// Turns a parsed message into facts, moving what it keeps out of the message.
pub fn normalise(message: Inbound) -> Normalised {
    let Inbound { event, sns, .. } = message;
    match event {
        // The most frequent event by far: its strings are moved, not copied.
        Event::EcsTask { envelope, detail } => task(&envelope, detail),
        Event::EcsDeployment { envelope, detail } => ecs_deployment(&envelope, &detail),
        Event::EcsHook { envelope, detail } => hook(&envelope, &detail),
        Event::EcsServiceAction { .. } => Normalised::Irrelevant("ECS service action"),
        Event::CodeDeployDeployment { envelope, detail } => codedeploy_event(&envelope, &detail, false),
        Event::CodeDeployInstance { envelope, detail } => codedeploy_event(&envelope, &detail, true),
        Event::CodeDeployTrigger { trigger, sns_timestamp } => codedeploy_trigger(&trigger, sns_timestamp),
        Event::Pipeline { envelope, detail } => pipeline(&envelope, &detail),
        Event::ApprovalNotification(n) => match sns.as_ref().and_then(|s| s.timestamp) {
            Some(at) => one(Fact::ApprovalNotice(ApprovalNoticeFact {
                pipeline: n.approval.pipeline_name,
                stage: n.approval.stage_name,
                action: n.approval.action_name,
                token: n.approval.token.filter(|t| !t.is_empty()),
                expires: n.approval.expires,
                review_link: n.approval.approval_review_link.filter(|l| !l.is_empty()),
                custom_data: n.approval.custom_data.filter(|c| !c.is_empty()),
                at,
            })),
            None => Normalised::Irrelevant("approval notification without an SNS time"),
        },
        Event::Annotation { envelope, detail } => {
            one(Fact::Annotation { annotation: Box::new(detail), at: envelope.time, account: envelope.account })
        }
        Event::Other { .. } => Normalised::Irrelevant("event type not used"),
        Event::SnsControl { .. } => Normalised::Irrelevant("SNS control message"),
    }
}

fn one(fact: Fact) -> Normalised {
    Normalised::Facts(vec![fact])
}

fn task(envelope: &Envelope, d: TaskStateChange) -> Normalised {
    let Some(service) = d.group.as_deref().and_then(|g| g.strip_prefix("service:")) else {
        return Normalised::Irrelevant("task not started by a service");
    };
    let failure = (d.last_status == TaskStatus::Stopped).then(|| task_failure(&d)).flatten();
    let service = ServiceRef::from_cluster_arn(&d.cluster_arn, service);
    let image_tag = d.containers.iter().find_map(|c| c.image.as_deref().and_then(image_tag)).map(str::to_owned);
    one(Fact::Task(TaskFact {
        service,
        task_arn: d.task_arn,
        deployment_id: d.started_by.filter(|s| s.starts_with("ecs-svc/")),
        version: d.version,
        last_status: d.last_status,
        desired_status: d.desired_status,
        task_definition: d.task_definition_arn,
        image_tag,
        failure,
        at: d.updated_at.unwrap_or(envelope.time),
    }))
}

/// A stopped task failed when it could not start, its essential container exited, or a
/// health check failed; a task the scheduler scaled in or replaced did not.
fn task_failure(d: &TaskStateChange) -> Option<String> {
    let reason = d.stopped_reason.clone().unwrap_or_default();
    let failed = matches!(d.stop_code, Some(StopCode::TaskFailedToStart | StopCode::EssentialContainerExited))
        || reason.to_ascii_lowercase().contains("failed");
    if !failed {
        return None;
    }
    let container = d.containers.iter().find_map(|c| c.reason.as_deref().filter(|r| !r.is_empty()));
    Some(match (reason.is_empty(), container) {
        (false, Some(c)) => format!("{reason} ({c})"),
        (false, None) => reason,
        (true, Some(c)) => c.to_owned(),
        (true, None) => d.stop_code.as_ref().map_or_else(|| "stopped".to_owned(), |c| c.to_string()),
    })
}

fn ecs_deployment(envelope: &Envelope, d: &DeploymentStateChange) -> Normalised {
    let Some(service) = envelope.resources.iter().find_map(|r| ServiceRef::from_service_arn(r)) else {
        return Normalised::Irrelevant("deployment event without a service ARN");
    };
    let change = match &d.event_name {
        DeploymentEventName::InProgress => EcsDeploymentChange::InProgress {
            rollback: d.is_rollback(),
            rollback_target: d.rollback_target().map(str::to_owned),
        },
        DeploymentEventName::Completed => EcsDeploymentChange::Completed,
        DeploymentEventName::Failed => EcsDeploymentChange::Failed { reason: d.reason.clone() },
        DeploymentEventName::Unknown(_) => return Normalised::Irrelevant("unknown ECS deployment event"),
    };
    one(Fact::EcsDeployment {
        service,
        deployment_id: d.deployment_id.clone(),
        change,
        at: d.updated_at.unwrap_or(envelope.time),
    })
}

/// A pause hook of an ECS-native deployment (`hookType: PAUSE`) changed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseFact {
    pub hook_id: String,
    /// `HOOK_AWAITING_ACTION`: it waits for `ContinueServiceDeployment`; otherwise it ended
    /// (continued, failed, timed out) or runs.
    pub awaiting: bool,
    /// The lifecycle stage it pauses at (`POST_TEST_TRAFFIC_SHIFT`, …).
    pub stage: String,
    /// When its timeout acts.
    pub expires_at: Option<Timestamp>,
}

fn hook(envelope: &Envelope, d: &HookStateChange) -> Normalised {
    let service = ServiceRef::from_service_deployment_arn(&d.service_deployment_arn)
        .or_else(|| d.service_arn.as_deref().and_then(ServiceRef::from_service_arn));
    let Some(service) = service else {
        return Normalised::Irrelevant("hook event without a service");
    };
    one(Fact::EcsHook {
        service,
        deployment_arn: d.service_deployment_arn.clone(),
        stage_after_production_shift: d.lifecycle_stage.is_after_production_shift(),
        pause: d.hook_id.as_ref().filter(|_| d.hook_type.as_deref() == Some("PAUSE")).map(|hook_id| PauseFact {
            hook_id: hook_id.clone(),
            awaiting: d.event_name == HookEventName::AwaitingAction,
            stage: d.lifecycle_stage.as_str().to_owned(),
            expires_at: d.expires_at,
        }),
        // DESIGN.md: only ECS task and deployment events use `updatedAt`; a hook event is
        // timed by its envelope.
        at: envelope.time,
    })
}

fn target_of(instance_id: Option<&str>) -> Option<(String, String)> {
    codedeploy::ecs_target(instance_id?).map(|(c, s)| (c.to_owned(), s.to_owned()))
}

fn codedeploy_event(envelope: &Envelope, d: &codedeploy::StateChange, instance: bool) -> Normalised {
    let change = match (&d.state, instance) {
        (EventState::Start, false) => CodeDeployChange::Started,
        (EventState::Ready, _) => CodeDeployChange::Ready,
        (EventState::Success, false) => CodeDeployChange::Succeeded,
        (EventState::Failure, false) => CodeDeployChange::Failed { reason: None },
        (EventState::Stop, false) => CodeDeployChange::Stopped,
        (EventState::Success, true) => CodeDeployChange::TargetCutOver,
        (EventState::Failure, true) => CodeDeployChange::TargetFailed,
        _ => CodeDeployChange::Other,
    };
    one(Fact::CodeDeploy(CodeDeployFact {
        deployment_id: d.deployment_id.clone(),
        application: d.application.clone(),
        deployment_group: d.deployment_group.clone(),
        target: target_of(d.instance_id.as_deref()),
        rollback_of: None,
        change,
        at: envelope.time,
    }))
}

fn codedeploy_trigger(t: &Trigger, sns_timestamp: Option<Timestamp>) -> Normalised {
    let (change, at) = if t.is_instance_level() {
        if let Some(allow) = t.allow_traffic_succeeded() {
            (CodeDeployChange::TargetCutOver, allow.end_time.or(t.last_updated_at))
        } else {
            let change = match t.instance_status {
                Some(LifecycleStatus::Succeeded) => CodeDeployChange::TargetCutOver,
                Some(LifecycleStatus::Failed) => CodeDeployChange::TargetFailed,
                Some(LifecycleStatus::Ready) => CodeDeployChange::Ready,
                _ => CodeDeployChange::Other,
            };
            (change, t.last_updated_at)
        }
    } else {
        let reason = t.error_information.as_ref().and_then(|e| {
            let e = &e.0;
            match (&e.error_code, &e.error_message) {
                (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                (c, m) => c.clone().or_else(|| m.clone()),
            }
        });
        match &t.status {
            Some(DeploymentStatus::Created | DeploymentStatus::Queued | DeploymentStatus::InProgress) => {
                (CodeDeployChange::Started, t.create_time)
            }
            Some(DeploymentStatus::Ready) => (CodeDeployChange::Ready, t.create_time),
            Some(DeploymentStatus::Succeeded) => (CodeDeployChange::Succeeded, t.complete_time),
            Some(DeploymentStatus::Failed) => (CodeDeployChange::Failed { reason }, t.complete_time),
            Some(DeploymentStatus::Stopped) => (CodeDeployChange::Stopped, t.complete_time),
            _ => (CodeDeployChange::Other, t.complete_time.or(t.create_time)),
        }
    };
    let Some(at) = at.or(sns_timestamp) else {
        return Normalised::Irrelevant("CodeDeploy trigger without any time");
    };
    one(Fact::CodeDeploy(CodeDeployFact {
        deployment_id: t.deployment_id.clone(),
        application: t.application_name.clone(),
        deployment_group: t.deployment_group_name.clone(),
        target: target_of(t.instance_id.as_deref()),
        rollback_of: t.rollback_of().map(str::to_owned),
        change,
        at,
    }))
}

fn pipeline(envelope: &Envelope, d: &ExecutionStateChange) -> Normalised {
    let trigger = d.execution_trigger.as_ref();
    let get = |f: fn(&cutover_events::codepipeline::ExecutionTrigger) -> &Option<String>| {
        trigger.and_then(|t| f(t).clone()).filter(|s| !s.is_empty())
    };
    one(Fact::Pipeline(PipelineFact {
        pipeline: d.pipeline.clone(),
        execution_id: d.execution_id.clone(),
        state: d.state.clone(),
        stage: d.stage.clone(),
        action: d.action.clone(),
        is_approval: d.is_approval(),
        provider: d.action_type.as_ref().and_then(|t| t.provider.clone()),
        category: d.action_type.as_ref().and_then(|t| t.category.clone()),
        pipeline_version: d.version.as_ref().map(|v| v.0).filter(|v| *v >= 0.0 && v.fract() == 0.0).map(|v| v as u64),
        codedeploy_deployment_id: d.codedeploy_deployment_id().map(str::to_owned),
        trigger_type: get(|t| &t.trigger_type),
        trigger_detail: get(|t| &t.trigger_detail).or_else(|| get(|t| &t.author_display_name)),
        revision: get(|t| &t.commit_id),
        branch_or_tag: get(|t| &t.branch_name).or_else(|| get(|t| &t.tag_name)),
        at: envelope.time,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_refs_from_every_arn_form() {
        let a = ServiceRef::from_service_arn("arn:aws:ecs:eu-west-1:1:service/prod/web").unwrap();
        let b = ServiceRef::from_cluster_arn("arn:aws:ecs:eu-west-1:1:cluster/prod", "web");
        let c =
            ServiceRef::from_service_deployment_arn("arn:aws:ecs:eu-west-1:1:service-deployment/prod/web/abc").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.key.as_str(), "eu-west-1:1:prod/web");
        assert_eq!(a.key.account(), Some("1"));
        assert_eq!(ServiceKey::named("prod", "web").account(), None, "a name alone names no account");
        let old = ServiceRef::from_service_arn("arn:aws:ecs:us-east-1:1:service/web").unwrap();
        assert_eq!(old.cluster, "default");
        let other = ServiceRef::from_cluster_arn("arn:aws:ecs:eu-west-1:1:cluster/staging", "web");
        assert_ne!(a.key, other.key);
    }
}
