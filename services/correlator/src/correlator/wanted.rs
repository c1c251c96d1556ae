//! What the reconciler should ask AWS, in one [`Wanted`]: the deployments in flight, the
//! censuses, the invalidations to watch, the labels, tags and approvers to read. It is read
//! after every batch, so each part is built from the records that hold it.

use cutover_events::Timestamp;
use cutover_events::emitted::{ApprovalOutcome, Strategy};

use super::Correlator;
use crate::deployment::Deployment;
use crate::facts::ServiceKey;

/// How long (AWS time) the reconciler is asked about something after it happened: an
/// invalidation's completion after its decision, an approver after the approval.
const WATCH_MS: i64 = 3600 * 1000;

/// A deployment in flight, as the reconciler needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Its key (`ecs-svc/…`, `d-…`, or a service-deployment ARN).
    pub id: String,
    pub strategy: Strategy,
    pub cut_over: bool,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub application: Option<String>,
    pub deployment_group: Option<String>,
    /// ECS-native: its service-deployment ARN (its key or an alias).
    pub service_deployment_arn: Option<String>,
    /// CodeDeploy: its rollback window is known.
    pub rollback_window: bool,
}

/// A service whose old tasks the reconciler should count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CensusRequest {
    pub service_key: ServiceKey,
    pub cluster: String,
    pub service: String,
}

/// An invalidation the reconciler should look at: created yet, and completed?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidationWanted {
    pub deployment_id: String,
    pub distribution_id: String,
    pub caller_reference: String,
    /// AWS time of the cut-over that decided it.
    pub decided_at: Timestamp,
}

/// A pipeline's deploy action whose configuration the reconciler should read: what it deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionWanted {
    pub pipeline: String,
    /// The pipeline's version the execution runs (the reconciler caches configurations by it).
    pub pipeline_version: Option<u64>,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    /// `ECS`, `CodeDeployToECS`, `CodeDeploy` or `CloudFormation`.
    pub provider: String,
}

/// What the reconciler should ask AWS about, as of the last input: kept current after each
/// batch (the driver publishes it when it changed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The deployments in flight asked about every round: CodeDeploy and ECS-native ones.
    pub in_flight: Vec<InFlight>,
    /// Services whose tasks should be counted.
    pub census: Vec<CensusRequest>,
    /// CloudFront invalidations whose completion is not reported yet.
    pub invalidations: Vec<InvalidationWanted>,
    /// Task definitions whose OCI labels are not known yet.
    pub labels: Vec<String>,
    /// ECS services `(cluster, service)` whose tags routes need.
    pub tags: Vec<(String, String)>,
    /// Pipeline executions `(pipeline, execution id)` whose approver is not known.
    pub approvals: Vec<(String, String)>,
    /// Deploy actions started within the last hour whose targets are not known.
    pub pipeline_actions: Vec<ActionWanted>,
    /// Pipeline executions `(pipeline, execution id)` with a deploy action whose source
    /// revisions have not been read.
    pub executions: Vec<(String, String)>,
    /// Pipelines `(name, version)` whose structure an approval's message waits for.
    pub structures: Vec<(String, Option<u64>)>,
}

impl Wanted {
    /// What is worth a round at once rather than at the next interval: a census or tags not
    /// in `asked` (a rolling cut-over and a held Slack post wait for them).
    pub fn urgent(&self, asked: &std::collections::HashSet<String>) -> bool {
        self.urgent_keys().any(|k| !asked.contains(&k))
    }

    /// The keys of the urgent parts: `census:<service key>`, `tags:<cluster>/<service>`.
    pub fn urgent_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.census
            .iter()
            .map(|r| format!("census:{}", r.service_key))
            .chain(self.tags.iter().map(|(c, s)| format!("tags:{c}/{s}")))
    }
}

impl Correlator {
    /// Everything the reconciler should ask about now.
    pub fn wanted(&self) -> Wanted {
        Wanted {
            in_flight: self.in_flight(),
            census: self.census_wanted(),
            invalidations: self.invalidations_wanted(),
            labels: self.labels_wanted(),
            tags: self.tags_wanted(),
            approvals: self.approvals_wanted(),
            pipeline_actions: self.pipeline_actions_wanted(),
            executions: self.executions_wanted(),
            structures: self.structures_wanted(),
        }
    }

    /// The deployments in flight the reconciler asks about every round: CodeDeploy and
    /// ECS-native ones. ECS rolling deployments are left out (their events say everything; see
    /// [`Correlator::rolling_in_flight`]), so publishing this after each batch stays cheap for
    /// a fleet of rolling services.
    pub(super) fn in_flight(&self) -> Vec<InFlight> {
        self.in_flight_where(|d, arn| d.strategy == Strategy::CodedeployBlueGreen || arn.is_some())
    }

    /// The ECS rolling deployments in flight: asked about once, at start-up (their rollout
    /// state may have moved while Cutover was down).
    pub fn rolling_in_flight(&self) -> Vec<InFlight> {
        self.in_flight_where(|d, arn| d.id.starts_with("ecs-svc/") && arn.is_none())
    }

