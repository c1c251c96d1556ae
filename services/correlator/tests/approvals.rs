//! A pipeline's manual approvals: the message of an approval waiting goes to the channel of
//! the environment the next deploy action leads to, says what each earlier environment runs
//! now, and warns when the execution waiting is not the newest; decided, it says how and by
//! whom and names the deployment that followed. The linear pipeline here is the one of
//! issue 14: two executions in flight, the one waiting for production's approval older than
//! what staging runs.

mod harness;

use cutover_correlator::routing::{Route, Routing};
use cutover_correlator::{Action, ActionStructure, ActionTarget, Input, Observation, StageStructure};
use cutover_events::Timestamp;
use cutover_events::emitted::{ApprovalDetail, ApprovalDetailType, ApprovalOutcome};
use cutover_testkit::rollout::Ids;
use cutover_testkit::shapes::{EcsDeploymentShape, Fleet, PipelineShape};
use harness::{Harness, ts};
use serde_json::json;

const T0: &str = "2026-03-14T10:00:00Z";
const PIPELINE: &str = "storefront-linear";
const OLD: &str = "aaaaaaaa-1111-4111-8111-111111111111";
const NEW: &str = "bbbbbbbb-2222-4222-8222-222222222222";

fn routing() -> Routing {
    #[derive(serde::Deserialize)]
    struct Routes {
        routes: Vec<Route>,
    }
    let r: Routes = toml::from_str(
        r#"
[[routes]]
cluster = "staging"
environment = "staging"
channel = "deploys-staging"

[[routes]]
cluster = "prod"
environment = "production"
channel = "deploys-prod"
"#,
    )
    .unwrap();
    Routing { default_channel: "deployments".into(), routes: r.routes, ..Routing::default() }
}

fn structure() -> Observation {
    let deploy = |name: &str, cluster: &str| ActionStructure {
        name: name.into(),
        category: "Deploy".into(),
        provider: "CloudFormation".into(),
        run_order: 1,
        targets: vec![ActionTarget::EcsService { cluster: Some(cluster.into()), service: "web".into() }],
    };
    let stage = |name: &str, actions: Vec<ActionStructure>| StageStructure { name: name.into(), actions };
    Observation::PipelineStructure {
        pipeline: PIPELINE.into(),
        version: Some(3),
        stages: vec![
            stage(
                "Source",
                vec![ActionStructure {
                    name: "Source".into(),
                    category: "Source".into(),
                    provider: "CodeStarSourceConnection".into(),
                    run_order: 1,
                    targets: vec![],
                }],
            ),
            stage("Staging", vec![deploy("UpdateStack", "staging")]),
            stage(
                "ApproveProd",
                vec![ActionStructure {
                    name: "ReleaseManager".into(),
                    category: "Approval".into(),
                    provider: "Manual".into(),
                    run_order: 1,
                    targets: vec![],
                }],
            ),
            stage("Production", vec![deploy("UpdateStack", "prod")]),
        ],
    }
}

struct World {
    fleet: Fleet,
    ids: Ids,
    h: Harness,
}

impl World {
    fn new() -> Self {
        Self { fleet: Fleet::default(), ids: Ids::default(), h: Harness::new(routing()) }
    }

    fn event(&mut self, at: Timestamp, p: &PipelineShape<'_>) -> Vec<Action> {
        let body = self.fleet.pipeline(&self.ids.event_id(), at, p).to_string();
        self.h.feed(&body).to_vec()
    }

    fn execution(&mut self, at: Timestamp, exec: &'static str, state: &'static str) -> Vec<Action> {
        let trigger = (state == "STARTED").then(|| json!({"trigger-type": "Webhook", "trigger-detail": "GitHub push"}));
        self.event(at, &PipelineShape { pipeline: PIPELINE, execution_id: exec, state, trigger, ..Default::default() })
    }

