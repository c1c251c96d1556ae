//! `cargo bench -p cutover-e2e --bench serve_drain`: `cutover serve` (the bench profile: a
//! release build) draining a backlog from a local SQS that is not the bottleneck
//! (`cutover_e2e::sqs_standin`, reached through `AWS_ENDPOINT_URL_SQS`); EventBridge and
//! CloudFront are the emulator, Slack the stand-in without rate limits.
//!
//! The backlog (`DRAIN_N` messages, default 20,000: the head of the generated benchmark stream)
//! is put in the queue once `serve` is up. The clock and the process's CPU (user + system,
//! from `/proc/<pid>/stat`) are read when it is put there and when the last message has been
//! deleted: messages a second, and CPU per message (parse, decide, journal and outbox commit,
//! delete, and whatever the lanes did meanwhile), and of that the driver's own (parse, decide,
//! journal and commit: `cutover_driver_cpu_seconds_total` from `/metrics`, over the run). The lanes' work left after the drain (the
//! emulator takes PutEvents at a few hundred a second) is not counted; a second line reports
//! the CPU until the outbox is empty too, when that happens within `DRAIN_TAIL_SECS`
//! (default 120). `perf record -g -p <pid>` on the printed pid shows where the time goes.
//! `DRAIN_BIN` runs another build of `cutover-under-test` (a "before").

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Moto, Service, Slack, Stack, temp_dir, write_config};
use cutover_e2e::sqs_standin::SqsStandin;

/// User + system CPU of process `pid` so far, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process's stat");
    // The fields after the command (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; here 0-based after the command: 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_or("DRAIN_N", 20_000) as usize;
    let tail_secs = env_or("DRAIN_TAIL_SECS", 120);
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let sqs = SqsStandin::start().await;
    let dir = temp_dir("bench-drain");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace(&stack.queue_url, &sqs.queue_url("cutover"))
        .replace(&stack.dlq_url, &sqs.queue_url("cutover-dlq"))
        .replace(&format!("receipts_queue_url = \"{}\"\n", stack.receipts_url), "")
        .replace("messages_per_second = 50.0", "messages_per_second = 1000.0")
        .replace("updates_per_minute = 3000.0", "updates_per_minute = 60000.0")
        .replace("wait_time_secs = 1", "wait_time_secs = 20")
        .replace("visibility_timeout_secs = 5", "visibility_timeout_secs = 120")
        .replace("snapshot_every = 7", "snapshot_every = 100000");
    std::fs::write(&config, text).expect("write config");
    let port = common::health_on_free_port(&config);

    let mut lines = Vec::with_capacity(n);
    let params = cutover_e2e::stream::Params { events: n, ..Default::default() };
    cutover_e2e::stream::generate(&params, |line| {
        if lines.len() < n {
            lines.push(line.to_owned());
        }
    });
    let bytes: usize = lines.iter().map(String::len).sum();

    let endpoint = sqs.endpoint();
    let env = [("AWS_ENDPOINT_URL_SQS", endpoint.as_str())];
    let log = dir.join("cutover.log");
    let service = match std::env::var_os("DRAIN_BIN") {
        Some(bin) => Service::start_bin(std::path::Path::new(&bin), &config, &log, Some("xoxb-bench"), &env),
        None => Service::start_with_env(&config, &log, Some("xoxb-bench"), &env),
    };
    let pid = service.child.id().expect("serve's pid");
    // Up when its receivers wait on the empty queue (bounded: 30 s).
    let up = Instant::now() + Duration::from_secs(30);
    while sqs.counts("cutover") == Default::default() && Instant::now() < up {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if std::fs::read_to_string(dir.join("cutover.log")).is_ok_and(|l| l.contains("Receiving.")) {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    eprintln!("serve is pid {pid}; {n} messages, {:.1} MB", bytes as f64 / 1e6);

    let (cpu0, t0) = (cpu_secs(pid), Instant::now());
    sqs.load("cutover", lines);
    // Bounded: 30 minutes.
    let deadline = t0 + Duration::from_secs(1800);
    while sqs.counts("cutover").deleted < n as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (cpu1, wall) = (cpu_secs(pid), t0.elapsed().as_secs_f64());
    let left = sqs.counts("cutover");
    let dead = sqs.counts("cutover-dlq").visible;
    // The driver's own CPU time (parse, decide, journal, commit), as it counts it.
    let driver = common::http_get(port, "/metrics").await.and_then(|(_, m)| {
        m.lines().find_map(|l| l.strip_prefix("cutover_driver_cpu_seconds_total ")?.parse::<f64>().ok())
    });
    let driver =
        driver.map_or_else(|| "not counted by this build".to_owned(), |c| format!("{:.1} µs", c * 1e6 / n as f64));
    println!("| messages | wall | messages/s | CPU | CPU per message | of which the driver's |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {n} ({} deleted, {dead} dead-lettered) | {wall:.2} s | {:.0} | {:.2} s | {:.1} µs | {driver} |",
        left.deleted,
        n as f64 / wall,
        cpu1 - cpu0,
        (cpu1 - cpu0) * 1e6 / n as f64
    );

    // The lanes' tail: until the outbox holds nothing open (bounded by DRAIN_TAIL_SECS).
    let db = dir.join("cutover.db");
    let tail = Instant::now() + Duration::from_secs(tail_secs);
    let open = || -> i64 {
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM outbox WHERE status IN ('pending', 'attempting')", [], |r| r.get(0))
            })
            .unwrap_or(-1)
    };
    let mut waiting = open();
    while waiting != 0 && Instant::now() < tail {
        tokio::time::sleep(Duration::from_millis(250)).await;
        waiting = open();
    }
    let (cpu2, wall2) = (cpu_secs(pid), t0.elapsed().as_secs_f64());
    if waiting == 0 {
        println!(
            "until the outbox is empty too: {wall2:.2} s, {:.2} s CPU, {:.1} µs per message",
            cpu2 - cpu0,
            (cpu2 - cpu0) * 1e6 / n as f64
        );
    } else {
        println!("the outbox still held {waiting} open actions after {tail_secs} s more");
    }
    drop(service);
}
