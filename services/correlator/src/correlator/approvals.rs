//! A pipeline's manual approvals (DESIGN.md, "Pipelines"): an approval action that started is
//! waiting, and gets its own message in the channel of the environment the pipeline's next
//! deploy action leads to, naming the execution and its revision, what each earlier
//! environment runs now (from Cutover's own state) and, in words a tired person cannot miss,
//! when the execution waiting is not the newest that got past the stage before, or when a newer
//! one is queued behind it. Approved, rejected, expired or abandoned, the message says how,
//! when and (once the reconciler read it) by whom, and names the deployment that followed.
//! Each is emitted as `Approval Waiting` and `Approval Decided`.
//!
//! Which environment comes next is in the pipeline's structure (`GetPipeline`, asked by the
//! reconciler): until it is known the message is held; an approval decided before it is known
//! gets no message of its own (the events still go, and the deployment's message says who
//! approved it).

use std::collections::BTreeMap;

use cutover_events::Timestamp;
use cutover_events::codepipeline::ExecutionState;
use cutover_events::emitted::{
    ApprovalDetail, ApprovalDetailType, ApprovalOutcome, EnvironmentNow, OtherExecution, SOURCE,
};
use serde::{Deserialize, Serialize};

use super::Correlator;
use super::input::{ActionTarget, StageStructure};
use super::pipelines::DEPLOY_PROVIDERS;
use crate::action::{Action, SlackMessage};
use crate::deployment::{Deployment, SlackThread};
use crate::facts::{ApprovalNoticeFact, PipelineFact};
use crate::routing::{Identity, Route};
use crate::slack::approval::{ApprovalView, approval_message};
use crate::slack::message::{self, clock, escape};

/// One manual approval of an execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ApprovalRecord {
    /// `approval/<execution>/<stage>/<action>`: its events' and its message's id.
    pub(super) id: String,
    pub(super) pipeline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) pipeline_version: Option<u64>,
    pub(super) execution_id: String,
    pub(super) stage: String,
    pub(super) action: String,
    /// When it started waiting (AWS time).
    pub(super) started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) notice: Option<ApprovalNoticeFact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) decision: Option<Decision>,
    #[serde(flatten)]
    pub(super) slack: SlackThread,
    /// The deployment that followed its approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) next_deployment: Option<String>,
    pub(super) last_at: Timestamp,
}

/// How an approval ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Decision {
    pub(super) outcome: ApprovalOutcome,
    pub(super) at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) comment: Option<String>,
}

/// The approvals, the notices that came before their approval's start, the pipelines'
/// structures.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Approvals {
    #[serde(rename = "pipeline_approvals", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) records: BTreeMap<String, ApprovalRecord>,
    /// By `<pipeline>/<stage>/<action>`.
    #[serde(rename = "pipeline_approval_notices", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) pending_notices: BTreeMap<String, ApprovalNoticeFact>,
    /// By `<pipeline>@<version>` (`@latest` when the version is not known).
    #[serde(rename = "pipeline_structures", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) structures: BTreeMap<String, Vec<StageStructure>>,
}

fn structure_key(pipeline: &str, version: Option<u64>) -> String {
    match version {
        Some(v) => format!("{pipeline}@{v}"),
        None => format!("{pipeline}@latest"),
    }
}

fn notice_key(pipeline: &str, stage: &str, action: &str) -> String {
    format!("{pipeline}/{stage}/{action}")
}

/// Where the next deploy action leads, and what the earlier ones deploy, by the structure.
#[derive(Debug, Default)]
struct Around {
    next: Option<(String, String, Vec<ActionTarget>)>,
    earlier: Vec<ActionTarget>,
    stage_before: Option<String>,
}

