//! Text from events is data, never markup (DESIGN.md, "Text from events into Slack"): whatever
//! CI's annotation (branch, actor, commit, repository, run URL) and AWS's reasons (a failed
//! deployment's, a stopped task's) say, no Slack message Cutover decides contains a mention
//! that the config did not make, or a link that is not an `https://` link built by Cutover, and
//! every block is within Block Kit's limits.

mod harness;

use cutover_correlator::Action;
use cutover_correlator::routing::SlackId;
use harness::{Harness, scenario_lines, scenario_routing};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Strings made of Slack markup and the pieces of it.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<!channel>".to_owned()),
        Just("<!here>".to_owned()),
        Just("<!everyone>".to_owned()),
        Just("<@U0ATTACKER>".to_owned()),
        Just("<#C0SECRET>".to_owned()),
        Just("<!subteam^S0ADMINS>".to_owned()),
        Just("<https://evil.example|click>".to_owned()),
        Just("<mailto:a@b.c>".to_owned()),
        Just("https://evil.example/<!everyone>".to_owned()),
        Just("&lt;!channel&gt;".to_owned()),
        Just("`".to_owned()),
        Just("|".to_owned()),
        Just("\n".to_owned()),
        "[<>&|!@#a-z ]{0,6}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..6).prop_map(|parts| parts.concat())
}

/// Every mention the config can make (`<@U…>`, `<!subteam^S…>`).
fn config_mentions(routing: &cutover_correlator::routing::Routing) -> Vec<String> {
    let mut ids: Vec<&SlackId> = routing.people.values().collect();
    for r in &routing.routes {
        ids.extend(r.mention_on_failure.iter().chain(&r.mention_on_rollback));
    }
    ids.into_iter().map(SlackId::mention).collect()
}

/// Every string of a Slack action: its text, and each string in its blocks.
fn texts(m: &cutover_correlator::action::SlackMessage) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = vec![m.text.clone()];
    m.blocks.iter().for_each(|b| walk(b, &mut out));
    out
}

/// `Err` naming what in `text` is markup the config did not make.
fn check(text: &str, allowed: &[String]) -> Result<(), String> {
    let mut rest = text.to_owned();
    for m in allowed {
        rest = rest.replace(m.as_str(), "");
    }
    let mut i = 0;
    while let Some(open) = rest[i..].find('<') {
        let start = i + open;
        let Some(close) = rest[start..].find('>') else { return Err(format!("an unclosed `<` in {text:?}")) };
        let inner = &rest[start + 1..start + close];
        let (url, label) = inner.split_once('|').unwrap_or((inner, ""));
        // Cutover's link to another of its messages (the executor makes it the permalink).
        let url_ok = (url.starts_with("https://") || url.starts_with("cutover:message:"))
            && !url.contains(|c: char| c.is_whitespace() || c == '<');
        if !url_ok || label.contains('<') {
            return Err(format!("markup `<{inner}>` that the config did not make, in {text:?}"));
        }
        i = start + close + 1;
    }
    Ok(())
}

fn run(branch: &str, actor: &str, commit: &str, repository: &str, run_url: &str, reason: &str) -> Vec<Action> {
    let mut routing = scenario_routing("rolling-circuit-breaker");
    routing.people.insert("octocat".into(), SlackId::new("U0OCTOCAT1").unwrap());
    let allowed = config_mentions(&routing);
    let annotation = json!({"version": "0", "id": "annotation-1", "detail-type": "Cutover Deploy Annotation",
        "source": "cutover.annotate", "account": "123456789012", "time": "2026-03-14T09:29:00Z", "region": "eu-west-1",
        "resources": [], "detail": {"cluster": "prod-eu", "service": "payments", "image_tag": "2.4.0",
        "commit": commit, "branch": branch, "actor": actor, "repository": repository, "run_url": run_url}});
    let mut h = Harness::new(routing);
    h.feed(&annotation.to_string());
    for line in scenario_lines("rolling-circuit-breaker") {
        let mut v: Value = serde_json::from_str(&line).unwrap();
        let d = &mut v["detail"];
        if d["reason"].as_str().is_some_and(|r| r.contains("task failed to start")) {
            d["reason"] = Value::from(reason);
        }
        if d["stoppedReason"].as_str().is_some_and(|r| r.contains("failed")) {
            d["stoppedReason"] = Value::from(format!("Task failed {reason}"));
        }
        h.feed(&v.to_string());
    }
    for a in &h.actions {
        if let Action::SlackPost(m) | Action::SlackUpdate(m) | Action::SlackReply(m) = a {
            for t in texts(m) {
                if let Err(e) = check(&t, &allowed) {
                    panic!("{e}");
                }
            }
            for b in &m.blocks {
                let header = b["type"] == "header";
                let text = b.pointer("/text/text").and_then(Value::as_str).map_or(0, |t| t.chars().count());
                assert!(text <= if header { 150 } else { 3_000 }, "{b}");
                for f in b["fields"].as_array().into_iter().flatten() {
                    assert!(f["text"].as_str().map_or(0, |t| t.chars().count()) <= 2_000, "{f}");
                }
            }
        }
    }
    h.actions
}

#[test]
fn the_annotation_of_the_issue_pings_no_one() {
    let actions = run(
        "<!channel> main",
        "<!here>",
        "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b",
        "https://github.com/example/payments",
        "https://evil.example/<!everyone>",
        "<!channel> boom",
    );
    let post = actions.iter().find_map(|a| if let Action::SlackPost(m) = a { Some(m) } else { None }).unwrap();
    let all = texts(post).concat();
    assert!(all.contains("&lt;!channel&gt; main") && all.contains("&lt;!here&gt;"), "{all}");
    // The commit link is Cutover's own, from the repository and the hex commit.
    assert!(
        all.contains(
            "<https://github.com/example/payments/commit/9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b|`9f1c2ab7`>"
        ),
        "{all}"
    );
}

#[test]
fn a_255_character_name_fits_the_header() {
    let long = "p".repeat(300);
    let actions = run(&long, &long, &long, &long, &long, &long);
    assert!(actions.iter().any(|a| matches!(a, Action::SlackPost(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_event_field_makes_a_mention_or_a_link(
        branch in hostile(),
        actor in hostile(),
        commit in prop_oneof![hostile(), Just("9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b".to_owned())],
        repository in prop_oneof![hostile(), Just("https://github.com/example/payments".to_owned()), hostile().prop_map(|h| format!("https://github.com/{h}"))],
        run_url in prop_oneof![hostile(), hostile().prop_map(|h| format!("https://ci.example/{h}"))],
        reason in hostile(),
    ) {
        run(&branch, &actor, &commit, &repository, &run_url, &reason);
    }
}
