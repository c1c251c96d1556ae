//! CodePipeline executions, their approvals, their deploy actions, and their joins to the
//! deployments they ran (DESIGN.md, "Pipelines: every deployment knows its execution").
//!
//! CodePipeline's events name the pipeline, execution, stage and action, never what an action
//! deploys. So when a deploy action starts (provider `ECS`, `CodeDeployToECS`, `CodeDeploy` or
//! `CloudFormation`) it is recorded here and [`Correlator::wanted`] asks the reconciler for its
//! targets; once they are known, a deployment of one of them that starts while the action runs
//! (or at most [`JOIN_BEFORE_MS`] before it started) belongs to that execution. The join is made
//! at the deployment's first decision when the answer came in time, and otherwise when the
//! answer comes: then the deployment's message is updated, and every later event carries it.

use std::collections::BTreeMap;

use cutover_events::Timestamp;
use cutover_events::codepipeline::ExecutionState;
use cutover_events::emitted::{PipelineContext, SourceRevision};
use serde::{Deserialize, Serialize};

use super::Correlator;
use super::input::ActionTarget;
use crate::action::Action;
use crate::deployment::Deployment;
use crate::facts::PipelineFact;
use crate::slack::message::{EarlierRun, Joined as JoinedView};

/// A deployment that started at most this long before its deploy action did still belongs to
/// it (the action's STARTED event and the deployment's first event race).
pub(super) const JOIN_BEFORE_MS: i64 = 2 * 60 * 1000;

/// How long (AWS time) a finished deploy action is kept: deployments it ran start before it
/// ends, and their events are not hours late.
pub(super) const KEEP_FINISHED_ACTION_MS: i64 = 3600 * 1000;

/// The action providers whose deployments Cutover joins to their execution.
pub(super) const DEPLOY_PROVIDERS: [&str; 4] = ["ECS", "CodeDeployToECS", "CodeDeploy", "CloudFormation"];

/// One pipeline execution: its context, the deployments it ran, when it was last heard of.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PipelineRecord {
    pub(super) context: PipelineContext,
    /// The deployment it ran last (a CodeDeploy action's `d-…` id, or the latest joined).
    pub(super) deployment: Option<String>,
    pub(super) last_at: Timestamp,
    /// The reconciler looked for the approver (found or not).
    #[serde(default)]
    pub(super) approver_checked: bool,
    /// The execution has a deploy action Cutover joins (its source revisions are worth reading).
    #[serde(default)]
    pub(super) deploys: bool,
    /// The reconciler read its source revisions and trigger (found or not).
    #[serde(default)]
    pub(super) revisions_read: bool,
    /// Every deployment it ran, with the stage and action that ran it, in join order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) joined: Vec<Joined>,
    /// When it started (its pipeline STARTED event) and ended (SUCCEEDED, FAILED, STOPPED,
    /// SUPERSEDED, CANCELED), and when it was first heard of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) first_at: Option<Timestamp>,
    /// The stages it got past, and when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) stages_passed: BTreeMap<String, Timestamp>,
}

/// A deployment an execution ran, and by which of its actions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Joined {
    pub(super) deployment: String,
    pub(super) stage: Option<String>,
    pub(super) action: Option<String>,
}

/// A deploy action of an execution: when it ran and, once the reconciler has read its
/// configuration, what it deploys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DeployAction {
    pub(super) pipeline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) pipeline_version: Option<u64>,
    pub(super) execution_id: String,
    pub(super) stage: String,
    pub(super) action: String,
    pub(super) provider: String,
    pub(super) started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) finished_at: Option<Timestamp>,
    /// What it deploys, as the reconciler read it; `None` until it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) targets: Option<Vec<ActionTarget>>,
}

impl DeployAction {
    fn key(execution_id: &str, stage: &str, action: &str) -> String {
        format!("{execution_id}/{stage}/{action}")
    }

    /// The deployment is one this action ran: its target, started in the action's window.
    fn ran(&self, d: &Deployment) -> bool {
        let start = d.started_at().or(d.evidence.started).unwrap_or(d.first_seen);
        let in_window =
            start >= self.started_at.plus_millis(-JOIN_BEFORE_MS) && self.finished_at.is_none_or(|end| start <= end);
        in_window && self.targets.iter().flatten().any(|t| t.names(d))
    }
}

