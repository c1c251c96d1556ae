//! `cargo bench -p cutover --bench replay`: `cutover replay` on the generated stream (about
//! 200k events over 1,000 services) against parsing the same lines into
//! `serde_json::Value`, in one run, best of `BENCH_RUNS` (default 3) each, interleaved.
//! `BENCH_EVENTS` and `BENCH_SERVICES` change the stream: `BENCH_SERVICES=500` is the
//! history-heavy one (the same events over half the services, about 18 deployments each).
//! Peak memory of the real binary is measured by `scripts/bench` (it needs a process of its
//! own).

use std::io::{self, BufRead};
use std::time::{Duration, Instant};

use cutover::config::Config;
use cutover::replay;
use cutover_correlator::Correlator;
use cutover_testkit::stream::{Params, generate};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn parse_values(input: &[u8]) -> usize {
    let mut n = 0;
    for line in input.lines() {
        let line = line.expect("utf-8");
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        n += usize::from(!v.is_null());
    }
    n
}

fn replay_all(input: &[u8], config: &Config) -> replay::Summary {
    let correlator = Correlator::new(config.routing()).with_retention_ms(config.retention_ms());
    replay::run(correlator, input, &mut io::sink(), &mut io::sink()).expect("replay")
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let params = Params {
        events: env_or("BENCH_EVENTS", 200_000),
        services: env_or("BENCH_SERVICES", 1_000),
        ..Params::default()
    };
    let runs = env_or("BENCH_RUNS", 3).max(1);
    let mut input = Vec::with_capacity(params.events * 2_000);
    let generated = generate(&params, |line| {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    });
    let config = Config::load_with_env(
        Some(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/cutover.toml"))),
        Vec::new(),
    )
    .expect("example config");
    let mb = input.len() as f64 / 1e6;
    println!("stream: {} events, {:.1} MB, {generated:?}", generated.events, mb);

    let (mut best_parse, mut best_replay) = (Duration::MAX, Duration::MAX);
    let mut summary = None;
    for _ in 0..runs {
        let t = Instant::now();
        let n = parse_values(&input);
        best_parse = best_parse.min(t.elapsed());
        assert_eq!(n, generated.events);
        let t = Instant::now();
        let s = replay_all(&input, &config);
        best_replay = best_replay.min(t.elapsed());
        summary = Some(s);
    }
    let summary = summary.expect("at least one run");
    let ratio = best_replay.as_secs_f64() / best_parse.as_secs_f64();
    println!("{summary}");
    // All inside the default 7-day retention: what each service's events are decided against.
    println!(
        "{:.1} deployments per service held in the retention ({} services)",
        summary.deployments as f64 / params.services.max(1) as f64,
        params.services
    );
    println!("| what | best of {runs} | events/s | MB/s |");
    println!("|---|---|---|---|");
    for (what, d) in [("parse into serde_json::Value", best_parse), ("cutover replay", best_replay)] {
        let s = d.as_secs_f64();
        println!("| {what} | {s:.3} s | {:.0} | {:.0} |", generated.events as f64 / s, mb / s);
    }
    println!("replay / parse = {ratio:.2} (target: at most 2.00)");
}
