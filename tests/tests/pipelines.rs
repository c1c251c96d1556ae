//! Pipelines through `cutover serve`: an execution's ECS deploy action starts, the reconciler
//! asks a CodePipeline stand-in (pointed at with `AWS_ENDPOINT_URL_CODEPIPELINE`, the SDK's own
//! variable; every other client stays on the emulator) what it deploys and what the execution
//! carries, and the deployment of that service carries the execution from its first event: in
//! `detail.pipeline` of every emitted event and in its Slack message. The stand-in answers with
//! the recorded `ListActionExecutions` and `GetPipelineExecution` responses
//! (`services/cutover/fixtures/api/`), awsJson 1.1 on 127.0.0.1.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use common::{Moto, Service, Slack, Stack, eventually, temp_dir, write_config};
use cutover_e2e::rollout::Ids;
use cutover_e2e::shapes::{EcsDeploymentShape, Fleet, PipelineShape};
use cutover_events::Timestamp;
use serde_json::{Value, json};

const EXEC: &str = "3f9c2b1e-7a45-4d2e-9b0c-1e2f3a4b5c6d";

#[derive(Debug, Default)]
struct Calls {
    /// `(operation, request body)`, in order.
    seen: Vec<(String, Value)>,
    /// Answer every call with AccessDeniedException.
    deny: bool,
}