impl ActionTarget {
    /// The deployment deploys this target.
    pub(super) fn names(&self, d: &Deployment) -> bool {
        let short = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
        match self {
            Self::EcsService { cluster, service } => {
                d.target.service.as_deref().map(short) == Some(short(service))
                    && cluster.as_deref().is_none_or(|c| d.target.cluster.as_deref().map(short) == Some(short(c)))
            }
            Self::DeploymentGroup { application, deployment_group } => {
                d.target.application.as_deref() == Some(application.as_str())
                    && d.target.deployment_group.as_deref() == Some(deployment_group.as_str())
            }
            Self::CodeDeployDeployment { deployment_id } => {
                d.id == *deployment_id || d.aliases.iter().any(|a| a == deployment_id)
            }
        }
    }
}

/// Pipeline executions by id, the execution that ran each deployment (by the id the pipeline
/// named it with, which may precede the deployment's first event), and the deploy actions.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Pipelines {
    #[serde(rename = "pipelines")]
    pub(super) executions: BTreeMap<String, PipelineRecord>,
    #[serde(rename = "pipeline_by_deployment")]
    pub(super) by_deployment: BTreeMap<String, String>,
    /// Deploy actions by `<execution>/<stage>/<action>`.
    #[serde(rename = "pipeline_deploy_actions", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) deploy_actions: BTreeMap<String, DeployAction>,
}

impl Correlator {
    /// Who approved an execution's manual approval and what they wrote, as
    /// `ListActionExecutions` says (asked once); the message of the deployment it ran shows it.
    pub(super) fn on_approval(
        &mut self,
        execution_id: &str,
        approved_by: Option<String>,
        comment: Option<String>,
        out: &mut Vec<Action>,
    ) {
        let Some(rec) = self.state.pipelines.executions.get_mut(execution_id) else { return };
        if rec.approver_checked {
            return;
        }
        rec.approver_checked = true;
        if approved_by.is_none() && comment.is_none() {
            return;
        }
        rec.context.approved_by = approved_by;
        rec.context.approval_comment = comment;
        self.update_joined(execution_id, out);
    }

    /// `GetPipelineExecution`: the execution's source revisions and trigger (read once).
    pub(super) fn on_execution(
        &mut self,
        execution_id: &str,
        revisions: Vec<SourceRevision>,
        trigger_type: Option<String>,
        trigger_detail: Option<String>,
        out: &mut Vec<Action>,
    ) {
        let Some(rec) = self.state.pipelines.executions.get_mut(execution_id) else { return };
        if rec.revisions_read {
            return;
        }
        rec.revisions_read = true;
        let before = rec.context.clone();
        let ctx = &mut rec.context;
        if ctx.revision.is_none() {
            ctx.revision = revisions.iter().find_map(|r| r.revision_id.clone());
        }
        ctx.source_revisions = revisions;
        if ctx.trigger_type.is_none() {
            ctx.trigger_type = trigger_type;
        }
        if ctx.trigger_detail.is_none() {
            ctx.trigger_detail = trigger_detail;
        }
        if rec.context != before {
            self.update_joined(execution_id, out);
        }
    }

    /// What a deploy action deploys, as the reconciler read its configuration: the deployments
    /// of those targets that started in its window join its execution now.
    pub(super) fn on_pipeline_action(
        &mut self,
        execution_id: &str,
        stage: &str,
        action: &str,
        targets: Vec<ActionTarget>,
        out: &mut Vec<Action>,
    ) {
        let key = DeployAction::key(execution_id, stage, action);
        let Some(a) = self.state.pipelines.deploy_actions.get_mut(&key) else { return };
        if a.targets.is_some() {
            return;
        }
        for t in &targets {
            if let ActionTarget::CodeDeployDeployment { deployment_id } = t {
                self.state.pipelines.by_deployment.insert(deployment_id.clone(), execution_id.to_owned());
            }
        }
        a.targets = Some(targets);
        let a = a.clone();
        // Once per action, not per event: the deployments it may have run are looked for here.
        let ran: Vec<String> = self
            .state
            .deployments
            .values()
            .filter(|d| d.pipeline_execution.as_ref().is_none_or(|e| *e == a.execution_id) && a.ran(d))
            .map(|d| d.id.clone())
            .collect();
        let joined: Vec<String> = self
            .state
            .pipelines
            .executions
            .get(execution_id)
            .map(|r| r.joined.iter().map(|j| j.deployment.clone()).collect())
            .unwrap_or_default();
        let ran: Vec<String> = ran.into_iter().filter(|id| !joined.contains(id)).collect();
        for id in ran {
            self.join(&id, &a, out);
            self.update(&id, out);
        }
    }

