//! The config file: one TOML document, every key documented here and in `docs/config.md`.
//! Unknown keys and bad globs are rejected with the file, line and key named. Environment
//! variables override keys: `CUTOVER_` + the key path in upper case, `__` between levels
//! (`CUTOVER_SLACK__CHANNEL=deploys`). Secrets never come from this file.

pub mod actions;
pub mod sinks;

use std::path::{Path, PathBuf};

use cutover_correlator::routing::{Invalidation, Route, Routing};
use serde::Deserialize;

/// The whole config.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Slack settings.
    #[serde(default)]
    pub slack: SlackConfig,
    /// The routes' message templates, read from the files they name: name → source.
    #[serde(skip)]
    pub templates: std::collections::BTreeMap<String, String>,
    /// Routes, first match wins: channel and environment per cluster/service/application.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// CloudFront invalidations made at each matching deployment's cut-over.
    #[serde(default)]
    pub invalidations: Vec<Invalidation>,
    /// Tools told of each matching deployment's lifecycle (GitHub, Grafana, …).
    #[serde(default)]
    pub sinks: Vec<sinks::SinkConfig>,
    /// How long, in event time, finished deployments and dedupe keys are kept.
    #[serde(default)]
    pub state: StateConfig,
    /// AWS clients (`serve`).
    #[serde(default)]
    pub aws: AwsConfig,
    /// The queue `serve` reads.
    #[serde(default)]
    pub sqs: SqsConfig,
    /// Where `serve` emits lifecycle events.
    #[serde(default)]
    pub eventbridge: EventBridgeConfig,
    /// The durable store of `serve`.
    #[serde(default)]
    pub store: StoreConfig,
    /// The health endpoints of `serve`.
    #[serde(default)]
    pub http: HttpConfig,
    /// Retries of the executors (Slack, CloudFront, EventBridge, sinks).
    #[serde(default)]
    pub executors: ExecutorsConfig,
    /// Logging of `serve`.
    #[serde(default)]
    pub log: LogConfig,
    /// Which events are let in at all.
    #[serde(default)]
    pub intake: IntakeConfig,
    /// OpenTelemetry traces and metrics of `serve`.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// What `serve` asks the AWS APIs (CodeDeploy traffic weights).
    #[serde(default)]
    pub reconciler: ReconcilerConfig,
}

/// `[reconciler]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcilerConfig {
    /// Ask CodeDeploy for the traffic weights of blue/green deployments in flight. Default true.
    pub enabled: bool,
    /// Seconds between two rounds. Default 15.
    pub interval_secs: f64,
    /// At most this many API calls a second. Default 5.
    pub calls_per_second: f64,
    /// Endpoint of the CodeDeploy API, over `[aws] endpoint_url` (a VPC endpoint, or a local
    /// stand-in: the emulator cannot move a deployment).
    pub codedeploy_endpoint_url: Option<String>,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        Self { enabled: true, interval_secs: 15.0, calls_per_second: 5.0, codedeploy_endpoint_url: None }
    }
}

/// `[telemetry]`: OpenTelemetry export over OTLP/HTTP (protobuf).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The collector's base URL (`http://127.0.0.1:4318`): traces go to `/v1/traces`, metrics
    /// to `/v1/metrics`. Unset: `OTEL_EXPORTER_OTLP_ENDPOINT` if set, else nothing is exported
    /// (trace ids are still made, for emitted events and log lines; spans are not recorded).
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported resource. Default `cutover`.
    pub service_name: String,
    /// How often metrics are exported, in seconds. Default 60.
    pub metrics_interval_secs: f64,
    /// Timeout of one export call, in seconds. Default 10.
    pub export_timeout_secs: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "cutover".to_owned(),
            metrics_interval_secs: 60.0,
            export_timeout_secs: 10.0,
        }
    }
}

