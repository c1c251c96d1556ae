//! `cutover replay` as a user runs it: the real binary on every recorded scenario under
//! `tests/scenarios/`, checked against the hand-written `expected.json` beside it; and the
//! CLI contract (exit codes, stderr format, determinism).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{actions, cutover, cutover_with_env, scenarios_dir};
use serde_json::Value;

fn replay_scenario(dir: &Path) -> Output {
    let input = dir.join("input.jsonl");
    let config = dir.join("config.toml");
    let mut args = vec!["replay".to_owned()];
    if config.exists() {
        args.push("--config".into());
        args.push(config.display().to_string());
    }
    args.push(input.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cutover(&args, None)
}

const IDENTITY_FIELDS: [&str; 10] = [
    "deployment_id",
    "cluster",
    "service",
    "environment",
    "strategy",
    "task_definition",
    "previous_task_definition",
    "version",
    "at",
    "observed_at",
];

fn check_scenario(name: &str) {
    let dir = scenarios_dir().join(name);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("expected.json")).unwrap();
    let out = replay_scenario(&dir);
    assert!(out.status.success(), "{name}: exit {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let actions = actions(&out);
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();

    // Lifecycle events: exactly these, in this order, with these times.
    let emits: Vec<Value> = actions
        .iter()
        .filter(|a| a["action"] == "emit")
        .map(|a| {
            assert_eq!(a["source"], "cutover", "{name}");
            for f in IDENTITY_FIELDS {
                assert!(a["detail"].get(f).is_some(), "{name}: detail lacks {f}: {a}");
            }
            serde_json::json!([a["detail"]["deployment_id"], a["detail_type"], a["detail"]["at"]])
        })
        .collect();
    assert_eq!(Value::Array(emits), expected["lifecycle"], "{name}: lifecycle events");
    // Approval events: exactly these (none where the scenario lists none).
    let approvals: Vec<Value> = actions
        .iter()
        .filter(|a| a["action"] == "emit.approval")
        .map(|a| {
            assert_eq!(a["source"], "cutover", "{name}");
            serde_json::json!([a["detail"]["approval_id"], a["detail_type"], a["detail"]["at"], a["detail"]["outcome"]])
        })
        .collect();
    assert_eq!(
        Value::Array(approvals),
        expected.get("approvals").cloned().unwrap_or(Value::Array(Vec::new())),
        "{name}: approval events"
    );

    // Slack: one post per deployment in its channel, N updates, these replies.
    let mut posts = BTreeMap::new();
    let mut updates: BTreeMap<String, u64> = BTreeMap::new();
    let mut replies = Vec::new();
    for a in &actions {
        let id = a["deployment_id"].as_str().unwrap_or_default().to_owned();
        match a["action"].as_str() {
            Some("slack.post") => {
                assert!(posts.insert(id.clone(), a["channel"].clone()).is_none(), "{name}: second post for {id}");
                assert!(a["blocks"].as_array().is_some_and(|b| !b.is_empty()), "{name}: post without blocks");
                assert!(a["text"].as_str().is_some_and(|t| !t.is_empty()), "{name}: post without text");
            }
            Some("slack.update") => {
                assert!(posts.contains_key(&id), "{name}: update before post for {id}");
                *updates.entry(id).or_default() += 1;
            }
            Some("slack.reply") => {
                let parent = a["thread_of"].as_str().expect("reply names its thread").to_owned();
                assert!(posts.contains_key(&parent), "{name}: reply in a thread never posted: {parent}");
                replies.push(serde_json::json!([id, parent]));
            }
            _ => {}
        }
    }
    let expected_posts: BTreeMap<String, Value> =
        expected["posts"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(posts, expected_posts, "{name}: posts");
    let expected_updates: BTreeMap<String, u64> =
        expected["updates"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
    assert_eq!(updates, expected_updates, "{name}: updates");
    assert_eq!(Value::Array(replies), expected["replies"], "{name}: replies");

    // Invalidations, with a caller reference that is stable and short.
    let invalidations: Vec<Value> = actions
        .iter()
        .filter(|a| a["action"] == "cloudfront.invalidate")
        .map(|a| {
            let reference = a["caller_reference"].as_str().unwrap();
            assert!(!reference.is_empty() && reference.len() <= 128, "{name}: caller_reference {reference}");
            serde_json::json!([a["deployment_id"], a["distribution_id"], a["paths"]])
        })
        .collect();
    assert_eq!(Value::Array(invalidations), expected["invalidations"], "{name}: invalidations");

    // Fields of each deployment's last lifecycle event.
    for (id, fields) in expected["fields"].as_object().unwrap() {
        let last = actions.iter().rev().find(|a| a["action"] == "emit" && a["detail"]["deployment_id"] == *id);
        let last = last.unwrap_or_else(|| panic!("{name}: no event for {id}"));
        for (k, v) in fields.as_object().unwrap() {
            assert_eq!(&last["detail"][k], v, "{name}: {id}.{k}");
        }
    }
    if let Some(reasons) = expected.get("reasons").and_then(Value::as_object) {
        for (id, reason) in reasons {
            let failed = actions
                .iter()
                .find(|a| a["detail_type"] == "Deployment Failed" && a["detail"]["deployment_id"] == *id)
                .expect("a Failed event");
            assert_eq!(&failed["detail"]["reason"], reason, "{name}: reason of {id}");
        }
    }
    if let Some(contains) = expected.get("last_update_contains").and_then(Value::as_object) {
        for (id, needles) in contains {
            let update =
                actions.iter().rev().find(|a| a["action"] == "slack.update" && a["deployment_id"] == *id).unwrap();
            let text = update["blocks"].to_string();
            for n in needles.as_array().unwrap() {
                assert!(text.contains(n.as_str().unwrap()), "{name}: last update lacks {n}: {text}");
            }
        }
    }

    // stderr: `line N: reason` for each rejected line, then the summary.
    let rejected: Vec<Value> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.split_once(':')?.0.parse::<u64>().ok())
        .map(Value::from)
        .collect();
    assert_eq!(Value::Array(rejected), expected["rejected"], "{name}: rejected lines\n{stderr}");
    assert_eq!(stderr.lines().last(), expected["summary"].as_str(), "{name}: summary");

    // Replay's clock is the event time: a second run prints the same bytes.
    let again = replay_scenario(&dir);
    assert_eq!(out.stdout, again.stdout, "{name}: output differs between runs");
}

macro_rules! scenarios {
    ($($test:ident => $name:literal),+ $(,)?) => {
        $(#[test] fn $test() { check_scenario($name); })+

        #[test]
        fn every_scenario_on_disk_has_a_test() {
            let tested = [$($name),+];
            let mut on_disk: Vec<String> = std::fs::read_dir(scenarios_dir())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("input.jsonl").exists())
                .map(|e| e.file_name().into_string().unwrap())
                .collect();
            on_disk.sort();
            let mut tested: Vec<String> = tested.iter().map(|s| s.to_string()).collect();
            tested.sort();
            assert_eq!(on_disk, tested);
        }
    };
}

scenarios! {
    rolling => "rolling",
    rolling_circuit_breaker => "rolling-circuit-breaker",
    codedeploy_sns => "codedeploy-sns",
    codedeploy_eventbridge => "codedeploy-eventbridge",
    codedeploy_rollback => "codedeploy-rollback",
    pipeline_linked => "pipeline-linked",
    noise_and_malformed => "noise-and-malformed",
    two_clusters_same_service => "two-clusters-same-service",
    ecs_native_hooks => "ecs-native-hooks",
    pipeline_ecs_approval => "pipeline-ecs-approval",
    pipeline_cloudformation_linear => "pipeline-cloudformation-linear",
}

#[test]
fn reads_standard_input_and_skips_blank_lines() {
    let input = std::fs::read(scenarios_dir().join("rolling/input.jsonl")).unwrap();
    let mut with_blanks = b"\n\n".to_vec();
    with_blanks.extend_from_slice(&input);
    let out = cutover(&["replay", "-"], Some(&with_blanks));
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("summary: lines=22 accepted=20 rejected=0"), "{stderr}");
    let out = cutover(&["replay"], Some(&input));
    assert!(out.status.success());
    // Without a config there is no invalidation: post, two updates and three emits.
    assert_eq!(actions(&out).len(), 6);
}

#[test]
fn a_line_that_is_not_utf8_is_rejected_with_its_number_and_the_rest_is_replayed() {
    let input = std::fs::read(scenarios_dir().join("rolling/input.jsonl")).unwrap();
    let mut with_bad = b"{\"detail-type\": \"\xff\xfe\"}\n".to_vec();
    with_bad.extend_from_slice(&input);
    let out = cutover(&["replay", "-"], Some(&with_bad));
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(stderr.contains("line 1: not UTF-8"), "{stderr}");
    assert!(stderr.contains("summary: lines=21 accepted=20 rejected=1"), "{stderr}");
    assert_eq!(actions(&out).len(), 6, "the scenario after the bad line is decided as without it");
}

#[test]
fn missing_input_exits_2_and_names_it() {
    let out = cutover(&["replay", "/nonexistent/input.jsonl"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("/nonexistent/input.jsonl"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_config_exits_2_with_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("cutover-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "[slack]\nchannel = \"x\"\n[[routes]]\nclustr = \"prod\"\n").unwrap();
    let path = config.display().to_string();
    for args in [vec!["replay", "--config", &path, "-"], vec!["check-config", &path]] {
        let out = cutover(&args, Some(b""));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("bad.toml") && stderr.contains("line 4") && stderr.contains("clustr"), "{stderr}");
    }
    std::fs::write(&config, "[[routes]]\nservice = \"web-[\"\n").unwrap();
    let out = cutover(&["check-config", &path], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("unclosed '['"));
}

#[test]
fn check_config_accepts_the_scenario_config() {
    let path = scenarios_dir().join("rolling/config.toml");
    let out = cutover(&["check-config", &path.display().to_string()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8(out.stdout).unwrap().contains("3 route(s), 3 invalidation(s)"));
}

#[test]
fn environment_overrides_the_default_channel() {
    let input = scenarios_dir().join("noise-and-malformed/input.jsonl").display().to_string();
    let out = cutover_with_env(&["replay", &input], None, &[("CUTOVER_SLACK__CHANNEL", "ops-feed")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let post = actions(&out).into_iter().find(|a| a["action"] == "slack.post").unwrap();
    assert_eq!(post["channel"], "ops-feed");
    let out = cutover_with_env(&["replay", &input], None, &[("CUTOVER_SLACK__CHANEL", "typo")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CUTOVER_SLACK__CHANEL"));
}

#[test]
fn readme_demo_replays_cleanly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = root.join("examples/cutover.toml").display().to_string();
    let input = root.join("examples/demo.jsonl").display().to_string();
    let out = cutover(&["replay", "--config", &config, &input], None);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(stderr.contains("rejected=0") && stderr.contains("deployments=9"), "{stderr}");
    let actions = actions(&out);
    let cut_overs = actions.iter().filter(|a| a["detail_type"] == "Deployment Cut Over").count();
    assert_eq!(cut_overs, 8, "every deployment but the failed one cuts over");
    // One post per deployment, except the rollback, which replies in the failed one's thread.
    let rollbacks: std::collections::BTreeSet<&str> = actions
        .iter()
        .filter(|a| a["action"] == "emit" && !a["detail"]["rollback_of"].is_null())
        .filter_map(|a| a["detail"]["deployment_id"].as_str())
        .collect();
    let posts = actions.iter().filter(|a| a["action"] == "slack.post").count();
    assert_eq!(posts, 9 - rollbacks.len());
    let out = cutover(&["check-config", &config], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn events_from_outside_the_allow_list_are_rejected_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("cutover-allow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("allow.toml");
    std::fs::write(&config, "[intake]\nallowed_accounts = [\"123456789012\"]\nallowed_regions = [\"eu-west-1\"]\n")
        .unwrap();
    let lines = std::fs::read_to_string(scenarios_dir().join("rolling/input.jsonl")).unwrap();
    let mut foreign: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    foreign["account"] = Value::from("999999999999");
    let mut other_region: Value = serde_json::from_str(lines.lines().nth(1).unwrap()).unwrap();
    other_region["region"] = Value::from("us-east-1");
    let input = format!("{lines}{foreign}\n{other_region}\n");
    let out = cutover(&["replay", "--config", &config.display().to_string(), "-"], Some(input.as_bytes()));
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("line 21: account 999999999999 is not in the allow-list"), "{stderr}");
    assert!(stderr.contains("line 22: region us-east-1 is not in the allow-list"), "{stderr}");
    assert!(stderr.contains("accepted=20 rejected=2"), "{stderr}");
}

#[test]
fn check_config_renders_route_templates_and_names_the_line_of_an_error() {
    let dir = std::env::temp_dir().join(format!("cutover-templates-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    let config = dir.join("cutover.toml");
    let path = config.display().to_string();
    let write_config = |template: &str| {
        std::fs::write(
            &config,
            format!("[[routes]]\ncluster = \"prod-*\"\nchannel = \"deploys-prod\"\ntemplate = \"{template}\"\n"),
        )
        .unwrap();
    };
    std::fs::write(
        dir.join("templates/short.j2"),
        "{% extends \"default\" %}\n{% block text %}{{ deployment.service }} is {{ state }}{% endblock %}\n",
    )
    .unwrap();
    write_config("templates/short.j2");
    let out = cutover(&["check-config", &path], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 template(s) rendered in every state"));
    let input = scenarios_dir().join("rolling/input.jsonl").display().to_string();
    let out = cutover(&["replay", "--config", &path, &input], None);
    let post = actions(&out).into_iter().find(|a| a["action"] == "slack.post").unwrap();
    assert_eq!(post["text"], "storefront is started", "the route's template is used");

    // An undefined name on line 3 of the template: check-config (and replay, and serve) refuse.
    std::fs::write(
        dir.join("templates/bad.j2"),
        "{% block text %}ok{% endblock %}\n{% block blocks %}\n[{\"type\": \"section\", \"text\": {{ deployment.verison|tojson }}}]\n{% endblock %}\n",
    )
    .unwrap();
    write_config("templates/bad.j2");
    for args in [vec!["check-config", &path], vec!["replay", "--config", &path, &input]] {
        let out = cutover(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("routes[0] template templates/bad.j2") && stderr.contains("line 3"), "{stderr}");
        assert!(stderr.contains("deployment.verison"), "{stderr}");
    }
    write_config("templates/missing.j2");
    let out = cutover(&["check-config", &path], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read it"));
}