    fn stage(&mut self, at: Timestamp, exec: &'static str, stage: &'static str, state: &'static str) -> Vec<Action> {
        self.event(
            at,
            &PipelineShape { pipeline: PIPELINE, execution_id: exec, state, stage: Some(stage), ..Default::default() },
        )
    }

    fn approval(&mut self, at: Timestamp, exec: &'static str, state: &'static str) -> Vec<Action> {
        self.event(
            at,
            &PipelineShape {
                pipeline: PIPELINE,
                execution_id: exec,
                state,
                stage: Some("ApproveProd"),
                action: Some("ReleaseManager"),
                action_type: Some(("AWS", "Manual", "Approval")),
                ..Default::default()
            },
        )
    }

    /// A deploy action of `exec` runs in `stage`, and its rollout of `cluster`/web cuts over.
    fn deploys(
        &mut self,
        at: Timestamp,
        exec: &'static str,
        stage: &'static str,
        cluster: &'static str,
        id: &'static str,
    ) -> Vec<Action> {
        let mut out = self.event(
            at,
            &PipelineShape {
                pipeline: PIPELINE,
                execution_id: exec,
                state: "STARTED",
                stage: Some(stage),
                action: Some("UpdateStack"),
                action_type: Some(("AWS", "CloudFormation", "Deploy")),
                ..Default::default()
            },
        );
        let now = self.h.now;
        out.extend(self.h.correlator.handle(
            now,
            Input::Observed(Observation::PipelineAction {
                execution_id: exec.into(),
                stage: stage.into(),
                action: "UpdateStack".into(),
                targets: vec![ActionTarget::EcsService { cluster: Some(cluster.into()), service: "web".into() }],
            }),
        ));
        for (dt, name) in [(10_000, "SERVICE_DEPLOYMENT_IN_PROGRESS"), (120_000, "SERVICE_DEPLOYMENT_COMPLETED")] {
            let shape =
                EcsDeploymentShape { cluster, service: "web", event_name: name, deployment_id: id, reason: "rollout" };
            let body = self.fleet.ecs_deployment(&self.ids.event_id(), at.plus_millis(dt), &shape).to_string();
            out.extend(self.h.feed(&body).to_vec());
        }
        out
    }

    fn observe(&mut self, o: Observation) -> Vec<Action> {
        let now = self.h.now;
        self.h.correlator.handle(now, Input::Observed(o))
    }
}

fn approval_emits(actions: &[Action]) -> Vec<(ApprovalDetailType, ApprovalDetail)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::EmitApproval { detail_type, detail, .. } => Some((*detail_type, (**detail).clone())),
            _ => None,
        })
        .collect()
}

/// `(kind, channel, blocks)` of the approval's Slack actions.
fn approval_slack(actions: &[Action]) -> Vec<(&'static str, String, String)> {
    actions
        .iter()
        .filter_map(|a| {
            let (kind, m) = match a {
                Action::SlackPost(m) => ("post", m),
                Action::SlackUpdate(m) => ("update", m),
                Action::SlackReply(m) => ("reply", m),
                _ => return None,
            };
            m.deployment_id
                .starts_with("approval/")
                .then(|| (kind, m.channel.clone(), serde_json::Value::from(m.blocks.clone()).to_string()))
        })
        .collect()
}

/// The older execution has run staging and waits for production's approval.
fn old_waits(w: &mut World, t: Timestamp) -> Vec<Action> {
    w.execution(t, OLD, "STARTED");
    w.deploys(t.plus_millis(10_000), OLD, "Staging", "staging", "ecs-svc/1001");
    w.stage(t.plus_millis(200_000), OLD, "Staging", "SUCCEEDED");
    w.approval(t.plus_millis(210_000), OLD, "STARTED")
}