/// `[intake]`: an allow-list of where events may come from. Empty lists allow everything.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// AWS account ids events may come from. An event from another account, or one that
    /// names no account at all, is rejected (dead-lettered) with the reason.
    #[serde(default)]
    pub allowed_accounts: Vec<String>,
    /// AWS regions events may come from, likewise.
    #[serde(default)]
    pub allowed_regions: Vec<String>,
}

impl IntakeConfig {
    /// `Err(reason)` when the message comes from outside the allow-list.
    pub fn admit(&self, message: &cutover_events::Inbound) -> Result<(), String> {
        if self.allowed_accounts.is_empty() && self.allowed_regions.is_empty() {
            return Ok(());
        }
        let origin = message.origin();
        let check = |allowed: &[String], value: Option<&str>, what: &str| -> Result<(), String> {
            if allowed.is_empty() {
                return Ok(());
            }
            match value {
                Some(v) if allowed.iter().any(|a| a == v) => Ok(()),
                Some(v) => Err(format!("{what} {v} is not in the allow-list")),
                None => Err(format!("the event names no {what}, and an allow-list is set")),
            }
        };
        check(&self.allowed_accounts, origin.account.as_deref(), "account")?;
        check(&self.allowed_regions, origin.region.as_deref(), "region")
    }
}

/// `[log]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default, for terminals) or `json` (one object per line, for CloudWatch).
    #[serde(default)]
    pub format: LogFormat,
}

/// How `serve` writes its log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[aws]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Region; default: the SDK's chain (`AWS_REGION`, profile), else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override for every AWS client (the local emulator); `AWS_ENDPOINT_URL` also works.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call, including the first (the SDK's retry). Default 3.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// `[sqs]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqsConfig {
    /// URL of the queue the EventBridge rules and SNS topics deliver to. Required by `serve`.
    pub queue_url: Option<String>,
    /// Dead-letter queue for malformed messages (sent with the reason as the message
    /// attribute `cutover.rejection`, then deleted). Without it they are left for the queue's
    /// redrive policy.
    pub dead_letter_queue_url: Option<String>,
    /// Concurrent long-polling receivers. Default 2.
    pub pollers: usize,
    /// Messages per receive, 1 to 10. Default 10.
    pub max_messages: i32,
    /// Long-poll wait, 0 to 20 seconds. Default 20.
    pub wait_time_secs: i32,
    /// Visibility timeout asked for on receive, and by which a batch that waits is extended.
    /// Default 60.
    pub visibility_timeout_secs: i32,
    /// Received batches that may wait for the correlator (the backpressure). Default 4.
    pub buffer_batches: usize,
}

impl Default for SqsConfig {
    fn default() -> Self {
        Self {
            queue_url: None,
            dead_letter_queue_url: None,
            pollers: 2,
            max_messages: 10,
            wait_time_secs: 20,
            visibility_timeout_secs: 60,
            buffer_batches: 4,
        }
    }
}

/// `[eventbridge]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventBridgeConfig {
    /// Name or ARN of the bus lifecycle events go to. Default `cutover`.
    pub bus_name: String,
    /// An SQS queue that a rule on the bus fills with Cutover's own events (the receipts). When
    /// a PutEvents had no known outcome (a crash or a timeout mid-call), Cutover looks there
    /// for the event before sending it again, so it is not emitted twice. Without it, such an
    /// event is sent again (at least once).
    pub receipts_queue_url: Option<String>,
    /// How long to look for a receipt before sending again, in seconds. Default 10.
    pub receipt_wait_secs: f64,
}

impl Default for EventBridgeConfig {
    fn default() -> Self {
        Self { bus_name: "cutover".to_owned(), receipts_queue_url: None, receipt_wait_secs: 10.0 }
    }
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The SQLite file. Default `cutover.db` in the working directory.
    pub path: PathBuf,
    /// Journal entries between two snapshots of the correlator state. Default 1000.
    pub snapshot_every: u32,
    /// `sqlite` (default: one process, the file at `path`) or `dynamodb` (several replicas
    /// sharing `table`).
    pub backend: StoreBackend,
    /// The DynamoDB table (keys `pk` and `sk`, strings). Required with `backend = "dynamodb"`.
    pub table: Option<String>,
    /// DynamoDB: how long a replica's claim on an action holds off the others, in seconds.
    /// Default 30.
    pub lease_secs: f64,
}

