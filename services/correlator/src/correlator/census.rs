//! The ECS task census: what Cutover knows of each service's tasks, from their events and the
//! reconciler's `ListTasks` census, and the rolling cut-over rule over it
//! ([`Correlator::rolling_proof`], the one place it is written).

use std::collections::{BTreeSet, HashMap};

use cutover_events::Timestamp;
use cutover_events::ecs::TaskStatus;
use cutover_events::emitted::Strategy;
use serde::{Deserialize, Serialize};

use super::held::Held;
use super::{CensusTask, Correlator};
use crate::action::Action;
use crate::deployment::Deployment;
use crate::facts::{ServiceKey, TaskFact};
use crate::shared::{FastHash, Names, Shared};
use crate::slack::wording;

/// What the census knows of one service task. Its strings are shared: the service key is
/// the census's own, and the deployment and task definition are the census's [`Names`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct TaskRecord {
    pub(super) service_key: ServiceKey,
    pub(super) deployment: Option<Shared>,
    pub(super) task_definition: Option<Shared>,
    pub(super) version: u64,
    pub(super) last_status: TaskStatus,
    /// AWS time of its first RUNNING event.
    pub(super) running_at: Option<Timestamp>,
    /// Seen RUNNING: it served traffic. A task first seen while it drains is not counted
    /// (DESIGN.md: old tasks are the ones *seen running*).
    pub(super) seen_running: bool,
    /// AWS time it was told to stop (`desiredStatus` STOPPED).
    pub(super) stop_requested_at: Option<Timestamp>,
    pub(super) failure_reported: bool,
    pub(super) last_at: Timestamp,
}

/// One ECS service: its tasks and deployments.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct ServiceRecord {
    /// The reconciler's census of its tasks has been applied.
    #[serde(default)]
    pub(super) censused: bool,
    /// Its tasks' ARNs: the same `Shared` as the census's key of each.
    pub(super) tasks: BTreeSet<Shared>,
    /// Deployments of the service, in the order Cutover first saw them.
    pub(super) deployments: Vec<String>,
    /// Of those, the ones a settle can still decide for ([`Deployment::may_settle`]), in the
    /// same order: an event of the service settles these, not its whole history. Derived;
    /// rebuilt by [`Census::reopen`] when state is restored.
    #[serde(skip)]
    pub(super) open: Vec<Open>,
    /// Its tasks grouped by the deployment their events named (as named, not canonical: an
    /// alias linked later does not move a task), with what the rolling rule needs of each
    /// group, so a settle reads one entry per deployment instead of every task. A `Vec`: a
    /// service has few groups, and a map's nodes would cost more than its tasks. Derived;
    /// rebuilt by [`Census::reopen`].
    #[serde(skip)]
    pub(super) by_owner: Vec<(Option<Shared>, OwnerTasks)>,
}

/// One of a service's open deployments.
#[derive(Clone, Debug)]
pub(super) struct Open {
    pub(super) id: Shared,
    /// It failed and no rollback of it is linked ([`Deployment::waits_for_rollback`]): an
    /// event of its service decides nothing for it, so it is not settled until
    /// [`Correlator::link_rollback`] links one. (A fleet keeps many of these in retention.)
    pub(super) waiting: bool,
}

impl Open {
    pub(super) fn of(d: &Deployment) -> Self {
        Self { id: Shared::from(d.id.as_str()), waiting: d.waits_for_rollback() }
    }
}

/// The tasks of one service that one deployment started (or that named none).
#[derive(Clone, Debug, Default)]
pub(super) struct OwnerTasks {
    /// Per task, by a hash of its ARN (the ARN itself is kept once, in the census): when it
    /// started running, when it was told to stop, and whether it was seen running.
    pub(super) tasks: Vec<GroupedTask>,
    /// Of them, seen running.
    pub(super) seen_running: usize,
    /// Of those, never told to stop.
    pub(super) unstopped: usize,
    /// The latest time one of those seen running was told to stop.
    pub(super) last_stop: Option<Timestamp>,
}

/// What a group keeps of one task.
#[derive(Clone, Copy, Debug)]
pub(super) struct GroupedTask {
    arn: u64,
    pub(super) running_at: Option<Timestamp>,
    pub(super) stop_requested_at: Option<Timestamp>,
    seen_running: bool,
}

