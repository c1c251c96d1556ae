//! Each strategy and each terminal state, driven through the harness with a simulated clock.

mod harness;

use cutover_correlator::Action;
use cutover_correlator::routing::Routing;
use cutover_events::Timestamp;
use cutover_events::emitted::{DetailType::*, Strategy};
use cutover_testkit::rollout::{Ids, Outcome, Release, Service, Timed};
use cutover_testkit::shapes::Fleet;
use cutover_testkit::shapes::{EcsDeploymentShape, HookShape, TriggerShape};
use harness::{Harness, decisions, per_deployment, scenario_lines, scenario_routing, ts};
use serde_json::json;

/// The CodeDeploy deployments in flight that have not cut over: what the reconciler asks
/// CodeDeploy about.
fn codedeploy_in_flight(c: &cutover_correlator::Correlator) -> Vec<String> {
    c.wanted()
        .in_flight
        .into_iter()
        .filter(|d| d.strategy == Strategy::CodedeployBlueGreen && !d.cut_over)
        .map(|d| d.id)
        .collect()
}

const T0: &str = "2026-03-14T09:30:00Z";

fn sorted(mut ev: Vec<Timed>) -> Vec<String> {
    ev.sort_by_key(|(t, _)| *t);
    ev.into_iter().map(|(_, v)| v.to_string()).collect()
}

fn td(rev: u32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:{rev}")
}

fn web() -> (Fleet, Ids, Service) {
    (Fleet::default(), Ids::default(), Service { cluster: "prod".into(), name: "web".into(), running: Vec::new() })
}

fn emits(actions: &[Action]) -> Vec<&cutover_events::emitted::LifecycleDetail> {
    actions
        .iter()
        .filter_map(|a| if let Action::Emit { detail, .. } = a { Some(detail.as_ref()) } else { None })
        .collect()
}

#[test]
fn rolling_update_cuts_over_when_the_last_old_task_is_told_to_stop() {
    let (fleet, mut ids, mut svc) = web();
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/1",
            task_definition: &td(1),
            image: "repo/web:v1",
            count: 3,
            at: ts(T0).plus_millis(-600_000),
        },
    );
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release { deployment: "ecs-svc/2", task_definition: &td(2), image: "repo/web:v2", count: 3, at: ts(T0) },
        Outcome::Completes,
        "",
    ));
    let mut h = Harness::new(Routing::default());
    h.feed_all(sorted(ev).iter().map(String::as_str));
    let d = h.decisions();
    assert_eq!(d.len(), 3);
    assert_eq!((d[0].1, d[0].2), (Started, ts(T0)));
    assert_eq!(d[1].1, CutOver);
    assert_eq!(d[2].1, Completed);
    // The last of the three old tasks is told to stop 30 s after the new ones all run, 2.5 s apart.
    let running_done = ts(T0).plus_millis(4_000 + 3 * 700 + 1_000 + 63_000);
    assert_eq!(d[1].2, running_done.plus_millis(30_000 + 2 * 2_500));
    for e in emits(&h.actions) {
        assert!(e.observed_at >= e.at, "observed {} before {}", e.observed_at, e.at);
        assert_eq!(e.strategy, Strategy::EcsRolling);
    }
    let cut = &emits(&h.actions)[1];
    assert_eq!(cut.previous_task_definition.as_deref(), Some(td(1).as_str()));
    assert_eq!(cut.version.as_deref(), Some("v2"));
}

#[test]
fn no_cut_over_while_an_old_task_still_serves() {
    let (fleet, mut ids, mut svc) = web();
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/1",
            task_definition: &td(1),
            image: "repo/web:v1",
            count: 2,
            at: ts(T0).plus_millis(-600_000),
        },
    );
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release { deployment: "ecs-svc/2", task_definition: &td(2), image: "repo/web:v2", count: 2, at: ts(T0) },
        Outcome::Completes,
        "",
    ));
    let lines = sorted(ev);
    let old_ids: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("\"startedBy\":\"ecs-svc/1\"") && l.contains("DEACTIVATING"))
        .map(|l| l.to_owned())
        .collect();
    assert_eq!(old_ids.len(), 2);
    let mut h = Harness::new(Routing::default());
    for line in &lines {
        if line == &old_ids[1] {
            assert!(!h.decisions().iter().any(|d| d.1 == CutOver), "cut over with an old task still serving");
        }
        h.feed(line);
    }
    assert!(h.decisions().iter().any(|d| d.1 == CutOver));
}

#[test]
fn circuit_breaker_fails_and_the_rollback_rolls_it_back() {
    let (fleet, mut ids, mut svc) = web();
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/1",
            task_definition: &td(1),
            image: "repo/web:v1",
            count: 2,
            at: ts(T0).plus_millis(-600_000),
        },
    );
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release { deployment: "ecs-svc/2", task_definition: &td(2), image: "repo/web:v2", count: 2, at: ts(T0) },
        Outcome::CircuitBreaker,
        "ecs-svc/3",
    ));
    let mut h = Harness::new(Routing::default());
    h.feed_all(sorted(ev).iter().map(String::as_str));
    let per = per_deployment(&h.decisions());
    let failed: Vec<_> = per["ecs-svc/2"].iter().map(|(t, _)| *t).collect();
    assert_eq!(failed, vec![Started, Failed, RolledBack]);
    let rollback: Vec<_> = per["ecs-svc/3"].iter().map(|(t, _)| *t).collect();
    assert_eq!(rollback, vec![Started, CutOver, Completed]);
    assert_eq!(per["ecs-svc/2"][2].1, per["ecs-svc/3"][1].1, "rolled back at the rollback's cut-over");
    let details = emits(&h.actions);
    let r = details.iter().find(|d| d.deployment_id == "ecs-svc/3").unwrap();
    assert_eq!(r.rollback_of.as_deref(), Some("ecs-svc/2"));
    let f = details.iter().find(|d| d.deployment_id == "ecs-svc/2" && d.reason.is_some()).unwrap();
    assert_eq!(f.reason.as_deref(), Some("ECS deployment circuit breaker: task failed to start."));
    // Slack: the failed deployment posts once; the rollback never posts, it replies in that thread.
    let posts: Vec<&str> = h
        .actions
        .iter()
        .filter_map(|a| if let Action::SlackPost(m) = a { Some(m.deployment_id.as_str()) } else { None })
        .collect();
    assert_eq!(posts, vec!["ecs-svc/2"]);
    let replies = h
        .actions
        .iter()
        .filter(|a| matches!(a, Action::SlackReply(m) if m.thread_of.as_deref() == Some("ecs-svc/2")))
        .count();
    assert_eq!(replies, 2 + 1 + 2, "two failed tasks, the failure's reason and two rollback steps");
}

#[test]
fn a_deployment_replaced_before_it_finished_fails_as_superseded() {
    let (fleet, mut ids, mut svc) = web();
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/1",
            task_definition: &td(1),
            image: "repo/web:v1",
            count: 1,
            at: ts(T0).plus_millis(-600_000),
        },
    );
    ev.extend(svc.start_only(
        &fleet,
        &mut ids,
        &Release { deployment: "ecs-svc/2", task_definition: &td(2), image: "repo/web:v2", count: 1, at: ts(T0) },
    ));
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/3",
            task_definition: &td(3),
            image: "repo/web:v3",
            count: 1,
            at: ts(T0).plus_millis(300_000),
        },
        Outcome::Completes,
        "",
    ));
    let mut h = Harness::new(Routing::default());
    h.feed_all(sorted(ev).iter().map(String::as_str));
    let per = per_deployment(&h.decisions());
    let two: Vec<_> = per["ecs-svc/2"].iter().map(|(t, _)| *t).collect();
    assert_eq!(two, vec![Started, Failed]);
    assert_eq!(per["ecs-svc/2"][1].1, per["ecs-svc/3"][1].1, "superseded at the newer one's cut-over");
    let reason = emits(&h.actions).iter().find_map(|d| d.reason.clone()).unwrap();
    assert_eq!(reason, "superseded by ecs-svc/3");
}