/// Where `serve` keeps its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Dynamodb,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: "cutover.db".into(),
            snapshot_every: 1000,
            backend: StoreBackend::default(),
            table: None,
            lease_secs: 30.0,
        }
    }
}

/// `[http]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of `/healthz`, `/readyz` and `/metrics`. Default `127.0.0.1:8080`.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8080".to_owned() }
    }
}

/// `[executors]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorsConfig {
    /// First retry delay in milliseconds; doubles per attempt, with jitter. Default 500.
    pub backoff_initial_ms: u64,
    /// Longest retry delay in milliseconds. Default 60000.
    pub backoff_max_ms: u64,
    /// How long shutdown keeps executing due actions before it exits. Default 20 seconds
    /// (ECS gives 30 after SIGTERM).
    pub shutdown_grace_secs: u64,
}

impl Default for ExecutorsConfig {
    fn default() -> Self {
        Self { backoff_initial_ms: 500, backoff_max_ms: 60_000, shutdown_grace_secs: 20 }
    }
}

/// `[slack]`. The bot token is a secret: it comes only from the environment
/// (`SLACK_BOT_TOKEN`), never from this file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// The channel of deployments no route matches. Default `deployments`.
    pub channel: String,
    /// The Web API base URL. Default `https://slack.com/api` (a stand-in in tests).
    pub api_url: String,
    /// Messages (posts and thread replies) per second per channel (Slack allows about one).
    /// Default 1.0.
    pub messages_per_second: f64,
    /// `chat.update` calls per minute across the workspace (Slack's Tier 3: 50). Default 50.
    pub updates_per_minute: f64,
    /// Calls of one limit that may go at once before the pacing starts, as Slack lets short
    /// bursts through. Default 3.
    pub burst: u32,
    /// Seconds one Slack call may take; after that its outcome is unknown (a post is then
    /// looked up before it is sent again). Default 10.
    pub timeout_secs: f64,
    /// ARN (or name) of an AWS Secrets Manager secret holding the bot token, used when
    /// `SLACK_BOT_TOKEN` is not set: the plain token, or a JSON object with a `token`,
    /// `bot_token` or `SLACK_BOT_TOKEN` key.
    pub token_secret_arn: Option<String>,
    /// Deployers' names (a pipeline's trigger detail, an annotation's actor, an IAM user or
    /// role session name) → Slack user ids, for mentions on failure.
    pub people: std::collections::BTreeMap<String, cutover_correlator::routing::SlackId>,
    /// `[slack.actions]`: buttons and `/cutover`. Off by default.
    pub actions: actions::ActionsConfig,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            channel: "deployments".to_owned(),
            api_url: "https://slack.com/api".to_owned(),
            messages_per_second: 1.0,
            updates_per_minute: 50.0,
            burst: 3,
            timeout_secs: 10.0,
            token_secret_arn: None,
            people: std::collections::BTreeMap::new(),
            actions: actions::ActionsConfig::default(),
        }
    }
}

/// `[state]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Retention in hours of event time after a deployment's last decision (or last activity,
    /// for one that never ends), and of dedupe keys. Default 168 (7 days).
    pub retention_hours: u32,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self { retention_hours: 168 }
    }
}

/// Why a config could not be loaded; the message names the file, line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("invalid environment override {var}: {message}")]
    Override { var: String, message: String },
    #[error("{path}: routes[{route}] template {file}: {message}")]
    Template { path: PathBuf, route: usize, file: String, message: String },
}

