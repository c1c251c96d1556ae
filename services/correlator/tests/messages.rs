//! Snapshots (insta) of every Slack call the correlator decides, for each strategy and each
//! lifecycle state: ECS rolling (started, cut over, completed), its circuit-breaker failure
//! and rollback, CodeDeploy canary (traffic shifted, broadcast cut-over), a CodeDeploy
//! rollback, ECS-native blue/green, a pipeline-linked deployment with its approval, a
//! deployment annotated by CI, and a CodeDeploy deployment stopped. A change to the rendering
//! shows up here as a diff to review (`cargo insta review`, or `INSTA_UPDATE=always`).

mod harness;

use std::fmt::Write as _;

use cutover_correlator::routing::SlackId;
use cutover_correlator::{Action, CodeDeployChange, CodeDeployFact, Input, Observation};
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
    // AfterAllowTraffic ended 09:32:49 and the group keeps the old task set 5 minutes.
    let window = Observation::RollbackWindow { deployment_id: "d-7QHX0M2PB".into(), until: ts("2026-03-14T09:37:49Z") };
    let now = h.now;
    let out = h.correlator.handle(now, Input::Observed(window.clone()));
    assert_eq!(out.len(), 1, "the message is updated with the window");
    h.actions.extend(out);
    assert!(h.correlator.handle(now, Input::Observed(window)).is_empty(), "known: nothing to update");
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
    let stopped = Observation::CodeDeploy(CodeDeployFact {
        deployment_id: "d-7QHX0M2PB".into(),
        application: None,
        deployment_group: None,
        target: None,
        rollback_of: None,
        change: CodeDeployChange::Stopped,
        at: ts("2026-03-14T09:33:00Z"),
    });
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

#[test]
fn the_default_template_file_renders_exactly_what_cutover_sends_in_every_state() {
    use cutover_correlator::slack::templates::{DEFAULT, Templates, render_default, samples};
    let (templates, errors) = Templates::new(&Default::default());
    assert!(errors.is_empty(), "{errors:?}");
    templates.check(DEFAULT).unwrap();
    let mut compared = 0;
    for ctx in samples() {
        assert_eq!(templates.render_with_engine(DEFAULT, &ctx).unwrap(), render_default(&ctx), "{ctx:?}");
        compared += 1;
    }
    for scenario in harness::SCENARIOS {
        let mut h = Harness::new(scenario_routing(scenario));
        for line in scenario_lines(scenario) {
            h.feed(&line);
            let posted: std::collections::BTreeSet<String> = h
                .actions
                .iter()
                .filter_map(|a| if let Action::SlackPost(m) = a { Some(m.deployment_id.clone()) } else { None })
                .collect();
            for id in posted {
                let ctx = h.correlator.message_context(&id).unwrap();
                assert_eq!(
                    templates.render_with_engine(DEFAULT, &ctx).unwrap(),
                    render_default(&ctx),
                    "{scenario} {id}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 100, "{compared}");
}

fn routing_with_template(source: &str) -> cutover_correlator::routing::Routing {
    let mut routing = scenario_routing("rolling");
    routing.routes.insert(
        0,
        toml::from_str(
            "cluster = \"prod-*\"\nenvironment = \"production\"\nchannel = \"deploys-prod\"\ntemplate = \"short.j2\"\n",
        )
        .unwrap(),
    );
    routing.templates.insert("short.j2".into(), source.into());
    routing
}

#[test]
fn a_route_template_that_extends_the_default_overrides_one_block() {
    let source = r#"{% extends "default" %}{% block text %}{{ deployment.service }} {{ deployment.version or "?" }} is {{ state }}{% endblock %}"#;
    let h = run("rolling", routing_with_template(source), &[]);
    let texts: Vec<(&str, &str)> = h
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::SlackPost(m) | Action::SlackUpdate(m) => Some((a.name(), m.text.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        vec![
            ("slack.post", "storefront ? is started"),
            ("slack.update", "storefront v123 is cut_over"),
            ("slack.update", "storefront v123 is completed")
        ]
    );
    // The blocks are the default's.
    let default = run("rolling", scenario_routing("rolling"), &[]);
    let blocks = |h: &Harness| {
        h.actions
            .iter()
            .filter_map(|a| if let Action::SlackPost(m) = a { Some(m.blocks.clone()) } else { None })
            .collect::<Vec<_>>()
    };
    assert_eq!(blocks(&h), blocks(&default));
}

#[test]
fn template_errors_name_the_block_and_line() {
    use cutover_correlator::slack::templates::Templates;
    let check = |source: &str| {
        let sources = std::collections::BTreeMap::from([("t.j2".to_owned(), source.to_owned())]);
        let (templates, errors) = Templates::new(&sources);
        match errors.into_iter().next() {
            Some(e) => e,
            None => templates.check("t.j2").unwrap_err(),
        }
    };
    let syntax = check("{% block text %}ok{% endblock %}\n{% block blocks %}\n[{% for x in %}]\n{% endblock %}");
    assert_eq!(syntax.line, Some(3), "{syntax}");
    let undefined =
        check("{% block text %}ok{% endblock %}{% block blocks %}\n[{{ deployment.verison }}]{% endblock %}");
    assert_eq!(undefined.line, Some(2), "{undefined}");
    assert!(undefined.to_string().contains("undefined"), "{undefined}");
    let not_json =
        check("{% block text %}x{% endblock %}{% block blocks %}\n[\n  {\"type\": \"section\",}\n]{% endblock %}");
    assert_eq!((not_json.part, not_json.line), (Some("blocks"), Some(3)), "{not_json}");
    let misspelt = check(
        "{% block text %}x{% endblock %}\n{% block blocks %}\n[{\"type\": \"section\", \"text\": {{ deployment.verison|tojson }}}]{% endblock %}",
    );
    assert_eq!(misspelt.line, Some(3), "{misspelt}");
    assert!(misspelt.message.contains("unknown name `deployment.verison`"), "{misspelt}");
    let no_type = check("{% block text %}x{% endblock %}{% block blocks %}[{\"text\": 1}]{% endblock %}");
    assert!(no_type.message.contains("has no \"type\""), "{no_type}");
    // A template that fails on a deployment falls back to the default: nothing is lost.
    let h = run(
        "rolling",
        routing_with_template("{% block text %}{{ 1 / 0 }}{% endblock %}{% block blocks %}[]{% endblock %}"),
        &[],
    );
    let default = run("rolling", scenario_routing("rolling"), &[]);
    let texts = |h: &Harness| {
        h.actions
            .iter()
            .filter_map(|a| if let Action::SlackPost(m) = a { Some(m.text.clone()) } else { None })
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&h), texts(&default));
}
