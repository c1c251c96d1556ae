//! `/cutover rollback`, decided by the correlator: bound to the newest deployment of the target
//! named, only for its route's operators (by id or by a group the caller resolved), once per
//! request and once per deployment, and decided the same when replayed from the journal.

mod harness;

use cutover_correlator::action::{Call, Control};
use cutover_correlator::correlator::controls::{Ask, Button, Request, Verdict};
use cutover_correlator::routing::SlackId;
use cutover_correlator::{Action, Correlator, Input};
use cutover_events::{Timestamp, parse_body};
use harness::{scenario_lines, scenario_routing};

/// The rolling scenario, decided, with `operators` on every route.
fn rolled(operators: &[&str]) -> Correlator {
    let mut routing = scenario_routing("rolling");
    for r in &mut routing.routes {
        r.operators = operators.iter().map(|o| SlackId::new(o).unwrap()).collect();
    }
    let mut c = Correlator::new(routing);
    for line in scenario_lines("rolling") {
        let Ok(m) = parse_body(&line) else { continue };
        let now = c.clock().plus_millis(250);
        let _ = c.handle(now, Input::Message(Box::new(m)));
    }
    c
}

fn ask(id: &str, user: &str, groups: &[&str], service: &str) -> Request {
    Request {
        id: id.into(),
        user: user.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        channel: "C0DEPLOYS".into(),
        at: Timestamp(1_773_481_020_000),
        ask: Ask::Rollback { service: service.into(), environment: "production".into() },
    }
}

fn control(actions: &[Action]) -> Option<&Control> {
    actions.iter().find_map(|a| if let Action::Control(c) = a { Some(c.as_ref()) } else { None })
}

#[test]
fn an_operator_rolls_back_the_newest_deployment_once_to_the_task_definition_it_replaced() {
    let mut c = rolled(&["U0OPS"]);
    let (verdict, actions) = c.act(&ask("t-1", "U0OPS", &[], "storefront"));
    assert!(matches!(&verdict, Verdict::Accepted(t) if t.contains("storefront:41")), "{verdict:?}");
    let call = control(&actions).expect("a control");
    assert_eq!(call.user, "U0OPS");
    assert_eq!(call.request_id, "t-1");
    assert_eq!(
        call.call,
        Call::EcsUpdateService {
            cluster: "prod-eu".into(),
            service: "storefront".into(),
            task_definition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:41".into(),
        }
    );
    let reply = actions.iter().find_map(|a| if let Action::SlackReply(m) = a { Some(m) } else { None });
    let reply = reply.expect("a thread reply");
    assert_eq!(reply.thread_of.as_deref(), Some(call.deployment_id.as_str()));
    assert!(reply.text.contains("asked for by <@U0OPS> at 09:37 UTC"), "{}", reply.text);
    // And on the record: one `Action Taken` event naming who, what, where.
    let taken: Vec<_> = actions
        .iter()
        .filter_map(|a| if let Action::EmitAction { detail, .. } = a { Some(detail.as_ref()) } else { None })
        .collect();
    let [taken] = taken.as_slice() else { panic!("one Action Taken: {actions:?}") };
    assert_eq!(
        (taken.action_id.as_str(), taken.user.as_str(), taken.channel.as_str(), taken.asked.as_str()),
        ("action/t-1", "U0OPS", "C0DEPLOYS", "rollback")
    );
    assert_eq!(taken.operation, "ecs:UpdateService");
    assert!(taken.resource.ends_with("storefront:41"), "{}", taken.resource);
    assert_eq!(taken.deployment_id.as_deref(), Some(call.deployment_id.as_str()));
    assert_eq!((taken.service.as_deref(), taken.environment.as_deref()), (Some("storefront"), Some("production")));
    assert_eq!(taken.at, Timestamp(1_773_481_020_000));

    // The same request again (a retry): decided once.
    let (again, none) = c.act(&ask("t-1", "U0OPS", &[], "storefront"));
    assert!(matches!(again, Verdict::Refused(t) if t.contains("already handled")));
    assert!(none.is_empty());
    // A second request for the same deployment (a double click, another operator): refused.
    let (second, none) = c.act(&ask("t-2", "U0OPS", &[], "storefront"));
    assert!(matches!(&second, Verdict::Refused(t) if t.contains("already asked for by <@U0OPS>")), "{second:?}");
    assert!(none.is_empty());
}

