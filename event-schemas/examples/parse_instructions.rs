//! `valgrind --tool=callgrind target/release/examples/parse_instructions <kind> [parse|value]`:
//! parses one fixture message 10,000 times, with `parse_body` or into `serde_json::Value`, so
//! callgrind's instruction count (repeatable on a busy machine, unlike time) compares parser
//! changes. The kinds are those of `benches/parse.rs`.

use std::hint::black_box;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "ecs-task".to_owned());
    let how = args.next().unwrap_or_else(|| "parse".to_owned());
    let file = match kind.as_str() {
        "ecs-task" => "ecs-task.stopped.failed-health-checks.json",
        "ecs-deployment" => "ecs-deployment.completed.json",
        "codedeploy-trigger-sns" => "sns.codedeploy-trigger.rollback.json",
        "codepipeline-action" => "codepipeline-action.codedeploy.string-version.json",
        other => panic!("unknown kind {other}"),
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(file);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let body = v.to_string();
    for _ in 0..10_000 {
        if how == "value" {
            black_box(serde_json::from_str::<serde_json::Value>(black_box(&body)).expect("json"));
        } else {
            black_box(cutover_events::parse_body(black_box(&body)).expect("parses"));
        }
    }
}
