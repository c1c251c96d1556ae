//! The recorded scenarios under `tests/scenarios/<name>/`: `input.jsonl` (one SQS body per
//! line, as AWS delivers them), an optional `config.toml`, and a hand-written
//! `expected.json`. `cargo run -p cutover-e2e --bin make-scenarios` rewrites the inputs from
//! the definitions here; a test checks that the files on disk match them.

use cutover_events::Timestamp;
use cutover_events::canonical::sort_keys;
use serde_json::{Value, json};

use crate::rollout::{Ids, Outcome, Release, Service, Timed};
use crate::shapes::{CodeDeployShape, EcsDeploymentShape, HookShape, TriggerShape};
use crate::shapes::{ECS_LIFECYCLE, Fleet, PipelineShape};

/// One scenario's input.
#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub config: Option<&'static str>,
    pub lines: Vec<String>,
}

const BASE: &str = "2026-03-14T09:30:00Z";

const PROD_CONFIG: &str = r#"# Production deployments go to their own channel and purge the storefront cache.
[slack]
channel = "deployments"

[[routes]]
cluster = "prod-*"
environment = "production"
channel = "deploys-prod"

[[routes]]
application = "AppECS-prod-*"
environment = "production"
channel = "deploys-prod"

[[routes]]
cluster = "staging-*"
environment = "staging"
channel = "deploys-staging"

[[invalidations]]
cluster = "prod-*"
service = "storefront"
distribution_id = "E2QWRUHAPOMQZL"
paths = ["/*"]

[[invalidations]]
cluster = "prod-*"
service = "payments"
distribution_id = "E1PAYMENTS0001"
paths = ["/checkout/*", "/api/payments/*"]

[[invalidations]]
cluster = "prod-*"
service = "api"
distribution_id = "E3APIPROD00001"
paths = ["/v1/*"]
"#;

fn base() -> Timestamp {
    Timestamp::parse(BASE).unwrap_or_default()
}

fn secs(s: i64) -> i64 {
    s * 1000
}

fn lines(mut events: Vec<Timed>) -> Vec<String> {
    // AWS time order; equal times keep their order (a stable sort).
    events.sort_by_key(|(t, _)| *t);
    events.into_iter().map(|(_, v)| sort_keys(v).to_string()).collect()
}

fn ecr(name: &str, tag: &str) -> String {
    format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{name}:{tag}")
}

fn td(name: &str, rev: u32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{name}:{rev}")
}

/// The README's demo: a morning of production deploys (rolling, a circuit-breaker rollback,
/// CodeDeploy blue/green via SNS and via a pipeline, two clusters), one stream, unique ids.
pub fn demo() -> Scenario {
    let skip = ["noise-and-malformed", "codedeploy-rollback"];
    let lines = all().into_iter().filter(|s| !skip.contains(&s.name)).flat_map(|s| s.lines).collect();
    Scenario { name: "demo", config: Some(PROD_CONFIG), lines }
}

/// Every scenario, in a stable order.
pub fn all() -> Vec<Scenario> {
    vec![
        rolling(),
        rolling_circuit_breaker(),
        codedeploy_sns(),
        codedeploy_eventbridge(),
        codedeploy_rollback(),
        pipeline_linked(),
        noise_and_malformed(),
        two_clusters_same_service(),
        ecs_native_hooks(),
    ]
}

fn rolling() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(100000));
    let mut svc = Service { cluster: "prod-eu".into(), name: "storefront".into(), running: Vec::new() };
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/4231880795355584839",
            task_definition: &td("storefront", 41),
            image: &ecr("storefront", "v122"),
            count: 2,
            at: base().plus_millis(-secs(7200)),
        },
    );
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/5211643699352071000",
            task_definition: &td("storefront", 42),
            image: &ecr("storefront", "v123"),
            count: 2,
            at: base(),
        },
        Outcome::Completes,
        "",
    ));
    Scenario { name: "rolling", config: Some(PROD_CONFIG), lines: lines(ev) }
}