/// A task ARN as a group keeps it (SipHash with fixed keys: the same in every process).
fn arn_hash(arn: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    arn.hash(&mut h);
    h.finish()
}

/// The census: every service task Cutover knows of, and each service's tasks and deployments.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Census {
    pub(super) tasks: HashMap<Shared, TaskRecord, FastHash>,
    /// Hashed, for the lookups each event makes; written in key order, as the B-tree it was.
    #[serde(serialize_with = "crate::shared::in_key_order")]
    pub(super) services: HashMap<ServiceKey, ServiceRecord, FastHash>,
    /// The deployment ids and task definitions its tasks name, each kept once. Derived:
    /// [`Census::reopen`] shares them again when state is restored.
    #[serde(skip)]
    pub(super) names: Names,
}

impl Census {
    /// Rebuilds each service's open deployments from `deployments`, and its task groups, and
    /// shares again the strings that restored state holds once per holder.
    pub(super) fn reopen(&mut self, deployments: &Held) {
        let Census { tasks, services, names } = self;
        for rec in tasks.values_mut() {
            rec.deployment = rec.deployment.as_ref().map(|d| names.share(d));
            rec.task_definition = rec.task_definition.as_ref().map(|d| names.share(d));
            if let Some((key, _)) = services.get_key_value(&rec.service_key) {
                rec.service_key = key.clone();
            }
        }
        for svc in services.values_mut() {
            svc.open = svc
                .deployments
                .iter()
                .filter_map(|id| deployments.get(id).filter(|d| d.may_settle()))
                .map(Open::of)
                .collect();
            svc.tasks = svc
                .tasks
                .iter()
                .map(|arn| tasks.get_key_value(arn).map_or_else(|| arn.clone(), |(k, _)| k.clone()))
                .collect();
            svc.by_owner.clear();
            for arn in &svc.tasks {
                if let Some(rec) = tasks.get(arn) {
                    group(&mut svc.by_owner, arn, rec);
                }
            }
        }
    }

    /// The census's own key of service `key`, its record made if it has none.
    fn service_key(&mut self, key: &ServiceKey) -> ServiceKey {
        if let Some((known, _)) = self.services.get_key_value(key) {
            return known.clone();
        }
        self.services.insert(key.clone(), ServiceRecord::default());
        key.clone()
    }

    /// Puts task `arn` (of service `key`, its record in `tasks`) in its group, and brings the
    /// group's figures up to date.
    pub(super) fn grouped(&mut self, key: &ServiceKey, arn: &str) {
        let Some(rec) = self.tasks.get(arn) else { return };
        let Some(svc) = self.services.get_mut(key) else { return };
        group(&mut svc.by_owner, arn, rec);
    }

    /// Takes task `arn` out of its group (the task was forgotten).
    pub(super) fn ungrouped(&mut self, key: &ServiceKey, owner: &Option<Shared>, arn: &str) {
        let Some(svc) = self.services.get_mut(key) else { return };
        let Some(i) = svc.by_owner.iter().position(|(o, _)| o == owner) else { return };
        let hash = arn_hash(arn);
        let g = &mut svc.by_owner[i].1;
        g.tasks.retain(|t| t.arn != hash);
        if g.tasks.is_empty() {
            svc.by_owner.swap_remove(i);
        } else {
            g.recount();
        }
    }
}

/// Puts (or updates) `rec`, the record of task `arn`, in its group of a service's `by_owner`.
fn group(by_owner: &mut Vec<(Option<Shared>, OwnerTasks)>, arn: &str, rec: &TaskRecord) {
    let entry = GroupedTask {
        arn: arn_hash(arn),
        running_at: rec.running_at,
        stop_requested_at: rec.stop_requested_at,
        seen_running: rec.seen_running,
    };
    let i = match by_owner.iter().position(|(o, _)| *o == rec.deployment) {
        Some(i) => i,
        None => {
            // One more at a time: most services hold one or two groups.
            by_owner.reserve_exact(1);
            by_owner.push((rec.deployment.clone(), OwnerTasks::default()));
            by_owner.len() - 1
        }
    };
    let g = &mut by_owner[i].1;
    match g.tasks.iter_mut().find(|t| t.arn == entry.arn) {
        Some(t) => *t = entry,
        None => {
            g.tasks.reserve_exact(1);
            g.tasks.push(entry);
        }
    }
    g.recount();
}

