//! The state machine: facts in, lifecycle decisions and their actions out.
//!
//! Each fact updates the evidence of the deployments it concerns, then [`Correlator::settle`]
//! takes every decision that evidence now proves, in lifecycle order. The first proof wins
//! and a decision is never taken back; `at` is the AWS time of the proof (the latest of the
//! times when several events prove it together).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use cutover_events::annotation::DeployAnnotation;
use cutover_events::codepipeline::ExecutionState;
use cutover_events::ecs::TaskStatus;
use cutover_events::emitted::{DetailType, PipelineContext, SOURCE, Strategy};
use cutover_events::{Inbound, Timestamp};
use serde::{Deserialize, Serialize};

use crate::action::{Action, Invalidation, SlackMessage, caller_reference};
pub use crate::deployment::ImageLabels;
use crate::deployment::{Deployment, InvalidationRecord, Step, ecs_service};
pub use crate::facts::{CodeDeployChange, EcsDeploymentChange};
use crate::facts::{CodeDeployFact, Fact, Normalised, PipelineFact, ServiceRef, TaskFact, normalise};
use crate::message;
use crate::routing::{Broadcast, Identity, Routing, SlackId};
use crate::templates::{self, Templates};

/// ` cc <@U…> <!subteam^S…>`: the deployer first, each id once; empty when there is no one.
fn mentions(ids: &[SlackId], deployer: Option<&SlackId>) -> String {
    let mut all: Vec<&SlackId> = deployer.into_iter().collect();
    for id in ids {
        if !all.contains(&id) {
            all.push(id);
        }
    }
    if all.is_empty() {
        return String::new();
    }
    format!(" cc {}", all.iter().map(|id| id.mention()).collect::<Vec<_>>().join(" "))
}

/// Default retention in event time: 7 days.
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
const SWEEP_EVERY_MS: i64 = 3600 * 1000;

/// One input to the correlator.
#[derive(Debug, Clone)]
pub enum Input {
    /// A message from the queue, parsed.
    Message(Box<Inbound>),
    /// An answer from the reconciler (AWS APIs).
    Observed(Observation),
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
    ServiceTasks { service_key: String, at: Timestamp, tasks: Vec<CensusTask> },
    /// What CodeDeploy's `GetDeployment` (status, times, rollback), `GetDeploymentTarget`
    /// (the AllowTraffic lifecycle event) or `GetDeploymentGroup` (identity) says about a
    /// deployment: handled like the event it stands in for, at AWS time `at`.
    CodeDeploy(CodeDeployFact),
    /// CodePipeline `ListActionExecutions`: who approved the execution's manual approval
    /// (`updatedBy`), or none when CodePipeline does not say.
    Approval { execution_id: String, approved_by: Option<String> },
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

/// A deployment in flight, as the reconciler needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Its key (`ecs-svc/…`, `d-…`, or a service-deployment ARN).
    pub id: String,
    pub strategy: Strategy,
    pub cut_over: bool,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub application: Option<String>,
    pub deployment_group: Option<String>,
    /// ECS-native: its service-deployment ARN (its key or an alias).
    pub service_deployment_arn: Option<String>,
    /// CodeDeploy: its rollback window is known.
    pub rollback_window: bool,
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

/// A service whose old tasks the reconciler should count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CensusRequest {
    pub service_key: String,
    pub cluster: String,
    pub service: String,
}

/// Counters over everything handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Relevant messages handled.
    pub accepted: u64,
    /// Redeliveries (same dedupe key, or an ECS task version already seen).
    pub duplicates: u64,
    /// Well-formed messages Cutover does not use.
    pub ignored: u64,
    /// Deployments followed.
    pub deployments: u64,
    /// Of the ignored, those older than the retention behind the event clock.
    #[serde(default)]
    pub stale: u64,
}

/// The pure deployment state machine. No IO and no clock: `now` is passed in.
#[derive(Debug)]
pub struct Correlator {
    routing: Routing,
    templates: Templates,
    retention_ms: i64,
    state: State,
}

/// Everything the correlator remembers; serde, so the service can persist it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    deployments: BTreeMap<String, Deployment>,
    /// Other ids of one rollout (`ecs-svc/…` ↔ service-deployment ARN) → its key.
    aliases: BTreeMap<String, String>,
    tasks: HashMap<String, TaskRecord>,
    services: BTreeMap<String, ServiceRecord>,
    pipelines: BTreeMap<String, PipelineRecord>,
    pipeline_by_deployment: BTreeMap<String, String>,
    dedupe: Dedupe,
    /// ECS service tags by [`Deployment::tags_key`], read when routes select on tags.
    #[serde(default)]
    service_tags: BTreeMap<String, BTreeMap<String, String>>,
    /// OCI labels per task definition ARN, read once each (only those of deployments held).
    #[serde(default)]
    labels: BTreeMap<String, ImageLabels>,
    /// CI's deploy annotations by `<cluster>/<service>` (each with the account it comes from),
    /// newest last, until joined or expired.
    #[serde(default)]
    annotations: BTreeMap<String, Vec<AnnotationRecord>>,
    /// The latest AWS time seen.
    clock: Timestamp,
    next_sweep: Timestamp,
    stats: Stats,
}

/// How long (AWS time) the reconciler is asked about something after it happened: an
/// invalidation's completion after its decision, an approver after the approval.
const WATCH_MS: i64 = 3600 * 1000;

/// An invalidation the reconciler should look at: created yet, and completed?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidationWanted {
    pub deployment_id: String,
    pub distribution_id: String,
    pub caller_reference: String,
    /// AWS time of the cut-over that decided it.
    pub decided_at: Timestamp,
}

/// A deploy annotation waiting for (or joined to) its deployment.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AnnotationRecord {
    annotation: DeployAnnotation,
    at: Timestamp,
    joined_to: Option<String>,
    /// The account its envelope names; it joins only deployments of that account.
    #[serde(default)]
    account: Option<String>,
}

impl AnnotationRecord {
    /// By account only: the envelope's region is where CI put the annotation, which a central
    /// bus need not share with the service; the account is the one CI runs in, and EventBridge
    /// keeps it when it forwards the event.
    fn in_scope(&self, d: &Deployment) -> bool {
        d.in_account(self.account.as_deref())
    }
}

/// Annotations kept per service: CI annotates each deployment once.
const ANNOTATIONS_PER_SERVICE: usize = 10;
/// How far apart in time an annotation that names neither a known version nor a known task
/// definition and the start of a deployment whose version is unknown may be, to be joined.
const ANNOTATION_WINDOW_MS: i64 = 30 * 60 * 1000;

/// The annotation names the deployment's image tag or task definition (ARN, or
/// `family:revision`).
fn annotation_matches(a: &DeployAnnotation, d: &Deployment) -> bool {
    let tag = a.image_tag.as_deref().is_some_and(|t| d.version.as_deref() == Some(t));
    let td = a.task_definition.as_deref().is_some_and(|t| {
        d.task_definition.as_deref().is_some_and(|dt| dt == t || dt.strip_suffix(t).is_some_and(|p| p.ends_with('/')))
    });
    tag || td
}

/// What the census knows of one service task.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TaskRecord {
    service_key: String,
    deployment: Option<String>,
    task_definition: Option<String>,
    version: u64,
    last_status: TaskStatus,
    /// AWS time of its first RUNNING event.
    running_at: Option<Timestamp>,
    /// Seen RUNNING: it served traffic. A task first seen while it drains is not counted
    /// (DESIGN.md: old tasks are the ones *seen running*).
    seen_running: bool,
    /// AWS time it was told to stop (`desiredStatus` STOPPED).
    stop_requested_at: Option<Timestamp>,
    failure_reported: bool,
    last_at: Timestamp,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ServiceRecord {
    /// The reconciler's census of its tasks has been applied.
    #[serde(default)]
    censused: bool,
    tasks: BTreeSet<String>,
    /// Deployments of the service, in the order Cutover first saw them.
    deployments: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PipelineRecord {
    context: PipelineContext,
    deployment: Option<String>,
    last_at: Timestamp,
    /// The reconciler looked for the approver (found or not).
    #[serde(default)]
    approver_checked: bool,
}

/// Dedupe keys with their expiry, oldest first.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Dedupe {
    keys: HashSet<String>,
    order: VecDeque<(Timestamp, String)>,
}