impl Config {
    /// Loads a file (or the defaults when `path` is `None`) and applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, cutover_env(std::env::vars_os())?)
    }

    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (text, shown) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.to_owned(), source })?,
                p.to_owned(),
            ),
            None => (String::new(), PathBuf::from("<defaults>")),
        };
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut config = Self::parse(&text, &shown, env.iter().cloned())?;
        if let Some((key, message)) = config.out_of_range().into_iter().next() {
            return Err(locate(&text, &shown, &env, key, message));
        }
        config.check_lease(&shown)?;
        if let Some((i, key, why)) = sinks::check(&config.sinks) {
            let at = sinks::line_of(&text, i, key).map(|n| format!("line {n}: ")).unwrap_or_default();
            return Err(ConfigError::Invalid { path: shown.clone(), message: format!("{at}sinks[{i}] {key}: {why}") });
        }
        let base = path.and_then(Path::parent).map(Path::to_owned).unwrap_or_default();
        config.load_templates(&base, &shown)?;
        Ok(config)
    }

    /// Reads each route's template file (relative to the config file), compiles it and
    /// renders it against sample deployments in every state: an error names the route, the
    /// file, the block and the line.
    fn load_templates(&mut self, base: &Path, shown: &Path) -> Result<(), ConfigError> {
        let mut sources = std::collections::BTreeMap::new();
        for (i, route) in self.routes.iter().enumerate() {
            let Some(file) = &route.template else { continue };
            let err = |message: String| template_error(shown, i, file, message);
            if file == cutover_correlator::slack::templates::DEFAULT {
                continue;
            }
            let source = std::fs::read_to_string(base.join(file)).map_err(|e| err(format!("cannot read it: {e}")))?;
            sources.insert(file.clone(), source);
        }
        let (templates, errors) = cutover_correlator::slack::templates::Templates::new(&sources);
        for (i, route) in self.routes.iter().enumerate() {
            let Some(file) = &route.template else { continue };
            let err = |message: String| template_error(shown, i, file, message);
            if let Some(e) = errors.iter().find(|e| e.template == *file) {
                return Err(err(describe_template_error(e)));
            }
            templates.check(file).map_err(|e| err(describe_template_error(&e)))?;
        }
        self.templates = sources;
        Ok(())
    }

    fn parse(text: &str, shown: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        // Validate the file on its own first, so errors carry its line numbers.
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: shown.to_owned(),
            message: with_hint(one_line(&e.to_string())),
        })?;
        let overrides: Vec<(String, String)> =
            env.into_iter().filter(|(k, _)| k.starts_with("CUTOVER_") && k.len() > "CUTOVER_".len()).collect();
        if overrides.is_empty() {
            return Ok(config);
        }
        let mut table: toml::Table = toml::from_str(text).unwrap_or_default();
        let mut names = Vec::new();
        for (var, value) in &overrides {
            let path: Vec<String> = var["CUTOVER_".len()..].split("__").map(|s| s.to_ascii_lowercase()).collect();
            set_path(&mut table, &path, parse_value(value))
                .map_err(|message| ConfigError::Override { var: var.clone(), message })?;
            names.push(var.clone());
        }
        toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Override {
            var: names.join(", "),
            message: one_line(e.message()),
        })
    }

    /// Every value `serve` could not use, as `(key path, why)`: ranges, durations that are not
    /// finite, keys a backend needs, addresses that do not parse. Nothing is clamped.
    fn out_of_range(&self) -> Vec<(&'static str, String)> {
        let mut bad: Vec<(&'static str, String)> = Vec::new();
        let mut int = |key: &'static str, v: i64, lo: i64, hi: i64| {
            if !(lo..=hi).contains(&v) {
                bad.push((key, format!("{v} is out of range ({lo} to {hi})")));
            }
        };
        int("sqs.max_messages", i64::from(self.sqs.max_messages), 1, 10);
        int("sqs.wait_time_secs", i64::from(self.sqs.wait_time_secs), 0, 20);
        int("sqs.visibility_timeout_secs", i64::from(self.sqs.visibility_timeout_secs), 0, 43_200);
        int("sqs.pollers", i64::try_from(self.sqs.pollers).unwrap_or(i64::MAX), 1, 16);
        int("sqs.buffer_batches", i64::try_from(self.sqs.buffer_batches).unwrap_or(i64::MAX), 1, 1_000);
        int("slack.burst", i64::from(self.slack.burst), 1, 100);
        int("store.snapshot_every", i64::from(self.store.snapshot_every), 1, 1_000_000);
        int("state.retention_hours", i64::from(self.state.retention_hours), 1, 24 * 366);
        int(
            "executors.backoff_initial_ms",
            i64::try_from(self.executors.backoff_initial_ms).unwrap_or(i64::MAX),
            1,
            3_600_000,
        );
        int(
            "executors.backoff_max_ms",
            i64::try_from(self.executors.backoff_max_ms).unwrap_or(i64::MAX),
            i64::try_from(self.executors.backoff_initial_ms).unwrap_or(1),
            3_600_000,
        );
        int(
            "executors.shutdown_grace_secs",
            i64::try_from(self.executors.shutdown_grace_secs).unwrap_or(i64::MAX),
            0,
            3_600,
        );
        if let Some(n) = self.aws.max_attempts {
            int("aws.max_attempts", i64::from(n), 1, 20);
        }
        let mut float = |key: &'static str, v: f64, lo: f64, hi: f64, unit: &str| {
            if !v.is_finite() {
                bad.push((key, format!("{v} is not a finite number of {unit}")));
            } else if !(lo..=hi).contains(&v) {
                bad.push((key, format!("{v} is out of range ({lo} to {hi} {unit})")));
            }
        };
        float("slack.messages_per_second", self.slack.messages_per_second, 0.01, 1_000.0, "messages a second");
        float("slack.updates_per_minute", self.slack.updates_per_minute, 1.0, 60_000.0, "updates a minute");
        float("slack.timeout_secs", self.slack.timeout_secs, 0.1, 300.0, "seconds");
        float("reconciler.interval_secs", self.reconciler.interval_secs, 1.0, 86_400.0, "seconds");
        float("reconciler.calls_per_second", self.reconciler.calls_per_second, 0.1, 100.0, "calls a second");
        float("telemetry.metrics_interval_secs", self.telemetry.metrics_interval_secs, 0.1, 86_400.0, "seconds");
        float("telemetry.export_timeout_secs", self.telemetry.export_timeout_secs, 0.1, 300.0, "seconds");
        float("eventbridge.receipt_wait_secs", self.eventbridge.receipt_wait_secs, 0.0, 300.0, "seconds");
        float("store.lease_secs", self.store.lease_secs, 1.0, 3_600.0, "seconds");
        if self.store.backend == StoreBackend::Dynamodb && self.store.table.as_deref().is_none_or(str::is_empty) {
            bad.push(("store.table", "is required with backend = \"dynamodb\"".to_owned()));
        }
        if self.slack.channel.trim().is_empty() {
            bad.push(("slack.channel", "must not be empty".to_owned()));
        }
        bad.extend(self.slack.actions.check());
        if let Err(why) = check_listen(&self.http.listen) {
            bad.push(("http.listen", why));
        }
        for (key, url) in [
            ("slack.api_url", Some(&self.slack.api_url)),
            ("aws.endpoint_url", self.aws.endpoint_url.as_ref()),
            ("reconciler.codedeploy_endpoint_url", self.reconciler.codedeploy_endpoint_url.as_ref()),
            ("telemetry.otlp_endpoint", self.telemetry.otlp_endpoint.as_ref()),
            ("sqs.queue_url", self.sqs.queue_url.as_ref()),
            ("sqs.dead_letter_queue_url", self.sqs.dead_letter_queue_url.as_ref()),
            ("eventbridge.receipts_queue_url", self.eventbridge.receipts_queue_url.as_ref()),
        ] {
            if let Some(url) = url
                && let Err(why) = check_url(url)
            {
                bad.push((key, why));
            }
        }
        bad
    }

    /// With replicas, a claim must outlast what it covers (a Slack call, the look for an
    /// event's receipt): otherwise a second replica could take the action over mid-way and do
    /// it again.
    fn check_lease(&self, shown: &Path) -> Result<(), ConfigError> {
        if self.store.backend != StoreBackend::Dynamodb {
            return Ok(());
        }
        let lease = self.store.lease_secs;
        let mut covered = Vec::new();
        if self.eventbridge.receipts_queue_url.is_some() {
            covered.push((
                "[eventbridge] receipt_wait_secs",
                self.eventbridge.receipt_wait_secs,
                "its look for the event's receipt",
            ));
        }
        covered.push(("[slack] timeout_secs", self.slack.timeout_secs, "its Slack call"));
        match covered.into_iter().find(|(_, secs, _)| *secs >= lease) {
            Some((name, secs, what)) => Err(ConfigError::Invalid {
                path: shown.to_owned(),
                message: format!(
                    "{name} ({secs}) must be shorter than [store] lease_secs ({lease}): a replica's claim on an \
                     action must outlast {what}"
                ),
            }),
            None => Ok(()),
        }
    }

    /// The routing part, for the correlator.
    pub fn routing(&self) -> Routing {
        Routing {
            default_channel: self.slack.channel.clone(),
            routes: self.routes.clone(),
            invalidations: self.invalidations.clone(),
            people: self.slack.people.clone(),
            templates: self.templates.clone(),
            sinks: self.sinks.iter().map(sinks::SinkConfig::routing).collect(),
            deploys: self.slack.actions.deploys.clone(),
            actions: self.slack.actions.enabled,
        }
    }

    pub fn retention_ms(&self) -> i64 {
        i64::from(self.state.retention_hours) * 3600 * 1000
    }
}

