//! The conformance suite every [`Store`] passes: SQLite in its unit tests, DynamoDB against
//! the emulator (tests/tests/dynamodb.rs). Public so other crates' tests can run it; it panics
//! on the first broken expectation.

use cutover_correlator::Action;
use cutover_correlator::action::Invalidation;
use cutover_events::Timestamp;

use super::{Lane, NewAction, Status, Store};

/// An invalidation action about `dep`.
pub fn invalidation(dep: &str) -> Action {
    Action::Invalidate(Invalidation {
        deployment_id: dep.into(),
        distribution_id: "E1".into(),
        paths: vec!["/*".into()],
        caller_reference: format!("ref-{dep}"),
    })
}

/// A sink's action about `dep`.
pub fn sink(name: &str, dep: &str) -> Action {
    let delivery = serde_json::json!({
        "sink": name,
        "kind": "webhook",
        "delivery_id": format!("{name}-{dep}"),
        "detail_type": "Deployment Started",
        "detail": {"deployment_id": dep, "strategy": "ecs-rolling", "at": "2023-11-14T22:13:20Z", "observed_at": "2023-11-14T22:13:20Z"},
    });
    Action::Sink(Box::new(serde_json::from_value(delivery).expect("a sink delivery")))
}

/// Runs the suite on an empty store.
pub fn run(store: &mut dyn Store) {
    // Journal and outbox commit together, in order.
    let seqs = store
        .commit(
            &[(Timestamp(1), "a".into()), (Timestamp(2), "b".into())],
            &[
                NewAction {
                    action: invalidation("d1"),
                    traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
                },
                invalidation("d2").into(),
            ],
        )
        .unwrap();
    assert_eq!(seqs.len(), 2);
    assert!(seqs[0] < seqs[1]);
    let r = store.recover().unwrap();
    assert!(r.snapshot.is_none());
    assert_eq!(r.journal.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
    assert_eq!(r.journal[1].now, Timestamp(2));

    // The journal after a seq, for a replica catching up.
    let since = store.journal_since(seqs[0]).unwrap().expect("no snapshot yet");
    assert_eq!(since.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(), vec!["b"]);

    // Snapshots drop the journal they include; a replica behind them must recover.
    store.snapshot(seqs[0], "{\"state\":1}").unwrap();
    assert_eq!(store.journal_since(seqs[0] - 1).unwrap(), None, "compacted past it");
    assert_eq!(store.journal_since(seqs[0]).unwrap().map(|j| j.len()), Some(1));
    let r = store.recover().unwrap();
    assert_eq!(r.snapshot, Some((seqs[0], "{\"state\":1}".to_owned())));
    assert_eq!(r.journal.len(), 1);

    // Outbox: due in decision order per lane; retry hides it until its time.
    let due = store.due(Lane::CloudFront, 0, 10).unwrap();
    assert_eq!(due.iter().map(|i| i.action.deployment_id()).collect::<Vec<_>>(), vec!["d1", "d2"]);
    assert_eq!(due[0].traceparent.as_deref(), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_eq!(due[1].traceparent, None);
    assert!(store.due(Lane::Slack, 0, 10).unwrap().is_empty());
    store.mark_attempting(due[0].id).unwrap();
    let again = store.due(Lane::CloudFront, 0, 10).unwrap();
    assert_eq!((again[0].status, again[0].attempts), (Status::Attempting, 1));
    store.mark_retry(due[0].id, Status::Pending, 5_000, "throttled").unwrap();
    assert_eq!(store.due(Lane::CloudFront, 4_999, 10).unwrap().len(), 1);
    assert_eq!(store.next_due(Lane::CloudFront).unwrap(), Some(0));
    store.finish(due[1].id, Status::Done, "I2").unwrap();
    assert_eq!(store.next_due(Lane::CloudFront).unwrap(), Some(5_000));
    let retried = &store.due(Lane::CloudFront, 5_000, 10).unwrap()[0];
    assert_eq!((retried.status, retried.attempts), (Status::Pending, 2));
    store.finish(due[0].id, Status::Done, "I1").unwrap();
    assert!(store.due(Lane::CloudFront, i64::MAX, 10).unwrap().is_empty());
    assert_eq!(store.next_due(Lane::CloudFront).unwrap(), None);
    assert!(store.outbox_counts().unwrap().contains(&(Lane::CloudFront, Status::Done, 2)));

    // Slack message ts per deployment.
    assert_eq!(store.slack_message("d1").unwrap(), None);
    store.set_slack_message("d1", "C1", "1.000001").unwrap();
    assert_eq!(store.slack_message("d1").unwrap(), Some(("C1".into(), "1.000001".into())));
    store.ping().unwrap();

    // Sink lane: each sink's actions of a deployment in order; one sink waiting for a retry
    // holds back no other sink. Remembered ids.
    store.commit(&[], &[sink("a", "d9").into(), sink("b", "d9").into(), sink("a", "d9").into()]).unwrap();
    let due = store.due(Lane::Sinks, 0, 10).unwrap();
    assert_eq!(due.len(), 3, "each sink's first, and a's second after its first");
    store.mark_attempting(due[0].id).unwrap();
    store.mark_retry(due[0].id, Status::Pending, 9_000, "429").unwrap();
    let due = store.due(Lane::Sinks, 0, 10).unwrap();
    assert_eq!(due.len(), 1, "a's second waits behind a's first: {due:?}");
    assert!(matches!(&due[0].action, Action::Sink(s) if s.sink == "b"));
    for item in store.due(Lane::Sinks, i64::MAX, 10).unwrap() {
        store.finish(item.id, Status::Done, "ok").unwrap();
    }
    assert!(store.due(Lane::Sinks, i64::MAX, 10).unwrap().is_empty());
    assert!(store.outbox_counts().unwrap().contains(&(Lane::Sinks, Status::Done, 3)));
    assert_eq!(store.sink_ref("gh/deployment/d9").unwrap(), None);
    store.set_sink_ref("gh/deployment/d9", "41").unwrap();
    store.set_sink_ref("gh/deployment/d9", "42").unwrap();
    assert_eq!(store.sink_ref("gh/deployment/d9").unwrap().as_deref(), Some("42"));

    // A later snapshot replaces the earlier one, whatever its size (a remote store may split
    // it), and the journal after it survives.
    let more = store.commit(&[(Timestamp(3), "c".into()), (Timestamp(4), "d".into())], &[]).unwrap();
    let big: String = "é→".repeat(150_000);
    store.snapshot(more[0], &big).unwrap();
    let r = store.recover().unwrap();
    assert_eq!(r.snapshot.as_ref().map(|(seq, _)| *seq), Some(more[0]));
    assert!(r.snapshot.is_some_and(|(_, state)| state == big), "the snapshot comes back whole");
    assert_eq!(r.journal.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(), vec!["d"]);

    // Sequence numbers and ids keep growing across commits; a superseded action is finished.
    let later = store.commit(&[(Timestamp(5), "e".into())], &[invalidation("d3").into()]).unwrap();
    assert!(later[0] > more[1]);
    let due = store.due(Lane::CloudFront, 0, 10).unwrap();
    assert_eq!(due.iter().map(|i| i.action.deployment_id()).collect::<Vec<_>>(), vec!["d3"]);
    store.finish(due[0].id, Status::Superseded, "replaced").unwrap();
    assert!(store.due(Lane::CloudFront, i64::MAX, 10).unwrap().is_empty());
    assert!(store.outbox_counts().unwrap().contains(&(Lane::CloudFront, Status::Superseded, 1)));

    // A deployment's actions run in decision order: while its earlier action waits for a
    // retry, its later ones wait too (a later Slack update must not be overwritten by an older
    // one); another deployment's do not.
    store.commit(&[], &[invalidation("d4").into(), invalidation("d4").into(), invalidation("d5").into()]).unwrap();
    let due = store.due(Lane::CloudFront, 0, 10).unwrap();
    let ids: Vec<i64> = due.iter().map(|i| i.id).collect();
    assert_eq!(due.iter().map(|i| i.action.deployment_id()).collect::<Vec<_>>(), vec!["d4", "d4", "d5"]);
    store.mark_retry(ids[0], Status::Pending, 5_000, "throttled").unwrap();
    let meanwhile: Vec<i64> = store.due(Lane::CloudFront, 4_999, 10).unwrap().iter().map(|i| i.id).collect();
    assert_eq!(meanwhile, vec![ids[2]], "d4's later action waits behind its earlier one; d5 does not");
    let then: Vec<i64> = store.due(Lane::CloudFront, 5_000, 10).unwrap().iter().map(|i| i.id).collect();
    assert_eq!(then, ids, "in decision order once the earlier one is due");
    for id in ids {
        store.finish(id, Status::Done, "done").unwrap();
    }
    assert!(store.due(Lane::CloudFront, i64::MAX, 10).unwrap().is_empty());

    // Deferred to its turn under a rate limit: not an attempt, its status and last result
    // kept (an unknown outcome is still looked up), and its deployment's later actions wait.
    store.commit(&[], &[invalidation("d6").into(), invalidation("d6").into(), invalidation("d7").into()]).unwrap();
    let ids: Vec<i64> = store.due(Lane::CloudFront, 0, 10).unwrap().iter().map(|i| i.id).collect();
    store.mark_attempting(ids[0]).unwrap();
    store.mark_retry(ids[0], Status::Attempting, 0, "timed out").unwrap();
    store.defer(ids[0], 7_000).unwrap();
    let meanwhile: Vec<i64> = store.due(Lane::CloudFront, 6_999, 10).unwrap().iter().map(|i| i.id).collect();
    assert_eq!(meanwhile, vec![ids[2]], "d6's later action waits for its deferred one");
    store.finish(ids[2], Status::Done, "done").unwrap();
    // The lane wakes at the deferred action's turn, not for the one waiting behind it.
    assert_eq!(store.next_due(Lane::CloudFront).unwrap(), Some(7_000));
    let at_turn = store.due(Lane::CloudFront, 7_000, 10).unwrap();
    assert_eq!(at_turn.iter().map(|i| i.id).collect::<Vec<_>>(), ids[..2]);
    assert_eq!((at_turn[0].status, at_turn[0].attempts, at_turn[0].next_attempt_ms), (Status::Attempting, 2, 7_000));
    for id in &ids[..2] {
        store.finish(*id, Status::Done, "done").unwrap();
    }
    assert!(store.due(Lane::CloudFront, i64::MAX, 10).unwrap().is_empty());
}
