//! The sinks (`[[sinks]]`): the lifecycle told to the tools teams look at, one lane for all of
//! them, each sink's actions of a deployment in decision order and no sink waiting on another.
//!
//! - [`github`]: a deployment per Cutover deployment, statuses `in_progress`, `success` (with
//!   `environment_url` and `log_url`), `failure`, and `inactive` for the one it replaced.
//! - [`markers`]: Grafana annotations (a region from start to end, a point at the cut-over),
//!   Datadog events, PagerDuty change events, Honeycomb markers.
//! - [`webhook`]: the event's JSON, signed (`X-Hub-Signature-256`), with a delivery id.
//!
//! Every call carries AWS's time of the step where the API takes one. Answers: 2xx done; 429
//! (and GitHub's rate-limit 403) waits for `Retry-After` (that sink only); 401/403 and a 404 where
//! something is made are the setup's fault (retried, `/readyz` names it); 408 and 5xx are
//! retried with backoff; any other 4xx ends the action (logged, counted). A call sent without
//! an answer is looked for before it is made again where the API can find it: GitHub deployments
//! by their payload and statuses by their words, Grafana annotations by time and tags, Honeycomb
//! markers by time and message. Datadog events and PagerDuty change events cannot be looked up:
//! after a timeout they may repeat.
//!
//! Credentials are read from the variable `token_env` names, else the Secrets Manager secret,
//! and read again after a 401. They go in headers (or PagerDuty's body) and nowhere else.

pub mod github;
pub mod http;
pub mod markers;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cutover_correlator::Action;
use cutover_correlator::action::SinkDelivery;
use cutover_correlator::routing::SinkKind;
use cutover_events::emitted::{DetailType, LifecycleDetail};
use secrecy::SecretString;

use self::http::Http;
use super::Outcome;
use super::lane::Executor;
use crate::config::sinks::SinkConfig;
use crate::store::{Lane, OutboxItem, Status, Store};

pub use crate::secrets::Credential;

/// One configured sink and what its executor keeps.
#[derive(Debug)]
pub struct SinkState {
    pub config: SinkConfig,
    pub credential: Credential,
    /// A GitHub App's private key (PEM).
    pub private_key: Option<Credential>,
    /// A GitHub App installation token and when to stop using it.
    pub app_token: Option<(SecretString, i64)>,
    /// A 429's `Retry-After`: nothing is sent to this sink before it.
    pub blocked_until: Option<Instant>,
}

/// Counters of one sink, for `/metrics`.
#[derive(Debug, Default)]
pub struct SinkCounters {
    pub by_outcome: std::sync::Mutex<BTreeMap<(String, &'static str), u64>>,
}

/// The sinks' executor.
#[derive(Debug)]
pub struct SinksExecutor {
    http: Http,
    sinks: BTreeMap<String, SinkState>,
    metrics: Arc<crate::metrics::Metrics>,
    /// The Slack workspace's URL, once the Slack lane has read it: a deployment's message link.
    workspace: Arc<OnceLock<String>>,
}

impl SinksExecutor {
    pub fn new(
        configs: &[SinkConfig],
        secrets: &aws_sdk_secretsmanager::Client,
        metrics: Arc<crate::metrics::Metrics>,
        workspace: Arc<OnceLock<String>>,
    ) -> Result<Self, http::TlsError> {
        let sinks = configs
            .iter()
            .map(|c| {
                let what = match c.kind {
                    SinkKind::Github => "GitHub token",
                    SinkKind::Grafana => "Grafana token",
                    SinkKind::Datadog => "Datadog API key",
                    SinkKind::Pagerduty => "PagerDuty routing key",
                    SinkKind::Honeycomb => "Honeycomb API key",
                    SinkKind::Webhook => "webhook signing secret",
                };
                let private_key = c.is_github_app().then(|| {
                    Credential::new(
                        "GitHub App private key",
                        c.private_key_env.clone(),
                        c.private_key_secret_arn.clone(),
                        secrets,
                    )
                });
                let state = SinkState {
                    config: c.clone(),
                    credential: Credential::new(what, c.token_env.clone(), c.token_secret_arn.clone(), secrets),
                    private_key,
                    app_token: None,
                    blocked_until: None,
                };
                (c.name.clone(), state)
            })
            .collect();
        Ok(Self { http: Http::new()?, sinks, metrics, workspace })
    }

    /// Reads every sink's credential once, for start-up: an error names the sink and where its
    /// credential was looked for.
    pub async fn check(&mut self) -> Result<(), String> {
        for (name, sink) in &mut self.sinks {
            let credential = sink.private_key.as_mut().unwrap_or(&mut sink.credential);
            credential.read().await.map_err(|e| format!("sink {name}: {e}"))?;
        }
        Ok(())
    }

