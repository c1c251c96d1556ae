//! ECS: `DescribeServices` (tags; rollout states at start-up), `DescribeTaskDefinition` (OCI
//! labels), `DescribeServiceDeployments` (ECS-native stage, weight, status), and the census
//! (`ListTasks`, `DescribeTasks`).

use std::collections::HashMap;

use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::{DeploymentRolloutState, ServiceDeploymentLifecycleStage as Stage, ServiceDeploymentStatus};
use cutover_correlator::{
    CensusRequest, CensusTask, EcsDeploymentChange, ImageLabels, InFlight, NativeStatus, Observation,
};
use cutover_events::Timestamp;

use super::{AskError, Reconciler, aws_time};

impl Reconciler {
    /// `DescribeServices` with `include: TAGS`: each service's tags (empty for one without tags
    /// or not found, so it is not asked again).
    pub async fn service_tags(&mut self, services: &[(String, String)]) -> Result<Vec<Observation>, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Ok(Vec::new()) };
        let asked = services.iter().map(|(c, s)| (c.as_str(), s.as_str()));
        let mut found = Vec::new();
        for (cluster, names, out) in self.describe_services(&ecs, asked, true).await? {
            for name in names {
                let described = out.services().iter().find(|s| s.service_name() == Some(name));
                let tags = described
                    .map(|s| {
                        s.tags()
                            .iter()
                            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                // The ARN names the region and account: the tags are of that service only.
                let service_arn = described.and_then(|s| s.service_arn()).map(str::to_owned);
                self.tagged.insert((cluster.to_owned(), name.to_owned()));
                found.push(Observation::ServiceTags {
                    cluster: cluster.to_owned(),
                    service: name.to_owned(),
                    tags,
                    service_arn,
                });
            }
        }
        Ok(found)
    }

    /// `DescribeServices` (with `include: TAGS` when `tags`), 10 services of one cluster per
    /// call, each service asked once: every call's cluster, the services it asked for, and the
    /// answer. Stops at the first error.
    pub(super) async fn describe_services<'a>(
        &mut self,
        ecs: &aws_sdk_ecs::Client,
        services: impl IntoIterator<Item = (&'a str, &'a str)>,
        tags: bool,
    ) -> Result<Vec<(&'a str, Vec<&'a str>, DescribeServicesOutput)>, AskError> {
        let mut by_cluster: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
        for (cluster, service) in services {
            let names = by_cluster.entry(cluster).or_default();
            if !names.contains(&service) {
                names.push(service);
            }
        }
        let mut answers = Vec::new();
        for (cluster, names) in by_cluster {
            for chunk in names.chunks(10) {
                self.paced().await;
                let mut call = ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.iter().map(|s| (*s).to_owned()).collect()));
                if tags {
                    call = call.include(aws_sdk_ecs::types::ServiceField::Tags);
                }
                let out = call.send().await.map_err(|e| AskError::from_sdk(&e))?;
                answers.push((cluster, chunk.to_vec(), out));
            }
        }
        Ok(answers)
    }

    /// `DescribeTaskDefinition`: the OCI labels (`org.opencontainers.image.revision`,
    /// `.source`, `.version`) of the first container that carries any as Docker labels.
    pub async fn task_definition_labels(&mut self, task_definition: &str) -> Result<Observation, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Err("no ECS client".into()) };
        self.paced().await;
        let out = ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        let label = |labels: &HashMap<String, String>, key: &str| {
            labels.get(&format!("org.opencontainers.image.{key}")).filter(|v| !v.is_empty()).cloned()
        };
        let labels = out
            .task_definition()
            .map(|td| td.container_definitions())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.docker_labels())
            .map(|l| ImageLabels {
                revision: label(l, "revision"),
                source: label(l, "source"),
                version: label(l, "version"),
                created: label(l, "created"),
            })
            .find(|l| *l != ImageLabels::default())
            .unwrap_or_default();
        Ok(Observation::TaskDefinitionLabels { task_definition: task_definition.to_owned(), labels })
    }

    /// `DescribeServiceDeployments` for ECS-native deployments in flight (20 per call).
    pub async fn observe_native(&mut self, arns: &[String]) -> Result<Vec<Observation>, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Ok(Vec::new()) };
        let mut found = Vec::new();
        for chunk in arns.chunks(20) {
            self.paced().await;
            let out = ecs
                .describe_service_deployments()
                .set_service_deployment_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))?;
            for sd in out.service_deployments() {
                let Some(arn) = sd.service_deployment_arn() else { continue };
                let reason = || sd.status_reason().unwrap_or("ECS service deployment did not finish").to_owned();
                let status = match sd.status() {
                    Some(ServiceDeploymentStatus::Successful) => NativeStatus::Successful,
                    Some(ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress) => {
                        NativeStatus::InProgress
                    }
                    Some(
                        ServiceDeploymentStatus::Stopped
                        | ServiceDeploymentStatus::StopRequested
                        | ServiceDeploymentStatus::RollbackRequested
                        | ServiceDeploymentStatus::RollbackInProgress
                        | ServiceDeploymentStatus::RollbackSuccessful
                        | ServiceDeploymentStatus::RollbackFailed,
                    ) => NativeStatus::Failed { reason: reason() },
                    _ => continue,
                };
                // A stage read while the deployment rolls back proves nothing about production.
                let past_production_shift = !matches!(status, NativeStatus::Failed { .. })
                    && matches!(
                        sd.lifecycle_stage(),
                        Some(Stage::PostProductionTrafficShift | Stage::BakeTime | Stage::CleanUp)
                    );
                let at = if status == NativeStatus::Successful { sd.finished_at() } else { None }
                    .or(sd.updated_at())
                    .or(sd.started_at());
                let Some(at) = aws_time(at) else { continue };
                found.push(Observation::ServiceDeployment {
                    deployment_arn: arn.to_owned(),
                    past_production_shift,
                    production_weight: sd
                        .target_service_revision()
                        .and_then(|r| r.requested_production_traffic_weight()),
                    status,
                    at,
                });
            }
        }
        Ok(found)
    }

    /// `DescribeServices` for ECS rolling deployments in flight: the ones whose `rolloutState`
    /// says they finished.
    pub async fn rollouts(&mut self, rolling: &[InFlight]) -> Result<Vec<Observation>, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Ok(Vec::new()) };
        let asked = rolling.iter().filter_map(|d| Some((d.cluster.as_deref()?, d.service.as_deref()?)));
        let mut found = Vec::new();
        for (_, _, out) in self.describe_services(&ecs, asked, false).await? {
            for dep in out.services().iter().flat_map(|s| s.deployments()) {
                let Some(id) = dep.id().filter(|id| rolling.iter().any(|d| d.id == *id)) else { continue };
                let change = match dep.rollout_state() {
                    Some(DeploymentRolloutState::Completed) => EcsDeploymentChange::Completed,
                    Some(DeploymentRolloutState::Failed) => {
                        EcsDeploymentChange::Failed { reason: dep.rollout_state_reason().map(str::to_owned) }
                    }
                    _ => continue,
                };
                let Some(at) = aws_time(dep.updated_at()) else { continue };
                found.push(Observation::EcsRollout { deployment_id: id.to_owned(), change, at });
            }
        }
        Ok(found)
    }

    /// The running tasks of a service and who started them.
    pub async fn census(&mut self, req: &CensusRequest) -> Result<Observation, AskError> {
        let Some(ecs) = self.ecs.clone() else { return Err("no ECS client".into()) };
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
                .map_err(|e| AskError::from_sdk(&e))?;
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
                .map_err(|e| AskError::from_sdk(&e))?;
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
            at: Timestamp(crate::clock::now_ms()),
            tasks,
        })
    }
}
