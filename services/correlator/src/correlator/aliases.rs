//! The ids that name one rollout: an ECS-native deployment's service-deployment ARN and the
//! `ecs-svc/…` id its tasks are started by, whichever Cutover saw first being the key.

use std::collections::BTreeMap;

use cutover_events::Timestamp;
use cutover_events::emitted::Strategy;
use serde::{Deserialize, Serialize};

use super::Correlator;
use crate::deployment::Deployment;
use crate::facts::{ServiceKey, ServiceRef};

/// Other ids of one rollout (`ecs-svc/…` ↔ service-deployment ARN) → its key.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct Aliases(BTreeMap<String, String>);

impl Aliases {
    /// The key of the deployment `id` names (itself when it is no alias).
    pub(super) fn canonical<'a>(&'a self, id: &'a str) -> &'a str {
        self.0.get(id).map_or(id, String::as_str)
    }

    pub(super) fn insert(&mut self, alias: &str, key: &str) {
        self.0.insert(alias.to_owned(), key.to_owned());
    }

    /// Forgets the aliases of a deployment swept away.
    pub(super) fn forget(&mut self, d: &Deployment) {
        for a in &d.aliases {
            self.0.remove(a);
        }
    }
}

impl Correlator {
    pub(super) fn canonical<'a>(&'a self, id: &'a str) -> &'a str {
        self.state.aliases.canonical(id)
    }

    /// The key of an `ecs-svc/…` deployment, creating it if needed. While an ECS-native
    /// rollout of the service is in flight, a new `ecs-svc/…` id is its alias.
    pub(super) fn ensure_ecs(&mut self, service: &ServiceRef, deployment_id: &str, at: Timestamp) -> String {
        let id = self.canonical(deployment_id).to_owned();
        if !self.state.deployments.contains_key(&id) {
            if let Some(native) =
                self.in_flight_of(&service.key, |d| d.id.starts_with("arn:") && !has_alias(d, "ecs-svc/"))
            {
                self.add_alias(deployment_id, &native);
                return native;
            }
            self.create(&id, Strategy::EcsRolling, Some(service), at);
        }
        if let Some(d) = self.state.deployments.get_mut(&id) {
            d.touch(at);
        }
        id
    }

    /// The key of an ECS-native deployment (service-deployment ARN); an `ecs-svc/…` rollout
    /// already in flight on the service is the same rollout.
    pub(super) fn ensure_native(&mut self, service: &ServiceRef, arn: &str, at: Timestamp) -> String {
        let id = self.canonical(arn).to_owned();
        if !self.state.deployments.contains_key(&id) {
            let rolling = self.in_flight_of(&service.key, |d| {
                d.id.starts_with("ecs-svc/") && d.rollback.of.is_none() && !has_alias(d, "arn:") && d.first_seen <= at
            });
            if let Some(rolling) = rolling {
                self.add_alias(arn, &rolling);
                if let Some(d) = self.state.deployments.get_mut(&rolling) {
                    d.strategy = Strategy::Unknown;
                    d.touch(at);
                }
                return rolling;
            }
            self.create(&id, Strategy::Unknown, Some(service), at);
        }
        if let Some(d) = self.state.deployments.get_mut(&id) {
            d.touch(at);
        }
        id
    }

    pub(super) fn in_flight_of(&self, service_key: &ServiceKey, pred: impl Fn(&Deployment) -> bool) -> Option<String> {
        let svc = self.state.census.services.get(service_key)?;
        // Those in flight are among its open deployments, in the same order.
        svc.open
            .iter()
            .rev()
            .filter_map(|o| self.state.deployments.get(o.id.as_str()))
            .find(|d| d.is_in_flight() && pred(d))
            .map(|d| d.id.clone())
    }

    pub(super) fn add_alias(&mut self, alias: &str, key: &str) {
        let Some(d) = self.state.deployments.get_mut(key) else { return };
        self.state.aliases.insert(alias, key);
        d.aliases.push(alias.to_owned());
    }
}

fn has_alias(d: &Deployment, prefix: &str) -> bool {
    d.aliases.iter().any(|a| a.starts_with(prefix))
}