fn trigger_body(fleet: &Fleet, dep: &str, status: &str, created: Timestamp, completed: Option<Timestamp>) -> String {
    fleet
        .trigger(&TriggerShape {
            app: "app",
            group: "group",
            deployment_id: dep,
            status,
            created,
            completed,
            extra: &[],
        })
        .to_string()
}

#[test]
fn codedeploy_canary_reports_each_traffic_step_once_and_cuts_over_at_100() {
    let fleet = Fleet::default();
    let t = ts(T0);
    let mut h = Harness::new(Routing::default());
    h.feed(&trigger_body(&fleet, "d-CANARY001", "CREATED", t, None));
    h.observe("d-CANARY001", 10.0, t.plus_millis(60_000));
    h.observe("d-CANARY001", 10.0, t.plus_millis(90_000));
    let at_100 = t.plus_millis(360_000);
    h.observe("d-CANARY001", 100.0, at_100);
    h.feed(&trigger_body(&fleet, "d-CANARY001", "SUCCEEDED", t, Some(t.plus_millis(900_000))));
    let d: Vec<_> = h.decisions().into_iter().map(|(_, t, at)| (t, at)).collect();
    assert_eq!(
        d,
        vec![
            (Started, t),
            (TrafficShifted, t.plus_millis(60_000)),
            (TrafficShifted, at_100),
            (CutOver, at_100),
            (Completed, t.plus_millis(900_000)),
        ]
    );
    let shifted: Vec<_> = emits(&h.actions).iter().filter_map(|e| e.traffic_percent.map(|p| p.0)).collect();
    assert_eq!(shifted, vec![10.0, 100.0]);
}

#[test]
fn codedeploy_ready_is_not_cut_over_and_a_stop_fails_it() {
    let fleet = Fleet::default();
    let t = ts(T0);
    let mut h = Harness::new(Routing::default());
    h.feed(&trigger_body(&fleet, "d-READY0001", "CREATED", t, None));
    h.feed(&trigger_body(&fleet, "d-READY0001", "READY", t, None));
    assert!(!h.decisions().iter().any(|d| d.1 == CutOver));
    h.feed(&trigger_body(&fleet, "d-READY0001", "STOPPED", t, Some(t.plus_millis(3_600_000))));
    let d: Vec<_> = h.decisions().into_iter().map(|(_, t, _)| t).collect();
    assert_eq!(d, vec![Started, Failed]);
    assert_eq!(emits(&h.actions)[1].reason.as_deref(), Some("CodeDeploy deployment stopped"));
}

#[test]
fn ecs_native_rollout_seen_first_as_ecs_svc_is_one_deployment() {
    let (fleet, mut ids, _) = web();
    let t = ts(T0);
    let mut h = Harness::new(Routing::default());
    h.feed(
        &fleet
            .ecs_deployment(
                &ids.event_id(),
                t,
                &EcsDeploymentShape {
                    cluster: "prod",
                    service: "web",
                    event_name: "SERVICE_DEPLOYMENT_IN_PROGRESS",
                    deployment_id: "ecs-svc/77",
                    reason: "ECS deployment ecs-svc/77 in progress.",
                },
            )
            .to_string(),
    );
    h.feed(
        &fleet
            .hook(
                &ids.event_id(),
                t.plus_millis(40_000),
                &HookShape {
                    cluster: "prod",
                    service: "web",
                    deployment: "AbC",
                    event_name: "HOOK_AWAITING_ACTION",
                    stage: "POST_TEST_TRAFFIC_SHIFT",
                },
            )
            .to_string(),
    );
    h.feed(
        &fleet
            .hook(
                &ids.event_id(),
                t.plus_millis(90_000),
                &HookShape {
                    cluster: "prod",
                    service: "web",
                    deployment: "AbC",
                    event_name: "HOOK_IN_PROGRESS",
                    stage: "POST_PRODUCTION_TRAFFIC_SHIFT",
                },
            )
            .to_string(),
    );
    h.feed(
        &fleet
            .ecs_deployment(
                &ids.event_id(),
                t.plus_millis(600_000),
                &EcsDeploymentShape {
                    cluster: "prod",
                    service: "web",
                    event_name: "SERVICE_DEPLOYMENT_COMPLETED",
                    deployment_id: "ecs-svc/77",
                    reason: "done",
                },
            )
            .to_string(),
    );
    let d = h.decisions();
    assert_eq!(d.iter().map(|x| x.1).collect::<Vec<_>>(), vec![Started, CutOver, Completed]);
    assert!(d.iter().all(|x| x.0 == "ecs-svc/77"), "one deployment, one id: {d:?}");
    assert_eq!(d[1].2, t.plus_millis(90_000));
    assert_eq!(h.actions.iter().filter(|a| matches!(a, Action::SlackPost(_))).count(), 1);
    let arn = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/AbC";
    assert_eq!(h.correlator.deployment(arn).map(|d| d.id.as_str()), Some("ecs-svc/77"));
}

#[test]
fn finished_deployments_retire_after_the_retention_and_state_stays_bounded() {
    let (fleet, mut ids, mut svc) = web();
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/0",
            task_definition: &td(0),
            image: "repo/web:v0",
            count: 2,
            at: ts(T0).plus_millis(-600_000),
        },
    );
    let day = 86_400_000;
    for n in 1..=40u32 {
        let id = format!("ecs-svc/{n}");
        ev.extend(svc.rolling(
            &fleet,
            &mut ids,
            &Release {
                deployment: &id,
                task_definition: &td(n),
                image: &format!("repo/web:v{n}"),
                count: 2,
                at: ts(T0).plus_millis(i64::from(n) * day),
            },
            Outcome::Completes,
            "",
        ));
    }
    let mut h = Harness::new(Routing::default());
    let mut most = 0;
    for line in sorted(ev) {
        h.feed(&line);
        most = most.max(h.correlator.deployments_held());
    }
    assert_eq!(h.decisions().iter().filter(|d| d.1 == Completed).count(), 40);
    assert!(most <= 9, "held {most} deployments at once with a 7-day retention and one deploy a day");
    assert!(h.correlator.deployment("ecs-svc/1").is_none(), "retired after 7 days");
    assert!(h.correlator.deployment("ecs-svc/40").is_some());
}

#[test]
fn a_late_redelivery_within_the_retention_revives_nothing() {
    let lines = scenario_lines("rolling");
    let mut h = Harness::new(scenario_routing("rolling"));
    h.feed_all(lines.iter().map(String::as_str));
    let before = h.actions.len();
    // The same COMPLETED event again, with a new EventBridge id (a second rule, say).
    let mut completed: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    completed["id"] = json!("5b6f4c1e-0000-4000-8000-000000000001");
    h.feed(&completed.to_string());
    let mut in_progress: serde_json::Value =
        serde_json::from_str(lines.iter().find(|l| l.contains("SERVICE_DEPLOYMENT_IN_PROGRESS")).unwrap()).unwrap();
    in_progress["id"] = json!("5b6f4c1e-0000-4000-8000-000000000002");
    h.feed(&in_progress.to_string());
    assert_eq!(h.actions.len(), before, "no new action for a finished deployment");
}

