//! `/cutover rollback`, decided by the correlator: bound to the newest deployment of the target
//! named, only for its route's operators (by id or by a group the caller resolved), once per
//! request and once per deployment, and decided the same when replayed from the journal.

mod harness;

use cutover_correlator::action::{Call, Control};
use cutover_correlator::correlator::controls::{Ask, Request, Verdict};
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
    assert_eq!(rebuilt.handle(now, Input::Control(request.clone())), decided);
    // Through a snapshot: the request and the rollback are remembered.
    let state = serde_json::to_string(rebuilt.state()).unwrap();
    let mut resumed = Correlator::new(scenario_routing("rolling")).with_state(serde_json::from_str(&state).unwrap());
    assert!(resumed.handle(now, Input::Control(request)).is_empty());
}
