//! CodeDeploy: `GetDeploymentGroup` (identity), `ListDeploymentTargets` and
//! `GetDeploymentTarget` (traffic weight, AllowTraffic, the rollback window) and
//! `GetDeployment` (status, times, what a rollback undoes).

use aws_sdk_codedeploy::types::{DeploymentStatus, LifecycleEventStatus, TargetLabel};
use cutover_correlator::{CodeDeployChange, CodeDeployFact, InFlight, Observation};

use super::{AskError, Reconciler, aws_time, cluster_service};

impl Reconciler {
    /// What the CodeDeploy API says now about a deployment in flight: its identity (while its
    /// cluster is unknown, from `GetDeploymentGroup`, cached per group), its
    /// green task set's traffic weight and AllowTraffic (until it has cut over), its status.
    /// In lifecycle order, so that a status read in the same round never hides the earlier
    /// instant of the cut-over.
    pub async fn observe_codedeploy(&mut self, d: &InFlight) -> Result<Vec<Observation>, AskError> {
        let mut target = None;
        if d.cluster.is_none()
            && let (Some(app), Some(group)) = (&d.application, &d.deployment_group)
        {
            let key = (app.clone(), group.clone());
            if !self.groups.contains_key(&key) {
                // Identity is a nicety (the target id names the service too): a failure is
                // logged and not asked again, and never holds back the weights and status.
                let identity = self.deployment_group(app, group).await.unwrap_or_else(|error| {
                    tracing::warn!(message = "Failed to read a CodeDeploy deployment group.", application = %app, deployment_group = %group, %error);
                    None
                });
                self.groups.insert(key.clone(), identity);
            }
            target = self.groups.get(&key).cloned().flatten();
        }
        // The status is read first (it also gives the termination wait) and sent last.
        let (status, wait) = self.get_deployment(&d.id).await?;
        let finished = matches!(
            status,
            Some(Observation::CodeDeploy(CodeDeployFact {
                change: CodeDeployChange::Succeeded | CodeDeployChange::Failed { .. } | CodeDeployChange::Stopped,
                ..
            }))
        );
        let mut found = Vec::new();
        if !d.cut_over || (!d.rollback_window && wait.is_some() && !finished) {
            found.extend(self.observe(&d.id).await?);
        }
        // The rollback window: AfterAllowTraffic's end plus the termination wait.
        if let (Some(minutes), false, false) = (wait, d.rollback_window, finished)
            && let Some(start) = self.after_allow_traffic.get(&d.id)
        {
            found.push(Observation::RollbackWindow {
                deployment_id: d.id.clone(),
                until: start.plus_millis(i64::from(minutes) * 60_000),
            });
        }
        if let Some(mut status) = status {
            if let Observation::CodeDeploy(CodeDeployFact { target: t, .. }) = &mut status {
                *t = target;
            }
            found.push(status);
        }
        Ok(found)
    }

    pub(super) async fn deployment_group(
        &mut self,
        app: &str,
        group: &str,
    ) -> Result<Option<(String, String)>, AskError> {
        self.paced().await;
        let out = self
            .client
            .get_deployment_group()
            .application_name(app)
            .deployment_group_name(group)
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        Ok(out
            .deployment_group_info()
            .and_then(|g| g.ecs_services().first())
            .and_then(|s| Some((s.cluster_name()?.to_owned(), s.service_name()?.to_owned()))))
    }

    /// `GetDeployment`: the status and its time, as the event it stands in for would say, and
    /// the minutes the old task set is kept after the traffic moved (none when it is kept
    /// alive or not configured).
    pub(super) async fn get_deployment(
        &mut self,
        deployment_id: &str,
    ) -> Result<(Option<Observation>, Option<i32>), AskError> {
        self.paced().await;
        let out = self
            .client
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| AskError::from_sdk(&e))?;
        let Some(info) = out.deployment_info() else { return Ok((None, None)) };
        let wait = info
            .blue_green_deployment_configuration()
            .and_then(|c| c.terminate_blue_instances_on_deployment_success())
            .filter(|t| t.action() == Some(&aws_sdk_codedeploy::types::InstanceAction::Terminate))
            .map(|t| t.termination_wait_time_in_minutes());
        let (change, at) = match info.status() {
            Some(DeploymentStatus::Succeeded) => (CodeDeployChange::Succeeded, aws_time(info.complete_time())),
            Some(DeploymentStatus::Failed) => (
                CodeDeployChange::Failed {
                    reason: info.error_information().and_then(|e| e.message()).map(str::to_owned),
                },
                aws_time(info.complete_time()),
            ),
            Some(DeploymentStatus::Stopped) => (CodeDeployChange::Stopped, aws_time(info.complete_time())),
            Some(
                DeploymentStatus::Created
                | DeploymentStatus::Queued
                | DeploymentStatus::InProgress
                | DeploymentStatus::Ready
                | DeploymentStatus::Baking,
            ) => (CodeDeployChange::Started, aws_time(info.create_time())),
            _ => return Ok((None, wait)),
        };
        let Some(at) = at else { return Ok((None, wait)) };
        Ok((
            Some(Observation::CodeDeploy(CodeDeployFact {
                deployment_id: deployment_id.to_owned(),
                application: info.application_name().map(str::to_owned),
                deployment_group: info.deployment_group_name().map(str::to_owned),
                target: None,
                rollback_of: info
                    .rollback_info()
                    .and_then(|r| r.rollback_triggering_deployment_id())
                    .map(str::to_owned),
                change,
                at,
            })),
            wait,
        ))
    }

    /// `ListDeploymentTargets` (cached) and `GetDeploymentTarget`: the green task set's
    /// traffic weight, then the AllowTraffic lifecycle event once it succeeded.
    pub async fn observe(&mut self, deployment_id: &str) -> Result<Vec<Observation>, AskError> {
        if !self.targets.contains_key(deployment_id) {
            self.paced().await;
            let out = self
                .client
                .list_deployment_targets()
                .deployment_id(deployment_id)
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))?;
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
                .map_err(|e| AskError::from_sdk(&e))?;
            let Some(ecs) = out.deployment_target().and_then(|t| t.ecs_target()) else { continue };
            let green = ecs.task_sets_info().iter().find(|s| s.task_set_label() == Some(&TargetLabel::Green));
            if let (Some(green), Some(at)) = (green, aws_time(ecs.last_updated_at())) {
                observations.push(Observation::TrafficWeight {
                    deployment_id: deployment_id.to_owned(),
                    percent: green.traffic_weight(),
                    at,
                });
            }
            let allowed = ecs.lifecycle_events().iter().find(|e| {
                e.lifecycle_event_name() == Some("AllowTraffic") && e.status() == Some(&LifecycleEventStatus::Succeeded)
            });
            let after = ecs.lifecycle_events().iter().find(|e| {
                e.lifecycle_event_name() == Some("AfterAllowTraffic")
                    && e.status() == Some(&LifecycleEventStatus::Succeeded)
            });
            if let Some(end) = after.and_then(|e| aws_time(e.end_time())) {
                self.after_allow_traffic.insert(deployment_id.to_owned(), end);
            }
            if let Some(at) = allowed.and_then(|e| aws_time(e.end_time())) {
                observations.push(Observation::CodeDeploy(CodeDeployFact {
                    deployment_id: deployment_id.to_owned(),
                    application: None,
                    deployment_group: None,
                    target: ecs.target_id().and_then(cluster_service),
                    rollback_of: None,
                    change: CodeDeployChange::TargetCutOver,
                    at,
                }));
            }
        }
        Ok(observations)
    }
}