#[test]
fn an_approval_waiting_posts_where_the_next_environment_is_and_says_what_staging_runs() {
    let mut w = World::new();
    let t = ts(T0);
    let out = old_waits(&mut w, t);
    let emitted = approval_emits(&out);
    assert_eq!(emitted.len(), 1, "Approval Waiting: {out:?}");
    let (kind, d) = &emitted[0];
    assert_eq!(*kind, ApprovalDetailType::Waiting);
    assert_eq!(d.approval_id, format!("approval/{OLD}/ApproveProd/ReleaseManager"));
    assert_eq!((d.at, d.outcome), (t.plus_millis(210_000), None));
    assert!(approval_slack(&out).is_empty(), "held until the pipeline's structure is known");
    assert_eq!(w.h.correlator.wanted().structures, vec![(PIPELINE.to_owned(), Some(3))]);

    let out = w.observe(structure());
    let slack = approval_slack(&out);
    assert_eq!(slack.len(), 1, "{out:?}");
    let (kind, channel, blocks) = &slack[0];
    assert_eq!((*kind, channel.as_str()), ("post", "deploys-prod"), "production's channel, where approving leads");
    assert!(blocks.contains("Approval: storefront-linear → production"), "{blocks}");
    assert!(blocks.contains("*Now in*\\n*staging*: web cut over 10:02:10 UTC (this execution)"), "{blocks}");
    assert!(blocks.contains("execution `aaaaaaaa`"), "{blocks}");
    assert!(!blocks.contains("STOP") && !blocks.contains("queued behind"), "nothing to warn of yet: {blocks}");
    assert!(w.h.correlator.wanted().structures.is_empty());
}

#[test]
fn a_newer_execution_queued_behind_and_then_past_staging_is_warned_of_in_words_that_cannot_be_missed() {
    let mut w = World::new();
    let t = ts(T0);
    old_waits(&mut w, t);
    w.observe(structure());
    // A newer execution starts: queued behind the one waiting.
    let out = w.execution(t.plus_millis(300_000), NEW, "STARTED");
    let slack = approval_slack(&out);
    assert_eq!(slack.len(), 1, "the message is brought up to date: {out:?}");
    assert!(slack[0].2.contains("A newer execution is queued behind this one:* `bbbbbbbb`"), "{}", slack[0].2);
    // It deploys staging and gets past it: staging now runs something newer than what waits.
    let mut out = w.deploys(t.plus_millis(310_000), NEW, "Staging", "staging", "ecs-svc/2002");
    out.extend(w.stage(t.plus_millis(500_000), NEW, "Staging", "SUCCEEDED"));
    let last = approval_slack(&out).pop().expect("an update");
    assert!(
        last.2.contains("STOP: this is NOT the newest execution.* Execution `bbbbbbbb` (started 10:05:00 UTC) already got past the stage before this one"),
        "the README's trap, said plainly: {}",
        last.2
    );
    assert!(last.2.contains("ships the OLDER execution `aaaaaaaa` to *production*"), "{}", last.2);
    assert!(
        last.2.contains("*staging*: web cut over 10:07:10 UTC (execution `bbbbbbbb`)"),
        "what staging runs now: {}",
        last.2
    );

    // Approved anyway: the decision carries the warning, the message says so, the thread too.
    let out = w.approval(t.plus_millis(600_000), OLD, "SUCCEEDED");
    let emitted = approval_emits(&out);
    assert_eq!(emitted.len(), 1);
    let (kind, d) = &emitted[0];
    assert_eq!((*kind, d.outcome), (ApprovalDetailType::Decided, Some(ApprovalOutcome::Approved)));
    assert_eq!(d.newer_passed.as_ref().map(|n| n.execution_id.as_str()), Some(NEW));
    let slack = approval_slack(&out);
    assert!(slack.iter().any(|(k, _, b)| *k == "update" && b.contains("*approved* at 10:10:00 UTC")), "{slack:?}");
    assert!(slack.iter().any(|(k, _, b)| *k == "reply" && b.contains("Approved")), "{slack:?}");

    // Who approved it, once the reconciler read it.
    let out = w.observe(Observation::Approval {
        execution_id: OLD.into(),
        approved_by: Some("arn:aws:iam::123456789012:user/alice".into()),
        comment: Some("ship it".into()),
    });
    assert!(
        approval_slack(&out).iter().any(|(_, _, b)| b.contains("*approved* by alice at 10:10:00 UTC: ship it")),
        "{out:?}"
    );
    // The production deployment that follows is named in the approval's message.
    let out = w.deploys(t.plus_millis(610_000), OLD, "Production", "prod", "ecs-svc/3003");
    assert!(
        approval_slack(&out).iter().any(|(_, _, b)| b.contains("*Deploying*\\n<cutover:message:ecs-svc/3003|`ecs-svc/3003`> in #deploys-prod")),
        "{:?}",
        approval_slack(&out)
    );
    // One pipeline, several environments: production's message names the execution and the
    // deployment it ran in staging, where that message is.
    let post = out
        .iter()
        .find_map(|a| match a {
            Action::SlackPost(m) if m.deployment_id == "ecs-svc/3003" => {
                Some(serde_json::Value::from(m.blocks.clone()).to_string())
            }
            _ => None,
        })
        .expect("production's deployment message");
    assert_eq!(
        out.iter().find_map(|a| if let Action::SlackPost(m) = a {
            (m.deployment_id == "ecs-svc/3003").then(|| m.channel.clone())
        } else {
            None
        }),
        Some("deploys-prod".to_owned())
    );
    assert!(post.contains("storefront-linear `aaaaaaaa` · stage Production"), "{post}");
    assert!(
        post.contains(
            "*Earlier in this execution*\\n*staging*: <cutover:message:ecs-svc/1001|`ecs-svc/1001`> in #deploys-staging, cut over 10:02:10 UTC"
        ),
        "{post}"
    );
}

