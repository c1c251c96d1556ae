//! `source: aws.ecs` event details: task, deployment, hook and service-action state changes.
//!
//! Only the fields Cutover reads are modelled; everything else is skipped, because ECS adds
//! fields without notice. A modelled field of the wrong type makes the event malformed.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::wire::{LooseString, wire_enum};

wire_enum! {
    /// A task's `lastStatus` / `desiredStatus`.
    pub enum TaskStatus {
        Provisioning = "PROVISIONING",
        Pending = "PENDING",
        Activating = "ACTIVATING",
        Running = "RUNNING",
        Deactivating = "DEACTIVATING",
        Stopping = "STOPPING",
        Deprovisioning = "DEPROVISIONING",
        Stopped = "STOPPED",
        Deleted = "DELETED",
    }
}

wire_enum! {
    /// Why a task stopped (`stopCode`).
    pub enum StopCode {
        TaskFailedToStart = "TaskFailedToStart",
        EssentialContainerExited = "EssentialContainerExited",
        UserInitiated = "UserInitiated",
        ServiceSchedulerInitiated = "ServiceSchedulerInitiated",
        SpotInterruption = "SpotInterruption",
        TerminationNotice = "TerminationNotice",
        InfrastructureHealth = "InfrastructureHealth",
    }
}

/// `detail` of `ECS Task State Change`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateChange {
    /// The task's ARN (`task/<cluster>/<id>`, or old-style `task/<id>`).
    pub task_arn: String,
    /// The cluster's ARN.
    pub cluster_arn: String,
    /// `service:<name>` for service tasks, `family:<family>` for RunTask tasks.
    #[serde(default)]
    pub group: Option<String>,
    /// For service tasks, the deployment that started it (`ecs-svc/<digits>`).
    #[serde(default)]
    pub started_by: Option<String>,
    pub last_status: TaskStatus,
    pub desired_status: TaskStatus,
    /// The task definition ARN as AWS wrote it (the revision may be missing).
    #[serde(default)]
    pub task_definition_arn: Option<String>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub stop_code: Option<StopCode>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub stopping_at: Option<Timestamp>,
    #[serde(default)]
    pub cpu: Option<LooseString>,
    #[serde(default)]
    pub memory: Option<LooseString>,
    /// Incremented at each state change of the task; equal versions are duplicates.
    pub version: u64,
}

/// One container of a task event.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub name: Option<String>,
    /// The image reference; absent in some official samples.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub last_status: Option<TaskStatus>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Sent as a number, a numeric string, or the string `"null"`.
    #[serde(default)]
    pub cpu: Option<LooseString>,
}

wire_enum! {
    /// `eventName` of `ECS Deployment State Change`.
    pub enum DeploymentEventName {
        InProgress = "SERVICE_DEPLOYMENT_IN_PROGRESS",
        Completed = "SERVICE_DEPLOYMENT_COMPLETED",
        Failed = "SERVICE_DEPLOYMENT_FAILED",
    }
}

/// `detail` of `ECS Deployment State Change`. The service is only in `resources[0]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStateChange {
    #[serde(default)]
    pub event_type: Option<String>,
    pub event_name: DeploymentEventName,
    /// `ecs-svc/<digits>`.
    pub deployment_id: String,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl DeploymentStateChange {
    /// The circuit breaker's rollback start says "rolling back to deploymentId …".
    pub fn is_rollback(&self) -> bool {
        self.reason.as_deref().is_some_and(|r| r.to_ascii_lowercase().contains("rolling back"))
    }

    /// The deployment a rollback returns to, when the reason names it.
    pub fn rollback_target(&self) -> Option<&str> {
        let reason = self.reason.as_deref()?;
        let i = reason.find("deploymentId ")?;
        let rest = &reason[i + "deploymentId ".len()..];
        let id = rest.trim_end_matches('.').split_whitespace().next()?.trim_end_matches('.');
        id.starts_with("ecs-svc/").then_some(id)
    }
}

wire_enum! {
    /// `eventName` of `ECS Hook State Change`.
    pub enum HookEventName {
        InProgress = "HOOK_IN_PROGRESS",
        AwaitingAction = "HOOK_AWAITING_ACTION",
        Succeeded = "HOOK_SUCCEEDED",
        Failed = "HOOK_FAILED",
        TimedOut = "HOOK_TIMED_OUT",
    }
}