#[test]
fn same_input_same_actions_byte_for_byte() {
    let run = || {
        let mut h = Harness::new(scenario_routing("rolling-circuit-breaker"));
        h.feed_all(scenario_lines("rolling-circuit-breaker").iter().map(String::as_str));
        serde_json::to_string(&h.actions).unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn every_scenario_decides_each_lifecycle_event_at_most_once_and_in_order() {
    for name in harness::SCENARIOS {
        let mut h = Harness::new(scenario_routing(name));
        h.feed_all(scenario_lines(name).iter().map(String::as_str));
        harness::assert_consistent(&decisions(&h.actions), name);
    }
}

#[test]
fn without_any_old_task_seen_running_cut_over_waits_for_completed() {
    let (fleet, mut ids, mut svc) = web();
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/1",
            task_definition: &td(1),
            image: "repo/web:v1",
            count: 2,
            at: ts(T0).plus_millis(-600_000),
        },
    );
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release { deployment: "ecs-svc/2", task_definition: &td(2), image: "repo/web:v2", count: 2, at: ts(T0) },
        Outcome::Completes,
        "",
    ));
    // Cutover started watching after the old tasks were running: their RUNNING events are gone.
    let lines: Vec<String> = sorted(ev)
        .into_iter()
        .filter(|l| !(l.contains("ecs-svc/1") && l.contains("\"lastStatus\":\"RUNNING\"")))
        .collect();
    let mut h = Harness::new(Routing::default());
    h.feed_all(lines.iter().map(String::as_str));
    let d = h.decisions();
    let completed = d.iter().find(|x| x.1 == Completed).unwrap().2;
    let cut = d.iter().find(|x| x.1 == CutOver).unwrap().2;
    assert_eq!(cut, completed, "no census: SERVICE_DEPLOYMENT_COMPLETED proves the cut-over");
}

#[test]
fn ecs_native_failure_comes_from_its_ecs_svc_alias() {
    let (fleet, mut ids, _) = web();
    let t = ts(T0);
    let mut h = Harness::new(Routing::default());
    h.feed(
        &fleet
            .hook(
                &ids.event_id(),
                t,
                &HookShape {
                    cluster: "prod",
                    service: "web",
                    deployment: "XyZ",
                    event_name: "HOOK_AWAITING_ACTION",
                    stage: "POST_SCALE_UP",
                },
            )
            .to_string(),
    );
    h.feed(
        &fleet
            .hook(
                &ids.event_id(),
                t.plus_millis(60_000),
                &HookShape {
                    cluster: "prod",
                    service: "web",
                    deployment: "XyZ",
                    event_name: "HOOK_FAILED",
                    stage: "POST_TEST_TRAFFIC_SHIFT",
                },
            )
            .to_string(),
    );
    h.feed(
        &fleet
            .ecs_deployment(
                &ids.event_id(),
                t.plus_millis(70_000),
                &EcsDeploymentShape {
                    cluster: "prod",
                    service: "web",
                    event_name: "SERVICE_DEPLOYMENT_FAILED",
                    deployment_id: "ecs-svc/5",
                    reason: "hook failed",
                },
            )
            .to_string(),
    );
    let d = h.decisions();
    assert_eq!(d.iter().map(|x| x.1).collect::<Vec<_>>(), vec![Started, Failed]);
    assert!(d[0].0.ends_with("service-deployment/prod/web/XyZ"), "keyed by the service-deployment ARN: {}", d[0].0);
    assert_eq!(d[1].2, t.plus_millis(70_000));
}

#[test]
fn hook_events_are_timed_by_their_envelope() {
    let (fleet, mut ids, _) = web();
    let t = ts(T0);
    let mut hook = fleet.hook(
        &ids.event_id(),
        t,
        &HookShape {
            cluster: "prod",
            service: "web",
            deployment: "AbC",
            event_name: "HOOK_IN_PROGRESS",
            stage: "POST_PRODUCTION_TRAFFIC_SHIFT",
        },
    );
    hook["detail"]["updatedAt"] = json!("2026-03-14T09:30:00.618059641Z");
    let mut h = Harness::new(Routing::default());
    h.feed(&hook.to_string());
    let cut = h.decisions().into_iter().find(|x| x.1 == CutOver).unwrap();
    assert_eq!(cut.2, t);
}

#[test]
fn a_rollback_seen_before_the_deployment_it_undoes_is_linked_and_never_posts() {
    let (fleet, mut ids, mut svc) = web();
    let mut ev = svc.seed_running(
        &fleet,
        &mut ids,
        &Release {
            deployment: "ecs-svc/1",
            task_definition: &td(1),
            image: "repo/web:v1",
            count: 2,
            at: ts(T0).plus_millis(-600_000),
        },
    );
    ev.extend(svc.rolling(
        &fleet,
        &mut ids,
        &Release { deployment: "ecs-svc/2", task_definition: &td(2), image: "repo/web:v2", count: 2, at: ts(T0) },
        Outcome::CircuitBreaker,
        "ecs-svc/3",
    ));
    let mut lines = sorted(ev);
    // The rollback's IN_PROGRESS overtakes everything of the failed deployment.
    let rollback = lines.iter().position(|l| l.contains("rolling back to deploymentId")).unwrap();
    let moved = lines.remove(rollback);
    let first_of_failed = lines.iter().position(|l| l.contains("ecs-svc/2")).unwrap();
    lines.insert(first_of_failed, moved);
    let mut h = Harness::new(Routing::default());
    h.feed_all(lines.iter().map(String::as_str));
    let posts: Vec<&str> = h
        .actions
        .iter()
        .filter_map(|a| if let Action::SlackPost(m) = a { Some(m.deployment_id.as_str()) } else { None })
        .collect();
    assert_eq!(posts, vec!["ecs-svc/2"], "the rollback never posts");
    let per = per_deployment(&h.decisions());
    assert_eq!(per["ecs-svc/2"].iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec![Started, Failed, RolledBack]);
    let r = emits(&h.actions).into_iter().rev().find(|d| d.deployment_id == "ecs-svc/3").unwrap();
    assert_eq!(r.rollback_of.as_deref(), Some("ecs-svc/2"));
}

#[test]
fn a_codedeploy_rollback_seen_before_the_deployment_it_undoes_rolls_it_back() {
    let lines = scenario_lines("codedeploy-rollback");
    // Rollback triggers first, then the failed deployment's.
    let (rollback, main): (Vec<&String>, Vec<&String>) = lines.iter().partition(|l| l.contains("d-RBCK7TT0P"));
    let mut h = Harness::new(scenario_routing("codedeploy-rollback"));
    h.feed_all(rollback.into_iter().chain(main).map(String::as_str));
    let per = per_deployment(&h.decisions());
    assert_eq!(per["d-MAIN4XQ2Z"].iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec![Started, Failed, RolledBack]);
    let posts =
        h.actions.iter().filter(|a| matches!(a, Action::SlackPost(m) if m.deployment_id == "d-RBCK7TT0P")).count();
    assert_eq!(posts, 0, "the rollback never posts");
}