    /// The deployments in flight that `keep` (given the service-deployment ARN, when one of
    /// its ids is one) selects, built only for those.
    pub(super) fn in_flight_where(&self, keep: impl Fn(&Deployment, Option<&String>) -> bool) -> Vec<InFlight> {
        self.state
            .deployments
            .values()
            .filter(|d| d.is_in_flight())
            .filter_map(|d| {
                let arn = std::iter::once(&d.id).chain(&d.aliases).find(|a| a.contains(":service-deployment/"));
                keep(d, arn).then(|| InFlight {
                    id: d.id.clone(),
                    strategy: d.strategy,
                    cut_over: d.cut_over_at().is_some(),
                    cluster: d.target.cluster.clone(),
                    service: d.target.service.clone(),
                    application: d.target.application.clone(),
                    deployment_group: d.target.deployment_group.clone(),
                    service_deployment_arn: arn.cloned(),
                    rollback_window: d.rollback_window_until.is_some(),
                })
            })
            .collect()
    }

    /// The services with an ECS rolling deployment in flight, not cut over, whose tasks have
    /// not been counted: the reconciler's census requests (one per deployment start; none in
    /// steady state).
    pub(super) fn census_wanted(&self) -> Vec<CensusRequest> {
        let mut out: Vec<CensusRequest> = Vec::new();
        for d in self.state.deployments.values() {
            if d.strategy != Strategy::EcsRolling || !d.is_in_flight() || d.cut_over_at().is_some() {
                continue;
            }
            let (Some(key), Some(cluster), Some(service)) =
                (&d.target.service_key, &d.target.cluster, &d.target.service)
            else {
                continue;
            };
            if self.state.census.services.get(key).is_some_and(|s| s.censused)
                || out.iter().any(|r| r.service_key == *key)
            {
                continue;
            }
            out.push(CensusRequest { service_key: key.clone(), cluster: cluster.clone(), service: service.clone() });
        }
        out
    }

    /// Pipeline executions whose manual approval succeeded within the last hour of AWS time
    /// and whose approver has not been looked for: `(pipeline, execution id)`.
    pub(super) fn approvals_wanted(&self) -> Vec<(String, String)> {
        let horizon = self.state.clock.plus_millis(-WATCH_MS);
        self.state
            .pipelines
            .executions
            .values()
            .filter(|r| !r.approver_checked && r.context.approved_at.is_some_and(|at| at >= horizon))
            .map(|r| (r.context.name.clone(), r.context.execution_id.clone()))
            .chain(self.state.approvals.records.values().filter_map(|a| {
                // Rejected or expired: who decided, and why.
                let d = a.decision.as_ref()?;
                let checked = self.state.pipelines.executions.get(&a.execution_id).is_none_or(|r| r.approver_checked);
                (d.outcome != ApprovalOutcome::Approved && d.at >= horizon && !checked)
                    .then(|| (a.pipeline.clone(), a.execution_id.clone()))
            }))
            .collect()
    }

    /// The deploy actions started within the last hour of AWS time whose targets have not been
    /// read: one `ListActionExecutions` each (none for a pipeline with no deploy action).
    pub(super) fn pipeline_actions_wanted(&self) -> Vec<ActionWanted> {
        let horizon = self.state.clock.plus_millis(-WATCH_MS);
        self.state
            .pipelines
            .deploy_actions
            .values()
            .filter(|a| a.targets.is_none() && a.started_at >= horizon)
            .map(|a| ActionWanted {
                pipeline: a.pipeline.clone(),
                pipeline_version: a.pipeline_version,
                execution_id: a.execution_id.clone(),
                stage: a.stage.clone(),
                action: a.action.clone(),
                provider: a.provider.clone(),
            })
            .collect()
    }

    /// The executions heard of within the last hour of AWS time that run a deploy action and
    /// whose source revisions have not been read: `(pipeline, execution id)`.
    pub(super) fn executions_wanted(&self) -> Vec<(String, String)> {
        let horizon = self.state.clock.plus_millis(-WATCH_MS);
        self.state
            .pipelines
            .executions
            .values()
            .filter(|r| r.deploys && !r.revisions_read && r.last_at >= horizon && !r.context.name.is_empty())
            .map(|r| (r.context.name.clone(), r.context.execution_id.clone()))
            .collect()
    }

    /// The task definitions of deployments in flight whose OCI labels have not been read.
    pub(super) fn labels_wanted(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .state
            .deployments
            .values()
            .filter(|d| d.is_in_flight())
            .filter_map(|d| d.release.task_definition.clone())
            .filter(|td| !self.state.labels.contains_key(td))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The invalidations whose completion has not been reported in Slack yet, decided within
    /// the last hour of AWS time: what the reconciler asks CloudFront about.
    pub(super) fn invalidations_wanted(&self) -> Vec<InvalidationWanted> {
        let horizon = self.state.clock.plus_millis(-WATCH_MS);
        self.state
            .deployments
            .values()
            .flat_map(|d| {
                d.invalidations.iter().filter(|r| !r.reported && r.decided_at >= horizon).map(|r| InvalidationWanted {
                    deployment_id: d.id.clone(),
                    distribution_id: r.distribution_id.clone(),
                    caller_reference: r.caller_reference.clone(),
                    decided_at: r.decided_at,
                })
            })
            .collect()
    }

    /// The ECS services of deployments in flight whose tags should be read: only when a route
    /// selects on tags.
    pub(super) fn tags_wanted(&self) -> Vec<(String, String)> {
        if !self.routing.uses_tags() {
            return Vec::new();
        }
        let mut out: Vec<(String, String)> = self
            .state
            .deployments
            .values()
            .filter(|d| d.is_in_flight())
            .filter(|d| d.tags_key().is_some_and(|k| !self.state.service_tags.contains_key(&k)))
            .filter_map(|d| Some((d.target.cluster.clone()?, d.target.service.clone()?)))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}
