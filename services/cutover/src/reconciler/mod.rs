//! The reconciler: asks the AWS APIs what the events leave out, one asker per AWS service
//! ([`codedeploy`], [`ecs`], [`cloudfront`], [`codepipeline`]); this file paces them and runs
//! the rounds. Its answers are inputs to the
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
//!   succeeded, once: who approved it (`updatedBy`) and their comment.
//! - **Pipelines**: when a deploy action (`ECS`, `CodeDeployToECS`, `CodeDeploy`,
//!   `CloudFormation`) starts, `ListActionExecutions` of its execution: the targets its
//!   configuration names (`ListStackResources` for a stack's ECS services), cached per pipeline
//!   version and stack; and once per such execution `GetPipelineExecution`: its source
//!   revisions and trigger; for an approval waiting, `GetPipeline` once per pipeline version:
//!   the stages and actions in order (where the approval leads). Nothing for a pipeline with no
//!   deploy action or approval in flight; a pipeline
//!   the role may not read is warned of once, and its deployments go on without context.
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

mod cloudfront;
mod codedeploy;
mod codepipeline;
mod ecs;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_codedeploy::Client;
use aws_smithy_types::DateTime;
use cutover_correlator::facts::ServiceKey;
use cutover_correlator::{ActionTarget, CensusRequest, InFlight, Observation, Wanted};
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
    cloudformation: Option<aws_sdk_cloudformation::Client>,
    /// A deploy action's targets by pipeline, version, stage and action (from a configuration
    /// without variables: it does not change within a version).
    action_targets: HashMap<(String, u64, String, String), Vec<ActionTarget>>,
    /// The ECS services of each stack a CloudFormation action updates.
    stacks: HashMap<String, Vec<ActionTarget>>,
    /// Executions whose revisions were read (the answer is on its way to the intake).
    executions_read: std::collections::HashSet<String>,
    /// Pipeline structures read (`structure <name> <version>`).
    structures_read: std::collections::HashSet<String>,
    /// Items whose denial was warned of: once each, for the reconciler's life.
    warned: std::collections::HashSet<String>,
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

/// What a denial is warned of once for: the pipeline, for every CodePipeline ask about it
/// (one warning per pipeline); the item itself otherwise.
fn warn_key(item: &str) -> String {
    match item.split_once(' ') {
        Some(("approval" | "pipeline-action" | "execution" | "structure", rest)) => {
            format!("pipeline {}", rest.split(' ').next().unwrap_or(rest))
        }
        _ => item.to_owned(),
    }
}

/// The item a pipeline structure is asked as: `structure <name> <version or latest>`.
fn structure_item(pipeline: &str, version: Option<u64>) -> String {
    format!("structure {pipeline} {}", version.map_or_else(|| "latest".to_owned(), |v| v.to_string()))
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
            cloudformation: None,
            action_targets: HashMap::new(),
            stacks: HashMap::new(),
            warned: std::collections::HashSet::new(),
            executions_read: std::collections::HashSet::new(),
            structures_read: std::collections::HashSet::new(),
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

    /// Asks CloudFormation which ECS services a stack a pipeline's CloudFormation action
    /// updates holds.
    pub fn with_cloudformation(mut self, cloudformation: aws_sdk_cloudformation::Client) -> Self {
        self.cloudformation = Some(cloudformation);
        self
    }

    /// Asks CloudFront about the invalidations Cutover created.
    pub fn with_cloudfront(mut self, cloudfront: aws_sdk_cloudfront::Client) -> Self {
        self.cloudfront = Some(cloudfront);
        self
    }

    pub(super) async fn paced(&mut self) {
        self.calls += 1;
        tokio::time::sleep(self.pace * self.slow).await;
    }

    /// Acts on a failed ask of `item`: true when the round should stop (throttled).
    pub(super) fn failed(&mut self, item: &str, what: &'static str, error: AskError) -> bool {
        match error {
            AskError::Throttled(e) => {
                self.slow = (self.slow * 2).min(64);
                tracing::warn!(message = what, item, error = %e, then = "the rest of the round waits; the next goes slower");
                true
            }
            AskError::Denied(e) => {
                let warn_as = warn_key(item);
                if self.denied.insert(item.to_owned()) && self.warned.insert(warn_as) {
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

    /// One round over what the intake wants (the first also reads the rollout state of the
    /// ECS rolling deployments in flight at start-up). A failure is logged and asked again next
    /// round; throttling stops the round and slows the next ([`AskError::Throttled`]); an item
    /// the role may not ask about is not asked again until what is wanted changes
    /// ([`AskError::Denied`]).
    pub async fn round(&mut self, wanted: &Wanted, counted: &mut Vec<ServiceKey>) -> Vec<Observation> {
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
    async fn round_inner(
        &mut self,
        wanted: &Wanted,
        counted: &mut Vec<ServiceKey>,
        found: &mut Vec<Observation>,
    ) -> bool {
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
        self.executions_read.retain(|e| wanted.executions.iter().any(|(_, x)| x == e));
        self.structures_read.retain(|item| wanted.structures.iter().any(|(p, v)| *item == structure_item(p, *v)));
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
        for w in &wanted.pipeline_actions {
            let item = format!("pipeline-action {} {} {} {}", w.pipeline, w.execution_id, w.stage, w.action);
            if self.denied.contains(&item) {
                continue;
            }
            match self.deploy_targets(w).await {
                Ok(o) => found.extend(o),
                Err(error) => {
                    if self.failed(&item, "Failed to ask CodePipeline what a deploy action deploys.", error) {
                        return false;
                    }
                }
            }
        }
        for (pipeline, execution) in &wanted.executions {
            let item = format!("execution {pipeline} {execution}");
            if self.denied.contains(&item) || self.executions_read.contains(execution) {
                continue;
            }
            match self.execution(pipeline, execution).await {
                Ok(o) => {
                    self.executions_read.insert(execution.clone());
                    found.extend(o);
                }
                Err(error) => {
                    if self.failed(&item, "Failed to read a pipeline execution's source revisions.", error) {
                        return false;
                    }
                }
            }
        }
        for (pipeline, version) in &wanted.structures {
            let item = structure_item(pipeline, *version);
            if self.denied.contains(&item) || self.structures_read.contains(&item) {
                continue;
            }
            match self.structure(pipeline, *version).await {
                Ok(o) => {
                    self.structures_read.insert(item);
                    found.extend(o);
                }
                Err(error) => {
                    // Asked once (until what is wanted changes): a pipeline that cannot be read
                    // (deleted, not found) would fail every round. Its approvals stay held.
                    let throttled = matches!(error, AskError::Throttled(_));
                    if !throttled {
                        self.structures_read.insert(item.clone());
                    }
                    if self.failed(&item, "Failed to read a pipeline's structure.", error) {
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
    let mut counted: Vec<ServiceKey> = Vec::new();
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
pub(crate) mod tests;
