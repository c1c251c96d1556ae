//! Every fixture in `event-schemas/fixtures/` parses as an SQS body, as the kind its file
//! name starts with, and the wire quirks it carries come through.

use std::path::PathBuf;

use cutover_events::codedeploy::DeploymentStatus;
use cutover_events::{Event, Inbound, Timestamp, parse_body_at};

fn fixtures() -> Vec<(String, Inbound)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "fixtures missing in {}", dir.display());
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(&n)).unwrap();
            let m = parse_body_at(&text, Timestamp::wall_clock()).unwrap_or_else(|e| panic!("{n}: {e}"));
            (n, m)
        })
        .collect()
}

fn kind(e: &Event) -> &'static str {
    match e {
        Event::EcsTask { .. } => "ecs-task",
        Event::EcsDeployment { .. } => "ecs-deployment",
        Event::EcsHook { .. } => "ecs-hook",
        Event::EcsServiceAction { .. } => "ecs-service-action",
        Event::CodeDeployDeployment { .. } => "codedeploy-deployment",
        Event::CodeDeployInstance { .. } => "codedeploy-instance",
        Event::CodeDeployTrigger { .. } => "codedeploy-trigger",
        Event::Pipeline { envelope, .. } => match envelope.detail_type.as_str() {
            "CodePipeline Pipeline Execution State Change" => "codepipeline-pipeline",
            "CodePipeline Stage Execution State Change" => "codepipeline-stage",
            _ => "codepipeline-action",
        },
        Event::ApprovalNotification(_) => "approval",
        Event::Annotation { .. } => "annotation",
        Event::Other { .. } => "other",
        Event::SnsControl { .. } => "sns-control",
    }
}

#[test]
fn every_fixture_parses_as_the_kind_it_is_named_after() {
    for (name, m) in fixtures() {
        let expected = name.strip_prefix("sns.").map_or(name.as_str(), |rest| rest);
        let expected = match expected.split('.').next().unwrap() {
            "eventbridge" => "ecs-deployment",
            other => other,
        };
        assert_eq!(kind(&m.event), expected, "{name}");
        assert_eq!(m.sns.is_some(), name.starts_with("sns."), "{name}: SNS envelope");
    }
}

#[test]
fn wire_quirks_come_through() {
    let all = fixtures();
    let get = |n: &str| &all.iter().find(|(name, _)| name == n).unwrap().1;

    let Event::EcsTask { envelope, detail } = &get("ecs-task.quirks.no-account-no-revision-cpu-null.json").event else {
        panic!()
    };
    assert!(envelope.account.is_none());
    assert!(detail.task_definition_arn.as_deref().unwrap().ends_with("task-definition/web"));
    assert_eq!(detail.containers[0].cpu.as_ref().unwrap().0, "null");

    let Event::CodeDeployTrigger { trigger, .. } = &get("codedeploy-trigger.created.captured.json").event else {
        panic!()
    };
    assert_eq!(trigger.create_time.unwrap().to_string(), "2022-10-13T15:50:45.000Z");
    assert!(trigger.complete_time.is_none());
    assert_eq!(trigger.status, Some(DeploymentStatus::Created));

    let Event::CodeDeployTrigger { trigger, .. } = &get("codedeploy-trigger.failed.documented.json").event else {
        panic!()
    };
    assert_eq!(trigger.status, Some(DeploymentStatus::Failed));
    assert_eq!(trigger.complete_time.unwrap().to_string(), "2015-11-05T17:23:10.402Z");
    assert_eq!(trigger.error_information.as_ref().unwrap().0.error_code.as_deref(), Some("HOOK_EXECUTION_FAILURE"));

    let m = get("sns.codedeploy-trigger.rollback.json");
    let Event::CodeDeployTrigger { trigger, sns_timestamp } = &m.event else { panic!() };
    assert_eq!(trigger.rollback_of(), Some("d-7QHX0M2PB"));
    assert!(sns_timestamp.is_some());
    assert_eq!(m.dedupe_key, "sns:1e1b0a5f-9a6b-5124-a74b-519cbe771f01");

    let Event::CodeDeployTrigger { trigger, .. } = &get("codedeploy-trigger.instance.allow-traffic.json").event else {
        panic!()
    };
    assert_eq!(trigger.allow_traffic_succeeded().unwrap().end_time.unwrap().to_string(), "2026-03-14T09:31:29.250Z");

    // An EventBridge event keeps its own id as the dedupe key when SNS wraps it.
    let m = get("sns.eventbridge.ecs-deployment.json");
    assert_eq!(m.dedupe_key, "eb:8b4acebb-7d52-4fce-a099-5e6f708192a7");

    for (n, v) in [
        ("codepipeline-pipeline.started.float-version.json", 1.0),
        ("codepipeline-stage.started.int-version.json", 1.0),
        ("codepipeline-action.codedeploy.string-version.json", 2.0),
    ] {
        let Event::Pipeline { detail, .. } = &get(n).event else { panic!() };
        assert_eq!(detail.version.unwrap().0, v, "{n}");
    }
    let Event::Pipeline { detail, .. } = &get("codepipeline-action.codedeploy.string-version.json").event else {
        panic!()
    };
    assert_eq!(detail.codedeploy_deployment_id(), Some("d-7QHX0M2PB"));
}
