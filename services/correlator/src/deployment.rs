//! One deployment: what is known about it, the evidence in hand, and what was decided.

use cutover_events::Timestamp;
use cutover_events::annotation::DeployAnnotation;
use cutover_events::emitted::{AnnotationContext, DetailType, LifecycleDetail, Percent, PipelineContext, Strategy};
use serde::{Deserialize, Serialize};

use crate::facts::ServiceKey;
use crate::routing::Identity;

/// A deployment followed by the correlator, keyed by its AWS id. Its parts are types: where it
/// deploys ([`Target`]), what it deploys ([`Release`]), its place in a rollback
/// ([`RollbackRelation`]), its Slack thread ([`SlackThread`]), the evidence in hand and the
/// steps decided. Serialised (snapshots), the parts are flattened: the fields keep the names
/// they had when they were one flat struct.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub strategy: Strategy,
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub release: Release,
    #[serde(flatten)]
    pub rollback: RollbackRelation,
    /// The CodePipeline execution that ran it.
    pub pipeline_execution: Option<String>,
    /// Other ids of the same rollout (`ecs-svc/…` ↔ service-deployment ARN).
    pub aliases: Vec<String>,
    /// Earliest and latest AWS time among its facts.
    pub first_seen: Timestamp,
    pub last_activity: Timestamp,
    /// Evidence in hand, each the AWS time of its first proof.
    pub evidence: Evidence,
    /// What was decided, in order.
    pub history: Vec<Step>,
    #[serde(flatten)]
    pub slack: SlackThread,
    /// CI's deploy annotation joined to it.
    #[serde(default)]
    pub annotation: Option<DeployAnnotation>,
    /// CodeDeploy blue/green: the old version is kept until then (the rollback window).
    #[serde(default)]
    pub rollback_window_until: Option<Timestamp>,
    /// The CloudFront invalidations decided at its cut-over.
    #[serde(default)]
    pub invalidations: Vec<InvalidationRecord>,
    /// ECS-native: the pause hook it waits at for someone to continue, while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Paused>,
    /// CodeDeploy blue/green: AWS time it said the replacement is installed and it waits to
    /// reroute production traffic (`READY`, a `deploymentReadyOption` wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_since: Option<Timestamp>,
}

/// A pause hook an ECS-native deployment waits at (`HOOK_AWAITING_ACTION`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub hook_id: String,
    pub stage: String,
    /// AWS time of the event that said it waits.
    pub since: Timestamp,
    /// When its timeout acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Where a deployment deploys: its ECS service and CodeDeploy group, and the environment its
/// route names. Each is filled once known and never changed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Target {
    /// The ECS service (`ServiceRef::key`: region, account, cluster and name), once known.
    pub service_key: Option<ServiceKey>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub application: Option<String>,
    pub deployment_group: Option<String>,
    pub environment: Option<String>,
}

/// What a deployment deploys, and what it replaces.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Release {
    pub task_definition: Option<String>,
    pub previous_task_definition: Option<String>,
    /// The image tag.
    pub version: Option<String>,
}

/// A deployment's place in a rollback, and whether a newer one replaced it. Written only by
/// the correlator's rollback room (`link_rollback`, the circuit breaker's target, superseding);
/// everything else reads it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RollbackRelation {
    /// The deployment this one undoes.
    #[serde(rename = "rollback_of")]
    pub(crate) of: Option<String>,
    /// ECS circuit breaker: the deployment this rollback returns to.
    #[serde(rename = "rollback_target")]
    pub(crate) target: Option<String>,
    /// The deployment that undoes this one.
    #[serde(rename = "rolled_back_by")]
    pub(crate) by: Option<String>,
    /// The deployment that replaced this one before it finished.
    pub(crate) superseded_by: Option<String>,
}

impl RollbackRelation {
    /// The deployment this one undoes.
    pub fn of(&self) -> Option<&str> {
        self.of.as_deref()
    }

    /// ECS circuit breaker: the deployment this rollback returns to.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The deployment that undoes this one.
    pub fn by(&self) -> Option<&str> {
        self.by.as_deref()
    }

    /// The deployment that replaced this one before it finished.
    pub fn superseded_by(&self) -> Option<&str> {
        self.superseded_by.as_deref()
    }

    /// It is a rollback: it undoes a deployment, or the circuit breaker named where it returns.
    pub fn is_rollback(&self) -> bool {
        self.of.is_some() || self.target.is_some()
    }
}

