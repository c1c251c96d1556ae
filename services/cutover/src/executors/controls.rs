//! The controls lane: the AWS calls people asked for from Slack, each made once with Cutover's
//! role. A call whose outcome is unknown (a crash or a timeout after sending) is looked up
//! before it is made again: the service already on the task definition asked for
//! (`DescribeServices`), the CodeDeploy deployment already stopped (`GetDeployment`), the
//! service deployment already stopping or rolling back, or past the pause hook it continues
//! (`DescribeServiceDeployments`), the CodeDeploy deployment no longer waiting to reroute
//! (`GetDeployment`). A
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
            Call::CodepipelinePutApprovalResult { pipeline, stage, action, token, approved, summary } => {
                use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
                let status = if *approved { ApprovalStatus::Approved } else { ApprovalStatus::Rejected };
                let result = ApprovalResult::builder().status(status.clone()).summary(summary).build();
                let Ok(result) = result else {
                    return Outcome::Failed("the approval result could not be built".to_owned());
                };
                let sent = self
                    .codepipeline
                    .put_approval_result()
                    .pipeline_name(pipeline)
                    .stage_name(stage)
                    .action_name(action)
                    .token(token)
                    .result(result)
                    .send()
                    .await;
                match sent {
                    Ok(_) => Outcome::Done(status.as_str().to_owned()),
                    // An earlier attempt whose answer was lost already decided it (or someone
                    // did in the console): nothing more to do, and the decision's event says which.
                    Err(SdkError::ServiceError(e)) if e.err().code() == Some("ApprovalAlreadyCompletedException") => {
                        Outcome::Done("already completed".to_owned())
                    }
                    Err(e) => classify(&e),
                }
            }
            Call::EcsContinueServiceDeployment { service_deployment_arn, hook_id } => {
                let sent = self
                    .ecs
                    .continue_service_deployment()
                    .service_deployment_arn(service_deployment_arn)
                    .hook_id(hook_id)
                    .action(aws_sdk_ecs::types::DeploymentLifecycleHookAction::Continue)
                    .send()
                    .await;
                match sent {
                    Ok(out) => Outcome::Done(out.service_deployment_arn().unwrap_or(service_deployment_arn).to_owned()),
                    Err(e) => classify(&e),
                }
            }
            Call::CodedeployContinueDeployment { deployment_id } => {
                let sent = self
                    .codedeploy
                    .continue_deployment()
                    .deployment_id(deployment_id)
                    .deployment_wait_type(aws_sdk_codedeploy::types::DeploymentWaitType::ReadyWait)
                    .send()
                    .await;
                match sent {
                    Ok(_) => Outcome::Done("rerouting".to_owned()),
                    // No longer waiting: an earlier attempt whose answer was lost rerouted it
                    // (or its wait ended): nothing more to do, and its events say which.
                    Err(SdkError::ServiceError(e))
                        if e.err().code() == Some("DeploymentIsNotInReadyStateException") =>
                    {
                        Outcome::Done("no longer waiting to reroute".to_owned())
                    }
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

    /// A CodeDeploy deployment's status, as `GetDeployment` shows it.
    async fn deployment_status(&self, id: &str) -> Result<Option<DeploymentStatus>, Outcome> {
        let out = self.codedeploy.get_deployment().deployment_id(id).send().await.map_err(|e| classify(&e))?;
        Ok(out.deployment_info.and_then(|d| d.status))
    }

    /// One service deployment as `DescribeServiceDeployments` shows it.
    async fn service_deployment(&self, arn: &str) -> Result<Option<aws_sdk_ecs::types::ServiceDeployment>, Outcome> {
        let out = self
            .ecs
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.service_deployments.and_then(|d| d.into_iter().next()))
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
                let status = self.deployment_status(deployment_id).await?;
                Ok(matches!(status, Some(DeploymentStatus::Stopped)).then(|| "Stopped".to_owned()))
            }
            Call::EcsStopServiceDeployment { service_deployment_arn } => {
                let stopping =
                    self.service_deployment(service_deployment_arn).await?.and_then(|d| d.status).is_some_and(|s| {
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
            Call::EcsContinueServiceDeployment { service_deployment_arn, hook_id } => {
                // The hook no longer awaits: continued (or timed out, or the deployment moved on).
                let moved_on = self.service_deployment(service_deployment_arn).await?.is_some_and(|d| {
                    d.lifecycle_hook_details().iter().any(|h| {
                        h.hook_id() == Some(hook_id.as_str())
                            && h.status().is_some_and(|s| {
                                *s != aws_sdk_ecs::types::DeploymentLifecycleHookStatus::AwaitingAction
                            })
                    })
                });
                Ok(moved_on.then(|| hook_id.clone()))
            }
            Call::CodedeployContinueDeployment { deployment_id } => {
                // No longer Ready: rerouted (or stopped, or its wait ran out); either way there
                // is nothing to continue.
                let status = self.deployment_status(deployment_id).await?;
                Ok(status.filter(|s| *s != DeploymentStatus::Ready).map(|s| s.as_str().to_owned()))
            }
            // The token makes the repeat the look; an approval decided answers its repeat as
            // already completed.
            Call::CodepipelineStartPipelineExecution { .. } | Call::CodepipelinePutApprovalResult { .. } => Ok(None),
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

#[cfg(test)]
mod tests {
    //! The controls lane's calls and look-ups against recorded AWS answers (`aws-smithy-mocks`,
    //! fixtures/api): the emulator cannot stop a CodeDeploy or ECS-native deployment.
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::reconciler::tests::{aws_error, recorded};

    const ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod-eu/gateway/EZe5RNVLH6PPzHXINuP28";

    fn no_ecs() -> aws_sdk_ecs::Client {
        mock_client!(aws_sdk_ecs, [])
    }
    fn no_codedeploy() -> aws_sdk_codedeploy::Client {
        mock_client!(aws_sdk_codedeploy, [])
    }
    fn no_codepipeline() -> aws_sdk_codepipeline::Client {
        mock_client!(aws_sdk_codepipeline, [])
    }

    #[tokio::test]
    async fn a_codedeploy_rollback_stops_with_auto_rollback_and_a_stopped_deployment_is_found_not_stopped_again() {
        use aws_sdk_codedeploy::Client;
        let stop = mock!(Client::stop_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-7QHX0M2PB") && r.auto_rollback_enabled() == Some(true))
            .then_http_response(|| recorded("codedeploy.stop-deployment.json"));
        let look = mock!(Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-7QHX0M2PB"))
            .then_http_response(|| recorded("codedeploy.get-deployment.stopped.json"));
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&stop, &look]);
        let exec = ControlsExecutor::new(no_ecs(), codedeploy, no_codepipeline());
        let call = Call::CodedeployStopDeployment { deployment_id: "d-7QHX0M2PB".into() };
        assert_eq!(exec.call(&call).await, Outcome::Done("Pending".into()));
        assert_eq!(exec.done_before(&call).await, Ok(Some("Stopped".into())));
        assert_eq!((stop.num_calls(), look.num_calls()), (1, 1));

        // Still in progress: not done before, so the stop is made.
        let waiting =
            mock!(Client::get_deployment).then_http_response(|| recorded("codedeploy.get-deployment.waiting.json"));
        let codedeploy = mock_client!(aws_sdk_codedeploy, [&waiting]);
        let exec = ControlsExecutor::new(no_ecs(), codedeploy, no_codepipeline());
        assert_eq!(exec.done_before(&call).await, Ok(None));
    }

    #[tokio::test]
    async fn an_ecs_native_rollback_stops_with_rollback_and_one_rolling_back_is_found() {
        use aws_sdk_ecs::Client;
        let stop = mock!(Client::stop_service_deployment)
            .match_requests(|r| {
                r.service_deployment_arn() == Some(ARN)
                    && r.stop_type() == Some(&StopServiceDeploymentStopType::Rollback)
            })
            .then_http_response(|| recorded("ecs.stop-service-deployment.json"));
        let rolled_back = mock!(Client::describe_service_deployments)
            .then_http_response(|| recorded("ecs.describe-service-deployments.rolled-back.json"));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&stop, &rolled_back]);
        let exec = ControlsExecutor::new(ecs, no_codedeploy(), no_codepipeline());
        let call = Call::EcsStopServiceDeployment { service_deployment_arn: ARN.into() };
        assert_eq!(exec.call(&call).await, Outcome::Done(ARN.into()));
        assert_eq!(exec.done_before(&call).await, Ok(Some(ARN.into())));

        // Mid-canary, nobody stopped it: not found, so the stop is made.
        let canary = mock!(Client::describe_service_deployments)
            .then_http_response(|| recorded("ecs.describe-service-deployments.canary.json"));
        let exec = ControlsExecutor::new(mock_client!(aws_sdk_ecs, [&canary]), no_codedeploy(), no_codepipeline());
        assert_eq!(exec.done_before(&call).await, Ok(None));
    }

    #[tokio::test]
    async fn a_rolling_rollback_is_found_when_the_service_is_on_the_task_definition_asked_for() {
        use aws_sdk_ecs::Client;
        let describe = mock!(Client::describe_services)
            .match_requests(|r| r.cluster() == Some("prod-eu") && r.services() == ["storefront"])
            .then_http_response(|| recorded("ecs.describe-services.rollout.json"));
        let exec = ControlsExecutor::new(
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]),
            no_codedeploy(),
            no_codepipeline(),
        );
        let to = |td: &str| Call::EcsUpdateService {
            cluster: "prod-eu".into(),
            service: "storefront".into(),
            task_definition: format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{td}"),
        };
        assert!(matches!(exec.done_before(&to("storefront:42")).await, Ok(Some(td)) if td.ends_with("storefront:42")));
        assert_eq!(exec.done_before(&to("storefront:41")).await, Ok(None));
    }

    #[tokio::test]
    async fn a_deploy_starts_the_pipeline_with_the_requests_token_and_needs_no_look() {
        use aws_sdk_codepipeline::Client;
        let start = mock!(Client::start_pipeline_execution)
            .match_requests(|r| {
                r.name() == Some("storefront-release") && r.client_request_token() == Some("cutover-t-1")
            })
            .then_http_response(|| recorded("codepipeline.start-pipeline-execution.json"));
        let codepipeline = mock_client!(aws_sdk_codepipeline, [&start]);
        let exec = ControlsExecutor::new(no_ecs(), no_codedeploy(), codepipeline);
        let call = Call::CodepipelineStartPipelineExecution {
            pipeline: "storefront-release".into(),
            client_request_token: "cutover-t-1".into(),
        };
        assert_eq!(exec.done_before(&call).await, Ok(None), "the token is the look");
        assert_eq!(exec.call(&call).await, Outcome::Done("a1b2c3d4-5678-90ab-cdef-111122223333".into()));
        assert_eq!(start.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_approval_is_put_with_its_token_and_a_repeat_answered_already_completed_is_done() {
        use aws_sdk_codepipeline::Client;
        use aws_sdk_codepipeline::types::ApprovalStatus;
        let call = Call::CodepipelinePutApprovalResult {
            pipeline: "checkout-release".into(),
            stage: "Approve".into(),
            action: "Production".into(),
            token: "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d".into(),
            approved: false,
            summary: "Rejected from Slack by U0ALICE: not on a Friday".into(),
        };
        let put = mock!(Client::put_approval_result)
            .match_requests(|r| {
                r.pipeline_name() == Some("checkout-release")
                    && r.stage_name() == Some("Approve")
                    && r.action_name() == Some("Production")
                    && r.token() == Some("1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d")
                    && r.result().is_some_and(|x| {
                        x.status() == &ApprovalStatus::Rejected && x.summary().contains("not on a Friday")
                    })
            })
            .then_http_response(|| recorded("codepipeline.put-approval-result.json"));
        let exec = ControlsExecutor::new(no_ecs(), no_codedeploy(), mock_client!(aws_sdk_codepipeline, [&put]));
        assert_eq!(exec.call(&call).await, Outcome::Done("Rejected".into()));
        let again = mock!(Client::put_approval_result)
            .then_http_response(|| aws_error(400, "ApprovalAlreadyCompletedException"));
        let exec = ControlsExecutor::new(no_ecs(), no_codedeploy(), mock_client!(aws_sdk_codepipeline, [&again]));
        assert_eq!(exec.call(&call).await, Outcome::Done("already completed".into()));
        let bad =
            mock!(Client::put_approval_result).then_http_response(|| aws_error(400, "InvalidApprovalTokenException"));
        let exec = ControlsExecutor::new(no_ecs(), no_codedeploy(), mock_client!(aws_sdk_codepipeline, [&bad]));
        assert!(matches!(exec.call(&call).await, Outcome::Failed(_)));
    }

    #[tokio::test]
    async fn a_pause_is_continued_by_its_hook_and_a_hook_past_waiting_is_found() {
        use aws_sdk_ecs::Client;
        use aws_sdk_ecs::types::DeploymentLifecycleHookAction;
        const HOOK: &str = "ecs-pause-e7tK9G_WRJqNF_EOMjztDXfKenlJuEUVjsNStf4WLKw";
        let call = Call::EcsContinueServiceDeployment { service_deployment_arn: ARN.into(), hook_id: HOOK.into() };
        let go = mock!(Client::continue_service_deployment)
            .match_requests(|r| {
                r.service_deployment_arn() == Some(ARN)
                    && r.hook_id() == Some(HOOK)
                    && r.action() == Some(&DeploymentLifecycleHookAction::Continue)
            })
            .then_http_response(|| recorded("ecs.continue-service-deployment.json"));
        let waiting = mock!(Client::describe_service_deployments)
            .then_http_response(|| recorded("ecs.describe-service-deployments.pause-hook-awaiting.json"));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&waiting, &go]);
        let exec = ControlsExecutor::new(ecs, no_codedeploy(), no_codepipeline());
        assert_eq!(exec.done_before(&call).await, Ok(None), "it still waits: continue it");
        assert_eq!(exec.call(&call).await, Outcome::Done(ARN.into()));
        let continued = mock!(Client::describe_service_deployments)
            .then_http_response(|| recorded("ecs.describe-service-deployments.pause-hook-continued.json"));
        let exec = ControlsExecutor::new(mock_client!(aws_sdk_ecs, [&continued]), no_codedeploy(), no_codepipeline());
        assert_eq!(exec.done_before(&call).await, Ok(Some(HOOK.into())));
    }

    #[tokio::test]
    async fn a_reroute_continues_the_ready_wait_once_and_a_deployment_no_longer_ready_is_found() {
        use aws_sdk_codedeploy::Client;
        use aws_sdk_codedeploy::types::DeploymentWaitType;
        let call = Call::CodedeployContinueDeployment { deployment_id: "d-7QHX0M2PB".into() };
        let ready = mock!(Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-7QHX0M2PB"))
            .then_http_response(|| recorded("codedeploy.get-deployment.ready.json"));
        let go = mock!(Client::continue_deployment)
            .match_requests(|r| {
                r.deployment_id() == Some("d-7QHX0M2PB")
                    && r.deployment_wait_type() == Some(&DeploymentWaitType::ReadyWait)
            })
            .then_http_response(|| recorded("codedeploy.continue-deployment.json"));
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::Sequential, [&ready, &go]);
        let exec = ControlsExecutor::new(no_ecs(), codedeploy, no_codepipeline());
        assert_eq!(exec.done_before(&call).await, Ok(None), "still Ready: reroute it");
        assert_eq!(exec.call(&call).await, Outcome::Done("rerouting".into()));
        assert_eq!((ready.num_calls(), go.num_calls()), (1, 1));

        // After a lost answer: shifting (InProgress), so done; a repeat answered not-ready is done too.
        let moved =
            mock!(Client::get_deployment).then_http_response(|| recorded("codedeploy.get-deployment.waiting.json"));
        let late = mock!(Client::continue_deployment)
            .then_http_response(|| aws_error(400, "DeploymentIsNotInReadyStateException"));
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::Sequential, [&moved, &late]);
        let exec = ControlsExecutor::new(no_ecs(), codedeploy, no_codepipeline());
        assert_eq!(exec.done_before(&call).await, Ok(Some("InProgress".into())));
        assert_eq!(exec.call(&call).await, Outcome::Done("no longer waiting to reroute".into()));
    }

    #[tokio::test]
    async fn what_aws_answers_decides_retry_fault_failure_or_look() {
        use aws_sdk_codedeploy::Client;
        let call = Call::CodedeployStopDeployment { deployment_id: "d-7QHX0M2PB".into() };
        for (status, code, want) in [
            (400, "AccessDeniedException", "setup"),
            (400, "ThrottlingException", "retry"),
            (400, "DeploymentAlreadyCompletedException", "failed"),
            (500, "ServerException", "unknown"),
        ] {
            let answer = mock!(Client::stop_deployment).then_http_response(move || aws_error(status, code));
            let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&answer]);
            let exec = ControlsExecutor::new(no_ecs(), codedeploy, no_codepipeline());
            let got = exec.call(&call).await;
            let kind = match &got {
                Outcome::SetupFault(_) => "setup",
                Outcome::Retry { .. } => "retry",
                Outcome::Failed(_) => "failed",
                Outcome::Unknown { .. } => "unknown",
                _ => "other",
            };
            assert_eq!(kind, want, "{code}: {got:?}");
        }
    }
}