#[test]
fn codedeploy_traffic_weights_from_the_reconciler_are_traffic_shifted_steps_and_100_is_the_cut_over() {
    use cutover_correlator::{Input, Observation};
    let lines = scenario_lines("codedeploy-sns");
    let mut h = Harness::new(scenario_routing("codedeploy-sns"));
    // CREATED and IN_PROGRESS: in flight, not cut over, so the reconciler asks about it.
    h.feed(&lines[0]);
    h.feed(&lines[1]);
    assert_eq!(codedeploy_in_flight(&h.correlator), vec!["d-7QHX0M2PB".to_owned()]);
    let weight = |percent: f64, at: &str| {
        Input::Observed(Observation::TrafficWeight { deployment_id: "d-7QHX0M2PB".into(), percent, at: ts(at) })
    };
    let now = ts("2026-03-14T09:40:00Z");
    let mut actions = Vec::new();
    for (p, at) in [
        (10.0, "2026-03-14T09:31:00Z"),
        (10.0, "2026-03-14T09:31:15Z"),
        (0.0, "2026-03-14T09:31:20Z"),
        (50.0, "2026-03-14T09:33:00Z"),
        (100.0, "2026-03-14T09:35:00Z"),
        (100.0, "2026-03-14T09:35:15Z"),
    ] {
        actions.extend(h.correlator.handle(now, weight(p, at)));
    }
    let steps: Vec<(cutover_events::emitted::DetailType, Option<f64>, String)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit { detail_type, detail, .. } => {
                Some((*detail_type, detail.traffic_percent.map(|p| p.0), detail.at.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (TrafficShifted, Some(10.0), "2026-03-14T09:31:00.000Z".to_owned()),
            (TrafficShifted, Some(50.0), "2026-03-14T09:33:00.000Z".to_owned()),
            (TrafficShifted, Some(100.0), "2026-03-14T09:35:00.000Z".to_owned()),
            (CutOver, None, "2026-03-14T09:35:00.000Z".to_owned()),
        ],
        "each new percentage once, in AWS's time; 100 % is the cut-over"
    );
    assert!(codedeploy_in_flight(&h.correlator).is_empty(), "cut over: nothing left to ask");
}

#[test]
fn a_census_of_old_tasks_at_the_start_proves_the_cut_over_when_their_running_events_were_never_seen() {
    use cutover_correlator::{CensusTask, Input, Observation};
    let lines = scenario_lines("rolling");
    // The two old tasks' RUNNING events came before Cutover was watching.
    let old: Vec<CensusTask> = lines[..2]
        .iter()
        .map(|l| {
            let d = &serde_json::from_str::<serde_json::Value>(l).unwrap()["detail"];
            CensusTask {
                task_arn: d["taskArn"].as_str().unwrap().to_owned(),
                started_by: d["startedBy"].as_str().map(str::to_owned),
                task_definition: d["taskDefinitionArn"].as_str().map(str::to_owned),
                running: true,
            }
        })
        .collect();
    let cut_over = |h: &Harness| h.decisions().into_iter().find(|d| d.1 == CutOver).map(|d| d.2.to_string());

    let mut without = Harness::new(scenario_routing("rolling"));
    for l in &lines[2..] {
        without.feed(l);
    }
    assert_eq!(
        cut_over(&without).as_deref(),
        Some("2026-03-14T09:35:44.400Z"),
        "no old task known: waits for COMPLETED"
    );

    let mut with = Harness::new(scenario_routing("rolling"));
    with.feed(&lines[2]);
    let wanted = with.correlator.wanted().census;
    assert_eq!(wanted.len(), 1, "{wanted:?}");
    assert_eq!((wanted[0].cluster.as_str(), wanted[0].service.as_str()), ("prod-eu", "storefront"));
    let census = Observation::ServiceTasks {
        service_key: wanted[0].service_key.clone(),
        at: ts("2026-03-14T09:30:01Z"),
        tasks: old,
    };
    let now = with.now;
    assert!(with.correlator.handle(now, Input::Observed(census)).is_empty(), "a census alone decides nothing");
    assert!(with.correlator.wanted().census.is_empty(), "one census per service");
    for l in &lines[3..] {
        with.feed(l);
    }
    assert_eq!(cut_over(&with).as_deref(), Some("2026-03-14T09:31:41.900Z"), "{:?}", with.decisions());
    harness::assert_consistent(&with.decisions(), "census");
}

/// The lifecycle decided, as `(type, percent, at)`.
fn steps_of(actions: &[Action]) -> Vec<(cutover_events::emitted::DetailType, Option<f64>, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit { detail_type, detail, .. } => {
                Some((*detail_type, detail.traffic_percent.map(|p| p.0), detail.at.to_string()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn lost_codedeploy_events_are_stood_in_for_by_get_deployment_target_and_get_deployment_at_aws_time() {
    use cutover_correlator::{CodeDeployChange, CodeDeployFact, Input, Observation};
    let lines = scenario_lines("codedeploy-sns");
    let mut h = Harness::new(scenario_routing("codedeploy-sns"));
    // Only CREATED and IN_PROGRESS arrive: the AllowTraffic and SUCCEEDED triggers are lost.
    h.feed(&lines[0]);
    h.feed(&lines[1]);
    let in_flight = h.correlator.wanted().in_flight;
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].application.as_deref(), Some("AppECS-prod-eu-checkout"));
    let observe = |change: CodeDeployChange, target: Option<(String, String)>, at: &str| {
        Input::Observed(Observation::CodeDeploy(CodeDeployFact {
            deployment_id: "d-7QHX0M2PB".into(),
            application: None,
            deployment_group: None,
            target,
            rollback_of: None,
            change,
            at: ts(at),
        }))
    };
    let now = ts("2026-03-14T09:40:00Z");
    let target = Some(("prod-eu".to_owned(), "checkout".to_owned()));
    let mut actions = Vec::new();
    // GetDeploymentTarget's AllowTraffic (Succeeded, endTime), asked twice; then GetDeployment.
    for (change, target, at) in [
        (CodeDeployChange::Started, None, "2026-03-14T09:30:00Z"),
        (CodeDeployChange::TargetCutOver, target.clone(), "2026-03-14T09:32:29Z"),
        (CodeDeployChange::TargetCutOver, target, "2026-03-14T09:32:29Z"),
        (CodeDeployChange::Succeeded, None, "2026-03-14T09:38:00Z"),
        (CodeDeployChange::Succeeded, None, "2026-03-14T09:38:00Z"),
    ] {
        actions.extend(h.correlator.handle(now, observe(change, target, at)));
    }
    assert_eq!(
        steps_of(&actions),
        vec![
            (CutOver, None, "2026-03-14T09:32:29.000Z".to_owned()),
            (Completed, None, "2026-03-14T09:38:00.000Z".to_owned()),
        ],
        "the same instants as the lost events (expected.json of codedeploy-sns), each once"
    );
    let cut = emits(&actions)[0];
    assert_eq!((cut.cluster.as_deref(), cut.service.as_deref()), (Some("prod-eu"), Some("checkout")));
    assert!(h.correlator.wanted().in_flight.is_empty(), "completed: nothing left to ask");

    // An observation about a deployment Cutover does not follow changes nothing.
    let stray = Input::Observed(Observation::CodeDeploy(CodeDeployFact {
        deployment_id: "d-UNKNOWN00".into(),
        application: None,
        deployment_group: None,
        target: None,
        rollback_of: None,
        change: CodeDeployChange::Succeeded,
        at: ts("2026-03-14T09:39:00Z"),
    }));
    assert!(h.correlator.handle(now, stray).is_empty());
    assert!(h.correlator.deployment("d-UNKNOWN00").is_none());
}

#[test]
fn a_rollout_state_read_at_start_up_finishes_an_ecs_rolling_deployment_whose_events_were_missed() {
    use cutover_correlator::{EcsDeploymentChange, Input, Observation};
    let lines = scenario_lines("rolling");
    let mut h = Harness::new(scenario_routing("rolling"));
    // The deployment started; Cutover was down for the rest.
    h.feed(&lines[2]);
    let id = "ecs-svc/5211643699352071000";
    assert!(h.correlator.wanted().in_flight.is_empty(), "not asked about every round");
    let rolling = h.correlator.rolling_in_flight();
    assert_eq!(rolling.len(), 1);
    assert_eq!((rolling[0].cluster.as_deref(), rolling[0].service.as_deref()), (Some("prod-eu"), Some("storefront")));
    let now = ts("2026-03-14T10:00:00Z");
    let done = Observation::EcsRollout {
        deployment_id: id.into(),
        change: EcsDeploymentChange::Completed,
        at: ts("2026-03-14T09:35:44.400Z"),
    };
    let actions = h.correlator.handle(now, Input::Observed(done.clone()));
    assert_eq!(
        steps_of(&actions),
        vec![
            (CutOver, None, "2026-03-14T09:35:44.400Z".to_owned()),
            (Completed, None, "2026-03-14T09:35:44.400Z".to_owned()),
        ],
        "COMPLETED proves the cut-over at the latest (DESIGN.md), in AWS's time"
    );
    assert!(h.correlator.handle(now, Input::Observed(done)).is_empty(), "read again: nothing new");
    // The journal entry of an observation round-trips.
    let failed = Observation::EcsRollout {
        deployment_id: id.into(),
        change: EcsDeploymentChange::Failed { reason: Some("tasks failed to start".into()) },
        at: ts("2026-03-14T09:35:44.400Z"),
    };
    let json = serde_json::to_string(&failed).unwrap();
    assert_eq!(serde_json::from_str::<Observation>(&json).unwrap(), failed, "{json}");
}

#[test]
fn describe_service_deployments_gives_an_ecs_native_deployment_its_weights_cut_over_and_completion() {
    use cutover_correlator::{Input, NativeStatus, Observation};
    let lines = scenario_lines("ecs-native-hooks");
    let mut h = Harness::new(scenario_routing("ecs-native-hooks"));
    let arn = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod-eu/gateway/EZe5RNVLH6PPzHXINuP28";
    // The first hook event arrives; every later event is lost.
    h.feed(&lines[0]);
    let wanted = h.correlator.wanted().in_flight;
    assert_eq!(wanted[0].service_deployment_arn.as_deref(), Some(arn));
    let observe = |past: bool, weight: Option<f64>, status: NativeStatus, at: &str| {
        Input::Observed(Observation::ServiceDeployment {
            deployment_arn: arn.into(),
            past_production_shift: past,
            production_weight: weight,
            status,
            at: ts(at),
        })
    };
    let now = ts("2026-03-14T10:00:00Z");
    let mut actions = Vec::new();
    for (past, weight, status, at) in [
        (false, Some(0.0), NativeStatus::InProgress, "2026-03-14T09:33:00Z"),
        (false, Some(10.0), NativeStatus::InProgress, "2026-03-14T09:34:00Z"),
        (false, Some(10.0), NativeStatus::InProgress, "2026-03-14T09:35:00Z"),
        (true, Some(100.0), NativeStatus::InProgress, "2026-03-14T09:36:02Z"),
        (true, Some(100.0), NativeStatus::Successful, "2026-03-14T09:51:40Z"),
    ] {
        actions.extend(h.correlator.handle(now, observe(past, weight, status, at)));
    }
    assert_eq!(
        steps_of(&actions),
        vec![
            (TrafficShifted, Some(10.0), "2026-03-14T09:34:00.000Z".to_owned()),
            (TrafficShifted, Some(100.0), "2026-03-14T09:36:02.000Z".to_owned()),
            (CutOver, None, "2026-03-14T09:36:02.000Z".to_owned()),
            (Completed, None, "2026-03-14T09:51:40.000Z".to_owned()),
        ]
    );

    // A rollback status fails the deployment with the reason ECS gave.
    let mut h = Harness::new(scenario_routing("ecs-native-hooks"));
    h.feed(&lines[0]);
    let reason = "Service deployment rolled back because of a lifecycle hook failure.";
    let actions = h
        .correlator
        .handle(now, observe(false, None, NativeStatus::Failed { reason: reason.into() }, "2026-03-14T09:40:00Z"));
    let e = emits(&actions);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].reason.as_deref(), Some(reason));
    harness::assert_consistent(&h.decisions(), "native rollback");
}

/// The replies of `actions`, as `(deployment, thread, broadcast, text)`.
fn replies_of(actions: &[Action]) -> Vec<(String, String, bool, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SlackReply(m) => {
                Some((m.deployment_id.clone(), m.thread_of.clone().unwrap_or_default(), m.broadcast, m.text.clone()))
            }
            _ => None,
        })
        .collect()
}

