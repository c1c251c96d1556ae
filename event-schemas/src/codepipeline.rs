//! `source: aws.codepipeline`: pipeline, stage and action execution state changes, and the
//! SNS message a manual-approval action publishes.
//!
//! `detail.version` is the pipeline *structure* version and arrives as `1`, `4.0` or `"2.0"`;
//! `detail.type.version` arrives as `"1"` or `1`.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::wire::{LooseNumber, LooseString, wire_enum};

wire_enum! {
    /// Pipeline, stage and action execution states.
    pub enum ExecutionState {
        Started = "STARTED",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Canceled = "CANCELED",
        Stopped = "STOPPED",
        Stopping = "STOPPING",
        Superseded = "SUPERSEDED",
        Resumed = "RESUMED",
        Abandoned = "ABANDONED",
    }
}

/// `detail` of any CodePipeline execution state change.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ExecutionStateChange {
    pub pipeline: String,
    #[serde(rename = "execution-id")]
    pub execution_id: String,
    pub state: ExecutionState,
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default, rename = "start-time")]
    pub start_time: Option<Timestamp>,
    #[serde(default, rename = "execution-trigger")]
    pub execution_trigger: Option<ExecutionTrigger>,
    #[serde(default, rename = "execution-result")]
    pub execution_result: Option<ExecutionResult>,
    #[serde(default, rename = "type")]
    pub action_type: Option<ActionType>,
    /// The pipeline structure version (not an ordering counter).
    #[serde(default)]
    pub version: Option<LooseNumber>,
    #[serde(default, rename = "pipeline-execution-attempt")]
    pub pipeline_execution_attempt: Option<LooseNumber>,
    #[serde(default, rename = "stop-execution-comments")]
    pub stop_execution_comments: Option<String>,
}

/// What started a pipeline execution. Git-based triggers add the commit fields.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExecutionTrigger {
    #[serde(default, rename = "trigger-type")]
    pub trigger_type: Option<String>,
    #[serde(default, rename = "trigger-detail")]
    pub trigger_detail: Option<String>,
    #[serde(default, rename = "commit-id")]
    pub commit_id: Option<String>,
    #[serde(default, rename = "branch-name")]
    pub branch_name: Option<String>,
    #[serde(default, rename = "tag-name")]
    pub tag_name: Option<String>,
    #[serde(default, rename = "full-repository-name")]
    pub full_repository_name: Option<String>,
    #[serde(default, rename = "author-display-name")]
    pub author_display_name: Option<String>,
    #[serde(default, rename = "provider-type")]
    pub provider_type: Option<String>,
}

/// An action's result; for a CodeDeploy action `external_execution_id` is the `d-…` id.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExecutionResult {
    #[serde(default, rename = "external-execution-id")]
    pub external_execution_id: Option<String>,
    #[serde(default, rename = "external-execution-summary")]
    pub external_execution_summary: Option<String>,
    #[serde(default, rename = "external-execution-url")]
    pub external_execution_url: Option<String>,
    #[serde(default, rename = "error-code")]
    pub error_code: Option<String>,
}

/// An action's type: `{owner, provider, category, version}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ActionType {
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub version: Option<LooseString>,
}

impl ExecutionStateChange {
    /// The CodeDeploy deployment this action ran, when it is a CodeDeploy action that names one.
    pub fn codedeploy_deployment_id(&self) -> Option<&str> {
        let provider = self.action_type.as_ref()?.provider.as_deref()?;
        if !provider.starts_with("CodeDeploy") {
            return None;
        }
        let id = self.execution_result.as_ref()?.external_execution_id.as_deref()?;
        id.starts_with("d-").then_some(id)
    }

    /// True for a manual approval action.
    pub fn is_approval(&self) -> bool {
        self.action_type.as_ref().and_then(|t| t.category.as_deref()) == Some("Approval")
    }
}

/// The SNS message a manual-approval action publishes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalNotification {
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub console_link: Option<String>,
    pub approval: Approval,
}

/// The `approval` object of an [`ApprovalNotification`].
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub pipeline_name: String,
    pub stage_name: String,
    pub action_name: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub expires: Option<Timestamp>,
    #[serde(default)]
    pub external_entity_link: Option<String>,
    #[serde(default)]
    pub approval_review_link: Option<String>,
    #[serde(default)]
    pub custom_data: Option<String>,
}
