//! `cargo bench -p cutover-e2e --bench e2e_latency`: end-to-end latency on the emulator, one
//! deployment at a time (the next is sent once the previous is wholly done, so nothing queues
//! and the emulator is idle): a CodeDeploy `SUCCESS` event (it proves the cut-over)
//! is sent to SQS, and the clock stops when the Slack stand-in receives the post and when the
//! CloudFront invalidation has been created. Cutover's own time runs from its receipt of the
//! message (the journal's `now`) to those calls. `BENCH_N` (default 100) deployments.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Moto, Service, Slack, Stack, temp_dir, write_config};
use cutover_e2e::shapes::CodeDeployShape;
use cutover_e2e::shapes::Fleet;
use cutover_events::Timestamp;

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn row(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("bench-latency");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("messages_per_second = 50.0", "messages_per_second = 1000.0")
        .replace("wait_time_secs = 1", "wait_time_secs = 20")
        .replace("snapshot_every = 7", "snapshot_every = 100000");
    std::fs::write(&config, text).unwrap();
    let service = Service::start(&config, &dir.join("cutover.log"));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The emulator's own SQS delivery, for reference: send, then a long-polling receive.
    let probe_url = stack.sqs.create_queue().queue_name("latency-probe").send().await.unwrap().queue_url.unwrap();
    let mut sqs_only = Vec::new();
    for _ in 0..20 {
        let receiver = {
            let sqs = stack.sqs.clone();
            let url = probe_url.clone();
            tokio::spawn(async move {
                // The same request Cutover's receivers make.
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(5)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .message_attribute_names("All")
                    .send()
                    .await
                    .unwrap();
                let at = now_us();
                for m in out.messages() {
                    let _ =
                        sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await;
                }
                at
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t0 = now_us();
        stack.sqs.send_message().queue_url(&probe_url).message_body("x").send().await.unwrap();
        sqs_only.push((receiver.await.unwrap() - t0) as f64 / 1000.0);
    }

    let fleet = Fleet::default();
    let db = rusqlite::Connection::open(dir.join("cutover.db")).unwrap();
    let mut sent = Vec::new();
    let mut slack_e2e = Vec::new();
    for i in 0..n {
        let dep = format!("d-BENCH{i:05}");
        let body = fleet
            .codedeploy(
                &format!("bench-{i}"),
                Timestamp(1_773_480_600_000 + i as i64 * 1000),
                &CodeDeployShape {
                    app: "AppECS-prod-eu-web",
                    group: "DgpECS-prod-eu-web",
                    deployment_id: &dep,
                    state: "SUCCESS",
                    instance: None,
                },
            )
            .to_string();
        let t0 = now_us();
        stack.send_raw(&body).await;
        let mut arrived = None;
        for _ in 0..10_000 {
            arrived = slack
                .state
                .calls()
                .iter()
                .find(|c| {
                    c.method == "chat.postMessage"
                        && c.params["metadata"]["event_payload"]["deployment_id"] == dep.as_str()
                })
                .map(|c| c.received_at_us);
            if arrived.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let arrived = arrived.expect("the post arrives");
        slack_e2e.push((arrived.saturating_sub(t0)) as f64 / 1000.0);
        // The next deployment starts once this one is wholly done, so that the emulator is
        // idle again (it serves Cutover's own calls too, one at a time).
        for _ in 0..10_000 {
            let pending: i64 = db
                .query_row("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'attempting')", [], |r| r.get(0))
                .unwrap_or(1);
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        sent.push((dep, t0, arrived));
    }

    // Cutover's own records: the journal's receipt time, the invalidation's finish time.
    let mut cf_e2e = Vec::new();
    let mut own_slack = Vec::new();
    let mut own_cf = Vec::new();
    let mut own_cf_issued = Vec::new();
    let mut sqs_in = Vec::new();
    for (dep, t0, arrived) in &sent {
        let mut finished: Option<i64> = None;
        for _ in 0..2_000 {
            finished = db
                .query_row(
                    "SELECT finished_ms FROM outbox WHERE lane = 'cloudfront' AND deployment_id = ?1 AND status = 'done'",
                    [dep],
                    |r| r.get(0),
                )
                .ok();
            if finished.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let finished = finished.expect("the invalidation finishes") as f64;
        let started: i64 = db
            .query_row("SELECT started_ms FROM outbox WHERE lane = 'cloudfront' AND deployment_id = ?1", [dep], |r| {
                r.get(0)
            })
            .expect("started");
        let received: i64 = db
            .query_row("SELECT now_ms FROM journal WHERE body LIKE ?1", [format!("%{dep}%")], |r| r.get(0))
            .expect("journaled");
        let t0_ms = *t0 as f64 / 1000.0;
        cf_e2e.push(finished - t0_ms);
        own_slack.push(*arrived as f64 / 1000.0 - received as f64);
        own_cf.push(finished - received as f64);
        own_cf_issued.push((started - received) as f64);
        sqs_in.push(received as f64 - t0_ms);
    }
    assert!(service.terminate().await.success());

    println!("{n} deployments, one at a time, on 127.0.0.1 (emulator: moto_server; Slack: the stand-in)");
    println!("| path | p50 | p99 | max |");
    println!("|---|---|---|---|");
    row("SQS send → Slack stand-in receives chat.postMessage", slack_e2e);
    row("SQS send → CloudFront invalidation created (response received)", cf_e2e);
    row("Cutover's own time: receipt → Slack call received", own_slack);
    row("Cutover's own time: receipt → CreateInvalidation issued", own_cf_issued);
    row("Cutover's own time: receipt → invalidation created (incl. the emulator's CreateInvalidation)", own_cf);
    row("SQS send → Cutover's receipt (long poll, the emulator)", sqs_in);
    row("reference: the emulator's SQS send → long-poll receive, no Cutover", sqs_only);
    slack.stop();
}
