//! The sinks' executor against the stand-ins of their APIs (services/sink-standins), over real
//! HTTP on 127.0.0.1, with a real SQLite outbox: the calls each kind makes, with AWS's times,
//! and what each answer (401, 404, 422, 429 with `Retry-After`, 5xx, a lost answer) does.

use std::sync::{Arc, OnceLock};

use cutover::config::sinks::SinkConfig;
use cutover::executors::lane::{Executor, record};
use cutover::executors::sinks::SinksExecutor;
use cutover::executors::{Backoff, Outcome};
use cutover::store::sqlite::SqliteStore;
use cutover::store::{Journal, Lane, Outbox, SlackMessages};
use cutover_correlator::Action;
use cutover_correlator::action::{SinkDelivery, delivery_id};
use cutover_correlator::routing::SinkKind;
use cutover_events::Timestamp;
use cutover_events::emitted::{DetailType, LifecycleDetail};
use cutover_testkit::example;
use serde_json::Value;
use sink_standins::{Credentials, Fault, Standins};

const GITHUB_TOKEN: &str = "github_pat_standin_0001";
const SECRET: &str = "webhook-secret-0001";

fn credentials() -> Credentials {
    Credentials {
        github_token: GITHUB_TOKEN.into(),
        github_app: Some((4242, 77, app_key())),
        github_repos: vec!["acme/web".into()],
        grafana_token: "glsa_standin_0001".into(),
        datadog_key: "dd-key-0001".into(),
        pagerduty_routing_key: "R0UTINGKEY0001".into(),
        honeycomb_key: "hc-key-0001".into(),
        webhook_secret: SECRET.into(),
    }
}

fn app_key() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/github-app-test.pem")).unwrap()
}

/// The variables the sinks read their credentials from (set once for the process: every test
/// uses the same values).
fn set_env() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let c = credentials();
        // SAFETY: set once, before any thread of this test binary reads the environment.
        unsafe {
            std::env::set_var("SINK_TEST_GITHUB_TOKEN", &c.github_token);
            std::env::set_var("SINK_TEST_GITHUB_KEY", app_key());
            std::env::set_var("SINK_TEST_GRAFANA", &c.grafana_token);
            std::env::set_var("SINK_TEST_DATADOG", &c.datadog_key);
            std::env::set_var("SINK_TEST_PAGERDUTY", &c.pagerduty_routing_key);
            std::env::set_var("SINK_TEST_HONEYCOMB", &c.honeycomb_key);
            std::env::set_var("SINK_TEST_WEBHOOK", &c.webhook_secret);
            std::env::set_var("SINK_TEST_WRONG", "wrong-token-0001");
        }
    });
}

async fn standins() -> (Standins, String) {
    let s = Standins::new(credentials());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(sink_standins::serve(listener, s.clone(), std::future::pending()));
    (s, url)
}

fn sinks(base: &str, extra: &str) -> Vec<SinkConfig> {
    #[derive(serde::Deserialize)]
    struct File {
        sinks: Vec<SinkConfig>,
    }
    let text = format!(
        r#"
[[sinks]]
name = "gh"
kind = "github"
url = "{base}/github"
repository = "acme/web"
token_env = "SINK_TEST_GITHUB_TOKEN"
environment_url = "https://{{environment}}.example.com/{{service}}"
timeout_secs = 2

[[sinks]]
name = "graf"
kind = "grafana"
url = "{base}/grafana"
token_env = "SINK_TEST_GRAFANA"
timeout_secs = 2

[[sinks]]
name = "dd"
kind = "datadog"
url = "{base}/datadog"
token_env = "SINK_TEST_DATADOG"
timeout_secs = 2

[[sinks]]
name = "pd"
kind = "pagerduty"
url = "{base}/pagerduty"
token_env = "SINK_TEST_PAGERDUTY"
timeout_secs = 2

[[sinks]]
name = "hc"
kind = "honeycomb"
url = "{base}/honeycomb"
dataset = "web"
token_env = "SINK_TEST_HONEYCOMB"
timeout_secs = 2

[[sinks]]
name = "hook"
kind = "webhook"
url = "{base}/webhook/deploys"
token_env = "SINK_TEST_WEBHOOK"
timeout_secs = 2
{extra}"#
    );
    toml::from_str::<File>(&text).unwrap().sinks
}

