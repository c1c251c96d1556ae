//! `[[sinks]]` through `cutover serve`: recorded scenarios injected the way AWS sends them, the
//! six sinks pointed at their APIs' stand-ins (services/sink-standins) on 127.0.0.1, the
//! service killed with SIGKILL while it works. Every effect arrives, in lifecycle order, with
//! AWS's times, and once where the API lets Cutover look for it; a sink that is down or refuses
//! its token holds back neither Slack, CloudFront nor the bus, and no token reaches the log.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{
    Moto, Service, Slack, Stack, eventually, expected_lifecycle, http_get, scenario_lines, temp_dir, write_config,
};
use serde_json::{Value, json};
use sink_standins::{Credentials, Fault, Standins};

const TOKENS: [(&str, &str); 6] = [
    ("E2E_GITHUB_TOKEN", "github_pat_e2e_secret_0001"),
    ("E2E_GRAFANA_TOKEN", "glsa_e2e_secret_0001"),
    ("E2E_DATADOG_KEY", "dd_e2e_secret_0001"),
    ("E2E_PAGERDUTY_KEY", "R0UTINGE2ESECRET0001"),
    ("E2E_HONEYCOMB_KEY", "hc_e2e_secret_0001"),
    ("E2E_WEBHOOK_SECRET", "whsec_e2e_secret_0001"),
];

const SCENARIOS: [&str; 3] = ["rolling", "rolling-circuit-breaker", "codedeploy-rollback"];
const COMMIT: &str = "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b";