impl OwnerTasks {
    /// Recounts the figures from the tasks.
    fn recount(&mut self) {
        let (mut seen_running, mut unstopped, mut last_stop) = (0, 0, None);
        for t in self.tasks.iter().filter(|t| t.seen_running) {
            seen_running += 1;
            match t.stop_requested_at {
                None => unstopped += 1,
                Some(at) => last_stop = last_stop.max(Some(at)),
            }
        }
        (self.seen_running, self.unstopped, self.last_stop) = (seen_running, unstopped, last_stop);
    }
}

impl Correlator {
    pub(super) fn on_task(&mut self, observed: Timestamp, t: TaskFact, out: &mut Vec<Action>) -> bool {
        let dep = t.deployment_id.as_deref().map(|d| self.canonical(d).to_owned());
        let census = &mut self.state.census;
        let (arn, is_new) = match census.tasks.get_key_value(t.task_arn.as_str()) {
            Some((arn, _)) => (arn.clone(), false),
            None => (Shared::from(t.task_arn.as_str()), true),
        };
        if is_new {
            let rec = TaskRecord {
                service_key: census.service_key(&t.service.key),
                deployment: dep.as_deref().map(|d| census.names.get(d)),
                task_definition: t.task_definition.as_deref().map(|d| census.names.get(d)),
                version: 0,
                last_status: t.last_status.clone(),
                running_at: None,
                seen_running: false,
                stop_requested_at: None,
                failure_reported: false,
                last_at: t.at,
            };
            census.tasks.insert(arn.clone(), rec);
        }
        let Some(rec) = census.tasks.get_mut(&arn) else { return false };
        if !is_new && t.version <= rec.version {
            return false;
        }
        let counted = (rec.seen_running, rec.stop_requested_at);
        rec.version = t.version;
        rec.last_status = t.last_status.clone();
        rec.last_at = t.at;
        if t.last_status == TaskStatus::Running && rec.running_at.is_none() {
            rec.running_at = Some(t.at);
        }
        if t.last_status == TaskStatus::Running {
            rec.seen_running = true;
        }
        if t.desired_status == TaskStatus::Stopped && rec.stop_requested_at.is_none() {
            rec.stop_requested_at = Some(t.at);
        }
        let report_failure = t.failure.is_some() && !rec.failure_reported;
        // What its group counts changed (or it is new): the group is recounted.
        let recount = is_new || counted != (rec.seen_running, rec.stop_requested_at);
        let svc = census.services.entry(t.service.key.clone()).or_default();
        let joined = !svc.tasks.contains(&arn) && svc.tasks.insert(arn);
        if recount || joined {
            census.grouped(&t.service.key, &t.task_arn);
        }

        if let Some(dep) = &dep {
            let starting =
                matches!(t.last_status, TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Activating)
                    && t.desired_status == TaskStatus::Running;
            if !self.state.deployments.contains_key(dep)
                && is_new
                && starting
                && self.replaces_running_tasks(&t.service.key, dep)
            {
                self.create(dep, Strategy::EcsRolling, Some(&t.service), t.at);
            }
            if let Some(d) = self.state.deployments.get_mut(dep) {
                d.touch(t.at);
                if d.release.task_definition.is_none() {
                    d.release.task_definition.clone_from(&t.task_definition);
                }
                if d.release.version.is_none() {
                    d.release.version.clone_from(&t.image_tag);
                }
                if report_failure && d.is_in_flight() {
                    if let Some(rec) = self.state.census.tasks.get_mut(t.task_arn.as_str()) {
                        rec.failure_reported = true;
                    }
                    let dep = dep.clone();
                    self.ensure_started(&dep, t.at, observed, out);
                    self.reply(&dep, wording::task_stopped(&t.task_arn, t.at, t.failure.as_deref()), false, out);
                }
            }
        }
        self.settle_service(&t.service.key, observed, out);
        true
    }