fn executor(configs: &[SinkConfig], workspace: Option<&str>) -> SinksExecutor {
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .build(),
    );
    let lock = Arc::new(OnceLock::new());
    if let Some(w) = workspace {
        lock.set(w.to_owned()).unwrap();
    }
    SinksExecutor::new(configs, &secrets, Arc::default(), lock).unwrap()
}

/// A step of `ecs-svc/1` (prod/web in production, v124 at commit 0a1b2c3…) at `at_ms`.
fn step(sink: &str, kind: SinkKind, t: DetailType, at_ms: i64, id: &str) -> Action {
    let detail = LifecycleDetail {
        environment: Some("production".into()),
        version: Some("v124".into()),
        at: Timestamp(at_ms),
        observed_at: Timestamp(at_ms + 400),
        reason: (t == DetailType::Failed).then(|| "tasks failed to start <@U0EVIL>".into()),
        ..example::detail(id)
    };
    Action::Sink(Box::new(SinkDelivery {
        sink: sink.into(),
        kind,
        delivery_id: delivery_id(sink, &detail, t),
        detail_type: t,
        detail: Box::new(detail),
        commit: Some(format!("0a1b2c3d4e5f{:0>28}", id.len())),
        repository: None,
    }))
}

const T0: i64 = 1_764_597_600_000; // 2025-12-01T14:00:00Z

/// Runs the sink lane's rounds until nothing is due (at most `rounds`), ignoring retry waits;
/// every outcome in order.
async fn drain(exec: &mut SinksExecutor, store: &mut SqliteStore, rounds: usize) -> Vec<Outcome> {
    let mut all = Vec::new();
    let backoff = Backoff { initial_ms: 1, max_ms: 1 };
    for _ in 0..rounds {
        let items = store.due(Lane::Sinks, i64::MAX, 10).unwrap();
        if items.is_empty() {
            break;
        }
        for (id, outcome) in exec.execute(&items, store).await {
            let item = items.iter().find(|i| i.id == id).unwrap();
            record(store, item, outcome.clone(), &backoff).unwrap();
            all.push(outcome);
        }
    }
    all
}

fn store_with(actions: Vec<Action>) -> SqliteStore {
    let mut store = SqliteStore::in_memory().unwrap();
    let actions: Vec<_> = actions.into_iter().map(Into::into).collect();
    store.commit(&[], &actions).unwrap();
    store
}

