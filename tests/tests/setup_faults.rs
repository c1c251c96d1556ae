//! `cutover serve` when its setup is wrong or its peers refuse (DESIGN.md, "Slack refusing the
//! token", "A missing EventBridge bus", "Text from events into Slack", the shutdown grace):
//! nothing is dropped, `/readyz` names what is down, and the actions go through once it is
//! mended. Each test failed before its fix.

mod common;

use common::{Moto, Service, Slack, Stack, eventually, health_on_free_port, scenario_lines, temp_dir, write_config};

fn add_to_section(config: &std::path::Path, header: &str, lines: &str) {
    let text =
        std::fs::read_to_string(config).unwrap().replace(&format!("{header}\n"), &format!("{header}\n{lines}\n"));
    std::fs::write(config, text).unwrap();
}

async fn readyz(port: u16) -> Option<(u16, String)> {
    common::http_get(port, "/readyz").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_slack_token_holds_the_posts_until_the_rotated_secret_is_read() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    slack.state.refuse_token("xoxb-revoked-token", "token_revoked");
    let secrets = aws_sdk_secretsmanager::Client::new(&common::sdk(&moto.url));
    let arn = secrets
        .create_secret()
        .name("cutover/slack-rotated")
        .secret_string("xoxb-revoked-token")
        .send()
        .await
        .expect("secret")
        .arn
        .expect("arn");
    let dir = temp_dir("setup-token");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    add_to_section(&config, "[slack]", &format!("token_secret_arn = \"{arn}\""));
    let port = health_on_free_port(&config);
    let service = Service::start_with_token(&config, &dir.join("cutover.log"), None);
    for line in scenario_lines("rolling") {
        stack.inject(&line).await;
    }
    let refused = eventually(30, async || {
        readyz(port)
            .await
            .is_some_and(|(s, body)| s == 503 && body.contains("slack: Slack refused the bot token (token_revoked)"))
    })
    .await;
    assert!(refused, "/readyz: {:?}\n{}", readyz(port).await, service.log_text());
    assert!(slack.state.messages().is_empty());
    // Every lifecycle event still went out: only Slack waits.
    let mut steps = Vec::new();
    assert!(
        eventually(20, async || {
            steps.extend(stack.emitted_steps().await);
            steps.len() >= 3
        })
        .await
    );
    // The secret is rotated: the next retry reads it, and everything waiting goes through.
    secrets.put_secret_value().secret_id(&arn).secret_string("xoxb-rotated-token").send().await.expect("rotate");
    let posted = eventually(30, async || {
        slack
            .state
            .messages()
            .iter()
            .any(|m| m.thread_ts.is_none() && m.text.as_deref().is_some_and(|t| t.ends_with("completed")))
    })
    .await;
    assert!(posted, "messages: {:?}\n{}", slack.state.messages(), service.log_text());
    assert!(
        eventually(10, async || readyz(port).await.is_some_and(|(s, _)| s == 200)).await,
        "{:?}",
        readyz(port).await
    );
    assert_eq!(slack.top_level_posts().len(), 1, "one post, not lost, not doubled: {:?}", slack.top_level_posts());
    let log = service.log.clone();
    assert!(service.terminate().await.success());
    let text = std::fs::read_to_string(log).unwrap();
    assert!(!text.contains("xoxb-revoked-token") && !text.contains("xoxb-rotated-token"), "a token reached the log");
    assert!(!text.contains("failed for good"), "nothing was dropped:\n{text}");
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bus_holds_the_events_until_it_exists() {
    let moto = Moto::start().await;
    let mut stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    stack.bus_name = "cutover-not-yet".to_owned();
    let dir = temp_dir("setup-bus");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let port = health_on_free_port(&config);
    let service = Service::start(&config, &dir.join("cutover.log"));
    for line in scenario_lines("rolling") {
        stack.inject(&line).await;
    }
    let down = eventually(30, async || {
        readyz(port).await.is_some_and(|(s, body)| {
            s == 503 && body.contains("eventbridge: EventBridge bus cutover-not-yet not found")
        })
    })
    .await;
    assert!(down, "/readyz: {:?}\n{}", readyz(port).await, service.log_text());
    // Someone creates the bus: the held events go out, none failed, none twice.
    stack.events.create_event_bus().name("cutover-not-yet").send().await.expect("bus");
    let delivered = eventually(40, async || {
        common::http_get(port, "/metrics").await.is_some_and(|(_, m)| {
            m.contains("cutover_outbox_actions{lane=\"eventbridge\",status=\"done\"} 3")
                && !m.contains("cutover_outbox_actions{lane=\"eventbridge\",status=\"failed\"}")
        })
    })
    .await;
    assert!(delivered, "{:?}\n{}", common::http_get(port, "/metrics").await, service.log_text());
    assert!(eventually(10, async || readyz(port).await.is_some_and(|(s, _)| s == 200)).await);
    assert!(service.terminate().await.success());
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_slack_refuses_are_sent_as_text_and_long_names_are_cut_to_fit() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    slack.state.inject(slack_standin::Fault {
        error: Some("invalid_blocks".into()),
        count: 1,
        methods: vec!["chat.postMessage".into()],
        ..Default::default()
    });
    let dir = temp_dir("setup-blocks");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let service = Service::start(&config, &dir.join("cutover.log"));
    // A 255-character service name: a header of 268 characters without shortening.
    let long = "s".repeat(255);
    for line in scenario_lines("rolling") {
        stack.inject(&line.replace("storefront", &long)).await;
    }
    let posted = eventually(30, async || slack.state.messages().iter().any(|m| m.thread_ts.is_none())).await;
    assert!(posted, "{}", service.log_text());
    let calls = slack.state.calls();
    let posts: Vec<_> = calls.iter().filter(|c| c.method == "chat.postMessage").collect();
    assert!(!posts[0].ok && posts[0].params.get("blocks").is_some(), "the first post was refused: {:?}", posts[0]);
    assert!(posts[1].ok && posts[1].params.get("blocks").is_none(), "then sent as text alone: {:?}", posts[1]);
    // The updates carry blocks again, shortened to Block Kit's limits, and Slack takes them.
    let updated = eventually(30, async || slack.state.messages().iter().any(|m| m.updates >= 1)).await;
    assert!(updated, "{}", service.log_text());
    let m = slack.state.messages().into_iter().find(|m| m.thread_ts.is_none()).unwrap();
    let header = m.blocks.as_ref().and_then(|b| b[0]["text"]["text"].as_str().map(str::to_owned)).unwrap();
    assert!(header.chars().count() <= 150 && header.ends_with('…'), "{header}");
    assert!(slack.state.calls().iter().filter(|c| c.method == "chat.update").all(|c| c.ok));
    assert!(service.terminate().await.success());
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_grace_bounds_a_slack_call_in_flight() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    // Slack takes two minutes to answer, and Cutover would wait a minute for it.
    slack.state.inject(slack_standin::Fault {
        stall_ms: Some(120_000),
        count: 100,
        methods: vec!["chat.postMessage".into(), "chat.update".into()],
        ..Default::default()
    });
    let dir = temp_dir("setup-grace");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    add_to_section(&config, "[slack]", "timeout_secs = 60");
    let text = std::fs::read_to_string(&config).unwrap().replace("shutdown_grace_secs = 5", "shutdown_grace_secs = 1");
    std::fs::write(&config, text).unwrap();
    let service = Service::start(&config, &dir.join("cutover.log"));
    for line in scenario_lines("rolling") {
        stack.inject(&line).await;
    }
    // The post is on its way (the stand-in records a call when it answers, so wait for the
    // decisions instead: the lifecycle events went out).
    let mut steps = Vec::new();
    assert!(
        eventually(30, async || {
            steps.extend(stack.emitted_steps().await);
            steps.len() >= 3
        })
        .await
    );
    let log = service.log.clone();
    // `terminate` gives up after 30 s: before, the lane waited out its minute-long call.
    assert!(service.terminate().await.success());
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("Lane stopped mid-round at the end of the shutdown grace"), "{text}");
    slack.stop();
}