    /// A new task of `dep` starts while tasks of another deployment serve: a rollout.
    pub(super) fn replaces_running_tasks(&self, service_key: &ServiceKey, dep: &str) -> bool {
        let Some(svc) = self.state.census.services.get(service_key) else { return false };
        svc.by_owner
            .iter()
            .any(|(owner, g)| g.unstopped > 0 && owner.as_deref().map(|d| self.canonical(d)) != Some(dep))
    }

    /// Applies a census: running tasks Cutover has not seen become known running tasks of the
    /// deployment that started them (old tasks, for the rolling cut-over rule).
    pub(super) fn on_census(
        &mut self,
        observed: Timestamp,
        key: &ServiceKey,
        at: Timestamp,
        tasks: Vec<CensusTask>,
        out: &mut Vec<Action>,
    ) {
        let Some(svc) = self.state.census.services.get_mut(key) else { return };
        if svc.censused {
            return;
        }
        svc.censused = true;
        for t in tasks.into_iter().filter(|t| t.running) {
            if self.state.census.tasks.contains_key(t.task_arn.as_str()) {
                continue;
            }
            let deployment = t.started_by.as_deref().map(|d| self.canonical(d).to_owned());
            let census = &mut self.state.census;
            let arn = Shared::from(t.task_arn.as_str());
            let rec = TaskRecord {
                service_key: census.service_key(key),
                deployment: deployment.as_deref().map(|d| census.names.get(d)),
                task_definition: t.task_definition.as_deref().map(|d| census.names.get(d)),
                version: 0,
                last_status: TaskStatus::Running,
                running_at: None,
                seen_running: true,
                stop_requested_at: None,
                failure_reported: false,
                last_at: at,
            };
            census.tasks.insert(arn.clone(), rec);
            if let Some(svc) = census.services.get_mut(key) {
                svc.tasks.insert(arn);
            }
            census.grouped(key, &t.task_arn);
        }
        self.settle_service(key, observed, out);
    }

    /// Rolling cut-over: a RUNNING task of the new deployment, and every older task that
    /// served traffic told to stop. `at` is the latest of those events' times. A deployment
    /// that a newer one has overtaken does not cut over this way.
    ///
    /// It reads each of the service's task groups by its figures, and looks up the deployment
    /// of only the groups that decide: those still serving, and of the finished ones the one
    /// stopped last (all of them only when that one is newer than this). A service with 200
    /// deployments in retention has 200 finished groups; the one stopped last is nearly always
    /// the one this deployment replaces.
    pub(super) fn rolling_proof(&self, d: &Deployment) -> Option<Timestamp> {
        let proof = self.rolling_proof_by_groups(d);
        // Builds with debug assertions (tests, the fuzz targets) check it against the rule
        // read over every group.
        #[cfg(debug_assertions)]
        assert_eq!(proof, self.rolling_proof_by_scan(d), "the rolling proof of {}", d.id);
        proof
    }

    fn rolling_proof_by_groups(&self, d: &Deployment) -> Option<Timestamp> {
        if d.strategy != Strategy::EcsRolling {
            return None;
        }
        let svc = self.state.census.services.get(d.target.service_key.as_ref()?)?;
        let own = self.own_names(d);
        let is_own = |owner: &Option<Shared>| owner.as_ref().is_some_and(|o| own.iter().any(|n| n.same(o)));
        // Started by a deployment no newer than this one (or by one Cutover does not hold).
        let older = |owner: &Option<Shared>| {
            owner
                .as_deref()
                .and_then(|o| self.state.deployments.get(self.canonical(o)))
                .is_none_or(|o| o.first_seen <= d.first_seen)
        };
        // Each new task that ran: when it started running, and when it was told to stop.
        let mut new_tasks: Vec<(Timestamp, Option<Timestamp>)> = Vec::new();
        // Of the other groups none of whose tasks that ran still serves, the one stopped last.
        let finished =
            |owner: &Option<Shared>, g: &OwnerTasks| g.seen_running > 0 && g.unstopped == 0 && !is_own(owner);
        let mut latest: Option<(Option<Timestamp>, usize)> = None;
        for (i, (owner, g)) in svc.by_owner.iter().enumerate() {
            // No task of it ran: neither new tasks that serve nor old ones that did.
            if g.seen_running == 0 {
                continue;
            }
            if is_own(owner) {
                new_tasks.extend(g.tasks.iter().filter_map(|t| Some((t.running_at?, t.stop_requested_at))));
            } else if g.unstopped == 0 {
                if latest.is_none_or(|(at, _)| g.last_stop > at) {
                    latest = Some((g.last_stop, i));
                }
            } else if older(owner) {
                // An older task that served is not told to stop yet.
                return None;
            }
        }
        // The latest stop among the older finished groups (none: no old task ever served).
        let (at, i) = latest?;
        let last_stop = if older(&svc.by_owner[i].0) {
            at
        } else {
            svc.by_owner.iter().filter(|(o, g)| finished(o, g) && older(o)).map(|(_, g)| g.last_stop).max()?
        };
        self.proof_once_stopped(d, svc, &new_tasks, last_stop)
    }

