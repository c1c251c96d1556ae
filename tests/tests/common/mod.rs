//! The end-to-end rig, all on 127.0.0.1: the AWS emulator (`moto_server`, installed by
//! `scripts/test`), the stack Cutover reads and writes (queues, buses, rules, topics, a
//! CloudFront distribution) created through the real AWS SDK, the Slack stand-in (in process),
//! and `cutover serve` as a process of its own.

#![allow(dead_code, unreachable_pub)]

pub mod otlp;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_cloudfront::types::{
    CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin, OriginProtocolPolicy, Origins,
    ViewerProtocolPolicy,
};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The emulator (`moto_server`'s application, DynamoDB made atomic) on a free port, stopped on
/// drop.
pub struct Moto {
    pub url: String,
    child: Child,
    /// Where moto's recorder writes the requests it serves, once [`Moto::record`] starts it.
    recording: PathBuf,
}

impl Moto {
    pub async fn start() -> Self {
        let bin = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join(".venv-aws/bin/moto_server"));
        assert!(
            bin.exists(),
            "{} not found: run the tests through scripts/test, which installs moto[server] into .venv-aws",
            bin.display()
        );
        // The same moto, with DynamoDB requests made atomic as in AWS (moto's conditional
        // writes race under threads; see scripts/moto_server_atomic.py): run by the venv's
        // Python beside `moto_server`.
        let python = bin.with_file_name("python");
        let port = free_port();
        let recording = std::env::temp_dir().join(format!("cutover-moto-{}-{port}.jsonl", std::process::id()));
        let child = Command::new(&python)
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .arg(workspace().join("scripts/moto_server_atomic.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..150 {
            if http_get(port, "/moto-api/").await.is_some_and(|(status, _)| status == 200) {
                return Self { url, child, recording };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not answer on {url} within 15 s");
    }

    /// Starts moto's recorder (`/moto-api/recorder/start-recording`): every request served
    /// from now on is written down, so a test can count the calls Cutover made.
    pub async fn record(&self) {
        let _ = std::fs::remove_file(&self.recording);
        let answer = slack_standin::requests::post(self.port(), "/moto-api/recorder/start-recording", &[], "")
            .await
            .expect("start the recorder");
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    /// How many requests recorded since [`Moto::record`] carried `X-Amz-Target: <target>`
    /// (`AmazonEC2ContainerServiceV20141113.UpdateService`).
    pub fn recorded(&self, target: &str) -> usize {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| {
                e["headers"].as_object().is_some_and(|h| {
                    h.iter().any(|(k, v)| k.eq_ignore_ascii_case("x-amz-target") && v.as_str() == Some(target))
                })
            })
            .count()
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0)
    }
}

/// A plain HTTP/1.1 GET on 127.0.0.1: `(status, body)`.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(("127.0.0.1", port)))
        .await
        .ok()?
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

pub fn sdk(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "static",
        )))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build()
}

/// The resources Cutover reads and writes, created in the emulator.
pub struct Stack {
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub queue_url: String,
    pub dlq_url: String,
    /// Receives what Cutover emits on its bus.
    pub emitted_url: String,
    /// Cutover's receipts: its own events again, for checking an unknown PutEvents outcome.
    pub receipts_url: String,
    pub topic_arn: String,
    pub raw_topic_arn: String,
    pub distribution_id: String,
    /// Cutover's bus.
    pub bus_name: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs.create_queue().queue_name(name).send().await.expect("create queue").queue_url.expect("queue url");
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().expect("queue arn");
    (url, arn)
}

