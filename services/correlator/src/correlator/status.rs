//! What runs where, since when, and what is in flight: the reading `/cutover status` answers
//! from. Read only; walks the deployments held, which is fine for a person's question and never
//! done per event.

use cutover_events::Timestamp;
use cutover_events::emitted::{DetailType, Strategy};
use serde::Serialize;

use super::Correlator;
use crate::deployment::Deployment;

/// The answer to "what runs where".
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Board {
    /// Per target and environment, the version that took production traffic last.
    pub running: Vec<Running>,
    /// Deployments started and not finished, oldest first.
    pub in_flight: Vec<Moving>,
}

/// A version serving a target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Running {
    /// `<cluster>/<service>`, or `<application>/<deployment group>` when the service is not known.
    pub target: String,
    pub environment: Option<String>,
    pub version: Option<String>,
    pub deployment_id: String,
    /// Its cut-over, in AWS's time.
    pub since: Timestamp,
}

/// A deployment in flight.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Moving {
    pub target: String,
    pub environment: Option<String>,
    pub version: Option<String>,
    pub deployment_id: String,
    pub strategy: Strategy,
    /// The last step decided, with its time.
    pub step: DetailType,
    pub step_at: Timestamp,
    pub started: Timestamp,
}

pub(super) fn target(d: &Deployment) -> Option<String> {
    let t = &d.target;
    match (&t.cluster, &t.service, &t.application, &t.deployment_group) {
        (Some(c), Some(s), _, _) => Some(format!("{c}/{s}")),
        (_, _, Some(a), Some(g)) => Some(format!("{a}/{g}")),
        (_, Some(s), _, _) => Some(s.clone()),
        _ => None,
    }
}

/// `service` names the ECS service (or the CodeDeploy application or group, or the whole
/// `cluster/service`); `environment` the route's environment. Either left out matches all.
pub(super) fn selected(d: &Deployment, service: Option<&str>, environment: Option<&str>) -> bool {
    let t = &d.target;
    let named = |want: &str| {
        [&t.service, &t.application, &t.deployment_group].iter().any(|v| v.as_deref() == Some(want))
            || target(d).as_deref() == Some(want)
    };
    service.is_none_or(named) && environment.is_none_or(|e| t.environment.as_deref() == Some(e))
}

impl Correlator {
    /// What runs where and what is in flight, for `service` and `environment` when given.
    /// A deployment that was rolled back or failed after its cut-over does not count as
    /// running: what took the traffic back does (its rollback, or the one before it).
    pub fn status(&self, service: Option<&str>, environment: Option<&str>) -> Board {
        let mut running: std::collections::BTreeMap<(String, Option<String>), Running> = Default::default();
        let mut in_flight = Vec::new();
        for d in self.state.deployments.values().filter(|d| selected(d, service, environment)) {
            let Some(target) = target(d) else { continue };
            if d.is_in_flight()
                && let (Some(started), Some(last)) = (d.started_at(), d.history.last())
            {
                in_flight.push(Moving {
                    target: target.clone(),
                    environment: d.target.environment.clone(),
                    version: d.release.version.clone(),
                    deployment_id: d.id.clone(),
                    strategy: d.strategy,
                    step: last.detail_type,
                    step_at: last.at,
                    started,
                });
            }
            let undone = d.decided(DetailType::RolledBack).is_some()
                || d.terminal().is_some_and(|(t, _)| t == DetailType::Failed);
            let Some(since) = d.cut_over_at().filter(|_| !undone) else { continue };
            let key = (target.clone(), d.target.environment.clone());
            if running.get(&key).is_none_or(|r| r.since < since) {
                running.insert(
                    key,
                    Running {
                        target,
                        environment: d.target.environment.clone(),
                        version: d.release.version.clone(),
                        deployment_id: d.id.clone(),
                        since,
                    },
                );
            }
        }
        in_flight.sort_by(|a: &Moving, b| (a.started, &a.deployment_id).cmp(&(b.started, &b.deployment_id)));
        Board { running: running.into_values().collect(), in_flight }
    }
}
