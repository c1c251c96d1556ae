//! `[slack.actions]` over Socket Mode (the default transport), through `cutover serve` and the
//! Slack stand-in's `apps.connections.open` and WebSocket: commands are answered in the
//! envelope's acknowledgement, clicks with an ephemeral message, a rollback acts once (also
//! when Slack sends the envelope again), and `/readyz` follows the connection: down while it
//! is lost, up again after the reconnect.

mod common;

use common::{
    Moto, Service, Slack, Stack, eventually, health_on_free_port, rollback_button, scenario_lines, storefront_on_42,
    task_definition_of, temp_dir, write_config,
};
use serde_json::Value;
use slack_standin::requests::{BlockAction, SlashCommand};

const APP_TOKEN: &str = "xapp-1-A0STANDIN-e2e-0a1b2c3d4e5f";

/// The transport is not named: Socket Mode is the default.
const ACTIONS: &str = r#"
[slack.actions]
enabled = true

[[routes]]
cluster = "prod-*"
environment = "production"
channel = "deploys-prod"
operators = ["U0OPS"]
"#;

async fn readyz(port: u16) -> (u16, String) {
    common::http_get(port, "/readyz").await.unwrap_or((0, String::new()))
}

/// The acknowledgement of an envelope, once it came.
async fn ack(slack: &Slack, id: &str) -> Value {
    let mut got = None;
    assert!(
        eventually(30, async || {
            got = slack.state.ack_of(id);
            got.is_some()
        })
        .await,
        "{:?}",
        slack.state.acks()
    );
    got.unwrap_or_default()
}

/// What `/cutover <text>` typed by `user` answers over the socket.
async fn command(slack: &Slack, text: &str, user: &str) -> (String, Value) {
    let payload = SlashCommand::cutover(text, user, "C0DEPLOYS").payload();
    let id = slack.state.deliver("slash_commands", payload.clone()).expect("a connection is open");
    let answer = ack(slack, &id).await;
    assert_eq!(answer["payload"]["response_type"], "ephemeral", "{answer}");
    (answer["payload"]["text"].as_str().unwrap_or_default().to_owned(), payload)
}

