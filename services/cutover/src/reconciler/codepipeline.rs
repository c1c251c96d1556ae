//! CodePipeline (and CloudFormation for a stack's services): who approved an execution, what
//! a deploy action deploys, and an execution's source revisions and trigger.
//!
//! A deploy action's configuration is read from `ListActionExecutions` of its execution (the
//! `resolvedConfiguration`, with variables resolved, else the `configuration`) and cached by
//! pipeline version, stage and action when it holds no variable: a pipeline's structure does
//! not change within a version. A `CloudFormation` action names a stack, whose `AWS::ECS::Service`
//! resources `ListStackResources` lists (cached per stack).

use std::collections::HashMap;

use aws_sdk_codepipeline::types::{
    ActionCategory, ActionExecutionDetail, ActionExecutionFilter, ActionExecutionStatus,
};
use cutover_correlator::{ActionStructure, ActionTarget, ActionWanted, Observation, StageStructure};
use cutover_events::emitted::SourceRevision;

use super::{AskError, Reconciler};

/// The configuration keys that name a deploy action's target.
const TARGET_KEYS: [&str; 5] = ["ClusterName", "ServiceName", "ApplicationName", "DeploymentGroupName", "StackName"];

/// Pages of `ListStackResources` read at most per stack (100 resources a page).
const MAX_STACK_PAGES: usize = 20;

impl Reconciler {
    /// `ListActionExecutions` of one execution: the approval action that succeeded, who
    /// updated it (`updatedBy`: the approver's ARN) and what they wrote (the summary).
    pub async fn approver(&mut self, pipeline: &str, execution_id: &str) -> Result<Option<Observation>, AskError> {
        let Some(details) = self.action_executions(pipeline, execution_id).await? else { return Ok(None) };
        // The approval that was approved, else one that was rejected: who decided it.
        let approval_with = |status: ActionExecutionStatus| {
            details.iter().find(move |a| {
                a.status() == Some(&status)
                    && a.input()
                        .and_then(|i| i.action_type_id())
                        .is_some_and(|t| t.category() == &ActionCategory::Approval)
            })
        };
        let approval =
            approval_with(ActionExecutionStatus::Succeeded).or_else(|| approval_with(ActionExecutionStatus::Failed));
        Ok(Some(Observation::Approval {
            execution_id: execution_id.to_owned(),
            approved_by: approval.and_then(|a| a.updated_by()).map(str::to_owned),
            comment: approval
                .and_then(|a| a.output()?.execution_result()?.external_execution_summary())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }))
    }

    /// What a deploy action deploys: its targets from the action's configuration (a stack's
    /// ECS services for `CloudFormation`). `None` while `ListActionExecutions` does not list
    /// the action yet (asked again next round).
    pub async fn deploy_targets(&mut self, w: &ActionWanted) -> Result<Option<Observation>, AskError> {
        let cache_key = w.pipeline_version.map(|v| (w.pipeline.clone(), v, w.stage.clone(), w.action.clone()));
        let observation = |targets: Vec<ActionTarget>| Observation::PipelineAction {
            execution_id: w.execution_id.clone(),
            stage: w.stage.clone(),
            action: w.action.clone(),
            targets,
        };
        if let Some(targets) = cache_key.as_ref().and_then(|k| self.action_targets.get(k)) {
            return Ok(Some(observation(targets.clone())));
        }
        let Some(details) = self.action_executions(&w.pipeline, &w.execution_id).await? else { return Ok(None) };
        let Some(detail) = details
            .iter()
            .find(|a| a.stage_name() == Some(w.stage.as_str()) && a.action_name() == Some(w.action.as_str()))
        else {
            return Ok(None);
        };
        let config = configuration(detail);
        let mut targets = self.targets_of(&w.provider, &config).await?;
        // What the configuration says holds for the pipeline's version, unless the keys that
        // name the target hold variables (resolved per execution).
        let raw = detail.input().and_then(|i| i.configuration());
        let varies = TARGET_KEYS.iter().any(|k| raw.and_then(|c| c.get(*k)).is_some_and(|v| v.contains("#{")));
        if let Some(k) = cache_key
            && !varies
        {
            self.action_targets.insert(k, targets.clone());
        }
        // A running CodeDeploy action already names its deployment.
        if let Some(id) = detail.output().and_then(|o| o.execution_result()?.external_execution_id())
            && id.starts_with("d-")
            && w.provider.starts_with("CodeDeploy")
        {
            targets.push(ActionTarget::CodeDeployDeployment { deployment_id: id.to_owned() });
        }
        Ok(Some(observation(targets)))
    }

    /// What a deploy action's configuration names: a service, a deployment group, or a
    /// stack's services. A value that is still a variable (`#{…}`) names nothing.
    async fn targets_of(
        &mut self,
        provider: &str,
        config: &HashMap<String, String>,
    ) -> Result<Vec<ActionTarget>, AskError> {
        let get =
            |k: &str| config.get(k).map(|v| v.trim()).filter(|v| !v.is_empty() && !v.contains("#{")).map(str::to_owned);
        Ok(match provider {
            "ECS" => get("ServiceName")
                .map(|service| ActionTarget::EcsService { cluster: get("ClusterName"), service })
                .into_iter()
                .collect(),
            "CodeDeployToECS" | "CodeDeploy" => match (get("ApplicationName"), get("DeploymentGroupName")) {
                (Some(application), Some(deployment_group)) => {
                    vec![ActionTarget::DeploymentGroup { application, deployment_group }]
                }
                _ => Vec::new(),
            },
            "CloudFormation" => match get("StackName") {
                Some(stack) => self.stack_services(&stack).await?,
                None => Vec::new(),
            },
            _ => Vec::new(),
        })
    }