async fn standins() -> (Standins, String) {
    let s = Standins::new(Credentials {
        github_token: TOKENS[0].1.into(),
        github_app: None,
        github_repos: vec!["example/storefront".into()],
        grafana_token: TOKENS[1].1.into(),
        datadog_key: TOKENS[2].1.into(),
        pagerduty_routing_key: TOKENS[3].1.into(),
        honeycomb_key: TOKENS[4].1.into(),
        webhook_secret: TOKENS[5].1.into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(sink_standins::serve(listener, s.clone(), std::future::pending()));
    (s, url)
}

fn sinks_config(base: &str) -> String {
    format!(
        r#"
[[routes]]
cluster = "prod-*"
environment = "production"

[[sinks]]
name = "github"
kind = "github"
url = "{base}/github"
service = "storefront"
token_env = "E2E_GITHUB_TOKEN"
environment_url = "https://{{environment}}.example.com"
timeout_secs = 2

[[sinks]]
name = "grafana"
kind = "grafana"
url = "{base}/grafana"
token_env = "E2E_GRAFANA_TOKEN"
timeout_secs = 2

[[sinks]]
name = "datadog"
kind = "datadog"
url = "{base}/datadog"
token_env = "E2E_DATADOG_KEY"
timeout_secs = 2

[[sinks]]
name = "pagerduty"
kind = "pagerduty"
url = "{base}/pagerduty"
token_env = "E2E_PAGERDUTY_KEY"
timeout_secs = 2

[[sinks]]
name = "honeycomb"
kind = "honeycomb"
url = "{base}/honeycomb"
dataset = "prod"
token_env = "E2E_HONEYCOMB_KEY"
timeout_secs = 2

[[sinks]]
name = "hook"
kind = "webhook"
url = "{base}/webhook/deploys"
token_env = "E2E_WEBHOOK_SECRET"
timeout_secs = 2
"#
    )
}

/// CI's deploy annotation of storefront v123: the commit GitHub's deployment is made for.
fn annotation() -> String {
    json!({"version": "0", "id": "e2e-annotation-1", "detail-type": "Cutover Deploy Annotation",
        "source": "cutover.annotate", "account": "123456789012", "time": "2026-03-14T09:29:50Z", "region": "eu-west-1",
        "resources": [], "detail": {"cluster": "prod-eu", "service": "storefront", "image_tag": "v123",
        "commit": COMMIT, "repository": "https://github.com/example/storefront"}})
    .to_string()
}

fn lifecycle_rank(detail_type: &str) -> usize {
    [
        "Deployment Started",
        "Deployment Traffic Shifted",
        "Deployment Cut Over",
        "Deployment Completed",
        "Deployment Failed",
        "Deployment Rolled Back",
    ]
    .iter()
    .position(|t| *t == detail_type)
    .unwrap_or(usize::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sink_gets_each_step_in_order_with_awss_times_across_kill_9() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let (s, base) = standins().await;
    let dir = temp_dir("sinks-crash");
    let config = write_config(&dir, &moto, &stack, &slack, &sinks_config(&base));
    let log = dir.join("cutover.log");
    let lines: Vec<String> =
        std::iter::once(annotation()).chain(SCENARIOS.iter().flat_map(|n| scenario_lines(n))).collect();
    let expected: BTreeSet<(String, String)> = SCENARIOS.iter().flat_map(|n| expected_lifecycle(n)).collect();
    let deployments: BTreeSet<&str> = expected.iter().map(|(d, _)| d.as_str()).collect();
    let cut_overs: BTreeSet<&str> =
        expected.iter().filter(|(_, t)| t == "Deployment Cut Over").map(|(d, _)| d.as_str()).collect();

    // Some answers are lost as well: carried out, then a 502 (or a stall past the timeout).
    for api in ["github", "grafana", "honeycomb", "webhook"] {
        s.inject(Fault { api: api.into(), status: 502, count: 1, after_processing: true, ..Fault::default() });
    }
    s.inject(Fault { api: "datadog".into(), status: 429, retry_after_secs: Some(1), count: 2, ..Fault::default() });

    let env: Vec<(&str, &str)> = TOKENS.to_vec();
    let kills = 6;
    let chunk = lines.len().div_ceil(kills);
    let mut seed = 0x5EED_51AC_u64;
    let mut emitted = Vec::new();
    for round in 0..kills {
        let service = Service::start_with_env(&config, &log, Some("xoxb-e2e-secret-token-value"), &env);
        for line in lines.iter().skip(round * chunk).take(chunk) {
            stack.inject_in_order(line).await;
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(std::time::Duration::from_millis(300 + seed % 900)).await;
        service.kill().await;
        emitted.extend(stack.emitted_events().await);
    }
    let service = Service::start_with_env(&config, &log, Some("xoxb-e2e-secret-token-value"), &env);
    let webhook_steps = || -> BTreeSet<(String, String)> {
        s.deliveries()
            .iter()
            .map(|(_, b)| {
                (
                    b["detail"]["deployment_id"].as_str().unwrap_or("").to_owned(),
                    b["detail-type"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let settled = eventually(90, async || {
        emitted.extend(stack.emitted_events().await);
        webhook_steps() == expected
            && s.datadog_events()
                .iter()
                .map(|e| e["aggregation_key"].as_str().unwrap_or("").to_owned())
                .collect::<BTreeSet<_>>()
                .len()
                == deployments.len()
            && s.change_events().len() >= cut_overs.len()
            && s.markers("prod").iter().filter(|m| m.get("end_time").is_some()).count() == deployments.len()
            && s.deployments().first().is_some_and(|d| s.statuses(d["id"].as_u64().unwrap_or(0)).len() >= 2)
    })
    .await;
    assert!(settled, "webhook: {:?}\nexpected {:?}\n{}", webhook_steps(), expected, service.log_text());
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    emitted.extend(stack.emitted_events().await);
    assert!(service.terminate().await.success());

    // AWS's time of each step, as the bus has it.
    let at: BTreeMap<(String, String), String> = emitted
        .iter()
        .map(|e| {
            let d = &e["detail"];
            (
                (d["deployment_id"].as_str().unwrap().to_owned(), e["detail-type"].as_str().unwrap().to_owned()),
                d["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let millis = |s: &str| cutover_events::Timestamp::parse(s).unwrap().millis();

    // Webhook: every step, signed (the receiver checked), its time AWS's, each deployment's
    // steps in lifecycle order; a repeat only of a delivery whose answer was lost, with the
    // same delivery id.
    let mut per_deployment: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for (_, b) in s.deliveries() {
        let key =
            (b["detail"]["deployment_id"].as_str().unwrap().to_owned(), b["detail-type"].as_str().unwrap().to_owned());
        assert_eq!(b["time"].as_str(), at.get(&key).map(String::as_str), "{key:?}");
        let steps = per_deployment.entry(key.0.clone()).or_default();
        if steps.last() != Some(&key.1) {
            steps.push(key.1.clone());
        }
        *ids.entry(b["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    for (d, steps) in &per_deployment {
        let ranks: Vec<usize> = steps.iter().map(|t| lifecycle_rank(t)).collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{d}: {steps:?}");
    }
    assert_eq!(ids.len(), expected.len(), "one delivery id per step");
    let webhook_calls = s.calls().iter().filter(|c| c.api == "webhook").count();
    assert!(s.calls().iter().filter(|c| c.api == "webhook").all(|c| c.headers.contains_key("x-cutover-delivery")));

    // Grafana: one region per deployment, from its start to its end, one point per cut-over,
    // exactly (found again after the lost answer and every kill).
    let annotations = s.annotations();
    let tagged = |a: &Value, t: &str| a["tags"].as_array().is_some_and(|ts| ts.iter().any(|x| x == t));
    let regions: Vec<&Value> = annotations.iter().filter(|a| !tagged(a, "cut-over")).collect();
    let points: Vec<&Value> = annotations.iter().filter(|a| tagged(a, "cut-over")).collect();
    assert_eq!(regions.len(), deployments.len(), "{annotations:#?}");
    assert_eq!(points.len(), cut_overs.len(), "{annotations:#?}");
    for p in &points {
        let text = p["text"].as_str().unwrap();
        let d = cut_overs.iter().find(|d| text.contains(&format!("deployment {d}"))).expect("names its deployment");
        assert_eq!(p["time"].as_i64(), Some(millis(&at[&((*d).to_owned(), "Deployment Cut Over".to_owned())])));
    }
    for r in &regions {
        let text = r["text"].as_str().unwrap();
        let d = deployments.iter().find(|d| text.contains(&format!("deployment {d}"))).expect("names its deployment");
        assert_eq!(r["time"].as_i64(), Some(millis(&at[&((*d).to_owned(), "Deployment Started".to_owned())])), "{d}");
        assert!(r["timeEnd"].as_i64() > r["time"].as_i64(), "{d}: the region ends at the end: {r}");
    }

    // Honeycomb: one marker per deployment, exactly; GitHub: one deployment for storefront's
    // commit, in_progress then success, exactly.
    assert_eq!(s.markers("prod").len(), deployments.len(), "{:#?}", s.markers("prod"));
    let gh = s.deployments();
    assert_eq!(gh.len(), 1, "{gh:#?}");
    assert_eq!(gh[0]["sha"], COMMIT);
    assert_eq!(gh[0]["environment"], "production");
    let states: Vec<String> =
        s.statuses(gh[0]["id"].as_u64().unwrap()).iter().map(|s| s["state"].as_str().unwrap().to_owned()).collect();
    assert_eq!(states, ["in_progress", "success"]);

    // Datadog and PagerDuty cannot be asked what they have: nothing is lost, and an event is
    // repeated only when a kill fell between its call and its record.
    let dd = s.datadog_events();
    let dd_steps: BTreeSet<(String, i64)> = dd
        .iter()
        .map(|e| (e["aggregation_key"].as_str().unwrap().to_owned(), e["date_happened"].as_i64().unwrap()))
        .collect();
    let expected_dd: BTreeSet<(String, i64)> =
        expected.iter().map(|k| (k.0.clone(), millis(&at[k]).div_euclid(1_000))).collect();
    assert_eq!(dd_steps, expected_dd);
    assert!(dd.len() <= expected.len() + kills, "{} events", dd.len());
    let pd: BTreeSet<String> = s
        .change_events()
        .iter()
        .map(|e| e["payload"]["custom_details"]["deployment_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pd, cut_overs.iter().map(|d| (*d).to_owned()).collect::<BTreeSet<_>>());
    assert!(s.change_events().len() <= cut_overs.len() + kills);
    assert!(s.calls().iter().all(|c| c.authorized), "every call carried the right credential");

    let text = std::fs::read_to_string(&log).unwrap();
    for (_, token) in TOKENS {
        assert!(!text.contains(token), "a token reached the log");
    }
    eprintln!(
        "sinks across kill -9: kills={kills} steps={} webhook_calls={webhook_calls} datadog_events={} change_events={} grafana={} markers={} github_statuses={}",
        expected.len(),
        dd.len(),
        s.change_events().len(),
        annotations.len(),
        s.markers("prod").len(),
        states.len()
    );
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_down_or_refusing_its_token_holds_back_nothing_else_and_no_token_is_logged() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let (s, base) = standins().await;
    // Every sink API answers 503 for a long while; GitHub refuses the token it is given.
    s.inject(Fault { status: 503, count: 100_000, ..Fault::default() });
    let dir = temp_dir("sinks-down");
    let config = write_config(&dir, &moto, &stack, &slack, &sinks_config(&base));
    let port = common::health_on_free_port(&config);
    let log = dir.join("cutover.log");
    let mut env: Vec<(&str, &str)> = TOKENS.to_vec();
    env[0] = ("E2E_GITHUB_TOKEN", "github_pat_e2e_revoked_0002");
    let service = Service::start_with_env(&config, &log, Some("xoxb-e2e-secret-token-value"), &env);
    for line in std::iter::once(annotation()).chain(scenario_lines("rolling")) {
        stack.inject_in_order(&line).await;
    }
    let expected: BTreeSet<(String, String)> = expected_lifecycle("rolling").into_iter().collect();
    let mut seen = BTreeSet::new();
    let arrived = eventually(60, async || {
        seen.extend(stack.emitted_steps().await);
        seen == expected && !stack.invalidations().await.is_empty() && !slack.top_level_posts().is_empty()
    })
    .await;
    assert!(arrived, "the bus, CloudFront and Slack do not wait for the sinks: {seen:?}\n{}", service.log_text());
    assert!(s.deliveries().is_empty() && s.change_events().is_empty(), "every sink is down");
    assert!(
        eventually(20, async || s.calls().iter().filter(|c| c.status == 503).count() >= 6).await,
        "the sinks keep trying: {:?}",
        s.calls().len()
    );
    // The APIs come back; GitHub refuses the token it is given: `/readyz` names that sink,
    // while the other sinks catch up.
    s.clear_faults();
    let named = eventually(30, async || {
        http_get(port, "/readyz").await.is_some_and(|(code, body)| {
            code == 503 && body.contains("sinks: sink github: GitHub create deployment: HTTP 401: Bad credentials")
        })
    })
    .await;
    assert!(named, "{:?}", http_get(port, "/readyz").await);
    let expected_hooks = expected.len();
    assert!(
        eventually(30, async || s.deliveries().len() >= expected_hooks && s.change_events().len() == 1).await,
        "the other sinks catch up"
    );
    let (code, body) = http_get(port, "/readyz").await.expect("readyz");
    assert!(code == 503 && body.contains("sink github"), "still named after the others went through: {body}");
    assert!(s.deployments().is_empty(), "no deployment made with a refused token");
    let (status, body) = http_get(port, "/metrics").await.expect("metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains("cutover_sink_outcomes_total{sink=\"pagerduty\",outcome=\"retry\"}")
            || body.contains("cutover_sink_outcomes_total{sink=\"pagerduty\",outcome=\"unknown\"}"),
        "{body}"
    );
    assert!(service.terminate().await.success());
    let text = std::fs::read_to_string(&log).unwrap();
    for token in TOKENS.iter().map(|(_, t)| *t).chain(["github_pat_e2e_revoked_0002"]) {
        assert!(!text.contains(token), "a token reached the log");
    }
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_credential_can_come_from_secrets_manager_and_serve_refuses_to_start_without_one() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let (s, base) = standins().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&common::sdk(&moto.url));
    let arn = secrets
        .create_secret()
        .name("cutover/pagerduty")
        .secret_string(format!(r#"{{"token": "{}"}}"#, TOKENS[3].1))
        .send()
        .await
        .expect("secret")
        .arn
        .expect("arn");
    let dir = temp_dir("sinks-secret");
    let sink = format!(
        "[[sinks]]\nname = \"pagerduty\"\nkind = \"pagerduty\"\nurl = \"{base}/pagerduty\"\ntoken_env = \"E2E_PD_UNSET\"\ntoken_secret_arn = \"{arn}\"\n"
    );
    let config = write_config(&dir, &moto, &stack, &slack, &sink);
    let log = dir.join("cutover.log");
    let service = Service::start_with_env(&config, &log, Some("xoxb-e2e-secret-token-value"), &[]);
    for line in scenario_lines("rolling") {
        stack.inject_in_order(&line).await;
    }
    assert!(eventually(30, async || s.change_events().len() == 1).await, "{}", service.log_text());
    assert!(service.terminate().await.success());
    assert!(!std::fs::read_to_string(&log).unwrap().contains(TOKENS[3].1), "the routing key reached the log");

    // Neither the variable nor a secret: `serve` stops at start, naming the sink and where it
    // looked.
    let config =
        write_config(&dir, &moto, &stack, &slack, &sink.replace(&format!("token_secret_arn = \"{arn}\"\n"), ""));
    let mut service =
        Service::start_with_env(&config, &dir.join("refused.log"), Some("xoxb-e2e-secret-token-value"), &[]);
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), service.child.wait()).await.unwrap().unwrap();
    assert!(!status.success());
    let text = service.log_text();
    assert!(text.contains("sink pagerduty: no PagerDuty routing key: E2E_PD_UNSET is not set"), "{text}");
    slack.stop();
}
