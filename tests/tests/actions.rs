//! `[slack.actions]` over signed request URLs, through `cutover serve`: Slack's requests (made by
//! the stand-in's `requests`, signed as Slack signs them) are verified before anything is read;
//! refusals are HTTP 401 and counted; `/cutover help`, `status` and unknown subcommands are
//! answered from Cutover's state, ephemerally, with every value escaped.

mod common;

use common::{
    Moto, Service, Slack, Stack, eventually, health_on_free_port, rollback_button, scenario_lines, storefront_on_42,
    task_definition_of, temp_dir, write_config,
};
use slack_standin::requests::{Signing, SlashCommand, headers, now_secs, post};

const SECRET: &str = "e2e-signing-secret-0f9a8b7c6d5e";

const ACTIONS: &str = r#"
[slack.actions]
enabled = true
transport = "http"

[[routes]]
cluster = "prod-*"
environment = "production"
channel = "deploys-prod"
approvers = ["S0RELEASE"]
operators = ["U0OPS"]
"#;

async fn try_command(port: u16, text: &str, signing: Signing<'_>) -> Option<slack_standin::requests::Answer> {
    let body = SlashCommand::cutover(text, "U0ALICE", "C0DEPLOYS").body();
    post(port, "/slack/commands", &headers(signing, &body, None), &body).await.ok()
}

async fn command(port: u16, text: &str, signing: Signing<'_>) -> slack_standin::requests::Answer {
    try_command(port, text, signing).await.expect("the request URL answers")
}

