//! One deployment: what is known about it, the evidence in hand, and what was decided.

use cutover_events::Timestamp;
use cutover_events::annotation::DeployAnnotation;
use cutover_events::emitted::{AnnotationContext, DetailType, LifecycleDetail, Percent, PipelineContext, Strategy};
use serde::{Deserialize, Serialize};

use crate::routing::Identity;

/// A deployment followed by the correlator, keyed by its AWS id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub strategy: Strategy,
    /// The ECS service (`ServiceRef::key`), once known.
    pub service_key: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub application: Option<String>,
    pub deployment_group: Option<String>,
    pub task_definition: Option<String>,
    pub previous_task_definition: Option<String>,
    pub version: Option<String>,
    /// The deployment this one undoes.
    pub rollback_of: Option<String>,
    /// ECS circuit breaker: the deployment this rollback returns to.
    pub rollback_target: Option<String>,
    /// The deployment that undoes this one.
    pub rolled_back_by: Option<String>,
    /// The deployment that replaced this one before it finished.
    pub superseded_by: Option<String>,
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
    /// Where its top-level Slack message went, once posted; it never moves.
    pub channel: Option<String>,
    pub environment: Option<String>,
    /// CI's deploy annotation joined to it.
    #[serde(default)]
    pub annotation: Option<DeployAnnotation>,
    /// CodeDeploy blue/green: the old version is kept until then (the rollback window).
    #[serde(default)]
    pub rollback_window_until: Option<Timestamp>,
    /// The CloudFront invalidations decided at its cut-over.
    #[serde(default)]
    pub invalidations: Vec<InvalidationRecord>,
    /// Its post waits for its service's tags (routes select on them).
    #[serde(default)]
    pub post_pending: bool,
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

/// `<cluster>/<service>`: the key under which an ECS service's tags and deploy annotations are
/// kept.
pub fn ecs_service(cluster: &str, service: &str) -> String {
    format!("{cluster}/{service}")
}

impl Deployment {
    pub(crate) fn new(id: &str, strategy: Strategy, at: Timestamp) -> Self {
        Self {
            id: id.to_owned(),
            strategy,
            service_key: None,
            cluster: None,
            service: None,
            application: None,
            deployment_group: None,
            task_definition: None,
            previous_task_definition: None,
            version: None,
            rollback_of: None,
            rollback_target: None,
            rolled_back_by: None,
            superseded_by: None,
            pipeline_execution: None,
            aliases: Vec::new(),
            first_seen: at,
            last_activity: at,
            evidence: Evidence::default(),
            history: Vec::new(),
            channel: None,
            environment: None,
            annotation: None,
            rollback_window_until: None,
            invalidations: Vec::new(),
            post_pending: false,
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

    /// Its own Slack message has been posted (it has a channel and a step): an update applies.
    pub fn has_message(&self) -> bool {
        self.channel.is_some() && !self.history.is_empty()
    }

    /// `<cluster>/<service>`, the key of its ECS service's annotations, once both are known
    /// (an annotation's account is matched on its own: [`Deployment::in_account`]).
    pub fn ecs_service(&self) -> Option<String> {
        Some(ecs_service(self.cluster.as_deref()?, self.service.as_deref()?))
    }

    /// The key of its ECS service's tags: `<region>:<account>:<cluster>/<service>` when known
    /// (so `prod/web` in two regions or accounts never share tags), else `<cluster>/<service>`
    /// (CodeDeploy's target ids name neither region nor account).
    pub fn tags_key(&self) -> Option<String> {
        self.service_key.clone().or_else(|| self.ecs_service())
    }

    /// Its AWS account, when its service's ARN named one.
    pub fn account(&self) -> Option<&str> {
        self.service_key.as_deref()?.split(':').nth(1).filter(|a| !a.is_empty())
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
            cluster: self.cluster.as_deref(),
            service: self.service.as_deref(),
            application: self.application.as_deref(),
            deployment_group: self.deployment_group.as_deref(),
            environment: self.environment.as_deref(),
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
            cluster: self.cluster.clone(),
            service: self.service.clone(),
            environment: self.environment.clone(),
            strategy: self.strategy,
            task_definition: self.task_definition.clone(),
            previous_task_definition: self.previous_task_definition.clone(),
            version: self.version.clone(),
            at: step.at,
            observed_at,
            traffic_percent: step.percent.map(Percent),
            application: self.application.clone(),
            deployment_group: self.deployment_group.clone(),
            rollback_of: self.rollback_of.clone(),
            pipeline,
            reason: (step.detail_type == DetailType::Failed)
                .then(|| self.evidence.failed.as_ref().map(|(_, r)| r.clone()))
                .flatten(),
            rolled_back_by: (step.detail_type == DetailType::RolledBack).then(|| self.rolled_back_by.clone()).flatten(),
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