fn around(stages: &[StageStructure], stage: &str, action: &str) -> Around {
    let Some(si) = stages.iter().position(|s| s.name == stage) else { return Around::default() };
    let order = stages[si].actions.iter().find(|a| a.name == action).map_or(1, |a| a.run_order);
    let deploys = |a: &&super::input::ActionStructure| {
        a.category == "Deploy" && DEPLOY_PROVIDERS.contains(&a.provider.as_str()) && !a.targets.is_empty()
    };
    let mut out = Around { stage_before: si.checked_sub(1).map(|i| stages[i].name.clone()), ..Around::default() };
    for (i, s) in stages.iter().enumerate() {
        let mut actions: Vec<_> = s.actions.iter().filter(deploys).collect();
        actions.sort_by_key(|a| a.run_order);
        for a in actions {
            let before = i < si || (i == si && a.run_order < order);
            let after = i > si || (i == si && a.run_order > order);
            if before {
                out.earlier.extend(a.targets.iter().cloned());
            } else if after && out.next.is_none() {
                out.next = Some((s.name.clone(), a.name.clone(), a.targets.clone()));
            }
        }
    }
    out
}

fn short(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn identity(t: &ActionTarget) -> Option<Identity<'_>> {
    match t {
        ActionTarget::EcsService { cluster, service } => Some(Identity {
            cluster: cluster.as_deref().map(short),
            service: Some(short(service)),
            application: None,
            deployment_group: None,
            environment: None,
            tags: None,
        }),
        ActionTarget::DeploymentGroup { application, deployment_group } => Some(Identity {
            cluster: None,
            service: None,
            application: Some(application),
            deployment_group: Some(deployment_group),
            environment: None,
            tags: None,
        }),
        ActionTarget::CodeDeployDeployment { .. } => None,
    }
}

impl Correlator {
    /// An approval action's event: it started waiting, or was decided.
    pub(super) fn on_approval_action(&mut self, p: &PipelineFact, observed: Timestamp, out: &mut Vec<Action>) {
        let (Some(stage), Some(action)) = (&p.stage, &p.action) else { return };
        let id = format!("approval/{}/{stage}/{action}", p.execution_id);
        let records = &mut self.state.approvals.records;
        let fresh = !records.contains_key(&id);
        let rec = records.entry(id.clone()).or_insert_with(|| ApprovalRecord {
            id: id.clone(),
            pipeline: p.pipeline.clone(),
            pipeline_version: p.pipeline_version,
            execution_id: p.execution_id.clone(),
            stage: stage.clone(),
            action: action.clone(),
            started_at: p.at,
            notice: None,
            decision: None,
            slack: SlackThread::Unposted,
            next_deployment: None,
            last_at: p.at,
        });
        rec.last_at = rec.last_at.max(p.at);
        let outcome = match p.state {
            ExecutionState::Started => None,
            ExecutionState::Succeeded => Some(ApprovalOutcome::Approved),
            ExecutionState::Failed => {
                let expired = rec.notice.as_ref().and_then(|n| n.expires).is_some_and(|e| p.at >= e);
                Some(if expired { ApprovalOutcome::Expired } else { ApprovalOutcome::Rejected })
            }
            ExecutionState::Abandoned
            | ExecutionState::Canceled
            | ExecutionState::Stopped
            | ExecutionState::Superseded => Some(ApprovalOutcome::Abandoned),
            _ => return,
        };
        match outcome {
            None if fresh => {
                let key = notice_key(&p.pipeline, stage, action);
                if let Some(n) = self.state.approvals.pending_notices.remove(&key)
                    && let Some(rec) = self.state.approvals.records.get_mut(&id)
                {
                    rec.notice = Some(n);
                }
                self.emit_approval(&id, ApprovalDetailType::Waiting, p.at, observed, out);
                self.post_approval(&id, out);
            }
            None => {
                // A start that arrives after the decision (the queue reorders): its time is
                // kept, its event was given with the decision.
                rec.started_at = rec.started_at.min(p.at);
            }
            Some(outcome) => {
                if rec.decision.is_some() {
                    return;
                }
                rec.decision = Some(Decision { outcome, at: p.at, by: None, comment: None });
                let slack = rec.slack.clone();
                if fresh {
                    // Decided before its start was seen: Waiting first, at the earliest time
                    // known (as a deployment's Started is), so every approval has both events.
                    self.emit_approval(&id, ApprovalDetailType::Waiting, p.at, observed, out);
                }
                self.emit_approval(&id, ApprovalDetailType::Decided, p.at, observed, out);
                match slack {
                    SlackThread::Posted { channel } => {
                        self.update_approval(&id, out);
                        let text = format!(
                            "{} {} at {}.",
                            match outcome {
                                ApprovalOutcome::Approved => ":white_check_mark: Approved",
                                ApprovalOutcome::Rejected => ":no_entry: Rejected",
                                ApprovalOutcome::Expired => ":hourglass: Expired",
                                ApprovalOutcome::Abandoned => ":heavy_minus_sign: No longer waiting",
                            },
                            format_args!("(execution `{}`)", escape(message::short_id(&p.execution_id))),
                            clock(p.at)
                        );
                        let (text, blocks) = message::reply(text);
                        out.push(Action::SlackReply(SlackMessage {
                            deployment_id: id.clone(),
                            channel,
                            thread_of: Some(id.clone()),
                            text,
                            blocks,
                            broadcast: false,
                        }));
                    }
                    // Decided before its structure was known: no message of its own.
                    SlackThread::Held => {
                        if let Some(rec) = self.state.approvals.records.get_mut(&id) {
                            rec.slack = SlackThread::Unposted;
                        }
                    }
                    SlackThread::Unposted => {}
                }
            }
        }
    }