fn calls_of(s: &Standins, api: &str) -> Vec<sink_standins::Call> {
    s.calls().into_iter().filter(|c| c.api == api).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_deployments_move_with_the_lifecycle_and_the_replaced_one_goes_inactive() {
    set_env();
    let (s, base) = standins().await;
    let configs = sinks(&base, "");
    let mut exec = executor(&configs, Some("https://acme.slack.com/"));
    let gh = SinkKind::Github;
    let mut store = store_with(vec![
        step("gh", gh, DetailType::Started, T0, "ecs-svc/1"),
        step("gh", gh, DetailType::CutOver, T0 + 60_000, "ecs-svc/1"),
    ]);
    store.set_slack_message("ecs-svc/1", "C0DEPLOYS", "1764597600.000100").unwrap();
    let outcomes = drain(&mut exec, &mut store, 5).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Done(_))), "{outcomes:?}");
    let deployments = s.deployments();
    assert_eq!(deployments.len(), 1, "one GitHub deployment per Cutover deployment");
    let first = deployments[0]["id"].as_u64().unwrap();
    assert_eq!(deployments[0]["environment"], "production");
    assert_eq!(deployments[0]["payload"]["cutover"]["deployment_id"], "ecs-svc/1");
    let statuses = s.statuses(first);
    let states: Vec<&str> = statuses.iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["in_progress", "success"]);
    assert_eq!(statuses[1]["environment_url"], "https://production.example.com/web");
    assert_eq!(statuses[1]["log_url"], "https://acme.slack.com/archives/C0DEPLOYS/p1764597600000100");
    assert!(
        statuses[1]["description"].as_str().unwrap().contains("cut over 2025-12-01T14:01:00"),
        "AWS's time of the cut-over: {}",
        statuses[1]["description"]
    );
    let call = &calls_of(&s, "github")[0];
    assert_eq!(call.headers.get("x-github-api-version").map(String::as_str), Some("2022-11-28"));

    // The next deployment's cut-over makes the first inactive; its failure later is its own.
    let later: Vec<_> = [
        step("gh", gh, DetailType::Started, T0 + 3_600_000, "ecs-svc/2"),
        step("gh", gh, DetailType::CutOver, T0 + 3_660_000, "ecs-svc/2"),
        step("gh", gh, DetailType::Failed, T0 + 3_700_000, "ecs-svc/2"),
    ]
    .into_iter()
    .map(Into::into)
    .collect();
    store.commit(&[], &later).unwrap();
    let outcomes = drain(&mut exec, &mut store, 5).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Done(_))), "{outcomes:?}");
    let states: Vec<String> = s.statuses(first).iter().map(|s| s["state"].as_str().unwrap().to_owned()).collect();
    assert_eq!(states, ["in_progress", "success", "inactive"]);
    let second = s.deployments()[1]["id"].as_u64().unwrap();
    let states: Vec<String> = s.statuses(second).iter().map(|s| s["state"].as_str().unwrap().to_owned()).collect();
    assert_eq!(states, ["in_progress", "success", "failure"]);
    assert!(s.calls().iter().all(|c| c.authorized));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_trades_its_jwt_for_one_installation_token() {
    set_env();
    let (s, base) = standins().await;
    let app = format!(
        "[[sinks]]\nname = \"app\"\nkind = \"github\"\nurl = \"{base}/github\"\nrepository = \"acme/web\"\napp_id = 4242\ninstallation_id = 77\nprivate_key_env = \"SINK_TEST_GITHUB_KEY\"\n"
    );
    let configs: Vec<SinkConfig> = sinks(&base, &app);
    let mut exec = executor(&configs, None);
    exec.check().await.unwrap();
    let mut store = store_with(vec![
        step("app", SinkKind::Github, DetailType::Started, T0, "ecs-svc/1"),
        step("app", SinkKind::Github, DetailType::CutOver, T0 + 1_000, "ecs-svc/1"),
    ]);
    let outcomes = drain(&mut exec, &mut store, 5).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Done(_))), "{outcomes:?}");
    let tokens =
        || calls_of(&s, "github").into_iter().filter(|c| c.path.ends_with("/access_tokens")).collect::<Vec<_>>();
    assert_eq!(tokens().len(), 1, "the installation token is kept while it is valid");
    assert_eq!(tokens()[0].path, "/app/installations/77/access_tokens");
    assert_eq!(s.deployments().len(), 1);

    // GitHub stops taking the token: a setup fault, then a fresh token from a new JWT.
    s.revoke_installation_tokens();
    store.commit(&[], &[step("app", SinkKind::Github, DetailType::Failed, T0 + 2_000, "ecs-svc/1").into()]).unwrap();
    let outcomes = drain(&mut exec, &mut store, 1).await;
    assert!(matches!(&outcomes[..], [Outcome::SetupFault(w)] if w.contains("HTTP 401")), "{outcomes:?}");
    let outcomes = drain(&mut exec, &mut store, 2).await;
    assert!(matches!(&outcomes[..], [Outcome::Done(_)]), "{outcomes:?}");
    assert_eq!(tokens().len(), 2, "traded again after the refusal");
    let id = s.deployments()[0]["id"].as_u64().unwrap();
    assert_eq!(s.statuses(id).last().unwrap()["state"], "failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_marked_on_both_deployments() {
    set_env();
    let (s, base) = standins().await;
    let configs = sinks(&base, "");
    let mut exec = executor(&configs, None);
    let gh = SinkKind::Github;
    let with = |action: Action, edit: &dyn Fn(&mut LifecycleDetail)| match action {
        Action::Sink(mut d) => {
            edit(&mut d.detail);
            Action::Sink(d)
        }
        other => other,
    };
    let mut store = store_with(vec![
        step("gh", gh, DetailType::Started, T0, "ecs-svc/1"),
        step("gh", gh, DetailType::CutOver, T0 + 60_000, "ecs-svc/1"),
        step("gh", gh, DetailType::Failed, T0 + 120_000, "ecs-svc/1"),
        with(step("gh", gh, DetailType::Started, T0 + 121_000, "ecs-svc/9"), &|d| {
            d.rollback_of = Some("ecs-svc/1".into())
        }),
        with(step("gh", gh, DetailType::CutOver, T0 + 150_000, "ecs-svc/9"), &|d| {
            d.rollback_of = Some("ecs-svc/1".into())
        }),
        with(step("gh", gh, DetailType::RolledBack, T0 + 150_000, "ecs-svc/1"), &|d| {
            d.rolled_back_by = Some("ecs-svc/9".into())
        }),
    ]);
    let outcomes = drain(&mut exec, &mut store, 5).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Done(_))), "{outcomes:?}");
    let d = s.deployments();
    assert_eq!(d.len(), 2);
    let (undone, rollback) = (d[0]["id"].as_u64().unwrap(), d[1]["id"].as_u64().unwrap());
    assert_eq!(d[1]["payload"]["cutover"]["rollback_of"], "ecs-svc/1");
    let of = |id| {
        s.statuses(id)
            .iter()
            .map(|s| (s["state"].as_str().unwrap().to_owned(), s["description"].as_str().unwrap().to_owned()))
            .collect::<Vec<_>>()
    };
    let undone_states: Vec<String> = of(undone).into_iter().map(|(state, _)| state).collect();
    assert_eq!(undone_states, ["in_progress", "success", "failure", "inactive", "failure"], "{:?}", of(undone));
    assert!(of(undone)[4].1.contains("rolled back") && of(undone)[4].1.contains("by ecs-svc/9"), "{:?}", of(undone));
    assert!(of(rollback).iter().all(|(_, text)| text.starts_with("rollback of ecs-svc/1")), "{:?}", of(rollback));
    assert_eq!(of(rollback).last().unwrap().0, "success", "the rollback is what runs now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_are_looked_for_before_anything_is_made_again() {
    set_env();
    let (s, base) = standins().await;
    let configs = sinks(&base, "");
    let mut exec = executor(&configs, None);
    // Each create is carried out, then answered 500: the client cannot know it worked.
    for (api, matching) in [
        ("github", "POST /repos/acme/web/deployments"),
        ("grafana", "POST /api/annotations"),
        ("honeycomb", "POST /1/markers/web"),
    ] {
        s.inject(Fault {
            api: api.into(),
            matching: matching.into(),
            status: 500,
            count: 1,
            after_processing: true,
            ..Fault::default()
        });
    }
    // And one stalls past the client's timeout after carrying the call out.
    s.inject(Fault {
        api: "github".into(),
        matching: "/statuses".into(),
        status: 0,
        stall_ms: Some(2_500),
        count: 1,
        ..Fault::default()
    });
    let mut store = store_with(vec![
        step("gh", SinkKind::Github, DetailType::Started, T0, "ecs-svc/1"),
        step("graf", SinkKind::Grafana, DetailType::Started, T0, "ecs-svc/1"),
        step("hc", SinkKind::Honeycomb, DetailType::Started, T0, "ecs-svc/1"),
    ]);
    let first = drain(&mut exec, &mut store, 1).await;
    assert!(first.iter().all(|o| matches!(o, Outcome::Retry { .. } | Outcome::Unknown { .. })), "{first:?}");
    let rest = drain(&mut exec, &mut store, 6).await;
    assert!(rest.iter().any(|o| matches!(o, Outcome::Done(_))), "{rest:?}");
    assert!(store.due(Lane::Sinks, i64::MAX, 10).unwrap().is_empty(), "all done: {rest:?}");
    assert_eq!(s.deployments().len(), 1, "one GitHub deployment, found again");
    let id = s.deployments()[0]["id"].as_u64().unwrap();
    assert_eq!(s.statuses(id).len(), 1, "one status, found again: {:?}", s.statuses(id));
    assert_eq!(s.annotations().len(), 1, "one Grafana region, found again");
    assert_eq!(s.markers("web").len(), 1, "one Honeycomb marker, found again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_back_only_its_own_sink_for_its_retry_after() {
    set_env();
    let (s, base) = standins().await;
    let configs = sinks(&base, "");
    let mut exec = executor(&configs, None);
    s.inject(Fault { api: "pagerduty".into(), status: 429, retry_after_secs: Some(30), count: 1, ..Fault::default() });
    let mut store = store_with(vec![
        step("pd", SinkKind::Pagerduty, DetailType::CutOver, T0, "ecs-svc/1"),
        step("pd", SinkKind::Pagerduty, DetailType::CutOver, T0, "ecs-svc/2"),
        step("dd", SinkKind::Datadog, DetailType::CutOver, T0, "ecs-svc/1"),
    ]);
    let outcomes = drain(&mut exec, &mut store, 1).await;
    assert!(
        matches!(&outcomes[0], Outcome::Retry { after_ms: Some(30_000), error } if error.contains("429")),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[1], Outcome::Retry { after_ms: Some(ms), .. } if *ms > 29_000),
        "the other deployment's event waits for the same Retry-After without a call: {outcomes:?}"
    );
    assert!(matches!(&outcomes[2], Outcome::Done(_)), "Datadog is not held back: {outcomes:?}");
    assert_eq!(calls_of(&s, "pagerduty").len(), 1, "nothing sent to PagerDuty before its Retry-After");
    assert_eq!(s.datadog_events().len(), 1);

    // A 503 that says when to come back holds the sink the same way (not only that action).
    let (s, base) = standins().await;
    let mut exec = executor(&sinks(&base, ""), None);
    s.inject(Fault { api: "pagerduty".into(), status: 503, retry_after_secs: Some(20), count: 1, ..Fault::default() });
    let mut store = store_with(vec![
        step("pd", SinkKind::Pagerduty, DetailType::CutOver, T0, "ecs-svc/1"),
        step("pd", SinkKind::Pagerduty, DetailType::CutOver, T0, "ecs-svc/2"),
    ]);
    let outcomes = drain(&mut exec, &mut store, 1).await;
    assert!(matches!(&outcomes[1], Outcome::Retry { after_ms: Some(ms), .. } if *ms > 19_000), "{outcomes:?}");
    assert_eq!(calls_of(&s, "pagerduty").len(), 1, "nothing sent before the 503's Retry-After");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_and_never_show_the_token() {
    set_env();
    let (s, base) = standins().await;
    let mut configs = sinks(&base, "");
    for c in &mut configs {
        c.token_env = Some("SINK_TEST_WRONG".into());
    }
    let mut exec = executor(&configs, None);
    let mut store = store_with(
        [
            ("gh", SinkKind::Github),
            ("graf", SinkKind::Grafana),
            ("dd", SinkKind::Datadog),
            ("hc", SinkKind::Honeycomb),
            ("hook", SinkKind::Webhook),
        ]
        .into_iter()
        .map(|(name, kind)| step(name, kind, DetailType::Started, T0, "ecs-svc/1"))
        .collect(),
    );
    let outcomes = drain(&mut exec, &mut store, 1).await;
    assert_eq!(outcomes.len(), 5);
    for o in &outcomes {
        let Outcome::SetupFault(why) = o else { panic!("a refused credential is the setup's fault: {o:?}") };
        assert!(why.starts_with("sink "), "{why}");
        assert!(why.contains("HTTP 401") || why.contains("HTTP 403"), "{why}");
        assert!(!why.contains("wrong-token-0001"), "{why}");
    }
    let recorded = serde_json::to_string(&s.calls()).unwrap();
    assert!(!recorded.contains("wrong-token-0001") && !recorded.contains(GITHUB_TOKEN));
    assert!(format!("{exec:?}").find("wrong-token").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_can_never_succeed_ends_and_what_may_is_retried() {
    set_env();
    let (s, base) = standins().await;
    let configs = sinks(&base, "");
    let mut exec = executor(&configs, None);
    let Action::Sink(mut no_ref) = step("gh", SinkKind::Github, DetailType::Started, T0, "ecs-svc/1") else {
        unreachable!()
    };
    no_ref.commit = Some("not-a-commit".into());
    let Action::Sink(mut other_repo) = step("gh", SinkKind::Github, DetailType::Started, T0, "ecs-svc/2") else {
        unreachable!()
    };
    other_repo.commit = None;
    s.inject(Fault { api: "datadog".into(), status: 503, count: 1, ..Fault::default() });
    let mut store = store_with(vec![
        Action::Sink(no_ref),
        Action::Sink(other_repo),
        step("dd", SinkKind::Datadog, DetailType::Started, T0, "ecs-svc/1"),
    ]);
    let outcomes = drain(&mut exec, &mut store, 1).await;
    assert!(
        matches!(&outcomes[0], Outcome::Failed(w) if w.contains("HTTP 422") && w.contains("No ref found")),
        "{outcomes:?}"
    );
    assert!(matches!(&outcomes[1], Outcome::Failed(w) if w.contains("no commit known")), "{outcomes:?}");
    assert!(matches!(&outcomes[2], Outcome::Unknown { .. }), "a 503 on a create may come after it: {outcomes:?}");
    let again = drain(&mut exec, &mut store, 1).await;
    assert!(matches!(&again[..], [Outcome::Done(_)]), "{again:?}");

    // A repository the token cannot see: 404 where the deployment is made, the setup's fault.
    let mut configs = sinks(&base, "");
    configs[0].repository = Some("acme/hidden".into());
    let mut exec = executor(&configs, None);
    let mut store = store_with(vec![step("gh", SinkKind::Github, DetailType::Started, T0, "ecs-svc/1")]);
    let outcomes = drain(&mut exec, &mut store, 1).await;
    assert!(matches!(&outcomes[..], [Outcome::SetupFault(w)] if w.contains("HTTP 404")), "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_carry_awss_times_and_no_markup_from_events() {
    set_env();
    let (s, base) = standins().await;
    let configs = sinks(&base, "");
    let mut exec = executor(&configs, Some("https://acme.slack.com"));
    let mut actions = Vec::new();
    for (name, kind) in [
        ("graf", SinkKind::Grafana),
        ("hc", SinkKind::Honeycomb),
        ("dd", SinkKind::Datadog),
        ("pd", SinkKind::Pagerduty),
    ] {
        actions.push(step(name, kind, DetailType::Started, T0, "ecs-svc/1"));
        actions.push(step(name, kind, DetailType::CutOver, T0 + 70_000, "ecs-svc/1"));
        actions.push(step(name, kind, DetailType::Failed, T0 + 900_000, "ecs-svc/1"));
    }
    let mut store = store_with(actions);
    store.set_slack_message("ecs-svc/1", "C0DEPLOYS", "1764597600.000100").unwrap();
    let outcomes = drain(&mut exec, &mut store, 5).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Done(_))), "{outcomes:?}");

    // Grafana: a region from the start to the failure, a point at the cut-over.
    let a = s.annotations();
    assert_eq!(a.len(), 2, "{a:?}");
    let (region, point) = (&a[0], &a[1]);
    assert_eq!((region["time"].as_i64(), region["timeEnd"].as_i64()), (Some(T0), Some(T0 + 900_000)));
    assert_eq!(point["time"].as_i64(), Some(T0 + 70_000));
    assert!(point["tags"].as_array().unwrap().iter().any(|t| t == "cut-over"));
    for tag in ["service:web", "environment:production", "version:v124"] {
        assert!(region["tags"].as_array().unwrap().iter().any(|t| t == tag), "{tag} in {region}");
    }
    let text = region["text"].as_str().unwrap();
    assert!(text.contains("&lt;@U0EVIL&gt;") && !text.contains("<@U0EVIL>"), "escaped: {text}");
    assert!(text.contains("href=\"https://acme.slack.com/archives/C0DEPLOYS/p1764597600000100\""), "{text}");

    // Honeycomb: one marker from start to end, the cut-over in its message.
    let m = s.markers("web");
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0]["start_time"].as_i64(), m[0]["end_time"].as_i64()),
        (Some(T0 / 1_000), Some((T0 + 900_000) / 1_000))
    );
    let message = m[0]["message"].as_str().unwrap();
    assert!(message.contains("cut over 2025-12-01T14:01:10") && message.contains("failed"), "{message}");

    // Datadog: an event per step at its time; '@' from the event notifies nobody.
    let e = s.datadog_events();
    assert_eq!(
        e.iter().map(|e| e["date_happened"].as_i64().unwrap()).collect::<Vec<_>>(),
        [T0 / 1_000, (T0 + 70_000) / 1_000, (T0 + 900_000) / 1_000]
    );
    assert_eq!(e[2]["alert_type"], "error");
    assert!(!e[2]["text"].as_str().unwrap().contains("<@U0EVIL"), "{}", e[2]["text"]);
    assert!(e[0]["tags"].as_array().unwrap().iter().any(|t| t == "environment:production"));

    // PagerDuty: change events with the step's timestamp and the Slack link.
    let c = s.change_events();
    assert_eq!(c.len(), 3);
    assert_eq!(c[1]["payload"]["timestamp"], "2025-12-01T14:01:10.000Z");
    assert_eq!(c[1]["links"][0]["href"], "https://acme.slack.com/archives/C0DEPLOYS/p1764597600000100");
    assert!(calls_of(&s, "pagerduty").iter().all(|call| call.body.get("routing_key").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_is_the_event_signed_with_its_delivery_id() {
    set_env();
    let (s, base) = standins().await;
    let configs = sinks(&base, "");
    let mut exec = executor(&configs, None);
    let action = step("hook", SinkKind::Webhook, DetailType::CutOver, T0, "ecs-svc/1");
    let Action::Sink(d) = &action else { unreachable!() };
    let delivery = d.delivery_id.clone();
    // The first answer is lost: the same delivery comes again, with the same id.
    s.inject(Fault { api: "webhook".into(), status: 502, count: 1, after_processing: true, ..Fault::default() });
    let mut store = store_with(vec![action.clone()]);
    drain(&mut exec, &mut store, 3).await;
    let got = s.deliveries();
    assert_eq!(got.len(), 2, "verified by the receiver both times");
    let body: &Value = &got[0].1;
    assert_eq!(body["source"], "cutover");
    assert_eq!(body["detail-type"], "Deployment Cut Over");
    assert_eq!(body["time"], "2025-12-01T14:00:00.000Z");
    assert_eq!(body["detail"]["deployment_id"], "ecs-svc/1");
    let ids: Vec<_> = calls_of(&s, "webhook").iter().map(|c| c.headers["x-cutover-delivery"].clone()).collect();
    assert_eq!(ids, [delivery.clone(), delivery]);
    assert_eq!(uuid_shape(&ids[0]), Some(()), "{}", ids[0]);
}

fn uuid_shape(s: &str) -> Option<()> {
    let parts: Vec<usize> = s.split('-').map(str::len).collect();
    (parts == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())).then_some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_waiting_for_its_retry_is_never_overtaken_by_the_next() {
    set_env();
    let (s, base) = standins().await;
    let configs = sinks(&base, "");
    let mut exec = executor(&configs, None);
    s.inject(Fault { api: "datadog".into(), status: 503, count: 1, ..Fault::default() });
    let mut store = store_with(vec![
        step("dd", SinkKind::Datadog, DetailType::Started, T0, "ecs-svc/1"),
        step("dd", SinkKind::Datadog, DetailType::CutOver, T0 + 60_000, "ecs-svc/1"),
        step("dd", SinkKind::Datadog, DetailType::Started, T0, "ecs-svc/2"),
    ]);
    let first = drain(&mut exec, &mut store, 1).await;
    assert_eq!(first.len(), 2, "the cut-over of ecs-svc/1 waits; ecs-svc/2 does not: {first:?}");
    drain(&mut exec, &mut store, 3).await;
    let steps: Vec<(String, String)> = s
        .datadog_events()
        .iter()
        .map(|e| (e["aggregation_key"].as_str().unwrap().to_owned(), e["alert_type"].as_str().unwrap().to_owned()))
        .collect();
    let one: Vec<&str> = steps.iter().filter(|(d, _)| d == "ecs-svc/1").map(|(_, t)| t.as_str()).collect();
    assert_eq!(one, ["info", "success"], "start, then cut-over: {steps:?}");
}
