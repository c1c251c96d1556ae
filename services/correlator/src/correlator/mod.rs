//! The state machine: facts in, lifecycle decisions and their actions out.
//!
//! Each fact updates the evidence of the deployments it concerns, then [`Correlator::settle`]
//! takes every decision that evidence now proves, in lifecycle order. The first proof wins
//! and a decision is never taken back; `at` is the AWS time of the proof (the latest of the
//! times when several events prove it together).
//!
//! The rooms beside this file each own their records and the rules over them: [`input`] (what
//! comes in), [`evidence`] (what each kind of event proves), [`held`] (the deployments by id),
//! [`census`] (tasks and services, the rolling cut-over rule), [`aliases`] (the ids that name
//! one rollout), [`rollback`] (the rollback relation and superseding), [`pipelines`],
//! [`annotations`], [`context`] (what the reconciler adds to a message: tags, labels, rollback
//! windows, invalidations), [`retention`] (dedupe keys, the event clock, sweeping), [`wanted`]
//! (what the reconciler is asked) and [`status`] (what runs where, for `/cutover status`) and
//! [`controls`] (what people ask for from Slack). This file keeps the types, the dispatch, and
//! the decisions with the Slack actions they make; the words are in [`crate::slack`].

mod aliases;
mod annotations;
mod approvals;
mod census;
mod context;
pub mod controls;
mod evidence;
mod held;
pub mod input;
mod pipelines;
mod retention;
mod rollback;
pub mod status;
pub mod wanted;

use std::collections::BTreeMap;

use cutover_events::emitted::{DetailType, LifecycleDetail, SOURCE, Strategy};
use cutover_events::{Inbound, Timestamp};
use serde::{Deserialize, Serialize};

use crate::action::{Action, Invalidation, SinkDelivery, SlackMessage, caller_reference, delivery_id};
use crate::deployment::{Deployment, ImageLabels, InvalidationRecord, SlackThread, Step};
use crate::facts::{Fact, Normalised, ServiceKey, ServiceRef, normalise};
use crate::routing::{Broadcast, Identity, Routing, SlackId};
use crate::shared::Shared;
use crate::slack::templates::{self, Templates};
use crate::slack::{message, wording};

use self::aliases::Aliases;
use self::annotations::{AnnotationRecord, Annotations};
use self::approvals::Approvals;
use self::census::{Census, Open};
use self::held::Held;
pub use self::input::{ActionStructure, ActionTarget, CensusTask, Input, NativeStatus, Observation, StageStructure};
use self::pipelines::Pipelines;
use self::retention::Dedupe;
use self::rollback::RollbacksOf;
pub use self::wanted::{ActionWanted, CensusRequest, InFlight, InvalidationWanted, Wanted};

/// Default retention in event time: 7 days.
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

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
///
/// Its methods are of four kinds, called in this order by whoever drives it:
/// 1. **Building**: [`Correlator::new`], then [`Correlator::with_retention_ms`] and, when
///    resuming, [`Correlator::with_state`].
/// 2. **Inputs**: [`Correlator::handle`] for each parsed message or reconciler observation, in
///    the order they are journaled; it returns the actions decided, in decision order.
/// 3. **Timers**: [`Correlator::next_timeout`] says when [`Correlator::handle_timeout`] has
///    work (expiring what is past the retention); `serve` calls it when that time passes with
///    no input, and journals the call, so a rebuild expires the same state at the same point.
/// 4. **Reading**: [`Correlator::wanted`] (what the reconciler should ask AWS), the
///    deployments, the clock, the stats and the state (for snapshots). Reading never changes
///    anything, so it may come between any two inputs.
#[derive(Debug)]
pub struct Correlator {
    routing: Routing,
    templates: Templates,
    retention_ms: i64,
    state: State,
}