fn rolling_circuit_breaker() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(200000));
    let mut svc = Service { cluster: "prod-eu".into(), name: "payments".into(), running: Vec::new() };
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/1111111111111111111",
            task_definition: &td("payments", 7),
            image: &ecr("payments", "2.3.0"),
            count: 2,
            at: base().plus_millis(-secs(3600)),
        },
    );
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/2222222222222222222",
            task_definition: &td("payments", 8),
            image: &ecr("payments", "2.4.0"),
            count: 2,
            at: base(),
        },
        Outcome::CircuitBreaker,
        "ecs-svc/3333333333333333333",
    ));
    Scenario { name: "rolling-circuit-breaker", config: Some(PROD_CONFIG), lines: lines(ev) }
}

/// Lifecycle events from `t`, 20 s each, `(name, status, start, end)`; `fail_at` fails that one.
fn lifecycle(t: Timestamp, fail_at: Option<usize>) -> Vec<(&'static str, &'static str, Timestamp, Timestamp)> {
    ECS_LIFECYCLE
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let start = t.plus_millis(secs(20) * i as i64);
            let status = match fail_at {
                Some(f) if i == f => "Failed",
                Some(f) if i > f => "Skipped",
                _ => "Succeeded",
            };
            (*name, status, start, start.plus_millis(secs(19)))
        })
        .collect()
}

fn codedeploy_sns() -> Scenario {
    let fleet = Fleet::default();
    let (app, group, dep) = ("AppECS-prod-eu-checkout", "DgpECS-prod-eu-checkout", "d-7QHX0M2PB");
    let t = base();
    let topic = "codedeploy-checkout";
    let created = fleet.trigger(&TriggerShape {
        app,
        group,
        deployment_id: dep,
        status: "CREATED",
        created: t,
        completed: None,
        extra: &[],
    });
    let in_progress = fleet.trigger(&TriggerShape {
        app,
        group,
        deployment_id: dep,
        status: "IN_PROGRESS",
        created: t,
        completed: None,
        extra: &[],
    });
    let instance = fleet.instance_trigger(
        dep,
        "prod-eu:checkout",
        "Succeeded",
        t.plus_millis(secs(170)),
        &lifecycle(t.plus_millis(secs(10)), None),
    );
    let done = t.plus_millis(secs(480));
    let succeeded = fleet.trigger(&TriggerShape {
        app,
        group,
        deployment_id: dep,
        status: "SUCCEEDED",
        created: t,
        completed: Some(done),
        extra: &[],
    });
    let subject = |s: &str| format!("{s}: AWS CodeDeploy {dep} in eu-west-1 to {app}");
    let ev = vec![
        (
            t,
            fleet.sns(
                "8e47610a-4eb4-5514-a42d-3ac878a21958",
                topic,
                Some(&subject("CREATED")),
                &created,
                t.plus_millis(1_039),
            ),
        ),
        (
            t,
            fleet.sns(
                "1e1b0a5f-9a6b-5124-a74b-519cbe771f01",
                topic,
                Some(&subject("IN_PROGRESS")),
                &in_progress,
                t.plus_millis(1_540),
            ),
        ),
        // SNS retried the CREATED notification: same MessageId.
        (
            t,
            fleet.sns(
                "8e47610a-4eb4-5514-a42d-3ac878a21958",
                topic,
                Some(&subject("CREATED")),
                &created,
                t.plus_millis(1_039),
            ),
        ),
        (
            t.plus_millis(secs(171)),
            fleet.sns("c3b0e9c2-7d9e-5d55-9a1e-61b1a7c0f0aa", topic, None, &instance, t.plus_millis(secs(171))),
        ),
        (
            done,
            fleet.sns(
                "c9527cbc-683e-5463-bae7-277e5017ff1d",
                topic,
                Some(&subject("SUCCEEDED")),
                &succeeded,
                done.plus_millis(312),
            ),
        ),
    ];
    Scenario { name: "codedeploy-sns", config: Some(PROD_CONFIG), lines: lines(ev) }
}

fn codedeploy_eventbridge() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(300000));
    let (app, group, dep) = ("AppECS-prod-eu-search", "DgpECS-prod-eu-search", "d-K2V9XW41C");
    let t = base();
    let mut e = |at: i64, state: &str, instance: Option<&str>| {
        let at = t.plus_millis(secs(at));
        (
            at,
            fleet.codedeploy(&ids.event_id(), at, &CodeDeployShape { app, group, deployment_id: dep, state, instance }),
        )
    };
    let ev = vec![
        e(0, "START", None),
        e(95, "READY", None),
        // Canary 10 % then the rest: the target succeeds when AllowTraffic has moved it all.
        e(431, "SUCCESS", Some("prod-eu:search")),
        e(731, "SUCCESS", None),
    ];
    Scenario { name: "codedeploy-eventbridge", config: Some(PROD_CONFIG), lines: lines(ev) }
}

