//! The reconciler's askers against recorded AWS answers (`aws-smithy-mocks`).

use aws_sdk_codedeploy::operation::get_deployment_target::GetDeploymentTargetOutput;
use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput;
use aws_sdk_codedeploy::primitives::DateTime;
use aws_sdk_codedeploy::types::{DeploymentTarget, EcsTarget, EcsTaskSet, TargetStatus};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use cutover_events::emitted::{SourceRevision, Strategy};

use aws_sdk_codedeploy::types::TargetLabel;
use cutover_correlator::{
    ActionTarget, ActionWanted, CodeDeployChange, CodeDeployFact, EcsDeploymentChange, ImageLabels, InvalidationWanted,
    NativeStatus,
};

use super::*;

/// `GetDeploymentTarget` of an ECS blue/green deployment mid-canary, shaped as AWS
/// documents `ecsTarget` (FORMATS.md section 4): blue at 90, green at 10.
fn target(green_weight: f64, at_ms: i64) -> GetDeploymentTargetOutput {
    let set = |label: TargetLabel, weight: f64, status: &str| {
        EcsTaskSet::builder()
            .identifer(format!("ecs-svc/{weight}"))
            .desired_count(2)
            .running_count(2)
            .pending_count(0)
            .status(status)
            .traffic_weight(weight)
            .task_set_label(label)
            .build()
    };
    GetDeploymentTargetOutput::builder()
        .deployment_target(
            DeploymentTarget::builder()
                .ecs_target(
                    EcsTarget::builder()
                        .deployment_id("d-CANARY001")
                        .target_id("prod-eu:checkout")
                        .target_arn("arn:aws:ecs:eu-west-1:123456789012:service/prod-eu/checkout")
                        .last_updated_at(DateTime::from_millis(at_ms))
                        .status(TargetStatus::InProgress)
                        .task_sets_info(set(TargetLabel::Blue, 100.0 - green_weight, "PRIMARY"))
                        .task_sets_info(set(TargetLabel::Green, green_weight, "ACTIVE"))
                        .build(),
                )
                .build(),
        )
        .build()
}

#[tokio::test]
async fn the_green_task_sets_weight_becomes_an_observation_and_targets_are_listed_once() {
    let list = mock!(Client::list_deployment_targets)
        .match_requests(|r| r.deployment_id() == Some("d-CANARY001"))
        .then_output(|| ListDeploymentTargetsOutput::builder().target_ids("prod-eu:checkout").build());
    let first = mock!(Client::get_deployment_target)
        .match_requests(|r| r.target_id() == Some("prod-eu:checkout"))
        .then_output(|| target(10.0, 1_773_481_000_000));
    let second = mock!(Client::get_deployment_target).then_output(|| target(100.0, 1_773_481_300_000));
    let client = mock_client!(aws_sdk_codedeploy, RuleMode::Sequential, [&list, &first, &second]);
    let mut r = Reconciler::new(client, 100.0);

    let seen = r.observe("d-CANARY001").await.unwrap();
    assert_eq!(
        seen,
        vec![Observation::TrafficWeight {
            deployment_id: "d-CANARY001".into(),
            percent: 10.0,
            at: Timestamp(1_773_481_000_000)
        }]
    );
    // The targets are cached: the second round makes one call, not two.
    let seen = r.observe("d-CANARY001").await.unwrap();
    assert!(matches!(seen[0], Observation::TrafficWeight { percent, .. } if percent == 100.0));
    assert_eq!((r.calls, list.num_calls(), first.num_calls(), second.num_calls()), (3, 1, 1, 1));
}

#[tokio::test]
async fn a_census_lists_the_running_tasks_and_who_started_them() {
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_sdk_ecs::types::Task;
    let arn = |n: &str| format!("arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/{n}");
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(|r| r.cluster() == Some("prod-eu") && r.service_name() == Some("storefront"))
        .then_output(move || ListTasksOutput::builder().task_arns(arn("old1")).task_arns(arn("old2")).build());
    let task = move |n: &str, status: &str| {
        Task::builder()
            .task_arn(arn(n))
            .started_by("ecs-svc/4231880795355584839")
            .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:41")
            .last_status(status)
            .desired_status("RUNNING")
            .build()
    };
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(move || {
        DescribeTasksOutput::builder().tasks(task("old1", "RUNNING")).tasks(task("old2", "PENDING")).build()
    });
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&list, &describe]);
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
    let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
    let req = CensusRequest {
        service_key: "eu-west-1:123456789012:prod-eu/storefront".into(),
        cluster: "prod-eu".into(),
        service: "storefront".into(),
    };
    let Observation::ServiceTasks { service_key, tasks, .. } = r.census(&req).await.unwrap() else {
        panic!("a census")
    };
    assert_eq!(service_key, req.service_key);
    assert_eq!(
        tasks.iter().map(|t| (t.task_arn.as_str(), t.running)).collect::<Vec<_>>(),
        vec![(arn("old1").as_str(), true), (arn("old2").as_str(), false)]
    );
    assert_eq!(tasks[0].started_by.as_deref(), Some("ecs-svc/4231880795355584839"));
    assert_eq!((list.num_calls(), describe.num_calls()), (1, 1));
}

