//! The reconciler: asks the AWS APIs what the events leave out. Its answers are inputs to the
//! correlator like any event ([`Observation`]), journaled like messages, and decisions made
//! from them still carry AWS's time.
//!
//! This part covers CodeDeploy traffic shifting, which no event reports: for each CodeDeploy
//! deployment in flight that has not cut over, `ListDeploymentTargets` (once per deployment,
//! cached) and `GetDeploymentTarget` give the ECS target's `taskSetsInfo[]`; the `Green` task
//! set's `trafficWeight` at the target's `lastUpdatedAt` becomes a
//! [`Observation::TrafficWeight`], so canary and linear configs get `Deployment Traffic
//! Shifted` steps. Calls are paced (`[reconciler] calls_per_second`); ECS deployments cost no
//! calls at all (their events say everything the correlator needs), nor does a quiet fleet.
//!
//! Still to come (issue #6): the ECS side (DescribeServices census, DescribeServiceDeployments)
//! and CodeDeploy lifecycle and status for lost events.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::TargetLabel;
use cutover_correlator::Observation;
use cutover_events::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The CodeDeploy side of the reconciler.
#[derive(Debug)]
pub struct Reconciler {
    client: Client,
    /// Target ids per deployment: they do not change once the deployment has them.
    targets: HashMap<String, Vec<String>>,
    /// The pause between two calls.
    pace: Duration,
    /// API calls made, for `/metrics` and the tests.
    pub calls: u64,
}

impl Reconciler {
    pub fn new(client: Client, calls_per_second: f64) -> Self {
        Self {
            client,
            targets: HashMap::new(),
            pace: Duration::from_secs_f64(1.0 / calls_per_second.clamp(0.1, 100.0)),
            calls: 0,
        }
    }

    async fn paced(&mut self) {
        self.calls += 1;
        tokio::time::sleep(self.pace).await;
    }

    /// What the API says now about `deployment_id`: its green task set's traffic weight.
    pub async fn observe(&mut self, deployment_id: &str) -> Result<Vec<Observation>, String> {
        let display = |e: &dyn std::fmt::Display| e.to_string();
        if !self.targets.contains_key(deployment_id) {
            self.paced().await;
            let out = self
                .client
                .list_deployment_targets()
                .deployment_id(deployment_id)
                .send()
                .await
                .map_err(|e| display(&aws_sdk_codedeploy::error::DisplayErrorContext(&e)))?;
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
                .map_err(|e| display(&aws_sdk_codedeploy::error::DisplayErrorContext(&e)))?;
            let Some(ecs) = out.deployment_target().and_then(|t| t.ecs_target()) else { continue };
            let Some(at) = ecs.last_updated_at().and_then(|t| t.to_millis().ok()) else { continue };
            let green = ecs.task_sets_info().iter().find(|s| s.task_set_label() == Some(&TargetLabel::Green));
            if let Some(green) = green {
                observations.push(Observation::TrafficWeight {
                    deployment_id: deployment_id.to_owned(),
                    percent: green.traffic_weight(),
                    at: Timestamp(at),
                });
            }
        }
        Ok(observations)
    }

    /// Forgets what it cached about deployments no longer in flight.
    pub fn retain(&mut self, in_flight: &[String]) {
        self.targets.retain(|d, _| in_flight.contains(d));
    }
}

/// Every `interval`, observes the deployments the correlator has in flight (`in_flight`, kept
/// current by the intake) and sends what it learned to the intake, until `shutdown`.
pub async fn run(
    mut reconciler: Reconciler,
    mut in_flight: watch::Receiver<Vec<String>>,
    tx: mpsc::Sender<Observation>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
        let deployments = in_flight.borrow_and_update().clone();
        reconciler.retain(&deployments);
        for id in deployments {
            match reconciler.observe(&id).await {
                Ok(observations) => {
                    for o in observations {
                        if tx.send(o).await.is_err() {
                            return;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(message = "Failed to ask CodeDeploy about a deployment.", deployment_id = %id, %error);
                }
            }
            if shutdown.is_cancelled() {
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
    async fn a_deployment_without_targets_yet_is_asked_again_later() {
        let empty =
            mock!(Client::list_deployment_targets).then_output(|| ListDeploymentTargetsOutput::builder().build());
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&empty]);
        let mut r = Reconciler::new(client, 100.0);
        assert!(r.observe("d-NEW").await.unwrap().is_empty());
        assert!(r.observe("d-NEW").await.unwrap().is_empty());
        assert_eq!(empty.num_calls(), 2, "not cached while empty");
    }
}
