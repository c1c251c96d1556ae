//! The controls lane: the AWS calls people asked for from Slack, each made once with Cutover's
//! role. A call whose outcome is unknown (a crash or a timeout after sending) is looked up
//! before it is made again: the service already on the task definition asked for
//! (`DescribeServices`), the CodeDeploy deployment already stopped (`GetDeployment`), the
//! service deployment already stopping or rolling back (`DescribeServiceDeployments`). A
//! pipeline started from Slack needs no look: `StartPipelineExecution` carries a
//! `clientRequestToken` made from the Slack request, and CodePipeline answers a repeat with
//! the execution that token already started.
//!
//! What AWS refuses for good (the service gone, the deployment already completed, a conflict)
//! fails the action, logged with who asked; access denied is a setup fault (`/readyz` names it
//! and the call waits for the permission); throttling and server errors are retried.

use aws_sdk_codedeploy::types::DeploymentStatus;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{ServiceDeploymentStatus, StopServiceDeploymentStopType};
use cutover_correlator::Action;
use cutover_correlator::action::{Call, Control};

use super::Outcome;
use super::lane::Executor;
use crate::store::{Lane, OutboxItem, Status, Store};

/// The controls executor.
#[derive(Debug, Clone)]
pub struct ControlsExecutor {
    ecs: aws_sdk_ecs::Client,
    codedeploy: aws_sdk_codedeploy::Client,
    codepipeline: aws_sdk_codepipeline::Client,
}

impl ControlsExecutor {
    pub fn new(
        ecs: aws_sdk_ecs::Client,
        codedeploy: aws_sdk_codedeploy::Client,
        codepipeline: aws_sdk_codepipeline::Client,
    ) -> Self {
        Self { ecs, codedeploy, codepipeline }
    }

    async fn control(&self, item: &OutboxItem, control: &Control, store: &mut dyn Store) -> Outcome {
        if item.status == Status::Attempting {
            match self.done_before(&control.call).await {
                Ok(Some(found)) => {
                    tracing::info!(message = "Found the effect of an earlier attempt.", deployment_id = %control.deployment_id, user_id = %control.user, %found);
                    return Outcome::Done(found);
                }
                Ok(None) => {}
                Err(outcome) => return outcome,
            }
        }
        if let Err(outcome) = super::claim(store, item.id) {
            return outcome;
        }
        let outcome = self.call(&control.call).await;
        match &outcome {
            Outcome::Done(result) => tracing::info!(
                message = "Called AWS for a Slack user.",
                operation = control.call.operation(),
                deployment_id = %control.deployment_id,
                user_id = %control.user,
                request_id = %control.request_id,
                %result,
            ),
            Outcome::Failed(why) => tracing::warn!(
                message = "AWS refused a call a Slack user asked for.",
                operation = control.call.operation(),
                deployment_id = %control.deployment_id,
                user_id = %control.user,
                request_id = %control.request_id,
                error = %why,
            ),
            _ => {}
        }
        outcome
    }

    async fn call(&self, call: &Call) -> Outcome {
        match call {
            Call::EcsUpdateService { cluster, service, task_definition } => {
                let sent = self
                    .ecs
                    .update_service()
                    .cluster(cluster)
                    .service(service)
                    .task_definition(task_definition)
                    .send()
                    .await;
                match sent {
                    Ok(out) => {
                        let primary = out
                            .service()
                            .map(|s| s.deployments())
                            .unwrap_or_default()
                            .iter()
                            .find(|d| d.status() == Some("PRIMARY"))
                            .and_then(|d| d.id());
                        Outcome::Done(primary.unwrap_or(task_definition).to_owned())
                    }
                    Err(e) => classify(&e),
                }
            }
            Call::CodedeployStopDeployment { deployment_id } => {
                let sent = self
                    .codedeploy
                    .stop_deployment()
                    .deployment_id(deployment_id)
                    .auto_rollback_enabled(true)
                    .send()
                    .await;
                match sent {
                    Ok(out) => Outcome::Done(out.status().map_or("stopping", |s| s.as_str()).to_owned()),
                    Err(e) => classify(&e),
                }
            }
            Call::EcsStopServiceDeployment { service_deployment_arn } => {
                let sent = self
                    .ecs
                    .stop_service_deployment()
                    .service_deployment_arn(service_deployment_arn)
                    .stop_type(StopServiceDeploymentStopType::Rollback)
                    .send()
                    .await;
                match sent {
                    Ok(out) => Outcome::Done(out.service_deployment_arn().unwrap_or(service_deployment_arn).to_owned()),
                    Err(e) => classify(&e),
                }
            }
            Call::CodepipelineStartPipelineExecution { pipeline, client_request_token } => {
                let sent = self
                    .codepipeline
                    .start_pipeline_execution()
                    .name(pipeline)
                    .client_request_token(client_request_token)
                    .send()
                    .await;
                match sent {
                    Ok(out) => Outcome::Done(out.pipeline_execution_id().unwrap_or(pipeline).to_owned()),
                    Err(e) => classify(&e),
                }
            }
        }
    }