fn fixture(name: &str) -> String {
    let path = format!("{}/../services/cutover/fixtures/api/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn codepipeline(
    State(calls): State<Arc<Mutex<Calls>>>,
    headers: HeaderMap,
    body: String,
) -> (axum::http::StatusCode, [(&'static str, &'static str); 1], String) {
    let op = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut c = calls.lock().unwrap();
    c.seen.push((op.clone(), serde_json::from_str(&body).unwrap_or(Value::Null)));
    let json = [("content-type", "application/x-amz-json-1.1")];
    if c.deny {
        let body = json!({"__type": "AccessDeniedException", "message": "User is not authorized to perform: codepipeline:ListActionExecutions"});
        return (axum::http::StatusCode::BAD_REQUEST, json, body.to_string());
    }
    match op.as_str() {
        "CodePipeline_20150709.ListActionExecutions" => {
            (axum::http::StatusCode::OK, json, fixture("codepipeline.list-action-executions.ecs-deploy.json"))
        }
        "CodePipeline_20150709.GetPipelineExecution" => {
            (axum::http::StatusCode::OK, json, fixture("codepipeline.get-pipeline-execution.github-revision-url.json"))
        }
        _ => (
            axum::http::StatusCode::BAD_REQUEST,
            json,
            json!({"__type": "UnknownOperationException", "message": op}).to_string(),
        ),
    }
}

/// The execution's events: it starts (a webhook), its ECS deploy action starts 10 s later.
fn pipeline_start(fleet: &Fleet, ids: &mut Ids, t: Timestamp) -> Vec<String> {
    let trigger = json!({"trigger-type": "Webhook", "trigger-detail": "arn:aws:codestar-connections:eu-west-1:123456789012:connection/1"});
    let start = PipelineShape {
        pipeline: "checkout-release",
        execution_id: EXEC,
        state: "STARTED",
        trigger: Some(trigger),
        ..Default::default()
    };
    let action = PipelineShape {
        pipeline: "checkout-release",
        execution_id: EXEC,
        state: "STARTED",
        stage: Some("Production"),
        action: Some("Deploy"),
        action_type: Some(("AWS", "ECS", "Deploy")),
        ..Default::default()
    };
    vec![
        fleet.pipeline(&ids.event_id(), t, &start).to_string(),
        fleet.pipeline(&ids.event_id(), t.plus_millis(10_000), &action).to_string(),
    ]
}

fn ecs(fleet: &Fleet, ids: &mut Ids, t: Timestamp, event_name: &str) -> String {
    let shape = EcsDeploymentShape {
        cluster: "prod",
        service: "web",
        event_name,
        deployment_id: "ecs-svc/7001",
        reason: "ECS deployment ecs-svc/7001",
    };
    fleet.ecs_deployment(&ids.event_id(), t, &shape).to_string()
}

async fn start(deny: bool) -> (Moto, Stack, Slack, Arc<Mutex<Calls>>, Service, std::path::PathBuf) {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let calls = Arc::new(Mutex::new(Calls { deny, ..Calls::default() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/", axum::routing::post(codepipeline)).with_state(calls.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = temp_dir(if deny { "pipelines-denied" } else { "pipelines" });
    let config =
        write_config(&dir, &moto, &stack, &slack, "\n[reconciler]\ninterval_secs = 1.0\ncalls_per_second = 50.0\n");
    let service = Service::start_with_env(
        &config,
        &dir.join("cutover.log"),
        Some("xoxb-e2e-secret-token-value"),
        &[("AWS_ENDPOINT_URL_CODEPIPELINE", standin.as_str())],
    );
    (moto, stack, slack, calls, service, dir)
}

fn ops(calls: &Mutex<Calls>) -> Vec<String> {
    calls
        .lock()
        .unwrap()
        .seen
        .iter()
        .map(|(op, _)| op.trim_start_matches("CodePipeline_20150709.").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecs_deploy_actions_deployment_carries_its_execution_and_source_revision_from_its_first_event() {
    let (_moto, stack, slack, calls, service, _dir) = start(false).await;
    let (fleet, mut ids) = (Fleet::default(), Ids::default());
    let t = Timestamp::parse("2026-03-14T10:00:00Z").unwrap();
    for line in pipeline_start(&fleet, &mut ids, t) {
        stack.inject(&line).await;
    }
    // The reconciler asks what the action deploys, and once what the execution carries.
    let asked = eventually(30, async || {
        let o = ops(&calls);
        o.iter().any(|op| op == "ListActionExecutions") && o.iter().any(|op| op == "GetPipelineExecution")
    })
    .await;
    assert!(asked, "{:?}\n{}", ops(&calls), service.log_text());
    let list = calls.lock().unwrap().seen.iter().find(|(op, _)| op.ends_with("ListActionExecutions")).cloned().unwrap();
    assert_eq!(list.1["pipelineName"], "checkout-release");
    assert_eq!(list.1["filter"]["pipelineExecutionId"], EXEC, "asked about that execution only");
    // The answers reach the correlator before the deployment's first event.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    stack.inject(&ecs(&fleet, &mut ids, t.plus_millis(20_000), "SERVICE_DEPLOYMENT_IN_PROGRESS")).await;
    stack.inject(&ecs(&fleet, &mut ids, t.plus_millis(300_000), "SERVICE_DEPLOYMENT_COMPLETED")).await;
    let mut seen: Vec<Value> = Vec::new();
    let done = eventually(30, async || {
        seen.extend(stack.emitted_events().await);
        seen.iter().any(|e| e["detail-type"] == "Deployment Completed")
    })
    .await;
    assert!(done, "{seen:?}\n{}", service.log_text());
    for e in &seen {
        let p = &e["detail"]["pipeline"];
        assert_eq!(p["execution_id"], EXEC, "{} carries the execution: {e}", e["detail-type"]);
        assert_eq!(p["stage"], "Production");
        assert_eq!(p["source_revisions"][0]["revision_id"], "7636d59f3c461cEXAMPLE8417dbc6371", "{e}");
        assert_eq!(p["trigger_type"], "Webhook");
    }
    let started = seen.iter().find(|e| e["detail-type"] == "Deployment Started").expect("started");
    assert_eq!(started["detail"]["deployment_id"], "ecs-svc/7001");
    let last = eventually(10, async || {
        slack.state.messages().iter().any(|m| {
            m.thread_ts.is_none()
                && m.blocks
                    .as_ref()
                    .is_some_and(|b| b.to_string().contains("Updating the application for feature 12-4820"))
        })
    })
    .await;
    assert!(last, "the message names the change: {:?}", slack.state.messages());
    let message = slack.state.messages().into_iter().find(|m| m.thread_ts.is_none()).unwrap();
    let blocks = message.blocks.unwrap().to_string();
    assert!(blocks.contains("checkout-release `3f9c2b1e` · stage Production · Webhook"), "{blocks}");
    // Asked once each: the answers are not asked again.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let o = ops(&calls);
    assert_eq!(o.iter().filter(|op| *op == "GetPipelineExecution").count(), 1, "{o:?}");
    assert_eq!(o.iter().filter(|op| *op == "ListActionExecutions").count(), 1, "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_the_role_may_not_read_is_warned_of_once_and_its_deployment_goes_on_without_context() {
    let (_moto, stack, _slack, calls, service, _dir) = start(true).await;
    let (fleet, mut ids) = (Fleet::default(), Ids::default());
    let t = Timestamp::parse("2026-03-14T10:00:00Z").unwrap();
    for line in pipeline_start(&fleet, &mut ids, t) {
        stack.inject(&line).await;
    }
    let asked = eventually(30, async || ops(&calls).len() >= 2).await;
    assert!(asked, "{:?}", ops(&calls));
    stack.inject(&ecs(&fleet, &mut ids, t.plus_millis(20_000), "SERVICE_DEPLOYMENT_IN_PROGRESS")).await;
    stack.inject(&ecs(&fleet, &mut ids, t.plus_millis(300_000), "SERVICE_DEPLOYMENT_COMPLETED")).await;
    let mut seen: Vec<Value> = Vec::new();
    let done = eventually(30, async || {
        seen.extend(stack.emitted_events().await);
        seen.iter().any(|e| e["detail-type"] == "Deployment Completed")
    })
    .await;
    assert!(done, "{seen:?}\n{}", service.log_text());
    assert!(seen.iter().all(|e| e["detail"]["pipeline"].is_null()), "no context: {seen:?}");
    let log = service.log_text();
    let warnings =
        log.lines().filter(|l| l.contains("AccessDeniedException") && l.contains("checkout-release")).count();
    assert_eq!(warnings, 1, "one warning for the pipeline: {log}");
}
