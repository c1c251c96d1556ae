//! The correlator on arbitrary event sequences. The input picks recorded events (every line of
//! `tests/scenarios/*/input.jsonl`, in AWS's shapes), mutates the fields the correlator reads
//! (status, event name, time, deployment and task ids, versions), interleaves reconciler
//! traffic weights and clock jumps, and feeds them in any order. Whatever the sequence, the
//! lifecycle invariants hold (`cutover_correlator::invariants`): each lifecycle event at most
//! once per deployment, Traffic Shifted at most once per percentage, Cut Over never after a
//! terminal event; and nothing panics. The recorded events span 2026-03-14 (their times shift
//! by up to about 21 minutes here), well within the retention.
#![no_main]

use std::sync::LazyLock;

use cutover_correlator::invariants;
use cutover_correlator::routing::{Glob, Route};
use cutover_correlator::{
    Action, CodeDeployChange, CodeDeployFact, Correlator, EcsDeploymentChange, ImageLabels, Input, NativeStatus, Observation, Routing,
};
use cutover_events::Timestamp;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const SCENARIOS: [&str; 10] = [
    include_str!("../../event-schemas/fixtures/annotation.github-actions.json"),
    include_str!("../../tests/scenarios/rolling/input.jsonl"),
    include_str!("../../tests/scenarios/rolling-circuit-breaker/input.jsonl"),
    include_str!("../../tests/scenarios/codedeploy-sns/input.jsonl"),
    include_str!("../../tests/scenarios/codedeploy-eventbridge/input.jsonl"),
    include_str!("../../tests/scenarios/codedeploy-rollback/input.jsonl"),
    include_str!("../../tests/scenarios/ecs-native-hooks/input.jsonl"),
    include_str!("../../tests/scenarios/pipeline-linked/input.jsonl"),
    include_str!("../../tests/scenarios/two-clusters-same-service/input.jsonl"),
    include_str!("../../tests/scenarios/noise-and-malformed/input.jsonl"),
];

const STATUSES: [&str; 12] = [
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
    "SUCCEEDED",
    "FAILED",
    "IN_PROGRESS",
    "STOPPED",
];
const EVENT_NAMES: [&str; 6] = [
    "SERVICE_DEPLOYMENT_IN_PROGRESS",
    "SERVICE_DEPLOYMENT_COMPLETED",
    "SERVICE_DEPLOYMENT_FAILED",
    "CodeDeploy Deployment State-change Notification",
    "START",
    "SUCCESS",
];

/// The recorded events, parsed once per process.
static CORPUS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    SCENARIOS.iter().flat_map(|s| s.lines()).filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect()
});

