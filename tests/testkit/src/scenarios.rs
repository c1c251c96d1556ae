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
    // The pipeline scenarios with recorded API answers are not events of a morning.
    let skip =
        ["noise-and-malformed", "codedeploy-rollback", "pipeline-ecs-approval", "pipeline-cloudformation-linear"];
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
        pipeline_ecs_approval(),
        pipeline_cloudformation_linear(),
    ]
}

/// A reconciler answer as `serve` journals it (`{"cutover.observation": …}`, docs/config.md):
/// `replay` reads it back as the answer it was.
fn observation(kind: &str, body: Value) -> Value {
    json!({ "cutover.observation": { kind: body } })
}

/// A pipeline's deploy or approval action event: `(stage, action)` of `(pipeline, execution)`,
/// of kind `(owner, provider, category)`.
struct ActionEvent<'a> {
    run: (&'a str, &'a str),
    place: (&'a str, &'a str),
    kind: (&'a str, &'a str, &'a str),
}

impl ActionEvent<'_> {
    fn at(&self, fleet: &Fleet, ids: &mut Ids, at: Timestamp, state: &str, external_id: Option<&str>) -> Value {
        let shape = PipelineShape {
            pipeline: self.run.0,
            execution_id: self.run.1,
            state,
            stage: Some(self.place.0),
            action: Some(self.place.1),
            action_type: Some(self.kind),
            external_id,
            trigger: None,
        };
        fleet.pipeline(&ids.event_id(), at, &shape)
    }
}

/// Issue 14's first system: Source → Build → a manual approval → production by CodeDeploy
/// blue/green in three steps (a 10 % canary, 25 %, the rest), with the reconciler's answers
/// (the pipeline's structure, the deploy action's targets, the source revision, the approver,
/// the traffic weights) as the journal holds them.
fn pipeline_ecs_approval() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(900000));
    let (app, group, dep) = ("AppECS-prod-eu-checkout", "DgpECS-prod-eu-checkout", "d-CANARY3ST");
    let run = ("checkout-release", "3f9c2b1e-7a45-4d2e-9b0c-1e2f3a4b5c6d");
    let t = base().plus_millis(secs(7200));
    let at = |s: i64| t.plus_millis(secs(s));
    let approval = ("Approve", "ReleaseManager");
    let manual = ("AWS", "Manual", "Approval");
    let deploy = ("Production", "BlueGreen");
    let codedeploy = ("AWS", "CodeDeployToECS", "Deploy");
    let trigger = json!({"trigger-type": "Webhook", "trigger-detail": "arn:aws:codestar-connections:eu-west-1:123456789012:connection/1"});
    let start = PipelineShape {
        pipeline: run.0,
        execution_id: run.1,
        state: "STARTED",
        trigger: Some(trigger),
        ..PipelineShape::default()
    };
    let group_target = json!([{"deployment_group": {"application": app, "deployment_group": group}}]);
    let ev: Vec<Timed> = vec![
        (at(0), fleet.pipeline(&ids.event_id(), at(0), &start)),
        (
            at(1),
            observation(
                "pipeline_execution",
                json!({"execution_id": run.1, "revisions": [{
            "artifact": "SourceArtifact", "revision_id": "7636d59f3c461c0a8417dbc6371e2f4a5b6c7d8e",
            "summary": "Checkout: retry card authorisation once", "url": "https://github.com/acme/checkout/commit/7636d59f3c461c0a8417dbc6371e2f4a5b6c7d8e"}]}),
            ),
        ),
        (at(300), ActionEvent { run, place: approval, kind: manual }.at(&fleet, &mut ids, at(300), "STARTED", None)),
        (
            at(301),
            observation(
                "pipeline_structure",
                json!({"pipeline": run.0, "version": 3, "stages": [
                    {"name": "Source", "actions": [{"name": "Source", "category": "Source", "provider": "CodeStarSourceConnection", "run_order": 1}]},
                    {"name": "Build", "actions": [{"name": "Build", "category": "Build", "provider": "CodeBuild", "run_order": 1}]},
                    {"name": "Approve", "actions": [{"name": "ReleaseManager", "category": "Approval", "provider": "Manual", "run_order": 1}]},
                    {"name": "Production", "actions": [{"name": "BlueGreen", "category": "Deploy", "provider": "CodeDeployToECS", "run_order": 1, "targets": group_target}]}
                ]}),
            ),
        ),
        (at(900), ActionEvent { run, place: approval, kind: manual }.at(&fleet, &mut ids, at(900), "SUCCEEDED", None)),
        (
            at(901),
            observation(
                "approval",
                json!({"execution_id": run.1, "approved_by": "arn:aws:iam::123456789012:user/alice", "comment": "Canary dashboard is green"}),
            ),
        ),
        (at(905), ActionEvent { run, place: deploy, kind: codedeploy }.at(&fleet, &mut ids, at(905), "STARTED", None)),
        (
            at(906),
            observation(
                "pipeline_action",
                json!({"execution_id": run.1, "stage": deploy.0, "action": deploy.1, "targets": group_target}),
            ),
        ),
        (
            at(910),
            fleet.codedeploy(
                &ids.event_id(),
                at(910),
                &CodeDeployShape { app, group, deployment_id: dep, state: "START", instance: None },
            ),
        ),
        (
            at(1010),
            observation("traffic_weight", json!({"deployment_id": dep, "percent": 10.0, "at": at(1010).to_string()})),
        ),
        (
            at(1310),
            observation("traffic_weight", json!({"deployment_id": dep, "percent": 25.0, "at": at(1310).to_string()})),
        ),
        (
            at(1610),
            observation("traffic_weight", json!({"deployment_id": dep, "percent": 100.0, "at": at(1610).to_string()})),
        ),
        (
            at(1910),
            fleet.codedeploy(
                &ids.event_id(),
                at(1910),
                &CodeDeployShape { app, group, deployment_id: dep, state: "SUCCESS", instance: None },
            ),
        ),
        (
            at(1911),
            ActionEvent { run, place: deploy, kind: codedeploy }.at(&fleet, &mut ids, at(1911), "SUCCEEDED", Some(dep)),
        ),
    ];
    Scenario { name: "pipeline-ecs-approval", config: Some(PROD_CONFIG), lines: lines(ev) }
}