#[test]
fn an_approval_decided_before_its_pipeline_is_known_emits_both_events_and_posts_nothing() {
    let mut w = World::new();
    let t = ts(T0);
    old_waits(&mut w, t);
    let out = w.approval(t.plus_millis(600_000), OLD, "SUCCEEDED");
    assert_eq!(approval_emits(&out).len(), 1);
    assert!(approval_slack(&out).is_empty());
    assert!(w.h.correlator.wanted().structures.is_empty(), "nothing waits for it any more");
    assert!(approval_slack(&w.observe(structure())).is_empty(), "decided: no message of its own");
}

/// The approval's SNS notification (its token, expiry and review link), as CodePipeline sends it.
fn notice(message_id: &str) -> serde_json::Value {
    json!({
        "Type": "Notification", "MessageId": message_id,
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:cutover-approval-notifications",
        "Message": json!({"region": "eu-west-1", "approval": {
            "pipelineName": PIPELINE, "stageName": "ApproveProd", "actionName": "ReleaseManager",
            "token": "1a2b3c4d-573f-4ea7-a67E-XAMPLETOKEN", "expires": "2026-03-21T10:03Z",
            "approvalReviewLink": "https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/storefront-linear/ApproveProd/ReleaseManager/approve/1a2b3c4d"}}).to_string(),
        "Timestamp": "2026-03-14T10:03:29.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/x.pem", "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"
    })
}

#[test]
fn an_approval_that_fails_after_its_expiry_expired_and_one_before_it_was_rejected() {
    for (fails_at_ms, want) in
        [(8 * 24 * 3_600_000_i64, ApprovalOutcome::Expired), (900_000, ApprovalOutcome::Rejected)]
    {
        let mut w = World::new();
        let t = ts(T0);
        // The notification comes first (SNS and EventBridge race): it is kept for the approval.
        w.h.feed(&notice("9c1d2e3f-0000-4000-8000-000000000001").to_string());
        old_waits(&mut w, t);
        let post = approval_slack(&w.observe(structure()));
        assert!(
            post[0].2.contains("*Expires*\\n2026-03-21 10:03:00 UTC") || post[0].2.contains("*Expires*"),
            "{}",
            post[0].2
        );
        assert!(post[0].2.contains("<https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/storefront-linear/ApproveProd/ReleaseManager/approve/1a2b3c4d|Review in CodePipeline>"), "{}", post[0].2);
        let out = w.approval(t.plus_millis(fails_at_ms), OLD, "FAILED");
        let emitted = approval_emits(&out);
        assert_eq!(emitted[0].1.outcome, Some(want), "failed at +{fails_at_ms} ms");
    }
}

