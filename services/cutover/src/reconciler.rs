//! The reconciler: asks the AWS APIs what the events leave out. Its answers are inputs to the
//! correlator like any event ([`Observation`]), journaled like messages, and decisions made
//! from them still carry AWS's time. Calls are paced (`[reconciler] calls_per_second`) and
//! what does not change is cached.
//!
//! Every round (`interval_secs`), for each deployment in flight:
//! - **CodeDeploy** (CodeDeploy delivers its events best effort): `GetDeploymentGroup` once per
//!   application and group while the deployment's cluster and service are unknown (identity);
//!   until it has cut over, `ListDeploymentTargets` (once per deployment) and
//!   `GetDeploymentTarget`: the `Green` task set's `trafficWeight` at the target's
//!   `lastUpdatedAt` (`Deployment Traffic Shifted` for canary and linear configs) and the
//!   `AllowTraffic` lifecycle event's success at its `endTime` (the cut-over); and
//!   `GetDeployment`: status with `createTime` / `completeTime`, the error message, and the
//!   deployment a rollback undoes. A lost event only delays the decision; its `at` is AWS's.
//!   After the cut-over, `GetDeploymentTarget` again until AfterAllowTraffic has ended: with the
//!   group's termination wait it gives the rollback window ("old version kept until 10:32").
//! - **ECS-native** blue/green, canary, linear: `DescribeServiceDeployments` (up to 20 per
//!   call): the lifecycle stage (past `PRODUCTION_TRAFFIC_SHIFT` is the cut-over), the target
//!   revision's requested production weight, and the status.
//! - **Approvals**: `ListActionExecutions` of a pipeline execution whose manual approval
//!   succeeded, once: who approved it (`updatedBy`).
//! - **Service tags**, only when a route selects on them: `DescribeServices` with tags, once per
//!   service of a deployment in flight (the deployment's Slack post waits for them).
//! - **The version**: `DescribeTaskDefinition`, once per task definition of a deployment in
//!   flight: the OCI labels its containers carry as Docker labels (commit, repository, version).
//! - **ECS rolling**: nothing in steady state (ECS delivers its events durably). At an ECS
//!   rolling deployment's start, the census: `ListTasks` (the service's running tasks) and
//!   `DescribeTasks` (who started each) become an [`Observation::ServiceTasks`], so the old
//!   tasks are known even when they started before Cutover was watching (DESIGN.md,
//!   "Old-task census"). And once, in the first round after start-up, `DescribeServices` (up
//!   to 10 services per call): a deployment whose `rolloutState` is COMPLETED or FAILED
//!   finishes at its `updatedAt`, for the events that came while Cutover was down and left the
//!   queue before it came back.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::{DeploymentStatus, LifecycleEventStatus, TargetLabel};
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::{DeploymentRolloutState, ServiceDeploymentLifecycleStage as Stage, ServiceDeploymentStatus};
use aws_smithy_types::DateTime;
use cutover_correlator::{
    CensusRequest, CensusTask, CodeDeployChange, CodeDeployFact, EcsDeploymentChange, ImageLabels, InFlight,
    InvalidationWanted, NativeStatus, Observation, Wanted,
};
use cutover_events::Timestamp;
use cutover_events::emitted::Strategy;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The reconciler.
#[derive(Debug)]
pub struct Reconciler {
    client: Client,
    ecs: Option<aws_sdk_ecs::Client>,
    cloudfront: Option<aws_sdk_cloudfront::Client>,
    codepipeline: Option<aws_sdk_codepipeline::Client>,
    /// Invalidation ids found by caller reference.
    invalidation_ids: HashMap<String, String>,
    /// Task definitions whose labels were read (the answer is on its way to the intake).
    labels_read: std::collections::HashSet<String>,
    /// Services whose tags were read.
    tagged: std::collections::HashSet<(String, String)>,
    /// Target ids per deployment: they do not change once the deployment has them.
    targets: HashMap<String, Vec<String>>,
    /// When AfterAllowTraffic ended, per deployment: the termination wait starts then.
    after_allow_traffic: HashMap<String, Timestamp>,
    /// `(cluster, service)` per CodeDeploy application and deployment group.
    groups: HashMap<(String, String), Option<(String, String)>>,
    /// The ECS rolling deployments in flight when Cutover started: their rollout state is
    /// read once, in the first round.
    start_up: Vec<InFlight>,
    /// The pause between two calls.
    pace: Duration,
    /// How much slower than `pace` after throttling (1 when not throttled).
    slow: u32,
    /// Items the role may not ask about, until what is wanted changes.
    denied: std::collections::HashSet<String>,
    /// What the last round was asked for.
    last_wanted: Option<Wanted>,
    /// API calls made, for `/metrics` and the tests.
    pub calls: u64,
}

/// Why one of the reconciler's questions got no answer, as the reconciler acts on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// The API is throttling: the round stops asking, and the next goes slower.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The role may not ask this: the item is not asked again until what is wanted changes,
    /// and the warning is given once.
    #[error("access denied: {0}")]
    Denied(String),
    /// Anything else: asked again next round.
    #[error("{0}")]
    Other(String),
}

impl AskError {
    /// From an SDK error, by its AWS error code.
    pub fn from_sdk<E: aws_sdk_ecs::error::ProvideErrorMetadata, R>(e: &aws_sdk_ecs::error::SdkError<E, R>) -> Self {
        use aws_sdk_ecs::error::ProvideErrorMetadata as _;
        let text = crate::aws::describe(e);
        match e.code().unwrap_or_default() {
            "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "ThrottledException"
            | "RateExceeded" => Self::Throttled(text),
            "AccessDeniedException"
            | "AccessDenied"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException"
            | "NotAuthorized" => Self::Denied(text),
            _ => Self::Other(text),
        }
    }
}

impl From<String> for AskError {
    fn from(text: String) -> Self {
        Self::Other(text)
    }
}

impl From<&str> for AskError {
    fn from(text: &str) -> Self {
        Self::Other(text.to_owned())
    }
}

fn aws_time(t: Option<&DateTime>) -> Option<Timestamp> {
    t.and_then(|t| t.to_millis().ok()).map(Timestamp)
}

/// `<cluster>:<service>`, an ECS target's id.
fn cluster_service(target_id: &str) -> Option<(String, String)> {
    let (cluster, service) = target_id.split_once(':')?;
    (!cluster.is_empty() && !service.is_empty()).then(|| (cluster.to_owned(), service.to_owned()))
}

impl Reconciler {
    pub fn new(client: Client, calls_per_second: f64) -> Self {
        Self {
            client,
            ecs: None,
            cloudfront: None,
            codepipeline: None,
            start_up: Vec::new(),
            invalidation_ids: HashMap::new(),
            labels_read: std::collections::HashSet::new(),
            tagged: std::collections::HashSet::new(),
            targets: HashMap::new(),
            after_allow_traffic: HashMap::new(),
            groups: HashMap::new(),
            pace: Duration::from_secs_f64(1.0 / calls_per_second.clamp(0.1, 100.0)),
            slow: 1,
            denied: std::collections::HashSet::new(),
            last_wanted: None,
            calls: 0,
        }
    }

    /// Asks ECS too (census, ECS-native deployments, rollout states).
    pub fn with_ecs(mut self, ecs: aws_sdk_ecs::Client) -> Self {
        self.ecs = Some(ecs);
        self
    }

