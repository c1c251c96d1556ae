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
        "CodePipeline_20150709.GetPipeline" => {
            (axum::http::StatusCode::OK, json, fixture("codepipeline.get-pipeline.ecs-with-approval.json"))
        }
        "CodePipeline_20150709.GetPipelineExecution" => {
            (axum::http::StatusCode::OK, json, fixture("codepipeline.get-pipeline-execution.github-revision-url.json"))
        }
        "CodePipeline_20150709.PutApprovalResult" => {
            (axum::http::StatusCode::OK, json, fixture("codepipeline.put-approval-result.json"))
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
    start_with(deny, "").await
}

async fn start_with(deny: bool, routes: &str) -> (Moto, Stack, Slack, Arc<Mutex<Calls>>, Service, std::path::PathBuf) {
    let (moto, stack, slack, calls, service, dir, _) = start_acting(deny, routes, &[]).await;
    (moto, stack, slack, calls, service, dir)
}

/// As [`start_with`], with `env` for `serve` and `[http] listen` on the port returned.
async fn start_acting(
    deny: bool,
    routes: &str,
    env: &[(&str, &str)],
) -> (Moto, Stack, Slack, Arc<Mutex<Calls>>, Service, std::path::PathBuf, u16) {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let calls = Arc::new(Mutex::new(Calls { deny, ..Calls::default() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/", axum::routing::post(codepipeline)).with_state(calls.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = temp_dir(if deny {
        "pipelines-denied"
    } else if routes.is_empty() {
        "pipelines"
    } else if env.is_empty() {
        "pipelines-approval"
    } else {
        "pipelines-acting"
    });
    let extra = format!("\n[reconciler]\ninterval_secs = 1.0\ncalls_per_second = 50.0\n{routes}");
    let config = write_config(&dir, &moto, &stack, &slack, &extra);
    let port = common::health_on_free_port(&config);
    let mut env = env.to_vec();
    env.push(("AWS_ENDPOINT_URL_CODEPIPELINE", standin.as_str()));
    let service = Service::start_with_env(&config, &dir.join("cutover.log"), Some("xoxb-e2e-secret-token-value"), &env);
    (moto, stack, slack, calls, service, dir, port)
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

fn approval_event(fleet: &Fleet, ids: &mut Ids, t: Timestamp, exec: &'static str, state: &'static str) -> String {
    let shape = PipelineShape {
        pipeline: "checkout-release",
        execution_id: exec,
        state,
        stage: Some("Approve"),
        action: Some("ReleaseManager"),
        action_type: Some(("AWS", "Manual", "Approval")),
        ..Default::default()
    };
    fleet.pipeline(&ids.event_id(), t, &shape).to_string()
}

/// The approval's own message (its metadata names an `approval/…` id), as the stand-in has it.
fn approval_message(slack: &Slack) -> Option<slack_standin::Message> {
    slack.state.messages().into_iter().find(|m| {
        m.thread_ts.is_none()
            && m.metadata
                .as_ref()
                .and_then(|md| md["event_payload"]["deployment_id"].as_str())
                .is_some_and(|d| d.starts_with("approval/"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_waiting_is_posted_where_production_is_and_warns_when_a_newer_execution_queues_behind_it() {
    let routes = "\n[[routes]]\ncluster = \"prod\"\nenvironment = \"production\"\nchannel = \"deploys-prod\"\n";
    let (_moto, stack, slack, calls, service, _dir) = start_with(false, routes).await;
    let (fleet, mut ids) = (Fleet::default(), Ids::default());
    let t = Timestamp::parse("2026-03-14T10:00:00Z").unwrap();
    let start = |exec: &'static str, ids: &mut Ids, at: Timestamp| {
        let shape =
            PipelineShape { pipeline: "checkout-release", execution_id: exec, state: "STARTED", ..Default::default() };
        fleet.pipeline(&ids.event_id(), at, &shape).to_string()
    };
    stack.inject(&start(EXEC, &mut ids, t)).await;
    stack.inject(&approval_event(&fleet, &mut ids, t.plus_millis(60_000), EXEC, "STARTED")).await;
    let approval_post = || approval_message(&slack);
    let posted = eventually(30, async || approval_post().is_some()).await;
    assert!(posted, "{:?}\n{}", ops(&calls), service.log_text());
    assert!(ops(&calls).iter().any(|op| op == "GetPipeline"), "the structure says where the approval leads");
    let m = approval_post().unwrap();
    assert_eq!(m.channel, "deploys-prod", "production's channel");
    assert!(m.blocks.as_ref().unwrap().to_string().contains("Approval: checkout-release → production"));

    // A newer execution starts behind it: the message warns, in words that cannot be missed.
    stack.inject(&start("c0ffee00-0000-4000-8000-000000000002", &mut ids, t.plus_millis(120_000))).await;
    let warned = eventually(30, async || {
        approval_post().is_some_and(|m| {
            m.blocks.as_ref().is_some_and(|b| b.to_string().contains("A newer execution is queued behind this one"))
        })
    })
    .await;
    assert!(warned, "{:?}", approval_post());

    // Approved: the message says so, with who approved (the reconciler reads it) and why.
    stack.inject(&approval_event(&fleet, &mut ids, t.plus_millis(180_000), EXEC, "SUCCEEDED")).await;
    let decided = eventually(30, async || {
        approval_post()
            .is_some_and(|m| m.blocks.as_ref().is_some_and(|b| b.to_string().contains("*approved* by alice")))
    })
    .await;
    assert!(decided, "{:?}\n{}", approval_post(), service.log_text());
    let mut seen: Vec<Value> = Vec::new();
    let both = eventually(20, async || {
        seen.extend(stack.emitted_events().await);
        seen.iter().filter(|e| e["detail"]["approval_id"].is_string()).count() >= 2
    })
    .await;
    assert!(both, "{seen:?}");
    let kinds: Vec<&str> = seen.iter().filter_map(|e| e["detail-type"].as_str()).collect();
    assert_eq!(kinds, ["Approval Waiting", "Approval Decided"], "{seen:?}");
    // Waiting is emitted at the approval's start, before the structure said where it leads;
    // the decision knows.
    assert_eq!(seen[1]["detail"]["environment"], "production");
    assert_eq!(seen[1]["detail"]["outcome"], "approved");
    assert_eq!(seen[1]["detail"]["queued_behind"][0]["execution_id"], "c0ffee00-0000-4000-8000-000000000002");

    // The production deployment that follows: the approval's message links to its message
    // (Slack's permalink, from auth.test's workspace URL and the post's ts).
    let deploy = PipelineShape {
        pipeline: "checkout-release",
        execution_id: EXEC,
        state: "STARTED",
        stage: Some("Production"),
        action: Some("Deploy"),
        action_type: Some(("AWS", "ECS", "Deploy")),
        ..Default::default()
    };
    stack.inject(&fleet.pipeline(&ids.event_id(), t.plus_millis(190_000), &deploy).to_string()).await;
    let asked =
        eventually(30, async || ops(&calls).iter().filter(|op| *op == "ListActionExecutions").count() >= 2).await;
    assert!(asked, "{:?}", ops(&calls));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    stack.inject(&ecs(&fleet, &mut ids, t.plus_millis(200_000), "SERVICE_DEPLOYMENT_IN_PROGRESS")).await;
    let linked = eventually(30, async || {
        approval_post().is_some_and(|m| {
            m.blocks
                .as_ref()
                .is_some_and(|b| b.to_string().contains("<https://standin.slack.local/archives/deploys-prod/p"))
        })
    })
    .await;
    assert!(linked, "{:?}\n{}", approval_post(), service.log_text());
    let text = approval_post().unwrap().blocks.unwrap().to_string();
    assert!(!text.contains("cutover:message:"), "Cutover's own link markup never reaches Slack: {text}");
}

/// Reject from Slack, through `serve`: the approval's message (in production's channel, once
/// the structure says so) carries Approve and Reject for production's approvers; Reject opens
/// Slack's modal (`views.open`), and its submission is one `PutApprovalResult` with the
/// notification's token, the comment in its summary, a thread reply, and the buttons gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_rejects_from_slack_with_a_comment_once_through_the_modal() {
    use slack_standin::requests::{BlockAction, Signing, ViewSubmission, headers, post};
    const SECRET: &str = "e2e-signing-secret-approvals";
    let routes = "\n[slack.actions]\nenabled = true\ntransport = \"http\"\n\n[[routes]]\ncluster = \"prod\"\n\
                  environment = \"production\"\nchannel = \"deploys-prod\"\napprovers = [\"U0RELEASE\"]\n";
    let (_moto, stack, slack, calls, service, _dir, port) =
        start_acting(false, routes, &[("SLACK_SIGNING_SECRET", SECRET)]).await;
    let (fleet, mut ids) = (Fleet::default(), Ids::default());
    // SNS stamps the notification with the emulator's clock (now): the events are now too, or
    // that stamp would leave them behind the retention.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let t = Timestamp(i64::try_from(now_ms).unwrap() / 1000 * 1000 - 120_000);
    let expires = format!("{}Z", &t.plus_millis(7 * 24 * 3_600_000).to_string()[..16]);
    let start =
        PipelineShape { pipeline: "checkout-release", execution_id: EXEC, state: "STARTED", ..Default::default() };
    // The approval's SNS notification (its token), then its start.
    let notice = json!({
        "Type": "Notification", "MessageId": "9c1d2e3f-0000-4000-8000-00000000e2e1",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:cutover-approval-notifications",
        "Message": json!({"region": "eu-west-1", "approval": {
            "pipelineName": "checkout-release", "stageName": "Approve", "actionName": "ReleaseManager",
            "token": "1a2b3c4d-573f-4ea7-a67E-E2ETOKEN", "expires": expires}}).to_string(),
        "Timestamp": t.plus_millis(30_000).to_string(), "SignatureVersion": "1", "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/x.pem", "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"
    });
    stack.inject(&fleet.pipeline(&ids.event_id(), t, &start).to_string()).await;
    stack.inject(&notice.to_string()).await;
    stack.inject(&approval_event(&fleet, &mut ids, t.plus_millis(60_000), EXEC, "STARTED")).await;
    let approval_post = || approval_message(&slack);
    let with_buttons = eventually(30, async || {
        approval_post().is_some_and(|m| m.blocks.as_ref().is_some_and(|b| b.to_string().contains("cutover.reject")))
    })
    .await;
    assert!(with_buttons, "{:?}\n{}", approval_post(), service.log_text());
    let m = approval_post().unwrap();
    let id = m.metadata.as_ref().unwrap()["event_payload"]["deployment_id"].as_str().unwrap().to_owned();

    // Reject: Slack opens the modal; nothing is decided yet.
    let body = BlockAction::on(&m, "U0RELEASE", "cutover.reject", &id).body();
    let answer = post(port, "/slack/interactions", &headers(Signing::Now(SECRET), &body, None), &body).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(eventually(10, async || !slack.state.views().is_empty()).await, "{}", service.log_text());
    assert!(!ops(&calls).iter().any(|op| op == "PutApprovalResult"), "nothing decided before the form is sent");
    let view = slack.state.views().remove(0);
    assert_eq!(view["callback_id"], "cutover.reject");

    // The form, submitted with a comment.
    let body = ViewSubmission::of(&view, "U0RELEASE", &[("comment", "comment", "not on a Friday")]).body();
    let answer = post(port, "/slack/interactions", &headers(Signing::Now(SECRET), &body, None), &body).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        eventually(30, async || ops(&calls).iter().any(|op| op == "PutApprovalResult")).await,
        "{:?}\n{}",
        ops(&calls),
        service.log_text()
    );
    let put = calls.lock().unwrap().seen.iter().find(|(op, _)| op.ends_with("PutApprovalResult")).unwrap().1.clone();
    assert_eq!(put["token"], "1a2b3c4d-573f-4ea7-a67E-E2ETOKEN", "{put}");
    assert_eq!((put["stageName"].as_str(), put["actionName"].as_str()), (Some("Approve"), Some("ReleaseManager")));
    assert_eq!(put["result"]["status"], "Rejected");
    assert_eq!(put["result"]["summary"], "Rejected from Slack by U0RELEASE: not on a Friday");
    let answered = eventually(30, async || {
        slack.state.ephemerals().iter().any(|e| e.user == "U0RELEASE" && e.text.contains("Rejecting checkout-release"))
    })
    .await;
    assert!(answered, "{:?}", slack.state.ephemerals());
    let gone = eventually(30, async || {
        approval_post().is_some_and(|m| {
            m.blocks.as_ref().is_some_and(|b| {
                !b.to_string().contains("cutover.reject")
                    && b.to_string().contains("Rejection asked for by <@U0RELEASE>")
            })
        })
    })
    .await;
    assert!(gone, "{:?}", approval_post());
    // The same form sent again (a double submit): no second call.
    let again = ViewSubmission::of(&view, "U0RELEASE", &[("comment", "comment", "again")]).body();
    post(port, "/slack/interactions", &headers(Signing::Now(SECRET), &again, None), &again).await.unwrap();
    let refused = eventually(30, async || {
        slack.state.ephemerals().iter().any(|e| e.user == "U0RELEASE" && e.text.contains("already asked for"))
    })
    .await;
    assert!(refused, "{:?}", slack.state.ephemerals());
    assert_eq!(ops(&calls).iter().filter(|op| *op == "PutApprovalResult").count(), 1);
    assert!(service.terminate().await.success());
    slack.stop();
}
