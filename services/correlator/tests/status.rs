//! `/cutover status` reads the correlator: after every message of every recorded scenario, what
//! it says runs and what it says is in flight agree with the lifecycle events decided so far.

mod harness;

use std::collections::{BTreeMap, BTreeSet};

use cutover_correlator::{Action, Correlator, Input};
use cutover_events::Timestamp;
use cutover_events::emitted::DetailType;
use cutover_events::parse_body;
use harness::{scenario_lines, scenario_routing};

#[test]
fn status_agrees_with_the_decisions_after_every_message() {
    let (mut saw_running, mut saw_moving) = (false, false);
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let mut c = Correlator::new(scenario_routing(&name));
        // Per deployment: the steps decided, with their times.
        let mut steps: BTreeMap<String, Vec<(DetailType, Timestamp)>> = BTreeMap::new();
        for line in scenario_lines(&name) {
            let Ok(message) = parse_body(&line) else { continue };
            let now = c.clock().plus_millis(250);
            for action in c.handle(now, Input::Message(Box::new(message))) {
                if let Action::Emit { detail_type, detail, .. } = action {
                    steps.entry(detail.deployment_id.clone()).or_default().push((detail_type, detail.at));
                }
            }
            let has = |id: &str, t: DetailType| steps.get(id).is_some_and(|s| s.iter().any(|(d, _)| *d == t));
            let board = c.status(None, None);
            for m in &board.in_flight {
                assert!(has(&m.deployment_id, DetailType::Started), "{name}: {m:?} never started");
                assert!(
                    !has(&m.deployment_id, DetailType::Completed) && !has(&m.deployment_id, DetailType::Failed),
                    "{name}: {m:?} is over"
                );
                saw_moving = true;
            }
            for r in &board.running {
                let cut = steps[&r.deployment_id].iter().find(|(d, _)| *d == DetailType::CutOver).map(|(_, at)| *at);
                assert_eq!(cut, Some(r.since), "{name}: {r:?} runs since its cut-over");
                assert!(!has(&r.deployment_id, DetailType::RolledBack), "{name}: {r:?} was rolled back");
                saw_running = true;
            }
            // One version per target and environment.
            let targets: BTreeSet<_> = board.running.iter().map(|r| (&r.target, &r.environment)).collect();
            assert_eq!(targets.len(), board.running.len(), "{name}: {:?}", board.running);
            // Every deployment that cut over and was not undone, or a newer one of its target, runs.
            for (id, s) in &steps {
                let undone = s.iter().any(|(d, _)| matches!(d, DetailType::RolledBack | DetailType::Failed));
                if undone || !s.iter().any(|(d, _)| *d == DetailType::CutOver) {
                    continue;
                }
                let d = c.deployment(id).unwrap();
                assert!(
                    board.running.iter().any(|r| r.deployment_id == *id
                        || (r.environment == d.target.environment
                            && d.cut_over_at().is_some_and(|at| at <= r.since)
                            && [&d.target.service, &d.target.deployment_group]
                                .iter()
                                .any(|n| n.as_deref().is_some_and(|n| r.target.ends_with(&format!("/{n}")))))),
                    "{name}: {id} cut over and is not running: {:?}",
                    board.running
                );
            }
        }
    }
    assert!(saw_running && saw_moving, "the scenarios cover running and in flight");
}

#[test]
fn status_filters_by_service_and_environment() {
    let name = "rolling";
    let mut c = Correlator::new(scenario_routing(name));
    for line in scenario_lines(name) {
        let now = c.clock().plus_millis(250);
        let _ = c.handle(now, Input::Message(Box::new(parse_body(&line).unwrap())));
    }
    let all = c.status(None, None);
    assert!(!all.running.is_empty());
    let first = &all.running[0];
    let service = first.target.rsplit('/').next().unwrap();
    let mine = c.status(Some(service), first.environment.as_deref());
    assert!(mine.running.iter().all(|r| r.target.ends_with(&format!("/{service}"))), "{mine:?}");
    assert!(mine.running.contains(first));
    assert_eq!(c.status(Some("no-such-service"), None), Default::default());
    assert!(c.status(None, Some("no-such-environment")).running.is_empty());
}
