//! The lifecycle events Cutover emits (EventBridge `source: cutover`). A public contract:
//! field names and formats change only with a new schema version (see `schemas/`).

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize, Serializer};

use crate::time::Timestamp;

/// The EventBridge `source` of every event Cutover emits.
pub const SOURCE: &str = "cutover";

/// The lifecycle steps, in the only order they are emitted for one deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DetailType {
    #[serde(rename = "Deployment Started")]
    Started,
    #[serde(rename = "Deployment Traffic Shifted")]
    TrafficShifted,
    #[serde(rename = "Deployment Cut Over")]
    CutOver,
    #[serde(rename = "Deployment Completed")]
    Completed,
    #[serde(rename = "Deployment Failed")]
    Failed,
    #[serde(rename = "Deployment Rolled Back")]
    RolledBack,
}

impl DetailType {
    /// Every detail type, in lifecycle order.
    pub const ALL: [Self; 6] =
        [Self::Started, Self::TrafficShifted, Self::CutOver, Self::Completed, Self::Failed, Self::RolledBack];

    /// The EventBridge `detail-type` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Started => "Deployment Started",
            Self::TrafficShifted => "Deployment Traffic Shifted",
            Self::CutOver => "Deployment Cut Over",
            Self::Completed => "Deployment Completed",
            Self::Failed => "Deployment Failed",
            Self::RolledBack => "Deployment Rolled Back",
        }
    }
}

impl fmt::Display for DetailType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The events of a pipeline's manual approval, emitted besides the lifecycle ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ApprovalDetailType {
    /// A manual approval action started: someone is asked to approve an execution.
    #[serde(rename = "Approval Waiting")]
    Waiting,
    /// It was approved, rejected, expired or abandoned.
    #[serde(rename = "Approval Decided")]
    Decided,
}

impl ApprovalDetailType {
    pub const ALL: [Self; 2] = [Self::Waiting, Self::Decided];

    /// The EventBridge `detail-type` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "Approval Waiting",
            Self::Decided => "Approval Decided",
        }
    }
}

impl fmt::Display for ApprovalDetailType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event of an action a person took from Slack, emitted besides the lifecycle ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ActionDetailType {
    /// Someone allowed to asked Cutover to act (`/cutover rollback`, `/cutover deploy`, a
    /// button), and Cutover decided the AWS call.
    #[serde(rename = "Action Taken")]
    Taken,
}

impl ActionDetailType {
    pub const ALL: [Self; 1] = [Self::Taken];

    /// The EventBridge `detail-type` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Taken => "Action Taken",
        }
    }
}

impl fmt::Display for ActionDetailType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `detail` of `Action Taken`: who asked for what, where, and the AWS call Cutover makes for
/// them (once, by its controls lane; the call's outcome is in the log and the metrics).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionDetail {
    /// `action/<request id>`: names the event.
    pub action_id: String,
    /// Slack's id of the request (the command's or the click's `trigger_id`).
    pub request_id: String,
    /// The Slack user id of who asked.
    pub user: String,
    /// The Slack channel id where they asked.
    pub channel: String,
    /// What they asked for: `rollback`, `deploy`, `approve`, `reject`, `continue`, `reroute`.
    pub asked: String,
    /// The AWS call (`ecs:UpdateService`, `codedeploy:StopDeployment`,
    /// `ecs:StopServiceDeployment`, `codepipeline:StartPipelineExecution`,
    /// `codepipeline:PutApprovalResult`, `ecs:ContinueServiceDeployment`,
    /// `codedeploy:ContinueDeployment`).
    pub operation: String,
    /// What the call names: the task definition rolled back to, the CodeDeploy deployment,
    /// the service deployment ARN, the pipeline, or the pause hook's id.
    pub resource: String,
    /// The deployment it acts on, or the approval (`approval/…`); none for a deploy, which
    /// starts one.
    pub deployment_id: Option<String>,
    /// The pipeline a deploy starts.
    pub pipeline: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    /// When they asked (Cutover's clock at the request: Slack's requests carry no AWS time).
    pub at: Timestamp,
    /// When Cutover decided it.
    pub observed_at: Timestamp,
}

