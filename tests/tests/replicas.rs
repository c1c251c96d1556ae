//! Two `cutover serve` replicas on one queue and one DynamoDB table (the emulator's): every
//! message of a scenario delivered twice, and each effect happens exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Moto, Service, Slack, Stack, eventually, expected_lifecycle, scenario_lines, temp_dir, write_config};
use cutover::store::dynamodb::DynamoStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_table_act_once_on_a_duplicated_scenario() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let table = DynamoStore::new(aws_sdk_dynamodb::Client::new(&common::sdk(&moto.url)), "cutover-replicas");
    tokio::task::block_in_place(|| table.create_table().unwrap());
    let dir = temp_dir("replicas");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "snapshot_every = 7",
        "snapshot_every = 7\nbackend = \"dynamodb\"\ntable = \"cutover-replicas\"\nlease_secs = 15.0",
    );
    std::fs::write(&config, text).unwrap();
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