/// Where a deployment stands in Slack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SlackFields", into = "SlackFields")]
pub enum SlackThread {
    /// Nothing posted: no step decided yet, or a rollback that reports in the thread of the
    /// deployment it undoes.
    #[default]
    Unposted,
    /// Its post waits for its service's tags (routes select on them), or its next step.
    Held,
    /// Its own message is in `channel`; it never moves.
    Posted { channel: String },
}

impl SlackThread {
    /// The channel of its own message, once posted.
    pub fn channel(&self) -> Option<&str> {
        match self {
            Self::Posted { channel } => Some(channel),
            Self::Unposted | Self::Held => None,
        }
    }
}

/// [`SlackThread`] as snapshots have always written it: `channel`, `post_pending`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SlackFields {
    channel: Option<String>,
    #[serde(default)]
    post_pending: bool,
}

impl From<SlackFields> for SlackThread {
    fn from(f: SlackFields) -> Self {
        match (f.channel, f.post_pending) {
            (Some(channel), _) => Self::Posted { channel },
            (None, true) => Self::Held,
            (None, false) => Self::Unposted,
        }
    }
}

impl From<SlackThread> for SlackFields {
    fn from(t: SlackThread) -> Self {
        match t {
            SlackThread::Unposted => Self::default(),
            SlackThread::Held => Self { channel: None, post_pending: true },
            SlackThread::Posted { channel } => Self { channel: Some(channel), post_pending: false },
        }
    }
}

/// A CloudFront invalidation decided at a cut-over, until its completion is reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationRecord {
    pub distribution_id: String,
    pub paths: Vec<String>,
    pub caller_reference: String,
    /// AWS time of the cut-over.
    pub decided_at: Timestamp,
    /// Its completion was replied in Slack.
    pub reported: bool,
}

/// Proofs collected from events; decisions are taken from them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Evidence {
    pub started: Option<Timestamp>,
    /// An explicit cut-over proof (CodeDeploy target success, ECS-native stage, weight 100).
    pub cut_over: Option<Timestamp>,
    pub succeeded: Option<Timestamp>,
    pub failed: Option<(Timestamp, String)>,
}

/// One decided lifecycle event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub detail_type: DetailType,
    pub at: Timestamp,
    #[serde(default)]
    pub percent: Option<f64>,
}

impl Deployment {
    /// A pause hook's state came: waiting (the latest such event wins) or ended (the hook
    /// it waited at, only). True when what it waits at changed.
    pub fn pause(&mut self, p: crate::facts::PauseFact, at: Timestamp) -> bool {
        let before = self.paused.clone();
        if p.awaiting {
            if self.paused.as_ref().is_none_or(|w| w.since <= at) {
                self.paused = Some(Paused { hook_id: p.hook_id, stage: p.stage, since: at, expires_at: p.expires_at });
            }
        } else if self.paused.as_ref().is_some_and(|w| w.hook_id == p.hook_id) {
            self.paused = None;
        }
        before != self.paused
    }

    pub(crate) fn new(id: &str, strategy: Strategy, at: Timestamp) -> Self {
        Self {
            id: id.to_owned(),
            strategy,
            target: Target::default(),
            release: Release::default(),
            rollback: RollbackRelation::default(),
            pipeline_execution: None,
            aliases: Vec::new(),
            first_seen: at,
            last_activity: at,
            evidence: Evidence::default(),
            history: Vec::new(),
            slack: SlackThread::default(),
            annotation: None,
            rollback_window_until: None,
            invalidations: Vec::new(),
            paused: None,
            ready_since: None,
        }
    }

    pub(crate) fn touch(&mut self, at: Timestamp) {
        self.first_seen = self.first_seen.min(at);
        self.last_activity = self.last_activity.max(at);
    }

    /// When a lifecycle event was decided.
    pub fn decided(&self, detail_type: DetailType) -> Option<Timestamp> {
        self.history.iter().find(|s| s.detail_type == detail_type).map(|s| s.at)
    }

    pub fn started_at(&self) -> Option<Timestamp> {
        self.decided(DetailType::Started)
    }

    pub fn cut_over_at(&self) -> Option<Timestamp> {
        self.decided(DetailType::CutOver)
    }

    /// `Completed` or `Failed`, with its time.
    pub fn terminal(&self) -> Option<(DetailType, Timestamp)> {
        self.history
            .iter()
            .find(|s| matches!(s.detail_type, DetailType::Completed | DetailType::Failed))
            .map(|s| (s.detail_type, s.at))
    }

    pub fn is_in_flight(&self) -> bool {
        self.terminal().is_none()
    }

