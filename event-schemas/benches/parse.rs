//! `cargo bench -p cutover-events --bench parse`: `parse_body` on one message of each kind,
//! next to `serde_json::from_str::<Value>` of the same bytes, so parser regressions show up.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    v.to_string()
}

fn bench(c: &mut Criterion) {
    let kinds = [
        ("ecs-task", "ecs-task.stopped.failed-health-checks.json"),
        ("ecs-deployment", "ecs-deployment.completed.json"),
        ("codedeploy-trigger-sns", "sns.codedeploy-trigger.rollback.json"),
        ("codepipeline-action", "codepipeline-action.codedeploy.string-version.json"),
    ];
    let mut group = c.benchmark_group("parse");
    for (kind, file) in kinds {
        let body = fixture(file);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{kind}/parse_body"), |b| {
            b.iter(|| cutover_events::parse_body(black_box(&body)).expect("parses"))
        });
        group.bench_function(format!("{kind}/serde_json_value"), |b| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&body)).expect("json"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