fn codedeploy_rollback() -> Scenario {
    let fleet = Fleet::default();
    let (app, group) = ("AppECS-prod-eu-orders", "DgpECS-prod-eu-orders");
    let (main, rollback) = ("d-MAIN4XQ2Z", "d-RBCK7TT0P");
    let t = base();
    let failed_at = t.plus_millis(secs(452));
    let r0 = failed_at.plus_millis(1_000);
    let r_done = r0.plus_millis(secs(3));
    let error = json!(
        "{\"ErrorCode\":\"ECS_UPDATE_ERROR\",\"ErrorMessage\":\"CodeDeploy detected that the replacement task set is unhealthy.\"}"
    );
    let rb_info = json!(format!(
        "{{\"RollbackMessage\":\"Deployment {rollback} is triggered to roll back deployment {main}.\",\"RollbackTriggeringDeploymentId\":\"{main}\"}}"
    ));
    let ev: Vec<Timed> = vec![
        (
            t,
            fleet.trigger(&TriggerShape {
                app,
                group,
                deployment_id: main,
                status: "CREATED",
                created: t,
                completed: None,
                extra: &[],
            }),
        ),
        (
            t.plus_millis(1),
            fleet.trigger(&TriggerShape {
                app,
                group,
                deployment_id: main,
                status: "IN_PROGRESS",
                created: t,
                completed: None,
                extra: &[],
            }),
        ),
        (
            failed_at.plus_millis(-500),
            fleet.instance_trigger(
                main,
                "prod-eu:orders",
                "Failed",
                failed_at.plus_millis(-500),
                &lifecycle(t.plus_millis(secs(5)), Some(5)),
            ),
        ),
        (
            failed_at,
            fleet.trigger(&TriggerShape {
                app,
                group,
                deployment_id: main,
                status: "FAILED",
                created: t,
                completed: Some(failed_at),
                extra: &[("errorInformation", error), ("rollbackInformation", json!("{}"))],
            }),
        ),
        (
            r0,
            fleet.trigger(&TriggerShape {
                app,
                group,
                deployment_id: rollback,
                status: "CREATED",
                created: r0,
                completed: None,
                extra: &[("rollbackInformation", rb_info.clone())],
            }),
        ),
        (
            r0.plus_millis(550),
            fleet.trigger(&TriggerShape {
                app,
                group,
                deployment_id: rollback,
                status: "IN_PROGRESS",
                created: r0,
                completed: None,
                extra: &[("rollbackInformation", rb_info.clone())],
            }),
        ),
        (
            r_done,
            fleet.trigger(&TriggerShape {
                app,
                group,
                deployment_id: rollback,
                status: "SUCCEEDED",
                created: r0,
                completed: Some(r_done),
                extra: &[("rollbackInformation", rb_info)],
            }),
        ),
    ];
    // Raw message delivery: the SQS body is the trigger JSON itself.
    Scenario { name: "codedeploy-rollback", config: Some(PROD_CONFIG), lines: lines(ev) }
}