    /// The rule's last step, once the old tasks' last stop (`last_stop`) is known: the instant
    /// the last old task is told to stop, a new task must be running (started, not yet told to
    /// stop); a deployment whose tasks all stopped before that (it failed, and a rollback is
    /// stopping the old ones) never had the traffic. `new_tasks`: each new task that ran, when
    /// it started running and when it was told to stop.
    fn proof_once_stopped(
        &self,
        d: &Deployment,
        svc: &ServiceRecord,
        new_tasks: &[(Timestamp, Option<Timestamp>)],
        last_stop: Option<Timestamp>,
    ) -> Option<Timestamp> {
        let proof = new_tasks
            .iter()
            .map(|(running, stop)| (running.max(&last_stop.unwrap_or(*running)).to_owned(), stop))
            .filter(|(at, stop)| stop.is_none_or(|s| s > *at))
            .map(|(at, _)| at)
            .min()?;
        // Once a newer deployment of the service has started, it takes the traffic over:
        // this one can no longer be the version that production runs on. (Asked last: it
        // reads every deployment of the service, and most settles have no proof to check.)
        let superseded = svc
            .deployments
            .iter()
            .filter_map(|o| self.state.deployments.get(o))
            .any(|o| o.id != d.id && o.first_seen > d.first_seen && o.evidence.started.is_some());
        (!superseded).then_some(proof)
    }

    /// The rule as written, over every group: what [`Correlator::rolling_proof`] checks
    /// itself against in builds with debug assertions (the last step, which both share, is
    /// [`Correlator::proof_once_stopped`]).
    #[cfg(debug_assertions)]
    fn rolling_proof_by_scan(&self, d: &Deployment) -> Option<Timestamp> {
        if d.strategy != Strategy::EcsRolling {
            return None;
        }
        let svc = self.state.census.services.get(d.target.service_key.as_ref()?)?;
        let mut new_tasks: Vec<(Timestamp, Option<Timestamp>)> = Vec::new();
        let mut last_stop: Option<Timestamp> = None;
        let mut any_old = false;
        for (owner, g) in &svc.by_owner {
            if g.seen_running == 0 {
                continue;
            }
            let owner = owner.as_deref().map(|o| self.canonical(o));
            if owner == Some(d.id.as_str()) {
                new_tasks.extend(g.tasks.iter().filter_map(|t| Some((t.running_at?, t.stop_requested_at))));
                continue;
            }
            if owner.and_then(|o| self.state.deployments.get(o)).is_some_and(|o| o.first_seen > d.first_seen) {
                continue;
            }
            any_old = true;
            if g.unstopped > 0 {
                return None;
            }
            last_stop = last_stop.max(g.last_stop);
        }
        if !any_old {
            return None;
        }
        self.proof_once_stopped(d, svc, &new_tasks, last_stop)
    }

    /// The census's names of `d`'s tasks' groups: its key and its aliases, those that resolve
    /// to it. A group is `d`'s when its owner is one of these: the census holds one [`Shared`]
    /// per text, and every alias that resolves to `d` is among `d`'s aliases (both are written
    /// together, [`Correlator::add_alias`]).
    fn own_names(&self, d: &Deployment) -> Vec<&Shared> {
        std::iter::once(d.id.as_str())
            .chain(d.aliases.iter().map(String::as_str))
            .filter(|n| self.canonical(n) == d.id)
            .filter_map(|n| self.state.census.names.find(n))
            .collect()
    }