fn route(toml_text: &str) -> cutover_correlator::routing::Route {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn each_traffic_step_is_a_thread_reply_and_the_message_is_updated_never_posted_again() {
    use cutover_correlator::{Input, Observation};
    let lines = scenario_lines("codedeploy-sns");
    let mut h = Harness::new(scenario_routing("codedeploy-sns"));
    h.feed(&lines[0]);
    h.feed(&lines[1]);
    let now = ts("2026-03-14T09:40:00Z");
    let mut actions = Vec::new();
    for (p, at) in [(10.0, "2026-03-14T09:31:00Z"), (10.0, "2026-03-14T09:31:30Z"), (100.0, "2026-03-14T09:35:00Z")] {
        let o = Observation::TrafficWeight { deployment_id: "d-7QHX0M2PB".into(), percent: p, at: ts(at) };
        actions.extend(h.correlator.handle(now, Input::Observed(o)));
    }
    let texts: Vec<String> = replies_of(&actions).into_iter().map(|r| r.3).collect();
    assert_eq!(
        texts,
        vec![
            ":arrows_counterclockwise: 10 % of production traffic on the new version at 09:31:00 UTC.",
            ":arrows_counterclockwise: 100 % of production traffic on the new version at 09:35:00 UTC.",
        ]
    );
    let posts = h.actions.iter().chain(&actions).filter(|a| matches!(a, Action::SlackPost(_))).count();
    let updates = actions.iter().filter(|a| matches!(a, Action::SlackUpdate(_))).count();
    assert_eq!((posts, updates), (1, 3), "one message; updated at 10 %, 100 % and the cut-over");
}

#[test]
fn a_route_broadcasts_and_mentions_on_failure_and_rollback() {
    let lines = scenario_lines("rolling-circuit-breaker");
    let mut routing = scenario_routing("rolling-circuit-breaker");
    routing.routes.insert(
        0,
        route(
            r#"
            cluster = "prod-*"
            channel = "deploys-prod"
            broadcast = ["failed", "rolled_back"]
            mention_on_failure = ["S0PAYMENTS", "U0LEAD0001"]
            mention_on_rollback = ["U0ONCALL01"]
            "#,
        ),
    );
    let mut h = Harness::new(routing);
    h.feed_all(lines.iter().map(String::as_str));
    let replies = replies_of(&h.actions);
    let failed = replies.iter().find(|r| r.3.starts_with(":x: Failed")).expect("a failure reply");
    assert_eq!(
        failed.3,
        ":x: Failed at 09:32:57 UTC: ECS deployment circuit breaker: task failed to start. cc <!subteam^S0PAYMENTS> <@U0LEAD0001>",
        "{replies:#?}"
    );
    assert!(failed.2, "broadcast: the route asks for failed");
    let rollback_started = replies.iter().find(|r| r.3.starts_with(":rewind: Rolling back")).unwrap();
    assert!(rollback_started.3.ends_with(" cc <@U0ONCALL01>"), "{}", rollback_started.3);
    assert!(!rollback_started.2);
    let rollback_cut = replies.iter().find(|r| r.3.contains("cut over at")).unwrap();
    assert!(rollback_cut.2, "rolled_back is broadcast: the rollback's cut-over reply");
    let broadcast_count = replies.iter().filter(|r| r.2).count();
    assert_eq!(broadcast_count, 2, "only what the route names: {replies:#?}");
    let quiet = replies_of(&{
        let mut h = Harness::new(scenario_routing("rolling-circuit-breaker"));
        h.feed_all(lines.iter().map(String::as_str));
        h.actions
    });
    assert!(quiet.iter().all(|r| !r.2 && !r.3.contains(" cc ")), "no broadcast or mention unless asked: {quiet:#?}");
}

#[test]
fn the_deployer_is_mentioned_on_failure_through_slack_people_unless_the_route_says_not() {
    use cutover_correlator::routing::SlackId;
    use cutover_correlator::{CodeDeployChange, CodeDeployFact, Input, Observation};
    let lines = scenario_lines("pipeline-linked");
    let failed = |mention_deployer: bool| {
        let mut routing = scenario_routing("pipeline-linked");
        routing.people.insert("Mary Major".into(), SlackId::new("U0MARY0001").unwrap());
        routing.routes.insert(
            0,
            route(&format!(
                "application = \"AppECS-prod-*\"\nchannel = \"deploys-prod\"\nmention_on_failure = [\"S0RELEASE1\"]\nmention_deployer = {mention_deployer}\n"
            )),
        );
        let mut h = Harness::new(routing);
        // The pipeline (started by Mary Major) runs the deployment; the action's end joins them.
        for i in [0, 1, 2, 3, 4, 5, 8] {
            h.feed(&lines[i]);
        }
        let failure = Observation::CodeDeploy(CodeDeployFact {
            deployment_id: "d-C3XYEM1QF".into(),
            application: None,
            deployment_group: None,
            target: None,
            rollback_of: None,
            change: CodeDeployChange::Failed { reason: Some("AllowTraffic failed".into()) },
            at: ts("2026-03-14T09:56:00Z"),
        });
        let now = h.now;
        let actions = h.correlator.handle(now, Input::Observed(failure));
        replies_of(&actions).into_iter().map(|r| r.3).collect::<Vec<_>>()
    };
    assert_eq!(
        failed(true),
        vec![":x: Failed at 09:56:00 UTC: AllowTraffic failed. cc <@U0MARY0001> <!subteam^S0RELEASE1>"]
    );
    assert_eq!(failed(false), vec![":x: Failed at 09:56:00 UTC: AllowTraffic failed. cc <!subteam^S0RELEASE1>"]);
}

#[test]
fn slack_ids_are_checked_when_the_config_is_read() {
    use cutover_correlator::routing::SlackId;
    assert_eq!(SlackId::new("U0123ABC").unwrap().mention(), "<@U0123ABC>");
    assert_eq!(SlackId::new("S0123ABC").unwrap().mention(), "<!subteam^S0123ABC>");
    for bad in ["@alice", "u0123abc", "C0123ABC", "U", "<@U0123>"] {
        assert!(SlackId::new(bad).is_err(), "{bad}");
    }
    let e = toml::from_str::<cutover_correlator::routing::Route>("mention_on_failure = [\"#oncall\"]").unwrap_err();
    assert!(e.to_string().contains("is not a Slack user"), "{e}");
    let e = toml::from_str::<cutover_correlator::routing::Route>("broadcast = [\"started\"]").unwrap_err();
    assert!(e.to_string().contains("unknown variant"), "{e}");
}

/// A deploy annotation as CI puts it on the bus (the shape of
/// `event-schemas/fixtures/annotation.github-actions.json`), at `time`.
fn annotation(detail: serde_json::Value, time: &str) -> String {
    json!({"version": "0", "id": format!("annotation-{time}"), "detail-type": "Cutover Deploy Annotation",
           "source": "cutover.annotate", "account": "123456789012", "time": time, "region": "eu-west-1",
           "resources": [], "detail": detail})
    .to_string()
}

fn storefront(extra: serde_json::Value) -> serde_json::Value {
    let mut d = json!({"cluster": "prod-eu", "service": "storefront", "commit": "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b",
                       "branch": "main", "actor": "octocat", "repository": "https://github.com/example/storefront"});
    d.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    d
}

#[test]
fn a_deploy_annotation_is_joined_by_image_tag_before_or_after_the_deployment_and_rides_in_its_events() {
    let lines = scenario_lines("rolling");
    let commit_of = |actions: &[Action]| {
        emits(actions).iter().map(|d| d.annotation.as_ref().and_then(|a| a.commit.clone())).collect::<Vec<_>>()
    };
    // Before: CI annotates, then deploys. A stale annotation of another version is not joined.
    let mut before = Harness::new(scenario_routing("rolling"));
    before.feed(&annotation(storefront(json!({"image_tag": "v122", "commit": "0000000"})), "2026-03-14T09:00:00Z"));
    before.feed(&annotation(storefront(json!({"image_tag": "v123"})), "2026-03-14T09:29:50Z"));
    before.feed_all(lines.iter().map(String::as_str));
    let commits = commit_of(&before.actions);
    // Started is decided before any task names the version: the newest annotation is the
    // guess, and the version confirms it.
    assert_eq!(commits.len(), 3);
    assert!(commits.iter().all(|c| c.as_deref() == Some("9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b")), "{commits:?}");
    // A guess the version contradicts is dropped.
    let mut wrong = Harness::new(scenario_routing("rolling"));
    wrong.feed(&annotation(storefront(json!({"image_tag": "v999"})), "2026-03-14T09:29:50Z"));
    wrong.feed_all(lines.iter().map(String::as_str));
    let commits = commit_of(&wrong.actions);
    assert_eq!(commits, vec![Some("9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b".to_owned()), None, None]);
    let last_update = before.actions.iter().rev().find_map(|a| match a {
        Action::SlackUpdate(m) => Some(serde_json::Value::from(m.blocks.clone()).to_string()),
        _ => None,
    });
    let blocks = last_update.unwrap();
    assert!(
        blocks.contains(
            "<https://github.com/example/storefront/commit/9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b|`9f1c2ab7`>"
        ),
        "{blocks}"
    );
    assert!(blocks.contains("*Started by*\\noctocat") && blocks.contains("*Branch or tag*\\nmain"), "{blocks}");

    // After: the deployment ran first; the annotation updates its message at once.
    let mut after = Harness::new(scenario_routing("rolling"));
    after.feed_all(lines.iter().map(String::as_str));
    let n = after.actions.len();
    after.feed(&annotation(storefront(json!({"task_definition": "storefront:42"})), "2026-03-14T09:40:00Z"));
    let new = &after.actions[n..];
    assert!(
        matches!(new, [Action::SlackUpdate(m)] if serde_json::Value::from(m.blocks.clone()).to_string().contains("9f1c2ab7")),
        "{new:?}"
    );
    // A second annotation of the same deployment changes nothing.
    after.feed(&annotation(storefront(json!({"image_tag": "v123", "commit": "1111111"})), "2026-03-14T09:41:00Z"));
    assert_eq!(after.actions.len(), n + 1);
}

#[test]
fn an_annotation_names_the_channel_and_its_actor_is_the_deployer_mentioned_on_failure() {
    use cutover_correlator::routing::SlackId;
    let lines = scenario_lines("rolling-circuit-breaker");
    let mut routing = scenario_routing("rolling-circuit-breaker");
    routing.people.insert("octocat".into(), SlackId::new("U0OCTOCAT1").unwrap());
    let mut h = Harness::new(routing);
    let detail = json!({"cluster": "prod-eu", "service": "payments", "image_tag": "2.4.0", "actor": "octocat",
                        "channel": "C0PAYMENTS"});
    h.feed(&annotation(detail, "2026-03-14T09:29:00Z"));
    h.feed_all(lines.iter().map(String::as_str));
    let posts: Vec<&str> = h
        .actions
        .iter()
        .filter_map(|a| if let Action::SlackPost(m) = a { Some(m.channel.as_str()) } else { None })
        .collect();
    assert_eq!(posts, vec!["C0PAYMENTS"], "the annotation's channel, not the route's");
    let failed = replies_of(&h.actions).into_iter().find(|r| r.3.starts_with(":x: Failed")).unwrap();
    assert!(failed.3.ends_with(" cc <@U0OCTOCAT1>"), "{}", failed.3);
    assert!(replies_of(&h.actions).iter().all(|r| r.1 == "ecs-svc/2222222222222222222"));
}

#[test]
fn a_completed_invalidation_is_one_reply_with_its_id_and_times() {
    use cutover_correlator::{Input, Observation};
    let mut h = Harness::new(scenario_routing("rolling"));
    h.feed_all(scenario_lines("rolling").iter().map(String::as_str));
    let wanted = h.correlator.wanted().invalidations;
    assert_eq!(wanted.len(), 1, "{wanted:?}");
    assert_eq!(wanted[0].distribution_id, "E2QWRUHAPOMQZL");
    let invalidate = h.actions.iter().find_map(|a| if let Action::Invalidate(i) = a { Some(i) } else { None }).unwrap();
    assert_eq!(wanted[0].caller_reference, invalidate.caller_reference);
    let done = Observation::InvalidationDone {
        deployment_id: wanted[0].deployment_id.clone(),
        distribution_id: "E2QWRUHAPOMQZL".into(),
        invalidation_id: "I2OURS0000001".into(),
        created_at: ts("2026-03-14T09:31:43Z"),
        completed_by: ts("2026-03-14T09:33:10Z"),
    };
    let now = h.now;
    let out = h.correlator.handle(now, Input::Observed(done.clone()));
    assert_eq!(
        replies_of(&out).into_iter().map(|r| r.3).collect::<Vec<_>>(),
        vec![
            ":broom: CloudFront invalidation `I2OURS0000001` of `E2QWRUHAPOMQZL` (`/*`): created 09:31:43 UTC, completed by 09:33:10 UTC."
        ]
    );
    assert!(h.correlator.handle(now, Input::Observed(done)).is_empty(), "reported once");
    assert!(h.correlator.wanted().invalidations.is_empty());
}

#[test]
fn oci_labels_of_the_task_definition_give_the_message_its_commit_and_image_version() {
    use cutover_correlator::{ImageLabels, Input, Observation};
    let lines = scenario_lines("rolling");
    let mut h = Harness::new(scenario_routing("rolling"));
    // Until a new task names the task definition, there is nothing to read.
    h.feed_all(lines[..4].iter().map(String::as_str));
    let td = "arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:42";
    assert_eq!(h.correlator.wanted().labels, vec![td.to_owned()]);
    let labels = ImageLabels {
        revision: Some("9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b".into()),
        source: Some("https://github.com/example/storefront.git".into()),
        version: Some("2.4.0".into()),
        created: Some("2026-03-14T09:12:40Z".into()),
    };
    let o = Observation::TaskDefinitionLabels { task_definition: td.into(), labels };
    let now = h.now;
    let out = h.correlator.handle(now, Input::Observed(o.clone()));
    let [Action::SlackUpdate(m)] = out.as_slice() else { panic!("one update: {out:?}") };
    let blocks = serde_json::Value::from(m.blocks.clone()).to_string();
    assert!(
        blocks.contains(
            "<https://github.com/example/storefront/commit/9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b|`9f1c2ab7`>"
        ),
        "{blocks}"
    );
    assert!(h.correlator.wanted().labels.is_empty(), "read once");
    assert!(h.correlator.handle(now, Input::Observed(o)).is_empty(), "the same labels again change nothing");
    h.feed_all(lines[4..].iter().map(String::as_str));
    let last =
        h.actions.iter().rev().find_map(|a| if let Action::SlackUpdate(m) = a { Some(m) } else { None }).unwrap();
    let blocks = serde_json::Value::from(last.blocks.clone()).to_string();
    assert!(blocks.contains("*Version*\\n`v123` (2.4.0)") && blocks.contains("9f1c2ab7"), "{blocks}");
    assert!(
        blocks.contains("built 09:12:40 UTC → started 09:30:00 UTC"),
        "the progress line starts at the build: {blocks}"
    );
}

#[test]
fn a_route_on_service_tags_holds_the_post_until_the_tags_are_read() {
    use cutover_correlator::{Input, Observation};
    let lines = scenario_lines("rolling");
    let with_tag_route = || {
        let mut routing = scenario_routing("rolling");
        routing.routes.insert(
            0,
            route("tags = { team = \"web\", environment = \"prod*\" }\nenvironment = \"production\"\nchannel = \"web-deploys\"\n"),
        );
        routing
    };
    let posts = |actions: &[Action]| -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| if let Action::SlackPost(m) = a { Some(m.channel.clone()) } else { None })
            .collect()
    };
    let tags = |pairs: &[(&str, &str)]| Observation::ServiceTags {
        cluster: "prod-eu".into(),
        service: "storefront".into(),
        tags: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        service_arn: None,
    };

    // Started is emitted at once; its post waits for the tags, which route it.
    let mut h = Harness::new(with_tag_route());
    h.feed(&lines[2]);
    assert_eq!(emits(&h.actions).len(), 1);
    assert!(posts(&h.actions).is_empty(), "held for the tags");
    assert_eq!(h.correlator.wanted().tags, vec![("prod-eu".to_owned(), "storefront".to_owned())]);
    let now = h.now;
    let out = h.correlator.handle(now, Input::Observed(tags(&[("team", "web"), ("environment", "production")])));
    assert_eq!(posts(&out), vec!["web-deploys"]);
    h.actions.extend(out);
    assert!(h.correlator.wanted().tags.is_empty());
    h.feed_all(lines[3..].iter().map(String::as_str));
    assert_eq!(posts(&h.actions).len(), 1, "never posted again");

    // Tags that do not match: the next route.
    let mut h = Harness::new(with_tag_route());
    h.feed(&lines[2]);
    let now = h.now;
    let out = h.correlator.handle(now, Input::Observed(tags(&[("team", "payments")])));
    assert_eq!(posts(&out), vec!["deploys-prod"]);

    // Without the reconciler (replay), the post goes out at the next step, by the other routes.
    let mut h = Harness::new(with_tag_route());
    h.feed_all(lines.iter().map(String::as_str));
    assert_eq!(posts(&h.actions), vec!["deploys-prod"]);
    let first_post = h.actions.iter().position(|a| matches!(a, Action::SlackPost(_))).unwrap();
    assert!(
        matches!(&h.actions[first_post - 1], Action::Emit { detail_type: CutOver, .. }),
        "posted with the cut-over"
    );
    // Routes without tags read none, and the post is not held.
    let mut h = Harness::new(scenario_routing("rolling"));
    h.feed(&lines[2]);
    assert!(h.correlator.wanted().tags.is_empty());
    assert_eq!(posts(&h.actions), vec!["deploys-prod"]);
}

