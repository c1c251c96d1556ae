//! Pipelines: a deployment joins the execution whose deploy action deploys its target
//! (DESIGN.md, "Pipelines: every deployment knows its execution"): before its first event when
//! the reconciler's answer is in time, by an update of its message otherwise; and what the
//! execution carries (source revisions, trigger, approver) reaches the message and every event.

mod harness;

use cutover_correlator::routing::Routing;
use cutover_correlator::{Action, ActionTarget, Input, Observation};
use cutover_events::Timestamp;
use cutover_events::emitted::{LifecycleDetail, SourceRevision};
use cutover_testkit::rollout::Ids;
use cutover_testkit::shapes::{CodeDeployShape, EcsDeploymentShape, Fleet, PipelineShape};
use harness::{Harness, ts};
use serde_json::json;

const T0: &str = "2026-03-14T10:00:00Z";
const PIPELINE: &str = "checkout-release";
const EXEC: &str = "3f9c2b1e-7a45-4d2e-9b0c-1e2f3a4b5c6d";

fn emits(actions: &[Action]) -> Vec<&LifecycleDetail> {
    actions
        .iter()
        .filter_map(|a| if let Action::Emit { detail, .. } = a { Some(detail.as_ref()) } else { None })
        .collect()
}

fn slack_texts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SlackPost(m) | Action::SlackUpdate(m) => {
                Some(serde_json::Value::from(m.blocks.clone()).to_string())
            }
            _ => None,
        })
        .collect()
}

struct World {
    fleet: Fleet,
    ids: Ids,
    h: Harness,
}

impl World {
    fn new() -> Self {
        Self { fleet: Fleet::default(), ids: Ids::default(), h: Harness::new(Routing::default()) }
    }

    fn pipeline_event(&mut self, at: Timestamp, p: &PipelineShape<'_>) -> Vec<Action> {
        let body = self.fleet.pipeline(&self.ids.event_id(), at, p).to_string();
        self.h.feed(&body).to_vec()
    }

    /// The execution starts (a webhook) and its deploy action of `provider` starts 10 s later.
    fn deploy_action_starts(&mut self, t: Timestamp, stage: &'static str, provider: &'static str) {
        let trigger = json!({"trigger-type": "Webhook", "trigger-detail": "arn:aws:codestar-connections:eu-west-1:123456789012:connection/1"});
        self.pipeline_event(
            t,
            &PipelineShape {
                pipeline: PIPELINE,
                execution_id: EXEC,
                state: "STARTED",
                trigger: Some(trigger),
                ..Default::default()
            },
        );
        self.pipeline_event(
            t.plus_millis(10_000),
            &PipelineShape {
                pipeline: PIPELINE,
                execution_id: EXEC,
                state: "STARTED",
                stage: Some(stage),
                action: Some("Deploy"),
                action_type: Some(("AWS", provider, "Deploy")),
                ..Default::default()
            },
        );
    }

    fn ecs(&mut self, at: Timestamp, service: &str, id: &str, event_name: &str) -> Vec<Action> {
        let body = self
            .fleet
            .ecs_deployment(
                &self.ids.event_id(),
                at,
                &EcsDeploymentShape { cluster: "prod", service, event_name, deployment_id: id, reason: "rollout" },
            )
            .to_string();
        self.h.feed(&body).to_vec()
    }

    fn codedeploy(&mut self, at: Timestamp, deployment_id: &str, state: &str) -> Vec<Action> {
        let shape = CodeDeployShape {
            app: "AppECS-prod-checkout",
            group: "DgpECS-prod-checkout",
            deployment_id,
            state,
            instance: None,
        };
        let body = self.fleet.codedeploy(&self.ids.event_id(), at, &shape).to_string();
        self.h.feed(&body).to_vec()
    }

    fn observe(&mut self, o: Observation) -> Vec<Action> {
        let now = self.h.now;
        self.h.correlator.handle(now, Input::Observed(o))
    }

    fn targets(&mut self, stage: &str, targets: Vec<ActionTarget>) -> Vec<Action> {
        self.observe(Observation::PipelineAction {
            execution_id: EXEC.into(),
            stage: stage.into(),
            action: "Deploy".into(),
            targets,
        })
    }
}

fn web(cluster: Option<&str>) -> ActionTarget {
    ActionTarget::EcsService { cluster: cluster.map(str::to_owned), service: "web".into() }
}