/// An error answer as CodeDeploy's JSON protocol writes it.
pub(crate) fn aws_error(status: u16, code: &str) -> aws_sdk_codedeploy::config::http::HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"recorded {code}"}}"#);
    aws_sdk_codedeploy::config::http::HttpResponse::new(
        status.try_into().unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    )
}

#[tokio::test]
async fn a_denied_ask_is_not_repeated_until_what_is_wanted_changes_and_throttling_stops_the_round() {
    let denied = mock!(Client::get_deployment)
        .match_requests(|r| r.deployment_id() == Some("d-DENIED001"))
        .then_http_response(|| aws_error(400, "AccessDeniedException"));
    let throttled = mock!(Client::get_deployment)
        .match_requests(|r| r.deployment_id() == Some("d-THROTTLE1"))
        .then_http_response(|| aws_error(400, "ThrottlingException"));
    let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&denied, &throttled]);
    let mut r = Reconciler::new(client, 100.0);
    let wanted = |ids: &[&str]| Wanted {
        in_flight: ids.iter().map(|id| in_flight(id, Strategy::CodedeployBlueGreen)).collect(),
        ..Wanted::default()
    };
    let w = wanted(&["d-DENIED001"]);
    assert!(r.round(&w, &mut Vec::new()).await.is_empty());
    assert!(r.round(&w, &mut Vec::new()).await.is_empty());
    assert_eq!(denied.num_calls(), 1, "denied once, not asked again for the same wants");
    // What is wanted changes (a deployment is added): asked again. The throttled one first:
    // the round stops there, and the denied one waits for the next round.
    let w = wanted(&["d-THROTTLE1", "d-DENIED001"]);
    assert!(r.round(&w, &mut Vec::new()).await.is_empty());
    // (The SDK retries a throttled call itself before the error reaches the reconciler.)
    assert!(throttled.num_calls() >= 1);
    assert_eq!(denied.num_calls(), 1, "the round stopped at the throttling");
    assert_eq!(r.slow, 2, "and the next goes slower");
}

#[tokio::test]
async fn a_deployment_without_targets_yet_is_asked_again_later() {
    let empty = mock!(Client::list_deployment_targets).then_output(|| ListDeploymentTargetsOutput::builder().build());
    let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&empty]);
    let mut r = Reconciler::new(client, 100.0);
    assert!(r.observe("d-NEW").await.unwrap().is_empty());
    assert!(r.observe("d-NEW").await.unwrap().is_empty());
    assert_eq!(empty.num_calls(), 2, "not cached while empty");
}

/// A recorded response (fixtures/api), through the SDK's own deserialiser (the controls lane's
/// tests use it too).
pub(crate) fn recorded(name: &str) -> aws_sdk_ecs::config::http::HttpResponse {
    let path = format!("{}/fixtures/api/{name}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    aws_sdk_ecs::config::http::HttpResponse::new(
        200u16.try_into().unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    )
}

fn in_flight(id: &str, strategy: Strategy) -> InFlight {
    InFlight {
        id: id.into(),
        strategy,
        cut_over: false,
        cluster: None,
        service: None,
        application: None,
        deployment_group: None,
        service_deployment_arn: None,
        rollback_window: false,
    }
}