    async fn deliver(&mut self, item: &OutboxItem, d: &SinkDelivery, store: &mut dyn Store) -> Outcome {
        let Some(sink) = self.sinks.get_mut(&d.sink) else {
            return Outcome::Failed(format!("no sink named {:?} in the config (removed since it was decided)", d.sink));
        };
        if let Some(until) = sink.blocked_until {
            let now = Instant::now();
            if until > now {
                let after = u64::try_from((until - now).as_millis()).unwrap_or(u64::MAX);
                return Outcome::Retry { after_ms: Some(after), error: format!("sink {} is rate limited", d.sink) };
            }
            sink.blocked_until = None;
        }
        let log_url = log_url(&self.workspace, store, &d.detail.deployment_id);
        let mut call = Ctx { http: &self.http, sink, item, store, log_url, claimed: false, hold: None };
        let outcome = match d.kind {
            SinkKind::Github => github::deliver(&mut call, d).await,
            SinkKind::Grafana => markers::grafana(&mut call, d).await,
            SinkKind::Datadog => markers::datadog(&mut call, d).await,
            SinkKind::Pagerduty => markers::pagerduty(&mut call, d).await,
            SinkKind::Honeycomb => markers::honeycomb(&mut call, d).await,
            SinkKind::Webhook => webhook::deliver(&mut call, d).await,
        };
        let (sink, hold) = (call.sink, call.hold);
        if let Some((ms, rate_limited)) = hold {
            sink.blocked_until = Some(Instant::now() + Duration::from_millis(ms));
            if rate_limited {
                self.metrics.sink_rate_limited(&d.sink);
            }
        }
        if let Outcome::SetupFault(_) = &outcome {
            sink.credential.forget();
            sink.app_token = None;
        }
        self.metrics.sink_outcome(&d.sink, outcome.name());
        match &outcome {
            Outcome::Done(result) => {
                tracing::info!(message = "Sink told.", sink = %d.sink, kind = d.kind.as_str(), deployment_id = %d.detail.deployment_id, detail_type = d.detail_type.as_str(), delivery_id = %d.delivery_id, %result);
            }
            Outcome::Failed(why) => {
                tracing::warn!(message = "Sink refused the event for good.", sink = %d.sink, deployment_id = %d.detail.deployment_id, detail_type = d.detail_type.as_str(), error = %why);
            }
            _ => {}
        }
        // `/readyz` and the logs name the sink; its fault lasts until it goes through again.
        match outcome {
            Outcome::SetupFault(why) => {
                let why = format!("sink {}: {why}", d.sink);
                self.metrics.sink_setup(&d.sink, Some(&why));
                Outcome::SetupFault(why)
            }
            other => {
                if matches!(other, Outcome::Done(_)) {
                    self.metrics.sink_setup(&d.sink, None);
                }
                other
            }
        }
    }
}

/// What a sink's calls need.
pub struct Ctx<'a> {
    pub http: &'a Http,
    pub sink: &'a mut SinkState,
    pub item: &'a OutboxItem,
    pub store: &'a mut dyn Store,
    /// The deployment's Slack message, when it is posted and the workspace is known.
    pub log_url: Option<String>,
    /// Claimed in this attempt already (an action of several calls claims once).
    pub claimed: bool,
    /// An answer asked the whole sink to wait this long (ms; and whether it was a rate limit).
    pub hold: Option<(u64, bool)>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("sink", &self.sink.config.name).field("item", &self.item.id).finish_non_exhaustive()
    }
}

impl Ctx<'_> {
    /// The action's outcome is unknown from an earlier attempt: look before doing it again.
    pub fn attempting(&self) -> bool {
        self.item.status == Status::Attempting
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.sink.config.timeout_secs)
    }

    /// Claims the action before its first call that changes anything (once per attempt).
    pub fn claim(&mut self) -> Result<(), Outcome> {
        if !self.claimed {
            super::claim(self.store, self.item.id)?;
            self.claimed = true;
        }
        Ok(())
    }

    /// The sink's credential, or the setup fault of not having it.
    pub async fn credential(&mut self) -> Result<SecretString, Outcome> {
        self.sink.credential.read().await.map_err(Outcome::SetupFault)
    }

    /// A remembered id.
    pub fn recall(&mut self, key: &str) -> Result<Option<String>, Outcome> {
        let store = &mut *self.store;
        tokio::task::block_in_place(|| store.sink_ref(key))
            .map_err(|e| Outcome::Retry { after_ms: Some(1_000), error: e.to_string() })
    }

    pub fn remember(&mut self, key: &str, value: &str) -> Result<(), Outcome> {
        let store = &mut *self.store;
        tokio::task::block_in_place(|| store.set_sink_ref(key, value))
            .map_err(|e| Outcome::Retry { after_ms: Some(1_000), error: e.to_string() })
    }

    /// Sends `call`; a 2xx answer, else the outcome it means.
    pub async fn send(&mut self, call: http::Call, what: &str, creates: bool) -> Result<http::Reply, Outcome> {
        let reply = self.http.send(call, self.timeout()).await.map_err(|e| e.outcome(what))?;
        if reply.ok() {
            return Ok(reply);
        }
        let now = crate::clock::now_ms();
        if let Some(ms) = reply.hold_ms(now) {
            self.hold = Some((ms, reply.rate_limited()));
        }
        Err(reply.failure(what, creates, now))
    }
}