    /// Since when it waits to reroute (CodeDeploy `READY`), while it does: in flight and no
    /// production traffic moved yet.
    pub fn waiting_to_reroute(&self) -> Option<Timestamp> {
        self.ready_since.filter(|_| {
            self.is_in_flight()
                && self.evidence.cut_over.is_none()
                && self.cut_over_at().is_none()
                && self.decided(DetailType::TrafficShifted).is_none()
        })
    }

    /// A settle may still decide something for it: it has not started, is in flight, or failed
    /// and may yet be rolled back. Once false it stays false (no decision is taken back).
    pub fn may_settle(&self) -> bool {
        self.started_at().is_none()
            || self.is_in_flight()
            || (self.terminal().is_some_and(|(t, _)| t == DetailType::Failed)
                && self.decided(DetailType::RolledBack).is_none())
    }

    /// It failed and no rollback of it is linked: only a rollback linked later can decide
    /// anything more for it (`Rolled Back`, once that rollback cuts over).
    pub fn waits_for_rollback(&self) -> bool {
        self.started_at().is_some()
            && self.terminal().is_some_and(|(t, _)| t == DetailType::Failed)
            && self.rollback.by.is_none()
    }

    /// Its own Slack message has been posted (it has a channel and a step): an update applies.
    pub fn has_message(&self) -> bool {
        self.slack.channel().is_some() && !self.history.is_empty()
    }

    /// `<cluster>/<service>`, the key of its ECS service's annotations, once both are known
    /// (an annotation's account is matched on its own: [`Deployment::in_account`]).
    pub fn ecs_service(&self) -> Option<ServiceKey> {
        Some(ServiceKey::named(self.target.cluster.as_deref()?, self.target.service.as_deref()?))
    }

    /// The key of its ECS service's tags: `<region>:<account>:<cluster>/<service>` when known
    /// (so `prod/web` in two regions or accounts never share tags), else `<cluster>/<service>`
    /// (CodeDeploy's target ids name neither region nor account).
    pub fn tags_key(&self) -> Option<ServiceKey> {
        self.target.service_key.clone().or_else(|| self.ecs_service())
    }

    /// Its AWS account, when its service's ARN named one.
    pub fn account(&self) -> Option<&str> {
        self.target.service_key.as_ref()?.account()
    }

    /// Whether something from `account` (unknown: any) can be about this deployment.
    pub fn in_account(&self, account: Option<&str>) -> bool {
        match (self.account(), account.filter(|a| !a.is_empty())) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        }
    }

    /// Percentages already reported.
    pub fn shifted(&self, percent: f64) -> bool {
        self.history.iter().any(|s| s.detail_type == DetailType::TrafficShifted && s.percent == Some(percent))
    }

    /// When the deployment stops needing state: its last decision, or its last activity.
    pub fn settled_at(&self) -> Timestamp {
        let last = self.history.iter().map(|s| s.at).max().unwrap_or(self.last_activity);
        last.max(self.last_activity)
    }

    pub fn identity(&self) -> Identity<'_> {
        Identity {
            cluster: self.target.cluster.as_deref(),
            service: self.target.service.as_deref(),
            application: self.target.application.as_deref(),
            deployment_group: self.target.deployment_group.as_deref(),
            environment: self.target.environment.as_deref(),
            tags: None,
        }
    }

    /// The `detail` of a lifecycle event about this deployment.
    pub(crate) fn detail(
        &self,
        step: &Step,
        observed_at: Timestamp,
        pipeline: Option<PipelineContext>,
    ) -> LifecycleDetail {
        LifecycleDetail {
            deployment_id: self.id.clone(),
            cluster: self.target.cluster.clone(),
            service: self.target.service.clone(),
            environment: self.target.environment.clone(),
            strategy: self.strategy,
            task_definition: self.release.task_definition.clone(),
            previous_task_definition: self.release.previous_task_definition.clone(),
            version: self.release.version.clone(),
            at: step.at,
            observed_at,
            traffic_percent: step.percent.map(Percent),
            application: self.target.application.clone(),
            deployment_group: self.target.deployment_group.clone(),
            rollback_of: self.rollback.of.clone(),
            pipeline,
            reason: (step.detail_type == DetailType::Failed)
                .then(|| self.evidence.failed.as_ref().map(|(_, r)| r.clone()))
                .flatten(),
            rolled_back_by: (step.detail_type == DetailType::RolledBack).then(|| self.rollback.by.clone()).flatten(),
            trace_id: None,
            annotation: self.annotation.as_ref().map(AnnotationContext::from),
        }
    }
}

/// The OCI labels of a task definition's image (`org.opencontainers.image.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLabels {
    /// `.revision`: the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `.source`: the repository URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `.version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `.created`: when the image was built (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}
