//! Two `cutover serve` replicas on one queue and one DynamoDB table (the emulator's): every
//! message of a scenario delivered twice, and each effect happens exactly once; a request from
//! Slack sent to one replica and its retry to the other is acted on once, also when the first
//! is killed before its call.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{
    Moto, Service, Slack, Stack, eventually, expected_lifecycle, health_on_free_port, scenario_lines, storefront_on_42,
    task_definition_of, temp_dir, write_config,
};
use cutover::store::dynamodb::DynamoStore;
use slack_standin::requests::{Signing, SlashCommand, headers, post};

/// `extra` plus the DynamoDB store on `table`.
fn on_table(config: &std::path::Path, table: &str, lease_secs: f64) {
    let text = std::fs::read_to_string(config).unwrap().replace(
        "snapshot_every = 7",
        &format!("snapshot_every = 7\nbackend = \"dynamodb\"\ntable = \"{table}\"\nlease_secs = {lease_secs:.1}"),
    );
    std::fs::write(config, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_table_act_once_on_a_duplicated_scenario() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let table = DynamoStore::new(aws_sdk_dynamodb::Client::new(&common::sdk(&moto.url)), "cutover-replicas");
    tokio::task::block_in_place(|| table.create_table().unwrap());
    let dir = temp_dir("replicas");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    on_table(&config, "cutover-replicas", 15.0);
    let replicas =
        [Service::start(&config, &dir.join("replica-a.log")), Service::start(&config, &dir.join("replica-b.log"))];

    // Every SQS body twice, as an at-least-once queue may deliver it.
    let scenarios = ["rolling", "codedeploy-sns", "codedeploy-rollback"];
    for name in scenarios {
        for line in scenario_lines(name) {
            stack.send_raw(&line).await;
            stack.send_raw(&line).await;
        }
    }

    let expected: BTreeSet<(String, String)> = scenarios.iter().flat_map(|s| expected_lifecycle(s)).collect();
    let mut seen: Vec<(String, String)> = Vec::new();
    let logs = || replicas.iter().map(Service::log_text).collect::<Vec<_>>().join("\n----\n");
    let complete = eventually(90, async || {
        seen.extend(stack.emitted_steps().await);
        seen.iter().cloned().collect::<BTreeSet<_>>() == expected
    })
    .await;
    assert!(complete, "emitted {seen:?}\n{}", logs());
    let cut_overs = expected.iter().filter(|(_, t)| t == "Deployment Cut Over").count();
    assert!(eventually(30, async || stack.invalidations().await.len() >= cut_overs).await, "{}", logs());
    // Stragglers, if any, show up before counting exactly.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    seen.extend(stack.emitted_steps().await);

    // Each lifecycle event once, each invalidation once, one Slack post per deployment that
    // posts (the rollback replies), no reply twice.
    let mut counts: BTreeMap<&(String, String), usize> = BTreeMap::new();
    for e in &seen {
        *counts.entry(e).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "emitted more than once: {counts:?}\n{}", logs());
    assert_eq!(stack.invalidations().await.len(), cut_overs);
    let posts = slack.top_level_posts();
    assert!(posts.values().all(|n| *n == 1), "a deployment posted twice: {posts:?}");
    assert_eq!(posts.len(), 3, "{posts:?}");
    let replies = slack.replies();
    let distinct_replies: BTreeSet<&(String, String)> = replies.iter().collect();
    assert_eq!(replies.len(), distinct_replies.len(), "a reply was repeated: {replies:?}");

    let [a, b] = replicas;
    assert!(a.terminate().await.success());
    assert!(b.terminate().await.success());
    slack.stop();
}

const SECRET: &str = "e2e-replicas-signing-secret";

const ACTIONS: &str = r#"
[slack.actions]
enabled = true
transport = "http"

[[routes]]
cluster = "prod-*"
environment = "production"
channel = "deploys-prod"
operators = ["U0OPS", "U0OPS2"]
"#;

/// `/cutover rollback` sent to replica A and Slack's retry of it (the same `trigger_id`,
/// `X-Slack-Retry-Num: 1`) to replica B at once: one is accepted, the other refused, and ECS
/// gets one `UpdateService`. A `kill -9` of the replica that accepted, right after its answer
/// (its call made or not), leaves the other to finish it; a second operator's request to the
/// survivor is refused as asked already; still one call, the service on the task definition
/// asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_and_its_retry_on_two_replicas_make_one_call_across_a_kill_9() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let ecs = storefront_on_42(&moto).await;
    moto.record().await;
    let table = DynamoStore::new(aws_sdk_dynamodb::Client::new(&common::sdk(&moto.url)), "cutover-controls");
    tokio::task::block_in_place(|| table.create_table().unwrap());
    let (dir_a, dir_b) = (temp_dir("replicas-controls-a"), temp_dir("replicas-controls-b"));
    let (config_a, config_b) =
        (write_config(&dir_a, &moto, &stack, &slack, ACTIONS), write_config(&dir_b, &moto, &stack, &slack, ACTIONS));
    // A short lease (and Slack calls shorter still), so B takes over A's claim soon.
    for config in [&config_a, &config_b] {
        on_table(config, "cutover-controls", 5.0);
        let text = std::fs::read_to_string(config)
            .unwrap()
            .replace("messages_per_second", "timeout_secs = 2.0\nmessages_per_second");
        std::fs::write(config, text).unwrap();
    }
    let (port_a, port_b) = (health_on_free_port(&config_a), health_on_free_port(&config_b));
    let env = [("SLACK_SIGNING_SECRET", SECRET)];
    let a = Service::start_with_env(&config_a, &dir_a.join("cutover.log"), Some("xoxb-e2e"), &env);
    let b = Service::start_with_env(&config_b, &dir_b.join("cutover.log"), Some("xoxb-e2e"), &env);
    for port in [port_a, port_b] {
        assert!(eventually(30, async || common::http_get(port, "/healthz").await.is_some()).await);
    }
    for line in scenario_lines("rolling") {
        stack.inject_in_order(&line).await;
    }
    let logs = || {
        [&dir_a, &dir_b].map(|d| std::fs::read_to_string(d.join("cutover.log")).unwrap_or_default()).join("\n----\n")
    };
    let mut steps = Vec::new();
    assert!(
        eventually(60, async || {
            steps.extend(stack.emitted_steps().await);
            steps.iter().any(|(_, t)| t == "Deployment Completed")
        })
        .await,
        "{steps:?}\n{}",
        logs()
    );

    let body = SlashCommand::cutover("rollback storefront production", "U0OPS", "C0DEPLOYS").body();
    let (to_a, to_b) = (headers(Signing::Now(SECRET), &body, None), headers(Signing::Now(SECRET), &body, Some(1)));
    let (first, retry) =
        tokio::join!(post(port_a, "/slack/commands", &to_a, &body), post(port_b, "/slack/commands", &to_b, &body));
    let text = |a: &slack_standin::requests::Answer| a.json()["text"].as_str().unwrap_or_default().to_owned();
    let answers = [text(&first.unwrap()), text(&retry.unwrap())];
    let accepted = answers.iter().filter(|t| t.contains("Rolling back prod-eu/storefront")).count();
    let refused = answers.iter().filter(|t| t.contains("already handled")).count();
    assert_eq!((accepted, refused), (1, 1), "{answers:?}\n{}", logs());

    // The replica that accepted it is killed at once: its lane may or may not have made the
    // call yet. The other finishes it.
    let (acted, survivor, port) = if answers[0].contains("Rolling back") { (a, b, port_b) } else { (b, a, port_a) };
    acted.kill().await;
    let other = SlashCommand::cutover("rollback storefront production", "U0OPS2", "C0DEPLOYS").body();
    let again = post(port, "/slack/commands", &headers(Signing::Now(SECRET), &other, None), &other).await.unwrap();
    assert!(text(&again).contains("already asked for by <@U0OPS>"), "{}\n{}", text(&again), logs());
    assert!(eventually(60, async || task_definition_of(&ecs).await.ends_with("storefront:41")).await, "{}", logs());
    // Once, whoever made it: the survivor takes over a claim only after its lease ran out, and
    // looks before calling.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(moto.recorded("AmazonEC2ContainerServiceV20141113.UpdateService"), 1, "{}", logs());
    assert!(survivor.terminate().await.success());
    slack.stop();
}