#[test]
fn nobody_else_may_and_a_group_named_lets_its_members() {
    // No operators: nobody.
    let mut c = rolled(&[]);
    let (v, a) = c.act(&ask("t-1", "U0OPS", &[], "storefront"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("names no `operators`")), "{v:?}");
    assert!(a.is_empty());
    // Someone else than the operator, or a member of another group: refused, no call.
    let mut c = rolled(&["U0OPS", "S0SRE"]);
    for (id, user, groups) in [("t-2", "U0MALLORY", vec![]), ("t-3", "U0BOB", vec!["S0OTHER"])] {
        let (v, a) = c.act(&ask(id, user, &groups, "storefront"));
        assert!(matches!(&v, Verdict::Refused(t) if t.contains("<@U0OPS>, <!subteam^S0SRE>")), "{v:?}");
        assert!(a.is_empty(), "{a:?}");
    }
    // Not a Slack user id (text a forged form could carry): refused.
    let (v, a) = c.act(&ask("t-4", "<!channel>", &["S0SRE"], "storefront"));
    assert!(matches!(v, Verdict::Refused(_)) && a.is_empty());
    // A member of the group named: allowed.
    let (v, a) = c.act(&ask("t-5", "U0BOB", &["S0SRE"], "storefront"));
    assert!(matches!(v, Verdict::Accepted(_)), "{v:?}");
    assert!(control(&a).is_some());
    // A service Cutover does not hold: refused, and the name typed is escaped.
    let (v, a) = c.act(&ask("t-6", "U0OPS", &[], "<!here>"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("&lt;!here&gt;") && !t.contains("<!here>")), "{v:?}");
    assert!(a.is_empty());
}

#[test]
fn a_request_replayed_from_the_journal_decides_the_same_and_a_snapshot_keeps_it() {
    let mut live = rolled(&["U0OPS"]);
    let mut rebuilt = rolled(&["U0OPS"]);
    let request = ask("t-1", "U0OPS", &[], "storefront");
    let now = live.clock().plus_millis(1_000);
    let (_, decided) = live.act(&request);
    assert!(!decided.is_empty());
    assert_eq!(rebuilt.handle(now, Input::Control(Box::new(request.clone()))), decided);
    // Through a snapshot: the request and the rollback are remembered.
    let state = serde_json::to_string(rebuilt.state()).unwrap();
    let mut resumed = Correlator::new(scenario_routing("rolling")).with_state(serde_json::from_str(&state).unwrap());
    assert!(resumed.handle(now, Input::Control(Box::new(request))).is_empty());
}

/// `scenario` decided with actions on and `operators` on every route.
fn decided(scenario: &str, operators: &[&str]) -> Correlator {
    let mut routing = scenario_routing(scenario);
    routing.actions = true;
    for r in &mut routing.routes {
        r.operators = operators.iter().map(|o| SlackId::new(o).unwrap()).collect();
    }
    let mut c = Correlator::new(routing);
    for line in scenario_lines(scenario) {
        let Ok(m) = parse_body(&line) else { continue };
        let now = c.clock().plus_millis(250);
        let _ = c.handle(now, Input::Message(Box::new(m)));
    }
    c
}

fn click(id: &str, user: &str, deployment_id: &str, bound: bool, message_of: Option<&str>) -> Request {
    Request {
        id: id.into(),
        user: user.into(),
        groups: Vec::new(),
        channel: "C0DEPLOYS".into(),
        at: Timestamp(1_773_481_020_000),
        ask: Ask::Click {
            button: Button::Rollback,
            deployment_id: deployment_id.into(),
            bound,
            message_of: message_of.map(str::to_owned),
            comment: None,
            hook: None,
        },
    }
}

fn updates(actions: &[Action]) -> Vec<&cutover_correlator::action::SlackMessage> {
    actions.iter().filter_map(|a| if let Action::SlackUpdate(m) = a { Some(m) } else { None }).collect()
}

fn blocks_text(m: &cutover_correlator::action::SlackMessage) -> String {
    serde_json::Value::from(m.blocks.clone()).to_string()
}

#[test]
fn a_roll_back_button_acts_like_the_command_and_a_forged_or_stale_one_is_refused_and_its_message_updated() {
    const ID: &str = "ecs-svc/5211643699352071000";
    let mut c = decided("rolling", &["U0OPS"]);
    // The message carries the button, naming its deployment.
    let (_, none) = c.act(&click("t-0", "U0OPS", "ecs-svc/none", false, Some(ID)));
    let ups = updates(&none);
    let [forged_update] = ups.as_slice() else { panic!("the message clicked is updated: {none:?}") };
    let blocks = blocks_text(forged_update);
    assert!(
        blocks.contains(r#""action_id":"cutover.rollback""#) && blocks.contains(&format!(r#""value":"{ID}""#)),
        "{blocks}"
    );
    assert!(control(&none).is_none(), "a forged button calls nothing");
    let (v, _) = c.act(&click("t-0b", "U0OPS", ID, false, None));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("does not belong to the message")), "{v:?}");

    // Not an operator: refused, no call.
    let (v, a) = c.act(&click("t-1", "U0ALICE", ID, true, Some(ID)));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("You may not roll back")), "{v:?}");
    assert!(control(&a).is_none());
    // The operator: the same call as `/cutover rollback`, the button gives way to who asked.
    let (v, a) = c.act(&click("t-2", "U0OPS", ID, true, Some(ID)));
    assert!(matches!(&v, Verdict::Accepted(t) if t.contains("storefront:41")), "{v:?}");
    assert!(
        matches!(&control(&a).unwrap().call, Call::EcsUpdateService { task_definition, .. } if task_definition.ends_with("storefront:41"))
    );
    let ups = updates(&a);
    let [after] = ups.as_slice() else { panic!("one update: {a:?}") };
    let blocks = blocks_text(after);
    assert!(!blocks.contains("cutover.rollback") && blocks.contains("Rollback asked for by <@U0OPS>"), "{blocks}");
    // A second click (another operator, a double click): refused.
    let (v, a) = c.act(&click("t-3", "U0OPS", ID, true, Some(ID)));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("already asked for")), "{v:?}");
    assert!(control(&a).is_none());
}

