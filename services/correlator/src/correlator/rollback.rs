//! The rollback relation (`rollback_of` on the rollback, `rolled_back_by` on what it undoes),
//! written by one function, [`Correlator::link_rollback`], and superseding: a rolling
//! deployment overtaken by a newer one before it finished. [`RollbacksOf`] indexes the relation
//! by the deployment undone, so a deployment created late finds the rollback that named it
//! without a scan of every deployment.

use std::collections::{BTreeMap, BTreeSet};

use cutover_events::Timestamp;
use cutover_events::emitted::{DetailType, Strategy};

use super::Correlator;
use super::held::Held;
use crate::action::Action;
use crate::deployment::Deployment;
use crate::facts::ServiceKey;
use crate::shared::Shared;

/// The rollbacks naming each deployment they undo (known or not yet), in id order: derived
/// from the deployments' `rollback.of`, rebuilt when state is restored, never persisted.
#[derive(Debug, Default)]
pub(super) struct RollbacksOf {
    by_undone: BTreeMap<String, BTreeSet<String>>,
}

impl RollbacksOf {
    /// The index of `deployments`.
    pub(super) fn of(deployments: &Held) -> Self {
        let mut index = Self::default();
        for d in deployments.values() {
            if let Some(undone) = &d.rollback.of {
                index.insert(undone, &d.id);
            }
        }
        index
    }

    fn insert(&mut self, undone: &str, rollback: &str) {
        self.by_undone.entry(undone.to_owned()).or_default().insert(rollback.to_owned());
    }

    /// `rollback` was swept.
    pub(super) fn forget(&mut self, undone: &str, rollback: &str) {
        if let Some(set) = self.by_undone.get_mut(undone) {
            set.remove(rollback);
            if set.is_empty() {
                self.by_undone.remove(undone);
            }
        }
    }

    /// The first rollback (by id) naming `undone`.
    fn first(&self, undone: &str) -> Option<&String> {
        self.by_undone.get(undone).and_then(|set| set.iter().next())
    }
}

impl Correlator {
    /// The one writer of the rollback relation: `rollback` undoes `undone` (which Cutover may
    /// not know yet: CodeDeploy names it before its events arrive). The rollback keeps the first
    /// deployment it was linked to, the undone deployment the first rollback of it, and the
    /// rollback returns to the undone deployment's task definition unless it knows its own.
    /// True when `rollback` was linked now (it undid nothing before).
    pub(super) fn link_rollback(&mut self, rollback: &str, undone: &str) -> bool {
        let undone_td = self.state.deployments.get_mut(undone).and_then(|u| {
            if u.rollback.by.is_none() {
                u.rollback.by = Some(rollback.to_owned());
                // A failed deployment waited for this: its service's events settle it again.
                if let Some(svc) = u.target.service_key.as_ref().and_then(|k| self.state.census.services.get_mut(k))
                    && let Some(o) = svc.open.iter_mut().find(|o| o.id.as_str() == undone)
                {
                    o.waiting = false;
                }
            }
            u.release.task_definition.clone()
        });
        let Some(r) = self.state.deployments.get_mut(rollback) else { return false };
        if r.release.previous_task_definition.is_none() {
            r.release.previous_task_definition = undone_td;
        }
        if r.rollback.of.is_some() {
            return false;
        }
        r.rollback.of = Some(undone.to_owned());
        self.state.rollbacks_of.insert(undone, rollback);
        true
    }

    /// A CodeDeploy rollback names the deployment it undoes (`rollbackInfo`): link them, and the
    /// rollback is about the same application, group, service and environment.
    pub(super) fn link_codedeploy_rollback(&mut self, id: &str, undone: &str) {
        let known = self.state.deployments.get(self.canonical(undone)).cloned();
        let undone_key = known.as_ref().map_or(undone, |u| u.id.as_str()).to_owned();
        if self.link_rollback(id, &undone_key)
            && let (Some(u), Some(d)) = (known, self.state.deployments.get_mut(id))
        {
            inherit_identity(d, &u);
        }
    }

    /// A deployment just created that a rollback seen earlier named (CodeDeploy): linked.
    pub(super) fn link_named_rollback(&mut self, id: &str) {
        if let Some(r) = self.state.rollbacks_of.first(id).cloned() {
            self.link_rollback(&r, id);
        }
    }