impl Stack {
    pub async fn create(moto: &Moto) -> Self {
        let sdk = sdk(&moto.url);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let cloudfront = aws_sdk_cloudfront::Client::new(&sdk);
        let (queue_url, queue_arn) = queue(&sqs, "cutover-events").await;
        let (dlq_url, _) = queue(&sqs, "cutover-dead-letter").await;
        let (emitted_url, emitted_arn) = queue(&sqs, "emitted-by-cutover").await;
        let (receipts_url, receipts_arn) = queue(&sqs, "cutover-receipts").await;

        // AWS events on the default bus → Cutover's queue.
        let pattern = r#"{"source": ["aws.ecs", "aws.codedeploy", "aws.codepipeline"]}"#;
        events.put_rule().name("aws-to-cutover").event_pattern(pattern).send().await.expect("rule");
        let target = Target::builder().id("cutover-queue").arn(&queue_arn).build().expect("target");
        events.put_targets().rule("aws-to-cutover").targets(target).send().await.expect("targets");
        // Deploy annotations from CI, with the stacks' own pattern.
        let pattern = std::fs::read_to_string(workspace().join("event-schemas/patterns/deploy-annotation.json"))
            .expect("annotation pattern");
        events.put_rule().name("annotations-to-cutover").event_pattern(pattern).send().await.expect("rule");
        let target = Target::builder().id("cutover-queue").arn(&queue_arn).build().expect("target");
        events.put_targets().rule("annotations-to-cutover").targets(target).send().await.expect("targets");
        // Cutover's bus → a queue the test reads.
        events.create_event_bus().name("cutover").send().await.expect("bus");
        events
            .put_rule()
            .name("cutover-to-test")
            .event_bus_name("cutover")
            .event_pattern(r#"{"source": ["cutover"]}"#)
            .send()
            .await
            .expect("rule");
        let target = Target::builder().id("emitted").arn(&emitted_arn).build().expect("target");
        let receipts = Target::builder().id("receipts").arn(&receipts_arn).build().expect("target");
        events
            .put_targets()
            .rule("cutover-to-test")
            .event_bus_name("cutover")
            .targets(target)
            .targets(receipts)
            .send()
            .await
            .expect("targets");

        // CodeDeploy deployment-group triggers: one topic with the SNS envelope, one raw.
        let topic_arn =
            sns.create_topic().name("codedeploy-triggers").send().await.expect("topic").topic_arn.expect("arn");
        sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&queue_arn).send().await.expect("subscribe");
        let raw_topic_arn =
            sns.create_topic().name("codedeploy-raw").send().await.expect("topic").topic_arn.expect("arn");
        sns.subscribe()
            .topic_arn(&raw_topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe raw");

        let distribution_id = create_distribution(&cloudfront).await;
        Self {
            sqs,
            sns,
            events,
            cloudfront,
            queue_url,
            dlq_url,
            emitted_url,
            receipts_url,
            topic_arn,
            raw_topic_arn,
            distribution_id,
            bus_name: "cutover".to_owned(),
        }
    }
}

/// A CloudFront distribution (the emulator's CloudFormation skips `AWS::CloudFront::*`).
pub async fn create_distribution(cloudfront: &aws_sdk_cloudfront::Client) -> String {
    let origin = Origin::builder()
        .id("site")
        .domain_name("site.example.com")
        .custom_origin_config(
            CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                .build()
                .expect("origin config"),
        )
        .build()
        .expect("origin");
    let config = DistributionConfig::builder()
        .caller_reference("cutover-e2e")
        .comment("cutover e2e")
        .enabled(true)
        .origins(Origins::builder().quantity(1).items(origin).build().expect("origins"))
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("site")
                .viewer_protocol_policy(ViewerProtocolPolicy::AllowAll)
                .build()
                .expect("cache behaviour"),
        )
        .build()
        .expect("distribution config");
    cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("distribution")
        .distribution
        .expect("distribution")
        .id
}

impl Stack {
    /// Sends one recorded SQS body the way AWS would have delivered it: an EventBridge event
    /// through `PutEvents` (rules route it), an SNS envelope's `Message` through `Publish`
    /// (the subscription wraps it again), a bare trigger through the raw-delivery topic.
    pub async fn inject(&self, line: &str) {
        let v: Value = serde_json::from_str(line).expect("scenario lines are JSON");
        if let Some(detail_type) = v.get("detail-type").and_then(Value::as_str) {
            let time = v["time"].as_str().and_then(|t| cutover_events::Timestamp::parse(t).ok()).map(|t| t.millis());
            let mut entry = PutEventsRequestEntry::builder()
                .source(v["source"].as_str().unwrap_or_default())
                .detail_type(detail_type)
                .detail(v["detail"].to_string());
            if let Some(ms) = time {
                entry = entry.time(aws_sdk_eventbridge::primitives::DateTime::from_millis(ms));
            }
            for r in v["resources"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                entry = entry.resources(r);
            }
            let out = self.events.put_events().entries(entry.build()).send().await.expect("put events");
            assert_eq!(out.failed_entry_count(), 0, "PutEvents failed for {line}");
        } else if v.get("Type").is_some() {
            let mut publish =
                self.sns.publish().topic_arn(&self.topic_arn).message(v["Message"].as_str().unwrap_or_default());
            if let Some(subject) = v.get("Subject").and_then(Value::as_str) {
                publish = publish.subject(subject);
            }
            publish.send().await.expect("publish");
        } else {
            self.sns.publish().topic_arn(&self.raw_topic_arn).message(line).send().await.expect("publish raw");
        }
    }

