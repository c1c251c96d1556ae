//! The Slack lane against the stand-in enforcing Slack's rate limits (issue 17, "Slack under a
//! burst"): each method keeps to its own limit, one busy channel holds back no other, a 429
//! holds only its own method, and a post that waited for its turn carries the newest state.
//! Each test failed before the change (one pacer for every method, sleeping in line, and a 429
//! holding the whole lane).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Slack, eventually, temp_dir};
use cutover::executors::{Backoff, lane, slack::SlackExecutor};
use cutover::store::sqlite::SqliteStore;
use cutover::store::{Journal, Lane, NewAction, Outbox, Store};
use cutover_correlator::Action;
use cutover_correlator::action::SlackMessage;
use secrecy::SecretString;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn message(deployment: &str, channel: &str, state: &str) -> SlackMessage {
    SlackMessage {
        deployment_id: deployment.to_owned(),
        channel: channel.to_owned(),
        thread_of: None,
        text: format!("{deployment}: {state}"),
        blocks: Vec::new(),
        broadcast: false,
    }
}

/// The outbox (a file, so the test commits while the lane runs) and the lane, running.
struct Lane_ {
    intake: SqliteStore,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start_lane(slack: &Slack, name: &str, actions: Vec<Action>) -> Lane_ {
    let path = temp_dir(name).join("cutover.db");
    let mut intake = SqliteStore::open(&path).unwrap();
    let actions: Vec<NewAction> = actions.into_iter().map(NewAction::from).collect();
    intake.commit(&[], &actions).unwrap();
    let url = format!("http://127.0.0.1:{}/api", slack.port);
    // `[slack]`'s defaults: one post a second per channel, 50 updates a minute, bursts of 3.
    let executor = SlackExecutor::new(&url, &SecretString::from("xoxb-test"), 1.0, Duration::from_secs(5)).unwrap();
    let store: Box<dyn Store> = Box::new(SqliteStore::open(&path).unwrap());
    let (wake, shutdown) = (Arc::new(Notify::new()), CancellationToken::new());
    let task = tokio::spawn(lane::run(
        executor,
        store,
        wake.clone(),
        shutdown.clone(),
        CancellationToken::new(),
        Backoff { initial_ms: 200, max_ms: 2_000 },
        Arc::default(),
    ));
    Lane_ { intake, wake, shutdown, task }
}

impl Lane_ {
    async fn stop(mut self) -> usize {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        self.intake.due(Lane::Slack, i64::MAX, 1_000).unwrap().len()
    }
}

fn final_texts(slack: &Slack) -> Vec<(String, String, u32)> {
    let mut out: Vec<(String, String, u32)> = slack
        .state
        .messages()
        .into_iter()
        .filter(|m| m.thread_ts.is_none())
        .map(|m| (m.channel, m.text.unwrap_or_default(), m.updates))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_channel_holds_back_no_other_and_a_post_that_waited_carries_the_newest_state() {
    let slack = Slack::start().await;
    slack.state.limit_rates(Some(slack_standin::limits::RateLimits::slack()));
    // Six deployments start in one channel, then one in another; all of them complete.
    let busy: Vec<String> = (1..=6).map(|i| format!("ecs-svc/busy-{i}")).collect();
    let mut actions: Vec<Action> = busy.iter().map(|d| Action::SlackPost(message(d, "C0BUSY", "started"))).collect();
    actions.push(Action::SlackPost(message("ecs-svc/other", "C0OTHER", "started")));
    for d in busy.iter().map(String::as_str).chain(["ecs-svc/other"]) {
        let channel = if d.contains("busy") { "C0BUSY" } else { "C0OTHER" };
        actions.push(Action::SlackUpdate(message(d, channel, "completed")));
    }
    let lane = start_lane(&slack, "pacing-busy", actions);
    let all_final = eventually(30, async || {
        let texts = final_texts(&slack);
        texts.len() == 7 && texts.iter().all(|(_, t, _)| t.ends_with("completed"))
    })
    .await;
    assert!(all_final, "{:?}", final_texts(&slack));
    assert_eq!(lane.stop().await, 0, "nothing left in the outbox");

    let calls = slack.state.calls();
    assert_eq!(calls.iter().filter(|c| c.status == 429).count(), 0, "kept to Slack's limits: {calls:?}");
    let posts: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .filter_map(|c| c.params.get("channel").and_then(|v| v.as_str()))
        .collect();
    // A burst of three in the busy channel, then the other channel at once, not behind the
    // busy channel's fourth to sixth (one a second).
    assert_eq!(posts, ["C0BUSY", "C0BUSY", "C0BUSY", "C0OTHER", "C0BUSY", "C0BUSY", "C0BUSY"], "{posts:?}");
    // The three that waited for their turn were posted in their final state: no update.
    let texts = final_texts(&slack);
    let busy_updates: Vec<u32> = texts.iter().filter(|(c, _, _)| c == "C0BUSY").map(|(_, _, u)| *u).collect();
    assert_eq!(busy_updates.iter().filter(|u| **u == 0).count(), 3, "{texts:?}");
    assert_eq!(busy_updates.iter().filter(|u| **u == 1).count(), 3, "{texts:?}");
    assert_eq!(calls.iter().filter(|c| c.method == "chat.update" && c.status == 200).count(), 4);
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_updates_holds_the_updates_and_not_the_posts() {
    let slack = Slack::start().await;
    slack.state.inject(slack_standin::Fault {
        status: 429,
        count: 1,
        retry_after_secs: Some(2),
        methods: vec!["chat.update".into()],
        ..Default::default()
    });
    let mut lane = start_lane(
        &slack,
        "pacing-429",
        vec![
            Action::SlackPost(message("ecs-svc/a", "C0A", "started")),
            Action::SlackUpdate(message("ecs-svc/a", "C0A", "completed")),
        ],
    );
    let updated = eventually(10, async || slack.state.calls().iter().any(|c| c.status == 429)).await;
    assert!(updated, "{:?}", slack.state.calls());
    // Slack said to wait 2 s for updates; a new deployment's post goes meanwhile.
    lane.intake.commit(&[], &[Action::SlackPost(message("ecs-svc/b", "C0B", "started")).into()]).unwrap();
    lane.wake.notify_one();
    let done = eventually(15, async || {
        final_texts(&slack).iter().filter(|(_, t, _)| t.ends_with("completed") || t.ends_with("b: started")).count()
            == 2
    })
    .await;
    assert!(done, "{:?}", final_texts(&slack));
    let calls = slack.state.calls();
    let at = |pred: &dyn Fn(&slack_standin::Call) -> bool| calls.iter().find(|c| pred(c)).map(|c| c.received_at_us);
    let refused = at(&|c| c.status == 429).unwrap();
    let b_posted = at(&|c| c.method == "chat.postMessage" && c.params["channel"] == "C0B").unwrap();
    let updated = at(&|c| c.method == "chat.update" && c.status == 200).unwrap();
    assert!(b_posted < updated && b_posted < refused + 2_000_000, "the post did not wait for the updates' Retry-After");
    assert!(updated - refused >= 2_000_000, "the update waited for Retry-After: {} µs", updated - refused);
    assert_eq!(lane.stop().await, 0);
    slack.stop();
}
