//! `cargo bench -p cutover-correlator --bench correlator`: the correlator alone (messages
//! already parsed) on the recorded scenarios and on a generated stream of 20k events over 200
//! services, so decision-path regressions show up apart from parsing.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use cutover_correlator::{Correlator, Input, Routing};
use cutover_events::{Inbound, Timestamp, parse_body};

fn parsed(lines: &[String]) -> Vec<Inbound> {
    lines.iter().filter_map(|l| parse_body(l).ok()).collect()
}

fn run(messages: Vec<Inbound>) -> usize {
    let mut c = Correlator::new(Routing::default());
    let mut actions = 0;
    for m in messages {
        actions += c.handle(Timestamp(0), Input::Message(Box::new(m))).len();
    }
    actions
}

fn bench(c: &mut Criterion) {
    let scenario = |name: &str| -> Vec<String> {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios").join(name).join("input.jsonl");
        std::fs::read_to_string(path).expect("scenario").lines().map(str::to_owned).collect()
    };
    let mut group = c.benchmark_group("correlator");
    for name in ["rolling", "rolling-circuit-breaker", "codedeploy-sns", "two-clusters-same-service"] {
        let messages = parsed(&scenario(name));
        group.throughput(Throughput::Elements(messages.len() as u64));
        group.bench_function(format!("scenario/{name}"), |b| {
            b.iter_batched(|| messages.clone(), |m| black_box(run(m)), BatchSize::SmallInput)
        });
    }
    let mut lines = Vec::new();
    cutover_testkit::stream::generate(
        &cutover_testkit::stream::Params { services: 200, events: 20_000, spacing_secs: 20 },
        |l| lines.push(l.to_owned()),
    );
    let messages = parsed(&lines);
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.sample_size(10);
    group.bench_function("stream/20k-events-200-services", |b| {
        b.iter_batched(|| messages.clone(), |m| black_box(run(m)), BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