#[test]
fn event_text_in_an_approval_message_is_data() {
    let mut w = World::new();
    let t = ts(T0);
    old_waits(&mut w, t);
    w.observe(Observation::PipelineExecution {
        execution_id: OLD.into(),
        revisions: vec![cutover_events::emitted::SourceRevision {
            artifact: Some("Src".into()),
            revision_id: Some("9f2c1e7a5b3d".into()),
            summary: Some("<!channel> <https://evil.example|click> & more".into()),
            url: Some("javascript:alert(1)".into()),
        }],
        trigger_type: None,
        trigger_detail: None,
    });
    let post = approval_slack(&w.observe(structure()));
    let blocks = &post[0].2;
    assert!(blocks.contains("&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; more"), "{blocks}");
    assert!(!blocks.contains("<!channel>") && !blocks.contains("javascript:"), "{blocks}");
}

#[test]
fn a_decision_that_arrives_before_the_start_still_gives_both_events_once_in_order() {
    let mut w = World::new();
    let t = ts(T0);
    w.execution(t, OLD, "STARTED");
    let decided = w.approval(t.plus_millis(600_000), OLD, "SUCCEEDED");
    let kinds: Vec<_> = approval_emits(&decided).into_iter().map(|(k, d)| (k, d.outcome)).collect();
    assert_eq!(
        kinds,
        [(ApprovalDetailType::Waiting, None), (ApprovalDetailType::Decided, Some(ApprovalOutcome::Approved))]
    );
    let late = w.approval(t.plus_millis(210_000), OLD, "STARTED");
    assert!(approval_emits(&late).is_empty(), "the late start repeats nothing");
}

#[test]
fn an_approval_waiting_survives_a_snapshot_and_is_decided_once_after_it() {
    use cutover_correlator::{Correlator, State};
    let mut w = World::new();
    let t = ts(T0);
    old_waits(&mut w, t);
    w.observe(structure());
    // serve snapshots the state and resumes from it after a restart.
    let snapshot = serde_json::to_string(w.h.correlator.state()).unwrap();
    let state: State = serde_json::from_str(&snapshot).unwrap();
    w.h.correlator = Correlator::new(routing()).with_state(state);
    let part = |text: &str, key: &str| serde_json::from_str::<serde_json::Value>(text).unwrap()[key].clone();
    let again = serde_json::to_string(w.h.correlator.state()).unwrap();
    for key in ["pipeline_approvals", "pipeline_structures", "pipelines", "pipeline_deploy_actions"] {
        assert_eq!(part(&again, key), part(&snapshot, key), "{key} back as it was");
    }
    assert_eq!(
        part(&snapshot, "pipeline_approvals").to_string().matches("deploys-prod").count(),
        1,
        "its channel kept"
    );
    let out = w.approval(t.plus_millis(600_000), OLD, "SUCCEEDED");
    let emitted = approval_emits(&out);
    assert_eq!(emitted.len(), 1, "Waiting was given before the snapshot: {emitted:?}");
    assert!(
        approval_slack(&out).iter().any(|(k, c, _)| *k == "update" && c == "deploys-prod"),
        "the posted message is updated, not posted again: {:?}",
        approval_slack(&out)
    );
}

