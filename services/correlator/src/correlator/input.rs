//! What goes into the correlator: parsed messages, and what the reconciler learned from the AWS
//! APIs. An observation serialised is its journal entry, a public contract: variants and fields
//! are only ever added.

use std::collections::BTreeMap;

use cutover_events::emitted::SourceRevision;
use cutover_events::{Inbound, Timestamp};
use serde::{Deserialize, Serialize};

use crate::deployment::ImageLabels;
use crate::facts::{CodeDeployFact, EcsDeploymentChange, ServiceKey};

/// One input to the correlator.
#[derive(Debug, Clone)]
pub enum Input {
    /// A message from the queue, parsed.
    Message(Box<Inbound>),
    /// An answer from the reconciler (AWS APIs).
    Observed(Observation),
    /// A person's request from Slack (a `/cutover` command, a click).
    Control(Box<super::controls::Request>),
}

/// What the reconciler learned from the AWS APIs. Serialised, it is the journal entry of an
/// observation (`{"traffic_weight": {...}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observation {
    /// The share of production traffic on the new version (CodeDeploy `trafficWeight`,
    /// ECS-native weights), at AWS time `at`.
    TrafficWeight { deployment_id: String, percent: f64, at: Timestamp },
    /// The tasks of an ECS service as `ListTasks`/`DescribeTasks` answered at AWS time `at`:
    /// the census of old tasks at a rolling deployment's start, so a cut-over is proven even
    /// when the old tasks started before Cutover was watching.
    ServiceTasks { service_key: ServiceKey, at: Timestamp, tasks: Vec<CensusTask> },
    /// What CodeDeploy's `GetDeployment` (status, times, rollback), `GetDeploymentTarget`
    /// (the AllowTraffic lifecycle event) or `GetDeploymentGroup` (identity) says about a
    /// deployment: handled like the event it stands in for, at AWS time `at`.
    CodeDeploy(CodeDeployFact),
    /// CodePipeline `ListActionExecutions`: who approved the execution's manual approval
    /// (`updatedBy`) and what they wrote (`externalExecutionSummary`), or none when
    /// CodePipeline does not say.
    Approval {
        execution_id: String,
        approved_by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// CodePipeline `ListActionExecutions` (and, for a CloudFormation action,
    /// `ListStackResources`): what a deploy action of the execution deploys, from its resolved
    /// configuration; empty when it names nothing Cutover can follow.
    PipelineAction { execution_id: String, stage: String, action: String, targets: Vec<ActionTarget> },
    /// CodePipeline `GetPipeline`: the pipeline's structure at `version` (the latest when
    /// absent): its stages in order, each action with its category, provider, run order and
    /// what its configuration names (variables left unresolved name nothing).
    PipelineStructure {
        pipeline: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
        stages: Vec<StageStructure>,
    },
    /// CodePipeline `GetPipelineExecution`: the execution's source revisions (`artifactRevisions`)
    /// and trigger.
    PipelineExecution {
        execution_id: String,
        revisions: Vec<SourceRevision>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger_detail: Option<String>,
    },
    /// ECS `DescribeServices` (with tags): an ECS service's tags, for routes that select on
    /// them; empty when it has none. `service_arn` names its region and account (absent in
    /// journal entries written before it was kept: they apply to every service of that name).
    ServiceTags {
        cluster: String,
        service: String,
        tags: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service_arn: Option<String>,
    },
    /// ECS `DescribeTaskDefinition`: the OCI image labels its containers carry as Docker
    /// labels (`org.opencontainers.image.revision`, `.source`, `.version`); empty when none.
    TaskDefinitionLabels { task_definition: String, labels: ImageLabels },
    /// CloudFront: an invalidation Cutover created has completed (`GetInvalidation` status
    /// `Completed`); `created_at` is its `CreateTime`, `completed_by` Cutover's clock at the
    /// answer (CloudFront does not say when it completed).
    InvalidationDone {
        deployment_id: String,
        distribution_id: String,
        invalidation_id: String,
        created_at: Timestamp,
        completed_by: Timestamp,
    },
    /// CodeDeploy blue/green: until when the old version is kept after the traffic moved (the
    /// end of AfterAllowTraffic plus the group's termination wait), the rollback window.
    RollbackWindow { deployment_id: String, until: Timestamp },
    /// ECS `DescribeServices`: an ECS rolling deployment's `rolloutState` (COMPLETED or
    /// FAILED) at its `updatedAt`, for a deployment whose event was missed (start-up round).
    EcsRollout { deployment_id: String, change: EcsDeploymentChange, at: Timestamp },
    /// ECS `DescribeServiceDeployments`: an ECS-native deployment's lifecycle stage, requested
    /// production weight and status, at its `updatedAt` (`finishedAt` once finished).
    ServiceDeployment {
        deployment_arn: String,
        /// The lifecycle stage has moved past `PRODUCTION_TRAFFIC_SHIFT`.
        past_production_shift: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        production_weight: Option<f64>,
        status: NativeStatus,
        at: Timestamp,
    },
}

/// An ECS-native service deployment's status, as the reconciler reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NativeStatus {
    /// `PENDING`, `IN_PROGRESS`.
    InProgress,
    /// `SUCCESSFUL`.
    Successful,
    /// `STOPPED`, `STOP_REQUESTED`, `ROLLBACK_*`: it did not finish well.
    Failed { reason: String },
}

/// One task of a census.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusTask {
    pub task_arn: String,
    /// `startedBy`: the `ecs-svc/…` deployment that started it.
    pub started_by: Option<String>,
    pub task_definition: Option<String>,
    /// Its last status is RUNNING.
    pub running: bool,
}

/// What a pipeline's deploy action deploys, as its configuration names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionTarget {
    /// An ECS service: an `ECS` action's `ClusterName`/`ServiceName`, or an `AWS::ECS::Service`
    /// of a `CloudFormation` action's stack (`cluster` absent when its ARN does not name it).
    EcsService { cluster: Option<String>, service: String },
    /// A CodeDeploy application and deployment group (`CodeDeployToECS`, `CodeDeploy`).
    DeploymentGroup { application: String, deployment_group: String },
    /// The CodeDeploy deployment a CodeDeploy action runs (`externalExecutionId`).
    CodeDeployDeployment { deployment_id: String },
}

/// One stage of a pipeline's structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStructure {
    pub name: String,
    pub actions: Vec<ActionStructure>,
}

/// One action of a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionStructure {
    pub name: String,
    /// `Source`, `Build`, `Approval`, `Deploy`, …
    pub category: String,
    pub provider: String,
    /// Actions of a stage run in `run_order` (1 when absent); equal ones in parallel.
    pub run_order: u32,
    /// What a deploy action's configuration names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<ActionTarget>,
}
