//! A small ECS stand-in that serves `DescribeServices` from a scenario's timeline, for the
//! polling baseline of the detection-lag benchmark (the emulator's deployments never move).
//!
//! The timeline is read from the scenario's own ECS events: a deployment is listed from its
//! first event (its `SERVICE_DEPLOYMENT_IN_PROGRESS`, or for the deployment already running,
//! its tasks) until every task it started is `STOPPED`, as ECS drops a drained deployment from
//! `deployments[]`; the newest is `PRIMARY`, the others `ACTIVE`. `runningCount` counts its
//! tasks whose last status is `RUNNING`; the primary's `desiredCount` is the number of tasks
//! it starts in the scenario; `rolloutState` turns `COMPLETED` at the deployment's
//! `SERVICE_DEPLOYMENT_COMPLETED`.
//!
//! The clock runs `speed` times faster than the wall clock, from a chosen scenario instant,
//! so a 15-second poll interval becomes `15 / speed` seconds of waiting.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

/// One fact of the timeline.
#[derive(Clone, Debug, PartialEq)]
enum Change {
    /// A deployment started (`SERVICE_DEPLOYMENT_IN_PROGRESS`).
    Started { deployment: String },
    /// A deployment's rollout completed.
    Completed { deployment: String },
    /// A task of `deployment` is now in `status`.
    Task { deployment: String, task: String, status: String, task_definition: String },
}

/// The service's history, in event time (ms).
#[derive(Clone, Debug)]
pub struct Timeline {
    pub cluster_arn: String,
    pub service: String,
    changes: Vec<(i64, Change)>,
}

fn millis(v: &Value) -> Option<i64> {
    cutover_events::Timestamp::parse(v.as_str()?).ok().map(|t| t.millis())
}

impl Timeline {
    /// The ECS events of one service among `lines` (EventBridge events, as in the scenarios).
    pub fn from_lines(lines: &[String]) -> Self {
        let mut changes = Vec::new();
        let (mut cluster_arn, mut service) = (String::new(), String::new());
        for line in lines {
            let Ok(e) = serde_json::from_str::<Value>(line) else { continue };
            let d = &e["detail"];
            let at = millis(&d["updatedAt"]).or_else(|| millis(&e["time"])).unwrap_or_default();
            match e["detail-type"].as_str() {
                Some("ECS Task State Change") => {
                    let Some(group) = d["group"].as_str().and_then(|g| g.strip_prefix("service:")) else { continue };
                    service = group.to_owned();
                    cluster_arn = d["clusterArn"].as_str().unwrap_or_default().to_owned();
                    changes.push((
                        at,
                        Change::Task {
                            deployment: d["startedBy"].as_str().unwrap_or_default().to_owned(),
                            task: d["taskArn"].as_str().unwrap_or_default().to_owned(),
                            status: d["lastStatus"].as_str().unwrap_or_default().to_owned(),
                            task_definition: d["taskDefinitionArn"].as_str().unwrap_or_default().to_owned(),
                        },
                    ));
                }
                Some("ECS Deployment State Change") => {
                    let deployment = d["deploymentId"].as_str().unwrap_or_default().to_owned();
                    match d["eventName"].as_str() {
                        Some("SERVICE_DEPLOYMENT_IN_PROGRESS") => changes.push((at, Change::Started { deployment })),
                        Some("SERVICE_DEPLOYMENT_COMPLETED") => changes.push((at, Change::Completed { deployment })),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        changes.sort_by_key(|(at, _)| *at);
        Self { cluster_arn, service, changes }
    }

    /// The first event time at or after `from_ms` when `services-stable` would succeed: one
    /// deployment listed, its running count equal to its desired count.
    pub fn stable_from(&self, from_ms: i64) -> Option<i64> {
        let stable = |v: &Value| {
            let deps = &v["services"][0]["deployments"];
            deps.as_array().is_some_and(|d| d.len() == 1) && deps[0]["runningCount"] == deps[0]["desiredCount"]
        };
        std::iter::once(from_ms)
            .chain(self.changes.iter().map(|(at, _)| *at).filter(|at| *at > from_ms))
            .find(|at| stable(&self.describe_services(*at)))
    }

    /// The `DescribeServices` answer at event time `at_ms`.
    pub fn describe_services(&self, at_ms: i64) -> Value {
        #[derive(Default)]
        struct Dep {
            first_ms: i64,
            task_definition: String,
            tasks: BTreeMap<String, String>,
            completed: bool,
            started_event: bool,
        }
        fn entry<'a>(deps: &'a mut BTreeMap<String, Dep>, order: &mut Vec<String>, id: &str, at: i64) -> &'a mut Dep {
            if !deps.contains_key(id) {
                order.push(id.to_owned());
            }
            deps.entry(id.to_owned()).or_insert_with(|| Dep { first_ms: at, ..Dep::default() })
        }
        let mut deps: BTreeMap<String, Dep> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for (at, change) in self.changes.iter().filter(|(at, _)| *at <= at_ms) {
            match change {
                Change::Started { deployment } => entry(&mut deps, &mut order, deployment, *at).started_event = true,
                Change::Completed { deployment } => entry(&mut deps, &mut order, deployment, *at).completed = true,
                Change::Task { deployment, task, status, task_definition } => {
                    let d = entry(&mut deps, &mut order, deployment, *at);
                    d.task_definition.clone_from(task_definition);
                    d.tasks.insert(task.clone(), status.clone());
                }
            }
        }
        let primary = order.last().cloned().unwrap_or_default();
        // The primary's desired count: the tasks it starts over the whole scenario.
        let desired = self
            .changes
            .iter()
            .filter_map(|(_, c)| match c {
                Change::Task { deployment, task, .. } if *deployment == primary => Some(task.as_str()),
                _ => None,
            })
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let mut listed = Vec::new();
        let mut running_total = 0;
        for id in order.iter().rev() {
            let d = &deps[id];
            let drained = !d.tasks.is_empty() && d.tasks.values().all(|s| s == "STOPPED");
            if *id != primary && drained {
                continue;
            }
            let running = d.tasks.values().filter(|s| *s == "RUNNING").count();
            let pending =
                d.tasks.values().filter(|s| ["PROVISIONING", "PENDING", "ACTIVATING"].contains(&s.as_str())).count();
            running_total += running;
            let rollout = if d.completed || (!d.started_event && *id == primary) { "COMPLETED" } else { "IN_PROGRESS" };
            listed.push(json!({
                "id": id,
                "status": if *id == primary { "PRIMARY" } else { "ACTIVE" },
                "taskDefinition": d.task_definition,
                "desiredCount": if *id == primary { desired } else { 0 },
                "pendingCount": pending,
                "runningCount": running,
                "failedTasks": 0,
                "createdAt": d.first_ms as f64 / 1000.0,
                "updatedAt": at_ms as f64 / 1000.0,
                "launchType": "FARGATE",
                "rolloutState": rollout,
            }));
        }
        json!({
            "services": [{
                "serviceArn": format!("{}/{}", self.cluster_arn.replace(":cluster/", ":service/"), self.service),
                "serviceName": self.service,
                "clusterArn": self.cluster_arn,
                "status": "ACTIVE",
                "desiredCount": desired,
                "runningCount": running_total,
                "pendingCount": 0,
                "launchType": "FARGATE",
                "deployments": listed,
            }],
            "failures": [],
        })
    }
}

/// The stand-in's state: the timeline, its clock, and the calls it answered.
#[derive(Debug)]
pub struct EcsStandin {
    pub timeline: Timeline,
    /// Event time at `wall_start`.
    pub start_ms: i64,
    pub wall_start: Instant,
    pub speed: f64,
    pub calls: AtomicU64,
}

impl EcsStandin {
    pub fn new(timeline: Timeline, start_ms: i64, speed: f64) -> Arc<Self> {
        Arc::new(Self { timeline, start_ms, wall_start: Instant::now(), speed, calls: AtomicU64::new(0) })
    }

    /// The event time now.
    pub fn now_ms(&self) -> i64 {
        self.start_ms + (self.wall_start.elapsed().as_secs_f64() * self.speed * 1000.0) as i64
    }
}

async fn handle(
    axum::extract::State(s): axum::extract::State<Arc<EcsStandin>>,
    headers: axum::http::HeaderMap,
) -> (axum::http::StatusCode, [(&'static str, &'static str); 1], String) {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let json = [("content-type", "application/x-amz-json-1.1")];
    if target != "AmazonEC2ContainerServiceV20141113.DescribeServices" {
        let body = json!({"__type": "UnknownOperationException", "message": format!("not served: {target}")});
        return (axum::http::StatusCode::BAD_REQUEST, json, body.to_string());
    }
    s.calls.fetch_add(1, Ordering::Relaxed);
    (axum::http::StatusCode::OK, json, s.timeline.describe_services(s.now_ms()).to_string())
}

/// Serves `DescribeServices` (awsJson1.1 on `POST /`) until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<EcsStandin>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route("/", axum::routing::post(handle)).with_state(state);
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolling() -> Timeline {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rolling/input.jsonl"),
        )
        .unwrap();
        Timeline::from_lines(&text.lines().map(str::to_owned).collect::<Vec<_>>())
    }