    /// The ECS rolling deployments in flight at start-up (`Correlator::rolling_in_flight`
    /// after recovery): the first round reads their rollout state.
    pub fn with_start_up(mut self, rolling: Vec<InFlight>) -> Self {
        self.start_up = rolling;
        self
    }

    /// Asks CodePipeline who approved an execution.
    pub fn with_codepipeline(mut self, codepipeline: aws_sdk_codepipeline::Client) -> Self {
        self.codepipeline = Some(codepipeline);
        self
    }

    /// `ListActionExecutions` of one execution: the approval action that succeeded and who
    /// updated it (`updatedBy`: the approver's ARN).
    pub async fn approver(&mut self, pipeline: &str, execution_id: &str) -> Result<Option<Observation>, AskError> {
        let Some(cp) = self.codepipeline.clone() else { return Ok(None) };
        self.paced().await;
        let out = cp
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(
                aws_sdk_codepipeline::types::ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution_id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        let approval = out.action_execution_details().iter().find(|a| {
            a.status() == Some(&aws_sdk_codepipeline::types::ActionExecutionStatus::Succeeded)
                && a.input()
                    .and_then(|i| i.action_type_id())
                    .is_some_and(|t| t.category() == &aws_sdk_codepipeline::types::ActionCategory::Approval)
        });
        Ok(Some(Observation::Approval {
            execution_id: execution_id.to_owned(),
            approved_by: approval.and_then(|a| a.updated_by()).map(str::to_owned),
        }))
    }

    /// Asks CloudFront about the invalidations Cutover created.
    pub fn with_cloudfront(mut self, cloudfront: aws_sdk_cloudfront::Client) -> Self {
        self.cloudfront = Some(cloudfront);
        self
    }

    /// Has the invalidation been created, and has it completed? It is found by its caller
    /// reference among the distribution's invalidations created since its cut-over (the
    /// executor may not have created it yet: asked again next round), then followed by id.
    pub async fn invalidation(&mut self, w: &InvalidationWanted) -> Result<Option<Observation>, AskError> {
        let Some(cf) = self.cloudfront.clone() else { return Ok(None) };
        let get = async |this: &mut Self, id: &str| {
            this.paced().await;
            cf.get_invalidation()
                .distribution_id(&w.distribution_id)
                .id(id)
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))
        };
        let found = match self.invalidation_ids.get(&w.caller_reference).cloned() {
            Some(id) => Some((id.clone(), get(self, &id).await?)),
            None => {
                // Created since its cut-over (a minute's slack for clocks): the executor may
                // not have created it yet, then it is asked again next round.
                let since = Some(w.decided_at.plus_millis(-60_000));
                let found = crate::executors::cloudfront::find_by_caller_reference(
                    &cf,
                    &w.distribution_id,
                    &w.caller_reference,
                    20,
                    since,
                    || {
                        self.calls += 1;
                        self.pace
                    },
                )
                .await
                .map_err(|outcome| format!("{outcome:?}"))?;
                if let Some((id, _)) = &found {
                    self.invalidation_ids.insert(w.caller_reference.clone(), id.clone());
                }
                found
            }
        };
        let Some((id, out)) = found else { return Ok(None) };
        let Some(inv) = out.invalidation() else { return Ok(None) };
        if !inv.status().eq_ignore_ascii_case("completed") {
            return Ok(None);
        }
        self.invalidation_ids.remove(&w.caller_reference);
        Ok(Some(Observation::InvalidationDone {
            deployment_id: w.deployment_id.clone(),
            distribution_id: w.distribution_id.clone(),
            invalidation_id: id,
            created_at: aws_time(Some(inv.create_time())).unwrap_or(w.decided_at),
            completed_by: Timestamp(crate::clock::now_ms()),
        }))
    }

    /// `DescribeServices` with `include: TAGS`: each service's tags (empty for one without tags
    /// or not found, so it is not asked again).
    pub async fn service_tags(&mut self, services: &[(String, String)]) -> Result<Vec<Observation>, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Ok(Vec::new()) };
        let asked = services.iter().map(|(c, s)| (c.as_str(), s.as_str()));
        let mut found = Vec::new();
        for (cluster, names, out) in self.describe_services(&ecs, asked, true).await? {
            for name in names {
                let described = out.services().iter().find(|s| s.service_name() == Some(name));
                let tags = described
                    .map(|s| {
                        s.tags()
                            .iter()
                            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                // The ARN names the region and account: the tags are of that service only.
                let service_arn = described.and_then(|s| s.service_arn()).map(str::to_owned);
                self.tagged.insert((cluster.to_owned(), name.to_owned()));
                found.push(Observation::ServiceTags {
                    cluster: cluster.to_owned(),
                    service: name.to_owned(),
                    tags,
                    service_arn,
                });
            }
        }
        Ok(found)
    }

    /// `DescribeServices` (with `include: TAGS` when `tags`), 10 services of one cluster per
    /// call, each service asked once: every call's cluster, the services it asked for, and the
    /// answer. Stops at the first error.
    async fn describe_services<'a>(
        &mut self,
        ecs: &aws_sdk_ecs::Client,
        services: impl IntoIterator<Item = (&'a str, &'a str)>,
        tags: bool,
    ) -> Result<Vec<(&'a str, Vec<&'a str>, DescribeServicesOutput)>, AskError> {
        let mut by_cluster: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
        for (cluster, service) in services {
            let names = by_cluster.entry(cluster).or_default();
            if !names.contains(&service) {
                names.push(service);
            }
        }
        let mut answers = Vec::new();
        for (cluster, names) in by_cluster {
            for chunk in names.chunks(10) {
                self.paced().await;
                let mut call = ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.iter().map(|s| (*s).to_owned()).collect()));
                if tags {
                    call = call.include(aws_sdk_ecs::types::ServiceField::Tags);
                }
                let out = call.send().await.map_err(|e| AskError::from_sdk(&e))?;
                answers.push((cluster, chunk.to_vec(), out));
            }
        }
        Ok(answers)
    }

    /// `DescribeTaskDefinition`: the OCI labels (`org.opencontainers.image.revision`,
    /// `.source`, `.version`) of the first container that carries any as Docker labels.
    pub async fn task_definition_labels(&mut self, task_definition: &str) -> Result<Observation, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Err("no ECS client".into()) };
        self.paced().await;
        let out = ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        let label = |labels: &HashMap<String, String>, key: &str| {
            labels.get(&format!("org.opencontainers.image.{key}")).filter(|v| !v.is_empty()).cloned()
        };
        let labels = out
            .task_definition()
            .map(|td| td.container_definitions())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.docker_labels())
            .map(|l| ImageLabels {
                revision: label(l, "revision"),
                source: label(l, "source"),
                version: label(l, "version"),
                created: label(l, "created"),
            })
            .find(|l| *l != ImageLabels::default())
            .unwrap_or_default();
        Ok(Observation::TaskDefinitionLabels { task_definition: task_definition.to_owned(), labels })
    }

    async fn paced(&mut self) {
        self.calls += 1;
        tokio::time::sleep(self.pace * self.slow).await;
    }

    /// Acts on a failed ask of `item`: true when the round should stop (throttled).
    fn failed(&mut self, item: &str, what: &'static str, error: AskError) -> bool {
        match error {
            AskError::Throttled(e) => {
                self.slow = (self.slow * 2).min(64);
                tracing::warn!(message = what, item, error = %e, then = "the rest of the round waits; the next goes slower");
                true
            }
            AskError::Denied(e) => {
                if self.denied.insert(item.to_owned()) {
                    tracing::warn!(message = what, item, error = %e, then = "not asked again until what is wanted changes");
                }
                false
            }
            AskError::Other(e) => {
                tracing::warn!(message = what, item, error = %e);
                false
            }
        }
    }

    /// What the CodeDeploy API says now about a deployment in flight: its identity (while its
    /// cluster is unknown, from `GetDeploymentGroup`, cached per group), its
    /// green task set's traffic weight and AllowTraffic (until it has cut over), its status.
    /// In lifecycle order, so that a status read in the same round never hides the earlier
    /// instant of the cut-over.
    pub async fn observe_codedeploy(&mut self, d: &InFlight) -> Result<Vec<Observation>, AskError> {
        let mut target = None;
        if d.cluster.is_none()
            && let (Some(app), Some(group)) = (&d.application, &d.deployment_group)
        {
            let key = (app.clone(), group.clone());
            if !self.groups.contains_key(&key) {
                // Identity is a nicety (the target id names the service too): a failure is
                // logged and not asked again, and never holds back the weights and status.
                let identity = self.deployment_group(app, group).await.unwrap_or_else(|error| {
                    tracing::warn!(message = "Failed to read a CodeDeploy deployment group.", application = %app, deployment_group = %group, %error);
                    None
                });
                self.groups.insert(key.clone(), identity);
            }
            target = self.groups.get(&key).cloned().flatten();
        }
        // The status is read first (it also gives the termination wait) and sent last.
        let (status, wait) = self.get_deployment(&d.id).await?;
        let finished = matches!(
            status,
            Some(Observation::CodeDeploy(CodeDeployFact {
                change: CodeDeployChange::Succeeded | CodeDeployChange::Failed { .. } | CodeDeployChange::Stopped,
                ..
            }))
        );
        let mut found = Vec::new();
        if !d.cut_over || (!d.rollback_window && wait.is_some() && !finished) {
            found.extend(self.observe(&d.id).await?);
        }
        // The rollback window: AfterAllowTraffic's end plus the termination wait.
        if let (Some(minutes), false, false) = (wait, d.rollback_window, finished)
            && let Some(start) = self.after_allow_traffic.get(&d.id)
        {
            found.push(Observation::RollbackWindow {
                deployment_id: d.id.clone(),
                until: start.plus_millis(i64::from(minutes) * 60_000),
            });
        }
        if let Some(mut status) = status {
            if let Observation::CodeDeploy(CodeDeployFact { target: t, .. }) = &mut status {
                *t = target;
            }
            found.push(status);
        }
        Ok(found)
    }

    async fn deployment_group(&mut self, app: &str, group: &str) -> Result<Option<(String, String)>, AskError> {
        self.paced().await;
        let out = self
            .client
            .get_deployment_group()
            .application_name(app)
            .deployment_group_name(group)
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        Ok(out
            .deployment_group_info()
            .and_then(|g| g.ecs_services().first())
            .and_then(|s| Some((s.cluster_name()?.to_owned(), s.service_name()?.to_owned()))))
    }

    /// `GetDeployment`: the status and its time, as the event it stands in for would say, and
    /// the minutes the old task set is kept after the traffic moved (none when it is kept
    /// alive or not configured).
    async fn get_deployment(&mut self, deployment_id: &str) -> Result<(Option<Observation>, Option<i32>), AskError> {
        self.paced().await;
        let out = self
            .client
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        let Some(info) = out.deployment_info() else { return Ok((None, None)) };
        let wait = info
            .blue_green_deployment_configuration()
            .and_then(|c| c.terminate_blue_instances_on_deployment_success())
            .filter(|t| t.action() == Some(&aws_sdk_codedeploy::types::InstanceAction::Terminate))
            .map(|t| t.termination_wait_time_in_minutes());
        let (change, at) = match info.status() {
            Some(DeploymentStatus::Succeeded) => (CodeDeployChange::Succeeded, aws_time(info.complete_time())),
            Some(DeploymentStatus::Failed) => (
                CodeDeployChange::Failed {
                    reason: info.error_information().and_then(|e| e.message()).map(str::to_owned),
                },
                aws_time(info.complete_time()),
            ),
            Some(DeploymentStatus::Stopped) => (CodeDeployChange::Stopped, aws_time(info.complete_time())),
            Some(
                DeploymentStatus::Created
                | DeploymentStatus::Queued
                | DeploymentStatus::InProgress
                | DeploymentStatus::Ready
                | DeploymentStatus::Baking,
            ) => (CodeDeployChange::Started, aws_time(info.create_time())),
            _ => return Ok((None, wait)),
        };
        let Some(at) = at else { return Ok((None, wait)) };
        Ok((
            Some(Observation::CodeDeploy(CodeDeployFact {
                deployment_id: deployment_id.to_owned(),
                application: info.application_name().map(str::to_owned),
                deployment_group: info.deployment_group_name().map(str::to_owned),
                target: None,
                rollback_of: info
                    .rollback_info()
                    .and_then(|r| r.rollback_triggering_deployment_id())
                    .map(str::to_owned),
                change,
                at,
            })),
            wait,
        ))
    }

    /// `ListDeploymentTargets` (cached) and `GetDeploymentTarget`: the green task set's
    /// traffic weight, then the AllowTraffic lifecycle event once it succeeded.
    pub async fn observe(&mut self, deployment_id: &str) -> Result<Vec<Observation>, AskError> {
        if !self.targets.contains_key(deployment_id) {
            self.paced().await;
            let out = self
                .client
                .list_deployment_targets()
                .deployment_id(deployment_id)
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))?;
            let ids = out.target_ids().to_vec();
            if ids.is_empty() {
                // Not created yet: ask again next round.
                return Ok(Vec::new());
            }
            self.targets.insert(deployment_id.to_owned(), ids);
        }
        let ids = self.targets.get(deployment_id).cloned().unwrap_or_default();
        let mut observations = Vec::new();
        for target in ids {
            self.paced().await;
            let out = self
                .client
                .get_deployment_target()
                .deployment_id(deployment_id)
                .target_id(&target)
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))?;
            let Some(ecs) = out.deployment_target().and_then(|t| t.ecs_target()) else { continue };
            let green = ecs.task_sets_info().iter().find(|s| s.task_set_label() == Some(&TargetLabel::Green));
            if let (Some(green), Some(at)) = (green, aws_time(ecs.last_updated_at())) {
                observations.push(Observation::TrafficWeight {
                    deployment_id: deployment_id.to_owned(),
                    percent: green.traffic_weight(),
                    at,
                });
            }
            let allowed = ecs.lifecycle_events().iter().find(|e| {
                e.lifecycle_event_name() == Some("AllowTraffic") && e.status() == Some(&LifecycleEventStatus::Succeeded)
            });
            let after = ecs.lifecycle_events().iter().find(|e| {
                e.lifecycle_event_name() == Some("AfterAllowTraffic")
                    && e.status() == Some(&LifecycleEventStatus::Succeeded)
            });
            if let Some(end) = after.and_then(|e| aws_time(e.end_time())) {
                self.after_allow_traffic.insert(deployment_id.to_owned(), end);
            }
            if let Some(at) = allowed.and_then(|e| aws_time(e.end_time())) {
                observations.push(Observation::CodeDeploy(CodeDeployFact {
                    deployment_id: deployment_id.to_owned(),
                    application: None,
                    deployment_group: None,
                    target: ecs.target_id().and_then(cluster_service),
                    rollback_of: None,
                    change: CodeDeployChange::TargetCutOver,
                    at,
                }));
            }
        }
        Ok(observations)
    }

    /// `DescribeServiceDeployments` for ECS-native deployments in flight (20 per call).
    pub async fn observe_native(&mut self, arns: &[String]) -> Result<Vec<Observation>, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Ok(Vec::new()) };
        let mut found = Vec::new();
        for chunk in arns.chunks(20) {
            self.paced().await;
            let out = ecs
                .describe_service_deployments()
                .set_service_deployment_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))?;
            for sd in out.service_deployments() {
                let Some(arn) = sd.service_deployment_arn() else { continue };
                let reason = || sd.status_reason().unwrap_or("ECS service deployment did not finish").to_owned();
                let status = match sd.status() {
                    Some(ServiceDeploymentStatus::Successful) => NativeStatus::Successful,
                    Some(ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress) => {
                        NativeStatus::InProgress
                    }
                    Some(
                        ServiceDeploymentStatus::Stopped
                        | ServiceDeploymentStatus::StopRequested
                        | ServiceDeploymentStatus::RollbackRequested
                        | ServiceDeploymentStatus::RollbackInProgress
                        | ServiceDeploymentStatus::RollbackSuccessful
                        | ServiceDeploymentStatus::RollbackFailed,
                    ) => NativeStatus::Failed { reason: reason() },
                    _ => continue,
                };
                // A stage read while the deployment rolls back proves nothing about production.
                let past_production_shift = !matches!(status, NativeStatus::Failed { .. })
                    && matches!(
                        sd.lifecycle_stage(),
                        Some(Stage::PostProductionTrafficShift | Stage::BakeTime | Stage::CleanUp)
                    );
                let at = if status == NativeStatus::Successful { sd.finished_at() } else { None }
                    .or(sd.updated_at())
                    .or(sd.started_at());
                let Some(at) = aws_time(at) else { continue };
                found.push(Observation::ServiceDeployment {
                    deployment_arn: arn.to_owned(),
                    past_production_shift,
                    production_weight: sd
                        .target_service_revision()
                        .and_then(|r| r.requested_production_traffic_weight()),
                    status,
                    at,
                });
            }
        }
        Ok(found)
    }

    /// `DescribeServices` for ECS rolling deployments in flight: the ones whose `rolloutState`
    /// says they finished.
    pub async fn rollouts(&mut self, rolling: &[InFlight]) -> Result<Vec<Observation>, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Ok(Vec::new()) };
        let asked = rolling.iter().filter_map(|d| Some((d.cluster.as_deref()?, d.service.as_deref()?)));
        let mut found = Vec::new();
        for (_, _, out) in self.describe_services(&ecs, asked, false).await? {
            for dep in out.services().iter().flat_map(|s| s.deployments()) {
                let Some(id) = dep.id().filter(|id| rolling.iter().any(|d| d.id == *id)) else { continue };
                let change = match dep.rollout_state() {
                    Some(DeploymentRolloutState::Completed) => EcsDeploymentChange::Completed,
                    Some(DeploymentRolloutState::Failed) => {
                        EcsDeploymentChange::Failed { reason: dep.rollout_state_reason().map(str::to_owned) }
                    }
                    _ => continue,
                };
                let Some(at) = aws_time(dep.updated_at()) else { continue };
                found.push(Observation::EcsRollout { deployment_id: id.to_owned(), change, at });
            }
        }
        Ok(found)
    }

    /// The running tasks of a service and who started them.
    pub async fn census(&mut self, req: &CensusRequest) -> Result<Observation, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Err("no ECS client".into()) };
        let mut arns: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        // Bounded: 100 pages of 100 tasks.
        for _ in 0..100 {
            self.paced().await;
            let out = ecs
                .list_tasks()
                .cluster(&req.cluster)
                .service_name(&req.service)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))?;
            arns.extend(out.task_arns().iter().cloned());
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            self.paced().await;
            let out = ecs
                .describe_tasks()
                .cluster(&req.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))?;
            for t in out.tasks() {
                let Some(arn) = t.task_arn() else { continue };
                tasks.push(CensusTask {
                    task_arn: arn.to_owned(),
                    started_by: t.started_by().map(str::to_owned),
                    task_definition: t.task_definition_arn().map(str::to_owned),
                    running: t.last_status() == Some("RUNNING"),
                });
            }
        }
        Ok(Observation::ServiceTasks {
            service_key: req.service_key.clone(),
            at: Timestamp(crate::clock::now_ms()),
            tasks,
        })
    }

    /// One round over what the intake wants (the first also reads the rollout state of the
    /// ECS rolling deployments in flight at start-up). A failure is logged and asked again next
    /// round; throttling stops the round and slows the next ([`AskError::Throttled`]); an item
    /// the role may not ask about is not asked again until what is wanted changes
    /// ([`AskError::Denied`]).
    pub async fn round(&mut self, wanted: &Wanted, counted: &mut Vec<String>) -> Vec<Observation> {
        let ids: Vec<String> = wanted.in_flight.iter().map(|d| d.id.clone()).collect();
        self.targets.retain(|d, _| ids.contains(d));
        self.after_allow_traffic.retain(|d, _| ids.contains(d));
        counted.retain(|k| wanted.census.iter().any(|r| r.service_key == *k));
        // A denial holds until what is wanted changes (a new deployment, a new permission
        // maybe): then everything is asked again.
        if self.last_wanted.as_ref() != Some(wanted) {
            self.denied.clear();
            self.last_wanted = Some(wanted.clone());
        }
        let slow = self.slow;
        let mut found = Vec::new();
        if self.round_inner(wanted, counted, &mut found).await && self.slow == slow {
            // A whole round without throttling: back to the configured pace.
            self.slow = 1;
        }
        found
    }

    /// The asks of one round; false when throttling stopped it.
    async fn round_inner(&mut self, wanted: &Wanted, counted: &mut Vec<String>, found: &mut Vec<Observation>) -> bool {
        if self.ecs.is_some() {
            let due: Vec<CensusRequest> =
                wanted.census.iter().filter(|r| !counted.contains(&r.service_key)).cloned().collect();
            for req in &due {
                let item = format!("census {}", req.service_key);
                if self.denied.contains(&item) {
                    continue;
                }
                match self.census(req).await {
                    Ok(o) => {
                        counted.push(req.service_key.clone());
                        found.push(o);
                    }
                    Err(error) => {
                        if self.failed(&item, "Failed to count a service's tasks.", error) {
                            return false;
                        }
                    }
                }
            }
            let native: Vec<String> = wanted
                .in_flight
                .iter()
                .filter(|d| d.strategy != Strategy::CodedeployBlueGreen)
                .filter_map(|d| d.service_deployment_arn.clone())
                .collect();
            if !self.denied.contains("ecs:DescribeServiceDeployments") {
                match self.observe_native(&native).await {
                    Ok(o) => found.extend(o),
                    Err(error) => {
                        if self.failed(
                            "ecs:DescribeServiceDeployments",
                            "Failed to ask ECS about its service deployments.",
                            error,
                        ) {
                            return false;
                        }
                    }
                }
            }
            let rolling = std::mem::take(&mut self.start_up);
            if !rolling.is_empty() {
                match self.rollouts(&rolling).await {
                    Ok(o) => found.extend(o),
                    Err(error) => {
                        if self.failed("ecs:DescribeServices rollouts", "Failed to read ECS rollout states.", error) {
                            return false;
                        }
                    }
                }
            }
        }
        self.labels_read.retain(|td| wanted.labels.contains(td));
        self.tagged.retain(|t| wanted.tags.contains(t));
        let untagged: Vec<(String, String)> =
            wanted.tags.iter().filter(|t| !self.tagged.contains(*t)).cloned().collect();
        if !untagged.is_empty() && !self.denied.contains("ecs:DescribeServices tags") {
            match self.service_tags(&untagged).await {
                Ok(o) => found.extend(o),
                Err(error) => {
                    if self.failed("ecs:DescribeServices tags", "Failed to read ECS service tags.", error) {
                        return false;
                    }
                }
            }
        }
        if self.ecs.is_some() {
            for td in wanted.labels.iter().filter(|td| !self.labels_read.contains(*td)).cloned().collect::<Vec<_>>() {
                // Asked once: the labels are a nicety, and a task definition that cannot be
                // described (deregistered, no permission) would fail every round.
                match self.task_definition_labels(&td).await {
                    Ok(o) => found.push(o),
                    Err(error) => {
                        if self.failed(&format!("labels {td}"), "Failed to read a task definition's labels.", error) {
                            return false;
                        }
                    }
                }
                self.labels_read.insert(td);
            }
        }
        for (pipeline, execution) in &wanted.approvals {
            let item = format!("approval {pipeline} {execution}");
            if self.denied.contains(&item) {
                continue;
            }
            match self.approver(pipeline, execution).await {
                Ok(o) => found.extend(o),
                Err(error) => {
                    if self.failed(&item, "Failed to ask CodePipeline who approved an execution.", error) {
                        return false;
                    }
                }
            }
        }
        for w in &wanted.invalidations {
            let item = format!("invalidation {} {}", w.distribution_id, w.caller_reference);
            if self.denied.contains(&item) {
                continue;
            }
            match self.invalidation(w).await {
                Ok(o) => found.extend(o),
                Err(error) => {
                    if self.failed(&item, "Failed to ask CloudFront about an invalidation.", error) {
                        return false;
                    }
                }
            }
        }
        for d in wanted.in_flight.iter().filter(|d| d.strategy == Strategy::CodedeployBlueGreen) {
            let item = format!("codedeploy {}", d.id);
            if self.denied.contains(&item) {
                continue;
            }
            match self.observe_codedeploy(d).await {
                Ok(o) => found.extend(o),
                Err(error) => {
                    if self.failed(&item, "Failed to ask CodeDeploy about a deployment.", error) {
                        return false;
                    }
                }
            }
        }
        true
    }
}

