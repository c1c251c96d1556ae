//! `cargo bench -p cutover-e2e --bench detection_lag`: how late each approach learns that a
//! rolling deployment moved traffic, over the same recorded scenario (`tests/scenarios/rolling`).
//!
//! - **Cutover** reads the scenario's events: its decisions carry `at` (AWS's time of the step)
//!   and `observed_at` (the latest event time read when it decided); their difference is its
//!   lag in event time, before its own processing and AWS's delivery of the event.
//! - **The polling baseline** is what `aws ecs wait services-stable` does: `DescribeServices`
//!   every 15 s until the service has one deployment whose running count is its desired count.
//!   The emulator's deployments do not move, so it polls a stand-in that serves
//!   `DescribeServices` from the scenario's timeline (`cutover_e2e::ecs_standin`), through the
//!   real AWS SDK, with the clock sped up `BENCH_SPEED` times (default 20). `BENCH_RUNS`
//!   (default 15) waiters start at phases spread evenly over one 15 s interval after the
//!   deployment started, as a CI job would after `UpdateService`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use cutover_e2e::ecs_standin::{EcsStandin, Timeline};
use cutover_events::Timestamp;
use serde_json::Value;

const INTERVAL_S: f64 = 15.0;
const MAX_ATTEMPTS: u32 = 40;

fn ecs(endpoint: &str) -> aws_sdk_ecs::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        .http_client(http)
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

/// `services-stable`'s acceptor: every service has one deployment, running = desired.
fn stable(out: &aws_sdk_ecs::operation::describe_services::DescribeServicesOutput) -> bool {
    !out.services().is_empty()
        && out.services().iter().all(|s| {
            s.deployments().len() == 1 && s.deployments()[0].running_count() == s.deployments()[0].desired_count()
        })
}

/// One waiter: its phase, then a call every 15 s (scaled) until stable. Returns the event time
/// it saw the service stable at, and its calls.
async fn waiter(
    client: aws_sdk_ecs::Client,
    standin: Arc<EcsStandin>,
    phase_s: f64,
    cluster: String,
    service: String,
) -> (Option<i64>, u32) {
    let scale = |s: f64| Duration::from_secs_f64(s / standin.speed);
    tokio::time::sleep(scale(phase_s)).await;
    let mut calls = 0;
    for _ in 0..MAX_ATTEMPTS {
        calls += 1;
        let out =
            client.describe_services().cluster(&cluster).services(&service).send().await.expect("DescribeServices");
        if stable(&out) {
            return (Some(standin.now_ms()), calls);
        }
        tokio::time::sleep(scale(INTERVAL_S)).await;
    }
    (None, calls)
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: u32 = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let speed: f64 = std::env::var("BENCH_SPEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20.0);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rolling/input.jsonl");
    let text = std::fs::read_to_string(&root).expect("the rolling scenario");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();

    // Cutover over the scenario: its decisions with `at` and `observed_at`.
    let mut out = Vec::new();
    let correlator = cutover_correlator::Correlator::new(cutover::config::Config::default().routing());
    cutover::replay::run(correlator, text.as_bytes(), &mut out, &mut std::io::sink()).expect("replay");
    let decisions: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|a| a["action"] == "emit")
        .collect();
    let time = |t: &str, field: &str| -> i64 {
        let d = decisions.iter().find(|d| d["detail_type"] == t).unwrap_or_else(|| panic!("no {t}"));
        Timestamp::parse(d["detail"][field].as_str().unwrap()).unwrap().millis()
    };
    let started = time("Deployment Started", "at");
    let cut_over = time("Deployment Cut Over", "at");
    let cut_over_seen = time("Deployment Cut Over", "observed_at");
    let completed = time("Deployment Completed", "at");

    // The baseline against the stand-in.
    let timeline = Timeline::from_lines(&lines);
    let drained = timeline.stable_from(started).expect("the service becomes stable");
    let (cluster, service) = (timeline.cluster_arn.clone(), timeline.service.clone());
    let standin = EcsStandin::new(timeline, started, speed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = standin.clone();
    let server = tokio::spawn(cutover_e2e::ecs_standin::serve(listener, served, async {
        let _ = stopped.await;
    }));
    let client = ecs(&endpoint);
    let mut handles = Vec::new();
    for i in 0..runs {
        let phase = INTERVAL_S * f64::from(i) / f64::from(runs);
        handles.push(tokio::spawn(waiter(client.clone(), standin.clone(), phase, cluster.clone(), service.clone())));
    }
    let mut lags = Vec::new();
    let mut calls = Vec::new();
    for h in handles {
        let (seen, n) = h.await.unwrap();
        lags.push(secs(seen.expect("the waiter saw the service stable") - cut_over));
        calls.push(n);
    }
    let _ = stop.send(());
    let _ = server.await;
    lags.sort_by(f64::total_cmp);
    calls.sort_unstable();
    let total_calls = standin.calls.load(Ordering::Relaxed);
    assert_eq!(total_calls, u64::from(calls.iter().sum::<u32>()), "the stand-in answered every call");

    println!(
        "Scenario tests/scenarios/rolling: started {}, cut over {}, completed {}.",
        Timestamp(started),
        Timestamp(cut_over),
        Timestamp(completed)
    );
    println!("Clock x{speed}, {runs} waiters at phases spread over {INTERVAL_S} s.\n");
    println!("| approach | learns of the cut-over (lag after `at`) | ECS API calls for this deployment |");
    println!("|---|---|---|");
    println!(
        "| Cutover (events) | {:.3} s in event time + its own processing + AWS's delivery | 0 |",
        secs(cut_over_seen - cut_over)
    );
    println!(
        "| `services-stable` waiter, every 15 s | min {:.1} s, median {:.1} s, max {:.1} s | {}-{} DescribeServices per waiter |",
        lags[0],
        lags[lags.len() / 2],
        lags[lags.len() - 1],
        calls[0],
        calls[calls.len() - 1]
    );
    println!(
        "\nThe waiter cannot see the cut-over: it sees the old deployment drained ({:.1} s after the cut-over here) \
         and no sooner than its next poll. ECS reports the rollout COMPLETED {:.1} s after the cut-over.",
        secs(drained - cut_over),
        secs(completed - cut_over)
    );
}
