//! CodeDeploy: EventBridge `source: aws.codedeploy` details and deployment-group trigger
//! messages (published to SNS, delivered wrapped or raw).
//!
//! Triggers exist in two shapes, and both are accepted: the documented one (epoch-string
//! times, objects, `status: "Failed"`) and the one AWS really sends (Java date strings,
//! `completeTime: null`, upper-case status, JSON-encoded-string objects).

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::wire::{Embedded, LooseString, wire_enum};

wire_enum! {
    /// `detail.state` of the EventBridge deployment and instance events.
    pub enum EventState {
        Start = "START",
        Success = "SUCCESS",
        Failure = "FAILURE",
        Stop = "STOP",
        Ready = "READY",
    }
}

/// `detail` of `CodeDeploy Deployment State-change Notification` and
/// `CodeDeploy Instance State-change Notification` (the latter adds `instanceId`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    pub deployment_id: String,
    pub state: EventState,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub deployment_group: Option<String>,
    #[serde(default)]
    pub instance_group_id: Option<String>,
    /// For ECS targets, `<cluster>:<service>`.
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

wire_enum! {
    /// A deployment trigger's `status`, in either spelling (`IN_PROGRESS`, `InProgress`).
    pub enum DeploymentStatus {
        Created = "CREATED",
        Queued = "QUEUED",
        InProgress = "IN_PROGRESS",
        Baking = "BAKING",
        Ready = "READY",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Stopped = "STOPPED",
    }
}

wire_enum! {
    /// A lifecycle event's or an instance's status.
    pub enum LifecycleStatus {
        Pending = "Pending",
        InProgress = "InProgress",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Skipped = "Skipped",
        Ready = "Ready",
        /// AWS's own "Unknown" status.
        Indeterminate = "Unknown",
    }
}

/// A CodeDeploy deployment-group trigger message, deployment-level or instance-level.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub deployment_id: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub event_trigger_name: Option<String>,
    #[serde(default)]
    pub application_name: Option<String>,
    #[serde(default)]
    pub deployment_group_name: Option<String>,
    #[serde(default)]
    pub create_time: Option<Timestamp>,
    #[serde(default)]
    pub complete_time: Option<Timestamp>,
    #[serde(default)]
    pub status: Option<DeploymentStatus>,
    #[serde(default)]
    pub deployment_overview: Option<Embedded<Overview>>,
    #[serde(default)]
    pub error_information: Option<Embedded<ErrorInformation>>,
    #[serde(default)]
    pub rollback_information: Option<Embedded<RollbackInformation>>,
    /// Instance-level only; for ECS, `<cluster>:<service>`.
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(default)]
    pub instance_status: Option<LifecycleStatus>,
    #[serde(default)]
    pub last_updated_at: Option<Timestamp>,
    #[serde(default)]
    pub lifecycle_events: Option<Vec<LifecycleEvent>>,
}

impl Trigger {
    /// Instance-level triggers name an instance (target).
    pub fn is_instance_level(&self) -> bool {
        self.instance_id.is_some() || self.instance_status.is_some()
    }

    /// The deployment this one rolls back, if it is a rollback.
    pub fn rollback_of(&self) -> Option<&str> {
        self.rollback_information
            .as_ref()
            .and_then(|r| r.0.rollback_triggering_deployment_id.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// The AllowTraffic lifecycle event, when the instance trigger lists it as succeeded.
    pub fn allow_traffic_succeeded(&self) -> Option<&LifecycleEvent> {
        self.lifecycle_events.as_deref()?.iter().find(|e| {
            e.lifecycle_event == "AllowTraffic" && e.lifecycle_event_status == Some(LifecycleStatus::Succeeded)
        })
    }
}

/// Counts of targets per state, sent as numbers or numeric strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Overview {
    #[serde(default)]
    pub succeeded: Option<LooseString>,
    #[serde(default)]
    pub failed: Option<LooseString>,
    #[serde(default)]
    pub skipped: Option<LooseString>,
    #[serde(default)]
    pub in_progress: Option<LooseString>,
    #[serde(default)]
    pub pending: Option<LooseString>,
}

/// Why a deployment failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorInformation {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// Rollback links; `{}` when there is none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RollbackInformation {
    #[serde(default)]
    pub rollback_message: Option<String>,
    #[serde(default)]
    pub rollback_triggering_deployment_id: Option<String>,
    #[serde(default)]
    pub rollback_deployment_id: Option<String>,
}

/// One lifecycle event of an instance trigger.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleEvent {
    pub lifecycle_event: String,
    #[serde(default)]
    pub lifecycle_event_status: Option<LifecycleStatus>,
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    #[serde(default)]
    pub end_time: Option<Timestamp>,
}

/// Splits an ECS target id `<cluster>:<service>`.
pub fn ecs_target(instance_id: &str) -> Option<(&str, &str)> {
    if instance_id.starts_with("arn:") || instance_id.starts_with("i-") {
        return None;
    }
    let (cluster, service) = instance_id.split_once(':')?;
    (!cluster.is_empty() && !service.is_empty() && !service.contains(':')).then_some((cluster, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_target_ids() {
        assert_eq!(ecs_target("prod:web"), Some(("prod", "web")));
        assert_eq!(ecs_target("i-0000000aaaaaaaaaa"), None);
        assert_eq!(ecs_target("arn:aws:ec2:us-east-2:4:instance/i-4"), None);
    }

    #[test]
    fn captured_trigger_shape() {
        let t: Trigger = serde_json::from_str(
            r#"{"deploymentId":"d-R","createTime":"Fri Oct 14 08:46:19 UTC 2022","completeTime":null,
            "status":"IN_PROGRESS","rollbackInformation":"{\"RollbackTriggeringDeploymentId\":\"d-M\"}",
            "deploymentOverview":"{\"Succeeded\":1}"}"#,
        )
        .unwrap();
        assert_eq!(t.status, Some(DeploymentStatus::InProgress));
        assert_eq!(t.rollback_of(), Some("d-M"));
        assert!(t.complete_time.is_none());
        assert!(!t.is_instance_level());
    }
}

/// The input of a CodeDeploy AppSpec hook Lambda (BeforeInstall … AfterAllowTraffic).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleHookInvocation {
    pub deployment_id: String,
    pub lifecycle_event_hook_execution_id: String,
}
