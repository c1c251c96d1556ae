//! Whole deployments as the sequence of events AWS sends for them, in AWS time order.

use cutover_events::Timestamp;
use serde_json::Value;

use crate::shapes::EcsDeploymentShape;
use crate::shapes::{Fleet, TaskShape, uuid};

/// A timed SQS body.
pub type Timed = (Timestamp, Value);

/// One ECS service task as the generator tracks it.
#[derive(Clone, Debug)]
pub struct Task {
    pub id: String,
    pub deployment: String,
    pub task_definition: String,
    pub image: String,
    pub version: u64,
    pub created_at: Timestamp,
    pub seed: u64,
}

/// An ECS service and the tasks running in it.
#[derive(Clone, Debug)]
pub struct Service {
    pub cluster: String,
    pub name: String,
    pub running: Vec<Task>,
}

/// One ECS deployment's release: its id (`ecs-svc/…`), what it runs, how many tasks, and when
/// it starts.
#[derive(Clone, Copy, Debug)]
pub struct Release<'a> {
    pub deployment: &'a str,
    pub task_definition: &'a str,
    pub image: &'a str,
    pub count: usize,
    pub at: Timestamp,
}

/// The states a task moves through, from a time, a fixed step apart.
#[derive(Clone, Copy, Debug)]
struct Steps<'a> {
    states: &'a [(&'a str, &'a str)],
    from: Timestamp,
    every_ms: i64,
}

/// What goes wrong in a rolling deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completes,
    /// New tasks fail their ELB health checks; the circuit breaker fails the deployment and
    /// rolls back to the previous task definition.
    CircuitBreaker,
}

/// Counter for unique event ids and seeds.
#[derive(Debug, Default)]
pub struct Ids(u64);

impl Ids {
    /// Ids starting after `base`, so that streams built separately never share one.
    pub fn from(base: u64) -> Self {
        Self(base)
    }

    pub fn bump(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }

    pub fn event_id(&mut self) -> String {
        uuid(self.bump())
    }
}

fn task_id(seed: u64) -> String {
    format!("{:016x}{:016x}", seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), seed ^ 0xC0FF_EE00_DEAD_BEEF)
}

impl Service {
    /// Tasks already running under `deployment` before anything is recorded: their RUNNING
    /// events (the census) at `t`.
    pub fn seed_running(&mut self, fleet: &Fleet, ids: &mut Ids, release: &Release<'_>) -> Vec<Timed> {
        let Release { deployment, task_definition, image, count, at: t } = *release;
        let mut out = Vec::new();
        for i in 0..count {
            let seed = ids.bump();
            let task = Task {
                id: task_id(seed),
                deployment: deployment.to_owned(),
                task_definition: task_definition.to_owned(),
                image: image.to_owned(),
                version: 4,
                created_at: t.plus_millis(-70_000),
                seed,
            };
            let at = t.plus_millis(i as i64 * 1_500);
            out.push((at, fleet.task(&ids.event_id(), at, &self.shape(&task, "RUNNING", "RUNNING", None))));
            self.running.push(task);
        }
        out
    }