/// Every `interval`, observes what the intake wants (`wanted`, kept current after each
/// batch) and sends what it learned to the intake, until `shutdown`. A census is asked once
/// per request; the first round also reads the rollout state of the rolling deployments in
/// flight at start-up.
pub async fn run(
    mut reconciler: Reconciler,
    mut wanted: watch::Receiver<Wanted>,
    tx: mpsc::Sender<Observation>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut counted: Vec<String> = Vec::new();
    let mut asked: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut next = tokio::time::Instant::now() + interval;
    loop {
        // A round every interval, and at once when a census or tags are newly wanted (the
        // census makes a rolling cut-over exact, tags release a held Slack post).
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            changed = wanted.changed() => {
                if changed.is_err() {
                    return;
                }
                if !wanted.borrow().urgent(&asked) {
                    continue;
                }
            }
            () = shutdown.cancelled() => return,
        }
        next = tokio::time::Instant::now() + interval;
        let now = wanted.borrow_and_update().clone();
        asked = now.urgent_keys().collect();
        let found = tokio::select! {
            found = reconciler.round(&now, &mut counted) => found,
            () = shutdown.cancelled() => return,
        };
        for o in found {
            if tx.send(o).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_codedeploy::operation::get_deployment_target::GetDeploymentTargetOutput;
    use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput;
    use aws_sdk_codedeploy::primitives::DateTime;
    use aws_sdk_codedeploy::types::{DeploymentTarget, EcsTarget, EcsTaskSet, TargetStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use cutover_events::emitted::Strategy;

    use super::*;

    /// `GetDeploymentTarget` of an ECS blue/green deployment mid-canary, shaped as AWS
    /// documents `ecsTarget` (FORMATS.md section 4): blue at 90, green at 10.
    fn target(green_weight: f64, at_ms: i64) -> GetDeploymentTargetOutput {
        let set = |label: TargetLabel, weight: f64, status: &str| {
            EcsTaskSet::builder()
                .identifer(format!("ecs-svc/{weight}"))
                .desired_count(2)
                .running_count(2)
                .pending_count(0)
                .status(status)
                .traffic_weight(weight)
                .task_set_label(label)
                .build()
        };
        GetDeploymentTargetOutput::builder()
            .deployment_target(
                DeploymentTarget::builder()
                    .ecs_target(
                        EcsTarget::builder()
                            .deployment_id("d-CANARY001")
                            .target_id("prod-eu:checkout")
                            .target_arn("arn:aws:ecs:eu-west-1:123456789012:service/prod-eu/checkout")
                            .last_updated_at(DateTime::from_millis(at_ms))
                            .status(TargetStatus::InProgress)
                            .task_sets_info(set(TargetLabel::Blue, 100.0 - green_weight, "PRIMARY"))
                            .task_sets_info(set(TargetLabel::Green, green_weight, "ACTIVE"))
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn the_green_task_sets_weight_becomes_an_observation_and_targets_are_listed_once() {
        let list = mock!(Client::list_deployment_targets)
            .match_requests(|r| r.deployment_id() == Some("d-CANARY001"))
            .then_output(|| ListDeploymentTargetsOutput::builder().target_ids("prod-eu:checkout").build());
        let first = mock!(Client::get_deployment_target)
            .match_requests(|r| r.target_id() == Some("prod-eu:checkout"))
            .then_output(|| target(10.0, 1_773_481_000_000));
        let second = mock!(Client::get_deployment_target).then_output(|| target(100.0, 1_773_481_300_000));
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::Sequential, [&list, &first, &second]);
        let mut r = Reconciler::new(client, 100.0);

        let seen = r.observe("d-CANARY001").await.unwrap();
        assert_eq!(
            seen,
            vec![Observation::TrafficWeight {
                deployment_id: "d-CANARY001".into(),
                percent: 10.0,
                at: Timestamp(1_773_481_000_000)
            }]
        );
        // The targets are cached: the second round makes one call, not two.
        let seen = r.observe("d-CANARY001").await.unwrap();
        assert!(matches!(seen[0], Observation::TrafficWeight { percent, .. } if percent == 100.0));
        assert_eq!((r.calls, list.num_calls(), first.num_calls(), second.num_calls()), (3, 1, 1, 1));
    }

    #[tokio::test]
    async fn a_census_lists_the_running_tasks_and_who_started_them() {
        use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
        use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
        use aws_sdk_ecs::types::Task;
        let arn = |n: &str| format!("arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/{n}");
        let list = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.cluster() == Some("prod-eu") && r.service_name() == Some("storefront"))
            .then_output(move || ListTasksOutput::builder().task_arns(arn("old1")).task_arns(arn("old2")).build());
        let task = move |n: &str, status: &str| {
            Task::builder()
                .task_arn(arn(n))
                .started_by("ecs-svc/4231880795355584839")
                .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:41")
                .last_status(status)
                .desired_status("RUNNING")
                .build()
        };
        let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(move || {
            DescribeTasksOutput::builder().tasks(task("old1", "RUNNING")).tasks(task("old2", "PENDING")).build()
        });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&list, &describe]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
        let req = CensusRequest {
            service_key: "eu-west-1:123456789012:prod-eu/storefront".into(),
            cluster: "prod-eu".into(),
            service: "storefront".into(),
        };
        let Observation::ServiceTasks { service_key, tasks, .. } = r.census(&req).await.unwrap() else {
            panic!("a census")
        };
        assert_eq!(service_key, req.service_key);
        assert_eq!(
            tasks.iter().map(|t| (t.task_arn.as_str(), t.running)).collect::<Vec<_>>(),
            vec![(arn("old1").as_str(), true), (arn("old2").as_str(), false)]
        );
        assert_eq!(tasks[0].started_by.as_deref(), Some("ecs-svc/4231880795355584839"));
        assert_eq!((list.num_calls(), describe.num_calls()), (1, 1));
    }

    /// An error answer as CodeDeploy's JSON protocol writes it.
    fn aws_error(status: u16, code: &str) -> aws_sdk_codedeploy::config::http::HttpResponse {
        let body = format!(r#"{{"__type":"{code}","message":"recorded {code}"}}"#);
        aws_sdk_codedeploy::config::http::HttpResponse::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        )
    }

    #[tokio::test]
    async fn a_denied_ask_is_not_repeated_until_what_is_wanted_changes_and_throttling_stops_the_round() {
        let denied = mock!(Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-DENIED001"))
            .then_http_response(|| aws_error(400, "AccessDeniedException"));
        let throttled = mock!(Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-THROTTLE1"))
            .then_http_response(|| aws_error(400, "ThrottlingException"));
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&denied, &throttled]);
        let mut r = Reconciler::new(client, 100.0);
        let wanted = |ids: &[&str]| Wanted {
            in_flight: ids.iter().map(|id| in_flight(id, Strategy::CodedeployBlueGreen)).collect(),
            ..Wanted::default()
        };
        let w = wanted(&["d-DENIED001"]);
        assert!(r.round(&w, &mut Vec::new()).await.is_empty());
        assert!(r.round(&w, &mut Vec::new()).await.is_empty());
        assert_eq!(denied.num_calls(), 1, "denied once, not asked again for the same wants");
        // What is wanted changes (a deployment is added): asked again. The throttled one first:
        // the round stops there, and the denied one waits for the next round.
        let w = wanted(&["d-THROTTLE1", "d-DENIED001"]);
        assert!(r.round(&w, &mut Vec::new()).await.is_empty());
        // (The SDK retries a throttled call itself before the error reaches the reconciler.)
        assert!(throttled.num_calls() >= 1);
        assert_eq!(denied.num_calls(), 1, "the round stopped at the throttling");
        assert_eq!(r.slow, 2, "and the next goes slower");
    }

    #[tokio::test]
    async fn a_deployment_without_targets_yet_is_asked_again_later() {
        let empty =
            mock!(Client::list_deployment_targets).then_output(|| ListDeploymentTargetsOutput::builder().build());
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&empty]);
        let mut r = Reconciler::new(client, 100.0);
        assert!(r.observe("d-NEW").await.unwrap().is_empty());
        assert!(r.observe("d-NEW").await.unwrap().is_empty());
        assert_eq!(empty.num_calls(), 2, "not cached while empty");
    }

    /// A recorded response (fixtures/api), through the SDK's own deserialiser.
    fn recorded(name: &str) -> aws_sdk_ecs::config::http::HttpResponse {
        let path = format!("{}/fixtures/api/{name}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        aws_sdk_ecs::config::http::HttpResponse::new(
            200u16.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        )
    }

    fn in_flight(id: &str, strategy: Strategy) -> InFlight {
        InFlight {
            id: id.into(),
            strategy,
            cut_over: false,
            cluster: None,
            service: None,
            application: None,
            deployment_group: None,
            service_deployment_arn: None,
            rollback_window: false,
        }
    }

    fn ms(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[tokio::test]
    async fn a_lost_codedeploy_cut_over_and_success_are_read_from_the_target_and_the_deployment() {
        let group = mock!(Client::get_deployment_group)
            .match_requests(|r| {
                r.application_name() == Some("AppECS-prod-eu-checkout")
                    && r.deployment_group_name() == Some("DgpECS-prod-eu-checkout")
            })
            .then_http_response(|| recorded("codedeploy.get-deployment-group.json"));
        let list = mock!(Client::list_deployment_targets)
            .then_output(|| ListDeploymentTargetsOutput::builder().target_ids("prod-eu:checkout").build());
        let target = mock!(Client::get_deployment_target)
            .then_http_response(|| recorded("codedeploy.get-deployment-target.allow-traffic.json"));
        let deployment = mock!(Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-7QHX0M2PB"))
            .then_http_response(|| recorded("codedeploy.get-deployment.succeeded.json"));
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&group, &list, &target, &deployment]);
        let mut r = Reconciler::new(client, 100.0);
        let d = InFlight {
            application: Some("AppECS-prod-eu-checkout".into()),
            deployment_group: Some("DgpECS-prod-eu-checkout".into()),
            ..in_flight("d-7QHX0M2PB", Strategy::CodedeployBlueGreen)
        };
        let seen = r.observe_codedeploy(&d).await.unwrap();
        let identity = Some(("prod-eu".to_owned(), "checkout".to_owned()));
        assert_eq!(
            seen,
            vec![
                Observation::TrafficWeight {
                    deployment_id: "d-7QHX0M2PB".into(),
                    percent: 100.0,
                    at: ms("2026-03-14T09:32:29Z")
                },
                Observation::CodeDeploy(CodeDeployFact {
                    deployment_id: "d-7QHX0M2PB".into(),
                    application: None,
                    deployment_group: None,
                    target: identity.clone(),
                    rollback_of: None,
                    change: CodeDeployChange::TargetCutOver,
                    at: ms("2026-03-14T09:32:29Z"),
                }),
                Observation::CodeDeploy(CodeDeployFact {
                    deployment_id: "d-7QHX0M2PB".into(),
                    application: Some("AppECS-prod-eu-checkout".into()),
                    deployment_group: Some("DgpECS-prod-eu-checkout".into()),
                    target: identity,
                    rollback_of: None,
                    change: CodeDeployChange::Succeeded,
                    at: ms("2026-03-14T09:38:00Z"),
                }),
            ],
            "in lifecycle order, at the AllowTraffic endTime and the completeTime"
        );
        // Cut over: only GetDeployment from now on; the group is cached.
        let d = InFlight { cut_over: true, ..d };
        r.observe_codedeploy(&d).await.unwrap();
        assert_eq!((group.num_calls(), list.num_calls(), target.num_calls(), deployment.num_calls()), (1, 1, 1, 2));
    }

    #[tokio::test]
    async fn a_failed_rollback_deployment_reads_as_failed_with_its_reason_and_what_it_undoes() {
        let deployment = mock!(Client::get_deployment)
            .then_http_response(|| recorded("codedeploy.get-deployment.failed-rollback.json"));
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&deployment]);
        let mut r = Reconciler::new(client, 100.0);
        let d = InFlight { cut_over: true, ..in_flight("d-RBCK7TT0P", Strategy::CodedeployBlueGreen) };
        let seen = r.observe_codedeploy(&d).await.unwrap();
        let [Observation::CodeDeploy(CodeDeployFact { rollback_of, change, at, .. })] = seen.as_slice() else {
            panic!("{seen:?}")
        };
        assert_eq!(rollback_of.as_deref(), Some("d-MAIN4XQ2Z"));
        assert_eq!(
            change,
            &CodeDeployChange::Failed {
                reason: Some(
                    "The deployment failed because a specified percentage of tasks failed health checks.".into()
                )
            }
        );
        assert_eq!(*at, ms("2026-03-14T09:41:00Z"));
    }

    #[tokio::test]
    async fn ecs_native_stage_weight_and_status_come_from_describe_service_deployments() {
        use aws_sdk_ecs::Client as Ecs;
        let arn = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod-eu/gateway/EZe5RNVLH6PPzHXINuP28";
        let rules: Vec<_> = ["canary", "baking", "rolled-back"]
            .into_iter()
            .map(|state| {
                mock!(Ecs::describe_service_deployments)
                    .match_requests(move |r| r.service_deployment_arns() == [arn.to_owned()])
                    .then_http_response(move || recorded(&format!("ecs.describe-service-deployments.{state}.json")))
            })
            .collect();
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rules[0], &rules[1], &rules[2]]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.extend(r.observe_native(&[arn.to_owned()]).await.unwrap());
        }
        let native = |past: bool, weight: f64, status: NativeStatus, at: &str| Observation::ServiceDeployment {
            deployment_arn: arn.into(),
            past_production_shift: past,
            production_weight: Some(weight),
            status,
            at: ms(at),
        };
        let reason = "Service deployment rolled back because the alarm gateway-5xx was in ALARM state.";
        assert_eq!(
            seen,
            vec![
                native(false, 10.0, NativeStatus::InProgress, "2026-03-14T09:34:00Z"),
                native(true, 100.0, NativeStatus::InProgress, "2026-03-14T09:36:02Z"),
                native(false, 0.0, NativeStatus::Failed { reason: reason.into() }, "2026-03-14T09:41:10Z"),
            ]
        );
    }

    #[tokio::test]
    async fn describe_services_finishes_only_the_rolling_deployments_cutover_follows_whose_rollout_ended() {
        use aws_sdk_ecs::Client as Ecs;
        let describe = mock!(Ecs::describe_services)
            .match_requests(|r| r.cluster() == Some("prod-eu") && r.services().len() == 2)
            .then_http_response(|| recorded("ecs.describe-services.rollout.json"));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
        let rolling = |id: &str, service: &str| InFlight {
            cluster: Some("prod-eu".into()),
            service: Some(service.into()),
            ..in_flight(id, Strategy::EcsRolling)
        };
        let wanted = [
            rolling("ecs-svc/5211643699352071000", "storefront"),
            rolling("ecs-svc/7700000000000000001", "search"),
            rolling("ecs-svc/7700000000000000002", "search"),
        ];
        let seen = r.rollouts(&wanted).await.unwrap();
        assert_eq!(
            seen,
            vec![
                Observation::EcsRollout {
                    deployment_id: "ecs-svc/5211643699352071000".into(),
                    change: EcsDeploymentChange::Completed,
                    at: ms("2026-03-14T09:45:44.400Z"),
                },
                Observation::EcsRollout {
                    deployment_id: "ecs-svc/7700000000000000001".into(),
                    change: EcsDeploymentChange::Failed {
                        reason: Some("ECS deployment circuit breaker: tasks failed to start.".into())
                    },
                    at: ms("2026-03-14T09:34:50.500Z"),
                },
            ],
            "the one still IN_PROGRESS is left to its events"
        );
        assert_eq!(describe.num_calls(), 1, "two services of one cluster: one call");
    }

    #[tokio::test]
    async fn a_round_reads_ecs_rolling_deployments_once_at_start_up_and_never_again() {
        let describe = mock!(aws_sdk_ecs::Client::describe_services)
            .then_http_response(|| recorded("ecs.describe-services.rollout.json"));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let rolling = InFlight {
            cluster: Some("prod-eu".into()),
            service: Some("storefront".into()),
            ..in_flight("ecs-svc/5211643699352071000", Strategy::EcsRolling)
        };
        let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs).with_start_up(vec![rolling]);
        // What the intake publishes after each batch has no rolling deployment in it.
        let wanted = Wanted::default();
        let first = r.round(&wanted, &mut Vec::new()).await;
        assert!(matches!(first.as_slice(), [Observation::EcsRollout { change: EcsDeploymentChange::Completed, .. }]));
        assert_eq!((r.calls, describe.num_calls()), (1, 1));
        assert!(r.round(&wanted, &mut Vec::new()).await.is_empty());
        assert_eq!(r.calls, 1, "after start-up: no calls at all for an ECS rolling deployment");
    }

    #[tokio::test]
    async fn the_rollback_window_is_after_allow_traffic_plus_the_termination_wait_asked_until_known() {
        let list = mock!(Client::list_deployment_targets)
            .then_output(|| ListDeploymentTargetsOutput::builder().target_ids("prod-eu:checkout").build());
        let target = mock!(Client::get_deployment_target)
            .then_http_response(|| recorded("codedeploy.get-deployment-target.waiting.json"));
        let deployment =
            mock!(Client::get_deployment).then_http_response(|| recorded("codedeploy.get-deployment.waiting.json"));
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&list, &target, &deployment]);
        let mut r = Reconciler::new(client, 100.0);
        // Cut over already; the window is not known yet.
        let d = InFlight {
            cut_over: true,
            cluster: Some("prod-eu".into()),
            ..in_flight("d-7QHX0M2PB", Strategy::CodedeployBlueGreen)
        };
        let seen = r.observe_codedeploy(&d).await.unwrap();
        let window = seen.iter().find_map(|o| match o {
            Observation::RollbackWindow { until, .. } => Some(*until),
            _ => None,
        });
        // AfterAllowTraffic ended 09:32:49; the group keeps the old task set 60 minutes.
        assert_eq!(window, Some(ms("2026-03-14T10:32:49Z")), "{seen:?}");
        // Once known, only GetDeployment is asked.
        let d = InFlight { rollback_window: true, ..d };
        let seen = r.observe_codedeploy(&d).await.unwrap();
        assert!(seen.iter().all(|o| !matches!(o, Observation::RollbackWindow { .. })));
        assert_eq!((target.num_calls(), deployment.num_calls()), (1, 2));
    }

    #[tokio::test]
    async fn an_invalidation_is_found_by_caller_reference_then_followed_by_id_until_completed() {
        use aws_sdk_cloudfront::Client as CloudFront;
        use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
        use aws_sdk_cloudfront::operation::list_invalidations::ListInvalidationsOutput;
        use aws_sdk_cloudfront::types::{
            Invalidation, InvalidationBatch, InvalidationList, InvalidationSummary, Paths,
        };
        let t = |s: &str| aws_sdk_cloudfront::primitives::DateTime::from_millis(ms(s).millis());
        let summary = move |id: &str, at: &str| {
            InvalidationSummary::builder().id(id).create_time(t(at)).status("InProgress").build().unwrap()
        };
        let list = mock!(CloudFront::list_invalidations).then_output(move || {
            ListInvalidationsOutput::builder()
                .invalidation_list(
                    InvalidationList::builder()
                        .marker("")
                        .max_items(20)
                        .is_truncated(false)
                        .quantity(3)
                        .items(summary("I3OTHERDEPLOY", "2026-03-14T09:31:50Z"))
                        .items(summary("I2OURS0000001", "2026-03-14T09:31:43Z"))
                        .items(summary("I1LASTWEEK001", "2026-03-07T10:00:00Z"))
                        .build()
                        .unwrap(),
                )
                .build()
        });
        let invalidation = move |id: &str, reference: &str, status: &str| {
            GetInvalidationOutput::builder()
                .invalidation(
                    Invalidation::builder()
                        .id(id)
                        .status(status)
                        .create_time(t("2026-03-14T09:31:43Z"))
                        .invalidation_batch(
                            InvalidationBatch::builder()
                                .caller_reference(reference)
                                .paths(Paths::builder().quantity(1).items("/*").build().unwrap())
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
        };
        let other = mock!(CloudFront::get_invalidation)
            .match_requests(|r| r.id() == Some("I3OTHERDEPLOY"))
            .then_output(move || invalidation("I3OTHERDEPLOY", "cutover-E2-other", "InProgress"));
        let ours = mock!(CloudFront::get_invalidation)
            .match_requests(|r| r.id() == Some("I2OURS0000001"))
            .sequence()
            .output(move || invalidation("I2OURS0000001", "cutover-E2-ours", "InProgress"))
            .output(move || invalidation("I2OURS0000001", "cutover-E2-ours", "Completed"))
            .build();
        let cf = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&list, &other, &ours]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let mut r = Reconciler::new(codedeploy, 100.0).with_cloudfront(cf);
        let wanted = InvalidationWanted {
            deployment_id: "ecs-svc/5211643699352071000".into(),
            distribution_id: "E2QWRUHAPOMQZL".into(),
            caller_reference: "cutover-E2-ours".into(),
            decided_at: ms("2026-03-14T09:31:41.900Z"),
        };
        assert_eq!(r.invalidation(&wanted).await.unwrap(), None, "found, still in progress");
        let Some(Observation::InvalidationDone { invalidation_id, created_at, .. }) =
            r.invalidation(&wanted).await.unwrap()
        else {
            panic!("completed")
        };
        assert_eq!((invalidation_id.as_str(), created_at), ("I2OURS0000001", ms("2026-03-14T09:31:43Z")));
        // Listed once; the one from last week was never fetched; then followed by id.
        assert_eq!((list.num_calls(), other.num_calls(), ours.num_calls()), (1, 1, 2));
    }

    #[tokio::test]
    async fn oci_labels_come_from_the_first_container_that_carries_them() {
        let describe = mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(|r| {
                r.task_definition() == Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:42")
            })
            .then_http_response(|| recorded("ecs.describe-task-definition.oci-labels.json"));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
        let td = "arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:42";
        let wanted = Wanted { labels: vec![td.to_owned()], ..Wanted::default() };
        let seen = r.round(&wanted, &mut Vec::new()).await;
        assert_eq!(
            seen,
            vec![Observation::TaskDefinitionLabels {
                task_definition: td.into(),
                labels: ImageLabels {
                    revision: Some("9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b".into()),
                    source: Some("https://github.com/example/storefront".into()),
                    version: Some("2.4.0".into()),
                    created: Some("2026-03-14T09:12:40Z".into()),
                },
            }]
        );
        // Asked once per task definition.
        assert!(r.round(&wanted, &mut Vec::new()).await.is_empty());
        assert_eq!(describe.num_calls(), 1);
    }

    #[tokio::test]
    async fn service_tags_are_read_with_describe_services_once_per_service() {
        let describe = mock!(aws_sdk_ecs::Client::describe_services)
            .match_requests(|r| r.include() == [aws_sdk_ecs::types::ServiceField::Tags] && r.services().len() == 2)
            .then_http_response(|| recorded("ecs.describe-services.tags.json"));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
        let wanted = Wanted {
            tags: vec![("prod-eu".into(), "storefront".into()), ("prod-eu".into(), "gone".into())],
            ..Wanted::default()
        };
        let seen = r.round(&wanted, &mut Vec::new()).await;
        let tags = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        assert_eq!(
            seen,
            vec![
                Observation::ServiceTags {
                    cluster: "prod-eu".into(),
                    service: "storefront".into(),
                    tags: tags(&[("environment", "prod"), ("team", "web")]),
                    service_arn: Some("arn:aws:ecs:eu-west-1:123456789012:service/prod-eu/storefront".into()),
                },
                // Not found (deleted since): no tags, and not asked again.
                Observation::ServiceTags {
                    cluster: "prod-eu".into(),
                    service: "gone".into(),
                    tags: tags(&[]),
                    service_arn: None,
                },
            ]
        );
        assert!(r.round(&wanted, &mut Vec::new()).await.is_empty());
        assert_eq!(describe.num_calls(), 1);
        assert!(!wanted.urgent(&wanted.urgent_keys().collect()), "asked: not urgent again");
        assert!(wanted.urgent(&std::collections::HashSet::new()));
    }

    #[tokio::test]
    async fn the_approver_is_who_updated_the_approval_action_of_that_execution() {
        use aws_sdk_codepipeline::Client as CodePipeline;
        let list = mock!(CodePipeline::list_action_executions)
            .match_requests(|r| {
                r.pipeline_name() == Some("storefront-release")
                    && r.filter().and_then(|f| f.pipeline_execution_id())
                        == Some("e17b5773-cc0d-4db2-9ad7-594c73888de8")
            })
            .then_http_response(|| recorded("codepipeline.list-action-executions.approval.json"));
        let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&list]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let mut r = Reconciler::new(codedeploy, 100.0).with_codepipeline(cp);
        let wanted = Wanted {
            approvals: vec![("storefront-release".into(), "e17b5773-cc0d-4db2-9ad7-594c73888de8".into())],
            ..Wanted::default()
        };
        let seen = r.round(&wanted, &mut Vec::new()).await;
        assert_eq!(
            seen,
            vec![Observation::Approval {
                execution_id: "e17b5773-cc0d-4db2-9ad7-594c73888de8".into(),
                approved_by: Some("arn:aws:iam::123456789012:user/mary.major".into()),
            }],
            "the approval action's updatedBy, not the pipeline role of the other actions"
        );
        assert_eq!(list.num_calls(), 1);
    }
}