    pub(super) fn previous_task_definition(&self, d: &Deployment) -> Option<String> {
        if let Some(undone) = d.rollback.of.as_deref().and_then(|f| self.state.deployments.get(f)) {
            return undone.release.task_definition.clone();
        }
        let svc = self.state.census.services.get(d.target.service_key.as_ref()?)?;
        let older = svc
            .deployments
            .iter()
            .filter_map(|o| self.state.deployments.get(o))
            .filter(|o| o.id != d.id && o.first_seen <= d.first_seen && o.release.task_definition.is_some())
            .max_by_key(|o| o.first_seen);
        if let Some(o) = older {
            return o.release.task_definition.clone();
        }
        // Old tasks from before Cutover saw any deployment: the latest to have run.
        svc.tasks
            .iter()
            .filter_map(|arn| self.state.census.tasks.get(arn))
            .filter(|r| r.seen_running && r.deployment.as_deref().map(|o| self.canonical(o)) != Some(d.id.as_str()))
            .max_by_key(|r| (r.running_at, r.last_at))
            .and_then(|r| r.task_definition.as_deref().map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(key: &ServiceKey) -> TaskRecord {
        TaskRecord {
            service_key: key.clone(),
            deployment: Some(Shared::from("ecs-svc/1")),
            task_definition: Some(Shared::from("arn:aws:ecs:eu-west-1:1:task-definition/web:7")),
            version: 1,
            last_status: TaskStatus::Running,
            running_at: Some(Timestamp(1)),
            seen_running: true,
            stop_requested_at: None,
            failure_reported: false,
            last_at: Timestamp(1),
        }
    }

    /// Restored state reads one copy of each string per holder; `reopen` shares them again,
    /// so a restart does not bring back the memory the census saved.
    #[test]
    fn restored_state_holds_each_arn_service_key_and_name_once() {
        let key = ServiceKey::from("eu-west-1:1:prod/web");
        let mut census = Census::default();
        let arns = ["arn:aws:ecs:eu-west-1:1:task/prod/a", "arn:aws:ecs:eu-west-1:1:task/prod/b"];
        for arn in arns {
            census.tasks.insert(Shared::from(arn), running(&key));
        }
        census.services.insert(
            key.clone(),
            ServiceRecord { tasks: arns.into_iter().map(Shared::from).collect(), ..Default::default() },
        );
        let json = serde_json::to_string(&census).unwrap();
        let mut back: Census = serde_json::from_str(&json).unwrap();
        back.reopen(&Held::default());
        let value = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(value(&serde_json::to_string(&back).unwrap()), value(&json), "same shape and content");

        let (svc_key, svc) = back.services.iter().next().unwrap();
        for arn in &svc.tasks {
            let (own, rec) = back.tasks.get_key_value(arn).unwrap();
            assert!(std::ptr::eq(own.as_str(), arn.as_str()), "{arn}: the service holds the census's ARN");
            assert!(std::ptr::eq(rec.service_key.as_str(), svc_key.as_str()), "{arn}: the census's service key");
        }
        let [a, b] = arns.map(|arn| &back.tasks[arn]);
        let same = |x: &Option<Shared>, y: &Option<Shared>| std::ptr::eq(x.as_deref().unwrap(), y.as_deref().unwrap());
        assert!(same(&a.deployment, &b.deployment), "one deployment id");
        assert!(same(&a.task_definition, &b.task_definition), "one task definition");
        assert_eq!(svc.by_owner.len(), 1, "both tasks in one group");
        assert_eq!(svc.by_owner[0].1.seen_running, 2);
    }

    /// The services are hashed in memory and written in key order, whatever the hash's seed:
    /// a snapshot is the same bytes for the same state.
    #[test]
    fn services_are_written_in_key_order() {
        let mut census = Census::default();
        let keys: Vec<String> = (0..40).map(|i| format!("eu-west-1:1:prod/svc-{:02}", (i * 17) % 40)).collect();
        for k in &keys {
            census.services.insert(ServiceKey::from(k.as_str()), ServiceRecord::default());
        }
        let json = serde_json::to_string(&census).unwrap();
        let mut sorted = keys.clone();
        sorted.sort();
        let at: Vec<usize> = sorted.iter().map(|k| json.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "services in key order: {json}");
    }
}