impl Dedupe {
    /// False if the key was already seen.
    fn insert(&mut self, key: &str, expires: Timestamp) -> bool {
        if self.keys.contains(key) {
            return false;
        }
        self.keys.insert(key.to_owned());
        self.order.push_back((expires, key.to_owned()));
        true
    }

    fn expire(&mut self, now: Timestamp) {
        while self.order.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, key)) = self.order.pop_front() {
                self.keys.remove(&key);
            }
        }
    }
}

impl Correlator {
    /// A correlator with the given routing and the default retention.
    pub fn new(routing: Routing) -> Self {
        // Templates that do not compile were reported by the config check; their routes use
        // the default.
        let (templates, _) = Templates::new(&routing.templates);
        Self { routing, templates, retention_ms: DEFAULT_RETENTION_MS, state: State::default() }
    }

    /// Overrides the retention (event time) of finished deployments and dedupe keys.
    #[must_use]
    pub fn with_retention_ms(mut self, retention_ms: i64) -> Self {
        self.retention_ms = retention_ms;
        self
    }

    /// Resumes from persisted state.
    pub fn with_state(mut self, state: State) -> Self {
        self.state = state;
        self
    }

    /// The state, for persistence.
    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn stats(&self) -> Stats {
        self.state.stats
    }

    /// Deployments held in memory now (in flight, or finished within the retention).
    pub fn deployments_held(&self) -> usize {
        self.state.deployments.len()
    }

    /// The deployments in flight the reconciler asks about every round: CodeDeploy and
    /// ECS-native ones. ECS rolling deployments are left out (their events say everything; see
    /// [`Correlator::rolling_in_flight`]), so publishing this after each batch stays cheap for
    /// a fleet of rolling services.
    pub fn in_flight(&self) -> Vec<InFlight> {
        self.in_flight_where(|d, arn| d.strategy == Strategy::CodedeployBlueGreen || arn.is_some())
    }

    /// The ECS rolling deployments in flight: asked about once, at start-up (their rollout
    /// state may have moved while Cutover was down).
    pub fn rolling_in_flight(&self) -> Vec<InFlight> {
        self.in_flight_where(|d, arn| d.id.starts_with("ecs-svc/") && arn.is_none())
    }

    /// The deployments in flight that `keep` (given the service-deployment ARN, when one of
    /// its ids is one) selects, built only for those.
    fn in_flight_where(&self, keep: impl Fn(&Deployment, Option<&String>) -> bool) -> Vec<InFlight> {
        self.state
            .deployments
            .values()
            .filter(|d| d.is_in_flight())
            .filter_map(|d| {
                let arn = std::iter::once(&d.id).chain(&d.aliases).find(|a| a.contains(":service-deployment/"));
                keep(d, arn).then(|| InFlight {
                    id: d.id.clone(),
                    strategy: d.strategy,
                    cut_over: d.cut_over_at().is_some(),
                    cluster: d.cluster.clone(),
                    service: d.service.clone(),
                    application: d.application.clone(),
                    deployment_group: d.deployment_group.clone(),
                    service_deployment_arn: arn.cloned(),
                    rollback_window: d.rollback_window_until.is_some(),
                })
            })
            .collect()
    }

    /// The CodeDeploy deployments in flight that have not cut over.
    pub fn codedeploy_in_flight(&self) -> Vec<String> {
        self.in_flight()
            .into_iter()
            .filter(|d| d.strategy == Strategy::CodedeployBlueGreen && !d.cut_over)
            .map(|d| d.id)
            .collect()
    }

    /// The services with an ECS rolling deployment in flight, not cut over, whose tasks have
    /// not been counted: the reconciler's census requests (one per deployment start; none in
    /// steady state).
    pub fn census_wanted(&self) -> Vec<CensusRequest> {
        let mut out: Vec<CensusRequest> = Vec::new();
        for d in self.state.deployments.values() {
            if d.strategy != Strategy::EcsRolling || !d.is_in_flight() || d.cut_over_at().is_some() {
                continue;
            }
            let (Some(key), Some(cluster), Some(service)) = (&d.service_key, &d.cluster, &d.service) else { continue };
            if self.state.services.get(key).is_some_and(|s| s.censused) || out.iter().any(|r| r.service_key == *key) {
                continue;
            }
            out.push(CensusRequest { service_key: key.clone(), cluster: cluster.clone(), service: service.clone() });
        }
        out
    }

    /// Applies a census: running tasks Cutover has not seen become known running tasks of the
    /// deployment that started them (old tasks, for the rolling cut-over rule).
    fn on_census(
        &mut self,
        observed: Timestamp,
        key: &str,
        at: Timestamp,
        tasks: Vec<CensusTask>,
        out: &mut Vec<Action>,
    ) {
        let Some(svc) = self.state.services.get_mut(key) else { return };
        if svc.censused {
            return;
        }
        svc.censused = true;
        for t in tasks.into_iter().filter(|t| t.running) {
            if self.state.tasks.contains_key(&t.task_arn) {
                continue;
            }
            let deployment = t.started_by.as_deref().map(|d| self.canonical(d).to_owned());
            self.state.tasks.insert(
                t.task_arn.clone(),
                TaskRecord {
                    service_key: key.to_owned(),
                    deployment,
                    task_definition: t.task_definition,
                    version: 0,
                    last_status: TaskStatus::Running,
                    running_at: None,
                    seen_running: true,
                    stop_requested_at: None,
                    failure_reported: false,
                    last_at: at,
                },
            );
            if let Some(svc) = self.state.services.get_mut(key) {
                svc.tasks.insert(t.task_arn);
            }
        }
        self.settle_service(key, observed, out);
    }

    /// What DescribeServiceDeployments says about an ECS-native deployment Cutover follows.
    #[allow(clippy::too_many_arguments)]
    fn on_service_deployment(
        &mut self,
        now: Timestamp,
        arn: &str,
        past_production_shift: bool,
        weight: Option<f64>,
        status: NativeStatus,
        at: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let id = self.canonical(arn).to_owned();
        if !self.state.deployments.contains_key(&id) {
            return;
        }
        self.advance(at);
        if let Some(percent) = weight.filter(|w| *w > 0.0) {
            self.apply(now, Fact::TrafficWeight { deployment_id: id.clone(), percent, at }, out);
        }
        let observed = now.max(self.state.clock);
        let d = self.dep_mut(&id);
        d.touch(at);
        d.evidence.started.get_or_insert(at);
        if past_production_shift {
            d.evidence.cut_over.get_or_insert(at);
        }
        match status {
            NativeStatus::InProgress => {}
            NativeStatus::Successful => {
                d.evidence.succeeded.get_or_insert(at);
            }
            NativeStatus::Failed { reason } => {
                d.evidence.failed.get_or_insert((at, reason));
            }
        }
        self.settle(&id, observed, out);
    }

    /// A deployment, by any of its ids.
    pub fn deployment(&self, id: &str) -> Option<&Deployment> {
        self.state.deployments.get(self.canonical(id))
    }

    /// The latest AWS time seen.
    pub fn clock(&self) -> Timestamp {
        self.state.clock
    }

    /// When [`Correlator::handle_timeout`] next has work (expiring old state).
    pub fn next_timeout(&self) -> Option<Timestamp> {
        (!self.state.deployments.is_empty() || !self.state.dedupe.order.is_empty()).then_some(self.state.next_sweep)
    }

    /// Expires state past its retention.
    #[must_use]
    pub fn handle_timeout(&mut self, now: Timestamp) -> Vec<Action> {
        let clock = self.state.clock.max(now);
        self.sweep(clock);
        Vec::new()
    }

