//! `cutover serve` end to end, against real protocols on 127.0.0.1: the AWS emulator's SQS,
//! EventBridge, SNS and CloudFront through the AWS SDK, and the Slack stand-in through
//! slack-morphism. Scenario events are injected the way AWS sends them.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Moto, Service, Slack, Stack, eventually, expected_lifecycle, scenario_lines, temp_dir, write_config};
use serde_json::Value;

/// `(deployment, detail-type)` of every event Cutover emitted, read from the test queue.
async fn emitted(stack: &Stack, seen: &mut Vec<(String, String)>) {
    let mut details = Vec::new();
    emitted_details(stack, seen, &mut details).await;
}

/// What an emitted event is about: its deployment, or its approval.
fn id_of(detail: &Value) -> &str {
    detail["deployment_id"].as_str().or_else(|| detail["approval_id"].as_str()).unwrap_or_default()
}

/// Also keeps each event's `detail`.
async fn emitted_details(stack: &Stack, seen: &mut Vec<(String, String)>, details: &mut Vec<Value>) {
    for v in stack.emitted_events().await {
        assert_eq!(v["source"], "cutover");
        seen.push((id_of(&v["detail"]).to_owned(), v["detail-type"].as_str().unwrap_or_default().to_owned()));
        details.push(v);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_reach_slack_cloudfront_and_the_bus_and_bad_input_is_dead_lettered() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("serve-paths");
    // Only the emulator's account may send events.
    let config = write_config(
        &dir,
        &moto,
        &stack,
        &slack,
        "\n[intake]\nallowed_accounts = [\"123456789012\"]\n\n[reconciler]\ninterval_secs = 1.0\n",
    );
    let service = Service::start(&config, &dir.join("cutover.log"));

    // EventBridge path (PutEvents → rule → queue), SNS envelope path, SNS raw delivery path.
    // One message at a time: the details are compared with `replay` of the same order (a
    // CodeDeploy SUCCEEDED trigger handled before the AllowTraffic one proves the cut-over at
    // its own, later time, and the first proof wins).
    let scenarios = ["rolling", "codedeploy-sns", "codedeploy-rollback"];
    for name in scenarios {
        for line in scenario_lines(name) {
            stack.inject_in_order(&line).await;
        }
    }
    let mut foreign: Value = serde_json::from_str(&scenario_lines("rolling")[0]).unwrap();
    foreign["account"] = Value::from("999999999999");
    let foreign = foreign.to_string();
    let bad = ["not json at all", "[1, 2, 3]", r#"{"hello": "world"}"#, foreign.as_str()];
    for body in bad {
        stack.send_raw(body).await;
    }

    let expected: Vec<(String, String)> = scenarios.iter().flat_map(|s| expected_lifecycle(s)).collect();
    let mut seen = Vec::new();
    let mut details = Vec::new();
    let done = eventually(60, async || {
        emitted_details(&stack, &mut seen, &mut details).await;
        seen.len() >= expected.len()
    })
    .await;
    assert!(done, "emitted {seen:?}, expected {expected:?}\n{}", service.log_text());
    // Give a straggler the chance to show up before counting exactly.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    emitted(&stack, &mut seen).await;
    let as_set: BTreeSet<&(String, String)> = seen.iter().collect();
    assert_eq!(seen.len(), as_set.len(), "an event was emitted twice: {seen:?}");
    assert_eq!(as_set, expected.iter().collect::<BTreeSet<_>>());

    // Each emitted `detail` is exactly what `replay` prints for the same input and config
    // (but `observed_at`: replay's clock is the event time, serve's the wall clock; and
    // `trace_id`, which only `serve` has: the trace of the message that decided it).
    for e in &details {
        let trace = e["detail"]["trace_id"].as_str().unwrap_or_default();
        assert!(trace.len() == 32 && trace.chars().all(|c| c.is_ascii_hexdigit()), "trace_id of {e}");
    }
    let mut input = Vec::new();
    for name in scenarios {
        input.extend(scenario_lines(name));
    }
    let input_path = dir.join("replayed.jsonl");
    std::fs::write(&input_path, input.join("\n")).unwrap();
    let replay = std::process::Command::new(env!("CARGO_BIN_EXE_cutover-under-test"))
        .args(["replay", "--config", &config.display().to_string(), &input_path.display().to_string()])
        .output()
        .unwrap();
    assert!(replay.status.success());
    let strip = |mut d: Value| {
        if let Some(o) = d.as_object_mut() {
            o.remove("observed_at");
            o.remove("trace_id");
        }
        d
    };
    let replayed: BTreeMap<(String, String), Value> = String::from_utf8(replay.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|a| a["action"] == "emit" || a["action"] == "emit.approval")
        .map(|a| {
            let key = (id_of(&a["detail"]).to_owned(), a["detail_type"].as_str().unwrap().to_owned());
            (key, strip(a["detail"].clone()))
        })
        .collect();
    for e in &details {
        let key = (id_of(&e["detail"]).to_owned(), e["detail-type"].as_str().unwrap().to_owned());
        assert_eq!(Some(&strip(e["detail"].clone())), replayed.get(&key), "detail of {key:?} differs from replay");
    }

    // Slack: one top-level post per deployment; the CodeDeploy rollback only replies.
    let posts = slack.top_level_posts();
    assert_eq!(
        posts,
        BTreeMap::from([
            ("ecs-svc/5211643699352071000".to_owned(), 1),
            ("d-7QHX0M2PB".to_owned(), 1),
            ("d-MAIN4XQ2Z".to_owned(), 1),
        ]),
        "{}",
        service.log_text()
    );
    let messages = slack.state.messages();
    let parent = messages
        .iter()
        .find(|m| m.metadata.as_ref().is_some_and(|md| md["event_payload"]["deployment_id"] == "d-MAIN4XQ2Z"))
        .unwrap();
    let replies = messages
        .iter()
        .filter(|m| m.thread_ts.as_deref() == Some(parent.ts.as_str()))
        .filter(|m| !m.text.as_deref().unwrap_or_default().starts_with(":broom:"))
        .count();
    assert_eq!(replies, 3, "the failure, then rollback started and cut over, in the failed deployment's thread");
    // Each cut-over's invalidation, once CloudFront says it completed: one reply with its id,
    // in the deployment's thread (the rollback's in the thread of the deployment it undoes).
    let invalidated = eventually(30, async || {
        slack.replies().iter().filter(|(_, text)| text.starts_with(":broom: CloudFront invalidation `")).count() == 3
    })
    .await;
    assert!(invalidated, "{:#?}\n{}", slack.replies(), service.log_text());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let brooms: Vec<(String, String)> =
        slack.replies().into_iter().filter(|(_, text)| text.starts_with(":broom:")).collect();
    assert_eq!(brooms.len(), 3, "each once: {brooms:#?}");
    assert_eq!(brooms.iter().map(|(thread, _)| thread).collect::<BTreeSet<_>>().len(), 3, "one per thread");
    let final_text = messages
        .iter()
        .find(|m| {
            m.metadata.as_ref().is_some_and(|md| md["event_payload"]["deployment_id"] == "ecs-svc/5211643699352071000")
        })
        .unwrap();
    assert!(final_text.text.as_deref().unwrap_or_default().contains("completed"), "updated in place: {final_text:?}");

    // CloudFront: one invalidation per cut-over (the config invalidates every service).
    let cut_overs = expected.iter().filter(|(_, t)| t == "Deployment Cut Over").count();
    assert!(eventually(10, async || stack.invalidations().await.len() >= cut_overs).await);
    let invalidations = stack.invalidations().await;
    assert_eq!(invalidations.len(), cut_overs, "{invalidations:?}");
    let references: BTreeSet<&str> = invalidations.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(references.len(), cut_overs, "distinct caller references");

    // Malformed messages: dead-lettered with the reason, and deleted from the queue.
    let mut dead = Vec::new();
    assert!(
        eventually(10, async || {
            dead.extend(stack.drain(&stack.dlq_url).await);
            dead.len() >= bad.len()
        })
        .await
    );
    let reasons: Vec<String> = dead
        .iter()
        .map(|m| {
            m.message_attributes()
                .and_then(|a| a.get("cutover.rejection"))
                .and_then(|v| v.string_value())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(reasons.iter().any(|r| r.starts_with("not JSON")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "not a JSON object"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("not a known envelope")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "account 999999999999 is not in the allow-list"), "{reasons:?}");

    // Graceful shutdown exits 0; the token never reached the log.
    let log = service.log.clone();
    let status = service.terminate().await;
    assert!(status.success(), "exit {status:?}");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(!text.contains("xoxb-e2e-secret-token-value"), "the Slack token leaked into the log");
    assert!(text.contains("Rejected a message"), "rejections are logged with their reason");
    slack.stop();
}

/// The driver, in this process, on an in-memory store, counting into `counters`.
fn test_driver(
    stack: &Stack,
    cfg: cutover::config::SqsConfig,
    counters: std::sync::Arc<cutover::intake::IntakeCounters>,
) -> cutover::driver::Driver {
    let queue = cutover::intake::Queue { sqs: stack.sqs.clone(), url: stack.queue_url.clone(), cfg };
    cutover::driver::Driver::new(
        cutover_correlator::Correlator::new(cutover_correlator::Routing::default()),
        Box::new(cutover::store::sqlite::SqliteStore::in_memory().unwrap()),
        queue,
    )
    .with_counters(counters, std::sync::Arc::default())
}

/// A small deterministic generator for kill points.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// The deployments of `scenarios` that own a top-level Slack message (rollbacks reply instead).
fn posting_deployments(scenarios: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in scenarios {
        let path = common::workspace().join("tests/scenarios").join(name).join("expected.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        out.extend(v["posts"].as_object().unwrap().keys().cloned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_nothing_and_repeats_nothing() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("serve-crash");
    // Snapshots every few journal entries, so recovery crosses snapshots and journals.
    let config = write_config(&dir, &moto, &stack, &slack, "");
    // Every scenario whose services no other one touches (rolling shares pipeline-linked's
    // service; noise-and-malformed is not all JSON).
    let scenarios = [
        "rolling-circuit-breaker",
        "codedeploy-sns",
        "codedeploy-rollback",
        "codedeploy-eventbridge",
        "ecs-native-hooks",
        "two-clusters-same-service",
        "pipeline-linked",
    ];
    let lines: Vec<String> = scenarios.iter().flat_map(|s| scenario_lines(s)).collect();
    let expected: BTreeSet<(String, String)> = scenarios.iter().flat_map(|s| expected_lifecycle(s)).collect();
    let log = dir.join("cutover.log");

    // RELIABILITY.md: CHAOS_KILLS and CHAOS_SEED reproduce or lengthen a run.
    let env = |k: &str| std::env::var(k).ok().and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok());
    let seed = env("CHAOS_SEED").unwrap_or(0x5EED_C0FF_EE15_F00D);
    let kills = std::env::var("CHAOS_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50usize);
    let mut rng = XorShift(seed);
    let chaos_started = std::time::Instant::now();
    let chunk = lines.len().div_ceil(kills);
    let mut fed = 0;
    let mut seen = Vec::new();
    for round in 0..kills {
        let service = Service::start(&config, &log);
        // Events keep arriving while the service starts, works and dies.
        for line in lines.iter().skip(fed).take(chunk) {
            stack.inject(line).await;
        }
        fed = (fed + chunk).min(lines.len());
        tokio::time::sleep(std::time::Duration::from_millis(rng.between(20, 600))).await;
        service.kill().await;
        emitted(&stack, &mut seen).await;
        assert!(round < kills);
    }
    assert_eq!(fed, lines.len());

    let service = Service::start(&config, &log);
    let last_start = std::time::Instant::now();
    let complete = eventually(90, async || {
        emitted(&stack, &mut seen).await;
        seen.iter().cloned().collect::<BTreeSet<_>>() == expected
    })
    .await;
    let settled_ms = last_start.elapsed().as_millis();
    let seen_set: BTreeSet<(String, String)> = seen.iter().cloned().collect();
    assert!(
        complete,
        "missing: {:?}, unexpected: {:?}\n{}",
        expected.difference(&seen_set).collect::<Vec<_>>(),
        seen_set.difference(&expected).collect::<Vec<_>>(),
        service.log_text()
    );
    let cut_overs = expected.iter().filter(|(_, t)| t == "Deployment Cut Over").count();
    assert!(eventually(30, async || stack.invalidations().await.len() >= cut_overs).await);
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    emitted(&stack, &mut seen).await;
    let status = service.terminate().await;
    assert!(status.success());

    // Exactly one Slack post per deployment. A rollback normally replies in the thread of
    // the deployment it undoes; when a dead consumer held back the one event that says it is
    // a rollback, it may post instead (DESIGN: wilder reorderings give other, consistent
    // decisions), but still only once.
    let posts = slack.top_level_posts();
    let wanted = posting_deployments(&scenarios);
    let rollbacks = BTreeSet::from(["ecs-svc/3333333333333333333".to_owned(), "d-RBCK7TT0P".to_owned()]);
    let posted: BTreeSet<String> = posts.keys().cloned().collect();
    assert!(wanted.is_subset(&posted), "missing posts: {:?}", wanted.difference(&posted).collect::<Vec<_>>());
    assert!(posted.difference(&wanted).all(|d| rollbacks.contains(d)), "unexpected posts: {posts:?}");
    assert!(posts.values().all(|n| *n == 1), "a post was repeated: {posts:?}");
    // Replies are not repeated either.
    let replies: Vec<(String, String)> = slack.replies();
    let distinct: BTreeSet<&(String, String)> = replies.iter().collect();
    assert_eq!(replies.len(), distinct.len(), "a reply was repeated: {replies:?}");
    // Exactly one invalidation per cut-over.
    let invalidations = stack.invalidations().await;
    assert_eq!(invalidations.len(), cut_overs, "{invalidations:?}");
    // One emitted event per lifecycle step.
    let mut counts: BTreeMap<&(String, String), usize> = BTreeMap::new();
    for e in &seen {
        *counts.entry(e).or_default() += 1;
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "emitted more than once: {repeated:?}");
    eprintln!(
        "chaos: seed={seed:#x} kills={kills} scenarios={} messages={} lifecycle_events={} posts={} replies={} \
         invalidations={} lost=0 repeated=0 settled_after_last_start_ms={settled_ms} total_s={:.1}",
        scenarios.len(),
        lines.len(),
        seen.len(),
        posts.len(),
        replies.len(),
        invalidations.len(),
        chaos_started.elapsed().as_secs_f64()
    );
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_answering_429_and_500_loses_nothing_and_doubles_nothing() {
    // Also a 429 storm: nothing counted as sent, nothing doubled.
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let fault = |status, count, after_processing| slack_standin::Fault {
        status,
        count,
        retry_after_secs: Some(1),
        stall_ms: None,
        after_processing,
        methods: vec![],
        error: None,
    };
    // 429s, plain 500s, and 500s that the stand-in answers after posting (the client cannot
    // tell those from failures: the history lookup must find the message).
    slack.state.inject(fault(429, 3, false));
    // A storm: 25 more 429s in a row, each saying to come back at once.
    slack.state.inject(slack_standin::Fault { retry_after_secs: Some(0), ..fault(429, 25, false) });
    slack.state.inject(fault(500, 2, false));
    slack.state.inject(fault(500, 2, true));
    let dir = temp_dir("serve-slack-faults");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let service = Service::start(&config, &dir.join("cutover.log"));
    let scenarios = ["rolling-circuit-breaker", "codedeploy-sns"];
    for name in scenarios {
        for line in scenario_lines(name) {
            stack.inject(&line).await;
        }
    }
    let wanted = posting_deployments(&scenarios);
    let replies_now = || slack.replies().into_iter().filter(|(_, text)| !text.starts_with(":broom:")).count();
    // Each message in its final state, and the thread replies of both deployments (a rollback's
    // replies go out on their own, after or before its parent's last update).
    let settled = eventually(90, async || {
        let messages = slack.state.messages();
        wanted.iter().all(|d| {
            messages.iter().any(|m| {
                m.metadata.as_ref().is_some_and(|md| md["event_payload"]["deployment_id"] == d.as_str())
                    && m.text.as_deref().is_some_and(|t| t.contains("completed") || t.contains("rolled back"))
            })
        }) && replies_now() >= 5
    })
    .await;
    let last_calls = || {
        let calls = slack.state.calls();
        let tail: Vec<String> = calls
            .iter()
            .skip(calls.len().saturating_sub(15))
            .map(|c| format!("  {} {} at {} us", c.method, c.status, c.received_at_us))
            .collect();
        format!("the stand-in's last calls:\n{}", tail.join("\n"))
    };
    assert!(
        settled,
        "{:#?}\n{}\n{}\n{}",
        slack.state.messages(),
        last_calls(),
        common::unfinished_actions(&dir.join("cutover.db")),
        service.log_text()
    );
    let calls = slack.state.calls();
    assert_eq!(calls.iter().filter(|c| c.status == 429).count(), 3 + 25, "the 429s were answered");
    assert_eq!(calls.iter().filter(|c| c.status == 500).count(), 4, "the 500s were answered");
    let posts = slack.top_level_posts();
    assert_eq!(posts.keys().cloned().collect::<BTreeSet<_>>(), wanted);
    assert!(posts.values().all(|n| *n == 1), "doubled: {posts:?}");
    let replies: Vec<(String, String)> =
        slack.replies().into_iter().filter(|(_, text)| !text.starts_with(":broom:")).collect();
    assert_eq!(replies.len(), replies.iter().collect::<BTreeSet<_>>().len(), "doubled reply: {replies:?}");
    assert_eq!(replies.len(), 5, "two failed tasks, the failure and two rollback steps: {replies:?}");
    assert!(service.terminate().await.success());
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slack_token_can_come_from_secrets_manager_and_never_reaches_the_log() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&common::sdk(&moto.url));
    let token = "xoxb-from-secrets-manager-0123456789";
    let arn = secrets
        .create_secret()
        .name("cutover/slack")
        .secret_string(format!(r#"{{"token": "{token}"}}"#))
        .send()
        .await
        .expect("secret")
        .arn
        .expect("arn");
    let dir = temp_dir("serve-secret");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("messages_per_second = 50.0", &format!("messages_per_second = 50.0\ntoken_secret_arn = \"{arn}\""));
    std::fs::write(&config, text).unwrap();
    // Also: the JSON log format CloudWatch reads.
    let text = std::fs::read_to_string(&config).unwrap() + "\n[log]\nformat = \"json\"\n";
    std::fs::write(&config, text).unwrap();
    let service = Service::start_with_token(&config, &dir.join("cutover.log"), None);
    for line in scenario_lines("rolling") {
        stack.inject(&line).await;
    }
    assert!(eventually(30, async || !slack.state.messages().is_empty()).await, "{}", service.log_text());
    let log = service.log.clone();
    assert!(service.terminate().await.success());
    let text = std::fs::read_to_string(log).unwrap();
    assert!(!text.contains(token), "the token leaked into the log");
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("cutover:")).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    // No fault was injected: every call succeeded, so each carried a valid token (the
    // stand-in answers `not_authed` otherwise).
    let calls = slack.state.calls();
    assert!(!calls.is_empty() && calls.iter().all(|c| c.ok), "{calls:?}");
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_delete_failure_is_handled_on_its_own() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use cutover::intake::{Batch, IntakeCounters};

    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    for line in scenario_lines("codedeploy-eventbridge").iter().take(2) {
        stack.send_raw(line).await;
    }
    let received =
        stack.sqs.receive_message().queue_url(&stack.queue_url).max_number_of_messages(10).send().await.unwrap();
    let mut messages = received.messages.unwrap_or_default();
    assert_eq!(messages.len(), 2);
    // The second one's receipt handle is no longer valid (as after a visibility timeout).
    messages[1].receipt_handle = Some("no-longer-valid".to_owned());
    let counters = Arc::new(IntakeCounters::default());
    let mut driver = test_driver(&stack, cutover::config::SqsConfig::default(), counters.clone());
    driver.handle(Batch { messages, received_at: std::time::Instant::now() }).await.unwrap();
    assert_eq!(counters.accepted.load(Ordering::Relaxed), 2, "both were decided and committed");
    assert_eq!(counters.deleted.load(Ordering::Relaxed), 1, "the good handle was deleted");
    assert_eq!(counters.delete_failures.load(Ordering::Relaxed), 1, "the bad one failed alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_answer_and_without_a_dead_letter_queue_bad_input_is_left_for_redrive() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("serve-health");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""))
        .replace(&format!("dead_letter_queue_url = \"{}\"\n", stack.dlq_url), "");
    std::fs::write(&config, text).unwrap();
    let service = Service::start(&config, &dir.join("cutover.log"));
    assert!(eventually(20, async || common::http_get(port, "/healthz").await.is_some_and(|(s, _)| s == 200)).await);
    let (status, body) = common::http_get(port, "/readyz").await.unwrap();
    assert_eq!((status, body.trim()), (200, "ready"));

    stack.send_raw("definitely not json").await;
    let counted = eventually(20, async || {
        common::http_get(port, "/metrics")
            .await
            .is_some_and(|(_, m)| m.contains("cutover_messages_rejected_total{reason=\"not_json\"} 1"))
    })
    .await;
    assert!(counted, "{}", service.log_text());
    let (_, metrics) = common::http_get(port, "/metrics").await.unwrap();
    assert!(metrics.contains("cutover_messages_dead_lettered_total 0"), "{metrics}");
    assert!(metrics.contains("cutover_sqs_messages_deleted_total 0"), "left in the queue: {metrics}");
    assert!(service.terminate().await.success());
    // Still in the queue for its redrive policy once its visibility timeout passes.
    let left = eventually(15, async || !stack.drain(&stack.queue_url).await.is_empty()).await;
    assert!(left, "the malformed message was not left in the queue");
    // With the emulator gone, readiness would fail; the endpoint itself is covered above.
    drop(moto);
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_times_out_but_happened_is_found_not_repeated() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    // The first post is carried out at once but answered only after 2.5 s; Cutover gives up
    // after 1 s, so it cannot know the post happened until it looks.
    slack.state.inject(slack_standin::Fault {
        status: 0,
        count: 1,
        retry_after_secs: None,
        stall_ms: Some(2_500),
        after_processing: true,
        methods: vec!["chat.postMessage".into()],
        error: None,
    });
    let dir = temp_dir("serve-stall");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("messages_per_second = 50.0", "messages_per_second = 50.0\ntimeout_secs = 1.0");
    std::fs::write(&config, text).unwrap();
    let service = Service::start(&config, &dir.join("cutover.log"));
    for line in scenario_lines("rolling") {
        stack.inject(&line).await;
    }
    let done = eventually(60, async || {
        slack.state.messages().iter().any(|m| m.text.as_deref().is_some_and(|t| t.contains("completed")))
    })
    .await;
    assert!(done, "{:#?}\n{}", slack.state.messages(), service.log_text());
    let posts = slack.top_level_posts();
    assert_eq!(posts, BTreeMap::from([("ecs-svc/5211643699352071000".to_owned(), 1)]), "{}", service.log_text());
    assert!(service.log_text().contains("Found the post of an earlier attempt"), "the lookup found it");
    assert!(service.terminate().await.success());
    slack.stop();
}

/// Deploys infra/cloudformation/cutover.yaml into the emulator and runs scenarios through the
/// rules it created (the emulator skips the SNS subscription and CloudFront: created here,
/// as the template declares them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloudformation_stack_routes_aws_events_to_cutover() {
    let moto = Moto::start().await;
    let sdk = common::sdk(&moto.url);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret =
        secrets.create_secret().name("cutover/slack").secret_string("xoxb-stack").send().await.unwrap().arn.unwrap();
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let template = std::fs::read_to_string(common::workspace().join("infra/cloudformation/cutover.yaml")).unwrap();
    let parameter = |k: &str, v: &str| {
        aws_sdk_cloudformation::types::Parameter::builder().parameter_key(k).parameter_value(v).build()
    };
    cfn.create_stack()
        .stack_name("cutover")
        .template_body(template)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .parameters(parameter("ContainerImage", "cutover:test"))
        .parameters(parameter("SlackTokenSecretArn", &secret))
        .parameters(parameter("SubnetIds", "subnet-0123456789abcdef0"))
        .parameters(parameter("SecurityGroupIds", "sg-0123456789abcdef0"))
        .send()
        .await
        .expect("create stack");
    let mut outputs = BTreeMap::new();
    let complete = eventually(30, async || {
        let s = cfn.describe_stacks().stack_name("cutover").send().await.unwrap();
        let stack = &s.stacks()[0];
        outputs = stack
            .outputs()
            .iter()
            .map(|o| (o.output_key().unwrap_or_default().to_owned(), o.output_value().unwrap_or_default().to_owned()))
            .collect();
        stack.stack_status().map(|st| st.as_str()) == Some("CREATE_COMPLETE")
    })
    .await;
    assert!(complete, "stack did not complete");

    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let cloudfront = aws_sdk_cloudfront::Client::new(&sdk);
    let queue_url = outputs["QueueUrl"].clone();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap();
    let topic_arn = outputs["CodeDeployTriggersTopicArn"].clone();
    sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&queue_arn).send().await.unwrap();
    let bus_name = outputs["EventBusArn"].rsplit('/').next().unwrap().to_owned();
    let emitted_url = sqs.create_queue().queue_name("subscriber").send().await.unwrap().queue_url.unwrap();
    let emitted_arn = sqs
        .get_queue_attributes()
        .queue_url(&emitted_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap();
    events
        .put_rule()
        .name("subscriber")
        .event_bus_name(&bus_name)
        .event_pattern(r#"{"source": ["cutover"]}"#)
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("s").arn(&emitted_arn).build().unwrap();
    events.put_targets().rule("subscriber").event_bus_name(&bus_name).targets(target).send().await.unwrap();
    let distribution_id = common::create_distribution(&cloudfront).await;
    let stack = Stack {
        sqs,
        sns,
        events,
        cloudfront,
        queue_url,
        dlq_url: outputs["DeadLetterQueueUrl"].clone(),
        emitted_url,
        receipts_url: outputs["ReceiptsQueueUrl"].clone(),
        topic_arn: topic_arn.clone(),
        raw_topic_arn: topic_arn,
        distribution_id,
        bus_name,
    };
    let slack = Slack::start().await;
    let dir = temp_dir("serve-stack");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""));
    std::fs::write(&config, text).unwrap();
    let service = Service::start(&config, &dir.join("cutover.log"));

    let scenarios = ["rolling", "codedeploy-sns"];
    let mut relevant = 0;
    for name in scenarios {
        for line in scenario_lines(name) {
            stack.inject(&line).await;
            relevant += 1;
        }
    }
    // A RunTask task: the stack's task rule (group prefix "service:") keeps it out of the queue.
    let fixture =
        std::fs::read_to_string(common::workspace().join("event-schemas/fixtures/ecs-task.run-task.json")).unwrap();
    let run_task: Value = serde_json::from_str(&fixture).unwrap();
    stack.inject(&run_task.to_string()).await;

    let expected: BTreeSet<(String, String)> = scenarios.iter().flat_map(|s| expected_lifecycle(s)).collect();
    let mut seen = Vec::new();
    let done = eventually(60, async || {
        emitted(&stack, &mut seen).await;
        seen.iter().cloned().collect::<BTreeSet<_>>() == expected
    })
    .await;
    assert!(done, "emitted {seen:?}\n{}", service.log_text());
    let (_, metrics) = common::http_get(port, "/metrics").await.unwrap();
    assert!(
        metrics.contains(&format!("cutover_sqs_messages_received_total {relevant}\n")),
        "the RunTask event reached the queue: {metrics}"
    );
    assert!(metrics.contains("cutover_messages_ignored_total 0\n"), "{metrics}");
    // The driver's own CPU time on those messages.
    let cpu = metrics.lines().find_map(|l| l.strip_prefix("cutover_driver_cpu_seconds_total ")).map(str::parse::<f64>);
    assert!(cpu.is_some_and(|c| c.is_ok_and(|c| c > 0.0)), "{metrics}");
    // Operator metrics: decisions by type, and the detection lag of each of them.
    assert!(metrics.contains("cutover_decisions_total{type=\"Deployment Cut Over\"} 2\n"), "{metrics}");
    assert!(metrics.contains("cutover_detection_lag_seconds_count 6\n"), "{metrics}");
    assert!(metrics.contains(&format!("cutover_sqs_receive_lag_seconds_count {relevant}\n")), "{metrics}");
    assert!(metrics.contains("cutover_action_duration_seconds_count{lane=\"slack\"}"), "{metrics}");
    assert!(service.terminate().await.success());
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_waited_long_has_its_visibility_extended() {
    use cutover::intake::Batch;

    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    // Malformed and no dead-letter queue: the message stays in the queue, so its visibility
    // can be watched.
    stack.send_raw("definitely not json").await;
    let received = stack.sqs.receive_message().queue_url(&stack.queue_url).visibility_timeout(2).send().await.unwrap();
    let messages = received.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1);
    let cfg = cutover::config::SqsConfig { visibility_timeout_secs: 30, ..Default::default() };
    let mut driver = test_driver(&stack, cfg, std::sync::Arc::default());
    // It waited 20 s in the channel: more than half the visibility timeout.
    let waited = std::time::Instant::now() - std::time::Duration::from_secs(20);
    driver.handle(Batch { messages, received_at: waited }).await.unwrap();
    // Past the 2 s it was received with, it is still invisible: extended to 30 s.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let again = stack.sqs.receive_message().queue_url(&stack.queue_url).send().await.unwrap();
    assert!(again.messages.unwrap_or_default().is_empty(), "the visibility was not extended");
}

/// What made the Slack fault test stall once in a while, made certain: the update that says
/// "failed" waits for a retry (its first try came before the post went through) while the
/// later update that says "rolled back" is due at once. The older must never run after the
/// newer, or the message ends in a stale state that nothing corrects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_slack_update_waiting_for_a_retry_never_overwrites_a_newer_one() {
    use cutover::executors::lane::{Executor as _, record};
    use cutover::executors::{Backoff, now_ms, slack::SlackExecutor};
    use cutover::store::{Journal as _, Lane, Outbox as _, Status, sqlite::SqliteStore};
    use cutover_correlator::{Action, action::SlackMessage};

    let slack = Slack::start().await;
    let message = |text: &str| SlackMessage {
        deployment_id: "ecs-svc/2".into(),
        channel: "deployments".into(),
        thread_of: None,
        text: text.into(),
        blocks: vec![],
        broadcast: false,
    };
    let mut store = SqliteStore::in_memory().unwrap();
    store
        .commit(
            &[],
            &[
                Action::SlackPost(message("deploying")).into(),
                Action::SlackUpdate(message("failed")).into(),
                Action::SlackUpdate(message("rolled back")).into(),
            ],
        )
        .unwrap();
    let ids: Vec<i64> = store.due(Lane::Slack, i64::MAX, 10).unwrap().iter().map(|i| i.id).collect();
    store.mark_retry(ids[1], Status::Pending, now_ms() + 1_000, "waiting for the message to be posted").unwrap();
    let token = secrecy::SecretString::from("xoxb-e2e-secret-token-value");
    let mut executor =
        SlackExecutor::new(&slack.api_url(), &token, 50.0, std::time::Duration::from_secs(5)).expect("executor");
    let backoff = Backoff { initial_ms: 100, max_ms: 100 };
    // The lane's rounds, bounded: 50 of 100 ms.
    for _ in 0..50 {
        if store.next_due(Lane::Slack).unwrap().is_none() {
            break;
        }
        let items = store.due(Lane::Slack, now_ms(), 10).unwrap();
        for (id, outcome) in executor.execute(&items, &mut store).await {
            let item = items.iter().find(|i| i.id == id).unwrap();
            record(&mut store, item, outcome, &backoff).unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(store.next_due(Lane::Slack).unwrap(), None, "every action finished");
    let top: Vec<_> = slack.state.messages().into_iter().filter(|m| m.thread_ts.is_none()).collect();
    assert_eq!(top.len(), 1, "{top:?}");
    assert_eq!(top[0].text.as_deref(), Some("rolled back"), "the last state wins: {top:?}");
    slack.stop();
}

/// An emit left `attempting` by a crash mid-PutEvents.
fn emit_action(deployment: &str) -> cutover_correlator::Action {
    serde_json::from_value(serde_json::json!({
        "action": "emit",
        "source": "cutover",
        "detail_type": "Deployment Cut Over",
        "detail": {
            "deployment_id": deployment, "cluster": "prod", "service": "web", "environment": null,
            "strategy": "ecs-rolling", "task_definition": null, "previous_task_definition": null,
            "version": "v2", "at": "2026-03-14T09:31:41.900Z", "observed_at": "2026-03-14T09:31:42.000Z",
            "application": null, "deployment_group": null, "rollback_of": null, "pipeline": null
        }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_put_events_outcome_is_unknown_is_found_by_its_receipt_not_sent_twice() {
    use cutover::executors::lane::Executor as _;
    use cutover::executors::{Outcome, eventbridge::EventBridgeExecutor};
    use cutover::store::{Claim as _, Journal as _, Lane, Outbox as _, Status, sqlite::SqliteStore};

    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let sdk = common::sdk(&moto.url);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    // Before the crash: the first event's PutEvents went through, the second's never left.
    let mut sent = SqliteStore::in_memory().unwrap();
    sent.commit(&[], &[emit_action("ecs-svc/1").into()]).unwrap();
    let first = sent.due(Lane::EventBridge, i64::MAX, 10).unwrap();
    let mut plain = EventBridgeExecutor::new(events.clone(), stack.bus_name.clone());
    assert!(matches!(plain.execute(&first, &mut sent).await[0].1, Outcome::Done(_)));

    // After the restart both are `attempting`: the outcome of each is unknown.
    let mut store = SqliteStore::in_memory().unwrap();
    store.commit(&[], &[emit_action("ecs-svc/1").into(), emit_action("ecs-svc/2").into()]).unwrap();
    for item in store.due(Lane::EventBridge, i64::MAX, 10).unwrap() {
        store.mark_attempting(item.id).unwrap();
    }
    let items = store.due(Lane::EventBridge, i64::MAX, 10).unwrap();
    assert!(items.iter().all(|i| i.status == Status::Attempting));
    let mut checked = EventBridgeExecutor::new(events, stack.bus_name.clone()).with_receipts(
        stack.sqs.clone(),
        stack.receipts_url.clone(),
        std::time::Duration::from_secs(3),
    );
    let outcomes = checked.execute(&items, &mut store).await;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(outcomes.iter().all(|(_, o)| matches!(o, Outcome::Done(_))), "{outcomes:?}");

    // On the bus: each event exactly once.
    let mut seen = Vec::new();
    eventually(10, async || {
        emitted(&stack, &mut seen).await;
        seen.len() >= 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    emitted(&stack, &mut seen).await;
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("ecs-svc/1".to_owned(), "Deployment Cut Over".to_owned()),
            ("ecs-svc/2".to_owned(), "Deployment Cut Over".to_owned())
        ]
    );
}

/// A look for receipts that a crash cut short (a receive had already hidden what it read)
/// must not hide the receipt from the next process's look: before, it stayed hidden for the
/// wait and five seconds more, the next look gave up after the wait and sent the event again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_for_receipts_cut_short_by_a_crash_hides_nothing_from_the_next_one() {
    use cutover::executors::lane::Executor as _;
    use cutover::executors::{Outcome, eventbridge::EventBridgeExecutor};
    use cutover::store::{Claim as _, Journal as _, Lane, Outbox as _, sqlite::SqliteStore};

    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let sdk = common::sdk(&moto.url);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let wait = std::time::Duration::from_secs(3);
    let receipts = |e: EventBridgeExecutor| e.with_receipts(stack.sqs.clone(), stack.receipts_url.clone(), wait);
    // The first event went out; its outbox entry was left `attempting`.
    let mut sent = SqliteStore::in_memory().unwrap();
    sent.commit(&[], &[emit_action("ecs-svc/1").into()]).unwrap();
    let first = sent.due(Lane::EventBridge, i64::MAX, 10).unwrap();
    let mut plain = EventBridgeExecutor::new(events.clone(), stack.bus_name.clone());
    assert!(matches!(plain.execute(&first, &mut sent).await[0].1, Outcome::Done(_)));

    // A process looks for the receipt of another event of unknown outcome and dies mid-look.
    let mut dying_store = SqliteStore::in_memory().unwrap();
    dying_store.commit(&[], &[emit_action("ecs-svc/9").into()]).unwrap();
    let other = dying_store.due(Lane::EventBridge, i64::MAX, 10).unwrap();
    dying_store.mark_attempting(other[0].id).unwrap();
    let other = dying_store.due(Lane::EventBridge, i64::MAX, 10).unwrap();
    let mut dying = receipts(EventBridgeExecutor::new(events.clone(), stack.bus_name.clone()));
    let cut_short =
        tokio::time::timeout(std::time::Duration::from_millis(700), dying.execute(&other, &mut dying_store)).await;
    assert!(cut_short.is_err(), "the look was meant to be cut short: {cut_short:?}");

    // The next process finds the first event's receipt and does not send it again.
    let mut store = SqliteStore::in_memory().unwrap();
    store.commit(&[], &[emit_action("ecs-svc/1").into()]).unwrap();
    let item = store.due(Lane::EventBridge, i64::MAX, 10).unwrap();
    store.mark_attempting(item[0].id).unwrap();
    let item = store.due(Lane::EventBridge, i64::MAX, 10).unwrap();
    let mut next = receipts(EventBridgeExecutor::new(events, stack.bus_name.clone()));
    let outcomes = next.execute(&item, &mut store).await;
    assert!(matches!(outcomes[..], [(_, Outcome::Done(_))]), "{outcomes:?}");

    let mut seen = Vec::new();
    eventually(10, async || {
        emitted(&stack, &mut seen).await;
        !seen.is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    emitted(&stack, &mut seen).await;
    assert_eq!(seen, vec![("ecs-svc/1".to_owned(), "Deployment Cut Over".to_owned())], "sent once, and only it");
}