#[test]
fn the_same_cluster_and_service_in_two_regions_and_accounts_share_neither_tags_nor_annotations() {
    use cutover_correlator::{Input, Observation};
    let eu = scenario_lines("rolling");
    // The same rollout of `prod-eu/storefront` in another region and account: other ids, the
    // same names.
    let us: Vec<String> = eu
        .iter()
        .map(|l| {
            l.replace("eu-west-1", "us-east-1")
                .replace("123456789012", "210987654321")
                .replace("ecs-svc/", "ecs-svc/9")
                .replace("\"id\":\"", "\"id\":\"us-")
        })
        .collect();
    let mut routing = scenario_routing("rolling");
    routing.routes.insert(0, route("tags = { team = \"web\" }\nchannel = \"web-deploys\"\n"));
    let mut h = Harness::new(routing);
    h.feed(&eu[2]);
    h.feed(&us[2]);
    let posts = |actions: &[Action]| -> Vec<(String, String)> {
        actions
            .iter()
            .filter_map(|a| {
                if let Action::SlackPost(m) = a { Some((m.deployment_id.clone(), m.channel.clone())) } else { None }
            })
            .collect()
    };
    assert!(posts(&h.actions).is_empty(), "both held for their tags");
    // DescribeServices in eu-west-1 answers for its own service.
    let tags = Observation::ServiceTags {
        cluster: "prod-eu".into(),
        service: "storefront".into(),
        tags: [("team".to_owned(), "web".to_owned())].into(),
        service_arn: Some("arn:aws:ecs:eu-west-1:123456789012:service/prod-eu/storefront".into()),
    };
    let now = h.now;
    let out = h.correlator.handle(now, Input::Observed(tags));
    assert_eq!(posts(&out), vec![("ecs-svc/5211643699352071000".to_owned(), "web-deploys".to_owned())]);
    assert_eq!(
        h.correlator.wanted().tags,
        vec![("prod-eu".to_owned(), "storefront".to_owned())],
        "us-east-1's still unread"
    );
    // An annotation from account 123456789012 joins that account's deployment only.
    h.feed(&annotation(storefront(json!({"image_tag": "v123"})), "2026-03-14T09:31:00Z"));
    h.feed_all(eu[3..].iter().chain(&us[3..]).map(String::as_str));
    let eu_d = h.correlator.deployment("ecs-svc/5211643699352071000").unwrap();
    let us_d = h.correlator.deployment("ecs-svc/95211643699352071000").unwrap();
    assert!(eu_d.annotation.is_some(), "joined in its own account");
    assert!(us_d.annotation.is_none(), "not joined across accounts");
}