/// `host:port` or `ip:port`, as `serve` binds it.
fn check_listen(listen: &str) -> Result<(), String> {
    if listen.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || Err(format!("{listen:?} is not an address (host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080)"));
    let Some((host, port)) = listen.rsplit_once(':') else { return bad() };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if host_ok && port.parse::<u16>().is_ok() { Ok(()) } else { bad() }
}

/// An `http://` or `https://` URL with a host and no spaces.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !url.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(())
        }
        _ => Err(format!("{url:?} is not an http:// or https:// URL")),
    }
}

/// The error for a bad value of `key` (`section.name`): the variable that set it, else the
/// file's line that did, else the key alone (a default).
fn locate(text: &str, shown: &Path, env: &[(String, String)], key: &str, message: String) -> ConfigError {
    let var = format!("CUTOVER_{}", key.replace('.', "__").to_ascii_uppercase());
    if env.iter().any(|(k, _)| *k == var) {
        return ConfigError::Override { var, message: format!("{key}: {message}") };
    }
    let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    let mut line = None;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if let Some(header) = t.strip_prefix('[') {
            current = header.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_owned();
            continue;
        }
        let k = t.split('=').next().unwrap_or("").trim().trim_matches('"');
        if current == section && k == name && t.contains('=') {
            line = Some(i + 1);
        }
    }
    let at = line.map(|n| format!("line {n}: ")).unwrap_or_default();
    ConfigError::Invalid { path: shown.to_owned(), message: format!("{at}[{section}] {name}: {message}") }
}

