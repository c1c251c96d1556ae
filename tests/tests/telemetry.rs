//! OpenTelemetry end to end: `cutover serve` exports its traces and metrics over OTLP/HTTP to
//! a local receiver, and the trace id in each emitted event names a trace that arrived.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::otlp::Otlp;
use common::{Moto, Service, Slack, Stack, eventually, expected_lifecycle, scenario_lines, temp_dir, write_config};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_and_metrics_reach_an_otlp_receiver_and_emitted_events_link_to_their_trace() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let otlp = Otlp::start().await;
    let dir = temp_dir("telemetry");
    let extra = format!(
        "\n[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"cutover-e2e\"\nmetrics_interval_secs = 0.5\n",
        otlp.url()
    );
    let config = write_config(&dir, &moto, &stack, &slack, &extra);
    let service = Service::start(&config, &dir.join("cutover.log"));

    for line in scenario_lines("rolling") {
        stack.inject(&line).await;
    }
    stack.send_raw("not json at all").await;
    let expected = expected_lifecycle("rolling");
    let mut events: Vec<Value> = Vec::new();
    let all_emitted = eventually(60, async || {
        events.extend(stack.emitted_events().await);
        events.len() >= expected.len()
    })
    .await;
    assert!(all_emitted, "{} of {} events\n{}", events.len(), expected.len(), service.log_text());
    // The outbox gauge has seen every emit done before the stop.
    let drained = eventually(30, async || {
        otlp.latest("cutover.outbox.actions", &[("lane", "eventbridge"), ("status", "done")])
            .is_some_and(|n| n == expected.len() as f64)
    })
    .await;
    assert!(drained, "metrics: {:?}", otlp.metric_names());
    // What is exported is what docs/config.md's table names (the intake's counters always; the
    // others once they have a value), and nothing else.
    let docs = std::fs::read_to_string(common::workspace().join("docs/config.md")).unwrap();
    let documented: BTreeSet<String> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("| `cutover."))
        .filter_map(|l| l.split('`').next())
        .map(|n| format!("cutover.{n}"))
        .collect();
    let exported = otlp.metric_names();
    let undocumented: Vec<&String> = exported.difference(&documented).collect();
    assert!(undocumented.is_empty(), "exported but not documented: {undocumented:?}");
    for c in &cutover::intake::COUNTERS {
        assert!(exported.contains(c.def.name), "{} is not exported: {exported:?}", c.def.name);
    }
    assert!(exported.contains(cutover::metrics::SETUP_FAULT.name), "the setup-fault gauge: {exported:?}");
    // SIGTERM flushes the span batch.
    assert!(service.terminate().await.success());
    assert!(otlp.received.errors.lock().unwrap().is_empty(), "{:?}", otlp.received.errors.lock().unwrap());

    let spans = otlp.spans();
    assert!(spans.iter().all(|s| s.service == "cutover-e2e"), "resource service.name");
    let by_id: BTreeMap<&str, &common::otlp::Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let children = |parent: &str| -> BTreeSet<&str> {
        spans.iter().filter(|s| s.parent_span_id == parent).map(|s| s.name.as_str()).collect()
    };

    // Every emitted event names the trace of the message that decided it: its root span is
    // that message's, with parse, decide and commit under it, and the executions of what it
    // decided (the PutEvents that delivered this very event among them) joined to it.
    for e in &events {
        let trace = e["detail"]["trace_id"].as_str().expect("detail.trace_id");
        let roots: Vec<&common::otlp::Span> =
            spans.iter().filter(|s| s.trace_id == trace && s.name == "sqs.message").collect();
        assert_eq!(roots.len(), 1, "one message span in trace {trace}: {spans:#?}");
        let root = roots[0];
        assert!(root.parent_span_id.is_empty(), "the message span is the root");
        assert_eq!(root.attributes.get("messaging.system").map(String::as_str), Some("aws_sqs"));
        assert_eq!(root.attributes.get("cutover.outcome").map(String::as_str), Some("accepted"));
        let under = children(&root.span_id);
        for name in ["parse", "decide", "commit", "execute"] {
            assert!(under.contains(name), "{name} under the message span of {trace}: {under:?}");
        }
        let deployment = e["detail"]["deployment_id"].as_str().unwrap();
        let put = spans.iter().find(|s| {
            s.trace_id == trace
                && s.name == "execute"
                && s.attributes.get("cutover.lane").map(String::as_str) == Some("eventbridge")
                && s.attributes.get("cutover.deployment_id").map(String::as_str) == Some(deployment)
        });
        let put = put.unwrap_or_else(|| panic!("the PutEvents of {deployment} in trace {trace}"));
        assert_eq!(put.attributes.get("cutover.outcome").map(String::as_str), Some("done"));
        assert_eq!(by_id.get(put.parent_span_id.as_str()).map(|p| p.name.as_str()), Some("sqs.message"));
    }
    // The cut-over's Slack and CloudFront calls are in a trace too.
    for lane in ["slack", "cloudfront"] {
        assert!(
            spans.iter().any(|s| s.name == "execute"
                && s.attributes.get("cutover.lane").map(String::as_str) == Some(lane)
                && by_id.contains_key(s.parent_span_id.as_str())),
            "an execute span of {lane} under its message"
        );
    }
    // The malformed message has a trace of its own, rejected and dead-lettered.
    let rejected = spans
        .iter()
        .find(|s| {
            s.name == "sqs.message" && s.attributes.get("cutover.outcome").map(String::as_str) == Some("rejected")
        })
        .expect("the rejected message's span");
    assert!(children(&rejected.span_id).contains("dead_letter"));

    // Metrics: the same figures as /metrics, under OpenTelemetry names.
    let names = otlp.metric_names();
    for name in [
        "cutover.sqs.messages.received",
        "cutover.messages.accepted",
        "cutover.messages.rejected",
        "cutover.messages.dead_lettered",
        "cutover.decisions",
        "cutover.detection_lag",
        "cutover.sqs.receive_lag",
        "cutover.action.duration",
        "cutover.outbox.actions",
    ] {
        assert!(names.contains(name), "{name} not exported: {names:?}");
    }
    let cut_overs = expected.iter().filter(|(_, t)| t == "Deployment Cut Over").count() as f64;
    assert_eq!(otlp.latest("cutover.decisions", &[("type", "Deployment Cut Over")]), Some(cut_overs));
    assert_eq!(otlp.latest("cutover.detection_lag", &[]), Some(expected.len() as f64), "one lag per decision");
    assert_eq!(otlp.latest("cutover.messages.rejected", &[("reason", "not_json")]), Some(1.0));
    assert_eq!(otlp.latest("cutover.messages.dead_lettered", &[]), Some(1.0));
    assert!(otlp.latest("cutover.action.duration", &[("lane", "eventbridge")]).is_some_and(|n| n >= 1.0));
    slack.stop();
}