fn metric(text: &str, endpoint: &str, outcome: &str) -> u64 {
    let key = format!("cutover_slack_requests_total{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&key)).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_socket_mode_commands_and_clicks_are_answered_a_rollback_acts_once_and_readyz_follows_the_connection() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let ecs = storefront_on_42(&moto).await;
    moto.record().await;
    let dir = temp_dir("actions-socket");
    let config = write_config(&dir, &moto, &stack, &slack, ACTIONS);
    let port = health_on_free_port(&config);
    let log = dir.join("cutover.log");
    let service = Service::start_with_env(&config, &log, Some("xoxb-e2e"), &[("SLACK_APP_TOKEN", APP_TOKEN)]);

    // Ready once Slack said hello on the connection Cutover opened.
    assert!(
        eventually(30, async || readyz(port).await.0 == 200).await,
        "{:?}\n{}",
        readyz(port).await,
        service.log_text()
    );
    assert_eq!((slack.state.sockets_opened(), slack.state.sockets_open()), (1, 1));
    let (help, _) = command(&slack, "help", "U0ALICE").await;
    assert!(help.contains("/cutover status") && help.contains("/cutover rollback"), "{help}");

    for line in scenario_lines("rolling") {
        stack.inject_in_order(&line).await;
    }
    let message = || slack.state.messages().into_iter().find(|m| m.thread_ts.is_none() && m.channel == "deploys-prod");
    assert!(
        eventually(30, async || message().as_ref().and_then(rollback_button).is_some()).await,
        "{:?}\n{}",
        message(),
        service.log_text()
    );
    let (status, _) = command(&slack, "status storefront", "U0ALICE").await;
    assert!(status.contains("storefront"), "{status}");

    // A click from someone who is not an operator: a bare acknowledgement, an ephemeral
    // refusal, no AWS call.
    let m = message().unwrap();
    let value = rollback_button(&m).unwrap();
    let click = BlockAction::on(&m, "U0ALICE", "cutover.rollback", &value).payload();
    let id = slack.state.deliver("interactive", click).expect("a connection is open");
    let answer = ack(&slack, &id).await;
    assert_eq!(answer, serde_json::json!({ "envelope_id": id }));
    let mut refusal = Vec::new();
    assert!(
        eventually(30, async || {
            refusal = slack.state.ephemerals().into_iter().filter(|e| e.user == "U0ALICE").collect();
            !refusal.is_empty()
        })
        .await,
        "{}",
        service.log_text()
    );
    assert!(refusal[0].text.contains("You may not roll back"), "{refusal:?}");
    assert!(task_definition_of(&ecs).await.ends_with("storefront:42"));

    // The operator's command: accepted, in the acknowledgement; the service goes back to 41.
    let (accepted, payload) = command(&slack, "rollback storefront production", "U0OPS").await;
    assert!(accepted.contains("Rolling back prod-eu/storefront") && accepted.contains("storefront:41"), "{accepted}");
    assert!(
        eventually(30, async || task_definition_of(&ecs).await.ends_with("storefront:41")).await,
        "{}",
        service.log_text()
    );
    // Slack sends the same envelope again (not acknowledged in time, as it thinks): the same
    // trigger, acted on once.
    assert!(slack.state.redeliver("standin-envelope-again", "slash_commands", payload, 1));
    let again = ack(&slack, "standin-envelope-again").await;
    assert!(again["payload"]["text"].as_str().unwrap_or_default().contains("already handled"), "{again}");

    // The network drops the connection, and Slack refuses new ones for a while: /readyz says
    // so; once Slack takes connections again, Cutover is back.
    slack.state.refuse_sockets(true);
    slack.state.drop_sockets();
    let mut down = (0, String::new());
    assert!(
        eventually(30, async || {
            down = readyz(port).await;
            down.0 == 503
        })
        .await,
        "{down:?}"
    );
    assert!(down.1.contains("slack socket mode: down since"), "{down:?}");
    slack.state.refuse_sockets(false);
    assert!(
        eventually(30, async || readyz(port).await.0 == 200).await,
        "{:?}\n{}",
        readyz(port).await,
        service.log_text()
    );
    assert_eq!(slack.state.sockets_opened(), 2);
    // Slack asks for a refresh: the next connection opens at once.
    slack.state.refresh_sockets();
    assert!(eventually(30, async || slack.state.sockets_opened() == 3 && slack.state.sockets_open() == 1).await);
    let (help, _) = command(&slack, "help", "U0ALICE").await;
    assert!(help.contains("/cutover status"), "{help}");

    let (_, metrics) = common::http_get(port, "/metrics").await.expect("/metrics");
    assert_eq!(metric(&metrics, "commands", "acted"), 1, "{metrics}");
    assert_eq!(metric(&metrics, "commands", "refused"), 1, "{metrics}");
    assert_eq!(metric(&metrics, "interactions", "refused"), 1, "{metrics}");
    assert_eq!(metric(&metrics, "socket", "connected"), 3, "{metrics}");
    assert!(metric(&metrics, "socket", "lost") >= 1, "{metrics}");
    assert!(service.terminate().await.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(moto.recorded("AmazonEC2ContainerServiceV20141113.UpdateService"), 1, "{text}");
    // Neither the app-level token nor a connection's ticket reaches the log.
    assert!(!text.contains(APP_TOKEN) && !text.contains("ticket="), "{text}");
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_socket_mode_without_an_app_level_token_and_it_can_come_from_secrets_manager() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("actions-socket-token");
    let config = write_config(&dir, &moto, &stack, &slack, ACTIONS);
    for (env, says) in [
        (vec![], "SLACK_APP_TOKEN is not set"),
        // A bot token where the app-level token goes.
        (vec![("SLACK_APP_TOKEN", "xoxb-not-an-app-token")], "is not one: Socket Mode needs an app-level token"),
    ] {
        let log = dir.join(format!("cutover-{}.log", env.len()));
        let mut service = Service::start_with_env(&config, &log, Some("xoxb-e2e"), &env);
        let status =
            tokio::time::timeout(std::time::Duration::from_secs(30), service.child.wait()).await.unwrap().unwrap();
        assert!(!status.success());
        let text = service.log_text();
        assert!(text.contains(says), "{text}");
        assert!(!text.contains("xoxb-not-an-app-token"), "{text}");
    }

    // From Secrets Manager, as JSON: connected, and ready.
    let arn =
        common::create_secret(&moto, "cutover/slack-app-token", &format!("{{\"app_token\": \"{APP_TOKEN}\"}}")).await;
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("enabled = true\n", &format!("enabled = true\napp_token_secret_arn = \"{arn}\"\n"));
    std::fs::write(&config, text).unwrap();
    let port = health_on_free_port(&config);
    let log = dir.join("cutover-secret.log");
    let service = Service::start_with_env(&config, &log, Some("xoxb-e2e"), &[]);
    assert!(
        eventually(30, async || readyz(port).await.0 == 200).await,
        "{:?}\n{}",
        readyz(port).await,
        service.log_text()
    );
    assert_eq!(slack.state.sockets_opened(), 1);
    assert!(service.terminate().await.success());
    assert!(!std::fs::read_to_string(&log).unwrap_or_default().contains(APP_TOKEN));
    slack.stop();
}