/// Issue 14's second system: a linear pipeline of CloudFormation stack updates, two
/// executions in flight. The older one waits for production's approval while the newer one
/// has already updated staging: the approval's message says, plainly, that approving it ships
/// the older revision.
fn pipeline_cloudformation_linear() -> Scenario {
    let (fleet, mut ids) = (Fleet::default(), Ids::from(910000));
    let pipeline = "storefront-linear";
    let (old, new) = ("aaaaaaaa-1111-4111-8111-111111111111", "bbbbbbbb-2222-4222-8222-222222222222");
    let t = base().plus_millis(secs(10800));
    let at = |s: i64| t.plus_millis(secs(s));
    let cfn = ("AWS", "CloudFormation", "Deploy");
    let staging = ("Staging", "UpdateStack");
    let staging_target = json!([{"ecs_service": {"cluster": "staging-eu", "service": "storefront"}}]);
    let mut ev: Vec<Timed> = Vec::new();
    for (exec, t0, rollout) in [(old, 0, "ecs-svc/8100000000000000001"), (new, 300, "ecs-svc/8100000000000000002")] {
        let start = PipelineShape { pipeline, execution_id: exec, state: "STARTED", ..PipelineShape::default() };
        ev.push((at(t0), fleet.pipeline(&ids.event_id(), at(t0), &start)));
        ev.push((
            at(t0 + 10),
            ActionEvent { run: (pipeline, exec), place: staging, kind: cfn }.at(
                &fleet,
                &mut ids,
                at(t0 + 10),
                "STARTED",
                None,
            ),
        ));
        ev.push((
            at(t0 + 11),
            observation(
                "pipeline_action",
                json!({"execution_id": exec, "stage": staging.0, "action": staging.1, "targets": staging_target}),
            ),
        ));
        for (dt, name) in [(20, "SERVICE_DEPLOYMENT_IN_PROGRESS"), (140, "SERVICE_DEPLOYMENT_COMPLETED")] {
            let shape = EcsDeploymentShape {
                cluster: "staging-eu",
                service: "storefront",
                event_name: name,
                deployment_id: rollout,
                reason: &format!("ECS deployment {rollout} {}.", if dt == 20 { "in progress" } else { "completed" }),
            };
            ev.push((at(t0 + dt), fleet.ecs_deployment(&ids.event_id(), at(t0 + dt), &shape)));
        }
        ev.push((
            at(t0 + 190),
            ActionEvent { run: (pipeline, exec), place: staging, kind: cfn }.at(
                &fleet,
                &mut ids,
                at(t0 + 190),
                "SUCCEEDED",
                None,
            ),
        ));
        let passed = PipelineShape {
            pipeline,
            execution_id: exec,
            state: "SUCCEEDED",
            stage: Some("Staging"),
            ..PipelineShape::default()
        };
        ev.push((at(t0 + 200), fleet.pipeline(&ids.event_id(), at(t0 + 200), &passed)));
    }
    ev.push((
        at(210),
        ActionEvent {
            run: (pipeline, old),
            place: ("ApproveProd", "ReleaseManager"),
            kind: ("AWS", "Manual", "Approval"),
        }
        .at(&fleet, &mut ids, at(210), "STARTED", None),
    ));
    ev.push((at(211), observation("pipeline_structure", json!({"pipeline": pipeline, "version": 3, "stages": [
        {"name": "Source", "actions": [{"name": "Source", "category": "Source", "provider": "CodeStarSourceConnection", "run_order": 1}]},
        {"name": "Staging", "actions": [{"name": "UpdateStack", "category": "Deploy", "provider": "CloudFormation", "run_order": 1, "targets": staging_target}]},
        {"name": "ApproveProd", "actions": [{"name": "ReleaseManager", "category": "Approval", "provider": "Manual", "run_order": 1}]},
        {"name": "Production", "actions": [{"name": "UpdateStack", "category": "Deploy", "provider": "CloudFormation", "run_order": 1,
            "targets": [{"ecs_service": {"cluster": "prod-eu", "service": "storefront"}}]}]}
    ]}))));
    Scenario { name: "pipeline-cloudformation-linear", config: Some(PROD_CONFIG), lines: lines(ev) }
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