/// How a manual approval ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalOutcome {
    Approved,
    Rejected,
    /// Nobody answered before it expired (CodePipeline fails the action).
    Expired,
    /// The execution went on without it (superseded, stopped, abandoned).
    Abandoned,
}

impl ApprovalOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Abandoned => "abandoned",
        }
    }
}

/// What an earlier environment of the pipeline runs now, from Cutover's own state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentNow {
    /// The environment (its route's), else the cluster.
    pub environment: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    /// The version that has its traffic (image tag), when Cutover saw it cut over.
    pub version: Option<String>,
    /// When that version took the traffic.
    pub cut_over_at: Option<Timestamp>,
    /// The deployment that put it there.
    pub deployment_id: Option<String>,
    /// The pipeline execution that ran that deployment, where known.
    pub execution_id: Option<String>,
}

/// A newer execution of the same pipeline, named in an approval's warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OtherExecution {
    pub execution_id: String,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// Its source revision (commit), where known.
    pub revision: Option<String>,
}

/// `detail` of `Approval Waiting` and `Approval Decided`.
///
/// The approval is named by `approval_id` (`approval/<execution>/<stage>/<action>`). The
/// decision's fields are present on `Approval Decided` only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalDetail {
    /// `approval/<execution id>/<stage>/<action>`.
    pub approval_id: String,
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    /// The environment the next deploy action of the pipeline leads to, where known.
    pub environment: Option<String>,
    /// The execution's source revision (commit id), where known.
    pub revision: Option<String>,
    /// Its summary (commit message), where known.
    pub revision_summary: Option<String>,
    /// Who or what started the execution (`trigger-detail`), where known.
    pub started_by: Option<String>,
    /// When the approval expires (from the approval notification), where known.
    pub expires: Option<Timestamp>,
    /// What each earlier environment runs now.
    pub earlier: Vec<EnvironmentNow>,
    /// A newer execution already passed the stage before this approval's: approving this one
    /// would ship an older revision than that stage runs.
    pub newer_passed: Option<OtherExecution>,
    /// Newer executions queued behind this one.
    pub queued_behind: Vec<OtherExecution>,
    /// AWS time of the approval's start (`Approval Waiting`) or its decision.
    pub at: Timestamp,
    /// When Cutover decided it.
    pub observed_at: Timestamp,
    /// Decided only: how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ApprovalOutcome>,
    /// Decided only: who decided (the IAM ARN CodePipeline records), once `serve` has read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Decided only: what they wrote, once read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// How a deployment moves traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    EcsRolling,
    /// CodeDeploy blue/green; canary, linear and all-at-once look alike in events.
    CodedeployBlueGreen,
    EcsBlueGreen,
    EcsCanary,
    EcsLinear,
    Unknown,
}

impl Strategy {
    /// The wire name (`ecs-rolling`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EcsRolling => "ecs-rolling",
            Self::CodedeployBlueGreen => "codedeploy-blue-green",
            Self::EcsBlueGreen => "ecs-blue-green",
            Self::EcsCanary => "ecs-canary",
            Self::EcsLinear => "ecs-linear",
            Self::Unknown => "unknown",
        }
    }
}

/// A share of production traffic, 0 to 100. Whole numbers serialise without a fraction.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Deserialize)]
#[serde(transparent)]
pub struct Percent(pub f64);

impl JsonSchema for Percent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "number", "minimum": 0, "maximum": 100, "description": "Share of production traffic, 0 to 100."})
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