    /// The effect of an earlier attempt, if AWS shows it.
    async fn done_before(&self, call: &Call) -> Result<Option<String>, Outcome> {
        match call {
            Call::EcsUpdateService { cluster, service, task_definition } => {
                let out = self
                    .ecs
                    .describe_services()
                    .cluster(cluster)
                    .services(service)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                let now = out.services().first().and_then(|s| s.task_definition());
                Ok((now == Some(task_definition.as_str())).then(|| task_definition.clone()))
            }
            Call::CodedeployStopDeployment { deployment_id } => {
                let out = self
                    .codedeploy
                    .get_deployment()
                    .deployment_id(deployment_id)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                let status = out.deployment_info().and_then(|d| d.status());
                Ok(matches!(status, Some(DeploymentStatus::Stopped)).then(|| "Stopped".to_owned()))
            }
            Call::EcsStopServiceDeployment { service_deployment_arn } => {
                let out = self
                    .ecs
                    .describe_service_deployments()
                    .service_deployment_arns(service_deployment_arn)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                let stopping = out.service_deployments().first().and_then(|d| d.status()).is_some_and(|s| {
                    matches!(
                        s,
                        ServiceDeploymentStatus::StopRequested
                            | ServiceDeploymentStatus::Stopped
                            | ServiceDeploymentStatus::RollbackRequested
                            | ServiceDeploymentStatus::RollbackInProgress
                            | ServiceDeploymentStatus::RollbackSuccessful
                            | ServiceDeploymentStatus::RollbackFailed
                    )
                });
                Ok(stopping.then(|| service_deployment_arn.clone()))
            }
            // The token makes the repeat the look.
            Call::CodepipelineStartPipelineExecution { .. } => Ok(None),
        }
    }
}

/// An ECS or CodeDeploy error by its code.
fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(error: &SdkError<E, R>) -> Outcome {
    match error {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("Unknown").to_owned();
            match code.as_str() {
                "ThrottlingException" | "Throttling" | "ConcurrentPipelineExecutionsLimitExceededException" => {
                    Outcome::Retry { after_ms: None, error: code }
                }
                // It may have been done: looked up before the next attempt.
                "ServerException" | "ServiceUnavailable" | "ServiceUnavailableException" => {
                    Outcome::Unknown { error: code }
                }
                "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
                    Outcome::SetupFault(format!("AWS refused the call: {code}"))
                }
                c if c.ends_with("Exception") || c.starts_with("Invalid") => {
                    Outcome::Failed(format!("AWS refused the call: {code}"))
                }
                _ => Outcome::Unknown { error: code },
            }
        }
        SdkError::ConstructionFailure(_) => Outcome::Failed("the request could not be built".to_owned()),
        // Not sent: safe to send again.
        SdkError::DispatchFailure(d) if !d.is_io() => {
            Outcome::Retry { after_ms: None, error: "dispatch failed".into() }
        }
        _ => Outcome::Unknown { error: "no answer (connection, timeout or unreadable response)".into() },
    }
}

impl Executor for ControlsExecutor {
    const LANE: Lane = Lane::Controls;

    async fn execute(&mut self, items: &[OutboxItem], store: &mut dyn Store) -> Vec<(i64, Outcome)> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let outcome = match &item.action {
                Action::Control(control) => self.control(item, control, store).await,
                other => Outcome::Failed(format!("not a control: {}", other.deployment_id())),
            };
            out.push((item.id, outcome));
        }
        out
    }
}
