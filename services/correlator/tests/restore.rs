//! A correlator resumed from its serialised state decides exactly what it would have decided
//! without the restart: the indexes derived from the state (each service's open deployments,
//! the rollbacks by the deployment they undo) are rebuilt by `with_state`. Every recorded
//! scenario, restarted after every message.

mod harness;

use cutover_correlator::{Correlator, Input, State};
use cutover_events::parse_body;
use harness::{scenario_lines, scenario_routing};

fn scenarios() -> Vec<String> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn run(name: &str, restart_every_message: bool) -> Vec<String> {
    let mut c = Correlator::new(scenario_routing(name));
    let mut out = Vec::new();
    for line in scenario_lines(name) {
        let message = parse_body(&line).unwrap();
        let now = c.clock().plus_millis(250);
        out.extend(c.handle(now, Input::Message(Box::new(message))).iter().map(|a| serde_json::to_string(a).unwrap()));
        if restart_every_message {
            let state: State = serde_json::from_str(&serde_json::to_string(c.state()).unwrap()).unwrap();
            c = Correlator::new(scenario_routing(name)).with_state(state);
        }
    }
    out
}

#[test]
fn every_scenario_decides_the_same_when_restarted_after_every_message() {
    let names = scenarios();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let straight = run(&name, false);
        assert!(!straight.is_empty(), "{name}");
        let restarted = run(&name, true);
        assert_eq!(straight.len(), restarted.len(), "{name}: the same number of actions");
        for (i, (a, b)) in straight.iter().zip(&restarted).enumerate() {
            assert_eq!(a, b, "{name}: action {i}");
        }
    }
}
