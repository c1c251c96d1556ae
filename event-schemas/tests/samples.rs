//! Every published AWS sample in `shared/event-samples/` parses: SQS bodies as inputs, the
//! rest into the types that use them, or it is listed below as out of scope with the reason.
//! The folder sits beside the checkout (CI has it); `CUTOVER_SAMPLES_DIR` overrides the path.
//! Each file is checked on its own and a failure names the file.

use std::path::PathBuf;

use cutover_events::codedeploy::LifecycleHookInvocation;
use cutover_events::ecs::{LifecycleHookPayload, LifecycleHookResponse};
use cutover_events::sns::SnsEnvelope;
use cutover_events::{Event, Timestamp, parse_body, parse_body_at};

/// Samples that are not inputs of this crate's types, with the reason.
const OUT_OF_SCOPE: &[(&str, &str)] = &[
    ("ecs-api.", "ECS API responses: the reconciler reads them through aws-sdk-ecs's own types"),
    (
        "eventbridge-putevents.",
        "PutEvents requests and responses: the EventBridge executor uses aws-sdk-eventbridge's types",
    ),
];

fn samples_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CUTOVER_SAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/event-samples"));
    dir.is_dir().then_some(dir)
}

/// What a sample is, and how to check it.
fn check(name: &str, text: &str) -> Result<&'static str, String> {
    if let Some((_, why)) = OUT_OF_SCOPE.iter().find(|(prefix, _)| name.starts_with(prefix)) {
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| e.to_string())?;
        return Ok(why);
    }
    if name.starts_with("ecs-bluegreen-lifecycle-hook.response") {
        serde_json::from_str::<LifecycleHookResponse>(text).map_err(|e| e.to_string())?;
        return Ok("Lambda hook response");
    }
    if name.starts_with("ecs-bluegreen-lifecycle-hook.") {
        serde_json::from_str::<LifecycleHookPayload>(text).map_err(|e| e.to_string())?;
        return Ok("Lambda hook payload");
    }
    if name == "codedeploy-ecs-lifecycle-hook-invocation.json" {
        serde_json::from_str::<LifecycleHookInvocation>(text).map_err(|e| e.to_string())?;
        return Ok("CodeDeploy hook invocation");
    }
    if name.starts_with("codedeploy-sns-trigger.") && name.contains("lambda-sns-records") {
        // {"<scenario>": [{"Records": [{"Sns": {…}}]}]}: each Sns is an SNS notification whose
        // Message is a trigger; re-wrapped as the SQS body AWS would deliver, it parses.
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut n = 0;
        for records in doc.as_object().ok_or("not an object")?.values().flat_map(|v| v.as_array().into_iter().flatten())
        {
            for record in records["Records"].as_array().ok_or("no Records")? {
                let sns: SnsEnvelope = serde_json::from_value(record["Sns"].clone()).map_err(|e| e.to_string())?;
                let body = serde_json::to_string(&record["Sns"]).map_err(|e| e.to_string())?;
                let m = parse_body(&body).map_err(|e| format!("record {}: {e}", sns.message_id))?;
                if !matches!(m.event, Event::CodeDeployTrigger { .. }) {
                    return Err(format!("record {} is not a trigger", sns.message_id));
                }
                n += 1;
            }
        }
        return if n >= 7 { Ok("Lambda SNS records of triggers") } else { Err(format!("only {n} records")) };
    }
    if name.starts_with("sns-envelope.") {
        // The documented envelopes carry plain-text messages: the envelope parses, and as a
        // Cutover input the message is malformed (DESIGN.md: a non-JSON SNS Message).
        serde_json::from_str::<SnsEnvelope>(text).map_err(|e| e.to_string())?;
        let reason = parse_body(text).err().ok_or("a plain-text SNS message was accepted")?;
        return if reason.to_string().starts_with("SNS Message: not JSON") {
            Ok("SNS envelope")
        } else {
            Err(format!("unexpected reason: {reason}"))
        };
    }
    parse_body_at(text, Timestamp::wall_clock()).map_err(|e| e.to_string())?;
    Ok("SQS body")
}

#[test]
fn every_published_sample_parses() {
    let Some(dir) = samples_dir() else {
        assert!(
            std::env::var_os("REQUIRE_EVENT_SAMPLES").is_none(),
            "REQUIRE_EVENT_SAMPLES is set but shared/event-samples is not beside the checkout"
        );
        eprintln!("shared/event-samples not found beside the checkout; nothing to check");
        return;
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 50, "expected the full sample set in {}", dir.display());
    let mut failures = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        match check(name, &text) {
            Ok(kind) => eprintln!("ok   {name}: {kind}"),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "samples that failed:\n{}", failures.join("\n"));
}

#[test]
fn sqs_body_samples_type_as_expected() {
    let Some(dir) = samples_dir() else { return };
    let read = |n: &str| parse_body(&std::fs::read_to_string(dir.join(n)).unwrap()).unwrap();
    let t = read("ecs-task-state-change.running.ec2.ecs-guide-2025.json");
    let Event::EcsTask { detail, .. } = t.event else { panic!("task") };
    assert!(detail.task_definition_arn.unwrap().ends_with("task-definition/webserver"));
    let t = read("ecs-task-state-change.running.fargate.ecs-guide-2025.json");
    let Event::EcsTask { detail, .. } = t.event else { panic!("task") };
    assert!(detail.containers.iter().any(|c| c.cpu.as_ref().is_some_and(|c| c.0 == "null")));
    let d = read("codedeploy-sns-trigger.deployment-failed.doc.json");
    let Event::CodeDeployTrigger { trigger, .. } = d.event else { panic!("trigger") };
    assert_eq!(trigger.status, Some(cutover_events::codedeploy::DeploymentStatus::Failed));
    assert_eq!(trigger.create_time.unwrap().to_string(), "2015-11-05T17:23:08.595Z");
    let p = read("codepipeline-pipeline-execution-state-change.started.json");
    assert!(p.dedupe_key.starts_with("eb:"));
    let h = read("ecs-hook-state-change.hook-awaiting-action.json");
    let Event::EcsHook { detail, .. } = h.event else { panic!("hook") };
    assert_eq!(detail.updated_at.unwrap().to_string(), "2026-03-05T15:54:41.618Z");
}