/// CodePipeline context of a deployment, where known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineContext {
    /// Pipeline name.
    pub name: String,
    pub execution_id: String,
    /// The stage and action that ran the deployment.
    pub stage: Option<String>,
    pub action: Option<String>,
    /// `execution-trigger.trigger-type` (`StartPipelineExecution`, `Webhook`, …).
    pub trigger_type: Option<String>,
    /// `execution-trigger.trigger-detail` (who or what started it).
    pub trigger_detail: Option<String>,
    /// The source revision (commit id), where the trigger names it.
    pub revision: Option<String>,
    /// Branch or tag, where the trigger names it. Addition to DESIGN.md's list.
    pub branch_or_tag: Option<String>,
    /// When the execution's manual approval succeeded. Addition to DESIGN.md's list.
    pub approved_at: Option<Timestamp>,
    /// Who approved it (the IAM ARN CodePipeline records, `ListActionExecutions`
    /// `updatedBy`), read by `serve`'s reconciler; absent until known. Addition to schema v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// What the approver wrote (`ListActionExecutions` `externalExecutionSummary` of the
    /// approval action); absent until known. Addition to schema v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_comment: Option<String>,
    /// The execution's source revisions (`GetPipelineExecution` `artifactRevisions`: commit,
    /// summary, URL), read once per execution by `serve`'s reconciler; absent until known.
    /// Addition to schema v1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_revisions: Vec<SourceRevision>,
}

/// One source revision of a pipeline execution, as `GetPipelineExecution` names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceRevision {
    /// The artifact it is the revision of (`name`, the source action's output artifact).
    pub artifact: Option<String>,
    /// The commit id or object version (`revisionId`).
    pub revision_id: Option<String>,
    /// The commit message or summary (`revisionSummary`).
    pub summary: Option<String>,
    /// Where to see it (`revisionUrl`: the commit on GitHub, CodeCommit, …).
    pub url: Option<String>,
}

/// `detail` of every emitted lifecycle event.
///
/// Identity fields are always present and `null` until known. `traffic_percent` is present
/// on `Deployment Traffic Shifted` only, `reason` on `Deployment Failed` only, and
/// `rolled_back_by` on `Deployment Rolled Back` only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LifecycleDetail {
    /// `ecs-svc/<n>`, `d-XXXXXXXXX`, or an ECS service-deployment ARN.
    pub deployment_id: String,
    /// Cluster name.
    pub cluster: Option<String>,
    /// Service name.
    pub service: Option<String>,
    /// From the matching `[[routes]]` entry of the config.
    pub environment: Option<String>,
    pub strategy: Strategy,
    /// The new task definition ARN, as AWS wrote it.
    pub task_definition: Option<String>,
    /// The task definition it replaces.
    pub previous_task_definition: Option<String>,
    /// The tag of the first container image that has one.
    pub version: Option<String>,
    /// When it happened in AWS.
    pub at: Timestamp,
    /// When Cutover decided it (in `replay`, the latest event time read so far).
    pub observed_at: Timestamp,
    /// Share of production traffic on the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_percent: Option<Percent>,
    /// CodeDeploy application; `null` for ECS-controlled deployments.
    pub application: Option<String>,
    /// CodeDeploy deployment group; `null` for ECS-controlled deployments.
    pub deployment_group: Option<String>,
    /// For a rollback deployment, the deployment it undoes.
    pub rollback_of: Option<String>,
    /// CodePipeline context, `null` when none is known.
    pub pipeline: Option<PipelineContext>,
    /// Why the deployment failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The deployment whose cut-over rolled this one back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<String>,
    /// The OpenTelemetry trace id (32 lower-case hex digits) of the SQS message that decided
    /// this event, for linking back to Cutover's trace. Set by `serve`; absent in `replay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9a-f]{32}$"))]
    pub trace_id: Option<String>,
    /// What CI's deploy annotation (`cutover annotate`) said about the deployment, once one is
    /// joined to it; absent otherwise. Addition to schema v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<AnnotationContext>,
}