/// The Slack permalink of a deployment's message: the workspace's URL and the post's channel
/// and `ts` from the store.
fn log_url(workspace: &OnceLock<String>, store: &mut dyn Store, deployment_id: &str) -> Option<String> {
    let workspace = workspace.get()?;
    let (channel, ts) = tokio::task::block_in_place(|| store.slack_message(deployment_id)).ok().flatten()?;
    Some(crate::executors::slack::permalink(workspace, &channel, &ts))
}

impl Executor for SinksExecutor {
    const LANE: Lane = Lane::Sinks;
    const OWN_SETUP_FAULTS: bool = true;

    /// In order; an action whose earlier one of the same sink and deployment did not finish
    /// in this round waits for the next (no outcome), so a retried step is never overtaken.
    async fn execute(&mut self, items: &[OutboxItem], store: &mut dyn Store) -> Vec<(i64, Outcome)> {
        let mut out = Vec::with_capacity(items.len());
        let mut held = std::collections::HashSet::new();
        for item in items {
            let key = item.action.sequence_key();
            if held.contains(&key) {
                continue;
            }
            let outcome = match &item.action {
                Action::Sink(d) => self.deliver(item, d, store).await,
                other => Outcome::Failed(format!("not a sink action: {}", other.name())),
            };
            if !matches!(outcome, Outcome::Done(_) | Outcome::Failed(_) | Outcome::Superseded(_)) {
                held.insert(key);
            }
            out.push((item.id, outcome));
        }
        out
    }
}

/// The words every sink uses: what moved where, as plain text (each sink escapes it for its
/// own markup).
pub mod words {
    use super::{DetailType, LifecycleDetail};

    /// `web` (the service, else the deployment group, else the deployment id).
    pub fn subject(d: &LifecycleDetail) -> &str {
        d.service.as_deref().or(d.deployment_group.as_deref()).unwrap_or(&d.deployment_id)
    }

    /// The version, else the task definition's `family:revision`, else "the new version".
    pub fn version(d: &LifecycleDetail) -> String {
        d.version.clone().unwrap_or_else(|| {
            d.task_definition
                .as_deref()
                .map(|td| td.rsplit('/').next().unwrap_or(td).to_owned())
                .unwrap_or_else(|| "the new version".to_owned())
        })
    }

    /// `web in production: traffic is on v124 (cut over 2026-12-01T14:02:10Z)`.
    pub fn line(detail_type: DetailType, d: &LifecycleDetail) -> String {
        let mut out = subject(d).to_owned();
        if let Some(env) = &d.environment {
            out.push_str(" in ");
            out.push_str(env);
        }
        out.push_str(": ");
        out.push_str(&step(detail_type, d));
        out
    }

    /// What happened, with AWS's time of it.
    pub fn step(detail_type: DetailType, d: &LifecycleDetail) -> String {
        let v = version(d);
        let at = d.at;
        match detail_type {
            DetailType::Started => format!("deploying {v} (started {at})"),
            DetailType::TrafficShifted => {
                let p = d.traffic_percent.map_or(0.0, |p| p.0);
                format!("{p} % of traffic on {v} ({at})")
            }
            DetailType::CutOver => format!("traffic is on {v} (cut over {at})"),
            DetailType::Completed => format!("{v} completed ({at})"),
            DetailType::Failed => match &d.reason {
                Some(r) => format!("{v} failed ({at}): {r}"),
                None => format!("{v} failed ({at})"),
            },
            DetailType::RolledBack => format!("{v} rolled back ({at})"),
        }
    }

    /// Cut to `max` characters, with `…` when cut.
    pub fn cut(s: &str, max: usize) -> String {
        if s.chars().count() <= max {
            return s.to_owned();
        }
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
