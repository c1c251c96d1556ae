//! `cargo bench -p cutover-e2e --bench slack_burst`: the Slack lane under a burst, against
//! the Slack stand-in enforcing Slack's rate limits (`slack_standin::limits::RateLimits::slack`:
//! `chat.postMessage` one a second per channel with bursts of 4, `chat.update` 50 a minute
//! across the workspace with bursts of 10, 429 and `Retry-After` past them).
//!
//! Each case decides N deployments at once, in the shape of an ECS rolling deployment's
//! messages: a post ("started") for each at 0 s, an update ("cut over") for each at
//! `BURST_STEP_SECS` (default 10), and the final update ("completed") at twice that. The lane
//! runs as `serve` runs it (SQLite outbox, the executor with `[slack]`'s defaults), from the
//! first post. Reported: the time until the stand-in shows every message in its final state,
//! the calls Slack received by method and answer, and what is left in the outbox (nothing
//! may be: every 429 was answered by a later call). Cases: `BURST_CASES` (default
//! `1000x50,200x1`: deployments x channels); a case that is not done by `BURST_DEADLINE_SECS`
//! (default 1800) reports how far it got.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::executors::{Backoff, lane, slack::SlackExecutor};
use cutover::store::sqlite::SqliteStore;
use cutover::store::{Journal, Lane, NewAction, Outbox, Store};
use cutover_correlator::Action;
use cutover_correlator::action::SlackMessage;
use secrecy::SecretString;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn message(i: usize, channels: usize, state: &str) -> SlackMessage {
    let text = format!("*prod-eu/service-{i:04}*: v124 {state}");
    SlackMessage {
        deployment_id: format!("ecs-svc/{:019}", 5_211_643_699_352_071_000_u64 + i as u64),
        channel: format!("C0BURST{:04}", i % channels),
        thread_of: None,
        blocks: vec![
            serde_json::json!({"type": "header", "text": {"type": "plain_text", "text": format!("service-{i:04} v124")}}),
            serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}),
        ],
        text,
        broadcast: false,
    }
}

struct Figures {
    final_after: Option<Duration>,
    finals: usize,
    posts: usize,
    updates: usize,
    refused: usize,
    left: usize,
}

async fn case(deployments: usize, channels: usize, step: Duration, deadline: Duration) -> Figures {
    let standin = slack_standin::Standin::new();
    standin.limit_rates(Some(slack_standin::limits::RateLimits::slack()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let stop_standin = CancellationToken::new();
    let server = tokio::spawn(slack_standin::serve(listener, standin.clone(), {
        let stop = stop_standin.clone();
        async move { stop.cancelled().await }
    }));

    let dir = std::env::temp_dir().join(format!("cutover-slack-burst-{}-{deployments}x{channels}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cutover.db");
    let mut intake = SqliteStore::open(&path).unwrap();
    let lane_store: Box<dyn Store> = Box::new(SqliteStore::open(&path).unwrap());
    let executor = SlackExecutor::new(&url, &SecretString::from("xoxb-bench"), 1.0, Duration::from_secs(10)).unwrap();
    let (wake, shutdown, hard_stop) = (Arc::new(Notify::new()), CancellationToken::new(), CancellationToken::new());
    let backoff = Backoff { initial_ms: 500, max_ms: 60_000 };
    let started = Instant::now();
    let commit = |intake: &mut SqliteStore, state: &str, post: bool| {
        let actions: Vec<NewAction> = (0..deployments)
            .map(|i| {
                let m = message(i, channels, state);
                if post { Action::SlackPost(m) } else { Action::SlackUpdate(m) }.into()
            })
            .collect();
        intake.commit(&[], &actions).unwrap();
    };
    commit(&mut intake, "started", true);
    let lane = tokio::spawn(lane::run(
        executor,
        lane_store,
        wake.clone(),
        shutdown.clone(),
        hard_stop.clone(),
        backoff,
        Arc::default(),
    ));
    let mut steps = vec![(step, "cut over"), (step * 2, "completed")].into_iter().peekable();
    let mut final_after = None;
    let mut finals = 0;
    while started.elapsed() < deadline {
        if let Some((at, state)) = steps.peek().copied()
            && started.elapsed() >= at
        {
            commit(&mut intake, state, false);
            wake.notify_one();
            steps.next();
        }
        finals = standin
            .messages()
            .iter()
            .filter(|m| m.thread_ts.is_none() && m.text.as_deref().is_some_and(|t| t.ends_with("completed")))
            .count();
        if finals == deployments && steps.peek().is_none() {
            final_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Whatever is still due runs out (bounded), then the lane stops.
    shutdown.cancel();
    if tokio::time::timeout(Duration::from_secs(120), lane).await.is_err() {
        hard_stop.cancel();
    }
    let left = match intake.next_due(Lane::Slack) {
        Ok(Some(_)) => intake.due(Lane::Slack, i64::MAX, usize::MAX >> 1).map_or(0, |d| d.len()),
        _ => 0,
    };
    let calls = standin.calls();
    let count = |method: &str| calls.iter().filter(|c| c.method == method && c.status == 200).count();
    let figures = Figures {
        final_after,
        finals,
        posts: count("chat.postMessage"),
        updates: count("chat.update"),
        refused: calls.iter().filter(|c| c.status == 429).count(),
        left,
    };
    stop_standin.cancel();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let step = Duration::from_secs(env("BURST_STEP_SECS", 10));
    let deadline = Duration::from_secs(env("BURST_DEADLINE_SECS", 1800));
    let cases: String = env("BURST_CASES", "1000x50,200x1".to_owned());
    println!(
        "| deployments x channels | every message final after | chat.postMessage | chat.update | 429 answers | actions left |"
    );
    println!("|---|---|---|---|---|---|");
    for spec in cases.split(',') {
        let Some((d, c)) = spec.split_once('x').and_then(|(d, c)| Some((d.parse().ok()?, c.parse().ok()?))) else {
            eprintln!("BURST_CASES: {spec:?} is not DEPLOYMENTSxCHANNELS");
            std::process::exit(2);
        };
        let f = case(d, c, step, deadline).await;
        let after = f.final_after.map_or_else(
            || format!("not after {} s ({} of {d} final)", deadline.as_secs(), f.finals),
            |t| format!("{:.1} s", t.as_secs_f64()),
        );
        println!("| {d} x {c} | {after} | {} | {} | {} | {} |", f.posts, f.updates, f.refused, f.left);
    }
}