fn ms(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

#[tokio::test]
async fn a_lost_codedeploy_cut_over_and_success_are_read_from_the_target_and_the_deployment() {
    let group = mock!(Client::get_deployment_group)
        .match_requests(|r| {
            r.application_name() == Some("AppECS-prod-eu-checkout")
                && r.deployment_group_name() == Some("DgpECS-prod-eu-checkout")
        })
        .then_http_response(|| recorded("codedeploy.get-deployment-group.json"));
    let list = mock!(Client::list_deployment_targets)
        .then_output(|| ListDeploymentTargetsOutput::builder().target_ids("prod-eu:checkout").build());
    let target = mock!(Client::get_deployment_target)
        .then_http_response(|| recorded("codedeploy.get-deployment-target.allow-traffic.json"));
    let deployment = mock!(Client::get_deployment)
        .match_requests(|r| r.deployment_id() == Some("d-7QHX0M2PB"))
        .then_http_response(|| recorded("codedeploy.get-deployment.succeeded.json"));
    let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&group, &list, &target, &deployment]);
    let mut r = Reconciler::new(client, 100.0);
    let d = InFlight {
        application: Some("AppECS-prod-eu-checkout".into()),
        deployment_group: Some("DgpECS-prod-eu-checkout".into()),
        ..in_flight("d-7QHX0M2PB", Strategy::CodedeployBlueGreen)
    };
    let seen = r.observe_codedeploy(&d).await.unwrap();
    let identity = Some(("prod-eu".to_owned(), "checkout".to_owned()));
    assert_eq!(
        seen,
        vec![
            Observation::TrafficWeight {
                deployment_id: "d-7QHX0M2PB".into(),
                percent: 100.0,
                at: ms("2026-03-14T09:32:29Z")
            },
            Observation::CodeDeploy(CodeDeployFact {
                deployment_id: "d-7QHX0M2PB".into(),
                application: None,
                deployment_group: None,
                target: identity.clone(),
                rollback_of: None,
                change: CodeDeployChange::TargetCutOver,
                at: ms("2026-03-14T09:32:29Z"),
            }),
            Observation::CodeDeploy(CodeDeployFact {
                deployment_id: "d-7QHX0M2PB".into(),
                application: Some("AppECS-prod-eu-checkout".into()),
                deployment_group: Some("DgpECS-prod-eu-checkout".into()),
                target: identity,
                rollback_of: None,
                change: CodeDeployChange::Succeeded,
                at: ms("2026-03-14T09:38:00Z"),
            }),
        ],
        "in lifecycle order, at the AllowTraffic endTime and the completeTime"
    );
    // Cut over: only GetDeployment from now on; the group is cached.
    let d = InFlight { cut_over: true, ..d };
    r.observe_codedeploy(&d).await.unwrap();
    assert_eq!((group.num_calls(), list.num_calls(), target.num_calls(), deployment.num_calls()), (1, 1, 1, 2));
}

#[tokio::test]
async fn a_failed_rollback_deployment_reads_as_failed_with_its_reason_and_what_it_undoes() {
    let deployment =
        mock!(Client::get_deployment).then_http_response(|| recorded("codedeploy.get-deployment.failed-rollback.json"));
    let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&deployment]);
    let mut r = Reconciler::new(client, 100.0);
    let d = InFlight { cut_over: true, ..in_flight("d-RBCK7TT0P", Strategy::CodedeployBlueGreen) };
    let seen = r.observe_codedeploy(&d).await.unwrap();
    let [Observation::CodeDeploy(CodeDeployFact { rollback_of, change, at, .. })] = seen.as_slice() else {
        panic!("{seen:?}")
    };
    assert_eq!(rollback_of.as_deref(), Some("d-MAIN4XQ2Z"));
    assert_eq!(
        change,
        &CodeDeployChange::Failed {
            reason: Some("The deployment failed because a specified percentage of tasks failed health checks.".into())
        }
    );
    assert_eq!(*at, ms("2026-03-14T09:41:00Z"));
}

#[tokio::test]
async fn ecs_native_stage_weight_and_status_come_from_describe_service_deployments() {
    use aws_sdk_ecs::Client as Ecs;
    let arn = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod-eu/gateway/EZe5RNVLH6PPzHXINuP28";
    let rules: Vec<_> = ["canary", "baking", "rolled-back"]
        .into_iter()
        .map(|state| {
            mock!(Ecs::describe_service_deployments)
                .match_requests(move |r| r.service_deployment_arns() == [arn.to_owned()])
                .then_http_response(move || recorded(&format!("ecs.describe-service-deployments.{state}.json")))
        })
        .collect();
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rules[0], &rules[1], &rules[2]]);
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
    let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.extend(r.observe_native(&[arn.to_owned()]).await.unwrap());
    }
    let native = |past: bool, weight: f64, status: NativeStatus, at: &str| Observation::ServiceDeployment {
        deployment_arn: arn.into(),
        past_production_shift: past,
        production_weight: Some(weight),
        status,
        at: ms(at),
    };
    let reason = "Service deployment rolled back because the alarm gateway-5xx was in ALARM state.";
    assert_eq!(
        seen,
        vec![
            native(false, 10.0, NativeStatus::InProgress, "2026-03-14T09:34:00Z"),
            native(true, 100.0, NativeStatus::InProgress, "2026-03-14T09:36:02Z"),
            native(false, 0.0, NativeStatus::Failed { reason: reason.into() }, "2026-03-14T09:41:10Z"),
        ]
    );
}

