//! `cutover serve` fed hostile input through the emulator's queue (DESIGN.md, "Times that
//! cannot be true"): what `replay` refuses, `serve` dead-letters, and one event cannot poison
//! the clock for the rest.

mod common;

use common::{
    Moto, Service, Slack, Stack, eventually, expected_lifecycle, health_on_free_port, scenario_lines, temp_dir,
    write_config,
};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_from_2099_neither_poisons_the_clock_nor_makes_redeliveries_new() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("hostile-clock");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let port = health_on_free_port(&config);
    let service = Service::start(&config, &dir.join("cutover.log"));
    let lines = scenario_lines("rolling");
    let half = lines.len() / 2;
    // The first half, one task event of another service dated 2099, the rest, then the first
    // half again (SQS redelivers): each body is sent to the queue as AWS would have.
    let mut poison: Value = serde_json::from_str(&lines[1]).unwrap();
    poison["id"] = Value::from("poison-2099");
    poison["time"] = Value::from("2099-01-01T00:00:00Z");
    poison["detail"]["updatedAt"] = Value::from("2099-01-01T00:00:00Z");
    poison["detail"]["group"] = Value::from("service:unrelated");
    for line in &lines[..half] {
        stack.send_raw(line).await;
    }
    stack.send_raw(&poison.to_string()).await;
    for line in &lines[half..] {
        stack.send_raw(line).await;
    }
    for line in &lines[..half] {
        stack.send_raw(line).await;
    }
    let expected = expected_lifecycle("rolling");
    let mut seen = Vec::new();
    let rejected = eventually(40, async || {
        seen.extend(stack.emitted_steps().await);
        // SQS delivers at least once: under load a message may come (and be deleted) twice.
        common::http_get(port, "/metrics").await.is_some_and(|(_, m)| {
            m.contains("cutover_messages_rejected_total{reason=\"invalid_field\"} 1")
                && common::metric(&m, "cutover_sqs_messages_deleted_total") >= (lines.len() + half + 1) as f64
        })
    })
    .await;
    assert!(rejected, "{:?}\n{}", common::http_get(port, "/metrics").await, service.log_text());
    assert!(
        eventually(20, async || {
            seen.extend(stack.emitted_steps().await);
            seen.len() >= expected.len()
        })
        .await
    );
    // Everything is handled; whatever more would come has come by the time the service stops.
    assert!(service.terminate().await.success());
    seen.extend(stack.emitted_steps().await);
    assert_eq!(seen, expected, "each lifecycle event once, none decided again");
    assert_eq!(slack.top_level_posts().values().copied().collect::<Vec<_>>(), vec![1]);
    let dead = stack.drain(&stack.dlq_url).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0]
        .message_attributes()
        .and_then(|a| a.get("cutover.rejection"))
        .and_then(|v| v.string_value())
        .unwrap_or_default();
    assert!(reason.contains("2099-01-01T00:00:00.000Z is more than 15 minutes ahead"), "{reason}");
    slack.stop();
}
