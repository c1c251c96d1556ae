//! The reconciler through `cutover serve`: a CodeDeploy blue/green deployment whose events
//! never say how much traffic moved. A stand-in serves CodeDeploy's ListDeploymentTargets and
//! GetDeploymentTarget (awsJson 1.1 on 127.0.0.1; the emulator cannot move a deployment) with
//! the ECS target's task sets as AWS documents them; Cutover turns the green weight into
//! `Deployment Traffic Shifted` events in AWS's time, and 100 % into the cut-over. The stand-in
//! also serves GetDeploymentGroup and GetDeployment, which completes the deployment whose
//! SUCCEEDED trigger was lost.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use common::{Moto, Service, Slack, Stack, eventually, scenario_lines, temp_dir, write_config};
use cutover_events::Timestamp;
use serde_json::{Value, json};

#[derive(Debug, Default)]
struct Target {
    /// Green weight and the target's lastUpdatedAt (ms).
    green: Option<(f64, i64)>,
    /// GetDeployment's status and completeTime (ms), once it has finished.
    finished: Option<(&'static str, i64)>,
    calls: Vec<String>,
}

async fn codedeploy(
    State(t): State<Arc<Mutex<Target>>>,
    headers: HeaderMap,
) -> ([(&'static str, &'static str); 1], String) {
    let op = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut t = t.lock().unwrap();
    t.calls.push(op.clone());
    let body = match op.as_str() {
        "CodeDeploy_20141006.ListDeploymentTargets" => json!({"targetIds": ["prod-eu:checkout"]}),
        "CodeDeploy_20141006.GetDeploymentTarget" => {
            let (green, at) = t.green.unwrap_or((0.0, 1_773_480_600_000));
            let set = |label: &str, weight: f64, status: &str| {
                json!({"identifer": format!("ecs-svc/{label}"), "desiredCount": 2, "pendingCount": 0, "runningCount": 2,
                       "status": status, "trafficWeight": weight, "taskSetLabel": label,
                       "targetGroup": {"name": format!("tg-{label}")}})
            };
            json!({"deploymentTarget": {"deploymentTargetType": "ECSTarget", "ecsTarget": {
                "deploymentId": "d-7QHX0M2PB", "targetId": "prod-eu:checkout",
                "targetArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod-eu/checkout",
                "lastUpdatedAt": at as f64 / 1000.0, "status": "InProgress",
                "taskSetsInfo": [set("Blue", 100.0 - green, "PRIMARY"), set("Green", green, "ACTIVE")]}}})
        }
        "CodeDeploy_20141006.GetDeploymentGroup" => json!({"deploymentGroupInfo": {
            "applicationName": "AppECS-prod-eu-checkout", "deploymentGroupName": "DgpECS-prod-eu-checkout",
            "computePlatform": "ECS", "ecsServices": [{"serviceName": "checkout", "clusterName": "prod-eu"}]}}),
        "CodeDeploy_20141006.GetDeployment" => {
            let (status, complete) = t.finished.map_or(("InProgress", None), |(s, at)| (s, Some(at as f64 / 1000.0)));
            json!({"deploymentInfo": {
                "applicationName": "AppECS-prod-eu-checkout", "deploymentGroupName": "DgpECS-prod-eu-checkout",
                "deploymentId": "d-7QHX0M2PB", "status": status, "createTime": 1_773_480_600.0,
                "completeTime": complete, "computePlatform": "ECS"}})
        }
        _ => json!({"__type": "UnknownOperationException"}),
    };
    ([("content-type", "application/x-amz-json-1.1")], body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codedeploy_traffic_weights_become_traffic_shifted_events_and_100_the_cut_over() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let target = Arc::new(Mutex::new(Target::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/", axum::routing::post(codedeploy)).with_state(target.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = temp_dir("reconciler");
    // The deployment's route broadcasts its cut-over to the channel.
    let extra = format!(
        "\n[reconciler]\ninterval_secs = 1.0\ncalls_per_second = 50.0\ncodedeploy_endpoint_url = \"{standin}\"\n\n\
         [[routes]]\napplication = \"AppECS-prod-*\"\nchannel = \"deploys-prod\"\nbroadcast = [\"cut_over\"]\n"
    );
    let config = write_config(&dir, &moto, &stack, &slack, &extra);
    let service = Service::start(&config, &dir.join("cutover.log"));

    // The deployment starts (CREATED, IN_PROGRESS); the events say nothing more for a while.
    let lines = scenario_lines("codedeploy-sns");
    for line in &lines[..2] {
        stack.inject(line).await;
    }
    let at = |s: &str| Timestamp::parse(s).unwrap().millis();
    let mut seen: Vec<Value> = Vec::new();
    let shifted = |seen: &[Value], p: f64| {
        seen.iter().any(|e| e["detail-type"] == "Deployment Traffic Shifted" && e["detail"]["traffic_percent"] == p)
    };
    // Canary: 10 % to green.
    target.lock().unwrap().green = Some((10.0, at("2026-03-14T09:31:00Z")));
    let ten = eventually(30, async || {
        seen.extend(stack.emitted_events().await);
        shifted(&seen, 10.0)
    })
    .await;
    assert!(ten, "{seen:?}\n{}", service.log_text());
    // The rest: 100 % is the cut-over, at the target's lastUpdatedAt.
    target.lock().unwrap().green = Some((100.0, at("2026-03-14T09:35:00Z")));
    let cut = eventually(30, async || {
        seen.extend(stack.emitted_events().await);
        seen.iter().any(|e| e["detail-type"] == "Deployment Cut Over")
    })
    .await;
    assert!(cut, "{seen:?}\n{}", service.log_text());
    // The deployment's SUCCEEDED trigger is lost (CodeDeploy delivers best effort): the
    // reconciler's GetDeployment stands in for it, at its completeTime.
    let (lost, rest): (Vec<&String>, Vec<&String>) =
        lines[2..].iter().partition(|l| l.contains(r#"\"status\":\"SUCCEEDED\""#) && !l.contains("instanceId"));
    assert_eq!(lost.len(), 1, "the scenario has one deployment SUCCEEDED trigger");
    for line in rest {
        stack.inject(line).await;
    }
    target.lock().unwrap().finished = Some(("Succeeded", at("2026-03-14T09:38:00Z")));
    let done = eventually(30, async || {
        seen.extend(stack.emitted_events().await);
        seen.iter().any(|e| e["detail-type"] == "Deployment Completed")
    })
    .await;
    assert!(done, "{seen:?}\n{}", service.log_text());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    seen.extend(stack.emitted_events().await);

    let steps: Vec<(String, Value, String)> = seen
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap().to_owned(),
                e["detail"]["traffic_percent"].clone(),
                e["detail"]["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            ("Deployment Started".to_owned(), Value::Null, "2026-03-14T09:30:00.000Z".to_owned()),
            ("Deployment Traffic Shifted".to_owned(), json!(10), "2026-03-14T09:31:00.000Z".to_owned()),
            ("Deployment Traffic Shifted".to_owned(), json!(100), "2026-03-14T09:35:00.000Z".to_owned()),
            ("Deployment Cut Over".to_owned(), Value::Null, "2026-03-14T09:35:00.000Z".to_owned()),
            ("Deployment Completed".to_owned(), Value::Null, "2026-03-14T09:38:00.000Z".to_owned()),
        ],
        "each step once, in AWS's time"
    );
    // The targets were listed once, the group read once; nothing is asked once it completed.
    let calls = target.lock().unwrap().calls.clone();
    assert_eq!(calls.iter().filter(|c| c.ends_with("ListDeploymentTargets")).count(), 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.ends_with("GetDeploymentGroup")).count(), 1, "{calls:?}");
    let after_cut_over = calls.iter().skip_while(|c| !c.ends_with("GetDeploymentTarget")).collect::<Vec<_>>();
    assert!(after_cut_over.iter().any(|c| c.ends_with("GetDeployment")), "{calls:?}");
    let asked = calls.len();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(target.lock().unwrap().calls.len(), asked, "no calls once it completed");
    // Slack: one message, updated at each step; each traffic step and the broadcast cut-over
    // are replies in its thread; never a second top-level post.
    assert_eq!(slack.top_level_posts().into_iter().collect::<Vec<_>>(), vec![("d-7QHX0M2PB".to_owned(), 1)]);
    let messages = slack.state.messages();
    let top = messages.iter().find(|m| m.thread_ts.is_none()).unwrap();
    assert_eq!(top.channel, "deploys-prod");
    // Four states after the post (10 %, 100 %, cut over, completed); 100 % and the cut-over are
    // decided together, and of pending updates of one message only the last is sent.
    assert!((3..=4).contains(&top.updates), "{} updates", top.updates);
    assert!(top.text.as_deref().unwrap_or_default().ends_with(": completed"), "{:?}", top.text);
    let replies: Vec<(&str, Option<bool>)> = messages
        .iter()
        .filter(|m| m.thread_ts.as_deref() == Some(top.ts.as_str()))
        .map(|m| (m.text.as_deref().unwrap_or_default(), m.reply_broadcast))
        .collect();
    // The invalidation's reply comes once CloudFront (the emulator) says it completed.
    let (steps, invalidation) = replies.split_at(3.min(replies.len()));
    assert_eq!(
        steps,
        [
            (":arrows_counterclockwise: 10 % of production traffic on the new version at 09:31:00 UTC.", None),
            (":arrows_counterclockwise: 100 % of production traffic on the new version at 09:35:00 UTC.", None),
            (":white_check_mark: Cut over at 09:35:00 UTC: production traffic is on the new version.", Some(true)),
        ]
    );
    assert!(
        invalidation.len() <= 1
            && invalidation.iter().all(|(t, b)| t.starts_with(":broom: CloudFront invalidation `") && b.is_none()),
        "{invalidation:?}"
    );
    assert!(service.terminate().await.success());
    slack.stop();
}