#[tokio::test]
async fn describe_services_finishes_only_the_rolling_deployments_cutover_follows_whose_rollout_ended() {
    use aws_sdk_ecs::Client as Ecs;
    let describe = mock!(Ecs::describe_services)
        .match_requests(|r| r.cluster() == Some("prod-eu") && r.services().len() == 2)
        .then_http_response(|| recorded("ecs.describe-services.rollout.json"));
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
    let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
    let rolling = |id: &str, service: &str| InFlight {
        cluster: Some("prod-eu".into()),
        service: Some(service.into()),
        ..in_flight(id, Strategy::EcsRolling)
    };
    let wanted = [
        rolling("ecs-svc/5211643699352071000", "storefront"),
        rolling("ecs-svc/7700000000000000001", "search"),
        rolling("ecs-svc/7700000000000000002", "search"),
    ];
    let seen = r.rollouts(&wanted).await.unwrap();
    assert_eq!(
        seen,
        vec![
            Observation::EcsRollout {
                deployment_id: "ecs-svc/5211643699352071000".into(),
                change: EcsDeploymentChange::Completed,
                at: ms("2026-03-14T09:45:44.400Z"),
            },
            Observation::EcsRollout {
                deployment_id: "ecs-svc/7700000000000000001".into(),
                change: EcsDeploymentChange::Failed {
                    reason: Some("ECS deployment circuit breaker: tasks failed to start.".into())
                },
                at: ms("2026-03-14T09:34:50.500Z"),
            },
        ],
        "the one still IN_PROGRESS is left to its events"
    );
    assert_eq!(describe.num_calls(), 1, "two services of one cluster: one call");
}

#[tokio::test]
async fn a_round_reads_ecs_rolling_deployments_once_at_start_up_and_never_again() {
    let describe = mock!(aws_sdk_ecs::Client::describe_services)
        .then_http_response(|| recorded("ecs.describe-services.rollout.json"));
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
    let rolling = InFlight {
        cluster: Some("prod-eu".into()),
        service: Some("storefront".into()),
        ..in_flight("ecs-svc/5211643699352071000", Strategy::EcsRolling)
    };
    let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs).with_start_up(vec![rolling]);
    // What the intake publishes after each batch has no rolling deployment in it.
    let wanted = Wanted::default();
    let first = r.round(&wanted, &mut Vec::new()).await;
    assert!(matches!(first.as_slice(), [Observation::EcsRollout { change: EcsDeploymentChange::Completed, .. }]));
    assert_eq!((r.calls, describe.num_calls()), (1, 1));
    assert!(r.round(&wanted, &mut Vec::new()).await.is_empty());
    assert_eq!(r.calls, 1, "after start-up: no calls at all for an ECS rolling deployment");
}

#[tokio::test]
async fn the_rollback_window_is_after_allow_traffic_plus_the_termination_wait_asked_until_known() {
    let list = mock!(Client::list_deployment_targets)
        .then_output(|| ListDeploymentTargetsOutput::builder().target_ids("prod-eu:checkout").build());
    let target = mock!(Client::get_deployment_target)
        .then_http_response(|| recorded("codedeploy.get-deployment-target.waiting.json"));
    let deployment =
        mock!(Client::get_deployment).then_http_response(|| recorded("codedeploy.get-deployment.waiting.json"));
    let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&list, &target, &deployment]);
    let mut r = Reconciler::new(client, 100.0);
    // Cut over already; the window is not known yet.
    let d = InFlight {
        cut_over: true,
        cluster: Some("prod-eu".into()),
        ..in_flight("d-7QHX0M2PB", Strategy::CodedeployBlueGreen)
    };
    let seen = r.observe_codedeploy(&d).await.unwrap();
    let window = seen.iter().find_map(|o| match o {
        Observation::RollbackWindow { until, .. } => Some(*until),
        _ => None,
    });
    // AfterAllowTraffic ended 09:32:49; the group keeps the old task set 60 minutes.
    assert_eq!(window, Some(ms("2026-03-14T10:32:49Z")), "{seen:?}");
    // Once known, only GetDeployment is asked.
    let d = InFlight { rollback_window: true, ..d };
    let seen = r.observe_codedeploy(&d).await.unwrap();
    assert!(seen.iter().all(|o| !matches!(o, Observation::RollbackWindow { .. })));
    assert_eq!((target.num_calls(), deployment.num_calls()), (1, 2));
}

