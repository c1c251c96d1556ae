//! Snapshots (insta) of every Slack call the correlator decides, for each strategy and each
//! lifecycle state: ECS rolling (started, cut over, completed), its circuit-breaker failure
//! and rollback, CodeDeploy canary (traffic shifted, broadcast cut-over), a CodeDeploy
//! rollback, ECS-native blue/green, a pipeline-linked deployment with its approval, a
//! deployment annotated by CI, and a CodeDeploy deployment stopped. A change to the rendering
//! shows up here as a diff to review (`cargo insta review`, or `INSTA_UPDATE=always`).

mod harness;

use std::fmt::Write as _;

use cutover_correlator::routing::SlackId;
use cutover_correlator::{Action, CodeDeployChange, Input, Observation};
use harness::{Harness, scenario_lines, scenario_routing, ts};
use serde_json::json;

/// Every Slack action, readable: the call, where it goes, the fallback text and the blocks.
fn slack_calls(actions: &[Action]) -> String {
    let mut out = String::new();
    for a in actions {
        let (name, m) = match a {
            Action::SlackPost(m) | Action::SlackUpdate(m) | Action::SlackReply(m) => (a.name(), m),
            _ => continue,
        };
        let thread = m.thread_of.as_deref().map(|t| format!(" thread_of={t}")).unwrap_or_default();
        let broadcast = if m.broadcast { " broadcast" } else { "" };
        writeln!(out, "── {name} #{} [{}]{thread}{broadcast}", m.channel, m.deployment_id).unwrap();
        writeln!(out, "text: {}", m.text).unwrap();
        if name != "slack.reply" {
            // One block per line, exactly as sent.
            for b in &m.blocks {
                writeln!(out, "  {b}").unwrap();
            }
        }
    }
    out
}

fn run(scenario: &str, routing: cutover_correlator::routing::Routing, extra: &[String]) -> Harness {
    let mut h = Harness::new(routing);
    for line in extra {
        h.feed(line);
    }
    h.feed_all(scenario_lines(scenario).iter().map(String::as_str));
    h
}

#[test]
fn ecs_rolling_started_cut_over_completed() {
    let h = run("rolling", scenario_routing("rolling"), &[]);
    insta::assert_snapshot!(slack_calls(&h.actions));
}

#[test]
fn ecs_rolling_failed_and_rolled_back_with_mentions_and_broadcast() {
    let mut routing = scenario_routing("rolling-circuit-breaker");
    routing.routes.insert(
        0,
        toml::from_str(
            "cluster = \"prod-*\"\nenvironment = \"production\"\nchannel = \"deploys-prod\"\n\
             broadcast = [\"failed\", \"rolled_back\"]\nmention_on_failure = [\"S0PAYMENTS\"]\nmention_on_rollback = [\"U0ONCALL01\"]\n",
        )
        .unwrap(),
    );
    let h = run("rolling-circuit-breaker", routing, &[]);
    insta::assert_snapshot!(slack_calls(&h.actions));
}

#[test]
fn codedeploy_canary_traffic_steps_and_a_broadcast_cut_over() {
    let mut routing = scenario_routing("codedeploy-sns");
    routing.routes.insert(
        0,
        toml::from_str(
            "application = \"AppECS-prod-*\"\nenvironment = \"production\"\nchannel = \"deploys-prod\"\nbroadcast = [\"cut_over\"]\n",
        )
        .unwrap(),
    );
    let lines = scenario_lines("codedeploy-sns");
    let mut h = Harness::new(routing);
    h.feed(&lines[0]);
    h.feed(&lines[1]);
    for (p, at) in [(10.0, "2026-03-14T09:31:00Z"), (100.0, "2026-03-14T09:32:29Z")] {
        h.observe("d-7QHX0M2PB", p, ts(at));
    }
    h.feed_all(lines[2..].iter().map(String::as_str));
    insta::assert_snapshot!(slack_calls(&h.actions));
}

#[test]
fn codedeploy_failed_and_rolled_back() {
    let h = run("codedeploy-rollback", scenario_routing("codedeploy-rollback"), &[]);
    insta::assert_snapshot!(slack_calls(&h.actions));
}

#[test]
fn codedeploy_stopped() {
    let lines = scenario_lines("codedeploy-sns");
    let mut h = Harness::new(scenario_routing("codedeploy-sns"));
    h.feed(&lines[0]);
    h.feed(&lines[1]);
    let stopped = Observation::CodeDeploy {
        deployment_id: "d-7QHX0M2PB".into(),
        application: None,
        deployment_group: None,
        target: None,
        rollback_of: None,
        change: CodeDeployChange::Stopped,
        at: ts("2026-03-14T09:33:00Z"),
    };
    let now = h.now;
    let out = h.correlator.handle(now, Input::Observed(stopped));
    h.actions.extend(out);
    insta::assert_snapshot!(slack_calls(&h.actions));
}

#[test]
fn ecs_native_blue_green() {
    let h = run("ecs-native-hooks", scenario_routing("ecs-native-hooks"), &[]);
    insta::assert_snapshot!(slack_calls(&h.actions));
}

#[test]
fn pipeline_linked_with_its_approval() {
    let h = run("pipeline-linked", scenario_routing("pipeline-linked"), &[]);
    insta::assert_snapshot!(slack_calls(&h.actions));
}

#[test]
fn annotated_by_ci_with_the_deployer_mentioned_on_failure() {
    let mut routing = scenario_routing("rolling-circuit-breaker");
    routing.people.insert("octocat".into(), SlackId::new("U0OCTOCAT1").unwrap());
    let annotation = json!({"version": "0", "id": "annotation-1", "detail-type": "Cutover Deploy Annotation",
        "source": "cutover.annotate", "account": "123456789012", "time": "2026-03-14T09:29:00Z", "region": "eu-west-1",
        "resources": [], "detail": {"cluster": "prod-eu", "service": "payments", "image_tag": "2.4.0",
        "commit": "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b", "branch": "main", "actor": "octocat",
        "repository": "https://github.com/example/payments",
        "run_url": "https://github.com/example/payments/actions/runs/9876543210"}});
    let h = run("rolling-circuit-breaker", routing, &[annotation.to_string()]);
    insta::assert_snapshot!(slack_calls(&h.actions));
}
