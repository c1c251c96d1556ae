//! What each kind of event proves about a deployment: ECS deployment state changes (rolling),
//! CodeDeploy lifecycle events and answers, ECS-native hooks and service deployments, traffic
//! weights. Each records the AWS time of its first proof in the deployment's evidence and lets
//! [`Correlator::settle`] decide.

use cutover_events::Timestamp;
use cutover_events::emitted::Strategy;

use super::{Correlator, NativeStatus, Observation};
use crate::action::Action;
use crate::facts::{CodeDeployChange, CodeDeployFact, EcsDeploymentChange, Fact, ServiceRef};

impl Correlator {
    pub(super) fn on_ecs_deployment(
        &mut self,
        observed: Timestamp,
        service: &ServiceRef,
        deployment_id: &str,
        change: EcsDeploymentChange,
        at: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let id = self.ensure_ecs(service, deployment_id, at);
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        match change {
            EcsDeploymentChange::InProgress { rollback, rollback_target } => {
                d.evidence.started.get_or_insert(at);
                if rollback {
                    self.link_ecs_rollback(&id, &service.key, rollback_target, at);
                }
            }
            EcsDeploymentChange::Completed => {
                d.evidence.succeeded.get_or_insert(at);
            }
            EcsDeploymentChange::Failed { reason } => {
                let reason = reason.unwrap_or_else(|| "ECS deployment failed".to_owned());
                d.evidence.failed.get_or_insert((at, reason));
            }
        }
        self.settle_service(&service.key, observed, out);
    }

    pub(super) fn on_codedeploy(&mut self, observed: Timestamp, c: CodeDeployFact, out: &mut Vec<Action>) {
        let id = self.canonical(&c.deployment_id).to_owned();
        if !self.state.deployments.contains_key(&id) {
            self.create(&id, Strategy::CodedeployBlueGreen, None, c.at);
        }
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        d.touch(c.at);
        if d.target.application.is_none() {
            d.target.application.clone_from(&c.application);
        }
        if d.target.deployment_group.is_none() {
            d.target.deployment_group.clone_from(&c.deployment_group);
        }
        if let Some((cluster, service)) = &c.target {
            d.target.cluster.get_or_insert_with(|| cluster.clone());
            d.target.service.get_or_insert_with(|| service.clone());
        }
        if let Some(undone) = c.rollback_of.as_deref().filter(|f| *f != id) {
            self.link_codedeploy_rollback(&id, undone);
        }
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        let mut ready_now = false;
        match c.change {
            CodeDeployChange::Ready => {
                if d.ready_since.is_none_or(|t| t > c.at) {
                    ready_now = d.ready_since.is_none();
                    d.ready_since = Some(c.at);
                }
            }
            CodeDeployChange::Started => {
                d.evidence.started.get_or_insert(c.at);
            }
            CodeDeployChange::TargetCutOver => {
                d.evidence.cut_over.get_or_insert(c.at);
            }
            CodeDeployChange::Succeeded => {
                d.evidence.succeeded.get_or_insert(c.at);
            }
            CodeDeployChange::Failed { reason } => {
                let reason = reason.unwrap_or_else(|| "CodeDeploy deployment failed".to_owned());
                d.evidence.failed.get_or_insert((c.at, reason));
            }
            CodeDeployChange::Stopped => {
                d.evidence.failed.get_or_insert((c.at, "CodeDeploy deployment stopped".to_owned()));
            }
            CodeDeployChange::TargetFailed | CodeDeployChange::Other => {}
        }
        self.settle(&id, observed, out);
        // Only the buttons show the wait: without actions, the message stays as it was.
        if ready_now && self.routing.actions {
            self.update(&id, out);
        }
    }

    /// What DescribeServiceDeployments says about an ECS-native deployment Cutover follows.
    pub(super) fn on_service_deployment(&mut self, now: Timestamp, o: Observation, out: &mut Vec<Action>) {
        let Observation::ServiceDeployment {
            deployment_arn,
            past_production_shift,
            production_weight: weight,
            status,
            at,
        } = o
        else {
            return;
        };
        let id = self.canonical(&deployment_arn).to_owned();
        if !self.state.deployments.contains_key(&id) {
            return;
        }
        self.advance(at);
        if let Some(percent) = weight.filter(|w| *w > 0.0) {
            self.apply(now, Fact::TrafficWeight { deployment_id: id.clone(), percent, at }, out);
        }
        let observed = now.max(self.state.clock);
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        d.touch(at);
        d.evidence.started.get_or_insert(at);
        if past_production_shift {
            d.evidence.cut_over.get_or_insert(at);
        }
        match status {
            NativeStatus::InProgress => {}
            NativeStatus::Successful => {
                d.evidence.succeeded.get_or_insert(at);
            }
            NativeStatus::Failed { reason } => {
                d.evidence.failed.get_or_insert((at, reason));
            }
        }
        self.settle(&id, observed, out);
    }
}