#[tokio::test]
async fn an_invalidation_is_found_by_caller_reference_then_followed_by_id_until_completed() {
    use aws_sdk_cloudfront::Client as CloudFront;
    use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
    use aws_sdk_cloudfront::operation::list_invalidations::ListInvalidationsOutput;
    use aws_sdk_cloudfront::types::{Invalidation, InvalidationBatch, InvalidationList, InvalidationSummary, Paths};
    let t = |s: &str| aws_sdk_cloudfront::primitives::DateTime::from_millis(ms(s).millis());
    let summary = move |id: &str, at: &str| {
        InvalidationSummary::builder().id(id).create_time(t(at)).status("InProgress").build().unwrap()
    };
    let list = mock!(CloudFront::list_invalidations).then_output(move || {
        ListInvalidationsOutput::builder()
            .invalidation_list(
                InvalidationList::builder()
                    .marker("")
                    .max_items(20)
                    .is_truncated(false)
                    .quantity(3)
                    .items(summary("I3OTHERDEPLOY", "2026-03-14T09:31:50Z"))
                    .items(summary("I2OURS0000001", "2026-03-14T09:31:43Z"))
                    .items(summary("I1LASTWEEK001", "2026-03-07T10:00:00Z"))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let invalidation = move |id: &str, reference: &str, status: &str| {
        GetInvalidationOutput::builder()
            .invalidation(
                Invalidation::builder()
                    .id(id)
                    .status(status)
                    .create_time(t("2026-03-14T09:31:43Z"))
                    .invalidation_batch(
                        InvalidationBatch::builder()
                            .caller_reference(reference)
                            .paths(Paths::builder().quantity(1).items("/*").build().unwrap())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let other = mock!(CloudFront::get_invalidation)
        .match_requests(|r| r.id() == Some("I3OTHERDEPLOY"))
        .then_output(move || invalidation("I3OTHERDEPLOY", "cutover-E2-other", "InProgress"));
    let ours = mock!(CloudFront::get_invalidation)
        .match_requests(|r| r.id() == Some("I2OURS0000001"))
        .sequence()
        .output(move || invalidation("I2OURS0000001", "cutover-E2-ours", "InProgress"))
        .output(move || invalidation("I2OURS0000001", "cutover-E2-ours", "Completed"))
        .build();
    let cf = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&list, &other, &ours]);
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
    let mut r = Reconciler::new(codedeploy, 100.0).with_cloudfront(cf);
    let wanted = InvalidationWanted {
        deployment_id: "ecs-svc/5211643699352071000".into(),
        distribution_id: "E2QWRUHAPOMQZL".into(),
        caller_reference: "cutover-E2-ours".into(),
        decided_at: ms("2026-03-14T09:31:41.900Z"),
    };
    assert_eq!(r.invalidation(&wanted).await.unwrap(), None, "found, still in progress");
    let Some(Observation::InvalidationDone { invalidation_id, created_at, .. }) =
        r.invalidation(&wanted).await.unwrap()
    else {
        panic!("completed")
    };
    assert_eq!((invalidation_id.as_str(), created_at), ("I2OURS0000001", ms("2026-03-14T09:31:43Z")));
    // Listed once; the one from last week was never fetched; then followed by id.
    assert_eq!((list.num_calls(), other.num_calls(), ours.num_calls()), (1, 1, 2));
}

#[tokio::test]
async fn oci_labels_come_from_the_first_container_that_carries_them() {
    let describe = mock!(aws_sdk_ecs::Client::describe_task_definition)
        .match_requests(|r| {
            r.task_definition() == Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:42")
        })
        .then_http_response(|| recorded("ecs.describe-task-definition.oci-labels.json"));
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
    let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
    let td = "arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:42";
    let wanted = Wanted { labels: vec![td.to_owned()], ..Wanted::default() };
    let seen = r.round(&wanted, &mut Vec::new()).await;
    assert_eq!(
        seen,
        vec![Observation::TaskDefinitionLabels {
            task_definition: td.into(),
            labels: ImageLabels {
                revision: Some("9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b".into()),
                source: Some("https://github.com/example/storefront".into()),
                version: Some("2.4.0".into()),
                created: Some("2026-03-14T09:12:40Z".into()),
            },
        }]
    );
    // Asked once per task definition.
    assert!(r.round(&wanted, &mut Vec::new()).await.is_empty());
    assert_eq!(describe.num_calls(), 1);
}

#[tokio::test]
async fn service_tags_are_read_with_describe_services_once_per_service() {
    let describe = mock!(aws_sdk_ecs::Client::describe_services)
        .match_requests(|r| r.include() == [aws_sdk_ecs::types::ServiceField::Tags] && r.services().len() == 2)
        .then_http_response(|| recorded("ecs.describe-services.tags.json"));
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
    let mut r = Reconciler::new(codedeploy, 100.0).with_ecs(ecs);
    let wanted = Wanted {
        tags: vec![("prod-eu".into(), "storefront".into()), ("prod-eu".into(), "gone".into())],
        ..Wanted::default()
    };
    let seen = r.round(&wanted, &mut Vec::new()).await;
    let tags = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    assert_eq!(
        seen,
        vec![
            Observation::ServiceTags {
                cluster: "prod-eu".into(),
                service: "storefront".into(),
                tags: tags(&[("environment", "prod"), ("team", "web")]),
                service_arn: Some("arn:aws:ecs:eu-west-1:123456789012:service/prod-eu/storefront".into()),
            },
            // Not found (deleted since): no tags, and not asked again.
            Observation::ServiceTags {
                cluster: "prod-eu".into(),
                service: "gone".into(),
                tags: tags(&[]),
                service_arn: None,
            },
        ]
    );
    assert!(r.round(&wanted, &mut Vec::new()).await.is_empty());
    assert_eq!(describe.num_calls(), 1);
    assert!(!wanted.urgent(&wanted.urgent_keys().collect()), "asked: not urgent again");
    assert!(wanted.urgent(&std::collections::HashSet::new()));
}

#[tokio::test]
async fn the_approver_is_who_updated_the_approval_action_of_that_execution() {
    use aws_sdk_codepipeline::Client as CodePipeline;
    let list = mock!(CodePipeline::list_action_executions)
        .match_requests(|r| {
            r.pipeline_name() == Some("storefront-release")
                && r.filter().and_then(|f| f.pipeline_execution_id()) == Some("e17b5773-cc0d-4db2-9ad7-594c73888de8")
        })
        .then_http_response(|| recorded("codepipeline.list-action-executions.approval.json"));
    let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&list]);
    let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []);
    let mut r = Reconciler::new(codedeploy, 100.0).with_codepipeline(cp);
    let wanted = Wanted {
        approvals: vec![("storefront-release".into(), "e17b5773-cc0d-4db2-9ad7-594c73888de8".into())],
        ..Wanted::default()
    };
    let seen = r.round(&wanted, &mut Vec::new()).await;
    assert_eq!(
        seen,
        vec![Observation::Approval {
            execution_id: "e17b5773-cc0d-4db2-9ad7-594c73888de8".into(),
            approved_by: Some("arn:aws:iam::123456789012:user/mary.major".into()),
            comment: Some("Approved: ticket REL-4412 signed off".into()),
        }],
        "the approval action's updatedBy, not the pipeline role of the other actions"
    );
    assert_eq!(list.num_calls(), 1);
}

fn recorded_xml(name: &str) -> aws_sdk_cloudformation::config::http::HttpResponse {
    let path = format!("{}/fixtures/api/{name}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut r = aws_sdk_cloudformation::config::http::HttpResponse::new(
        200u16.try_into().unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    );
    r.headers_mut().insert("content-type", "text/xml");
    r
}

fn action(
    pipeline: &str,
    version: Option<u64>,
    execution: &str,
    stage: &str,
    action: &str,
    provider: &str,
) -> ActionWanted {
    ActionWanted {
        pipeline: pipeline.into(),
        pipeline_version: version,
        execution_id: execution.into(),
        stage: stage.into(),
        action: action.into(),
        provider: provider.into(),
    }
}

#[tokio::test]
async fn an_ecs_deploy_action_names_its_service_and_is_cached_by_pipeline_version() {
    use aws_sdk_codepipeline::Client as CodePipeline;
    let exec = "3f9c2b1e-7a45-4d2e-9b0c-1e2f3a4b5c6d";
    let list = mock!(CodePipeline::list_action_executions)
        .match_requests(move |r| {
            r.pipeline_name() == Some("checkout-release")
                && r.filter().and_then(|f| f.pipeline_execution_id()) == Some(exec)
        })
        .then_http_response(|| recorded("codepipeline.list-action-executions.ecs-deploy.json"));
    let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&list]);
    let mut r = Reconciler::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []), 100.0).with_codepipeline(cp);
    let wanted = Wanted {
        pipeline_actions: vec![action("checkout-release", Some(3), exec, "Production", "Deploy", "ECS")],
        approvals: vec![("checkout-release".into(), exec.into())],
        ..Wanted::default()
    };
    let seen = r.round(&wanted, &mut Vec::new()).await;
    assert!(
        seen.contains(&Observation::PipelineAction {
            execution_id: exec.into(),
            stage: "Production".into(),
            action: "Deploy".into(),
            targets: vec![ActionTarget::EcsService { cluster: Some("prod".into()), service: "web".into() }],
        }),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Observation::Approval {
            execution_id: exec.into(),
            approved_by: Some("arn:aws:iam::123456789012:user/alice".into()),
            comment: Some("Canary metrics look good".into()),
        }),
        "the approver and their comment: {seen:?}"
    );
    // The next execution of the same pipeline version: answered from the cache.
    let next = Wanted {
        pipeline_actions: vec![action("checkout-release", Some(3), "another-execution", "Production", "Deploy", "ECS")],
        ..Wanted::default()
    };
    let seen = r.round(&next, &mut Vec::new()).await;
    assert!(
        matches!(&seen[..], [Observation::PipelineAction { execution_id, targets, .. }] if execution_id == "another-execution" && targets.len() == 1),
        "{seen:?}"
    );
    assert_eq!(list.num_calls(), 2, "one for the targets and one for the approver; the cached answer made no call");
}