    /// The approval notification: the token, expiry and review link of the approval that
    /// waits at that pipeline, stage and action (kept until it starts, when it comes first).
    pub(super) fn on_approval_notice(&mut self, n: ApprovalNoticeFact, out: &mut Vec<Action>) {
        let waiting = self
            .state
            .approvals
            .records
            .values()
            .filter(|r| r.pipeline == n.pipeline && r.stage == n.stage && r.action == n.action && r.decision.is_none())
            .max_by_key(|r| r.started_at)
            .map(|r| r.id.clone());
        match waiting {
            Some(id) => {
                if let Some(rec) = self.state.approvals.records.get_mut(&id) {
                    rec.last_at = rec.last_at.max(n.at);
                    rec.notice = Some(n);
                }
                self.update_approval(&id, out);
            }
            None => {
                self.state.approvals.pending_notices.insert(notice_key(&n.pipeline, &n.stage, &n.action), n);
            }
        }
    }

    /// `GetPipeline`: the pipeline's structure; the approvals held for it are posted.
    pub(super) fn on_pipeline_structure(
        &mut self,
        pipeline: &str,
        version: Option<u64>,
        stages: Vec<StageStructure>,
        out: &mut Vec<Action>,
    ) {
        self.state.approvals.structures.insert(structure_key(pipeline, version), stages);
        let held: Vec<String> = self
            .state
            .approvals
            .records
            .values()
            .filter(|r| r.pipeline == pipeline && r.slack == SlackThread::Held && r.decision.is_none())
            .filter(|r| version.is_none() || r.pipeline_version == version)
            .map(|r| r.id.clone())
            .collect();
        for id in held {
            self.post_approval(&id, out);
        }
    }

    /// Who decided an execution's approval and what they wrote (the reconciler's answer).
    pub(super) fn on_approval_decider(
        &mut self,
        execution_id: &str,
        by: Option<&str>,
        comment: Option<&str>,
        out: &mut Vec<Action>,
    ) {
        let ids: Vec<String> = self
            .state
            .approvals
            .records
            .values_mut()
            .filter(|r| r.execution_id == execution_id)
            .filter_map(|r| {
                let d = r.decision.as_mut()?;
                if d.by.is_some() || d.comment.is_some() {
                    return None;
                }
                d.by = by.map(str::to_owned);
                d.comment = comment.map(str::to_owned);
                Some(r.id.clone())
            })
            .collect();
        for id in ids {
            self.update_approval(&id, out);
        }
    }

    /// The approvals of a pipeline still waiting have their message brought up to date: an
    /// execution started, ended or got past a stage, and their warnings may have changed.
    pub(super) fn refresh_approvals(&self, pipeline: &str, out: &mut Vec<Action>) {
        for r in self.state.approvals.records.values() {
            if r.pipeline == pipeline && r.decision.is_none() && r.slack.channel().is_some() {
                self.update_approval(&r.id, out);
            }
        }
    }

