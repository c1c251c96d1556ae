//! CI's deploy annotations, kept per ECS service until joined to their deployment or expired,
//! and the rules that join them (by version or task definition, else within a window).

use std::collections::BTreeMap;

use cutover_events::Timestamp;
use cutover_events::annotation::DeployAnnotation;
use serde::{Deserialize, Serialize};

use super::Correlator;
use crate::action::Action;
use crate::deployment::Deployment;
use crate::facts::ServiceKey;

/// A deploy annotation waiting for (or joined to) its deployment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct AnnotationRecord {
    pub(super) annotation: DeployAnnotation,
    pub(super) at: Timestamp,
    pub(super) joined_to: Option<String>,
    /// The account its envelope names; it joins only deployments of that account.
    #[serde(default)]
    pub(super) account: Option<String>,
}

impl AnnotationRecord {
    pub(super) fn new(annotation: DeployAnnotation, at: Timestamp, account: Option<String>) -> Self {
        Self { annotation, at, joined_to: None, account }
    }

    /// By account only: the envelope's region is where CI put the annotation, which a central
    /// bus need not share with the service; the account is the one CI runs in, and EventBridge
    /// keeps it when it forwards the event.
    pub(super) fn in_scope(&self, d: &Deployment) -> bool {
        d.in_account(self.account.as_deref())
    }
}

/// Annotations kept per service: CI annotates each deployment once.
const ANNOTATIONS_PER_SERVICE: usize = 10;
/// How far apart in time an annotation that names neither a known version nor a known task
/// definition and the start of a deployment whose version is unknown may be, to be joined.
const ANNOTATION_WINDOW_MS: i64 = 30 * 60 * 1000;

/// The annotation names the deployment's image tag or task definition (ARN, or
/// `family:revision`).
fn annotation_matches(a: &DeployAnnotation, d: &Deployment) -> bool {
    let tag = a.image_tag.as_deref().is_some_and(|t| d.release.version.as_deref() == Some(t));
    let td = a.task_definition.as_deref().is_some_and(|t| {
        d.release
            .task_definition
            .as_deref()
            .is_some_and(|dt| dt == t || dt.strip_suffix(t).is_some_and(|p| p.ends_with('/')))
    });
    tag || td
}

/// CI's deploy annotations by `<cluster>/<service>` (each with the account it comes from),
/// newest last, until joined or expired.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct Annotations {
    pub(super) by_service: BTreeMap<ServiceKey, Vec<AnnotationRecord>>,
}

impl Correlator {
    /// Keeps an annotation and joins it to its deployment if that is already known; a
    /// deployment already posted has its message updated with the context.
    pub(super) fn on_annotation(&mut self, record: AnnotationRecord, out: &mut Vec<Action>) {
        let key = ServiceKey::named(&record.annotation.cluster, &record.annotation.service);
        let in_scope = |d: &Deployment| record.in_scope(d);
        let mut candidates: Vec<(Timestamp, String)> = self
            .state
            .deployments
            .values()
            .filter(|d| d.annotation.is_none() && d.ecs_service().as_ref() == Some(&key) && in_scope(d))
            .map(|d| (d.first_seen, d.id.clone()))
            .collect();
        let list = self.state.annotations.by_service.entry(key).or_default();
        list.push(record);
        if list.len() > ANNOTATIONS_PER_SERVICE {
            list.remove(0);
        }
        // The newest deployment first.
        candidates.sort_by(|a, b| b.cmp(a));
        for (_, id) in candidates {
            if self.join_annotation(&id) {
                self.update(&id, out);
                break;
            }
        }
    }

    /// Joins the best unjoined annotation of the deployment's service to it: one naming its
    /// image tag or task definition (the newest); else, for a deployment in flight whose
    /// version and task definition are not known yet (an ECS deployment before its first task
    /// event; CodeDeploy events never name them), the newest made within 30 minutes of its
    /// start: a guess, dropped as soon as the version or task definition contradicts it.
    /// True when one was joined.
    pub(super) fn join_annotation(&mut self, id: &str) -> bool {
        let Some(d) = self.state.deployments.get(id) else { return false };
        if let Some(a) = &d.annotation {
            // A guess (joined while the version was unknown) that the version now contradicts
            // is dropped, and the annotation is free for its own deployment.
            let named_tag = a.image_tag.as_deref().zip(d.release.version.as_deref()).is_some_and(|(t, v)| t != v);
            let named_td =
                a.task_definition.is_some() && d.release.task_definition.is_some() && !annotation_matches(a, d);
            let tag_ok = a.image_tag.as_deref().is_some_and(|t| d.release.version.as_deref() == Some(t));
            if !(named_tag || named_td) || tag_ok {
                return false;
            }
            if let Some(r) = self
                .state
                .annotations
                .by_service
                .get_mut(&ServiceKey::named(&a.cluster, &a.service))
                .and_then(|l| l.iter_mut().find(|r| r.joined_to.as_deref() == Some(id)))
            {
                r.joined_to = None;
            }
            if let Some(d) = self.state.deployments.get_mut(id) {
                d.annotation = None;
            }
        }
        let Some(d) = self.state.deployments.get(id) else { return false };
        let Some(list) = d.ecs_service().and_then(|k| self.state.annotations.by_service.get_mut(&k)) else {
            return false;
        };
        let unknown = d.release.version.is_none() && d.release.task_definition.is_none() && d.is_in_flight();
        let start = d.first_seen;
        let free = |r: &AnnotationRecord| r.joined_to.is_none() && r.in_scope(d);
        let pick = list.iter().rposition(|r| free(r) && annotation_matches(&r.annotation, d)).or_else(|| {
            unknown
                .then(|| {
                    list.iter().rposition(|r| free(r) && (r.at.millis() - start.millis()).abs() <= ANNOTATION_WINDOW_MS)
                })
                .flatten()
        });
        let Some(i) = pick else { return false };
        list[i].joined_to = Some(id.to_owned());
        let annotation = list[i].annotation.clone();
        if let Some(d) = self.state.deployments.get_mut(id) {
            d.annotation = Some(annotation);
        }
        true
    }
}