#[tokio::test]
async fn a_cloudformation_action_lists_its_stacks_services_and_a_running_codedeploy_action_names_its_deployment() {
    use aws_sdk_cloudformation::Client as CloudFormation;
    use aws_sdk_codepipeline::Client as CodePipeline;
    let exec = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    let list = mock!(CodePipeline::list_action_executions)
        .then_http_response(|| recorded("codepipeline.list-action-executions.cloudformation-and-codedeploy.json"));
    let stack = mock!(CloudFormation::list_stack_resources)
        .match_requests(|r| r.stack_name() == Some("checkout-staging"))
        .then_http_response(|| recorded_xml("cloudformation.list-stack-resources.checkout-staging.xml"));
    let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&list]);
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&stack]);
    let mut r = Reconciler::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []), 100.0)
        .with_codepipeline(cp)
        .with_cloudformation(cfn);
    let wanted = Wanted {
        pipeline_actions: vec![
            action("checkout", Some(7), exec, "Staging", "UpdateStack", "CloudFormation"),
            action("checkout", Some(7), exec, "Prod", "BlueGreen", "CodeDeployToECS"),
        ],
        ..Wanted::default()
    };
    let seen = r.round(&wanted, &mut Vec::new()).await;
    let targets = |stage: &str| {
        seen.iter()
            .find_map(|o| match o {
                Observation::PipelineAction { stage: s, targets, .. } if s == stage => Some(targets.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no answer for {stage}: {seen:?}"))
    };
    assert_eq!(
        targets("Staging"),
        vec![
            ActionTarget::EcsService { cluster: Some("staging".into()), service: "web".into() },
            ActionTarget::EcsService { cluster: None, service: "worker".into() },
        ],
        "the stack's two services (the resolved stack name), not its cluster or task definition"
    );
    assert_eq!(
        targets("Prod"),
        vec![
            ActionTarget::DeploymentGroup {
                application: "AppECS-prod-checkout".into(),
                deployment_group: "DgpECS-prod-checkout".into()
            },
            ActionTarget::CodeDeployDeployment { deployment_id: "d-7QWERTY12".into() },
        ]
    );
    // The stack name holds a variable: a later execution asks again (the stack is cached).
    let again = Wanted {
        pipeline_actions: vec![action("checkout", Some(7), "later", "Staging", "UpdateStack", "CloudFormation")],
        ..Wanted::default()
    };
    let seen = r.round(&again, &mut Vec::new()).await;
    assert_eq!(seen.len(), 1);
    assert_eq!((list.num_calls(), stack.num_calls()), (3, 1));
}

#[tokio::test]
async fn an_executions_source_revisions_and_a_denied_pipeline_warned_of_once() {
    use aws_sdk_codepipeline::Client as CodePipeline;
    let get = mock!(CodePipeline::get_pipeline_execution)
        .match_requests(|r| r.pipeline_execution_id() == Some("3137f7cb-7cf7-039j-s83l-d7eu3EXAMPLE"))
        .then_http_response(|| recorded("codepipeline.get-pipeline-execution.github-revision-url.json"));
    let denied =
        mock!(CodePipeline::list_action_executions).then_http_response(|| aws_error(400, "AccessDeniedException"));
    let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&get, &denied]);
    let mut r = Reconciler::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []), 100.0).with_codepipeline(cp);
    let wanted = Wanted {
        executions: vec![("MyFirstPipeline".into(), "3137f7cb-7cf7-039j-s83l-d7eu3EXAMPLE".into())],
        pipeline_actions: vec![action("locked", Some(1), "e1", "Prod", "Deploy", "ECS")],
        ..Wanted::default()
    };
    let seen = r.round(&wanted, &mut Vec::new()).await;
    assert_eq!(
        seen,
        vec![Observation::PipelineExecution {
            execution_id: "3137f7cb-7cf7-039j-s83l-d7eu3EXAMPLE".into(),
            revisions: vec![SourceRevision {
                artifact: Some("MyApp".into()),
                revision_id: Some("7636d59f3c461cEXAMPLE8417dbc6371".into()),
                summary: Some("Updating the application for feature 12-4820".into()),
                url: Some(
                    "https://api.github.com/repos/anycompany/MyApp/git/commits/7636d59f3c461cEXAMPLE8417dbc6371".into()
                ),
            }],
            trigger_type: None,
            trigger_detail: None,
        }]
    );
    // Read once; the denied action is not asked again in the same round's wants.
    assert!(r.round(&wanted, &mut Vec::new()).await.is_empty());
    assert_eq!((get.num_calls(), denied.num_calls()), (1, 1));
    // What is wanted changes (another action of the pipeline): asked again, but the pipeline
    // was warned of already.
    let more =
        Wanted { pipeline_actions: vec![action("locked", Some(1), "e2", "Prod", "Deploy", "ECS")], ..wanted.clone() };
    assert!(r.round(&more, &mut Vec::new()).await.is_empty());
    assert_eq!(denied.num_calls(), 2);
    assert_eq!(r.warned.iter().filter(|w| w.contains("locked")).count(), 1, "{:?}", r.warned);
}