    /// A deployment joined an execution's deploy action: the approval it followed names it.
    pub(super) fn follow_approval(
        &mut self,
        deployment: &str,
        execution_id: &str,
        stage: &str,
        action: &str,
        out: &mut Vec<Action>,
    ) {
        let start = self
            .state
            .deployments
            .get(deployment)
            .map(|d| d.started_at().or(d.evidence.started).unwrap_or(d.first_seen));
        let structures = &self.state.approvals.structures;
        let ids: Vec<String> = self
            .state
            .approvals
            .records
            .values_mut()
            .filter(|r| r.execution_id == execution_id && r.next_deployment.is_none())
            .filter(|r| r.decision.as_ref().is_some_and(|d| d.outcome == ApprovalOutcome::Approved))
            .filter(|r| match structures.get(&structure_key(&r.pipeline, r.pipeline_version)) {
                Some(stages) => {
                    around(stages, &r.stage, &r.action).next.is_some_and(|(s, a, _)| s == stage && a == action)
                }
                None => start.is_some_and(|s| r.decision.as_ref().is_some_and(|d| d.at <= s)),
            })
            .map(|r| {
                r.next_deployment = Some(deployment.to_owned());
                r.id.clone()
            })
            .collect();
        for id in ids {
            self.update_approval(&id, out);
        }
    }