    fn shape<'a>(
        &'a self,
        task: &'a Task,
        last: &'a str,
        desired: &'a str,
        stop: Option<(&'a str, &'a str)>,
    ) -> TaskShape<'a> {
        TaskShape {
            cluster: &self.cluster,
            service: &self.name,
            task_id: &task.id,
            started_by: &task.deployment,
            task_definition: &task.task_definition,
            image: &task.image,
            last_status: last,
            desired_status: desired,
            version: task.version,
            created_at: task.created_at,
            stop,
            exit_code: (last == "STOPPED").then_some(143),
            seed: task.seed,
        }
    }

    /// Events of a task moving through `states` from `t`, `step_ms` apart.
    fn walk(
        &self,
        fleet: &Fleet,
        ids: &mut Ids,
        task: &mut Task,
        steps: &Steps<'_>,
        stop: Option<(&str, &str)>,
    ) -> Vec<Timed> {
        let Steps { states, from: t, every_ms: step_ms } = *steps;
        let mut out = Vec::new();
        for (i, (last, desired)) in states.iter().enumerate() {
            task.version += 1;
            let at = t.plus_millis(i as i64 * step_ms);
            let stop = if *desired == "STOPPED" { stop } else { None };
            out.push((at, fleet.task(&ids.event_id(), at, &self.shape(task, last, desired, stop))));
        }
        out
    }

    /// A deployment that starts (IN_PROGRESS, `count` tasks to RUNNING) and stops there, its
    /// tasks joining the running ones: the next deployment supersedes it.
    pub fn start_only(&mut self, fleet: &Fleet, ids: &mut Ids, release: &Release<'_>) -> Vec<Timed> {
        let (out, tasks) = self.start(fleet, ids, release);
        self.running.extend(tasks);
        out
    }

    /// IN_PROGRESS at `t0`, then `count` new tasks from PROVISIONING to RUNNING.
    fn start(&self, fleet: &Fleet, ids: &mut Ids, release: &Release<'_>) -> (Vec<Timed>, Vec<Task>) {
        let Release { deployment, task_definition, image, count, at: t0 } = *release;
        let reason = format!("ECS deployment {deployment} in progress.");
        let mut out = vec![(
            t0,
            fleet.ecs_deployment(
                &ids.event_id(),
                t0,
                &EcsDeploymentShape {
                    cluster: &self.cluster,
                    service: &self.name,
                    event_name: "SERVICE_DEPLOYMENT_IN_PROGRESS",
                    deployment_id: deployment,
                    reason: &reason,
                },
            ),
        )];
        let starting =
            [("PROVISIONING", "RUNNING"), ("PENDING", "RUNNING"), ("ACTIVATING", "RUNNING"), ("RUNNING", "RUNNING")];
        let mut tasks = Vec::new();
        for i in 0..count {
            let seed = ids.bump();
            let mut task = Task {
                id: task_id(seed),
                deployment: deployment.to_owned(),
                task_definition: task_definition.to_owned(),
                image: image.to_owned(),
                version: 0,
                created_at: t0.plus_millis(4_000 + i as i64 * 700),
                seed,
            };
            let first = task.created_at.plus_millis(1_000);
            out.extend(self.walk(
                fleet,
                ids,
                &mut task,
                &Steps { states: &starting, from: first, every_ms: 21_000 },
                None,
            ));
            tasks.push(task);
        }
        (out, tasks)
    }

    /// A rolling deployment from `t0`: IN_PROGRESS, new tasks start, then old tasks drain;
    /// or, with the circuit breaker, new tasks fail, FAILED, and a rollback deployment.
    /// Returns the events and the new deployment id(s).
    pub fn rolling(
        &mut self,
        fleet: &Fleet,
        ids: &mut Ids,
        release: &Release<'_>,
        outcome: Outcome,
        rollback_id: &str,
    ) -> Vec<Timed> {
        let Release { deployment, count, at: t0, .. } = *release;
        let scaling = format!("Scaling activity initiated by (deployment {deployment})");
        let (mut out, new_tasks) = self.start(fleet, ids, release);
        let running_done = t0.plus_millis(4_000 + count as i64 * 700 + 1_000 + 3 * 21_000);
        let draining = [
            ("DEACTIVATING", "STOPPED"),
            ("STOPPING", "STOPPED"),
            ("DEPROVISIONING", "STOPPED"),
            ("STOPPED", "STOPPED"),
        ];
        match outcome {
            Outcome::Completes => {
                let old = std::mem::take(&mut self.running);
                for (j, mut task) in old.into_iter().enumerate() {
                    let at = running_done.plus_millis(30_000 + j as i64 * 2_500);
                    out.extend(self.walk(
                        fleet,
                        ids,
                        &mut task,
                        &Steps { states: &draining, from: at, every_ms: 30_000 },
                        Some(("ServiceSchedulerInitiated", &scaling)),
                    ));
                }
                self.running = new_tasks;
                let done = running_done.plus_millis(30_000 + count.max(1) as i64 * 2_500 + 240_000);
                out.push((
                    done,
                    fleet.ecs_deployment(
                        &ids.event_id(),
                        done,
                        &EcsDeploymentShape {
                            cluster: &self.cluster,
                            service: &self.name,
                            event_name: "SERVICE_DEPLOYMENT_COMPLETED",
                            deployment_id: deployment,
                            reason: &format!("ECS deployment {deployment} completed."),
                        },
                    ),
                ));
            }
            Outcome::CircuitBreaker => {
                let reason = format!(
                    "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:{}:{}:targetgroup/{}-tg/ccb1c7ee670051a0)",
                    fleet.region, fleet.account, self.name
                );
                for (j, mut task) in new_tasks.into_iter().enumerate() {
                    let at = running_done.plus_millis(45_000 + j as i64 * 1_100);
                    out.extend(self.walk(
                        fleet,
                        ids,
                        &mut task,
                        &Steps { states: &draining, from: at, every_ms: 20_000 },
                        Some(("ServiceSchedulerInitiated", &reason)),
                    ));
                }
                let failed = running_done.plus_millis(45_000 + count as i64 * 1_100 + 61_000);
                out.push((
                    failed,
                    fleet.ecs_deployment(
                        &ids.event_id(),
                        failed,
                        &EcsDeploymentShape {
                            cluster: &self.cluster,
                            service: &self.name,
                            event_name: "SERVICE_DEPLOYMENT_FAILED",
                            deployment_id: deployment,
                            reason: "ECS deployment circuit breaker: task failed to start.",
                        },
                    ),
                ));
                let previous =
                    self.running.first().map(|t| (t.deployment.clone(), t.task_definition.clone(), t.image.clone()));
                let (prev_dep, prev_td, prev_image) = previous.unwrap_or_default();
                let r0 = failed.plus_millis(1_000);
                let mut rolled = self.rolling(
                    fleet,
                    ids,
                    &Release { deployment: rollback_id, task_definition: &prev_td, image: &prev_image, count, at: r0 },
                    Outcome::Completes,
                    "",
                );
                // The rollback's IN_PROGRESS names the deployment it returns to.
                if let Some((_, first)) = rolled.first_mut() {
                    first["detail"]["reason"] = Value::from(format!(
                        "ECS deployment circuit breaker: rolling back to deploymentId {prev_dep}."
                    ));
                }
                out.extend(rolled);
            }
        }
        out
    }
}