/// Rewrites the string at `path` (if there is one) with `f`.
fn edit(v: &mut Value, path: &[&str], f: impl FnOnce(&str) -> String) {
    let mut at = v;
    for key in path {
        match at.get_mut(*key) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(s) = at.as_str() {
        *at = Value::from(f(s));
    }
}

fn shift_time(s: &str, delta_ms: i64) -> String {
    match Timestamp::parse(s) {
        Ok(t) => Timestamp(t.millis().saturating_add(delta_ms)).to_string(),
        Err(_) => s.to_owned(),
    }
}

fuzz_target!(|data: &[u8]| {
    let corpus = &*CORPUS;
    // A route on tags, so held posts are exercised too.
    let mut routing = Routing::default();
    if let Ok(prod) = Glob::new("prod") {
        routing.routes.push(Route {
            tags: [("environment".to_owned(), prod)].into(),
            channel: Some("prod-deploys".into()),
            ..Route::default()
        });
    }
    // The default retention (7 days of event time). The invariants hold within it: a
    // deployment silent for longer is forgotten by design (DESIGN.md, "Deduplication keys")
    // and a later event starts a new lifecycle, so the clock jumps stay within 3 days.
    let mut correlator = Correlator::new(routing);
    let mut actions: Vec<Action> = Vec::new();
    let start = 1_773_500_000_000i64;
    let mut now = start;
    for op in data.chunks(4) {
        let [kind, a, b, c] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0), *op.get(3).unwrap_or(&0)];
        let input = match kind % 8 {
            // A clock jump: retention and timeouts run.
            0 => {
                now = (now + i64::from(a) * 60_000).min(start + 3 * 86_400_000);
                actions.extend(correlator.handle_timeout(Timestamp(now)));
                continue;
            }
            // A reconciler traffic weight for a deployment named in the corpus.
            1 => {
                let e = &corpus[usize::from(a) % corpus.len()];
                let id = e["detail"]["deploymentId"]
                    .as_str()
                    .or_else(|| e["detail"]["startedBy"].as_str())
                    .unwrap_or("d-UNKNOWN")
                    .to_owned();
                Input::Observed(Observation::TrafficWeight {
                    deployment_id: id,
                    percent: f64::from(b % 101),
                    at: Timestamp(now - i64::from(c) * 1000),
                })
            }
            // Another reconciler answer (GetDeployment / GetDeploymentTarget, DescribeServices,
            // DescribeServiceDeployments) about a deployment named in the corpus.
            2 => {
                let e = &corpus[usize::from(a) % corpus.len()];
                let d = &e["detail"];
                let id = d["serviceDeploymentArn"]
                    .as_str()
                    .or_else(|| d["deploymentId"].as_str())
                    .or_else(|| d["startedBy"].as_str())
                    .unwrap_or("d-UNKNOWN")
                    .to_owned();
                let at = Timestamp(now - i64::from(c) * 1000);
                Input::Observed(match b % 14 {
                    10 => {
                        Observation::RollbackWindow { deployment_id: id, until: Timestamp(now + i64::from(c) * 60_000) }
                    }
                    11 => Observation::ServiceTags {
                        cluster: "prod-eu".into(),
                        service: d["group"]
                            .as_str()
                            .and_then(|g| g.strip_prefix("service:"))
                            .unwrap_or("storefront")
                            .into(),
                        tags: [("environment".to_owned(), if c % 2 == 0 { "prod" } else { "staging" }.to_owned())]
                            .into(),
                        // With and without the ARN (journal entries written before it was kept).
                        service_arn: (c % 3 == 0).then(|| {
                            format!(
                                "arn:aws:ecs:eu-west-1:123456789012:service/prod-eu/{}",
                                d["group"].as_str().and_then(|g| g.strip_prefix("service:")).unwrap_or("storefront")
                            )
                        }),
                    },
                    12 => Observation::TaskDefinitionLabels {
                        task_definition: d["taskDefinitionArn"].as_str().unwrap_or("storefront:42").into(),
                        labels: ImageLabels { revision: Some(format!("{c:040x}")), ..ImageLabels::default() },
                    },
                    13 => Observation::InvalidationDone {
                        deployment_id: id,
                        distribution_id: "E2QWRUHAPOMQZL".into(),
                        invalidation_id: format!("I{c}"),
                        created_at: at,
                        completed_by: Timestamp(now),
                    },
                    0..=4 => Observation::CodeDeploy(CodeDeployFact {
                        deployment_id: id,
                        application: None,
                        deployment_group: None,
                        target: (b % 2 == 0).then(|| ("prod-eu".to_owned(), "checkout".to_owned())),
                        rollback_of: None,
                        change: [
                            CodeDeployChange::Started,
                            CodeDeployChange::TargetCutOver,
                            CodeDeployChange::Succeeded,
                            CodeDeployChange::Failed { reason: None },
                            CodeDeployChange::Stopped,
                        ][usize::from(b % 5)]
                        .clone(),
                        at,
                    }),
                    5 | 6 => Observation::EcsRollout {
                        deployment_id: id,
                        change: if b % 2 == 0 {
                            EcsDeploymentChange::Completed
                        } else {
                            EcsDeploymentChange::Failed { reason: None }
                        },
                        at,
                    },
                    _ => Observation::ServiceDeployment {
                        deployment_arn: id,
                        past_production_shift: c % 2 == 0,
                        production_weight: Some(f64::from(c % 101)),
                        status: [
                            NativeStatus::InProgress,
                            NativeStatus::Successful,
                            NativeStatus::Failed { reason: "rolled back".into() },
                        ][usize::from(b % 3)]
                        .clone(),
                        at,
                    },
                })
            }
            // A recorded event, maybe mutated.
            _ => {
                let index = (usize::from(a) << 8 | usize::from(b)) % corpus.len();
                let mut e = corpus[index].clone();
                match c % 8 {
                    0 => edit(&mut e, &["detail", "lastStatus"], |_| STATUSES[usize::from(b) % STATUSES.len()].into()),
                    1 => edit(&mut e, &["detail", "eventName"], |_| {
                        EVENT_NAMES[usize::from(b) % EVENT_NAMES.len()].into()
                    }),
                    2 => edit(&mut e, &["detail", "updatedAt"], |s| shift_time(s, (i64::from(b) - 128) * 10_000)),
                    3 => edit(&mut e, &["time"], |s| shift_time(s, (i64::from(b) - 128) * 10_000)),
                    4 => edit(&mut e, &["detail", "startedBy"], |s| format!("{s}{}", b % 3)),
                    5 => edit(&mut e, &["detail", "taskArn"], |s| format!("{s}{}", b % 3)),
                    6 => edit(&mut e, &["id"], |s| format!("{s}-{b}")),
                    _ => {}
                }
                if std::env::var_os("CUTOVER_FUZZ_TRACE").is_some() {
                    eprintln!("input: {e}");
                }
                match cutover_events::parse_body(&e.to_string()) {
                    Ok(m) => Input::Message(Box::new(m)),
                    Err(_) => continue,
                }
            }
        };
        now += 250;
        let decided = correlator.handle(Timestamp(now), input);
        if std::env::var_os("CUTOVER_FUZZ_TRACE").is_some() {
            for a in invariants::steps(&decided) {
                eprintln!("  decided: {} {}", a.detail_type, a.deployment_id);
            }
        }
        actions.extend(decided);
    }
    if let Err(broken) = invariants::check(invariants::steps(&actions)) {
        panic!("{broken}");
    }
});