wire_enum! {
    /// An ECS-native deployment's lifecycle stage, in the order ECS runs them.
    pub enum LifecycleStage {
        ReconcileService = "RECONCILE_SERVICE",
        PreScaleUp = "PRE_SCALE_UP",
        ScaleUp = "SCALE_UP",
        PostScaleUp = "POST_SCALE_UP",
        TestTrafficShift = "TEST_TRAFFIC_SHIFT",
        PostTestTrafficShift = "POST_TEST_TRAFFIC_SHIFT",
        PreProductionTrafficShift = "PRE_PRODUCTION_TRAFFIC_SHIFT",
        ProductionTrafficShift = "PRODUCTION_TRAFFIC_SHIFT",
        PostProductionTrafficShift = "POST_PRODUCTION_TRAFFIC_SHIFT",
        BakeTime = "BAKE_TIME",
        CleanUp = "CLEAN_UP",
    }
}

impl LifecycleStage {
    /// True once the production traffic shift has finished: the green revision has all of it.
    pub fn is_after_production_shift(&self) -> bool {
        matches!(self, Self::PostProductionTrafficShift | Self::BakeTime | Self::CleanUp)
    }
}

/// `detail` of `ECS Hook State Change` (ECS-native blue/green, canary, linear).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookStateChange {
    #[serde(default)]
    pub event_type: Option<String>,
    pub event_name: HookEventName,
    #[serde(default)]
    pub hook_id: Option<String>,
    #[serde(default)]
    pub hook_type: Option<String>,
    pub lifecycle_stage: LifecycleStage,
    #[serde(default)]
    pub cluster_arn: Option<String>,
    #[serde(default)]
    pub service_arn: Option<String>,
    /// `service-deployment/<cluster>/<service>/<id>`: the deployment's key.
    pub service_deployment_arn: String,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// `detail` of `ECS Service Action` (steady state, placement failures, …).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAction {
    #[serde(default)]
    pub event_type: Option<String>,
    pub event_name: String,
    #[serde(default)]
    pub cluster_arn: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The last path segment of an ARN's resource (`…:cluster/prod` → `prod`).
pub fn arn_name(arn: &str) -> &str {
    let resource = arn.rsplit(':').next().unwrap_or(arn);
    resource.rsplit('/').next().unwrap_or(resource)
}

/// The tag of an image reference, if it has one (`repo:v1.2`, `host:5000/repo:v1@sha256:…`).
pub fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_segment_start = without_digest.rfind('/').map_or(0, |i| i + 1);
    let last = &without_digest[last_segment_start..];
    let (_, tag) = last.split_once(':')?;
    (!tag.is_empty()).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("123.dkr.ecr.eu-west-1.amazonaws.com/web:v123"), Some("v123"));
        assert_eq!(image_tag("localhost:5000/web"), None);
        assert_eq!(image_tag("localhost:5000/web:1.0@sha256:abc"), Some("1.0"));
        assert_eq!(image_tag("nginx@sha256:abc"), None);
        assert_eq!(image_tag("nginx"), None);
    }

    #[test]
    fn arn_names() {
        assert_eq!(arn_name("arn:aws:ecs:us-west-2:1:cluster/prod"), "prod");
        assert_eq!(arn_name("arn:aws:ecs:us-west-2:1:service/prod/web"), "web");
        assert_eq!(arn_name("plain"), "plain");
    }

    #[test]
    fn rollback_reason() {
        let d = DeploymentStateChange {
            event_type: None,
            event_name: DeploymentEventName::InProgress,
            deployment_id: "ecs-svc/2".into(),
            updated_at: None,
            reason: Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.".into()),
        };
        assert!(d.is_rollback());
        assert_eq!(d.rollback_target(), Some("ecs-svc/1"));
    }
}

/// The payload ECS passes to a Lambda lifecycle hook of an ECS-native deployment. Not an SQS
/// input: a future hook integration reads it; its `productionTrafficWeights` are the only
/// place outside the API where ECS states the weights.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHookPayload {
    pub execution_id: String,
    pub lifecycle_stage: LifecycleStage,
    /// The service-deployment ARN.
    pub resource_arn: String,
    pub execution_details: LifecycleHookExecutionDetails,
}

/// `executionDetails` of a [`LifecycleHookPayload`].
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHookExecutionDetails {
    #[serde(default)]
    pub service_arn: Option<String>,
    #[serde(default)]
    pub target_service_revision_arn: Option<String>,
    /// Service-revision ARN → percent.
    #[serde(default)]
    pub test_traffic_weights: std::collections::BTreeMap<String, f64>,
    #[serde(default)]
    pub production_traffic_weights: std::collections::BTreeMap<String, f64>,
}

/// What a Lambda lifecycle hook returns.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHookResponse {
    pub hook_status: String,
    #[serde(default)]
    pub call_back_delay: Option<u64>,
    #[serde(default)]
    pub hook_details: Option<serde_json::Value>,
}