    /// Handles one input and returns the actions it decided, in decision order: per decision,
    /// `emit`, then the Slack action, then `cloudfront.invalidate`.
    #[must_use]
    pub fn handle(&mut self, now: Timestamp, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Message(m) => self.on_message(now, &m, &mut out),
            Input::Observed(Observation::TrafficWeight { deployment_id, percent, at }) => {
                self.advance(at);
                self.apply(now, Fact::TrafficWeight { deployment_id, percent, at }, &mut out);
            }
            Input::Observed(Observation::ServiceTasks { service_key, at, tasks }) => {
                // `at` is Cutover's clock at the answer, not an AWS event time: it must not move
                // the event clock (a clock ahead of the events would expire state and dedupe
                // keys early, and a redelivery would be decided again).
                self.on_census(now, &service_key, at, tasks, &mut out);
            }
            Input::Observed(Observation::CodeDeploy(fact)) => {
                // Only about deployments Cutover follows: the reconciler asks about no other.
                if self.deployment(&fact.deployment_id).is_some() {
                    self.advance(fact.at);
                    self.on_codedeploy(now.max(self.state.clock), fact, &mut out);
                }
            }
            Input::Observed(Observation::Approval { execution_id, approved_by }) => {
                if let Some(rec) = self.state.pipelines.get_mut(&execution_id)
                    && !rec.approver_checked
                {
                    rec.approver_checked = true;
                    if approved_by.is_some() {
                        rec.context.approved_by = approved_by;
                        let linked = rec.deployment.clone().map(|d| self.canonical(&d).to_owned());
                        if let Some(id) = linked
                            && self.state.deployments.get(&id).is_some_and(Deployment::has_message)
                        {
                            out.push(Action::SlackUpdate(self.message_of(&id)));
                        }
                    }
                }
            }
            Input::Observed(Observation::ServiceTags { cluster, service, tags, service_arn }) => {
                // Whose tags: the service the ARN names; without one (an older journal entry),
                // every followed service of that cluster and name.
                let mut keys: Vec<String> = match service_arn.as_deref().and_then(ServiceRef::from_service_arn) {
                    Some(s) => vec![s.key],
                    None => self
                        .state
                        .deployments
                        .values()
                        .filter(|d| d.cluster.as_deref() == Some(&cluster) && d.service.as_deref() == Some(&service))
                        .filter_map(Deployment::tags_key)
                        .collect(),
                };
                // A CodeDeploy deployment of that service knows neither region nor account.
                keys.push(ecs_service(&cluster, &service));
                keys.sort();
                keys.dedup();
                let mut changed = Vec::new();
                for key in keys {
                    if self.state.service_tags.get(&key) != Some(&tags) {
                        self.state.service_tags.insert(key.clone(), tags.clone());
                        changed.push(key);
                    }
                }
                // A post held for these tags goes out now.
                let pending: Vec<String> = self
                    .state
                    .deployments
                    .values()
                    .filter(|d| d.post_pending && d.tags_key().is_some_and(|k| changed.contains(&k)))
                    .map(|d| d.id.clone())
                    .collect();
                for id in pending {
                    self.fill_identity(&id);
                    self.post(&id, &mut out);
                }
            }
            Input::Observed(Observation::TaskDefinitionLabels { task_definition, labels }) => {
                let known =
                    self.state.deployments.values().any(|d| d.task_definition.as_deref() == Some(&task_definition));
                if known && self.state.labels.get(&task_definition) != Some(&labels) {
                    self.state.labels.insert(task_definition.clone(), labels);
                    let posted: Vec<String> = self
                        .state
                        .deployments
                        .values()
                        .filter(|d| d.task_definition.as_deref() == Some(&task_definition))
                        .filter(|d| d.is_in_flight() && d.has_message() && d.rollback_of.is_none())
                        .map(|d| d.id.clone())
                        .collect();
                    for id in posted {
                        out.push(Action::SlackUpdate(self.message_of(&id)));
                    }
                }
            }
            Input::Observed(Observation::InvalidationDone {
                deployment_id,
                distribution_id,
                invalidation_id,
                created_at,
                completed_by,
            }) => {
                self.on_invalidation_done(
                    &deployment_id,
                    &distribution_id,
                    &invalidation_id,
                    created_at,
                    completed_by,
                    &mut out,
                );
            }
            Input::Observed(Observation::RollbackWindow { deployment_id, until }) => {
                let id = self.canonical(&deployment_id).to_owned();
                if let Some(d) = self.state.deployments.get_mut(&id)
                    && d.rollback_window_until != Some(until)
                {
                    d.rollback_window_until = Some(until);
                    if d.has_message() && d.rollback_of.is_none() {
                        out.push(Action::SlackUpdate(self.message_of(&id)));
                    }
                }
            }
            Input::Observed(Observation::EcsRollout { deployment_id, change, at }) => {
                let known = self.deployment(&deployment_id).and_then(|d| {
                    let key = d.service_key.clone()?;
                    Some(ServiceRef { key, cluster: d.cluster.clone()?, service: d.service.clone()? })
                });
                if let Some(service) = known {
                    self.advance(at);
                    self.apply(now, Fact::EcsDeployment { service, deployment_id, change, at }, &mut out);
                }
            }
            Input::Observed(Observation::ServiceDeployment {
                deployment_arn,
                past_production_shift,
                production_weight,
                status,
                at,
            }) => {
                self.on_service_deployment(
                    now,
                    &deployment_arn,
                    past_production_shift,
                    production_weight,
                    status,
                    at,
                    &mut out,
                );
            }
        }
        if self.state.clock >= self.state.next_sweep {
            self.sweep(self.state.clock);
        }
        out
    }

    fn on_message(&mut self, now: Timestamp, m: &Inbound, out: &mut Vec<Action>) {
        let facts = match normalise(m) {
            Normalised::Irrelevant(_) => {
                self.state.stats.ignored += 1;
                return;
            }
            Normalised::Facts(facts) => facts,
        };
        let at = facts.iter().map(Fact::at).max().unwrap_or(self.state.clock);
        // Older than the retention behind the event clock: its dedupe key may be forgotten, so
        // it cannot be told from a redelivery, and must not open a deployment or post.
        if at < self.state.clock.plus_millis(-self.retention_ms) {
            self.state.stats.ignored += 1;
            self.state.stats.stale += 1;
            return;
        }
        if !self.state.dedupe.insert(&m.dedupe_key, at.plus_millis(self.retention_ms)) {
            self.state.stats.duplicates += 1;
            return;
        }
        self.advance(at);
        let mut duplicate = false;
        for fact in facts {
            duplicate |= !self.apply(now, fact, out);
        }
        if duplicate {
            self.state.stats.duplicates += 1;
        } else {
            self.state.stats.accepted += 1;
        }
    }

    fn advance(&mut self, at: Timestamp) {
        if at > self.state.clock {
            self.state.clock = at;
        }
        if self.state.next_sweep == Timestamp::default() {
            self.state.next_sweep = at.plus_millis(SWEEP_EVERY_MS);
        }
    }

    /// Applies one fact; false when it was a duplicate.
    fn apply(&mut self, now: Timestamp, fact: Fact, out: &mut Vec<Action>) -> bool {
        let observed = now.max(self.state.clock);
        match fact {
            Fact::Task(t) => return self.on_task(observed, t, out),
            Fact::EcsDeployment { service, deployment_id, change, at } => {
                self.on_ecs_deployment(observed, &service, &deployment_id, change, at, out);
            }
            Fact::EcsHook { service, deployment_arn, stage_after_production_shift, at } => {
                let id = self.ensure_native(&service, &deployment_arn, at);
                let d = self.dep_mut(&id);
                d.evidence.started.get_or_insert(at);
                if stage_after_production_shift {
                    d.evidence.cut_over.get_or_insert(at);
                }
                self.settle(&id, observed, out);
            }
            Fact::CodeDeploy(c) => self.on_codedeploy(observed, c, out),
            Fact::Annotation { annotation, at, account } => {
                self.on_annotation(AnnotationRecord { annotation: *annotation, at, joined_to: None, account }, out);
            }
            Fact::Pipeline(p) => self.on_pipeline(p, out),
            Fact::TrafficWeight { deployment_id, percent, at } => {
                let id = self.canonical(&deployment_id).to_owned();
                let Some(d) = self.state.deployments.get_mut(&id) else { return true };
                d.touch(at);
                if d.is_in_flight() && d.cut_over_at().is_none() && percent > 0.0 && !d.shifted(percent) {
                    self.ensure_started(&id, at, observed, out);
                    self.decide(&id, DetailType::TrafficShifted, at, Some(percent), observed, out);
                }
                if percent >= 100.0 {
                    self.dep_mut(&id).evidence.cut_over.get_or_insert(at);
                }
                self.settle(&id, observed, out);
            }
        }
        true
    }

    // ---- ECS rolling ---------------------------------------------------------------------

    fn on_task(&mut self, observed: Timestamp, t: TaskFact, out: &mut Vec<Action>) -> bool {
        let dep = t.deployment_id.as_deref().map(|d| self.canonical(d).to_owned());
        let is_new = !self.state.tasks.contains_key(&t.task_arn);
        let rec = self.state.tasks.entry(t.task_arn.clone()).or_insert_with(|| TaskRecord {
            service_key: t.service.key.clone(),
            deployment: dep.clone(),
            task_definition: t.task_definition.clone(),
            version: 0,
            last_status: t.last_status.clone(),
            running_at: None,
            seen_running: false,
            stop_requested_at: None,
            failure_reported: false,
            last_at: t.at,
        });
        if !is_new && t.version <= rec.version {
            return false;
        }
        rec.version = t.version;
        rec.last_status = t.last_status.clone();
        rec.last_at = t.at;
        if t.last_status == TaskStatus::Running && rec.running_at.is_none() {
            rec.running_at = Some(t.at);
        }
        if t.last_status == TaskStatus::Running {
            rec.seen_running = true;
        }
        if t.desired_status == TaskStatus::Stopped && rec.stop_requested_at.is_none() {
            rec.stop_requested_at = Some(t.at);
        }
        let report_failure = t.failure.is_some() && !rec.failure_reported;
        self.state.services.entry(t.service.key.clone()).or_default().tasks.insert(t.task_arn.clone());

        if let Some(dep) = &dep {
            let starting =
                matches!(t.last_status, TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Activating)
                    && t.desired_status == TaskStatus::Running;
            if !self.state.deployments.contains_key(dep)
                && is_new
                && starting
                && self.replaces_running_tasks(&t.service.key, dep)
            {
                self.create(dep, Strategy::EcsRolling, Some(&t.service), t.at);
            }
            if let Some(d) = self.state.deployments.get_mut(dep) {
                d.touch(t.at);
                if d.task_definition.is_none() {
                    d.task_definition.clone_from(&t.task_definition);
                }
                if d.version.is_none() {
                    d.version.clone_from(&t.image_tag);
                }
                if report_failure && d.is_in_flight() {
                    if let Some(rec) = self.state.tasks.get_mut(&t.task_arn) {
                        rec.failure_reported = true;
                    }
                    let dep = dep.clone();
                    self.ensure_started(&dep, t.at, observed, out);
                    let reason = message::escape(t.failure.as_deref().unwrap_or("stopped"));
                    let task_id = message::escape(t.task_arn.rsplit('/').next().unwrap_or(&t.task_arn));
                    let text = format!(":warning: Task `{task_id}` stopped at {}: {reason}", message::clock(t.at));
                    self.reply(&dep, text, false, out);
                }
            }
        }
        self.settle_service(&t.service.key, observed, out);
        true
    }

    /// A new task of `dep` starts while tasks of another deployment serve: a rollout.
    fn replaces_running_tasks(&self, service_key: &str, dep: &str) -> bool {
        let Some(svc) = self.state.services.get(service_key) else { return false };
        svc.tasks.iter().filter_map(|arn| self.state.tasks.get(arn)).any(|r| {
            r.seen_running
                && r.stop_requested_at.is_none()
                && r.deployment.as_deref().map(|d| self.canonical(d)) != Some(dep)
        })
    }

    fn on_ecs_deployment(
        &mut self,
        observed: Timestamp,
        service: &ServiceRef,
        deployment_id: &str,
        change: EcsDeploymentChange,
        at: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let id = self.ensure_ecs(service, deployment_id, at);
        match change {
            EcsDeploymentChange::InProgress { rollback, rollback_target } => {
                self.dep_mut(&id).evidence.started.get_or_insert(at);
                if rollback {
                    self.link_ecs_rollback(&id, &service.key, rollback_target, at);
                }
            }
            EcsDeploymentChange::Completed => {
                self.dep_mut(&id).evidence.succeeded.get_or_insert(at);
            }
            EcsDeploymentChange::Failed { reason } => {
                let reason = reason.unwrap_or_else(|| "ECS deployment failed".to_owned());
                self.dep_mut(&id).evidence.failed.get_or_insert((at, reason));
            }
        }
        self.settle_service(&service.key, observed, out);
    }

    /// The circuit breaker's rollback undoes the newest other deployment of the service that
    /// has not finished well (in flight, or failed).
    fn link_ecs_rollback(&mut self, id: &str, service_key: &str, target: Option<String>, at: Timestamp) {
        let target = target.map(|t| self.canonical(&t).to_owned());
        {
            let d = self.dep_mut(id);
            if d.rollback_of.is_some() {
                return;
            }
            d.rollback_target.clone_from(&target);
        }
        let Some(svc) = self.state.services.get(service_key) else { return };
        let undone = svc.deployments.iter().rev().find(|other| {
            let Some(o) = self.state.deployments.get(*other) else { return false };
            o.id != id
                && Some(&o.id) != target.as_ref()
                && o.rolled_back_by.is_none()
                && o.rollback_of.is_none()
                && o.first_seen <= at
                && o.terminal().is_none_or(|(t, _)| t == DetailType::Failed)
        });
        if let Some(undone) = undone.cloned() {
            let previous = self.state.deployments.get(&undone).and_then(|u| u.task_definition.clone());
            self.dep_mut(&undone).rolled_back_by = Some(id.to_owned());
            let d = self.dep_mut(id);
            d.rollback_of = Some(undone);
            if d.previous_task_definition.is_none() {
                d.previous_task_definition = previous;
            }
        }
    }

    /// Rolling cut-over: a RUNNING task of the new deployment, and every older task that
    /// served traffic told to stop. `at` is the latest of those events' times. A deployment
    /// that a newer one has overtaken does not cut over this way.
    fn rolling_proof(&self, d: &Deployment) -> Option<Timestamp> {
        if d.strategy != Strategy::EcsRolling {
            return None;
        }
        let svc = self.state.services.get(d.service_key.as_deref()?)?;
        // Once a newer deployment of the service has started, it takes the traffic over:
        // this one can no longer be the version that production runs on.
        let superseded = svc
            .deployments
            .iter()
            .filter_map(|o| self.state.deployments.get(o))
            .any(|o| o.id != d.id && o.first_seen > d.first_seen && o.evidence.started.is_some());
        if superseded {
            return None;
        }
        // Each new task that ran: when it started running, and when it was told to stop.
        let mut new_tasks: Vec<(Timestamp, Option<Timestamp>)> = Vec::new();
        let mut last_stop: Option<Timestamp> = None;
        let mut any_old = false;
        for rec in svc.tasks.iter().filter_map(|arn| self.state.tasks.get(arn)) {
            let owner = rec.deployment.as_deref().map(|o| self.canonical(o));
            if owner == Some(d.id.as_str()) {
                if let Some(r) = rec.running_at {
                    new_tasks.push((r, rec.stop_requested_at));
                }
                continue;
            }
            if !rec.seen_running {
                continue;
            }
            let older = owner.and_then(|o| self.state.deployments.get(o)).is_none_or(|o| o.first_seen <= d.first_seen);
            if !older {
                continue;
            }
            any_old = true;
            last_stop = last_stop.max(Some(rec.stop_requested_at?));
        }
        if !any_old {
            return None;
        }
        // The instant the last old task is told to stop, a new task must be running (started,
        // not yet told to stop): a deployment whose tasks all stopped before that (it failed,
        // and a rollback is stopping the old ones) never had the traffic.
        new_tasks
            .iter()
            .map(|(running, stop)| (running.max(&last_stop.unwrap_or(*running)).to_owned(), stop))
            .filter(|(at, stop)| stop.is_none_or(|s| s > *at))
            .map(|(at, _)| at)
            .min()
    }

    // ---- CodeDeploy ----------------------------------------------------------------------

    fn on_codedeploy(&mut self, observed: Timestamp, c: CodeDeployFact, out: &mut Vec<Action>) {
        let id = self.canonical(&c.deployment_id).to_owned();
        if !self.state.deployments.contains_key(&id) {
            self.create(&id, Strategy::CodedeployBlueGreen, None, c.at);
        }
        let rollback_of = c.rollback_of.clone().filter(|f| *f != id);
        let undone = rollback_of.as_ref().and_then(|f| self.state.deployments.get(self.canonical(f)).cloned());
        let d = self.dep_mut(&id);
        d.touch(c.at);
        if d.application.is_none() {
            d.application.clone_from(&c.application);
        }
        if d.deployment_group.is_none() {
            d.deployment_group.clone_from(&c.deployment_group);
        }
        if let Some((cluster, service)) = &c.target {
            d.cluster.get_or_insert_with(|| cluster.clone());
            d.service.get_or_insert_with(|| service.clone());
        }
        if d.rollback_of.is_none()
            && let Some(f) = &rollback_of
        {
            d.rollback_of = Some(undone.as_ref().map_or_else(|| f.clone(), |u| u.id.clone()));
            if let Some(u) = &undone {
                inherit_identity(d, u);
            }
        }
        match c.change {
            CodeDeployChange::Started => {
                d.evidence.started.get_or_insert(c.at);
            }
            CodeDeployChange::TargetCutOver => {
                d.evidence.cut_over.get_or_insert(c.at);
            }
            CodeDeployChange::Succeeded => {
                d.evidence.succeeded.get_or_insert(c.at);
            }
            CodeDeployChange::Failed { reason } => {
                let reason = reason.unwrap_or_else(|| "CodeDeploy deployment failed".to_owned());
                d.evidence.failed.get_or_insert((c.at, reason));
            }
            CodeDeployChange::Stopped => {
                d.evidence.failed.get_or_insert((c.at, "CodeDeploy deployment stopped".to_owned()));
            }
            CodeDeployChange::Ready | CodeDeployChange::TargetFailed | CodeDeployChange::Other => {}
        }
        if let Some(u) = undone
            && u.rolled_back_by.is_none()
        {
            self.dep_mut(&u.id).rolled_back_by = Some(id.clone());
        }
        self.settle(&id, observed, out);
    }

    // ---- deploy annotations --------------------------------------------------------------

    /// Keeps an annotation and joins it to its deployment if that is already known; a
    /// deployment already posted has its message updated with the context.
    fn on_annotation(&mut self, record: AnnotationRecord, out: &mut Vec<Action>) {
        let key = ecs_service(&record.annotation.cluster, &record.annotation.service);
        let in_scope = |d: &Deployment| record.in_scope(d);
        let mut candidates: Vec<(Timestamp, String)> = self
            .state
            .deployments
            .values()
            .filter(|d| d.annotation.is_none() && d.ecs_service().as_ref() == Some(&key) && in_scope(d))
            .map(|d| (d.first_seen, d.id.clone()))
            .collect();
        let list = self.state.annotations.entry(key).or_default();
        list.push(record);
        if list.len() > ANNOTATIONS_PER_SERVICE {
            list.remove(0);
        }
        // The newest deployment first.
        candidates.sort_by(|a, b| b.cmp(a));
        for (_, id) in candidates {
            if self.join_annotation(&id) {
                if self.state.deployments[&id].has_message() {
                    out.push(Action::SlackUpdate(self.message_of(&id)));
                }
                break;
            }
        }
    }

    /// Joins the best unjoined annotation of the deployment's service to it: one naming its
    /// image tag or task definition (the newest); else, for a deployment in flight whose
    /// version and task definition are not known yet (an ECS deployment before its first task
    /// event; CodeDeploy events never name them), the newest made within 30 minutes of its
    /// start: a guess, dropped as soon as the version or task definition contradicts it.
    /// True when one was joined.
    fn join_annotation(&mut self, id: &str) -> bool {
        let d = &self.state.deployments[id];
        if let Some(a) = &d.annotation {
            // A guess (joined while the version was unknown) that the version now contradicts
            // is dropped, and the annotation is free for its own deployment.
            let named_tag = a.image_tag.as_deref().zip(d.version.as_deref()).is_some_and(|(t, v)| t != v);
            let named_td = a.task_definition.is_some() && d.task_definition.is_some() && !annotation_matches(a, d);
            let tag_ok = a.image_tag.as_deref().is_some_and(|t| d.version.as_deref() == Some(t));
            if !(named_tag || named_td) || tag_ok {
                return false;
            }
            if let Some(r) = self
                .state
                .annotations
                .get_mut(&ecs_service(&a.cluster, &a.service))
                .and_then(|l| l.iter_mut().find(|r| r.joined_to.as_deref() == Some(id)))
            {
                r.joined_to = None;
            }
            self.dep_mut(id).annotation = None;
        }
        let d = &self.state.deployments[id];
        let Some(list) = d.ecs_service().and_then(|k| self.state.annotations.get_mut(&k)) else { return false };
        let unknown = d.version.is_none() && d.task_definition.is_none() && d.is_in_flight();
        let start = d.first_seen;
        let free = |r: &AnnotationRecord| r.joined_to.is_none() && r.in_scope(d);
        let pick = list.iter().rposition(|r| free(r) && annotation_matches(&r.annotation, d)).or_else(|| {
            unknown
                .then(|| {
                    list.iter().rposition(|r| free(r) && (r.at.millis() - start.millis()).abs() <= ANNOTATION_WINDOW_MS)
                })
                .flatten()
        });
        let Some(i) = pick else { return false };
        list[i].joined_to = Some(id.to_owned());
        let annotation = list[i].annotation.clone();
        self.dep_mut(id).annotation = Some(annotation);
        true
    }

    // ---- CodePipeline --------------------------------------------------------------------

    fn on_pipeline(&mut self, p: PipelineFact, out: &mut Vec<Action>) {
        let rec = self.state.pipelines.entry(p.execution_id.clone()).or_default();
        let before = rec.clone();
        let ctx = &mut rec.context;
        ctx.name = p.pipeline;
        ctx.execution_id = p.execution_id.clone();
        for (slot, value) in [
            (&mut ctx.trigger_type, p.trigger_type),
            (&mut ctx.trigger_detail, p.trigger_detail),
            (&mut ctx.revision, p.revision),
            (&mut ctx.branch_or_tag, p.branch_or_tag),
        ] {
            if value.is_some() {
                *slot = value;
            }
        }
        if p.is_approval && p.state == ExecutionState::Succeeded {
            ctx.approved_at.get_or_insert(p.at);
        }
        if let Some(dep) = &p.codedeploy_deployment_id {
            ctx.stage.clone_from(&p.stage);
            ctx.action.clone_from(&p.action);
            rec.deployment = Some(dep.clone());
        }
        rec.last_at = rec.last_at.max(p.at);
        let changed = rec.context != before.context || rec.deployment != before.deployment;
        let linked = rec.deployment.clone();
        if let Some(dep) = &p.codedeploy_deployment_id {
            self.state.pipeline_by_deployment.insert(dep.clone(), p.execution_id.clone());
        }
        let Some(dep) = linked else { return };
        let id = self.canonical(&dep).to_owned();
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        d.pipeline_execution = Some(p.execution_id);
        if changed && d.channel.is_some() {
            // Context that arrives after a lifecycle event updates the message.
            out.push(Action::SlackUpdate(self.message_of(&id)));
        }
    }

    // ---- ECS-native ----------------------------------------------------------------------

    /// The key of an `ecs-svc/…` deployment, creating it if needed. While an ECS-native
    /// rollout of the service is in flight, a new `ecs-svc/…` id is its alias.
    fn ensure_ecs(&mut self, service: &ServiceRef, deployment_id: &str, at: Timestamp) -> String {
        let id = self.canonical(deployment_id).to_owned();
        if !self.state.deployments.contains_key(&id) {
            if let Some(native) =
                self.in_flight_of(&service.key, |d| d.id.starts_with("arn:") && !has_alias(d, "ecs-svc/"))
            {
                self.add_alias(deployment_id, &native);
                return native;
            }
            self.create(&id, Strategy::EcsRolling, Some(service), at);
        }
        self.dep_mut(&id).touch(at);
        id
    }

    /// The key of an ECS-native deployment (service-deployment ARN); an `ecs-svc/…` rollout
    /// already in flight on the service is the same rollout.
    fn ensure_native(&mut self, service: &ServiceRef, arn: &str, at: Timestamp) -> String {
        let id = self.canonical(arn).to_owned();
        if !self.state.deployments.contains_key(&id) {
            let rolling = self.in_flight_of(&service.key, |d| {
                d.id.starts_with("ecs-svc/") && d.rollback_of.is_none() && !has_alias(d, "arn:") && d.first_seen <= at
            });
            if let Some(rolling) = rolling {
                self.add_alias(arn, &rolling);
                let d = self.dep_mut(&rolling);
                d.strategy = Strategy::Unknown;
                d.touch(at);
                return rolling;
            }
            self.create(&id, Strategy::Unknown, Some(service), at);
        }
        self.dep_mut(&id).touch(at);
        id
    }

    fn in_flight_of(&self, service_key: &str, pred: impl Fn(&Deployment) -> bool) -> Option<String> {
        let svc = self.state.services.get(service_key)?;
        svc.deployments
            .iter()
            .rev()
            .filter_map(|id| self.state.deployments.get(id))
            .find(|d| d.is_in_flight() && pred(d))
            .map(|d| d.id.clone())
    }

    fn add_alias(&mut self, alias: &str, key: &str) {
        self.state.aliases.insert(alias.to_owned(), key.to_owned());
        self.dep_mut(key).aliases.push(alias.to_owned());
    }

    // ---- deciding ------------------------------------------------------------------------

    fn settle_service(&mut self, service_key: &str, observed: Timestamp, out: &mut Vec<Action>) {
        let ids: Vec<String> = self.state.services.get(service_key).map(|s| s.deployments.clone()).unwrap_or_default();
        for id in ids {
            self.settle(&id, observed, out);
        }
    }

    /// Takes every decision the evidence proves, in lifecycle order.
    fn settle(&mut self, id: &str, observed: Timestamp, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        if d.started_at().is_none()
            && let Some(at) = d.evidence.started
        {
            self.decide(id, DetailType::Started, at, None, observed, out);
        }
        let d = &self.state.deployments[id];
        if d.cut_over_at().is_none() && d.is_in_flight() {
            let proof = [d.evidence.cut_over, self.rolling_proof(d), d.evidence.succeeded].into_iter().flatten().min();
            if let Some(at) = proof {
                self.ensure_started(id, at, observed, out);
                self.decide(id, DetailType::CutOver, at, None, observed, out);
                self.after_cut_over(id, at, observed, out);
            }
        }
        let d = &self.state.deployments[id];
        if d.is_in_flight() {
            if let Some(at) = d.evidence.succeeded {
                self.decide(id, DetailType::Completed, at, None, observed, out);
            } else if let Some((at, _)) = d.evidence.failed.clone() {
                self.ensure_started(id, at, observed, out);
                self.decide(id, DetailType::Failed, at, None, observed, out);
            }
        }
        let d = &self.state.deployments[id];
        if d.terminal().is_some_and(|(t, _)| t == DetailType::Failed) && d.decided(DetailType::RolledBack).is_none() {
            let by = d.rolled_back_by.as_deref().and_then(|r| self.state.deployments.get(r));
            if let Some(at) = by.and_then(Deployment::cut_over_at) {
                self.decide(id, DetailType::RolledBack, at, None, observed, out);
            }
        }
    }

    /// A cut-over settles the deployment it rolls back, and ends older rolling deployments
    /// of the service that never finished (superseded).
    fn after_cut_over(&mut self, id: &str, at: Timestamp, observed: Timestamp, out: &mut Vec<Action>) {
        let d = &self.state.deployments[id];
        let rollback_of = d.rollback_of.clone();
        if d.strategy == Strategy::EcsRolling {
            let first_seen = d.first_seen;
            let superseded: Vec<String> = d
                .service_key
                .as_deref()
                .and_then(|k| self.state.services.get(k))
                .map(|s| s.deployments.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|o| {
                    let Some(o) = self.state.deployments.get(o) else { return false };
                    o.id != id
                        && Some(&o.id) != rollback_of.as_ref()
                        && o.strategy == Strategy::EcsRolling
                        && o.is_in_flight()
                        && o.evidence.succeeded.is_none()
                        && o.evidence.failed.is_none()
                        && o.first_seen < first_seen
                })
                .collect();
            for o in superseded {
                let od = self.dep_mut(&o);
                od.superseded_by = Some(id.to_owned());
                od.evidence.failed = Some((at, format!("superseded by {id}")));
                self.settle(&o, observed, out);
            }
        }
        if let Some(f) = rollback_of {
            self.settle(&f, observed, out);
        }
    }

    fn ensure_started(&mut self, id: &str, at: Timestamp, observed: Timestamp, out: &mut Vec<Action>) {
        let d = &self.state.deployments[id];
        if d.started_at().is_none() {
            let at = d.evidence.started.unwrap_or(d.first_seen).min(at);
            self.decide(id, DetailType::Started, at, None, observed, out);
        }
    }

    /// Records a decision and pushes its actions: `emit`, the Slack action, invalidations.
    fn decide(
        &mut self,
        id: &str,
        detail_type: DetailType,
        at: Timestamp,
        percent: Option<f64>,
        observed: Timestamp,
        out: &mut Vec<Action>,
    ) {
        self.fill_identity(id);
        self.join_annotation(id);
        let step = Step { detail_type, at, percent };
        let pipeline = self.pipeline_of(id);
        let d = self.dep_mut(id);
        d.history.push(step.clone());
        let detail = d.detail(&step, observed, pipeline);
        out.push(Action::Emit { source: SOURCE.to_owned(), detail_type, detail: Box::new(detail) });

        let d = &self.state.deployments[id];
        let is_rollback = d.rollback_of.is_some() || d.rollback_target.is_some();
        let thread_parent = d
            .rollback_of
            .as_deref()
            .filter(|f| d.channel.is_none() && self.state.deployments.get(*f).is_some_and(|p| p.channel.is_some()));
        let in_own_thread = thread_parent.is_none();
        if is_rollback && d.channel.is_none() && thread_parent.is_none() {
            // A rollback reports only in the thread of the deployment it undoes; until that
            // one has a message (it may arrive later), its steps make no Slack call.
        } else if let Some(parent) = thread_parent {
            // The parent's route says who hears of a rollback, and what goes to the channel.
            let route = self.state.deployments.get(parent).and_then(|p| self.routing.route(&self.identity_of(p)));
            let broadcast = route.is_some_and(|r| r.broadcast.contains(&Broadcast::RolledBack));
            let eid = message::escape(id);
            let text = match detail_type {
                DetailType::Started => Some((
                    format!(
                        ":rewind: Rolling back: deployment `{eid}` started at {} to undo this one{}.{}",
                        message::clock(at),
                        d.rollback_target
                            .as_ref()
                            .map(|t| format!(", returning to `{}`", message::escape(t)))
                            .unwrap_or_default(),
                        mentions(route.map(|r| r.mention_on_rollback.as_slice()).unwrap_or_default(), None)
                    ),
                    false,
                )),
                DetailType::CutOver => Some((
                    format!(
                        ":rewind: Rollback `{eid}` cut over at {}: production traffic is back on {}.",
                        message::clock(at),
                        d.version
                            .as_deref()
                            .map_or_else(|| "the previous version".to_owned(), |v| format!("`{}`", message::escape(v)))
                    ),
                    broadcast,
                )),
                DetailType::Failed => Some((
                    format!(
                        ":x: Rollback `{eid}` failed at {}.{}",
                        message::clock(at),
                        mentions(route.map(|r| r.mention_on_failure.as_slice()).unwrap_or_default(), None)
                    ),
                    route.is_some_and(|r| r.broadcast.contains(&Broadcast::Failed)),
                )),
                _ => None,
            };
            if let Some((text, broadcast)) = text {
                self.reply(id, text, broadcast, out);
            }
        } else if d.channel.is_none() && detail_type == DetailType::Started && self.tags_pending(d) {
            // Routes select on service tags the reconciler has not read yet: the post waits for
            // them, or for the deployment's next step, whichever comes first.
            self.dep_mut(id).post_pending = true;
        } else if d.channel.is_none() {
            self.post(id, out);
        } else {
            out.push(Action::SlackUpdate(self.message_of(id)));
        }
        if in_own_thread && self.state.deployments[id].channel.is_some() {
            self.step_reply(id, &step, out);
        }

        if detail_type == DetailType::CutOver {
            let d = &self.state.deployments[id];
            let identity = self.identity_of(d);
            let mut records = Vec::new();
            for inv in self.routing.invalidations(&identity) {
                let inv = Invalidation {
                    deployment_id: id.to_owned(),
                    distribution_id: inv.distribution_id.clone(),
                    paths: inv.paths.clone(),
                    caller_reference: caller_reference(id, &inv.distribution_id),
                };
                records.push(InvalidationRecord {
                    distribution_id: inv.distribution_id.clone(),
                    paths: inv.paths.clone(),
                    caller_reference: inv.caller_reference.clone(),
                    decided_at: at,
                    reported: false,
                });
                out.push(Action::Invalidate(inv));
            }
            self.dep_mut(id).invalidations.extend(records);
        }
    }

    /// Pipeline executions whose manual approval succeeded within the last hour of AWS time
    /// and whose approver has not been looked for: `(pipeline, execution id)`.
    pub fn approvals_wanted(&self) -> Vec<(String, String)> {
        let horizon = self.state.clock.plus_millis(-WATCH_MS);
        self.state
            .pipelines
            .values()
            .filter(|r| !r.approver_checked && r.context.approved_at.is_some_and(|at| at >= horizon))
            .map(|r| (r.context.name.clone(), r.context.execution_id.clone()))
            .collect()
    }

    /// The task definitions of deployments in flight whose OCI labels have not been read.
    pub fn labels_wanted(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .state
            .deployments
            .values()
            .filter(|d| d.is_in_flight())
            .filter_map(|d| d.task_definition.clone())
            .filter(|td| !self.state.labels.contains_key(td))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The invalidations whose completion has not been reported in Slack yet, decided within
    /// the last hour of AWS time: what the reconciler asks CloudFront about.
    pub fn invalidations_wanted(&self) -> Vec<InvalidationWanted> {
        let horizon = self.state.clock.plus_millis(-WATCH_MS);
        self.state
            .deployments
            .values()
            .flat_map(|d| {
                d.invalidations.iter().filter(|r| !r.reported && r.decided_at >= horizon).map(|r| InvalidationWanted {
                    deployment_id: d.id.clone(),
                    distribution_id: r.distribution_id.clone(),
                    caller_reference: r.caller_reference.clone(),
                    decided_at: r.decided_at,
                })
            })
            .collect()
    }

    /// An invalidation completed: one reply in the deployment's thread with its id and times.
    fn on_invalidation_done(
        &mut self,
        deployment_id: &str,
        distribution_id: &str,
        invalidation_id: &str,
        created_at: Timestamp,
        completed_by: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let id = self.canonical(deployment_id).to_owned();
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        let Some(r) = d.invalidations.iter_mut().find(|r| r.distribution_id == distribution_id && !r.reported) else {
            return;
        };
        r.reported = true;
        let paths = r.paths.iter().map(|p| format!("`{}`", message::escape(p))).collect::<Vec<_>>().join(" ");
        let (invalidation_id, distribution_id) = (message::escape(invalidation_id), message::escape(distribution_id));
        let text = format!(
            ":broom: CloudFront invalidation `{invalidation_id}` of `{distribution_id}` ({paths}): created {}, completed by {}.",
            message::clock(created_at),
            message::clock(completed_by)
        );
        self.reply(&id, text, false, out);
    }

    /// Posts the deployment's one message, in the channel its annotation or route names.
    fn post(&mut self, id: &str, out: &mut Vec<Action>) {
        let d = &self.state.deployments[id];
        let channel = d
            .annotation
            .as_ref()
            .and_then(|a| a.channel.clone())
            .or_else(|| self.routing.route(&self.identity_of(d)).and_then(|r| r.channel.clone()))
            .unwrap_or_else(|| self.routing.default_channel.clone());
        let d = self.dep_mut(id);
        d.channel = Some(channel);
        d.post_pending = false;
        out.push(Action::SlackPost(self.message_of(id)));
    }

    /// Routes select on tags and this ECS service's have not been read.
    fn tags_pending(&self, d: &Deployment) -> bool {
        self.routing.uses_tags() && d.tags_key().is_some_and(|k| !self.state.service_tags.contains_key(&k))
    }

    /// The deployment's identity for routing, with its service's tags once read.
    fn identity_of<'a>(&'a self, d: &'a Deployment) -> Identity<'a> {
        let mut id = d.identity();
        id.tags = d.tags_key().and_then(|k| self.state.service_tags.get(&k));
        id
    }

    /// The ECS services of deployments in flight whose tags should be read: only when a route
    /// selects on tags.
    pub fn tags_wanted(&self) -> Vec<(String, String)> {
        if !self.routing.uses_tags() {
            return Vec::new();
        }
        let mut out: Vec<(String, String)> = self
            .state
            .deployments
            .values()
            .filter(|d| d.is_in_flight())
            .filter(|d| d.tags_key().is_some_and(|k| !self.state.service_tags.contains_key(&k)))
            .filter_map(|d| Some((d.cluster.clone()?, d.service.clone()?)))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The thread reply of a step of a deployment with its own message: each traffic step,
    /// the failure with its reason (and mentions), the cut-over when the route broadcasts it.
    fn step_reply(&self, id: &str, step: &Step, out: &mut Vec<Action>) {
        let d = &self.state.deployments[id];
        let route = self.routing.route(&self.identity_of(d));
        let broadcasts = |b: Broadcast| route.is_some_and(|r| r.broadcast.contains(&b));
        let version =
            d.version.as_deref().map_or_else(|| "the new version".to_owned(), |v| format!("`{}`", message::escape(v)));
        let (text, broadcast) = match step.detail_type {
            DetailType::TrafficShifted => (
                format!(
                    ":arrows_counterclockwise: {} % of production traffic on {version} at {}.",
                    message::percent(step.percent.unwrap_or(0.0)),
                    message::clock(step.at)
                ),
                false,
            ),
            DetailType::CutOver if broadcasts(Broadcast::CutOver) => (
                format!(
                    ":white_check_mark: Cut over at {}: production traffic is on {version}.",
                    message::clock(step.at)
                ),
                true,
            ),
            DetailType::Failed => {
                let reason = d.evidence.failed.as_ref().map_or("failed", |(_, r)| r.as_str());
                // A deployment replaced before it finished failed by no one's doing: no mentions.
                let who = if d.superseded_by.is_some() {
                    String::new()
                } else {
                    let deployer = route
                        .is_none_or(|r| r.mention_deployer)
                        .then(|| self.deployer(id))
                        .flatten()
                        .and_then(|who| self.routing.person(&who).cloned());
                    mentions(route.map(|r| r.mention_on_failure.as_slice()).unwrap_or_default(), deployer.as_ref())
                };
                let reason = message::escape(reason.trim_end_matches('.'));
                (format!(":x: Failed at {}: {reason}.{who}", message::clock(step.at)), broadcasts(Broadcast::Failed))
            }
            _ => return,
        };
        self.reply(id, text, broadcast, out);
    }

    /// Who started the deployment, as AWS or CI names them: the annotation's actor, else the
    /// pipeline's trigger detail.
    fn deployer(&self, id: &str) -> Option<String> {
        let d = self.state.deployments.get(id)?;
        d.annotation
            .as_ref()
            .and_then(|a| a.actor.clone())
            .or_else(|| self.pipeline_of(id).and_then(|p| p.trigger_detail))
    }

    /// A reply in the deployment's own thread (or, for a rollback, its parent's).
    fn reply(&self, id: &str, text: String, broadcast: bool, out: &mut Vec<Action>) {
        let d = &self.state.deployments[id];
        let parent = if d.channel.is_some() { id } else { d.rollback_of.as_deref().unwrap_or(id) };
        let Some(channel) = self.state.deployments.get(parent).and_then(|p| p.channel.clone()) else { return };
        let (text, blocks) = message::reply(text);
        out.push(Action::SlackReply(SlackMessage {
            deployment_id: id.to_owned(),
            channel,
            thread_of: Some(parent.to_owned()),
            text,
            blocks,
            broadcast,
        }));
    }

    /// The template context of a deployment's message, as its next update would see it.
    pub fn message_context(&self, id: &str) -> Option<message::MessageContext> {
        let d = self.deployment(id)?;
        let labels = d.task_definition.as_deref().and_then(|td| self.state.labels.get(td));
        Some(message::context(d, self.pipeline_of(&d.id).as_ref(), labels))
    }

    fn message_of(&self, id: &str) -> SlackMessage {
        let d = &self.state.deployments[id];
        let pipeline = self.pipeline_of(id);
        let labels = d.task_definition.as_deref().and_then(|td| self.state.labels.get(td));
        let ctx = message::context(d, pipeline.as_ref(), labels);
        let template =
            self.routing.route(&self.identity_of(d)).and_then(|r| r.template.as_deref()).unwrap_or(templates::DEFAULT);
        // A route's template that fails on this deployment falls back to the default, and that
        // (tested on every state) to the plain status line.
        let (text, blocks) = message::fit(
            self.templates
                .render(template, &ctx)
                .or_else(|_| self.templates.render(templates::DEFAULT, &ctx))
                .unwrap_or_else(|_| message::reply(format!("{} {}: {}", ctx.emoji, ctx.title, ctx.status))),
        );
        SlackMessage {
            deployment_id: id.to_owned(),
            channel: d.channel.clone().unwrap_or_else(|| self.routing.default_channel.clone()),
            thread_of: None,
            text,
            blocks,
            broadcast: false,
        }
    }

    fn pipeline_of(&self, id: &str) -> Option<PipelineContext> {
        let exec = self.state.deployments.get(id)?.pipeline_execution.as_ref()?;
        self.state.pipelines.get(exec).map(|p| p.context.clone())
    }

    /// Fills what other records know: the environment from the routes, the previous task
    /// definition from older deployments or old tasks of the service, a rollback's identity.
    fn fill_identity(&mut self, id: &str) {
        let d = &self.state.deployments[id];
        let environment = d
            .environment
            .is_none()
            .then(|| self.routing.route(&self.identity_of(d)).and_then(|r| r.environment.clone()))
            .flatten();
        let previous = if d.previous_task_definition.is_none() { self.previous_task_definition(d) } else { None };
        let target_td = d
            .rollback_target
            .as_deref()
            .and_then(|t| self.state.deployments.get(self.canonical(t)))
            .and_then(|t| t.task_definition.clone());
        let d = self.dep_mut(id);
        if environment.is_some() {
            d.environment = environment;
        }
        if previous.is_some() {
            d.previous_task_definition = previous;
        }
        if d.task_definition.is_none() {
            d.task_definition = target_td;
        }
    }

    fn previous_task_definition(&self, d: &Deployment) -> Option<String> {
        if let Some(undone) = d.rollback_of.as_deref().and_then(|f| self.state.deployments.get(f)) {
            return undone.task_definition.clone();
        }
        let svc = self.state.services.get(d.service_key.as_deref()?)?;
        let older = svc
            .deployments
            .iter()
            .filter_map(|o| self.state.deployments.get(o))
            .filter(|o| o.id != d.id && o.first_seen <= d.first_seen && o.task_definition.is_some())
            .max_by_key(|o| o.first_seen);
        if let Some(o) = older {
            return o.task_definition.clone();
        }
        // Old tasks from before Cutover saw any deployment: the latest to have run.
        svc.tasks
            .iter()
            .filter_map(|arn| self.state.tasks.get(arn))
            .filter(|r| r.seen_running && r.deployment.as_deref().map(|o| self.canonical(o)) != Some(d.id.as_str()))
            .max_by_key(|r| (r.running_at, r.last_at))
            .and_then(|r| r.task_definition.clone())
    }

    /// A rollback whose undone deployment was not known yet: `id`, now created, is it when it
    /// is older and is not the deployment the rollback returns to.
    fn link_late_rollback(&mut self, id: &str) {
        let d = &self.state.deployments[id];
        let (Some(key), first_seen) = (d.service_key.clone(), d.first_seen) else { return };
        let waiting = self.state.services.get(&key).and_then(|svc| {
            svc.deployments.iter().find(|r| {
                self.state.deployments.get(*r).is_some_and(|r| {
                    r.id != id
                        && r.rollback_target.is_some()
                        && r.rollback_of.is_none()
                        && r.rollback_target.as_deref() != Some(id)
                        && first_seen <= r.first_seen
                })
            })
        });
        if let Some(r) = waiting.cloned() {
            let task_definition = self.state.deployments[id].task_definition.clone();
            self.dep_mut(id).rolled_back_by = Some(r.clone());
            let rd = self.dep_mut(&r);
            rd.rollback_of = Some(id.to_owned());
            if rd.previous_task_definition.is_none() {
                rd.previous_task_definition = task_definition;
            }
        }
    }

    fn create(&mut self, id: &str, strategy: Strategy, service: Option<&ServiceRef>, at: Timestamp) {
        let mut d = Deployment::new(id, strategy, at);
        if let Some(s) = service {
            d.service_key = Some(s.key.clone());
            d.cluster = Some(s.cluster.clone());
            d.service = Some(s.service.clone());
            self.state.services.entry(s.key.clone()).or_default().deployments.push(id.to_owned());
        }
        d.pipeline_execution = self.state.pipeline_by_deployment.get(id).cloned();
        // CodeDeploy: a rollback that named this deployment before it was seen.
        d.rolled_back_by =
            self.state.deployments.values().find(|r| r.rollback_of.as_deref() == Some(id)).map(|r| r.id.clone());
        self.state.deployments.insert(id.to_owned(), d);
        self.state.stats.deployments += 1;
        if strategy == Strategy::EcsRolling {
            self.link_late_rollback(id);
        }
    }

    fn canonical<'a>(&'a self, id: &'a str) -> &'a str {
        self.state.aliases.get(id).map_or(id, String::as_str)
    }

    fn dep_mut(&mut self, id: &str) -> &mut Deployment {
        self.state.deployments.get_mut(id).unwrap_or_else(|| unreachable!("deployment {id} is created before use"))
    }

    // ---- retention -----------------------------------------------------------------------

    /// Forgets what is past the retention in event time: finished deployments, deployments
    /// with no activity, stopped tasks, pipeline executions, dedupe keys.
    fn sweep(&mut self, clock: Timestamp) {
        let horizon = clock.plus_millis(-self.retention_ms);
        let expired: Vec<String> =
            self.state.deployments.values().filter(|d| d.settled_at() < horizon).map(|d| d.id.clone()).collect();
        for id in &expired {
            if let Some(d) = self.state.deployments.remove(id) {
                for a in &d.aliases {
                    self.state.aliases.remove(a);
                }
                self.state.pipeline_by_deployment.remove(id);
                if let Some(svc) = d.service_key.as_deref().and_then(|k| self.state.services.get_mut(k)) {
                    svc.deployments.retain(|x| x != id);
                }
            }
        }
        let stopped: Vec<String> = self
            .state
            .tasks
            .iter()
            .filter(|(_, r)| r.last_status == TaskStatus::Stopped && r.last_at < horizon)
            .map(|(arn, _)| arn.clone())
            .collect();
        for arn in stopped {
            if let Some(r) = self.state.tasks.remove(&arn)
                && let Some(svc) = self.state.services.get_mut(&r.service_key)
            {
                svc.tasks.remove(&arn);
            }
        }
        self.state.services.retain(|_, s| !s.tasks.is_empty() || !s.deployments.is_empty());
        self.state.pipelines.retain(|_, p| p.last_at >= horizon);
        for list in self.state.annotations.values_mut() {
            list.retain(|r| r.at >= horizon);
        }
        self.state.annotations.retain(|_, l| !l.is_empty());
        let deployments = &self.state.deployments;
        self.state.labels.retain(|td, _| deployments.values().any(|d| d.task_definition.as_deref() == Some(td)));
        self.state.service_tags.retain(|key, _| {
            deployments.values().any(|d| d.tags_key().as_ref() == Some(key) || d.ecs_service().as_ref() == Some(key))
        });
        let live = &self.state.pipelines;
        self.state.pipeline_by_deployment.retain(|_, e| live.contains_key(e));
        self.state.dedupe.expire(clock);
        self.state.next_sweep = clock.plus_millis(SWEEP_EVERY_MS);
    }
}

fn has_alias(d: &Deployment, prefix: &str) -> bool {
    d.aliases.iter().any(|a| a.starts_with(prefix))
}

/// A rollback deployment is about the same service as the one it undoes.
fn inherit_identity(d: &mut Deployment, undone: &Deployment) {
    for (slot, value) in [
        (&mut d.cluster, &undone.cluster),
        (&mut d.service, &undone.service),
        (&mut d.application, &undone.application),
        (&mut d.deployment_group, &undone.deployment_group),
        (&mut d.environment, &undone.environment),
    ] {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
    if d.previous_task_definition.is_none() {
        d.previous_task_definition.clone_from(&undone.task_definition);
    }
}
