//! CodePipeline executions, their approvals, and their joins to the deployments they ran.

use std::collections::BTreeMap;

use cutover_events::Timestamp;
use cutover_events::codepipeline::ExecutionState;
use cutover_events::emitted::PipelineContext;
use serde::{Deserialize, Serialize};

use super::Correlator;
use crate::action::Action;
use crate::deployment::Deployment;
use crate::facts::PipelineFact;

/// One pipeline execution: its context, the deployment it ran, when it was last heard of.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PipelineRecord {
    pub(super) context: PipelineContext,
    pub(super) deployment: Option<String>,
    pub(super) last_at: Timestamp,
    /// The reconciler looked for the approver (found or not).
    #[serde(default)]
    pub(super) approver_checked: bool,
}

/// Pipeline executions by id, and the execution that ran each deployment (by the id the
/// pipeline named it with, which may precede the deployment's first event).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Pipelines {
    #[serde(rename = "pipelines")]
    pub(super) executions: BTreeMap<String, PipelineRecord>,
    #[serde(rename = "pipeline_by_deployment")]
    pub(super) by_deployment: BTreeMap<String, String>,
}

impl Correlator {
    /// Who approved an execution's manual approval, as `ListActionExecutions` says (asked once);
    /// the message of the deployment it ran shows it.
    pub(super) fn on_approval(&mut self, execution_id: &str, approved_by: Option<String>, out: &mut Vec<Action>) {
        let Some(rec) = self.state.pipelines.executions.get_mut(execution_id) else { return };
        if rec.approver_checked {
            return;
        }
        rec.approver_checked = true;
        if approved_by.is_none() {
            return;
        }
        rec.context.approved_by = approved_by;
        let linked = rec.deployment.clone().map(|d| self.canonical(&d).to_owned());
        if let Some(id) = linked
            && self.state.deployments.get(&id).is_some_and(Deployment::has_message)
        {
            self.update(&id, out);
        }
    }

    pub(super) fn on_pipeline(&mut self, p: PipelineFact, out: &mut Vec<Action>) {
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

    pub(super) fn pipeline_of(&self, id: &str) -> Option<PipelineContext> {
        let exec = self.state.deployments.get(id)?.pipeline_execution.as_ref()?;
        self.state.pipelines.executions.get(exec).map(|p| p.context.clone())
    }
}