#[test]
fn the_approver_joins_the_message_and_the_pipeline_context_once_read() {
    use cutover_correlator::{Input, Observation};
    let lines = scenario_lines("pipeline-linked");
    let mut h = Harness::new(scenario_routing("pipeline-linked"));
    h.feed_all(lines.iter().map(String::as_str));
    let exec = "e17b5773-cc0d-4db2-9ad7-594c73888de8";
    assert_eq!(h.correlator.wanted().approvals, vec![("storefront-release".to_owned(), exec.to_owned())]);
    let approval = Observation::Approval {
        execution_id: exec.into(),
        approved_by: Some("arn:aws:iam::123456789012:user/mary.major".into()),
        comment: None,
    };
    let now = h.now;
    let out = h.correlator.handle(now, Input::Observed(approval.clone()));
    let [Action::SlackUpdate(m)] = out.as_slice() else { panic!("one update: {out:?}") };
    let blocks = serde_json::Value::from(m.blocks.clone()).to_string();
    assert!(
        blocks.contains("*Approved*\\n09:50:00 UTC by mary.major for execution `e17b5773`"),
        "who approved which execution: {blocks}"
    );
    assert!(h.correlator.wanted().approvals.is_empty(), "asked once");
    assert!(h.correlator.handle(now, Input::Observed(approval)).is_empty());
}