    /// The approvals whose message waits for their pipeline's structure: `(pipeline,
    /// version)`, each once.
    pub(super) fn structures_wanted(&self) -> Vec<(String, Option<u64>)> {
        let mut out: Vec<(String, Option<u64>)> = self
            .state
            .approvals
            .records
            .values()
            .filter(|r| r.slack == SlackThread::Held && r.decision.is_none())
            .filter(|r| !self.state.approvals.structures.contains_key(&structure_key(&r.pipeline, r.pipeline_version)))
            .map(|r| (r.pipeline.clone(), r.pipeline_version))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Posts the approval's message where its next environment's route says, once its
    /// pipeline's structure is known; holds it until then.
    fn post_approval(&mut self, id: &str, out: &mut Vec<Action>) {
        let Some(rec) = self.state.approvals.records.get(id) else { return };
        if rec.slack.channel().is_some() {
            return;
        }
        if !self.state.approvals.structures.contains_key(&structure_key(&rec.pipeline, rec.pipeline_version)) {
            if let Some(rec) = self.state.approvals.records.get_mut(id) {
                rec.slack = SlackThread::Held;
            }
            return;
        }
        let (channel, _) = self.next_route(rec);
        if let Some(rec) = self.state.approvals.records.get_mut(id) {
            rec.slack = SlackThread::Posted { channel };
        }
        if let Some(m) = self.approval_message_of(id) {
            out.push(Action::SlackPost(m));
        }
    }

    pub(super) fn update_approval(&self, id: &str, out: &mut Vec<Action>) {
        if self.state.approvals.records.get(id).is_some_and(|r| r.slack.channel().is_some())
            && let Some(m) = self.approval_message_of(id)
        {
            out.push(Action::SlackUpdate(m));
        }
    }

    fn structure_of(&self, rec: &ApprovalRecord) -> Option<&Vec<StageStructure>> {
        self.state.approvals.structures.get(&structure_key(&rec.pipeline, rec.pipeline_version))
    }

    /// The channel and environment of the next deploy action's first target's route.
    pub(super) fn next_route(&self, rec: &ApprovalRecord) -> (String, Option<String>) {
        let route = self.approval_route(rec);
        let channel = route.and_then(|r| r.channel.clone()).unwrap_or_else(|| self.routing.default_channel.clone());
        (channel, route.and_then(|r| r.environment.clone()))
    }

    /// The route of the next deploy action's first target: its channel gets the approval's
    /// message, its `approvers` may decide it.
    pub(super) fn approval_route(&self, rec: &ApprovalRecord) -> Option<&Route> {
        let next = self.structure_of(rec).and_then(|s| around(s, &rec.stage, &rec.action).next)?;
        next.2.iter().filter_map(identity).find_map(|id| self.routing.route(&id))
    }

    /// A reply in the thread of the approval's message, once it is posted.
    pub(super) fn approval_reply(&self, id: &str, text: String, out: &mut Vec<Action>) {
        let Some(channel) = self.state.approvals.records.get(id).and_then(|r| r.slack.channel()) else { return };
        let (text, blocks) = message::reply(text);
        out.push(Action::SlackReply(SlackMessage {
            deployment_id: id.to_owned(),
            channel: channel.to_owned(),
            thread_of: Some(id.to_owned()),
            text,
            blocks,
            broadcast: false,
        }));
    }

    /// What each earlier environment runs now: the newest cut-over of each target the deploy
    /// actions before the approval deploy (by the structure, else the execution's own
    /// deployments so far).
    fn earlier(&self, rec: &ApprovalRecord) -> Vec<EnvironmentNow> {
        let targets: Vec<ActionTarget> = match self.structure_of(rec) {
            Some(s) => around(s, &rec.stage, &rec.action).earlier,
            None => self
                .state
                .pipelines
                .executions
                .get(&rec.execution_id)
                .map(|e| {
                    e.joined
                        .iter()
                        .filter_map(|j| self.state.deployments.get(&j.deployment))
                        .filter_map(|d| {
                            Some(ActionTarget::EcsService {
                                cluster: d.target.cluster.clone(),
                                service: d.target.service.clone()?,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        let mut out: Vec<EnvironmentNow> = Vec::new();
        for t in &targets {
            // Once per approval message, not per event: the deployments of the target held.
            let now: Option<&Deployment> = self
                .state
                .deployments
                .values()
                .filter(|d| t.names(d) && d.cut_over_at().is_some())
                .max_by_key(|d| d.cut_over_at());
            let (cluster, service) = match t {
                ActionTarget::EcsService { cluster, service } => (cluster.clone(), Some(service.clone())),
                ActionTarget::DeploymentGroup { deployment_group, .. } => (None, Some(deployment_group.clone())),
                ActionTarget::CodeDeployDeployment { .. } => continue,
            };
            let env = now
                .and_then(|d| d.target.environment.clone())
                .or_else(|| identity(t).and_then(|id| self.routing.route(&id)).and_then(|r| r.environment.clone()));
            let e = EnvironmentNow {
                environment: env,
                cluster: now.and_then(|d| d.target.cluster.clone()).or(cluster),
                service: now.and_then(|d| d.target.service.clone()).or(service),
                version: now.and_then(|d| d.release.version.clone()),
                cut_over_at: now.and_then(Deployment::cut_over_at),
                deployment_id: now.map(|d| d.id.clone()),
                execution_id: now.and_then(|d| d.pipeline_execution.clone()),
            };
            if !out.contains(&e) {
                out.push(e);
            }
        }
        out
    }

    /// When an execution started (its STARTED event, else when it was first heard of).
    fn execution_start(&self, execution_id: &str) -> Option<Timestamp> {
        let e = self.state.pipelines.executions.get(execution_id)?;
        e.started_at.or(e.first_at)
    }

    /// The newest execution of the pipeline, newer than this one, that got past the stage
    /// before the approval's; and the newer ones still running (queued behind it).
    fn newer_executions(&self, rec: &ApprovalRecord) -> (Option<OtherExecution>, Vec<OtherExecution>) {
        let Some(this_start) = self.execution_start(&rec.execution_id) else { return (None, Vec::new()) };
        let this = self.state.pipelines.executions.get(&rec.execution_id);
        let stage_before =
            self.structure_of(rec).and_then(|s| around(s, &rec.stage, &rec.action).stage_before).or_else(|| {
                this?
                    .stages_passed
                    .iter()
                    .filter(|(_, at)| **at <= rec.started_at)
                    .max_by_key(|(_, at)| **at)
                    .map(|(s, _)| s.clone())
            });
        let other = |id: &str, e: &super::pipelines::PipelineRecord| OtherExecution {
            execution_id: id.to_owned(),
            started_at: e.started_at.or(e.first_at),
            revision: e.context.revision.clone(),
        };
        let newer: Vec<(&String, &super::pipelines::PipelineRecord)> = self
            .state
            .pipelines
            .executions
            .iter()
            .filter(|(id, e)| {
                **id != rec.execution_id
                    && e.context.name == rec.pipeline
                    && e.started_at.or(e.first_at).is_some_and(|s| s > this_start)
            })
            .collect();
        let passed = stage_before.as_ref().and_then(|stage| {
            newer
                .iter()
                .filter(|(_, e)| e.stages_passed.contains_key(stage))
                .max_by_key(|(_, e)| e.started_at.or(e.first_at))
                .map(|(id, e)| other(id, e))
        });
        let queued = newer
            .iter()
            .filter(|(id, e)| e.ended_at.is_none() && passed.as_ref().is_none_or(|p| p.execution_id != ***id))
            .map(|(id, e)| other(id, e))
            .collect();
        (passed, queued)
    }

    fn approval_detail(
        &self,
        id: &str,
        detail_type: ApprovalDetailType,
        at: Timestamp,
        observed: Timestamp,
    ) -> Option<ApprovalDetail> {
        let rec = self.state.approvals.records.get(id)?;
        let ctx = self.state.pipelines.executions.get(&rec.execution_id).map(|e| &e.context);
        let (newer_passed, queued_behind) = self.newer_executions(rec);
        let decided = (detail_type == ApprovalDetailType::Decided).then_some(rec.decision.as_ref()).flatten();
        Some(ApprovalDetail {
            approval_id: rec.id.clone(),
            pipeline: rec.pipeline.clone(),
            execution_id: rec.execution_id.clone(),
            stage: rec.stage.clone(),
            action: rec.action.clone(),
            environment: self.next_route(rec).1,
            revision: ctx.and_then(|c| c.revision.clone()),
            revision_summary: ctx.and_then(|c| c.source_revisions.iter().find_map(|r| r.summary.clone())),
            started_by: ctx.and_then(|c| c.trigger_detail.clone()),
            expires: rec.notice.as_ref().and_then(|n| n.expires),
            earlier: self.earlier(rec),
            newer_passed,
            queued_behind,
            at,
            observed_at: observed.max(at),
            outcome: decided.map(|d| d.outcome),
            decided_by: decided.and_then(|d| d.by.clone()),
            comment: decided.and_then(|d| d.comment.clone()),
        })
    }

    fn emit_approval(
        &self,
        id: &str,
        detail_type: ApprovalDetailType,
        at: Timestamp,
        observed: Timestamp,
        out: &mut Vec<Action>,
    ) {
        if let Some(detail) = self.approval_detail(id, detail_type, at, observed) {
            out.push(Action::EmitApproval { source: SOURCE.to_owned(), detail_type, detail: Box::new(detail) });
        }
    }

    fn approval_message_of(&self, id: &str) -> Option<SlackMessage> {
        let rec = self.state.approvals.records.get(id)?;
        let channel = rec.slack.channel()?.to_owned();
        let ctx = self.state.pipelines.executions.get(&rec.execution_id).map(|e| &e.context);
        let (newer_passed, queued_behind) = self.newer_executions(rec);
        let earlier = self.earlier(rec);
        let environment = self.next_route(rec).1;
        let next_channel =
            rec.next_deployment.as_deref().and_then(|d| self.state.deployments.get(self.canonical(d))).map(|d| {
                // Where its message is, or will be posted.
                d.slack.channel().map(str::to_owned).unwrap_or_else(|| {
                    self.routing
                        .route(&self.identity_of(d))
                        .and_then(|r| r.channel.clone())
                        .unwrap_or_else(|| self.routing.default_channel.clone())
                })
            });
        let view = ApprovalView {
            pipeline: &rec.pipeline,
            execution_id: &rec.execution_id,
            stage: &rec.stage,
            action: &rec.action,
            environment: environment.as_deref(),
            revision: ctx.and_then(|c| c.revision.as_deref()),
            summary: ctx
                .and_then(|c| c.source_revisions.iter().find_map(|r| Some((r.summary.as_deref()?, r.url.as_deref())))),
            started_by: ctx.and_then(|c| c.trigger_detail.as_deref()),
            waiting_since: rec.started_at,
            expires: rec.notice.as_ref().and_then(|n| n.expires),
            review_link: rec.notice.as_ref().and_then(|n| n.review_link.as_deref()),
            earlier: &earlier,
            newer_passed: newer_passed.as_ref(),
            queued_behind: &queued_behind,
            decision: rec.decision.as_ref().map(|d| (d.outcome, d.at, d.by.as_deref(), d.comment.as_deref())),
            next: rec.next_deployment.as_deref().map(|d| (d, next_channel.as_deref())),
        };
        let (text, mut blocks) = approval_message(&view);
        blocks.extend(self.approval_buttons(id));
        Some(SlackMessage { deployment_id: id.to_owned(), channel, thread_of: None, text, blocks, broadcast: false })
    }
}