/// The `CUTOVER_*` variables of an environment. Others are not read here (the AWS SDK and
/// OpenTelemetry read their own), so a foreign variable that is not UTF-8 is ignored; a
/// `CUTOVER_*` one is an error that names the variable and never its value.
pub fn cutover_env(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (key, value) in vars {
        let Some(key) = key.to_str().filter(|k| k.starts_with("CUTOVER_")) else { continue };
        match value.into_string() {
            Ok(value) => out.push((key.to_owned(), value)),
            Err(_) => {
                return Err(ConfigError::Override { var: key.to_owned(), message: "its value is not UTF-8".into() });
            }
        }
    }
    Ok(out)
}

fn template_error(shown: &Path, route: usize, file: &str, message: String) -> ConfigError {
    ConfigError::Template { path: shown.to_owned(), route, file: file.to_owned(), message }
}

/// `block blocks, line 7: undefined value (…)` from a template error.
fn describe_template_error(e: &cutover_correlator::slack::templates::TemplateError) -> String {
    let mut out = String::new();
    if let Some(part) = e.part {
        out.push_str(&format!("block {part}, "));
    }
    if let Some(line) = e.line {
        out.push_str(&format!("line {line}: "));
    }
    out.push_str(&e.message);
    out
}

/// toml's messages span several lines with a source excerpt; keep the facts on one line,
/// with the key the excerpt shows (`invalid type: string "fast"` says nothing of which key).
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('|')).collect();
    let mut out = Vec::new();
    let mut key = None;
    for l in lines {
        // Source excerpt lines look like "3 | key = 1"; the caret line is dropped above.
        if let Some((n, source)) = l.split_once(" | ")
            && n.trim().parse::<u32>().is_ok()
        {
            if let Some((k, _)) = source.split_once('=') {
                key = Some(k.trim().to_owned());
            }
            continue;
        }
        if l.chars().all(|c| c == '^' || c == ' ') {
            continue;
        }
        out.push(l.to_owned());
    }
    let text = out.join(": ");
    match key {
        Some(k) if !k.is_empty() && !text.contains(&format!("`{k}`")) => format!("{text} (key `{k}`)"),
        _ => text,
    }
}