/// Everything the correlator remembers; serde, so the service can persist it. Each room's
/// records are flattened in, so a snapshot keeps the shape it had before the rooms.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Found by a hash of the id, walked in id order ([`Held`]). The snapshot's shape is a
    /// map by id, as before.
    deployments: Held,
    aliases: Aliases,
    #[serde(flatten)]
    census: Census,
    #[serde(flatten)]
    pipelines: Pipelines,
    #[serde(flatten)]
    approvals: Approvals,
    dedupe: Dedupe,
    /// ECS service tags by [`Deployment::tags_key`], read when routes select on tags.
    #[serde(default)]
    service_tags: BTreeMap<ServiceKey, BTreeMap<String, String>>,
    /// OCI labels per task definition ARN, read once each (only those of deployments held).
    #[serde(default)]
    labels: BTreeMap<String, ImageLabels>,
    #[serde(default)]
    annotations: Annotations,
    /// What people asked for from Slack.
    #[serde(default)]
    controls: controls::Controls,
    /// The rollback relation by the deployment undone (derived; rebuilt by `with_state`).
    #[serde(skip)]
    rollbacks_of: RollbacksOf,
    /// The latest AWS time seen.
    clock: Timestamp,
    next_sweep: Timestamp,
    stats: Stats,
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

    /// Resumes from persisted state (and rebuilds the indexes derived from it).
    pub fn with_state(mut self, state: State) -> Self {
        self.state = state;
        self.state.rollbacks_of = RollbacksOf::of(&self.state.deployments);
        self.state.census.reopen(&self.state.deployments);
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

    /// A deployment, by any of its ids.
    pub fn deployment(&self, id: &str) -> Option<&Deployment> {
        self.state.deployments.get(self.canonical(id))
    }

    /// The latest AWS time seen.
    pub fn clock(&self) -> Timestamp {
        self.state.clock
    }

    /// Handles one input and returns the actions it decided, in decision order: per decision,
    /// `emit`, then the Slack action, then `cloudfront.invalidate`.
    #[must_use]
    pub fn handle(&mut self, now: Timestamp, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Message(m) => self.on_message(now, *m, &mut out),
            Input::Control(request) => out = self.act(&request).1,
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
            Input::Observed(Observation::Approval { execution_id, approved_by, comment }) => {
                self.on_approval_decider(&execution_id, approved_by.as_deref(), comment.as_deref(), &mut out);
                self.on_approval(&execution_id, approved_by, comment, &mut out);
            }
            Input::Observed(Observation::PipelineStructure { pipeline, version, stages }) => {
                self.on_pipeline_structure(&pipeline, version, stages, &mut out);
            }
            Input::Observed(Observation::PipelineAction { execution_id, stage, action, targets }) => {
                self.on_pipeline_action(&execution_id, &stage, &action, targets, &mut out);
            }
            Input::Observed(Observation::PipelineExecution {
                execution_id,
                revisions,
                trigger_type,
                trigger_detail,
            }) => {
                self.on_execution(&execution_id, revisions, trigger_type, trigger_detail, &mut out);
            }
            Input::Observed(Observation::ServiceTags { cluster, service, tags, service_arn }) => {
                self.on_service_tags(&cluster, &service, &tags, service_arn.as_deref(), &mut out);
            }
            Input::Observed(Observation::TaskDefinitionLabels { task_definition, labels }) => {
                self.on_labels(&task_definition, labels, &mut out);
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
                self.on_rollback_window(&deployment_id, until, &mut out);
            }
            Input::Observed(Observation::EcsRollout { deployment_id, change, at }) => {
                let known = self.deployment(&deployment_id).and_then(|d| {
                    let key = d.target.service_key.clone()?;
                    Some(ServiceRef { key, cluster: d.target.cluster.clone()?, service: d.target.service.clone()? })
                });
                if let Some(service) = known {
                    self.advance(at);
                    self.apply(now, Fact::EcsDeployment { service, deployment_id, change, at }, &mut out);
                }
            }
            Input::Observed(o @ Observation::ServiceDeployment { .. }) => {
                self.on_service_deployment(now, o, &mut out);
            }
        }
        if self.state.clock >= self.state.next_sweep {
            self.sweep(self.state.clock);
        }
        out
    }

    fn on_message(&mut self, now: Timestamp, mut m: Inbound, out: &mut Vec<Action>) {
        let dedupe_key = std::mem::take(&mut m.dedupe_key);
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
        if !self.state.dedupe.insert(&dedupe_key, at.plus_millis(self.retention_ms)) {
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

    /// Applies one fact; false when it was a duplicate.
    fn apply(&mut self, now: Timestamp, fact: Fact, out: &mut Vec<Action>) -> bool {
        let observed = now.max(self.state.clock);
        match fact {
            Fact::Task(t) => return self.on_task(observed, t, out),
            Fact::EcsDeployment { service, deployment_id, change, at } => {
                self.on_ecs_deployment(observed, &service, &deployment_id, change, at, out);
            }
            Fact::EcsHook { service, deployment_arn, stage_after_production_shift, pause, at } => {
                let id = self.ensure_native(&service, &deployment_arn, at);
                let mut paused_changed = false;
                if let Some(d) = self.state.deployments.get_mut(&id) {
                    d.evidence.started.get_or_insert(at);
                    if stage_after_production_shift {
                        d.evidence.cut_over.get_or_insert(at);
                    }
                    if let Some(p) = pause {
                        paused_changed = d.pause(p, at);
                    }
                }
                self.settle(&id, observed, out);
                // Only the buttons show a pause: without actions, the message stays as it was.
                if paused_changed && self.routing.actions {
                    self.update(&id, out);
                }
            }
            Fact::CodeDeploy(c) => self.on_codedeploy(observed, c, out),
            Fact::Annotation { annotation, at, account } => {
                self.on_annotation(AnnotationRecord::new(*annotation, at, account), out);
            }
            Fact::Pipeline(p) => self.on_pipeline(p, observed, out),
            Fact::ApprovalNotice(n) => self.on_approval_notice(n, out),
            Fact::TrafficWeight { deployment_id, percent, at } => {
                let id = self.canonical(&deployment_id).to_owned();
                let Some(d) = self.state.deployments.get_mut(&id) else { return true };
                d.touch(at);
                if d.is_in_flight() && d.cut_over_at().is_none() && percent > 0.0 && !d.shifted(percent) {
                    self.ensure_started(&id, at, observed, out);
                    self.decide(&id, DetailType::TrafficShifted, at, Some(percent), observed, out);
                }
                if percent >= 100.0
                    && let Some(d) = self.state.deployments.get_mut(&id)
                {
                    d.evidence.cut_over.get_or_insert(at);
                }
                self.settle(&id, observed, out);
            }
        }
        true
    }

    /// Settles the service's deployments that can still decide something (its open ones, in
    /// the order they were first seen), then closes those that now cannot.
    fn settle_service(&mut self, service_key: &ServiceKey, observed: Timestamp, out: &mut Vec<Action>) {
        let ids: Vec<Shared> = self
            .state
            .census
            .services
            .get(service_key)
            .map(|s| s.open.iter().filter(|o| !o.waiting).map(|o| o.id.clone()).collect())
            .unwrap_or_default();
        for id in &ids {
            self.settle(id, observed, out);
        }
        let deployments = &self.state.deployments;
        if let Some(svc) = self.state.census.services.get_mut(service_key) {
            svc.open.retain_mut(|o| {
                // One that waits stays as it is until a rollback of it is linked.
                if o.waiting {
                    return true;
                }
                let Some(d) = deployments.get(o.id.as_str()).filter(|d| d.may_settle()) else { return false };
                o.waiting = d.waits_for_rollback();
                true
            });
            // What reads `open` for "in flight or failed" (rollbacks, superseding, aliases)
            // needs each such deployment of the service in it, in order, and which wait: builds
            // with debug assertions (tests) check it against the whole history.
            #[cfg(debug_assertions)]
            {
                let kept = svc.deployments.iter().filter_map(|id| deployments.get(id).filter(|d| d.may_settle()));
                let open = svc.open.iter().map(|o| (o.id.as_str(), o.waiting));
                assert!(kept.map(|d| (d.id.as_str(), d.waits_for_rollback())).eq(open), "open of {service_key}");
            }
        }
    }

    /// Takes every decision the evidence proves, in lifecycle order.
    fn settle(&mut self, id: &str, observed: Timestamp, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        // Ended, and no rollback of it to wait for: nothing left to decide (a failed deployment
        // stays open until a rollback of it cuts over, and most never get one).
        if !d.is_in_flight()
            && d.started_at().is_some()
            && (d.rollback.by.is_none() || d.decided(DetailType::RolledBack).is_some())
        {
            return;
        }
        if d.started_at().is_none()
            && let Some(at) = d.evidence.started
        {
            self.decide(id, DetailType::Started, at, None, observed, out);
        }
        let Some(d) = self.state.deployments.get(id) else { return };
        if d.cut_over_at().is_none() && d.is_in_flight() {
            let proof = [d.evidence.cut_over, self.rolling_proof(d), d.evidence.succeeded].into_iter().flatten().min();
            if let Some(at) = proof {
                self.ensure_started(id, at, observed, out);
                self.decide(id, DetailType::CutOver, at, None, observed, out);
                self.after_cut_over(id, at, observed, out);
            }
        }
        let Some(d) = self.state.deployments.get(id) else { return };
        if d.is_in_flight() {
            if let Some(at) = d.evidence.succeeded {
                self.decide(id, DetailType::Completed, at, None, observed, out);
            } else if let Some((at, _)) = d.evidence.failed.clone() {
                self.ensure_started(id, at, observed, out);
                self.decide(id, DetailType::Failed, at, None, observed, out);
            }
        }
        let Some(d) = self.state.deployments.get(id) else { return };
        if d.terminal().is_some_and(|(t, _)| t == DetailType::Failed) && d.decided(DetailType::RolledBack).is_none() {
            let by = d.rollback.by.as_deref().and_then(|r| self.state.deployments.get(r));
            if let Some(at) = by.and_then(Deployment::cut_over_at) {
                self.decide(id, DetailType::RolledBack, at, None, observed, out);
            }
        }
    }

    fn ensure_started(&mut self, id: &str, at: Timestamp, observed: Timestamp, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
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
        // An approval the deployment followed is updated after the deployment's own actions.
        let mut followed = Vec::new();
        self.join_pipeline(id, &mut followed);
        let step = Step { detail_type, at, percent };
        let pipeline = self.pipeline_of(id);
        let Some(d) = self.state.deployments.get_mut(id) else { return };
        d.history.push(step.clone());
        let detail = d.detail(&step, observed, pipeline);
        let deliveries = self.sink_deliveries(id, detail_type, &detail);
        out.push(Action::Emit { source: SOURCE.to_owned(), detail_type, detail: Box::new(detail) });
        self.tell_slack(id, &step, out);
        if detail_type == DetailType::CutOver {
            self.invalidate(id, at, out);
        }
        out.extend(deliveries);
        out.extend(followed);
    }

    /// The Slack action of a decided step, by where the deployment stands in Slack: its own
    /// message updated (and a thread reply for the step), a rollback's reply in the thread of
    /// the deployment it undoes, or its first post (held while routes wait for its tags).
    fn tell_slack(&mut self, id: &str, step: &Step, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let posted_parent =
            d.rollback.of().filter(|f| self.state.deployments.get(f).is_some_and(|p| p.slack.channel().is_some()));
        match (&d.slack, posted_parent) {
            (SlackThread::Posted { .. }, _) => {
                self.update(id, out);
                self.step_reply(id, step, out);
            }
            (_, Some(parent)) => self.rollback_reply(id, parent, step, out),
            // A rollback reports only in the thread of the deployment it undoes; until that one
            // has a message (it may arrive later), its steps make no Slack call.
            (_, None) if d.rollback.is_rollback() => {}
            // Routes select on service tags the reconciler has not read yet: the post waits for
            // them, or for the deployment's next step, whichever comes first.
            (_, None) if step.detail_type == DetailType::Started && self.tags_pending(d) => {
                if let Some(d) = self.state.deployments.get_mut(id) {
                    d.slack = SlackThread::Held;
                }
            }
            (SlackThread::Unposted | SlackThread::Held, None) => {
                self.post(id, out);
                self.step_reply(id, step, out);
            }
        }
    }

    /// A rollback's step, in the thread of the deployment it undoes: that one's route says who
    /// hears of it, and what also goes to the channel.
    fn rollback_reply(&self, id: &str, parent: &str, step: &Step, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let route = self.state.deployments.get(parent).and_then(|p| self.routing.route(&self.identity_of(p)));
        let broadcasts = |b: Broadcast| route.is_some_and(|r| r.broadcast.contains(&b));
        let at = step.at;
        let (text, broadcast) = match step.detail_type {
            DetailType::Started => (
                wording::rollback_started(
                    id,
                    at,
                    d.rollback.target(),
                    route.map(|r| r.mention_on_rollback.as_slice()).unwrap_or_default(),
                ),
                false,
            ),
            DetailType::CutOver => {
                (wording::rollback_cut_over(id, at, d.release.version.as_deref()), broadcasts(Broadcast::RolledBack))
            }
            DetailType::Failed => (
                wording::rollback_failed(id, at, route.map(|r| r.mention_on_failure.as_slice()).unwrap_or_default()),
                broadcasts(Broadcast::Failed),
            ),
            _ => return,
        };
        self.reply(id, text, broadcast, out);
    }

    /// The event for each sink that takes it, with the commit and repository it ships.
    fn sink_deliveries(&self, id: &str, detail_type: DetailType, detail: &LifecycleDetail) -> Vec<Action> {
        if self.routing.sinks.is_empty() {
            return Vec::new();
        }
        let Some(d) = self.state.deployments.get(id) else { return Vec::new() };
        let identity = self.identity_of(d);
        let mut sinks = self.routing.sinks(&identity, detail_type).peekable();
        if sinks.peek().is_none() {
            return Vec::new();
        }
        let labels = d.release.task_definition.as_deref().and_then(|td| self.state.labels.get(td));
        let (commit, repository) = change_of(detail, labels);
        sinks
            .map(|sink| {
                Action::Sink(Box::new(SinkDelivery {
                    sink: sink.name.clone(),
                    kind: sink.kind,
                    delivery_id: delivery_id(&sink.name, detail, detail_type),
                    detail_type,
                    detail: Box::new(detail.clone()),
                    commit: commit.clone(),
                    repository: repository.clone(),
                }))
            })
            .collect()
    }

    /// The CloudFront invalidations the routes ask for at a cut-over at `at`.
    fn invalidate(&mut self, id: &str, at: Timestamp, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let mut records = Vec::new();
        for inv in self.routing.invalidations(&self.identity_of(d)) {
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
        if let Some(d) = self.state.deployments.get_mut(id) {
            d.invalidations.extend(records);
        }
    }

    /// Posts the deployment's one message, in the channel its annotation or route names.
    fn post(&mut self, id: &str, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let channel = d
            .annotation
            .as_ref()
            .and_then(|a| a.channel.clone())
            .or_else(|| self.slack_deployer(id).map(|(_, channel)| channel.to_owned()))
            .or_else(|| self.routing.route(&self.identity_of(d)).and_then(|r| r.channel.clone()))
            .unwrap_or_else(|| self.routing.default_channel.clone());
        if let Some(d) = self.state.deployments.get_mut(id) {
            d.slack = SlackThread::Posted { channel };
        }
        if let Some(m) = self.message_of(id) {
            out.push(Action::SlackPost(m));
        }
    }

    /// Routes select on tags and this ECS service's have not been read.
    fn tags_pending(&self, d: &Deployment) -> bool {
        self.routing.routes_use_tags() && d.tags_key().is_some_and(|k| !self.state.service_tags.contains_key(&k))
    }

    /// The deployment's identity for routing, with its service's tags once read.
    fn identity_of<'a>(&'a self, d: &'a Deployment) -> Identity<'a> {
        let mut id = d.identity();
        id.tags = d.tags_key().and_then(|k| self.state.service_tags.get(&k));
        id
    }

    /// The thread reply of a step of a deployment with its own message: each traffic step,
    /// the failure with its reason (and mentions), the cut-over when the route broadcasts it.
    fn step_reply(&self, id: &str, step: &Step, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let route = self.routing.route(&self.identity_of(d));
        let broadcasts = |b: Broadcast| route.is_some_and(|r| r.broadcast.contains(&b));
        let version = d.release.version.as_deref();
        let (text, broadcast) = match step.detail_type {
            DetailType::TrafficShifted => {
                (wording::traffic_shifted(step.percent.unwrap_or(0.0), version, step.at), false)
            }
            DetailType::CutOver if broadcasts(Broadcast::CutOver) => (wording::cut_over(version, step.at), true),
            DetailType::Failed => {
                let reason = d.evidence.failed.as_ref().map_or("failed", |(_, r)| r.as_str());
                // A deployment replaced before it finished failed by no one's doing: no mentions.
                let who = if d.rollback.superseded_by.is_some() {
                    String::new()
                } else {
                    let from_slack = self.slack_deployer(id).and_then(|(user, _)| SlackId::new(user).ok());
                    let deployer = route
                        .is_none_or(|r| r.mention_deployer)
                        .then(|| {
                            from_slack.or_else(|| self.deployer(id).and_then(|who| self.routing.person(&who).cloned()))
                        })
                        .flatten();
                    wording::mentions(
                        route.map(|r| r.mention_on_failure.as_slice()).unwrap_or_default(),
                        deployer.as_ref(),
                    )
                };
                (wording::failed(step.at, reason, &who), broadcasts(Broadcast::Failed))
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
        let Some(d) = self.state.deployments.get(id) else { return };
        let parent = if d.slack.channel().is_some() { id } else { d.rollback.of().unwrap_or(id) };
        let Some(channel) = self.state.deployments.get(parent).and_then(|p| p.slack.channel()).map(str::to_owned)
        else {
            return;
        };
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
        let labels = d.release.task_definition.as_deref().and_then(|td| self.state.labels.get(td));
        let deployer = self.slack_deployer(&d.id).map(|(user, _)| user);
        Some(message::context(
            d,
            self.pipeline_of(&d.id).as_ref(),
            self.joined_view(&d.id).as_ref(),
            labels,
            deployer,
            message::Steps::Listed,
        ))
    }

    fn message_of(&self, id: &str) -> Option<SlackMessage> {
        let d = self.state.deployments.get(id)?;
        let pipeline = self.pipeline_of(id);
        let labels = d.release.task_definition.as_deref().and_then(|td| self.state.labels.get(td));
        let deployer = self.slack_deployer(id).map(|(user, _)| user);
        let template =
            self.routing.route(&self.identity_of(d)).and_then(|r| r.template.as_deref()).unwrap_or(templates::DEFAULT);
        // The default template (rendered natively) does not read the steps.
        let steps = if template == templates::DEFAULT { message::Steps::Left } else { message::Steps::Listed };
        let ctx = message::context(d, pipeline.as_ref(), self.joined_view(id).as_ref(), labels, deployer, steps);
        // A route's template that fails on this deployment falls back to the default, and that
        // (tested on every state) to the plain status line.
        let (text, mut blocks) = self
            .templates
            .render(template, &ctx)
            .or_else(|_| self.templates.render(templates::DEFAULT, &ctx))
            .unwrap_or_else(|_| message::reply(format!("{} {}: {}", ctx.emoji, ctx.title, ctx.status)));
        // The buttons are Cutover's own, whatever the template (`[slack.actions]`).
        blocks.extend(self.buttons(id));
        let (text, blocks) = message::fit((text, blocks));
        Some(SlackMessage {
            deployment_id: id.to_owned(),
            channel: d.slack.channel().map_or_else(|| self.routing.default_channel.clone(), str::to_owned),
            thread_of: None,
            text,
            blocks,
            broadcast: false,
        })
    }

    /// Brings the deployment's message up to date, when it has one.
    fn update(&self, id: &str, out: &mut Vec<Action>) {
        if self.state.deployments.get(id).is_some_and(|d| d.has_message())
            && let Some(m) = self.message_of(id)
        {
            out.push(Action::SlackUpdate(m));
        }
    }

    /// Fills what other records know: the environment from the routes, the previous task
    /// definition from older deployments or old tasks of the service, a rollback's identity.
    fn fill_identity(&mut self, id: &str) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let environment = d
            .target
            .environment
            .is_none()
            .then(|| self.routing.route(&self.identity_of(d)).and_then(|r| r.environment.clone()))
            .flatten();
        let previous =
            if d.release.previous_task_definition.is_none() { self.previous_task_definition(d) } else { None };
        let target_td = d
            .rollback
            .target
            .as_deref()
            .and_then(|t| self.state.deployments.get(self.canonical(t)))
            .and_then(|t| t.release.task_definition.clone());
        let Some(d) = self.state.deployments.get_mut(id) else { return };
        if environment.is_some() {
            d.target.environment = environment;
        }
        if previous.is_some() {
            d.release.previous_task_definition = previous;
        }
        if d.release.task_definition.is_none() {
            d.release.task_definition = target_td;
        }
    }

    fn create(&mut self, id: &str, strategy: Strategy, service: Option<&ServiceRef>, at: Timestamp) {
        let mut d = Deployment::new(id, strategy, at);
        if let Some(s) = service {
            d.target.service_key = Some(s.key.clone());
            d.target.cluster = Some(s.cluster.clone());
            d.target.service = Some(s.service.clone());
            let svc = self.state.census.services.entry(s.key.clone()).or_default();
            svc.deployments.push(id.to_owned());
            svc.open.push(Open { id: Shared::from(id), waiting: false });
        }
        d.pipeline_execution = self.state.pipelines.by_deployment.get(id).cloned();
        self.state.deployments.insert(id.to_owned(), Box::new(d));
        self.state.stats.deployments += 1;
        // CodeDeploy: a rollback that named this deployment before it was seen.
        self.link_named_rollback(id);
        if strategy == Strategy::EcsRolling {
            self.link_late_rollback(id);
        }
    }
}

/// The commit and repository URL a deployment ships, by what says it best: CI's annotation,
/// the image's OCI labels, the pipeline's first source revision, a version that is a commit.
fn change_of(detail: &LifecycleDetail, labels: Option<&ImageLabels>) -> (Option<String>, Option<String>) {
    let annotation = detail.annotation.as_ref();
    let source = detail.pipeline.as_ref().and_then(|p| p.source_revisions.first());
    let commit = annotation
        .and_then(|a| a.commit.clone())
        .or_else(|| labels.and_then(|l| l.revision.clone()))
        .or_else(|| source.and_then(|s| s.revision_id.clone()).filter(|r| is_commit(r)))
        .or_else(|| detail.version.clone().filter(|v| is_commit(v)));
    let repository = annotation
        .and_then(|a| a.repository.clone())
        .or_else(|| labels.and_then(|l| l.source.clone()))
        .or_else(|| source.and_then(|s| s.url.clone()));
    (commit, repository)
}

/// 7 to 40 lower-case hex digits: a Git commit id, full or abbreviated.
fn is_commit(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