    /// Joins a deployment to the deploy action whose target it deploys and in whose window it
    /// started (the latest such action), before its first decision where the answer is known.
    /// A deployment the execution already names (by a CodeDeploy action's id) is joined to
    /// the action too, for its stage.
    pub(super) fn join_pipeline(&mut self, id: &str, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let known = d.pipeline_execution.as_deref();
        let joined = known
            .and_then(|e| self.state.pipelines.executions.get(e))
            .is_some_and(|r| r.joined.iter().any(|j| j.deployment == id));
        if joined {
            return;
        }
        let found = self
            .state
            .pipelines
            .deploy_actions
            .values()
            .filter(|a| known.is_none_or(|e| e == a.execution_id) && a.ran(d))
            .max_by_key(|a| a.started_at);
        if let Some(a) = found.cloned() {
            self.join(id, &a, out);
        }
    }

    fn join(&mut self, id: &str, a: &DeployAction, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get_mut(id) else { return };
        d.pipeline_execution = Some(a.execution_id.clone());
        let rec = self.state.pipelines.executions.entry(a.execution_id.clone()).or_default();
        rec.deployment = Some(id.to_owned());
        if !rec.joined.iter().any(|j| j.deployment == id) {
            rec.joined.push(Joined {
                deployment: id.to_owned(),
                stage: Some(a.stage.clone()),
                action: Some(a.action.clone()),
            });
        }
        self.follow_approval(id, &a.execution_id, &a.stage, &a.action, out);
    }

    /// Updates the messages of every deployment the execution ran.
    fn update_joined(&self, execution_id: &str, out: &mut Vec<Action>) {
        let Some(rec) = self.state.pipelines.executions.get(execution_id) else { return };
        let mut ids: Vec<&str> = rec.joined.iter().map(|j| j.deployment.as_str()).collect();
        if let Some(d) = &rec.deployment
            && !ids.contains(&d.as_str())
        {
            ids.push(d);
        }
        for id in ids {
            self.update(self.canonical(id), out);
        }
    }

    pub(super) fn on_pipeline(&mut self, p: PipelineFact, observed: Timestamp, out: &mut Vec<Action>) {
        self.on_deploy_action(&p);
        let deploys = is_deploy(&p);
        let rec = self.state.pipelines.executions.entry(p.execution_id.clone()).or_default();
        rec.first_at = Some(rec.first_at.map_or(p.at, |f| f.min(p.at)));
        rec.context.name.clone_from(&p.pipeline);
        rec.context.execution_id.clone_from(&p.execution_id);
        // The execution's own progress: what an approval waiting warns about.
        let progress = match (&p.stage, &p.action, &p.state) {
            (None, None, ExecutionState::Started) => {
                rec.started_at = Some(rec.started_at.map_or(p.at, |s| s.min(p.at)));
                true
            }
            (
                None,
                None,
                ExecutionState::Succeeded
                | ExecutionState::Failed
                | ExecutionState::Stopped
                | ExecutionState::Superseded
                | ExecutionState::Canceled,
            ) => {
                rec.ended_at.get_or_insert(p.at);
                true
            }
            (Some(stage), None, ExecutionState::Succeeded) => {
                rec.stages_passed.entry(stage.clone()).or_insert(p.at);
                true
            }
            _ => false,
        };
        if p.stage.is_none() && p.action.is_none() && p.state == ExecutionState::Started {
            self.bind_deploy(&p.pipeline, &p.execution_id, p.at, p.trigger_type.as_deref());
        }
        let pipeline = p.pipeline.clone();
        if p.is_approval {
            self.on_approval_action(&p, observed, out);
        }
        if progress {
            self.refresh_approvals(&pipeline, out);
        }
        let rec = self.state.pipelines.executions.entry(p.execution_id.clone()).or_default();
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
        rec.deploys |= deploys;
        rec.last_at = rec.last_at.max(p.at);
        let changed = rec.context != before.context || rec.deployment != before.deployment;
        let linked = rec.deployment.clone();
        if let Some(dep) = &p.codedeploy_deployment_id {
            self.state.pipelines.by_deployment.insert(dep.clone(), p.execution_id.clone());
        }
        let Some(dep) = linked else { return };
        let id = self.canonical(&dep).to_owned();
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        d.pipeline_execution = Some(p.execution_id);
        if changed && d.slack.channel().is_some() {
            // Context that arrives after a lifecycle event updates the message.
            self.update(&id, out);
        }
    }

