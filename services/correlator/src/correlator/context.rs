//! What the reconciler adds to a deployment's message after it was posted: its service's tags
//! (which may route it), its image's OCI labels, CodeDeploy's rollback window, and the
//! completion of the CloudFront invalidations decided at its cut-over.

use std::collections::BTreeMap;

use cutover_events::Timestamp;

use super::Correlator;
use crate::action::Action;
use crate::deployment::{Deployment, ImageLabels, SlackThread};
use crate::facts::ServiceKey;
use crate::facts::ServiceRef;
use crate::slack::wording;

impl Correlator {
    /// An ECS service's tags, as `DescribeServices` read them: kept under the service's key
    /// (and its `cluster/service`, for CodeDeploy deployments that name neither region nor
    /// account); a post held for them goes out now.
    pub(super) fn on_service_tags(
        &mut self,
        cluster: &str,
        service: &str,
        tags: &BTreeMap<String, String>,
        service_arn: Option<&str>,
        out: &mut Vec<Action>,
    ) {
        // Whose tags: the service the ARN names; without one (an older journal entry), every
        // followed service of that cluster and name.
        let mut keys: Vec<ServiceKey> = match service_arn.and_then(ServiceRef::from_service_arn) {
            Some(s) => vec![s.key],
            None => self
                .state
                .deployments
                .values()
                .filter(|d| {
                    d.target.cluster.as_deref() == Some(cluster) && d.target.service.as_deref() == Some(service)
                })
                .filter_map(Deployment::tags_key)
                .collect(),
        };
        keys.push(ServiceKey::named(cluster, service));
        keys.sort();
        keys.dedup();
        let mut changed = Vec::new();
        for key in keys {
            if self.state.service_tags.get(&key) != Some(tags) {
                self.state.service_tags.insert(key.clone(), tags.clone());
                changed.push(key);
            }
        }
        let pending: Vec<String> = self
            .state
            .deployments
            .values()
            .filter(|d| d.slack == SlackThread::Held && d.tags_key().is_some_and(|k| changed.contains(&k)))
            .map(|d| d.id.clone())
            .collect();
        for id in pending {
            self.fill_identity(&id);
            self.post(&id, out);
        }
    }

    /// A task definition's OCI labels: kept while a deployment of it is held, and the messages
    /// of those in flight updated with them.
    pub(super) fn on_labels(&mut self, task_definition: &str, labels: ImageLabels, out: &mut Vec<Action>) {
        let known =
            self.state.deployments.values().any(|d| d.release.task_definition.as_deref() == Some(task_definition));
        if !known || self.state.labels.get(task_definition) == Some(&labels) {
            return;
        }
        self.state.labels.insert(task_definition.to_owned(), labels);
        let posted: Vec<String> = self
            .state
            .deployments
            .values()
            .filter(|d| d.release.task_definition.as_deref() == Some(task_definition))
            .filter(|d| d.is_in_flight() && d.has_message() && d.rollback.of.is_none())
            .map(|d| d.id.clone())
            .collect();
        for id in posted {
            self.update(&id, out);
        }
    }

    /// CodeDeploy keeps the old version until `until`: the message says so.
    pub(super) fn on_rollback_window(&mut self, deployment_id: &str, until: Timestamp, out: &mut Vec<Action>) {
        let id = self.canonical(deployment_id).to_owned();
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        if d.rollback_window_until == Some(until) {
            return;
        }
        d.rollback_window_until = Some(until);
        if d.has_message() && d.rollback.of.is_none() {
            self.update(&id, out);
        }
    }

    /// An invalidation completed: one reply in the deployment's thread with its id and times.
    pub(super) fn on_invalidation_done(
        &mut self,
        deployment_id: &str,
        distribution_id: &str,
        invalidation_id: &str,
        created_at: Timestamp,
        completed_by: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let id = self.canonical(deployment_id).to_owned();
        let Some(d) = self.state.deployments.get_mut(&id) else { return };
        let Some(r) = d.invalidations.iter_mut().find(|r| r.distribution_id == distribution_id && !r.reported) else {
            return;
        };
        r.reported = true;
        let text = wording::invalidation_done(invalidation_id, distribution_id, &r.paths, created_at, completed_by);
        self.reply(&id, text, false, out);
    }
}
