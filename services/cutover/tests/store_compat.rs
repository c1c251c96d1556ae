//! A store written by an earlier release is read by this one: its snapshot, its journal after
//! the snapshot and its outbox. `fixtures/store-before-relayout.sqlite` was written by the code
//! before the correlator became rooms (commit 97b9341): the first 80 lines of
//! `examples/demo.jsonl`, each committed with its actions (`now` 250 ms after the event clock),
//! and a snapshot after line 40.

use std::path::{Path, PathBuf};

use cutover::config::Config;
use cutover::driver::recover;
use cutover::store::sqlite::SqliteStore;
use cutover::store::{Lane, Outbox as _, Status};
use cutover_correlator::{Action, Correlator, Input};
use cutover_events::parse_body;

const WRITTEN: usize = 80;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixture copied where this test may write to it (recovery opens it read-write).
fn store_copy() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cutover-store-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("cutover.db");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-before-relayout.sqlite"), &path)
        .expect("copy the fixture");
    path
}

/// What the current correlator decides for each demo line, fed as the fixture was written.
fn fresh(config: &Config, lines: &[&str]) -> (Correlator, Vec<Vec<Action>>) {
    let mut c = Correlator::new(config.routing()).with_retention_ms(config.retention_ms());
    let mut out = Vec::new();
    for line in lines {
        let now = c.clock().plus_millis(250);
        out.push(c.handle(now, Input::Message(Box::new(parse_body(line).expect("demo line parses")))));
    }
    (c, out)
}

fn json(actions: &[Action]) -> Vec<String> {
    actions.iter().map(|a| serde_json::to_string(a).expect("actions serialise")).collect()
}

#[test]
fn a_store_written_before_the_relayout_recovers_to_the_same_state_and_outbox() {
    let config = Config::load(Some(&workspace().join("examples/cutover.toml"))).expect("demo config");
    let demo = std::fs::read_to_string(workspace().join("examples/demo.jsonl")).expect("demo");
    let lines: Vec<&str> = demo.lines().collect();
    assert!(lines.len() > WRITTEN + 10, "the demo goes on past what the fixture holds");
    let (_, decided) = fresh(&config, &lines);

    let path = store_copy();
    let mut store = SqliteStore::open(&path).expect("the old store opens");
    let (mut recovered, last_seq, replayed) = recover(&mut store, &config).expect("the old store recovers");
    assert_eq!((last_seq, replayed), (WRITTEN as i64, 40), "snapshot after line 40, journal 41..=80");

    // The outbox as written: every action the first 80 lines decided, pending, per lane.
    let before: Vec<Action> = decided[..WRITTEN].iter().flatten().cloned().collect();
    for lane in [Lane::Slack, Lane::CloudFront, Lane::EventBridge] {
        let items = store.due(lane, i64::MAX, 100_000).expect("outbox reads");
        assert!(items.iter().all(|i| i.status == Status::Pending));
        let read: Vec<Action> = items.into_iter().map(|i| i.action).collect();
        // Approval events (`emit.approval`) were added after the fixture was written: the old
        // code did not decide them, and everything else is the same.
        let want: Vec<Action> = before
            .iter()
            .filter(|a| Lane::of(a) == lane && !matches!(a, Action::EmitApproval { .. }))
            .cloned()
            .collect();
        assert!(!want.is_empty() || lane == Lane::CloudFront, "{lane:?} has actions in the first 80 lines");
        assert_eq!(json(&read), json(&want), "{lane:?} outbox as written");
    }

    // The recovered state decides the rest of the demo exactly as a state that saw it all.
    for (i, line) in lines.iter().enumerate().skip(WRITTEN) {
        let now = recovered.clock().plus_millis(250);
        let got = recovered.handle(now, Input::Message(Box::new(parse_body(line).expect("demo line parses"))));
        assert_eq!(json(&got), json(&decided[i]), "line {} decided the same after recovery", i + 1);
    }
    assert!(decided[WRITTEN..].iter().any(|d| !d.is_empty()), "the rest of the demo decides something");
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}