    /// Records a deploy action's start and end: its window, and (once started) what the
    /// reconciler is asked about it.
    fn on_deploy_action(&mut self, p: &PipelineFact) {
        let (true, Some(stage), Some(action), Some(provider)) = (is_deploy(p), &p.stage, &p.action, &p.provider) else {
            return;
        };
        let key = DeployAction::key(&p.execution_id, stage, action);
        let a = self.state.pipelines.deploy_actions.entry(key).or_insert_with(|| DeployAction {
            pipeline: p.pipeline.clone(),
            pipeline_version: p.pipeline_version,
            execution_id: p.execution_id.clone(),
            stage: stage.clone(),
            action: action.clone(),
            provider: provider.clone(),
            started_at: p.at,
            finished_at: None,
            targets: None,
        });
        match p.state {
            ExecutionState::Started => {
                // A retried action runs again: its window starts anew.
                if a.finished_at.is_some_and(|end| p.at > end) {
                    a.started_at = p.at;
                    a.finished_at = None;
                } else {
                    a.started_at = a.started_at.min(p.at);
                }
            }
            ExecutionState::Succeeded
            | ExecutionState::Failed
            | ExecutionState::Abandoned
            | ExecutionState::Canceled
            | ExecutionState::Stopped
            | ExecutionState::Superseded => {
                a.finished_at = Some(a.finished_at.map_or(p.at, |end| end.max(p.at)));
            }
            _ => {}
        }
    }

    /// The stage that ran the deployment, when it was joined through its deploy action (the
    /// message names it; a deployment joined by a finished CodeDeploy action's id keeps the
    /// message it always had), and the execution's deployments joined before it.
    pub(super) fn joined_view(&self, id: &str) -> Option<JoinedView<'_>> {
        let exec = self.state.deployments.get(id)?.pipeline_execution.as_ref()?;
        let rec = self.state.pipelines.executions.get(exec)?;
        let at = rec.joined.iter().position(|j| j.deployment == id)?;
        let earlier = rec.joined[..at]
            .iter()
            .filter_map(|j| self.state.deployments.get(&j.deployment))
            .filter(|d| {
                d.target.service_key != self.state.deployments.get(id).and_then(|x| x.target.service_key.clone())
            })
            .map(|d| EarlierRun {
                environment: d
                    .target
                    .environment
                    .as_deref()
                    .or(d.target.cluster.as_deref())
                    .or(d.target.deployment_group.as_deref())
                    .unwrap_or("earlier"),
                deployment_id: &d.id,
                channel: d.slack.channel(),
                cut_over_at: d.cut_over_at(),
            })
            .collect();
        Some(JoinedView { stage: rec.joined[at].stage.as_deref(), earlier })
    }

    pub(super) fn pipeline_of(&self, id: &str) -> Option<PipelineContext> {
        let exec = self.state.deployments.get(id)?.pipeline_execution.as_ref()?;
        let rec = self.state.pipelines.executions.get(exec)?;
        let mut ctx = rec.context.clone();
        // The stage and action that ran this deployment, when the execution ran several.
        if let Some(j) = rec.joined.iter().find(|j| j.deployment == id) {
            ctx.stage.clone_from(&j.stage);
            ctx.action.clone_from(&j.action);
        }
        Some(ctx)
    }
}

/// An action of a provider whose deployments Cutover joins.
fn is_deploy(p: &PipelineFact) -> bool {
    p.category.as_deref() == Some("Deploy") && p.provider.as_deref().is_some_and(|v| DEPLOY_PROVIDERS.contains(&v))
}
