//! The inbound parser on arbitrary bytes: it must return a message or a reason, never panic,
//! overflow the stack or take time out of proportion to the input. A rejection's reason is
//! never empty, has a kind for metrics, and is one short line. What the admission check
//! (`parse_body_at`) accepts has only true times and ids: every time a fact carries lies between
//! 2015 and 15 minutes ahead of the clock, and no id holds a control character or exceeds AWS's
//! lengths (DESIGN.md, "Times that cannot be true", "Identifiers").
#![no_main]

use cutover_correlator::facts::{Fact, Normalised, normalise};
use cutover_events::Timestamp;
use libfuzzer_sys::fuzz_target;

/// A fixed wall clock, so a finding reproduces: 2026-12-01T00:00:00Z.
const WALL: Timestamp = Timestamp(1_796_083_200_000);

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    match cutover_events::parse_body(body) {
        Ok(message) => {
            // What the intake does next with a parsed message must not panic either.
            let _ = message.origin();
        }
        Err(rejected) => {
            assert!(!rejected.to_string().is_empty(), "a rejection says why");
            let _ = rejected.kind();
        }
    }
    match cutover_events::parse_body_at(body, WALL) {
        Ok(message) => {
            let Normalised::Facts(facts) = normalise(message) else { return };
            for fact in facts {
                assert!(fact.at().plausible(WALL).is_ok(), "an admitted fact at {} ({fact:?})", fact.at());
                let ids: Vec<&str> = match &fact {
                    Fact::Task(t) => vec![&t.task_arn, t.service.key.as_str()],
                    Fact::EcsDeployment { deployment_id, service, .. } => vec![deployment_id, service.key.as_str()],
                    Fact::EcsHook { deployment_arn, service, .. } => vec![deployment_arn, service.key.as_str()],
                    Fact::CodeDeploy(c) => vec![&c.deployment_id],
                    Fact::Pipeline(p) => vec![&p.pipeline, &p.execution_id],
                    _ => vec![],
                };
                for id in ids {
                    assert!(!id.chars().any(char::is_control) && id.len() <= 8 * 2048, "an admitted id {id:?}");
                }
            }
        }
        Err(rejected) => assert!(!rejected.to_string().contains('\n') && rejected.to_string().len() < 4_096, "a reason is one short line"),
    }
});
