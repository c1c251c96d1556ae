//! The EventBridge rule patterns in `event-schemas/patterns/` (kept once: the CloudFormation
//! template and the Terraform module use exactly these) let through every event Cutover uses
//! and keep out what it would only ignore: RunTask tasks, `SERVICE_STEADY_STATE`, other types.

use std::path::PathBuf;

use serde_json::Value;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn patterns() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir("patterns"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().into_string().unwrap();
            let v = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap())
                .unwrap_or_else(|err| panic!("{name}: {err}"));
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// EventBridge content matching, for the operators these patterns use: arrays of exact
/// values and `{"prefix": "…"}`, nested objects (every named field must match).
fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else { return false };
    fields.iter().all(|(key, rule)| {
        let value = event.get(key).unwrap_or(&Value::Null);
        match rule {
            Value::Object(_) => matches(rule, value),
            Value::Array(options) => options.iter().any(|o| match o {
                Value::Object(op) => op
                    .get("prefix")
                    .and_then(Value::as_str)
                    .is_some_and(|p| value.as_str().is_some_and(|v| v.starts_with(p))),
                exact => exact == value,
            }),
            _ => false,
        }
    })
}

#[test]
fn every_pattern_is_a_valid_rule_on_a_known_source() {
    let all = patterns();
    assert_eq!(all.len(), 7, "{:?}", all.iter().map(|p| &p.0).collect::<Vec<_>>());
    for (name, p) in &all {
        let sources = p["source"].as_array().unwrap_or_else(|| panic!("{name}: no source"));
        assert!(
            sources.iter().all(|s| [
                "aws.ecs",
                "aws.codedeploy",
                "aws.codepipeline",
                cutover_events::annotation::SOURCE
            ]
            .contains(&s.as_str().unwrap_or(""))),
            "{name}"
        );
        assert!(p["detail-type"].as_array().is_some_and(|d| !d.is_empty()), "{name}: no detail-type");
    }
}

#[test]
fn fixtures_cutover_uses_pass_and_noise_is_kept_out() {
    let all = patterns();
    let keep_out = ["ecs-task.run-task.json", "ecs-service-action.steady-state.json"];
    let mut checked = 0;
    for entry in std::fs::read_dir(dir("fixtures")).unwrap().filter_map(|e| e.ok()) {
        let name = entry.file_name().into_string().unwrap();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        if event.get("detail-type").is_none() {
            continue; // SNS and raw triggers do not go through rules.
        }
        let matched: Vec<&str> = all.iter().filter(|(_, p)| matches(p, &event)).map(|(n, _)| n.as_str()).collect();
        if keep_out.contains(&name.as_str()) {
            assert!(matched.is_empty(), "{name} should be kept out, matched {matched:?}");
        } else {
            assert_eq!(matched.len(), 1, "{name} should match exactly one pattern, matched {matched:?}");
        }
        checked += 1;
    }
    assert!(checked >= 15);
    let other = serde_json::json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}});
    assert!(all.iter().all(|(_, p)| !matches(p, &other)));
}

#[test]
fn the_matcher_itself_distinguishes() {
    let p = serde_json::json!({"source": ["a"], "detail": {"group": [{"prefix": "service:"}]}});
    assert!(matches(&p, &serde_json::json!({"source": "a", "detail": {"group": "service:web"}})));
    assert!(!matches(&p, &serde_json::json!({"source": "a", "detail": {"group": "family:web"}})));
    assert!(!matches(&p, &serde_json::json!({"source": "b", "detail": {"group": "service:web"}})));
    assert!(!matches(&p, &serde_json::json!({"source": "a"})));
}