#[test]
fn an_ecs_deploy_action_asks_once_and_its_deployment_carries_the_execution_from_its_first_event() {
    let mut w = World::new();
    let t = ts(T0);
    w.deploy_action_starts(t, "Production", "ECS");
    let wanted = w.h.correlator.wanted().pipeline_actions;
    assert_eq!(wanted.len(), 1, "one question for the one deploy action: {wanted:?}");
    assert_eq!(
        (
            wanted[0].pipeline.as_str(),
            wanted[0].stage.as_str(),
            wanted[0].provider.as_str(),
            wanted[0].pipeline_version
        ),
        (PIPELINE, "Production", "ECS", Some(3))
    );
    assert_eq!(w.h.correlator.wanted().executions, vec![(PIPELINE.to_owned(), EXEC.to_owned())]);
    assert!(w.targets("Production", vec![web(Some("arn:aws:ecs:eu-west-1:123456789012:cluster/prod"))]).is_empty());
    assert!(w.h.correlator.wanted().pipeline_actions.is_empty(), "answered: not asked again");

    let started = w.ecs(t.plus_millis(15_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    let e = emits(&started);
    assert_eq!(
        e[0].pipeline.as_ref().map(|p| (p.execution_id.as_str(), p.stage.as_deref())),
        Some((EXEC, Some("Production")))
    );
    assert_eq!(e[0].pipeline.as_ref().and_then(|p| p.trigger_type.as_deref()), Some("Webhook"));
    assert!(slack_texts(&started)[0].contains("checkout-release `3f9c2b1e` · stage Production · Webhook"));
    let done = w.ecs(t.plus_millis(300_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_COMPLETED");
    let e = emits(&done);
    assert!(
        e.iter().any(|d| d.pipeline.is_some())
            && e.iter().all(|d| d.pipeline.as_ref().is_some_and(|p| p.execution_id == EXEC))
    );
}

#[test]
fn an_answer_after_the_first_event_updates_the_message_and_every_later_event_carries_it() {
    let mut w = World::new();
    let t = ts(T0);
    w.deploy_action_starts(t, "Production", "ECS");
    // The deployment's event raced the action's: it started 90 s before (inside 2 minutes).
    let started = w.ecs(t.plus_millis(10_000 - 90_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert!(emits(&started)[0].pipeline.is_none(), "not known yet");
    let out = w.targets("Production", vec![web(None)]);
    let [Action::SlackUpdate(m)] = out.as_slice() else { panic!("one update of the message: {out:?}") };
    assert!(serde_json::Value::from(m.blocks.clone()).to_string().contains("*Pipeline*\\ncheckout-release"));
    let done = w.ecs(t.plus_millis(300_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_COMPLETED");
    assert!(emits(&done).iter().all(|d| d.pipeline.as_ref().is_some_and(|p| p.execution_id == EXEC)));
}

#[test]
fn a_deployment_outside_the_window_or_of_another_target_joins_nothing() {
    let mut w = World::new();
    let t = ts(T0);
    // Started 3 minutes before the action: an earlier rollout, not this execution's.
    w.ecs(t.plus_millis(10_000 - 180_000), "web", "ecs-svc/0", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    w.deploy_action_starts(t, "Production", "ECS");
    assert!(w.targets("Production", vec![web(Some("prod"))]).is_empty(), "nothing to update");
    // Another service, and the same service in another cluster.
    let other = w.ecs(t.plus_millis(20_000), "api", "ecs-svc/2", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert!(emits(&other)[0].pipeline.is_none());
    w.targets("Staging", vec![]);
    let mut w2 = World::new();
    w2.deploy_action_starts(t, "Production", "ECS");
    w2.targets("Production", vec![ActionTarget::EcsService { cluster: Some("staging".into()), service: "web".into() }]);
    let started = w2.ecs(t.plus_millis(20_000), "web", "ecs-svc/3", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert!(emits(&started)[0].pipeline.is_none(), "a service of that name in another cluster");
    for id in ["ecs-svc/0", "ecs-svc/2"] {
        assert_eq!(w.h.correlator.deployment(id).and_then(|d| d.pipeline_execution.clone()), None, "{id}");
    }
}

#[test]
fn a_finished_action_joins_no_deployment_that_started_after_it() {
    let mut w = World::new();
    let t = ts(T0);
    w.deploy_action_starts(t, "Production", "CloudFormation");
    w.targets(
        "Production",
        vec![web(Some("prod")), ActionTarget::EcsService { cluster: Some("prod".into()), service: "worker".into() }],
    );
    w.pipeline_event(
        t.plus_millis(60_000),
        &PipelineShape {
            pipeline: PIPELINE,
            execution_id: EXEC,
            state: "SUCCEEDED",
            stage: Some("Production"),
            action: Some("Deploy"),
            action_type: Some(("AWS", "CloudFormation", "Deploy")),
            ..Default::default()
        },
    );
    let worker = w.ecs(t.plus_millis(30_000), "worker", "ecs-svc/4", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert_eq!(
        emits(&worker)[0].pipeline.as_ref().map(|p| p.execution_id.as_str()),
        Some(EXEC),
        "the stack's second service"
    );
    let later = w.ecs(t.plus_millis(600_000), "web", "ecs-svc/5", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert!(emits(&later)[0].pipeline.is_none(), "a rollout after the stack update ended is not the pipeline's");
}

#[test]
fn the_executions_revisions_reach_the_message_escaped_and_every_event() {
    let mut w = World::new();
    let t = ts(T0);
    w.deploy_action_starts(t, "Production", "ECS");
    w.targets("Production", vec![web(Some("prod"))]);
    w.ecs(t.plus_millis(15_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    let revision = SourceRevision {
        artifact: Some("SourceArtifact".into()),
        revision_id: Some("9f2c1e7a5b3d4c2e1f0a9b8c7d6e5f4a3b2c1d0e".into()),
        summary: Some("Fix the <!channel> checkout & pay flow\n\nLonger body".into()),
        url: Some("https://github.com/example/checkout/commit/9f2c1e7a5b3d4c2e1f0a9b8c7d6e5f4a3b2c1d0e".into()),
    };
    let out = w.observe(Observation::PipelineExecution {
        execution_id: EXEC.into(),
        revisions: vec![revision.clone()],
        trigger_type: Some("StartPipelineExecution".into()),
        trigger_detail: Some("arn:aws:sts::123456789012:assumed-role/Deployer/alice".into()),
    });
    let texts = slack_texts(&out);
    assert_eq!(texts.len(), 1, "the message is updated once: {out:?}");
    assert!(
        texts[0].contains("*Change*\\n<https://github.com/example/checkout/commit/9f2c1e7a5b3d4c2e1f0a9b8c7d6e5f4a3b2c1d0e|Fix the &lt;!channel&gt; checkout &amp; pay flow>"),
        "the summary's first line, escaped, linked: {}",
        texts[0]
    );
    assert!(texts[0].contains("*Commit*\\n`9f2c1e7a`"), "the revision is the commit");
    assert!(texts[0].contains("· Webhook"), "the event's trigger is kept over the API's");
    assert!(w.h.correlator.wanted().executions.is_empty(), "read once");
    let done = w.ecs(t.plus_millis(300_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_COMPLETED");
    let e = emits(&done);
    assert_eq!(e[0].pipeline.as_ref().map(|p| p.source_revisions.clone()), Some(vec![revision]));
}

#[test]
fn a_pipeline_with_no_deploy_action_is_never_asked_about() {
    let mut w = World::new();
    let t = ts(T0);
    w.pipeline_event(
        t,
        &PipelineShape { pipeline: PIPELINE, execution_id: EXEC, state: "STARTED", ..Default::default() },
    );
    w.pipeline_event(
        t.plus_millis(5_000),
        &PipelineShape {
            pipeline: PIPELINE,
            execution_id: EXEC,
            state: "STARTED",
            stage: Some("Build"),
            action: Some("Build"),
            action_type: Some(("AWS", "CodeBuild", "Build")),
            ..Default::default()
        },
    );
    // An unknown deploy provider is not one Cutover can join either.
    w.pipeline_event(
        t.plus_millis(9_000),
        &PipelineShape {
            pipeline: PIPELINE,
            execution_id: EXEC,
            state: "STARTED",
            stage: Some("Deploy"),
            action: Some("Deploy"),
            action_type: Some(("AWS", "ElasticBeanstalk", "Deploy")),
            ..Default::default()
        },
    );
    let wanted = w.h.correlator.wanted();
    assert!(wanted.pipeline_actions.is_empty() && wanted.executions.is_empty(), "{wanted:?}");
    // A target answer for an action never started changes nothing.
    assert!(w.targets("Deploy", vec![web(None)]).is_empty());
    let started = w.ecs(t.plus_millis(20_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert!(emits(&started)[0].pipeline.is_none());
}

#[test]
fn an_action_asked_about_for_an_hour_is_given_up_on() {
    let mut w = World::new();
    let t = ts(T0);
    w.deploy_action_starts(t, "Production", "ECS");
    assert_eq!(w.h.correlator.wanted().pipeline_actions.len(), 1);
    w.ecs(t.plus_millis(3_700_000), "api", "ecs-svc/9", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert!(w.h.correlator.wanted().pipeline_actions.is_empty(), "an hour of AWS time later, not asked any more");
}

fn group() -> ActionTarget {
    ActionTarget::DeploymentGroup {
        application: "AppECS-prod-checkout".into(),
        deployment_group: "DgpECS-prod-checkout".into(),
    }
}

#[test]
fn a_codedeploy_blue_green_run_by_a_pipeline_carries_the_execution_on_its_cut_over() {
    // Before: only the finished action's external-execution-id joined it, after its events.
    for targets in [vec![group()], vec![ActionTarget::CodeDeployDeployment { deployment_id: "d-7QWERTY12".into() }]] {
        let mut w = World::new();
        let t = ts(T0);
        w.deploy_action_starts(t, "Prod", "CodeDeployToECS");
        w.targets("Prod", targets.clone());
        let started = w.codedeploy(t.plus_millis(12_000), "d-7QWERTY12", "START");
        let success = w.codedeploy(t.plus_millis(400_000), "d-7QWERTY12", "SUCCESS");
        let all: Vec<&LifecycleDetail> = emits(&started).into_iter().chain(emits(&success)).collect();
        let kinds: Vec<_> = all.iter().map(|d| (d.pipeline.as_ref().map(|p| p.execution_id.as_str()), d.at)).collect();
        assert!(all.len() >= 2, "{kinds:?}");
        assert!(
            all.iter().all(|d| d
                .pipeline
                .as_ref()
                .is_some_and(|p| p.execution_id == EXEC && p.stage.as_deref() == Some("Prod"))),
            "{targets:?}: {kinds:?}"
        );
    }
}

#[test]
fn an_action_naming_a_service_cutover_never_saw_changes_nothing_and_waits_for_it() {
    let mut w = World::new();
    let t = ts(T0);
    w.deploy_action_starts(t, "Production", "ECS");
    let ghost = ActionTarget::EcsService { cluster: Some("prod".into()), service: "ghost".into() };
    assert!(w.targets("Production", vec![ghost]).is_empty(), "no deployment of it: nothing to say");
    let other = w.ecs(t.plus_millis(15_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert!(emits(&other)[0].pipeline.is_none(), "web is not what the action deploys");
    // The service it names turns up while the action runs: joined then.
    let ghost = w.ecs(t.plus_millis(40_000), "ghost", "ecs-svc/2", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    assert_eq!(emits(&ghost)[0].pipeline.as_ref().map(|p| p.execution_id.as_str()), Some(EXEC));
}

#[test]
fn a_pipeline_observation_journaled_is_read_back_the_same() {
    // Observations are journal entries (a public contract): the shapes docs/config.md names.
    let o = Observation::PipelineAction {
        execution_id: EXEC.into(),
        stage: "Prod".into(),
        action: "Deploy".into(),
        targets: vec![web(Some("prod")), group(), ActionTarget::CodeDeployDeployment { deployment_id: "d-1".into() }],
    };
    let text = serde_json::to_string(&o).unwrap();
    assert_eq!(
        text,
        r#"{"pipeline_action":{"execution_id":"3f9c2b1e-7a45-4d2e-9b0c-1e2f3a4b5c6d","stage":"Prod","action":"Deploy","targets":[{"ecs_service":{"cluster":"prod","service":"web"}},{"deployment_group":{"application":"AppECS-prod-checkout","deployment_group":"DgpECS-prod-checkout"}},{"code_deploy_deployment":{"deployment_id":"d-1"}}]}}"#
    );
    assert_eq!(serde_json::from_str::<Observation>(&text).unwrap(), o);
    // An approval journaled before the comment was kept reads back without one.
    let old: Observation = serde_json::from_str(r#"{"approval":{"execution_id":"e1","approved_by":null}}"#).unwrap();
    assert_eq!(old, Observation::Approval { execution_id: "e1".into(), approved_by: None, comment: None });
}

/// The approval SNS notification (CP-2023 `approvals-json-format.md`) in its SNS envelope.
fn approval_notification(approval: serde_json::Value) -> String {
    let message = json!({
        "region": "eu-west-1",
        "consoleLink": "https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/checkout-release",
        "approval": approval,
    });
    json!({
        "Type": "Notification",
        "MessageId": "5b1c4f2e-8d3a-4b6c-9e7f-0a1b2c3d4e5f",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:cutover-approval-notifications",
        "Subject": "APPROVAL NEEDED: AWS CodePipeline checkout-release for action ReleaseManager",
        "Message": message.to_string(),
        "Timestamp": "2026-03-14T10:00:05.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"
    })
    .to_string()
}

#[test]
fn an_approval_notification_with_fields_missing_is_malformed_with_its_reason_and_a_whole_one_is_kept() {
    let whole = json!({
        "pipelineName": PIPELINE, "stageName": "Approve", "actionName": "ReleaseManager",
        "token": "1a2b3c4d-573f-4ea7-a67E-XAMPLETOKEN", "expires": "2026-03-21T10:00Z",
        "approvalReviewLink": "https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/checkout-release/Approve/ReleaseManager/approve/1a2b3c4d"
    });
    let mut w = World::new();
    assert!(w.h.feed(&approval_notification(whole)).is_empty(), "kept for its approval: nothing decided yet");
    assert_eq!(
        (w.h.correlator.stats().accepted, w.h.correlator.stats().deployments),
        (1, 0),
        "no deployment comes of it"
    );
    // Without the names it cannot be joined to anything: malformed, and the reason says why.
    let missing = approval_notification(json!({"stageName": "Approve", "token": "t"}));
    let e = cutover_events::parse_body(&missing).expect_err("malformed");
    assert!(e.to_string().contains("approval notification") && e.to_string().contains("pipelineName"), "{e}");
    // A name with a control character in it is no name: refused, and the reason says where.
    let hostile = approval_notification(
        json!({"pipelineName": "checkout\u{7}release", "stageName": "Approve", "actionName": "ReleaseManager"}),
    );
    let e = cutover_events::parse_body_at(&hostile, ts(T0)).expect_err("refused");
    assert!(e.to_string().contains("pipelineName") && e.to_string().contains("control character"), "{e}");
    // Without the optional parts (token, expiry, links) it is still read.
    let bare = approval_notification(
        json!({"pipelineName": PIPELINE, "stageName": "Approve", "actionName": "ReleaseManager"}),
    );
    assert!(cutover_events::parse_body(&bare).is_ok());
}

#[test]
fn a_deploy_action_finished_an_hour_ago_is_forgotten_at_the_sweep_and_its_execution_kept() {
    let mut w = World::new();
    let t = ts(T0);
    w.deploy_action_starts(t, "Production", "ECS");
    w.pipeline_event(
        t.plus_millis(60_000),
        &PipelineShape {
            pipeline: PIPELINE,
            execution_id: EXEC,
            state: "SUCCEEDED",
            stage: Some("Production"),
            action: Some("Deploy"),
            action_type: Some(("AWS", "ECS", "Deploy")),
            ..Default::default()
        },
    );
    let held = |w: &World| serde_json::to_value(w.h.correlator.state()).unwrap();
    assert!(held(&w)["pipeline_deploy_actions"].as_object().is_some_and(|a| a.len() == 1));
    // Two hours of AWS time later (the sweep runs hourly): gone, the execution still known.
    w.ecs(t.plus_millis(2 * 3_600_000), "api", "ecs-svc/9", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    w.ecs(t.plus_millis(3 * 3_600_000), "api", "ecs-svc/9", "SERVICE_DEPLOYMENT_COMPLETED");
    let state = held(&w);
    assert!(
        state.get("pipeline_deploy_actions").is_none_or(|a| a.as_object().is_some_and(|a| a.is_empty())),
        "{state}"
    );
    assert!(state["pipelines"].get(EXEC).is_some(), "the execution stays for the retention");
}

/// `/cutover deploy`: the pipeline the config maps to the environment and service, started for
/// the route's operators only, once while it runs; the execution that starts next is theirs, so
/// its deployment's message names them, is posted where they asked, and its failure mentions
/// them.
#[test]
fn a_deploy_from_slack_starts_the_mapped_pipeline_once_and_its_failure_mentions_the_deployer() {
    use cutover_correlator::action::Call;
    use cutover_correlator::correlator::controls::{Ask, Request, Verdict};
    use cutover_correlator::routing::{DeployTarget, Route, SlackId};

    let mut routing = Routing::default();
    routing.routes.push(Route {
        cluster: Some(cutover_correlator::routing::Glob::new("prod").unwrap()),
        environment: Some("production".into()),
        channel: Some("deploys-prod".into()),
        operators: vec![SlackId::new("U0OPS").unwrap()],
        ..Route::default()
    });
    routing.deploys.push(DeployTarget {
        environment: "production".into(),
        service: "web".into(),
        cluster: Some("prod".into()),
        pipeline: PIPELINE.into(),
    });
    let mut w = World { h: Harness::new(routing), ..World::new() };
    let t = ts(T0);
    let ask = |id: &str, user: &str, service: &str| Request {
        id: id.into(),
        user: user.into(),
        groups: Vec::new(),
        channel: "C0ASKED".into(),
        at: t.plus_millis(-5_000),
        ask: Ask::Deploy { environment: "production".into(), service: service.into() },
    };
    let controls = |actions: &[Action]| -> Vec<Call> {
        actions.iter().filter_map(|a| if let Action::Control(c) = a { Some(c.call.clone()) } else { None }).collect()
    };

    let (v, out) = w.h.correlator.act(&ask("t-0", "U0ALICE", "web"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("You may not deploy") && t.contains("<@U0OPS>")), "{v:?}");
    assert!(out.is_empty());
    let (v, out) = w.h.correlator.act(&ask("t-1", "U0OPS", "<!channel>"));
    assert!(
        matches!(&v, Verdict::Refused(t) if t.contains("`production web`") && t.contains("&lt;!channel&gt;")),
        "{v:?}"
    );
    assert!(out.is_empty());

    let (v, out) = w.h.correlator.act(&ask("1334.5678.ab", "U0OPS", "web"));
    assert!(matches!(&v, Verdict::Accepted(t) if t.contains("Starting pipeline checkout-release")), "{v:?}");
    assert_eq!(
        controls(&out),
        vec![Call::CodepipelineStartPipelineExecution {
            pipeline: PIPELINE.into(),
            client_request_token: "cutover-1334-5678-ab".into()
        }]
    );
    let taken = out.iter().find_map(|a| if let Action::EmitAction { detail, .. } = a { Some(detail) } else { None });
    let taken = taken.expect("an Action Taken event");
    assert_eq!(
        (taken.asked.as_str(), taken.operation.as_str(), taken.pipeline.as_deref(), taken.deployment_id.as_deref()),
        ("deploy", "codepipeline:StartPipelineExecution", Some(PIPELINE), None)
    );
    assert_eq!((taken.user.as_str(), taken.channel.as_str()), ("U0OPS", "C0ASKED"));
    let (v, out) = w.h.correlator.act(&ask("t-2", "U0OPS", "web"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("already asked for by <@U0OPS>")), "{v:?}");
    assert!(out.is_empty());

    // The execution the call started, then its ECS deploy action and the deployment it runs.
    let trigger = json!({"trigger-type": "StartPipelineExecution", "trigger-detail": "arn:aws:sts::123456789012:assumed-role/cutover/task"});
    w.pipeline_event(
        t,
        &PipelineShape {
            pipeline: PIPELINE,
            execution_id: EXEC,
            state: "STARTED",
            trigger: Some(trigger),
            ..Default::default()
        },
    );
    let (v, _) = w.h.correlator.act(&ask("t-3", "U0OPS", "web"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("already running execution `3f9c2b1e")), "{v:?}");
    w.pipeline_event(
        t.plus_millis(10_000),
        &PipelineShape {
            pipeline: PIPELINE,
            execution_id: EXEC,
            state: "STARTED",
            stage: Some("Production"),
            action: Some("Deploy"),
            action_type: Some(("AWS", "ECS", "Deploy")),
            ..Default::default()
        },
    );
    w.targets("Production", vec![web(Some("prod"))]);
    let started = w.ecs(t.plus_millis(15_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_IN_PROGRESS");
    let post = started.iter().find_map(|a| if let Action::SlackPost(m) = a { Some(m) } else { None });
    let post = post.expect("the deployment's message");
    assert_eq!(post.channel, "C0ASKED", "posted where the deploy was asked for");
    assert!(slack_texts(&started)[0].contains("*Started by*\\n<@U0OPS> from Slack"), "{:?}", slack_texts(&started));

    let failed = w.ecs(t.plus_millis(200_000), "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_FAILED");
    let replies: Vec<&str> = failed
        .iter()
        .filter_map(|a| if let Action::SlackReply(m) = a { Some(m.text.as_str()) } else { None })
        .collect();
    assert!(replies.iter().any(|r| r.contains("cc <@U0OPS>")), "{replies:?}");
}