#[tokio::test]
async fn a_throttled_codepipeline_stops_the_round_and_the_next_asks_again_slower() {
    use aws_sdk_codepipeline::Client as CodePipeline;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let throttling = Arc::new(AtomicBool::new(true));
    let (on, off) = (throttling.clone(), throttling.clone());
    let throttled = mock!(CodePipeline::list_action_executions)
        .match_requests(move |_| on.load(Ordering::SeqCst))
        .then_http_response(|| aws_error(400, "ThrottlingException"));
    let answered = mock!(CodePipeline::list_action_executions)
        .match_requests(move |_| !off.load(Ordering::SeqCst))
        .then_http_response(|| recorded("codepipeline.list-action-executions.ecs-deploy.json"));
    let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&throttled, &answered]);
    let mut r = Reconciler::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []), 100.0).with_codepipeline(cp);
    let exec = "3f9c2b1e-7a45-4d2e-9b0c-1e2f3a4b5c6d";
    let wanted = Wanted {
        pipeline_actions: vec![
            action("checkout-release", Some(3), exec, "Production", "Deploy", "ECS"),
            action("checkout-release", Some(3), exec, "Other", "Deploy", "ECS"),
        ],
        ..Wanted::default()
    };
    assert!(r.round(&wanted, &mut Vec::new()).await.is_empty(), "throttled: nothing learned");
    // (The SDK retries a throttled call itself before the error reaches the reconciler.)
    let calls = throttled.num_calls();
    assert!(calls >= 1 && answered.num_calls() == 0);
    assert_eq!(r.calls, 1, "the round stopped at the throttle: the second action was not asked");
    assert_eq!(r.slow, 2, "the next round goes slower");
    throttling.store(false, Ordering::SeqCst);
    let seen = r.round(&wanted, &mut Vec::new()).await;
    assert!(matches!(&seen[..], [Observation::PipelineAction { stage, .. }] if stage == "Production"), "{seen:?}");
    assert_eq!(r.slow, 1, "a round without throttling: back to the pace");
}

