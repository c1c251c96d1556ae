//! The project's own fixtures in `event-schemas/fixtures/`: one SQS body per event kind and
//! wire quirk Cutover must accept, written by `make-scenarios`. Each file name starts with
//! the kind it must parse as (checked in `event-schemas/tests/fixtures.rs`).

use cutover_events::Timestamp;
use serde_json::{Value, json};

use crate::shapes::{CodeDeployShape, EcsDeploymentShape, HookShape, TriggerShape};
use crate::shapes::{Fleet, PipelineShape, TaskShape};

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_default()
}

/// `(file name, body)` pairs.
pub fn all() -> Vec<(&'static str, Value)> {
    let f = Fleet::default();
    let td = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42";
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:v123";
    let task = |last: &'static str, desired: &'static str, version: u64, stop: Option<(&'static str, &'static str)>| {
        TaskShape {
            cluster: "prod-eu",
            service: "web",
            task_id: "7e12d648155541fbb8a922c39b586f82",
            started_by: "ecs-svc/5211643699352071000",
            task_definition: td,
            image,
            last_status: last,
            desired_status: desired,
            version,
            created_at: t("2026-03-14T09:30:04Z"),
            stop,
            exit_code: None,
            seed: 42,
        }
    };
    let at = t("2026-03-14T09:31:08.123Z");
    let mut out = vec![
        ("ecs-task.running.service.json", f.task("4d0c8a77-3f1e-4b8a-9c55-1a2b3c4d5e6f", at, &task("RUNNING", "RUNNING", 4, None))),
        (
            "ecs-task.stopped.failed-health-checks.json",
            f.task("5e1d9b88-4a2f-4c9b-8d66-2b3c4d5e6f70", at, &task("STOPPED", "STOPPED", 8, Some(("ServiceSchedulerInitiated", "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tg/ccb1c7ee670051a0)")))),
        ),
    ];
    // The emulator omits `account`; the 2025 EC2 guide sample has a task definition without a
    // revision and a container with "cpu": "null".
    let mut quirky = f.task("6f2eac99-5b30-4dac-8e77-3c4d5e6f7081", at, &task("RUNNING", "RUNNING", 3, None));
    quirky.as_object_mut().map(|o| o.remove("account"));
    quirky["detail"]["taskDefinitionArn"] = json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web");
    quirky["detail"]["containers"][0]["cpu"] = json!("null");
    out.push(("ecs-task.quirks.no-account-no-revision-cpu-null.json", quirky));
    let mut run_task = f.task("7a3fbdaa-6c41-4ebd-9f88-4d5e6f708192", at, &task("PROVISIONING", "RUNNING", 1, None));
    run_task["detail"]["group"] = json!("family:web-migrate");
    run_task["detail"].as_object_mut().map(|d| d.remove("startedBy"));
    out.push(("ecs-task.run-task.json", run_task));
    let dep = "ecs-svc/5211643699352071000";
    let d = |id: &str, name, reason: &str| {
        f.ecs_deployment(
            id,
            t("2026-03-14T09:30:00.250Z"),
            &EcsDeploymentShape { cluster: "prod-eu", service: "web", event_name: name, deployment_id: dep, reason },
        )
    };
    out.push((
        "ecs-deployment.in-progress.json",
        d(
            "8b4acebb-7d52-4fce-a099-5e6f708192a3",
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            "ECS deployment ecs-svc/5211643699352071000 in progress.",
        ),
    ));
    out.push((
        "ecs-deployment.completed.json",
        d(
            "8b4acebb-7d52-4fce-a099-5e6f708192a4",
            "SERVICE_DEPLOYMENT_COMPLETED",
            "ECS deployment ecs-svc/5211643699352071000 completed.",
        ),
    ));
    out.push((
        "ecs-deployment.failed.json",
        d(
            "8b4acebb-7d52-4fce-a099-5e6f708192a5",
            "SERVICE_DEPLOYMENT_FAILED",
            "ECS deployment circuit breaker: task failed to start.",
        ),
    ));
    out.push((
        "ecs-deployment.rollback.json",
        d(
            "8b4acebb-7d52-4fce-a099-5e6f708192a6",
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/4231880795355584839.",
        ),
    ));
    out.push((
        "ecs-hook.post-production-traffic-shift.json",
        f.hook(
            "9c5bdfcc-8e63-4adf-b1aa-6f708192a3b4",
            at,
            &HookShape {
                cluster: "prod-eu",
                service: "web",
                deployment: "EZe5RNVLH6PPzHXINuP28",
                event_name: "HOOK_IN_PROGRESS",
                stage: "POST_PRODUCTION_TRAFFIC_SHIFT",
            },
        ),
    ));
    out.push((
        "ecs-service-action.steady-state.json",
        f.service_action("ad6ce0dd-9f74-4be0-82bb-708192a3b4c5", at, "prod-eu", "web", "SERVICE_STEADY_STATE"),
    ));
    let (app, group, cd) = ("AppECS-prod-eu-web", "DgpECS-prod-eu-web", "d-7QHX0M2PB");
    out.push((
        "codedeploy-deployment.start.json",
        f.codedeploy(
            "be7df1ee-a085-4cf1-93cc-8192a3b4c5d6",
            at,
            &CodeDeployShape { app, group, deployment_id: cd, state: "START", instance: None },
        ),
    ));
    out.push((
        "codedeploy-instance.success.json",
        f.codedeploy(
            "cf8e02ff-b196-4d02-a4dd-92a3b4c5d6e7",
            at,
            &CodeDeployShape { app, group, deployment_id: cd, state: "SUCCESS", instance: Some("prod-eu:web") },
        ),
    ));
    let created = t("2022-10-13T15:50:45Z");
    out.push((
        "codedeploy-trigger.created.captured.json",
        f.trigger(&TriggerShape {
            app,
            group,
            deployment_id: cd,
            status: "CREATED",
            created,
            completed: None,
            extra: &[],
        }),
    ));
    let documented = json!({
        "region": "eu-west-1", "accountId": "123456789012", "eventTriggerName": "deploy-failed",
        "applicationName": app, "deploymentId": "d-75I7MBT7C", "deploymentGroupName": group,
        "createTime": "1446744188.595", "completeTime": "1446744190.402",
        "deploymentOverview": {"Failed": "1", "InProgress": "0", "Pending": "0", "Skipped": "0", "Succeeded": "0"},
        "status": "Failed",
        "errorInformation": {"ErrorCode": "HOOK_EXECUTION_FAILURE", "ErrorMessage": "AfterAllowTestTraffic hook failed"}
    });
    out.push(("codedeploy-trigger.failed.documented.json", documented));
    let lifecycle: Vec<(&str, &str, Timestamp, Timestamp)> = vec![
        ("BeforeAllowTraffic", "Succeeded", t("2026-03-14T09:31:00Z"), t("2026-03-14T09:31:10Z")),
        ("AllowTraffic", "Succeeded", t("2026-03-14T09:31:10Z"), t("2026-03-14T09:31:29.250Z")),
    ];
    out.push((
        "codedeploy-trigger.instance.allow-traffic.json",
        f.instance_trigger(cd, "prod-eu:web", "Succeeded", t("2026-03-14T09:31:30Z"), &lifecycle),
    ));
    let rollback = f.trigger(&TriggerShape { app, group, deployment_id: "d-RBCK7TT0P", status: "IN_PROGRESS", created, completed: None, extra: &[(
        "rollbackInformation",
        json!("{\"RollbackMessage\":\"Deployment d-RBCK7TT0P is triggered to roll back deployment d-7QHX0M2PB.\",\"RollbackTriggeringDeploymentId\":\"d-7QHX0M2PB\"}"),
    )] });
    out.push((
        "sns.codedeploy-trigger.rollback.json",
        f.sns(
            "1e1b0a5f-9a6b-5124-a74b-519cbe771f01",
            "codedeploy-web",
            Some("IN_PROGRESS: AWS CodeDeploy d-RBCK7TT0P in eu-west-1 to AppECS-prod-eu-web"),
            &rollback,
            t("2022-10-13T15:50:46.039Z"),
        ),
    ));
    let inner = d(
        "8b4acebb-7d52-4fce-a099-5e6f708192a7",
        "SERVICE_DEPLOYMENT_COMPLETED",
        "ECS deployment ecs-svc/5211643699352071000 completed.",
    );
    out.push((
        "sns.eventbridge.ecs-deployment.json",
        f.sns("27ba1db2-bf92-50ee-a4d8-46719b8c9785", "ecs-events", None, &inner, at),
    ));
    let p = crate::shapes::pipeline_steps("web-release", "e17b5773-cc0d-4db2-9ad7-594c73888de8");
    let mut started = f.pipeline("d07f1300-c2a7-4e13-b5ee-a3b4c5d6e7f8", at, &PipelineShape { trigger: Some(json!({"trigger-type": "StartPipelineExecution", "trigger-detail": "arn:aws:sts::123456789012:assumed-role/Admin/mary"})), ..p("STARTED", None, None, None, None) });
    started["detail"]["version"] = json!(1.0);
    out.push(("codepipeline-pipeline.started.float-version.json", started));
    let mut stage =
        f.pipeline("e1802411-d3b8-4f24-86ff-b4c5d6e7f809", at, &p("STARTED", Some("Deploy"), None, None, None));
    stage["detail"]["version"] = json!(1);
    out.push(("codepipeline-stage.started.int-version.json", stage));
    let mut action = f.pipeline(
        "f2913522-e4c9-4035-9700-c5d6e7f8091a",
        at,
        &p("SUCCEEDED", Some("Deploy"), Some("BlueGreen"), Some(("AWS", "CodeDeployToECS", "Deploy")), Some(cd)),
    );
    action["detail"]["version"] = json!("2.0");
    out.push(("codepipeline-action.codedeploy.string-version.json", action));
    let approval = json!({"region": "eu-west-1", "consoleLink": "https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/web-release",
        "approval": {"pipelineName": "web-release", "stageName": "Approve", "actionName": "ReleaseManager", "token": "1a2b3c4d-573f-4ea7-a67E-XAMPLETOKEN",
        "expires": "2026-03-21T09:30Z", "externalEntityLink": "https://github.com/acme/web/commit/9f2c1e7", "approvalReviewLink": "https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/web-release/Approve/ReleaseManager/approve/1a2b3c4d",
        "customData": "Release v123 of web to production"}});
    out.push((
        "sns.approval.json",
        f.sns(
            "0b9c1d2e-3f40-5a6b-7c8d-9e0f1a2b3c4d",
            "web-approvals",
            Some("APPROVAL NEEDED: web-release"),
            &approval,
            at,
        ),
    ));
    out.into_iter().map(|(name, v)| (name, cutover_events::canonical::sort_keys(v))).collect()
}