/// The fix, where a message alone would leave a person guessing.
fn with_hint(message: String) -> String {
    let secret_key = ["`token`", "`bot_token`", "`slack_bot_token`", "`signing_secret`", "`app_token`"]
        .iter()
        .any(|k| message.contains(&format!("unknown field {k}")));
    let sink_secret = ["`token`", "`api_key`", "`routing_key`", "`secret`", "`private_key`"]
        .iter()
        .any(|k| message.contains(&format!("unknown field {k}")))
        && message.contains("`token_env`");
    if sink_secret {
        format!(
            "{message}; secrets never go in the config file: name the environment variable that holds it with token_env (private_key_env for an app's key), or a Secrets Manager secret with token_secret_arn"
        )
    } else if secret_key {
        format!(
            "{message}; secrets never go in the config file: set SLACK_BOT_TOKEN in the environment, or name a Secrets Manager secret with [slack] token_secret_arn"
        )
    } else {
        message
    }
}

/// A value from the environment: TOML if it reads as a TOML value, else a string.
fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut current = table;
    for key in parents {
        let entry = current.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| format!("`{key}` is not a table"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("cutover-config-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cutover.toml");
        std::fs::write(&path, text).unwrap();
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::load_with_env(Some(&path), env)
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let e =
            load("[slack]\nchannel = \"x\"\n\n[[routes]]\ncluster = \"prod-*\"\nchanel = \"typo\"\n", &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("cutover.toml"), "{msg}");
        assert!(msg.contains("line 6"), "{msg}");
        assert!(msg.contains("chanel"), "{msg}");
    }

    #[test]
    fn a_replica_lease_shorter_than_what_it_covers_is_refused() {
        let text = "[eventbridge]\nreceipts_queue_url = \"http://127.0.0.1:1/q\"\nreceipt_wait_secs = 10\n\n\
                    [store]\nbackend = \"dynamodb\"\ntable = \"t\"\nlease_secs = 10\n";
        let msg = load(text, &[]).unwrap_err().to_string();
        assert!(msg.contains("receipt_wait_secs (10) must be shorter than [store] lease_secs (10)"), "{msg}");
        assert!(load(&text.replace("lease_secs = 10", "lease_secs = 11"), &[]).is_ok());
        // The Slack call's timeout (default 10 s) too.
        let msg =
            load(&text.replace("lease_secs = 10", "lease_secs = 10.5").replace("= 10\n\n", "= 5\n\n"), &[]).map(drop);
        assert!(msg.is_ok(), "{msg:?}");
        let msg = load(&text.replace("lease_secs = 10", "lease_secs = 8").replace("= 10\n\n", "= 5\n\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[slack] timeout_secs (10) must be shorter than [store] lease_secs (8)"), "{msg}");
        // One process (SQLite) has no one to race.
        assert!(load(&text.replace("\"dynamodb\"", "\"sqlite\""), &[]).is_ok());
    }

    #[test]
    fn bad_globs_are_rejected_with_their_line() {
        let e = load("[[invalidations]]\ncluster = \"prod-[\"\ndistribution_id = \"E1\"\npaths = [\"/*\"]\n", &[])
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line 2") && msg.contains("unclosed '['"), "{msg}");
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let c = load(
            "[slack]\nchannel = \"a\"\n",
            &[("CUTOVER_SLACK__CHANNEL", "b"), ("CUTOVER_STATE__RETENTION_HOURS", "24")],
        )
        .unwrap();
        assert_eq!(c.slack.channel, "b");
        assert_eq!(c.retention_ms(), 24 * 3600 * 1000);
        let e = load("", &[("CUTOVER_SLACK__NOPE", "1")]).unwrap_err();
        assert!(e.to_string().contains("CUTOVER_SLACK__NOPE"), "{e}");
    }

    /// The keys each table of the config accepts, as serde's `deny_unknown_fields` lists them
    /// when refusing one it does not know.
    fn accepted_keys(table: &str) -> Vec<String> {
        let text = match table {
            "" => "zz_unknown = 1\n".to_owned(),
            t if t.starts_with("[[") => format!("{t}\nzz_unknown = 1\n"),
            t => format!("{t}\nzz_unknown = 1\n"),
        };
        let message = toml::from_str::<Config>(&text).unwrap_err().to_string();
        let list = message.split("expected one of ").nth(1).or_else(|| message.split("expected ").nth(1)).unwrap_or("");
        list.split(',').filter_map(|k| k.split('`').nth(1)).map(str::to_owned).collect()
    }

    #[test]
    fn docs_config_md_names_every_key_the_config_accepts() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md")).unwrap();
        // Each `## `[table]`` section and the keys its table rows name.
        let mut documented: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut current = String::new();
        for line in docs.lines() {
            if let Some(h) = line.strip_prefix("## `").or_else(|| line.strip_prefix("### `")) {
                current = h.split('`').next().unwrap_or("").to_owned();
                documented.entry(current.clone()).or_default();
            } else if let Some(row) = line.strip_prefix("| `") {
                // The first column names one key or several (`cluster`, `service`, …).
                let first = row.split(" | ").next().unwrap_or("");
                let keys = format!("`{first}").split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>();
                documented.entry(current.clone()).or_default().extend(keys);
            }
        }
        let top: Vec<String> = accepted_keys("");
        assert!(top.len() > 10, "the top-level tables: {top:?}");
        let mut missing = Vec::new();
        for name in &top {
            let table = if matches!(name.as_str(), "routes" | "invalidations" | "sinks") {
                format!("[[{name}]]")
            } else {
                format!("[{name}]")
            };
            let Some(keys) = documented.get(&table) else {
                missing.push(format!("no section `{table}`"));
                continue;
            };
            for key in accepted_keys(&table) {
                // A table of its own (`[slack.people]`) has a section of its own.
                let own_section = documented.contains_key(&format!("[{name}.{key}]"));
                if !keys.contains(&key) && !own_section {
                    missing.push(format!("{table} {key}"));
                }
            }
        }
        assert!(missing.is_empty(), "docs/config.md misses: {missing:?}");
    }

    #[test]
    fn defaults_without_a_file() {
        let c = Config::load_with_env(None, Vec::new()).unwrap();
        assert_eq!(c.routing().default_channel, "deployments");
        assert!(c.routes.is_empty() && c.invalidations.is_empty());
    }
}