fn metric(text: &str, endpoint: &str, outcome: &str) -> u64 {
    let key = format!("cutover_slack_requests_total{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&key)).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

/// `serve` with the signing secret, answering on `port`, once the rolling scenario injected
/// into `stack` has completed.
async fn serve_through_rolling(stack: &Stack, config: &std::path::Path, log: &std::path::Path, port: u16) -> Service {
    let service = Service::start_with_env(config, log, Some("xoxb-e2e"), &[("SLACK_SIGNING_SECRET", SECRET)]);
    assert!(
        eventually(30, async || common::http_get(port, "/healthz").await.is_some()).await,
        "{}",
        service.log_text()
    );
    for line in scenario_lines("rolling") {
        stack.inject_in_order(&line).await;
    }
    let mut steps = Vec::new();
    assert!(
        eventually(30, async || {
            steps.extend(stack.emitted_steps().await);
            steps.iter().any(|(_, t)| t == "Deployment Completed")
        })
        .await,
        "{steps:?}\n{}",
        service.log_text()
    );
    service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_commands_are_answered_and_unsigned_bad_stale_or_replayed_ones_refused_and_counted() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("actions-http");
    let config = write_config(&dir, &moto, &stack, &slack, ACTIONS);
    let port = health_on_free_port(&config);
    let service = serve_through_rolling(&stack, &config, &dir.join("cutover.log"), port).await;

    // Refused, each for its reason, before anything in the request is read.
    let refused = [
        (command(port, "status", Signing::Unsigned).await, "unsigned"),
        (command(port, "status", Signing::Forged).await, "bad_signature"),
        (command(port, "status", Signing::At(SECRET, now_secs() - 301)).await, "stale"),
        (command(port, "status", Signing::At(SECRET, now_secs() + 400)).await, "stale"),
    ];
    for (answer, reason) in &refused {
        assert_eq!(answer.status, 401, "{reason}: {answer:?}");
        assert!(answer.body.contains(reason), "{reason}: {answer:?}");
        assert!(!answer.body.contains("storefront"), "a refused request reads no state: {answer:?}");
    }
    let unsigned_click = post(port, "/slack/interactions", &[], "payload=%7B%7D").await.unwrap();
    assert_eq!(unsigned_click.status, 401);

    // Help.
    let help = command(port, "help", Signing::Now(SECRET)).await;
    assert_eq!(help.status, 200, "{help:?}");
    assert_eq!(help.json()["response_type"], "ephemeral");
    assert!(help.json()["text"].as_str().unwrap().contains("/cutover status"), "{help:?}");

    // Status, from Cutover's state: the service, its version and the time of its cut-over.
    let body = SlashCommand::cutover("status storefront production", "U0ALICE", "C0DEPLOYS").body();
    let signed = headers(Signing::Now(SECRET), &body, None);
    let status = post(port, "/slack/commands", &signed, &body).await.unwrap();
    assert_eq!(status.status, 200, "{status:?}");
    let text = status.json()["text"].as_str().unwrap_or_default().to_owned();
    assert_eq!(status.json()["response_type"], "ephemeral");
    assert!(text.contains("prod-eu/storefront (production): `v123` since 2026-03-14T09:31:41.900Z"), "{text}");
    assert!(!text.contains("In flight"), "the deployment completed: {text}");
    // The same signed request again (a replay, even as Slack's retry): refused.
    let mut retried = signed.clone();
    retried.push(("X-Slack-Retry-Num".to_owned(), "1".to_owned()));
    let replayed = post(port, "/slack/commands", &retried, &body).await.unwrap();
    assert_eq!(replayed.status, 401, "{replayed:?}");
    assert!(replayed.body.contains("replayed"));
    // Another service: nothing held.
    let none = command(port, "status checkout", Signing::Now(SECRET)).await;
    assert!(none.json()["text"].as_str().unwrap().contains("holds no deployment for checkout"), "{none:?}");

    // Unknown: a hint, and the text typed is data, not markup.
    let unknown = command(port, "launch <!channel> <@U0BOSS>", Signing::Now(SECRET)).await;
    let text = unknown.json()["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("not a subcommand"), "{text}");
    assert!(text.contains("&lt;!channel&gt;") && !text.contains("<!channel>") && !text.contains("<@U0BOSS>"), "{text}");
    // Deploying what the config maps nothing to: said so, nothing done.
    let deploy = command(port, "deploy production storefront", Signing::Now(SECRET)).await;
    let text = deploy.json()["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("knows no pipeline") && text.contains("Nothing was done"), "{deploy:?}");

    let (_, metrics) = common::http_get(port, "/metrics").await.expect("/metrics");
    assert_eq!(metric(&metrics, "commands", "unsigned"), 1, "{metrics}");
    assert_eq!(metric(&metrics, "commands", "bad_signature"), 1);
    assert_eq!(metric(&metrics, "commands", "stale"), 2);
    assert_eq!(metric(&metrics, "commands", "replayed"), 1);
    assert_eq!(metric(&metrics, "interactions", "unsigned"), 1);
    assert_eq!(metric(&metrics, "commands", "answered"), 3, "help and two status");
    assert_eq!(metric(&metrics, "commands", "unknown"), 1);
    assert_eq!(metric(&metrics, "commands", "refused"), 1, "the deploy");

    assert!(service.terminate().await.success());
    let log = std::fs::read_to_string(dir.join("cutover.log")).unwrap();
    assert!(log.contains("Refused a Slack request."), "{log}");
    assert!(!log.contains(SECRET), "the signing secret reached the log");
    slack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_without_the_signing_secret_and_it_can_come_from_secrets_manager() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("actions-secret");
    let config = write_config(&dir, &moto, &stack, &slack, ACTIONS);
    let log = dir.join("cutover.log");
    let mut service = Service::start_with_env(&config, &log, Some("xoxb-e2e"), &[]);
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), service.child.wait()).await.unwrap().unwrap();
    assert!(!status.success());
    assert!(service.log_text().contains("SLACK_SIGNING_SECRET is not set"), "{}", service.log_text());

    // From Secrets Manager, as JSON.
    let arn =
        common::create_secret(&moto, "cutover/slack-signing", &format!("{{\"signing_secret\": \"{SECRET}\"}}")).await;
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("transport = \"http\"\n", &format!("transport = \"http\"\nsigning_secret_arn = \"{arn}\"\n"));
    std::fs::write(&config, text).unwrap();
    let port = health_on_free_port(&config);
    let service = Service::start_with_env(&config, &log, Some("xoxb-e2e"), &[]);
    let mut help = None;
    assert!(
        eventually(30, async || {
            help = try_command(port, "help", Signing::Now(SECRET)).await.filter(|a| a.status == 200);
            help.is_some()
        })
        .await,
        "{}",
        service.log_text()
    );
    assert!(service.terminate().await.success());
    assert!(!std::fs::read_to_string(&log).unwrap_or_default().contains(SECRET));
    slack.stop();
}

/// `/cutover rollback` through `serve`: an operator's request puts the service back on the task
/// definition the deployment replaced (ECS `UpdateService` in the emulator), with a reply in the
/// deployment's thread; someone else's is refused and calls nothing; the same request again
/// and a second one for the same deployment are refused; all of it survives a `kill -9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_rolls_back_from_slack_and_nobody_else_can() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let ecs = storefront_on_42(&moto).await;
    moto.record().await;
    let dir = temp_dir("actions-rollback");
    let config = write_config(&dir, &moto, &stack, &slack, ACTIONS);
    let port = health_on_free_port(&config);
    let log = dir.join("cutover.log");
    let env = [("SLACK_SIGNING_SECRET", SECRET)];
    let service = serve_through_rolling(&stack, &config, &log, port).await;
    let rollback = async |user: &str| {
        let body = SlashCommand::cutover("rollback storefront production", user, "C0DEPLOYS").body();
        let answer = post(port, "/slack/commands", &headers(Signing::Now(SECRET), &body, None), &body).await.unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()["text"].as_str().unwrap_or_default().to_owned()
    };

    // Not an operator: refused, and nothing called.
    let refused = rollback("U0ALICE").await;
    assert!(refused.contains("You may not roll back") && refused.contains("<@U0OPS>"), "{refused}");
    assert!(task_definition_of(&ecs).await.ends_with("storefront:42"));

    // The operator: accepted, and the service goes back to 41.
    let accepted = rollback("U0OPS").await;
    assert!(accepted.contains("Rolling back prod-eu/storefront") && accepted.contains("storefront:41"), "{accepted}");
    assert!(
        eventually(30, async || task_definition_of(&ecs).await.ends_with("storefront:41")).await,
        "{}",
        service.log_text()
    );
    assert!(
        eventually(30, async || slack.replies().iter().any(|(_, text)| text.contains("asked for by <@U0OPS>"))).await,
        "{:?}",
        slack.replies()
    );

    // Killed, restarted: the request and the rollback are remembered (from the journal).
    service.kill().await;
    let service = Service::start_with_env(&config, &log, Some("xoxb-e2e"), &env);
    assert!(
        eventually(30, async || common::http_get(port, "/healthz").await.is_some()).await,
        "{}",
        service.log_text()
    );
    let again = rollback("U0OPS").await;
    assert!(again.contains("already asked for by <@U0OPS>"), "{again}");
    // On the bus, once: who rolled back what.
    let mut taken = Vec::new();
    let is_taken = |e: &serde_json::Value| e["detail-type"] == "Action Taken";
    assert!(
        eventually(30, async || {
            taken.extend(stack.emitted_events().await.into_iter().filter(is_taken));
            !taken.is_empty()
        })
        .await,
        "{}",
        service.log_text()
    );
    taken.extend(stack.emitted_events().await.into_iter().filter(is_taken));
    assert_eq!(taken.len(), 1, "{taken:?}");
    let d = &taken[0]["detail"];
    assert_eq!((d["user"].as_str(), d["asked"].as_str()), (Some("U0OPS"), Some("rollback")), "{d}");
    assert_eq!(d["operation"], "ecs:UpdateService");

    let (_, metrics) = common::http_get(port, "/metrics").await.expect("/metrics");
    assert_eq!(metric(&metrics, "commands", "refused"), 1, "{metrics}");
    assert!(service.terminate().await.success());
    let text = std::fs::read_to_string(&log).unwrap();
    // One UpdateService, whether the kill came before the call, between the call and its
    // record (the restart finds the service already on 41), or after.
    assert_eq!(moto.recorded("AmazonEC2ContainerServiceV20141113.UpdateService"), 1, "{text}");
    assert!(
        text.contains("Called AWS for a Slack user.") || text.contains("Found the effect of an earlier attempt."),
        "{text}"
    );
    assert!(text.contains("user_id=U0OPS"), "{text}");
    slack.stop();
}

const DEPLOYS: &str = r#"
[[slack.actions.deploys]]
environment = "production"
service = "storefront"
cluster = "prod-eu"
pipeline = "storefront-release"
"#;

/// CodePipeline in the emulator: `storefront-release` (two stages), with the role it runs as.
async fn storefront_pipeline(moto: &Moto) {
    use aws_sdk_codepipeline::types::{
        ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, PipelineDeclaration, StageDeclaration,
    };
    // IAM's query API, as the SDK would send it (the emulator does not check the signature).
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName=storefront-release&AssumeRolePolicyDocument={}",
        trust.bytes().map(|b| format!("%{b:02X}")).collect::<String>()
    );
    let auth = "AWS4-HMAC-SHA256 Credential=test/20260314/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
    let role =
        post(moto.port(), "/", &[("Authorization".to_owned(), auth.to_owned())], &body).await.expect("CreateRole");
    assert_eq!(role.status, 200, "{role:?}");
    let action = |name: &str, category: ActionCategory, provider: &str| {
        ActionDeclaration::builder()
            .name(name)
            .action_type_id(
                ActionTypeId::builder()
                    .category(category)
                    .owner(ActionOwner::Aws)
                    .provider(provider)
                    .version("1")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let stage = |name: &str, a: ActionDeclaration| StageDeclaration::builder().name(name).actions(a).build().unwrap();
    let pipeline = PipelineDeclaration::builder()
        .name("storefront-release")
        .role_arn("arn:aws:iam::123456789012:role/storefront-release")
        .stages(stage("Source", action("Source", ActionCategory::Source, "S3")))
        .stages(stage("Production", action("Deploy", ActionCategory::Deploy, "ECS")))
        .build()
        .unwrap();
    let client = aws_sdk_codepipeline::Client::new(&common::sdk(&moto.url));
    client.create_pipeline().pipeline(pipeline).send().await.expect("CreatePipeline");
}

/// `/cutover deploy` through `serve`: an operator's request starts the pipeline the config maps
/// (CodePipeline `StartPipelineExecution` in the emulator, once, with a token made from the
/// request); someone else's is refused and calls nothing; a second one is refused while the
/// first waits for its execution (also after a `kill -9`) and while that execution runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_deploys_from_slack_once_and_not_while_the_pipeline_runs() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    storefront_pipeline(&moto).await;
    moto.record().await;
    let dir = temp_dir("actions-deploy");
    // Operators: U0OPS by id, and the members of a user group (Slack lists them).
    let actions = ACTIONS.replace(r#"operators = ["U0OPS"]"#, r#"operators = ["U0OPS", "S0DEPLOY"]"#);
    slack.state.set_usergroup("S0DEPLOY", &["U0CAROL"]);
    let config = write_config(&dir, &moto, &stack, &slack, &format!("{actions}{DEPLOYS}"));
    let port = health_on_free_port(&config);
    let log = dir.join("cutover.log");
    let env = [("SLACK_SIGNING_SECRET", SECRET)];
    let start = || Service::start_with_env(&config, &log, Some("xoxb-e2e"), &env);
    let service = start();
    assert!(
        eventually(30, async || common::http_get(port, "/healthz").await.is_some()).await,
        "{}",
        service.log_text()
    );
    let deploy = async |user: &str| {
        let body = SlashCommand::cutover("deploy production storefront", user, "C0DEPLOYS").body();
        let answer = post(port, "/slack/commands", &headers(Signing::Now(SECRET), &body, None), &body).await.unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()["text"].as_str().unwrap_or_default().to_owned()
    };
    const START: &str = "CodePipeline_20150709.StartPipelineExecution";

    let refused = deploy("U0ALICE").await;
    assert!(
        refused.contains("You may not deploy storefront to production")
            && refused.contains("<@U0OPS>, <!subteam^S0DEPLOY>"),
        "{refused}"
    );
    // A member of the group: allowed.
    let accepted = deploy("U0CAROL").await;
    assert!(accepted.contains("Starting pipeline storefront-release"), "{accepted}");
    // Started, and its record committed (so the kill below cannot land between the two).
    let done = "cutover_outbox_actions{lane=\"controls\",status=\"done\"} 1";
    assert!(
        eventually(30, async || {
            common::http_get(port, "/metrics").await.is_some_and(|(_, m)| m.lines().any(|l| l.starts_with(done)))
        })
        .await,
        "{}",
        service.log_text()
    );
    assert_eq!(moto.recorded(START), 1);
    let again = deploy("U0OPS").await;
    assert!(again.contains("already asked for by <@U0CAROL>") && again.contains("has not started yet"), "{again}");
    // The group was listed once for the three requests (cached); S0RELEASE, which the route
    // names but this workspace does not have, counted as empty.
    let listed = |group: &str| {
        slack
            .state
            .calls()
            .iter()
            .filter(|c| c.method == "usergroups.users.list" && c.params["usergroup"] == group)
            .count()
    };
    assert_eq!(listed("S0DEPLOY"), 1);

    // Killed and restarted: the deploy asked for is remembered (from the journal).
    service.kill().await;
    let service = start();
    assert!(
        eventually(30, async || common::http_get(port, "/healthz").await.is_some()).await,
        "{}",
        service.log_text()
    );
    assert!(deploy("U0OPS").await.contains("already asked for by <@U0CAROL>"));

    // The execution it started begins (its event, as CodePipeline sends it): now that runs.
    let text = service.log_text();
    let execution = text
        .lines()
        .find(|l| l.contains("Called AWS for a Slack user."))
        .and_then(|l| l.split("result=").nth(1))
        .map(|r| r.split_whitespace().next().unwrap_or_default().trim_matches('"').to_owned())
        .expect("the execution id in the log");
    let now = cutover_events::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
    );
    let started = serde_json::json!({"version": "0", "id": "e2e-pipeline-started", "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline", "account": "123456789012", "time": now.to_string(), "region": "us-east-1",
        "resources": ["arn:aws:codepipeline:us-east-1:123456789012:storefront-release"],
        "detail": {"pipeline": "storefront-release", "execution-id": execution, "start-time": now.to_string(),
            "execution-trigger": {"trigger-type": "StartPipelineExecution", "trigger-detail": "arn:aws:sts::123456789012:assumed-role/cutover/task"},
            "state": "STARTED", "version": 1.0, "pipeline-execution-attempt": 1.0}});
    stack.inject_in_order(&started.to_string()).await;
    let short = &execution[..8];
    let mut last = String::new();
    assert!(
        eventually(30, async || {
            last = deploy("U0OPS").await;
            last.contains(&format!("already running execution `{short}"))
        })
        .await,
        "{last}\n{}",
        service.log_text()
    );

    let (_, metrics) = common::http_get(port, "/metrics").await.expect("/metrics");
    assert!(metric(&metrics, "commands", "refused") >= 2, "{metrics}");
    assert!(service.terminate().await.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(moto.recorded(START), 1, "{text}");
    assert!(text.contains("user_id=U0CAROL") && text.contains("codepipeline:StartPipelineExecution"), "{text}");
    slack.stop();
}

/// The Roll back button through `serve`, clicked as Slack sends a click (a signed
/// `block_actions` payload): a forged value (naming another deployment than its message's)
/// and someone who is not an operator are refused with an ephemeral answer and call nothing;
/// the operator's click rolls back once, also across a `kill -9` right after it, and the
/// button gives way to who asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_roll_back_acts_once_and_a_forged_or_unallowed_one_calls_nothing() {
    use slack_standin::requests::BlockAction;
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let ecs = storefront_on_42(&moto).await;
    moto.record().await;
    let dir = temp_dir("actions-click");
    let config = write_config(&dir, &moto, &stack, &slack, ACTIONS);
    let port = health_on_free_port(&config);
    let log = dir.join("cutover.log");
    let service = serve_through_rolling(&stack, &config, &log, port).await;
    let message = || slack.state.messages().into_iter().find(|m| m.thread_ts.is_none() && m.channel == "deploys-prod");
    assert!(eventually(30, async || message().as_ref().and_then(rollback_button).is_some()).await, "{:?}", message());
    let m = message().unwrap();
    let value = rollback_button(&m).unwrap();
    assert!(value.starts_with("ecs-svc/"), "{value}");
    let click = async |user: &str, value: &str| {
        let body = BlockAction::on(&m, user, "cutover.rollback", value).body();
        post(port, "/slack/interactions", &headers(Signing::Now(SECRET), &body, None), &body).await.unwrap()
    };
    let answer_to = async |user: &str, n: usize| {
        let mut seen = Vec::new();
        let got = eventually(30, async || {
            seen = slack.state.ephemerals().into_iter().filter(|e| e.user == user).collect();
            seen.len() >= n
        })
        .await;
        assert!(got, "{seen:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        seen[n - 1].text.clone()
    };

    // Forged: the value names another deployment than the message's.
    assert_eq!(click("U0OPS", "ecs-svc/1").await.status, 200);
    let text = answer_to("U0OPS", 1).await;
    assert!(text.contains("does not belong to the message"), "{text}");
    // Unsigned: 401, nothing read.
    let body = BlockAction::on(&m, "U0OPS", "cutover.rollback", &value).body();
    assert_eq!(
        post(port, "/slack/interactions", &headers(Signing::Unsigned, &body, None), &body).await.unwrap().status,
        401
    );
    // Not an operator.
    assert_eq!(click("U0ALICE", &value).await.status, 200);
    let text = answer_to("U0ALICE", 1).await;
    assert!(text.contains("You may not roll back") && text.contains("<@U0OPS>"), "{text}");
    assert!(task_definition_of(&ecs).await.ends_with("storefront:42"));

    // The operator: accepted; killed (-9) right after the click is answered, whether the
    // call was made yet or not.
    assert_eq!(click("U0OPS", &value).await.status, 200);
    service.kill().await;
    let service = Service::start_with_env(&config, &log, Some("xoxb-e2e"), &[("SLACK_SIGNING_SECRET", SECRET)]);
    assert!(
        eventually(30, async || common::http_get(port, "/healthz").await.is_some()).await,
        "{}",
        service.log_text()
    );
    assert!(
        eventually(30, async || task_definition_of(&ecs).await.ends_with("storefront:41")).await,
        "{}",
        service.log_text()
    );
    assert!(
        eventually(30, async || message().is_some_and(|m| rollback_button(&m).is_none()
            && m.blocks.as_ref().is_some_and(|b| b.to_string().contains("Rollback asked for by <@U0OPS>"))))
        .await,
        "{:?}",
        message()
    );
    // Clicked again (a client showing the old message): refused, from the journal.
    let before = slack.state.ephemerals().iter().filter(|e| e.user == "U0OPS").count();
    assert_eq!(click("U0OPS", &value).await.status, 200);
    let text = answer_to("U0OPS", before + 1).await;
    assert!(text.contains("already asked for"), "{text}");

    let (_, metrics) = common::http_get(port, "/metrics").await.expect("/metrics");
    assert_eq!(metric(&metrics, "interactions", "refused"), 1, "{metrics}");
    assert!(service.terminate().await.success());
    let text = std::fs::read_to_string(&log).unwrap();
    // One UpdateService, wherever the kill fell.
    assert_eq!(moto.recorded("AmazonEC2ContainerServiceV20141113.UpdateService"), 1, "{text}");
    assert!(
        text.contains("Called AWS for a Slack user.") || text.contains("Found the effect of an earlier attempt."),
        "{text}"
    );
    slack.stop();
}