/// The context of a deploy annotation, in emitted events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AnnotationContext {
    /// The commit (full SHA).
    pub commit: Option<String>,
    /// The branch it was built from.
    pub branch: Option<String>,
    /// The tag it was built from.
    pub tag: Option<String>,
    /// Who ran the deployment, as CI names them.
    pub actor: Option<String>,
    /// The repository's web URL.
    pub repository: Option<String>,
    /// The CI run's web URL.
    pub run_url: Option<String>,
}

impl From<&crate::annotation::DeployAnnotation> for AnnotationContext {
    fn from(a: &crate::annotation::DeployAnnotation) -> Self {
        Self {
            commit: a.commit.clone(),
            branch: a.branch.clone(),
            tag: a.tag.clone(),
            actor: a.actor.clone(),
            repository: a.repository.clone(),
            run_url: a.run_url.clone(),
        }
    }
}

/// The version of the emitted-event schemas. A change to any of them is a new version,
/// documented in `docs/events.md`.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of one emitted event as EventBridge delivers it (`source`, `detail-type`,
/// `detail`), generated from [`LifecycleDetail`]. The files in `event-schemas/schemas/` are
/// these, checked for drift by a test.
pub fn event_schema(detail_type: DetailType) -> serde_json::Value {
    let (mut detail, defs) = detail_schema(schemars::schema_for!(LifecycleDetail));
    let mut only_here = |field: &str, here: bool| {
        if here {
            if let Some(required) = detail["required"].as_array_mut() {
                required.push(serde_json::Value::from(field));
            }
        } else if let Some(props) = detail["properties"].as_object_mut() {
            props.remove(field);
        }
    };
    only_here("traffic_percent", detail_type == DetailType::TrafficShifted);
    only_here("reason", detail_type == DetailType::Failed);
    only_here("rolled_back_by", detail_type == DetailType::RolledBack);
    envelope_schema(detail_type.as_str(), detail, defs)
}

/// A detail type's generated schema without its own `$schema` and `title`, and its `$defs`.
fn detail_schema(schema: Schema) -> (serde_json::Value, serde_json::Value) {
    let mut detail = serde_json::to_value(schema).unwrap_or_default();
    let defs = detail.as_object_mut().and_then(|o| o.remove("$defs")).unwrap_or_default();
    if let Some(o) = detail.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    (detail, defs)
}

/// The schema of an event as EventBridge delivers it, around its `detail`.
fn envelope_schema(detail_type: &str, detail: serde_json::Value, defs: serde_json::Value) -> serde_json::Value {
    let slug = detail_type.to_ascii_lowercase().replace(' ', "-");
    crate::canonical::sort_keys(serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("urn:cutover:event:{slug}:v{SCHEMA_VERSION}"),
        "title": detail_type,
        "description": format!("The `{detail_type}` event Cutover puts on EventBridge (source `{SOURCE}`)."),
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "source": {"const": SOURCE},
            "detail-type": {"const": detail_type},
            "detail": detail,
        },
        "$defs": defs,
    }))
}

/// The JSON Schema of an emitted approval event (`Approval Waiting`, `Approval Decided`),
/// generated from [`ApprovalDetail`].
pub fn approval_event_schema(detail_type: ApprovalDetailType) -> serde_json::Value {
    let (mut detail, defs) = detail_schema(schemars::schema_for!(ApprovalDetail));
    for field in ["outcome", "decided_by", "comment"] {
        if detail_type == ApprovalDetailType::Waiting {
            if let Some(props) = detail["properties"].as_object_mut() {
                props.remove(field);
            }
        } else if field == "outcome"
            && let Some(required) = detail["required"].as_array_mut()
        {
            required.push(serde_json::Value::from(field));
        }
    }
    envelope_schema(detail_type.as_str(), detail, defs)
}

/// The JSON Schema of the emitted `Action Taken` event, generated from [`ActionDetail`].
pub fn action_event_schema(detail_type: ActionDetailType) -> serde_json::Value {
    let (detail, defs) = detail_schema(schemars::schema_for!(ActionDetail));
    envelope_schema(detail_type.as_str(), detail, defs)
}
