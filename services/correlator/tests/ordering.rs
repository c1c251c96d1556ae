//! At-least-once, out-of-order delivery (DESIGN.md, "Online, never revised"):
//! - every message duplicated anywhere after itself, plus neighbouring events of different
//!   tasks or sources swapped, gives the same lifecycle events with the same `at`;
//! - any shuffle at all still gives consistent ones: never two of one lifecycle event, never a
//!   Cut Over after a terminal event.

mod harness;

use cutover_events::{Event, parse_body};
use harness::{Harness, SCENARIOS, assert_consistent, decisions, per_deployment, scenario_lines, scenario_routing};
use proptest::prelude::*;

/// The ordered stream an event belongs to: one task, one deployment's deployment events, one
/// deployment's CodeDeploy events per path, one pipeline execution.
fn stream_of(body: &str) -> String {
    let m = parse_body(body).expect("scenario lines parse");
    match m.event {
        Event::EcsTask { detail, .. } => format!("task:{}", detail.task_arn),
        Event::EcsDeployment { detail, .. } => format!("ecs-deployment:{}", detail.deployment_id),
        Event::EcsHook { detail, .. } => format!("hook:{}", detail.service_deployment_arn),
        Event::CodeDeployDeployment { detail, .. } | Event::CodeDeployInstance { detail, .. } => {
            format!("codedeploy-eb:{}", detail.deployment_id)
        }
        Event::CodeDeployTrigger { trigger, .. } => format!("codedeploy-sns:{}", trigger.deployment_id),
        Event::Pipeline { detail, .. } => format!("pipeline:{}", detail.execution_id),
        _ => format!("other:{}", m.dedupe_key),
    }
}

fn run(name: &str, lines: &[String]) -> Vec<harness::Decision> {
    let mut h = Harness::new(scenario_routing(name));
    h.feed_all(lines.iter().map(String::as_str));
    decisions(&h.actions)
}

/// Swaps neighbours of different streams where `swap[i]` says so (non-overlapping), then
/// inserts a copy of each message `dup[i]` positions after it.
fn perturb(lines: &[String], swap: &[bool], dup: &[usize]) -> Vec<String> {
    let mut v = lines.to_vec();
    let mut i = 0;
    while i + 1 < v.len() {
        if swap.get(i).copied().unwrap_or(false) && stream_of(&v[i]) != stream_of(&v[i + 1]) {
            v.swap(i, i + 1);
            i += 2;
        } else {
            i += 1;
        }
    }
    let mut out: Vec<(usize, u8, String)> = v.iter().enumerate().map(|(i, l)| (i * 2, 0, l.clone())).collect();
    for (i, l) in v.iter().enumerate() {
        let offset = dup.get(i).copied().unwrap_or(1).max(1);
        // Sorts after the original and after the `offset`-th message following it.
        out.push(((i + offset) * 2 + 1, 1, l.clone()));
    }
    out.sort_by_key(|(pos, kind, _)| (*pos, *kind));
    out.into_iter().map(|(_, _, l)| l).collect()
}

fn scenario_and_noise() -> impl Strategy<Value = (usize, Vec<bool>, Vec<usize>)> {
    (0..SCENARIOS.len(), proptest::collection::vec(any::<bool>(), 64), proptest::collection::vec(1usize..40, 64))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn duplicated_and_neighbour_swapped_streams_decide_the_same(
        (index, swap, dup) in scenario_and_noise()
    ) {
        let name = SCENARIOS[index];
        let lines = scenario_lines(name);
        let expected = per_deployment(&run(name, &lines));
        let perturbed = perturb(&lines, &swap, &dup);
        prop_assert_eq!(perturbed.len(), lines.len() * 2);
        let actual = per_deployment(&run(name, &perturbed));
        prop_assert_eq!(actual, expected, "scenario {}", name);
    }

    #[test]
    fn any_shuffle_stays_consistent(
        index in 0..SCENARIOS.len(),
        keys in proptest::collection::vec(any::<u32>(), 128),
        dup in proptest::collection::vec(any::<bool>(), 128),
    ) {
        let name = SCENARIOS[index];
        let lines = scenario_lines(name);
        let mut shuffled: Vec<(u32, String)> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            shuffled.push((keys[i % keys.len()].wrapping_add(i as u32), l.clone()));
            if dup[i % dup.len()] {
                shuffled.push((keys[(i * 7 + 3) % keys.len()], l.clone()));
            }
        }
        shuffled.sort_by_key(|(k, _)| *k);
        let lines: Vec<String> = shuffled.into_iter().map(|(_, l)| l).collect();
        assert_consistent(&run(name, &lines), name);
    }
}

#[test]
fn perturbation_really_moves_and_duplicates_events() {
    let lines = scenario_lines("rolling-circuit-breaker");
    let perturbed = perturb(&lines, &[true; 64], &[3; 64]);
    assert_eq!(perturbed.len(), lines.len() * 2);
    let firsts: Vec<&String> = {
        let mut seen = std::collections::HashSet::new();
        perturbed.iter().filter(|l| seen.insert(l.as_str())).collect()
    };
    assert_ne!(
        firsts.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        lines.iter().map(String::as_str).collect::<Vec<_>>()
    );
}