fn pipeline_linked() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(400000));
    let (app, group, dep) = ("AppECS-prod-eu-storefront", "DgpECS-prod-eu-storefront", "d-C3XYEM1QF");
    let (pipeline, exec) = ("storefront-release", "e17b5773-cc0d-4db2-9ad7-594c73888de8");
    let t = base();
    let trigger = json!({
        "trigger-type": "CodeStarSourceConnection",
        "trigger-detail": "Mary Major",
        "author-display-name": "Mary Major",
        "full-repository-name": "acme/storefront",
        "provider-type": "GitHub",
        "commit-id": "9f2c1e7ab4d05c36e8f1a2b3c4d5e6f708192a3b",
        "branch-name": "main",
        "commit-message": "Checkout: retry card authorisation once"
    });
    let p = crate::shapes::pipeline_steps(pipeline, exec);
    let mut ev: Vec<Timed> = Vec::new();
    let mut push = |at: i64, v: &dyn Fn(&mut Ids, Timestamp) -> Value| {
        let at = t.plus_millis(secs(at));
        ev.push((at, v(&mut ids, at)));
    };
    push(0, &|ids, at| {
        fleet.pipeline(
            &ids.event_id(),
            at,
            &PipelineShape { trigger: Some(trigger.clone()), ..p("STARTED", None, None, None, None) },
        )
    });
    push(2, &|ids, at| {
        fleet.pipeline(
            &ids.event_id(),
            at,
            &p("SUCCEEDED", Some("Source"), Some("Source"), Some(("AWS", "CodeStarSourceConnection", "Source")), None),
        )
    });
    push(3, &|ids, at| {
        fleet.pipeline(
            &ids.event_id(),
            at,
            &p("STARTED", Some("Approve"), Some("ReleaseManager"), Some(("AWS", "Manual", "Approval")), None),
        )
    });
    push(1200, &|ids, at| {
        fleet.pipeline(
            &ids.event_id(),
            at,
            &p("SUCCEEDED", Some("Approve"), Some("ReleaseManager"), Some(("AWS", "Manual", "Approval")), None),
        )
    });
    push(1201, &|ids, at| {
        fleet.pipeline(
            &ids.event_id(),
            at,
            &p("STARTED", Some("Deploy"), Some("BlueGreen"), Some(("AWS", "CodeDeployToECS", "Deploy")), None),
        )
    });
    push(1204, &|ids, at| {
        fleet.codedeploy(
            &ids.event_id(),
            at,
            &CodeDeployShape { app, group, deployment_id: dep, state: "START", instance: None },
        )
    });
    push(1530, &|ids, at| {
        fleet.codedeploy(
            &ids.event_id(),
            at,
            &CodeDeployShape { app, group, deployment_id: dep, state: "SUCCESS", instance: Some("prod-eu:storefront") },
        )
    });
    push(1830, &|ids, at| {
        fleet.codedeploy(
            &ids.event_id(),
            at,
            &CodeDeployShape { app, group, deployment_id: dep, state: "SUCCESS", instance: None },
        )
    });
    push(1831, &|ids, at| {
        fleet.pipeline(
            &ids.event_id(),
            at,
            &p("SUCCEEDED", Some("Deploy"), Some("BlueGreen"), Some(("AWS", "CodeDeployToECS", "Deploy")), Some(dep)),
        )
    });
    push(1832, &|ids, at| fleet.pipeline(&ids.event_id(), at, &p("SUCCEEDED", None, None, None, None)));
    Scenario { name: "pipeline-linked", config: Some(PROD_CONFIG), lines: lines(ev) }
}

fn noise_and_malformed() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(500000));
    let mut svc = Service { cluster: "prod-eu".into(), name: "catalog".into(), running: Vec::new() };
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/7000000000000000001",
            task_definition: &td("catalog", 3),
            image: &ecr("catalog", "1.0.0"),
            count: 1,
            at: base().plus_millis(-secs(600)),
        },
    );
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/7000000000000000002",
            task_definition: &td("catalog", 4),
            image: &ecr("catalog", "1.1.0"),
            count: 1,
            at: base(),
        },
        Outcome::Completes,
        "",
    ));
    let mut out: Vec<String> = Vec::new();
    for (i, line) in lines(ev).into_iter().enumerate() {
        out.push(line.clone());
        // At-least-once delivery: every message arrives twice.
        out.push(line);
        if i == 0 {
            out.push(String::new());
            out.push("not json at all".into());
            out.push("[1, 2, 3]".into());
            out.push(r#"{"hello": "world"}"#.into());
        }
    }
    let t = base();
    let mut steady = fleet.service_action(&ids.event_id(), t, "prod-eu", "catalog", "SERVICE_STEADY_STATE");
    out.insert(6, sort_keys(steady.clone()).to_string());
    steady["id"] = json!(ids.event_id());
    out.insert(12, sort_keys(steady.clone()).to_string());
    let mut run_task = fleet.task(
        &ids.event_id(),
        t,
        &crate::shapes::TaskShape {
            cluster: "prod-eu",
            service: "catalog",
            task_id: "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
            started_by: "",
            task_definition: &td("catalog-migrate", 2),
            image: &ecr("catalog", "1.1.0"),
            last_status: "PROVISIONING",
            desired_status: "RUNNING",
            version: 1,
            created_at: t,
            stop: None,
            exit_code: None,
            seed: 99,
        },
    );
    run_task["detail"]["group"] = json!("family:catalog-migrate");
    run_task["detail"].as_object_mut().map(|d| d.remove("startedBy"));
    out.insert(9, sort_keys(run_task.clone()).to_string());
    let mut wrong_type = run_task.clone();
    wrong_type["id"] = json!(ids.event_id());
    wrong_type["detail"]["version"] = json!("six");
    out.insert(14, sort_keys(wrong_type.clone()).to_string());
    let plain = fleet.sns(
        "63a3f6b6-d533-4a47-aef9-fcf5cf758c76",
        "MyTopic",
        Some("Testing publish to subscribed queues"),
        &json!(null),
        t,
    );
    let mut plain_text = plain;
    plain_text["Message"] = json!("Hello world!");
    out.insert(16, sort_keys(plain_text.clone()).to_string());
    let s3 = json!({"version": "0", "id": ids.event_id(), "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2026-03-14T09:30:05Z", "region": "eu-west-1", "resources": ["arn:aws:s3:::assets"], "detail": {"bucket": {"name": "assets"}}});
    out.insert(18, sort_keys(s3.clone()).to_string());
    let truncated = out[20].chars().take(120).collect::<String>();
    out.insert(21, truncated);
    out.push(String::new());
    Scenario { name: "noise-and-malformed", config: None, lines: out }
}