    fn at(s: &str) -> i64 {
        cutover_events::Timestamp::parse(s).unwrap().millis()
    }

    fn stable(v: &Value) -> bool {
        let s = &v["services"][0];
        s["deployments"].as_array().unwrap().len() == 1
            && s["deployments"][0]["runningCount"] == s["deployments"][0]["desiredCount"]
    }

    #[test]
    fn the_rolling_scenario_is_stable_before_and_after_but_not_during_the_deployment() {
        let t = rolling();
        assert_eq!(t.service, "storefront");
        let before = t.describe_services(at("2026-03-14T09:00:00Z"));
        assert!(stable(&before), "{before}");
        assert_eq!(before["services"][0]["deployments"][0]["id"], "ecs-svc/4231880795355584839");
        let during = t.describe_services(at("2026-03-14T09:31:00Z"));
        assert_eq!(during["services"][0]["deployments"].as_array().unwrap().len(), 2, "{during}");
        assert!(!stable(&during));
        assert_eq!(during["services"][0]["deployments"][0]["status"], "PRIMARY");
        // The old tasks stop at 09:33:11.9; from then on one deployment, both tasks running.
        assert!(!stable(&t.describe_services(at("2026-03-14T09:33:11.800Z"))));
        assert_eq!(t.stable_from(at("2026-03-14T09:30:00Z")), Some(at("2026-03-14T09:33:11.900Z")));
        let after = t.describe_services(at("2026-03-14T09:33:12Z"));
        assert!(stable(&after), "{after}");
        assert_eq!(after["services"][0]["deployments"][0]["rolloutState"], "IN_PROGRESS");
        let done = t.describe_services(at("2026-03-14T09:36:00Z"));
        assert_eq!(done["services"][0]["deployments"][0]["rolloutState"], "COMPLETED");
    }
}