/// Approve and Reject on an approval's message (`[slack.actions]`): shown while it waits and
/// its notification's token came, for the approvers of production's route; a click is one
/// `PutApprovalResult` with that token, then the buttons give way to who asked; a stale click
/// (decided already) is refused and brings the message up to date.
#[test]
fn approve_and_reject_buttons_decide_with_the_notifications_token_for_the_routes_approvers() {
    use cutover_correlator::action::Call;
    use cutover_correlator::correlator::controls::{Ask, Button, Request, Verdict};
    use cutover_correlator::routing::SlackId;

    let mut routing = routing();
    routing.actions = true;
    routing.routes[1].approvers = vec![SlackId::new("U0RELEASE").unwrap()];
    let mut w = World { h: Harness::new(routing), ..World::new() };
    let t = ts(T0);
    w.h.feed(&notice("9c1d2e3f-0000-4000-8000-000000000002").to_string());
    old_waits(&mut w, t);
    let post = approval_slack(&w.observe(structure()));
    let blocks = &post[0].2;
    let id = format!("approval/{OLD}/ApproveProd/ReleaseManager");
    assert!(
        blocks.contains(r#""action_id":"cutover.approve""#) && blocks.contains(r#""action_id":"cutover.reject""#),
        "{blocks}"
    );
    assert!(blocks.contains(&format!(r#""value":"{id}""#)), "{blocks}");

    let click = |rid: &str, user: &str, button: Button, comment: Option<&str>| Request {
        id: rid.into(),
        user: user.into(),
        groups: Vec::new(),
        channel: "C0PROD".into(),
        at: t.plus_millis(400_000),
        ask: Ask::Click {
            button,
            deployment_id: id.clone(),
            bound: true,
            message_of: Some(id.clone()),
            comment: comment.map(str::to_owned),
            hook: None,
        },
    };
    // Not an approver: refused.
    let (v, out) = w.h.correlator.act(&click("t-1", "U0DEV", Button::Approve, None));
    assert!(
        matches!(&v, Verdict::Refused(t) if t.contains("You may not approve") && t.contains("<@U0RELEASE>")),
        "{v:?}"
    );
    assert!(out.is_empty());
    // The approver rejects, with a comment that is data.
    let (v, out) = w.h.correlator.act(&click("t-2", "U0RELEASE", Button::Reject, Some("not on a Friday <!channel>")));
    assert!(matches!(&v, Verdict::Accepted(t) if t.contains("Rejecting storefront-linear `aaaaaaaa`")), "{v:?}");
    let calls: Vec<&Call> =
        out.iter().filter_map(|a| if let Action::Control(c) = a { Some(&c.call) } else { None }).collect();
    assert_eq!(
        calls,
        vec![&Call::CodepipelinePutApprovalResult {
            pipeline: PIPELINE.into(),
            stage: "ApproveProd".into(),
            action: "ReleaseManager".into(),
            token: "1a2b3c4d-573f-4ea7-a67E-XAMPLETOKEN".into(),
            approved: false,
            summary: "Rejected from Slack by U0RELEASE: not on a Friday <!channel>".into(),
        }]
    );
    let slack = approval_slack(&out);
    let reply = slack.iter().find(|(k, _, _)| *k == "reply").expect("a thread reply");
    assert!(
        reply.2.contains("Rejection asked for by <@U0RELEASE>") && reply.2.contains("&lt;!channel&gt;"),
        "{}",
        reply.2
    );
    let update = slack.iter().find(|(k, _, _)| *k == "update").expect("the buttons give way");
    assert!(
        !update.2.contains("cutover.approve") && update.2.contains("Rejection asked for by <@U0RELEASE>"),
        "{}",
        update.2
    );
    // Approve after that: refused, asked already.
    let (v, _) = w.h.correlator.act(&click("t-3", "U0RELEASE", Button::Approve, None));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("already asked for by <@U0RELEASE>")), "{v:?}");

    // CodePipeline decides (the rejection's event): a click on an old copy is out of date.
    w.approval(t.plus_millis(500_000), OLD, "FAILED");
    let (v, out) = w.h.correlator.act(&click("t-4", "U0RELEASE", Button::Approve, None));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("out of date") && t.contains("rejected")), "{v:?}");
    assert!(approval_slack(&out).iter().any(|(k, _, b)| *k == "update" && !b.contains("cutover.approve")), "{out:?}");
}