    /// The circuit breaker's rollback undoes the newest other deployment of the service that
    /// has not finished well (in flight, or failed).
    pub(super) fn link_ecs_rollback(
        &mut self,
        id: &str,
        service_key: &ServiceKey,
        target: Option<String>,
        at: Timestamp,
    ) {
        let target = target.map(|t| self.canonical(&t).to_owned());
        let Some(d) = self.state.deployments.get_mut(id) else { return };
        if d.rollback.of.is_some() {
            return;
        }
        d.rollback.target.clone_from(&target);
        let Some(svc) = self.state.census.services.get(service_key) else { return };
        // In flight or failed and not rolled back: among the service's open deployments.
        let undone = svc.open.iter().rev().find(|other| {
            let Some(o) = self.state.deployments.get(other.id.as_str()) else { return false };
            o.id != id
                && Some(&o.id) != target.as_ref()
                && o.rollback.by.is_none()
                && o.rollback.of.is_none()
                && o.first_seen <= at
                && o.terminal().is_none_or(|(t, _)| t == DetailType::Failed)
        });
        if let Some(undone) = undone.cloned() {
            self.link_rollback(id, undone.id.as_str());
        }
    }

    /// A rollback whose undone deployment was not known yet: `id`, now created, is it when it
    /// is older and is not the deployment the rollback returns to.
    pub(super) fn link_late_rollback(&mut self, id: &str) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let (Some(key), first_seen) = (d.target.service_key.clone(), d.first_seen) else { return };
        let waiting = self.state.census.services.get(&key).and_then(|svc| {
            svc.deployments.iter().find(|r| {
                self.state.deployments.get(r).is_some_and(|r| {
                    r.id != id
                        && r.rollback.target.is_some()
                        && r.rollback.of.is_none()
                        && r.rollback.target.as_deref() != Some(id)
                        && first_seen <= r.first_seen
                })
            })
        });
        if let Some(r) = waiting.cloned() {
            self.link_rollback(&r, id);
        }
    }

    /// A cut-over settles the deployment it rolls back, and ends older rolling deployments
    /// of the service that never finished (superseded).
    pub(super) fn after_cut_over(&mut self, id: &str, at: Timestamp, observed: Timestamp, out: &mut Vec<Action>) {
        let Some(d) = self.state.deployments.get(id) else { return };
        let rollback_of = d.rollback.of.clone();
        if d.strategy == Strategy::EcsRolling {
            let first_seen = d.first_seen;
            // In flight, so among the service's open deployments (in the same order).
            let superseded: Vec<Shared> = d
                .target
                .service_key
                .as_ref()
                .and_then(|k| self.state.census.services.get(k))
                .map(|s| s.open.iter().filter(|o| !o.waiting).map(|o| o.id.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|o| {
                    let Some(o) = self.state.deployments.get(o.as_str()) else { return false };
                    o.id != id
                        && Some(&o.id) != rollback_of.as_ref()
                        && o.strategy == Strategy::EcsRolling
                        && o.is_in_flight()
                        && o.evidence.succeeded.is_none()
                        && o.evidence.failed.is_none()
                        && o.first_seen < first_seen
                })
                .collect();
            for o in superseded {
                if let Some(od) = self.state.deployments.get_mut(o.as_str()) {
                    od.rollback.superseded_by = Some(id.to_owned());
                    od.evidence.failed = Some((at, format!("superseded by {id}")));
                }
                self.settle(&o, observed, out);
            }
        }
        if let Some(f) = rollback_of {
            self.settle(&f, observed, out);
        }
    }
}

/// A rollback deployment is about the same service as the one it undoes.
fn inherit_identity(d: &mut Deployment, undone: &Deployment) {
    for (slot, value) in [
        (&mut d.target.cluster, &undone.target.cluster),
        (&mut d.target.service, &undone.target.service),
        (&mut d.target.application, &undone.target.application),
        (&mut d.target.deployment_group, &undone.target.deployment_group),
        (&mut d.target.environment, &undone.target.environment),
    ] {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
    if d.release.previous_task_definition.is_none() {
        d.release.previous_task_definition.clone_from(&undone.release.task_definition);
    }
}