#[test]
fn a_button_of_a_deployment_rolled_back_already_is_stale() {
    // The circuit breaker failed 2222… and its rollback 3333… took the traffic back: a button
    // on 2222's message (one a client still shows) is out of date, and refusing it brings that
    // message up to date, without a button.
    let mut c = decided("rolling-circuit-breaker", &["U0OPS"]);
    let (v, a) = c.act(&click("t-1", "U0OPS", "ecs-svc/2222222222222222222", true, None));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("out of date")), "{v:?}");
    assert!(control(&a).is_none());
    let ups = updates(&a);
    assert!(!ups.is_empty() && ups.iter().all(|m| !blocks_text(m).contains("cutover.rollback")), "{a:?}");
}

/// Continue on an ECS-native deployment waiting at a pause hook (`HOOK_AWAITING_ACTION`): the
/// button names the deployment and the hook; a click is one `ContinueServiceDeployment` of that
/// hook, once; when the hook has moved on, a click on it is out of date.
#[test]
fn a_pause_hook_is_continued_once_by_an_operator_and_a_hook_moved_on_is_stale() {
    use cutover_correlator::routing::{Glob, Route, Routing};
    use cutover_testkit::rollout::Ids;
    use cutover_testkit::shapes::{Fleet, HookShape};

    let mut routing = Routing { actions: true, ..Routing::default() };
    routing.routes.push(Route {
        cluster: Some(Glob::new("prod").unwrap()),
        environment: Some("production".into()),
        channel: Some("deploys-prod".into()),
        operators: vec![SlackId::new("U0OPS").unwrap()],
        ..Route::default()
    });
    let mut h = harness::Harness::new(routing);
    let (fleet, mut ids) = (Fleet::default(), Ids::default());
    let t = Timestamp::parse("2026-03-14T10:00:00Z").unwrap();
    let hook = |event_name: &'static str, at: Timestamp, ids: &mut Ids| {
        let shape = HookShape {
            cluster: "prod",
            service: "web",
            deployment: "AbC",
            event_name,
            stage: "POST_TEST_TRAFFIC_SHIFT",
        };
        let mut v = fleet.hook(&ids.event_id(), at, &shape);
        v["detail"]["hookId"] = serde_json::json!("ecs-pause-hook-1");
        v.to_string()
    };
    let out = h.feed(&hook("HOOK_AWAITING_ACTION", t, &mut ids)).to_vec();
    let shown: Vec<String> = out
        .iter()
        .filter_map(|a| match a {
            Action::SlackPost(m) | Action::SlackUpdate(m) => Some(blocks_text(m)),
            _ => None,
        })
        .collect();
    let last = shown.last().expect("the deployment's message");
    assert!(
        last.contains(r#""action_id":"cutover.continue""#) && last.contains("Paused at `POST_TEST_TRAFFIC_SHIFT`"),
        "{last}"
    );
    let id = out
        .iter()
        .find_map(|a| if let Action::Emit { detail, .. } = a { Some(detail.deployment_id.clone()) } else { None })
        .expect("the deployment started");
    assert!(last.contains(&format!(r##""value":"{id}#ecs-pause-hook-1""##)), "{last}");

    let ask = |rid: &str, user: &str, hook: &str| Request {
        id: rid.into(),
        user: user.into(),
        groups: Vec::new(),
        channel: "C0PROD".into(),
        at: t.plus_millis(60_000),
        ask: Ask::Click {
            button: Button::Continue,
            deployment_id: id.clone(),
            bound: true,
            message_of: Some(id.clone()),
            comment: None,
            hook: Some(hook.into()),
        },
    };
    let (v, a) = h.correlator.act(&ask("t-1", "U0DEV", "ecs-pause-hook-1"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("You may not continue")), "{v:?}");
    assert!(control(&a).is_none());
    let (v, a) = h.correlator.act(&ask("t-2", "U0OPS", "ecs-pause-hook-1"));
    assert!(matches!(&v, Verdict::Accepted(t) if t.contains("Continuing")), "{v:?}");
    assert_eq!(
        control(&a).map(|c| c.call.clone()),
        Some(Call::EcsContinueServiceDeployment {
            service_deployment_arn: "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/AbC".into(),
            hook_id: "ecs-pause-hook-1".into()
        })
    );
    let ups = updates(&a);
    assert!(
        ups.iter().any(|m| {
            let b = blocks_text(m);
            !b.contains("cutover.continue") && b.contains("Continue asked for by <@U0OPS>")
        }),
        "{a:?}"
    );
    let (v, _) = h.correlator.act(&ask("t-3", "U0OPS", "ecs-pause-hook-1"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("already asked for")), "{v:?}");

    // The hook moved on (ECS continued it): a click on it is out of date.
    h.feed(&hook("HOOK_SUCCEEDED", t.plus_millis(90_000), &mut ids));
    let (v, a) = h.correlator.act(&ask("t-4", "U0OPS", "ecs-pause-hook-1"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("no longer waits")), "{v:?}");
    assert!(control(&a).is_none() && !updates(&a).is_empty());
}

/// Reroute now on a CodeDeploy blue/green deployment waiting to reroute (`READY`): the message
/// shows the wait with Reroute now and Stop and roll back; a click is one `ContinueDeployment`,
/// once, for the route's operators; once traffic moved, a click is out of date.
#[test]
fn a_deployment_waiting_to_reroute_is_rerouted_once_by_an_operator_and_a_click_after_the_shift_is_stale() {
    const ID: &str = "d-K2V9XW41C";
    let mut routing = scenario_routing("codedeploy-eventbridge");
    routing.actions = true;
    for r in &mut routing.routes {
        r.operators = vec![SlackId::new("U0OPS").unwrap()];
    }
    let mut c = Correlator::new(routing);
    let lines = scenario_lines("codedeploy-eventbridge");
    let feed = |c: &mut Correlator, line: &str| {
        let m = parse_body(line).expect("a recorded body");
        let now = c.clock().plus_millis(250);
        c.handle(now, Input::Message(Box::new(m)))
    };
    let mut shown = Vec::new();
    for line in &lines[..2] {
        for a in feed(&mut c, line) {
            if let Action::SlackPost(m) | Action::SlackUpdate(m) = a {
                shown.push(blocks_text(&m));
            }
        }
    }
    let last = shown.last().expect("the deployment's message");
    assert!(
        last.contains(r#""action_id":"cutover.reroute""#)
            && last.contains("Reroute now")
            && last.contains("Stop and roll back")
            && last.contains("Replacement ready since 09:31 UTC"),
        "{last}"
    );
    let reroute = |rid: &str, user: &str| Request {
        id: rid.into(),
        user: user.into(),
        groups: Vec::new(),
        channel: "C0PROD".into(),
        at: Timestamp::parse("2026-03-14T09:33:00Z").unwrap(),
        ask: Ask::Click {
            button: Button::Reroute,
            deployment_id: ID.into(),
            bound: true,
            message_of: Some(ID.into()),
            comment: None,
            hook: None,
        },
    };
    let (v, a) = c.act(&reroute("t-1", "U0DEV"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("You may not reroute")), "{v:?}");
    assert!(control(&a).is_none());
    let (v, a) = c.act(&reroute("t-2", "U0OPS"));
    assert!(matches!(&v, Verdict::Accepted(t) if t.contains("Rerouting production traffic")), "{v:?}");
    assert_eq!(
        control(&a).map(|c| c.call.clone()),
        Some(Call::CodedeployContinueDeployment { deployment_id: ID.into() })
    );
    let ups = updates(&a);
    assert!(
        ups.iter().any(|m| {
            let b = blocks_text(m);
            !b.contains("cutover.reroute") && b.contains("Reroute asked for by <@U0OPS>")
        }),
        "{a:?}"
    );
    assert!(a.iter().any(|a| matches!(a, Action::EmitAction { .. })), "an Action Taken event: {a:?}");
    let (v, a) = c.act(&reroute("t-3", "U0OPS"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("already asked for")), "{v:?}");
    assert!(control(&a).is_none());

    // Production traffic moved (the target's SUCCESS): the wait is over and the button stale.
    feed(&mut c, &lines[2]);
    let (v, a) = c.act(&reroute("t-4", "U0OPS"));
    assert!(matches!(&v, Verdict::Refused(t) if t.contains("no longer waits to reroute")), "{v:?}");
    assert!(control(&a).is_none() && !updates(&a).is_empty());
}