#[tokio::test]
async fn a_pipelines_structure_names_its_stages_in_order_and_what_each_deploy_action_deploys() {
    use aws_sdk_codepipeline::Client as CodePipeline;
    let get = mock!(CodePipeline::get_pipeline)
        .match_requests(|r| r.name() == Some("checkout-release") && r.version() == Some(3))
        .then_http_response(|| recorded("codepipeline.get-pipeline.ecs-with-approval.json"));
    let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&get]);
    let mut r = Reconciler::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, []), 100.0).with_codepipeline(cp);
    let wanted = Wanted { structures: vec![("checkout-release".into(), Some(3))], ..Wanted::default() };
    let seen = r.round(&wanted, &mut Vec::new()).await;
    let [Observation::PipelineStructure { pipeline, version, stages }] = &seen[..] else { panic!("{seen:?}") };
    assert_eq!((pipeline.as_str(), *version), ("checkout-release", Some(3)));
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Source", "Build", "Approve", "Production"]);
    assert_eq!(stages[2].actions[0].category, "Approval");
    assert_eq!(
        stages[3].actions[0].targets,
        vec![ActionTarget::EcsService { cluster: Some("prod".into()), service: "web".into() }]
    );
    assert!(stages[0].actions[0].targets.is_empty(), "only deploy actions name targets");
    assert!(r.round(&wanted, &mut Vec::new()).await.is_empty(), "read once");
    assert_eq!(get.num_calls(), 1);
}