    /// `GetPipeline` at a version: the stages in order, each action's category, provider,
    /// run order and (for deploy actions) what its configuration names.
    pub async fn structure(&mut self, pipeline: &str, version: Option<u64>) -> Result<Option<Observation>, AskError> {
        let Some(cp) = self.codepipeline.clone() else { return Ok(None) };
        self.paced().await;
        let out = cp
            .get_pipeline()
            .name(pipeline)
            .set_version(version.and_then(|v| i32::try_from(v).ok()))
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        let Some(p) = out.pipeline() else { return Ok(None) };
        let mut stages = Vec::new();
        for stage in p.stages() {
            let mut actions = Vec::new();
            for a in stage.actions() {
                let Some(t) = a.action_type_id() else { continue };
                let provider = t.provider().to_owned();
                let category = t.category().as_str().to_owned();
                let targets = if category == "Deploy" {
                    let config = a.configuration().cloned().unwrap_or_default();
                    self.targets_of(&provider, &config).await?
                } else {
                    Vec::new()
                };
                actions.push(ActionStructure {
                    name: a.name().to_owned(),
                    category,
                    provider,
                    run_order: a.run_order().and_then(|r| u32::try_from(r).ok()).unwrap_or(1),
                    targets,
                });
            }
            stages.push(StageStructure { name: stage.name().to_owned(), actions });
        }
        Ok(Some(Observation::PipelineStructure { pipeline: pipeline.to_owned(), version, stages }))
    }

    /// `GetPipelineExecution`: the execution's source revisions and trigger.
    pub async fn execution(&mut self, pipeline: &str, execution_id: &str) -> Result<Option<Observation>, AskError> {
        let Some(cp) = self.codepipeline.clone() else { return Ok(None) };
        self.paced().await;
        let out = cp
            .get_pipeline_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(execution_id)
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        let Some(e) = out.pipeline_execution() else { return Ok(None) };
        let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        let revisions = e
            .artifact_revisions()
            .iter()
            .map(|r| SourceRevision {
                artifact: text(r.name()),
                revision_id: text(r.revision_id()),
                summary: text(r.revision_summary()),
                url: text(r.revision_url()),
            })
            .filter(|r| r.revision_id.is_some() || r.summary.is_some())
            .collect();
        Ok(Some(Observation::PipelineExecution {
            execution_id: execution_id.to_owned(),
            revisions,
            trigger_type: text(e.trigger().and_then(|t| t.trigger_type()).map(|t| t.as_str())),
            trigger_detail: text(e.trigger().and_then(|t| t.trigger_detail())),
        }))
    }

    /// The action executions of one pipeline execution (the first page: 100, newest first).
    async fn action_executions(
        &mut self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<Vec<ActionExecutionDetail>>, AskError> {
        let Some(cp) = self.codepipeline.clone() else { return Ok(None) };
        self.paced().await;
        let out = cp
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(ActionExecutionFilter::builder().pipeline_execution_id(execution_id).build())
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        Ok(Some(out.action_execution_details.unwrap_or_default()))
    }

    /// The ECS services a stack holds (`AWS::ECS::Service`, by the ARN its physical id is),
    /// cached per stack.
    async fn stack_services(&mut self, stack: &str) -> Result<Vec<ActionTarget>, AskError> {
        if let Some(t) = self.stacks.get(stack) {
            return Ok(t.clone());
        }
        let Some(cfn) = self.cloudformation.clone() else { return Ok(Vec::new()) };
        let mut targets = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_STACK_PAGES {
            self.paced().await;
            let out = cfn
                .list_stack_resources()
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))?;
            for r in out.stack_resource_summaries() {
                if r.resource_type() == Some("AWS::ECS::Service")
                    && let Some(t) = r.physical_resource_id().and_then(ecs_service_target)
                {
                    targets.push(t);
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        self.stacks.insert(stack.to_owned(), targets.clone());
        Ok(targets)
    }
}

/// The action's configuration: resolved (variables filled in) where CodePipeline gives it.
fn configuration(detail: &ActionExecutionDetail) -> HashMap<String, String> {
    let Some(input) = detail.input() else { return HashMap::new() };
    input.resolved_configuration().or(input.configuration()).cloned().unwrap_or_default()
}

/// An ECS service ARN (`…:service/<cluster>/<name>`, or the old `…:service/<name>`) as a target.
fn ecs_service_target(arn: &str) -> Option<ActionTarget> {
    let rest = arn.split_once(":service/")?.1;
    match rest.split_once('/') {
        Some((cluster, service)) if !cluster.is_empty() && !service.is_empty() => {
            Some(ActionTarget::EcsService { cluster: Some(cluster.to_owned()), service: service.to_owned() })
        }
        None if !rest.is_empty() => Some(ActionTarget::EcsService { cluster: None, service: rest.to_owned() }),
        _ => None,
    }
}