#[test]
fn observations_in_cutovers_own_time_never_move_the_event_clock() {
    use cutover_correlator::{Input, Observation};
    // A census answered "now" (Cutover's clock), months after the events: the found regression
    // was a clock jump that expired every deployment and dedupe key, so redeliveries were
    // decided again (seen as duplicates in the kill test).
    let lines = scenario_lines("rolling");
    let mut h = Harness::new(scenario_routing("rolling"));
    h.feed_all(lines.iter().map(String::as_str));
    let before = h.correlator.clock();
    let wanted_key = "eu-west-1:123456789012:prod-eu/storefront".to_owned();
    let later = ts("2026-11-22T23:40:00Z");
    let census = Observation::ServiceTasks { service_key: wanted_key.as_str().into(), at: later, tasks: Vec::new() };
    let done = Observation::InvalidationDone {
        deployment_id: "ecs-svc/5211643699352071000".into(),
        distribution_id: "E2QWRUHAPOMQZL".into(),
        invalidation_id: "I1".into(),
        created_at: later,
        completed_by: later,
    };
    for o in [census, done] {
        let _ = h.correlator.handle(later, Input::Observed(o));
    }
    assert_eq!(h.correlator.clock(), before);
    let _ = h.correlator.handle_timeout(h.correlator.clock());
    assert!(h.correlator.deployment("ecs-svc/5211643699352071000").is_some(), "not expired");
    let n = h.actions.len();
    h.feed_all(lines.iter().map(String::as_str));
    assert_eq!(h.actions.len(), n, "every redelivery is still a duplicate");
}

#[test]
fn a_deployment_whose_tasks_all_stopped_never_cuts_over_when_the_old_tasks_stop_later() {
    // Found by the kill test: the failed deployment's FAILED event and its rollback's start
    // were held back (in flight in a killed process) while the rollback stopping the old tasks
    // arrived. Its own tasks had run, then been told to stop: it never had the traffic.
    let lines = scenario_lines("rolling-circuit-breaker");
    let mut h = Harness::new(scenario_routing("rolling-circuit-breaker"));
    let held = [19, 20];
    for (i, l) in lines.iter().enumerate().take(32) {
        if !held.contains(&i) && !(21..=28).contains(&i) {
            h.feed(l);
        }
    }
    let cut = |h: &Harness| h.decisions().iter().any(|d| d.0 == "ecs-svc/2222222222222222222" && d.1 == CutOver);
    assert!(!cut(&h), "{:?}", h.decisions());
    for i in held.into_iter().chain(21..=28).chain(32..lines.len()) {
        h.feed(&lines[i]);
    }
    assert!(!cut(&h), "{:?}", h.decisions());
    let per = per_deployment(&h.decisions());
    assert_eq!(
        per["ecs-svc/2222222222222222222"].iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![Started, Failed, RolledBack]
    );
    harness::assert_consistent(&h.decisions(), "held back");
}

/// A quiet stretch past the retention (`serve` calls `handle_timeout` with the event time it
/// has reached): every deployment is forgotten, and the same messages redelivered after it are
/// stale (counted, deciding nothing), never new deployments posted again.
#[test]
fn a_timeout_past_the_retention_forgets_everything_and_a_late_redelivery_is_stale() {
    let lines = scenario_lines("rolling");
    let mut h = Harness::new(scenario_routing("rolling"));
    h.feed_all(lines.iter().map(String::as_str));
    assert!(h.correlator.deployments_held() > 0);
    let Some(next) = h.correlator.next_timeout() else { panic!("state to expire, so a timeout") };
    assert!(next > h.correlator.clock(), "the next sweep is ahead of the event clock");
    let eight_days = h.correlator.clock().plus_millis(8 * 24 * 3600 * 1000);
    assert!(h.correlator.handle_timeout(eight_days).is_empty(), "a timeout decides nothing");
    assert_eq!(h.correlator.clock(), eight_days, "the event clock follows the quiet stretch");
    assert_eq!(h.correlator.deployments_held(), 0, "past the retention: forgotten");
    let (n, stale) = (h.actions.len(), h.correlator.stats().stale);
    h.feed_all(lines.iter().map(String::as_str));
    assert_eq!(h.actions.len(), n, "a redelivery after the timeout decides nothing");
    assert_eq!(h.correlator.stats().stale - stale, lines.len() as u64, "each line counted stale");
}
