//! `[[sinks]]`: every sink whose selectors match takes the lifecycle events it asks for (its
//! kind's by default), with the emitted detail, a stable delivery id, and the commit and
//! repository the deployment ships.

mod harness;

use cutover_correlator::Action;
use cutover_correlator::action::SinkDelivery;
use cutover_correlator::routing::{Routing, Sink};
use cutover_events::emitted::DetailType;
use harness::{Harness, scenario_lines, scenario_routing};
use serde_json::json;

fn with_sinks(toml_text: &str) -> Routing {
    #[derive(serde::Deserialize)]
    struct File {
        sinks: Vec<Sink>,
    }
    let f: File = toml::from_str(toml_text).unwrap();
    Routing { sinks: f.sinks, ..scenario_routing("rolling") }
}

fn deliveries(actions: &[Action]) -> Vec<&SinkDelivery> {
    actions.iter().filter_map(|a| if let Action::Sink(d) = a { Some(d.as_ref()) } else { None }).collect()
}

const SINKS: &str = r#"
[[sinks]]
name = "pd"
kind = "pagerduty"
cluster = "prod-*"

[[sinks]]
name = "gh-staging"
kind = "github"
environment = "staging"

[[sinks]]
name = "gh-prod"
kind = "github"
environment = "production"

[[sinks]]
name = "hook"
kind = "webhook"
events = ["Deployment Cut Over", "Deployment Completed"]

[[sinks]]
name = "tagged"
kind = "datadog"
tags = { team = "web" }
"#;

#[test]
fn each_matching_sink_takes_the_events_it_asks_for_with_the_emitted_detail() {
    let mut h = Harness::new(with_sinks(SINKS));
    h.feed_all(scenario_lines("rolling").iter().map(String::as_str));
    let got = deliveries(&h.actions);
    let of = |sink: &str| got.iter().filter(|d| d.sink == sink).map(|d| d.detail_type).collect::<Vec<_>>();
    assert_eq!(of("pd"), [DetailType::CutOver], "PagerDuty's default: the cut-over");
    assert_eq!(of("gh-prod"), [DetailType::Started, DetailType::CutOver]);
    assert!(of("gh-staging").is_empty(), "another environment");
    assert_eq!(of("hook"), [DetailType::CutOver, DetailType::Completed]);
    assert!(of("tagged").is_empty(), "tags never match in replay");
    // The detail is the emitted one, byte for byte.
    for d in &got {
        let emitted = h.actions.iter().find_map(|a| match a {
            Action::Emit { detail_type, detail, .. } if *detail_type == d.detail_type => Some(detail),
            _ => None,
        });
        assert_eq!(Some(&d.detail), emitted, "{}", d.sink);
    }
    // After the deployment's emit, Slack and invalidations.
    let first_sink = h.actions.iter().position(|a| matches!(a, Action::Sink(_))).unwrap();
    assert!(matches!(
        h.actions[first_sink - 1],
        Action::SlackPost(_) | Action::SlackReply(_) | Action::SlackUpdate(_) | Action::Invalidate(_)
    ));
    // Delivery ids: distinct per sink and step, the same when decided again.
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|d| d.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), got.len());
    let mut again = Harness::new(with_sinks(SINKS));
    again.feed_all(scenario_lines("rolling").iter().map(String::as_str));
    let again: Vec<&str> = deliveries(&again.actions).iter().map(|d| d.delivery_id.as_str()).collect();
    assert_eq!(again, got.iter().map(|d| d.delivery_id.as_str()).collect::<Vec<_>>());
    // `v123` is no commit, and nothing else names one.
    assert!(got.iter().all(|d| d.commit.is_none() && d.repository.is_none()));
}

#[test]
fn the_commit_comes_from_the_annotation_and_no_config_decides_no_sink_action() {
    let annotation = json!({"version": "0", "id": "annotation-1", "detail-type": "Cutover Deploy Annotation",
        "source": "cutover.annotate", "account": "123456789012", "time": "2026-03-14T09:29:50Z", "region": "eu-west-1",
        "resources": [], "detail": {"cluster": "prod-eu", "service": "storefront", "image_tag": "v123",
        "commit": "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b", "repository": "https://github.com/example/storefront"}})
    .to_string();
    let mut h = Harness::new(with_sinks(SINKS));
    h.feed(&annotation);
    h.feed_all(scenario_lines("rolling").iter().map(String::as_str));
    let got = deliveries(&h.actions);
    assert!(!got.is_empty());
    for d in got {
        assert_eq!(d.commit.as_deref(), Some("9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b"), "{}", d.sink);
        assert_eq!(d.repository.as_deref(), Some("https://github.com/example/storefront"));
    }
    let mut plain = Harness::new(scenario_routing("rolling"));
    plain.feed_all(scenario_lines("rolling").iter().map(String::as_str));
    assert!(deliveries(&plain.actions).is_empty());
}

#[test]
fn a_sink_names_its_events_by_their_detail_types() {
    let e = toml::from_str::<Sink>("name = \"x\"\nkind = \"webhook\"\nevents = [\"cut_over\"]").unwrap_err();
    assert!(e.to_string().contains("Deployment Cut Over"), "{e}");
    let e = toml::from_str::<Sink>("name = \"x\"\nkind = \"slack\"").unwrap_err();
    assert!(e.to_string().contains("github"), "{e}");
}