    /// Like [`Stack::inject`], then waits (at most 10 s) until the queue holds nothing, neither
    /// waiting nor in flight: the service has handled the message before the next one comes.
    /// For tests that compare `serve` with `replay` on one order: SQS and SNS guarantee none,
    /// and two pollers can hand batches over in either order.
    pub async fn inject_in_order(&self, line: &str) {
        self.inject(line).await;
        for _ in 0..200 {
            let attrs = self
                .sqs
                .get_queue_attributes()
                .queue_url(&self.queue_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .expect("queue attributes");
            let count = |name: QueueAttributeName| {
                attrs.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            };
            if count(QueueAttributeName::ApproximateNumberOfMessages) == 0
                && count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible) == 0
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a body straight to Cutover's queue (for malformed input).
    pub async fn send_raw(&self, body: &str) {
        self.sqs.send_message().queue_url(&self.queue_url).message_body(body).send().await.expect("send");
    }

    /// Every message currently in `url` (received and deleted), bounded.
    pub async fn drain(&self, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut all = Vec::new();
        for _ in 0..50 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in &messages {
                if let Some(h) = m.receipt_handle() {
                    let _ = self.sqs.delete_message().queue_url(url).receipt_handle(h).send().await;
                }
            }
            all.extend(messages);
        }
        all
    }

    /// The events Cutover emitted since the last call (read from the test queue), as JSON.
    pub async fn emitted_events(&self) -> Vec<Value> {
        self.drain(&self.emitted_url)
            .await
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or_default()).expect("emitted event is JSON"))
            .collect()
    }

    /// `(deployment, detail-type)` of the events Cutover emitted since the last call (an
    /// approval's events by its approval id).
    pub async fn emitted_steps(&self) -> Vec<(String, String)> {
        self.emitted_events()
            .await
            .iter()
            .map(|v| {
                (
                    v["detail"]["deployment_id"]
                        .as_str()
                        .or_else(|| v["detail"]["approval_id"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    v["detail-type"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Invalidations the distribution received: `(id, caller reference)`.
    pub async fn invalidations(&self) -> Vec<(String, String)> {
        let list = self
            .cloudfront
            .list_invalidations()
            .distribution_id(&self.distribution_id)
            .send()
            .await
            .expect("list invalidations");
        let mut out = Vec::new();
        for s in list.invalidation_list().map(|l| l.items().to_vec()).unwrap_or_default() {
            let got = self
                .cloudfront
                .get_invalidation()
                .distribution_id(&self.distribution_id)
                .id(s.id())
                .send()
                .await
                .expect("get invalidation");
            let reference = got
                .invalidation()
                .and_then(|i| i.invalidation_batch())
                .map(|b| b.caller_reference().to_owned())
                .unwrap_or_default();
            out.push((s.id().to_owned(), reference));
        }
        out
    }
}

/// The Slack stand-in, in this process.
pub struct Slack {
    pub state: slack_standin::Standin,
    pub port: u16,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Slack {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = slack_standin::Standin::new();
        // Socket Mode's WebSockets, which `apps.connections.open` names.
        let sockets = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        state.serve_sockets(sockets).expect("socket mode");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let _ = slack_standin::serve(listener, served, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self { state, port, stop }
    }

    /// Top-level posts per deployment (by the message metadata Cutover sets).
    pub fn top_level_posts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut posts = std::collections::BTreeMap::new();
        for m in self.state.messages().into_iter().filter(|m| m.thread_ts.is_none()) {
            let dep = m
                .metadata
                .as_ref()
                .and_then(|md| md["event_payload"]["deployment_id"].as_str())
                .unwrap_or("?")
                .to_owned();
            *posts.entry(dep).or_default() += 1;
        }
        posts
    }

    /// Every thread reply as `(thread ts, text)`, in the order received.
    pub fn replies(&self) -> Vec<(String, String)> {
        self.state
            .messages()
            .into_iter()
            .filter_map(|m| Some((m.thread_ts.clone()?, m.text.clone().unwrap_or_default())))
            .collect()
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    pub fn stop(self) {
        let _ = self.stop.send(());
    }
}

/// ECS in the emulator as the rolling scenario left it: cluster `prod-eu`, service
/// `storefront` on task definition `storefront:42`.
pub async fn storefront_on_42(moto: &Moto) -> aws_sdk_ecs::Client {
    use aws_sdk_ecs::types::ContainerDefinition;
    let ecs = aws_sdk_ecs::Client::new(&sdk(&moto.url));
    ecs.create_cluster().cluster_name("prod-eu").send().await.expect("cluster");
    for _ in 0..42 {
        ecs.register_task_definition()
            .family("storefront")
            .container_definitions(ContainerDefinition::builder().name("web").image("storefront:v").memory(128).build())
            .send()
            .await
            .expect("task definition");
    }
    ecs.create_service()
        .cluster("prod-eu")
        .service_name("storefront")
        .task_definition("storefront:42")
        .desired_count(1)
        .send()
        .await
        .expect("service");
    ecs
}

pub async fn task_definition_of(ecs: &aws_sdk_ecs::Client) -> String {
    let out = ecs.describe_services().cluster("prod-eu").services("storefront").send().await.expect("describe");
    out.services().first().and_then(|s| s.task_definition()).unwrap_or_default().to_owned()
}

/// The value of the Roll back button on a message's blocks, if it has one.
pub fn rollback_button(m: &slack_standin::Message) -> Option<String> {
    let blocks = m.blocks.as_ref()?.as_array()?;
    blocks
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().into_iter().flatten())
        .find_map(|e| {
            (e["action_id"] == "cutover.rollback").then(|| e["value"].as_str().unwrap_or_default().to_owned())
        })
}

/// A Secrets Manager secret in the emulator holding `value`: its ARN.
pub async fn create_secret(moto: &Moto, name: &str, value: &str) -> String {
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk(&moto.url));
    let created = secrets.create_secret().name(name).secret_string(value).send().await.expect("secret");
    created.arn.expect("arn")
}

/// Writes a serve config for `stack` and `slack` into `dir`, with `extra` TOML appended.
pub fn write_config(dir: &Path, moto: &Moto, stack: &Stack, slack: &Slack, extra: &str) -> PathBuf {
    let text = format!(
        r#"[slack]
channel = "deployments"
api_url = "{api}"
messages_per_second = 50.0
# The stand-in does not limit rates here: the tests of other things are not paced by Slack's
# 50 updates a minute (tests/slack_pacing.rs keeps to it).
updates_per_minute = 3000.0

[aws]
region = "us-east-1"
endpoint_url = "{moto}"
max_attempts = 2

[sqs]
queue_url = "{queue}"
dead_letter_queue_url = "{dlq}"
pollers = 2
wait_time_secs = 1
visibility_timeout_secs = 5

[eventbridge]
bus_name = "{bus}"
receipts_queue_url = "{receipts}"
receipt_wait_secs = 3.0

[store]
path = "{db}"
snapshot_every = 7

[http]
listen = "127.0.0.1:0"

[executors]
backoff_initial_ms = 100
backoff_max_ms = 1000
shutdown_grace_secs = 5

# No glob: every deployment's cut-over, even one whose service is not known yet.
[[invalidations]]
distribution_id = "{dist}"
paths = ["/*"]
{extra}"#,
        api = slack.api_url(),
        moto = moto.url,
        queue = stack.queue_url,
        dlq = stack.dlq_url,
        db = dir.join("cutover.db").display(),
        dist = stack.distribution_id,
        bus = stack.bus_name,
        receipts = stack.receipts_url,
    );
    let path = dir.join("cutover.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Moves the health endpoints of `config` onto a free port, and says which.
pub fn health_on_free_port(config: &Path) -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let text = std::fs::read_to_string(config)
        .expect("config")
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""));
    std::fs::write(config, text).expect("write config");
    port
}

/// `cutover serve` as a process of its own.
pub struct Service {
    pub child: Child,
    pub log: PathBuf,
}

impl Service {
    pub fn start(config: &Path, log: &Path) -> Self {
        Self::start_with_token(config, log, Some("xoxb-e2e-secret-token-value"))
    }

    /// With `token` as `SLACK_BOT_TOKEN`, or without that variable.
    pub fn start_with_token(config: &Path, log: &Path, token: Option<&str>) -> Self {
        Self::start_with_env(config, log, token, &[])
    }

    /// With `token` as `SLACK_BOT_TOKEN` (or without it) and `env` set besides.
    pub fn start_with_env(config: &Path, log: &Path, token: Option<&str>, env: &[(&str, &str)]) -> Self {
        Self::start_bin(Path::new(env!("CARGO_BIN_EXE_cutover-under-test")), config, log, token, env)
    }

    /// [`Service::start_with_env`] with another build of the service (a benchmark's "before").
    pub fn start_bin(bin: &Path, config: &Path, log: &Path, token: Option<&str>, env: &[(&str, &str)]) -> Self {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let mut command = Command::new(bin);
        match token {
            Some(t) => command.env("SLACK_BOT_TOKEN", t),
            None => command.env_remove("SLACK_BOT_TOKEN"),
        };
        let child = command
            .args(["serve", "--config", &config.display().to_string()])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("RUST_LOG", "info")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("start cutover serve");
        Self { child, log: log.to_owned() }
    }

    /// SIGKILL, no chance to clean up.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, and the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits within 30 s")
            .expect("status")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The unfinished actions of a service's SQLite store, a line each, for a failure message: what
/// was still due, in which state, after how many attempts, and when it would be tried next.
pub fn unfinished_actions(db: &Path) -> String {
    use cutover::store::{Lane, Outbox as _, sqlite::SqliteStore};
    let Ok(mut store) = SqliteStore::open(db) else { return format!("{}: cannot open", db.display()) };
    let now = cutover::executors::now_ms();
    let mut lines = vec![format!("unfinished actions in {} at {now}:", db.display())];
    for lane in [Lane::Slack, Lane::CloudFront, Lane::EventBridge] {
        for item in store.due(lane, i64::MAX, 1_000).unwrap_or_default() {
            lines.push(format!(
                "  {} #{} {} {} attempts={} next in {} ms",
                lane.as_str(),
                item.id,
                item.action.name(),
                item.status.as_str(),
                item.attempts,
                item.next_attempt_ms - now
            ));
        }
    }
    lines.join("\n")
}

/// Polls `check` every 100 ms until it holds or `secs` pass.
pub async fn eventually(secs: u64, mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..secs * 10 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A fresh temporary directory under the target dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = workspace().join("target/e2e").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The lifecycle of a scenario's expected.json: `(deployment, detail-type)` in order.
pub fn expected_lifecycle(name: &str) -> Vec<(String, String)> {
    let path = workspace().join("tests/scenarios").join(name).join("expected.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("expected.json")).expect("json");
    // The approval events too (named by their approval id), where the scenario has them.
    v["lifecycle"]
        .as_array()
        .expect("lifecycle")
        .iter()
        .chain(v["approvals"].as_array().into_iter().flatten())
        .map(|x| (x[0].as_str().unwrap_or_default().to_owned(), x[1].as_str().unwrap_or_default().to_owned()))
        .collect()
}

pub fn scenario_lines(name: &str) -> Vec<String> {
    let path = workspace().join("tests/scenarios").join(name).join("input.jsonl");
    std::fs::read_to_string(path).expect("input").lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

/// The value of an unlabelled sample `name` in Prometheus text (0 when it is not there).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
