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
//! And the census at an ECS rolling deployment's start: `ListTasks` (the service's running
//! tasks) and `DescribeTasks` (who started each) become an [`Observation::ServiceTasks`], so
//! the old tasks are known even when they started before Cutover was watching and the
//! cut-over is proven when the last of them is told to stop (DESIGN.md, "Old-task census").
//! One census per service and deployment start; none in steady state.
//!
//! Still to come (issue #6): DescribeServiceDeployments for ECS-native weights, and CodeDeploy
//! lifecycle and status for lost events.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::TargetLabel;
use cutover_correlator::{CensusRequest, CensusTask, Observation};
use cutover_events::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// What the intake wants the reconciler to ask about, kept current after each batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// CodeDeploy deployments in flight, not cut over.
    pub codedeploy: Vec<String>,
    /// Services whose tasks should be counted.
    pub census: Vec<CensusRequest>,
}

/// The reconciler.
#[derive(Debug)]
pub struct Reconciler {
    client: Client,
    ecs: Option<aws_sdk_ecs::Client>,
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
            ecs: None,
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

    /// Counts ECS services' tasks with `ecs` (ListTasks, DescribeTasks).
    pub fn with_ecs(mut self, ecs: aws_sdk_ecs::Client) -> Self {
        self.ecs = Some(ecs);
        self
    }

    /// The running tasks of a service and who started them.
    pub async fn census(&mut self, req: &CensusRequest) -> Result<Observation, String> {
        let Some(ecs) = self.ecs.clone() else { return Err("no ECS client".into()) };
        let display = |e: &dyn std::fmt::Display| e.to_string();
        let mut arns: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        // Bounded: 100 pages of 100 tasks.
        for _ in 0..100 {
            self.paced().await;
            let out = ecs
                .list_tasks()
                .cluster(&req.cluster)
                .service_name(&req.service)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| display(&aws_sdk_ecs::error::DisplayErrorContext(&e)))?;
            arns.extend(out.task_arns().iter().cloned());
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            self.paced().await;
            let out = ecs
                .describe_tasks()
                .cluster(&req.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| display(&aws_sdk_ecs::error::DisplayErrorContext(&e)))?;
            for t in out.tasks() {
                let Some(arn) = t.task_arn() else { continue };
                tasks.push(CensusTask {
                    task_arn: arn.to_owned(),
                    started_by: t.started_by().map(str::to_owned),
                    task_definition: t.task_definition_arn().map(str::to_owned),
                    running: t.last_status() == Some("RUNNING"),
                });
            }
        }
        Ok(Observation::ServiceTasks {
            service_key: req.service_key.clone(),
            at: Timestamp(crate::executors::now_ms()),
            tasks,
        })
    }

    /// Forgets what it cached about deployments no longer in flight.
    pub fn retain(&mut self, in_flight: &[String]) {
        self.targets.retain(|d, _| in_flight.contains(d));
    }
}

/// Every `interval`, observes what the intake wants (`wanted`, kept current after each
/// batch) and sends what it learned to the intake, until `shutdown`. A census is asked once
/// per request.
pub async fn run(
    mut reconciler: Reconciler,
    mut wanted: watch::Receiver<Wanted>,
    tx: mpsc::Sender<Observation>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut counted: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
        let now = wanted.borrow_and_update().clone();
        reconciler.retain(&now.codedeploy);
        counted.retain(|k| now.census.iter().any(|r| r.service_key == *k));
        let mut found = Vec::new();
        if reconciler.ecs.is_some() {
            let due: Vec<&CensusRequest> = now.census.iter().filter(|r| !counted.contains(&r.service_key)).collect();
            for req in due {
                match reconciler.census(req).await {
                    Ok(o) => {
                        counted.push(req.service_key.clone());
                        found.push(o);
                    }
                    Err(error) => {
                        tracing::warn!(message = "Failed to count a service's tasks.", cluster = %req.cluster, service = %req.service, %error);
                    }
                }
            }
        }
        for id in &now.codedeploy {
            match reconciler.observe(id).await {
                Ok(observations) => found.extend(observations),
                Err(error) => {
                    tracing::warn!(message = "Failed to ask CodeDeploy about a deployment.", deployment_id = %id, %error);
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
        for o in found {
            if tx.send(o).await.is_err() {
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
    async fn a_census_lists_the_running_tasks_and_who_started_them() {
        use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
        use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
        use aws_sdk_ecs::types::Task;
        let arn = |n: &str| format!("arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/{n}");
        let list = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.cluster() == Some("prod-eu") && r.service_name() == Some("storefront"))
            .then_output(move || ListTasksOutput::builder().task_arns(arn("old1")).task_arns(arn("old2")).build());
        let task = move |n: &str, status: &str| {
            Task::builder()
                .task_arn(arn(n))
                .started_by("ecs-svc/4231880795355584839")
                .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:41")
                .last_status(status)
                .desired_status("RUNNING")
                .build()
        };
        let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(move || {
            DescribeTasksOutput::builder().tasks(task("old1", "RUNNING")).tasks(task("old2", "PENDING")).build()
        });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&list, &describe]);
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
        let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
        let req = CensusRequest {
            service_key: "eu-west-1:123456789012:prod-eu/storefront".into(),
            cluster: "prod-eu".into(),
            service: "storefront".into(),
        };
        let Observation::ServiceTasks { service_key, tasks, .. } = r.census(&req).await.unwrap() else {
            panic!("a census")
        };
        assert_eq!(service_key, req.service_key);
        assert_eq!(
            tasks.iter().map(|t| (t.task_arn.as_str(), t.running)).collect::<Vec<_>>(),
            vec![(arn("old1").as_str(), true), (arn("old2").as_str(), false)]
        );
        assert_eq!(tasks[0].started_by.as_deref(), Some("ecs-svc/4231880795355584839"));
        assert_eq!((list.num_calls(), describe.num_calls()), (1, 1));
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