fn two_clusters_same_service() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(600000));
    let mut prod = Service { cluster: "prod-eu".into(), name: "api".into(), running: Vec::new() };
    let mut staging = Service { cluster: "staging-eu".into(), name: "api".into(), running: Vec::new() };
    let mut ev = prod.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/9100000000000000001",
            task_definition: &td("api", 20),
            image: &ecr("api", "5.1.0"),
            count: 3,
            at: base().plus_millis(-secs(5000)),
        },
    );
    ev.extend(staging.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/9200000000000000001",
            task_definition: &td("api-staging", 30),
            image: &ecr("api", "5.1.0"),
            count: 1,
            at: base().plus_millis(-secs(4000)),
        },
    ));
    ev.extend(staging.rolling(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/9200000000000000002",
            task_definition: &td("api-staging", 31),
            image: &ecr("api", "5.2.0-rc1"),
            count: 1,
            at: base(),
        },
        Outcome::Completes,
        "",
    ));
    ev.extend(prod.rolling(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/9100000000000000002",
            task_definition: &td("api", 21),
            image: &ecr("api", "5.2.0"),
            count: 3,
            at: base().plus_millis(secs(60)),
        },
        Outcome::Completes,
        "",
    ));
    Scenario { name: "two-clusters-same-service", config: Some(PROD_CONFIG), lines: lines(ev) }
}

fn ecs_native_hooks() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(700000));
    let (cluster, service, dep) = ("prod-eu", "gateway", "EZe5RNVLH6PPzHXINuP28");
    let t = base();
    let mut h = |at: i64, name: &str, stage: &str| {
        let at = t.plus_millis(secs(at));
        (at, fleet.hook(&ids.event_id(), at, &HookShape { cluster, service, deployment: dep, event_name: name, stage }))
    };
    let mut ev = vec![
        h(40, "HOOK_AWAITING_ACTION", "POST_SCALE_UP"),
        h(65, "HOOK_SUCCEEDED", "POST_SCALE_UP"),
        h(120, "HOOK_AWAITING_ACTION", "POST_TEST_TRAFFIC_SHIFT"),
        h(300, "HOOK_SUCCEEDED", "POST_TEST_TRAFFIC_SHIFT"),
        h(362, "HOOK_IN_PROGRESS", "POST_PRODUCTION_TRAFFIC_SHIFT"),
        h(363, "HOOK_SUCCEEDED", "POST_PRODUCTION_TRAFFIC_SHIFT"),
    ];
    let done = t.plus_millis(secs(1300));
    ev.push((
        done,
        fleet.ecs_deployment(
            &ids.event_id(),
            done,
            &EcsDeploymentShape {
                cluster,
                service,
                event_name: "SERVICE_DEPLOYMENT_COMPLETED",
                deployment_id: "ecs-svc/8800000000000000001",
                reason: "ECS deployment ecs-svc/8800000000000000001 completed.",
            },
        ),
    ));
    Scenario { name: "ecs-native-hooks", config: Some(PROD_CONFIG), lines: lines(ev) }
}
