//! Slack, through slack-morphism: `chat.postMessage` for a deployment's one message (its `ts`
//! kept in the store), `chat.update` of it, replies with `thread_ts` (and `reply_broadcast`
//! where the route asks for it).
//!
//! - 429 is honoured (`Retry-After` holds the whole lane) and never counted as sent.
//! - Messages are paced per channel (`[slack] messages_per_second`).
//! - Of several pending updates of one message only the last runs: the last state wins.
//! - Each post carries message metadata naming its deployment. A post whose outcome is unknown
//!   (a crash or a timeout after sending) is looked up in the channel's recent history before
//!   it is posted again; a reply is looked up in its thread by its text.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cutover_correlator::Action;
use cutover_correlator::action::SlackMessage;
use hyper_util::client::legacy::connect::HttpConnector;
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::Outcome;
use super::lane::Executor;
use crate::store::{Lane, OutboxItem, Status, Store};

/// The metadata event type of a deployment's top-level message.
pub const POST_EVENT_TYPE: &str = "cutover_deployment";

type Connector = SlackClientHyperConnector<hyper_rustls::HttpsConnector<HttpConnector>>;

/// Per-channel pacing: at most one message per `min_interval` in each channel.
#[derive(Debug, Clone)]
pub struct Pacer {
    min_interval: Duration,
    last_sent: HashMap<String, Instant>,
}

impl Pacer {
    pub fn new(min_interval: Duration) -> Self {
        Self { min_interval, last_sent: HashMap::new() }
    }

    /// How long to wait before sending to `channel` at `now`; records the send at that time.
    pub fn reserve(&mut self, channel: &str, now: Instant) -> Duration {
        let at = self.last_sent.get(channel).map_or(now, |last| (*last + self.min_interval).max(now));
        self.last_sent.insert(channel.to_owned(), at);
        at - now
    }
}

/// The Slack executor.
pub struct SlackExecutor {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    pacer: Pacer,
    /// How long one call may take before its outcome counts as unknown.
    timeout: Duration,
    /// A 429's `Retry-After`: nothing is sent before it.
    blocked_until: Option<Instant>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl std::fmt::Debug for SlackExecutor {
    // The token stays out of every log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackExecutor")
            .field("pacer", &self.pacer)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why the executor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SlackSetupError {
    #[error("cannot load the system's TLS roots for Slack: {0}")]
    Tls(std::io::Error),
}

impl SlackExecutor {
    /// A client for `api_url` (`https://slack.com/api`, or `http://127.0.0.1:PORT/api`).
    pub fn new(
        api_url: &str,
        token: &SecretString,
        messages_per_second: f64,
        timeout: Duration,
    ) -> Result<Self, SlackSetupError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(SlackSetupError::Tls)?
            .https_or_http()
            .enable_http1()
            .build();
        let connector =
            SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url.trim_end_matches('/'));
        let per_second = if messages_per_second > 0.0 { messages_per_second } else { 1.0 };
        Ok(Self {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(SlackApiTokenValue(token.expose_secret().to_owned())),
            pacer: Pacer::new(Duration::from_secs_f64(1.0 / per_second)),
            timeout,
            blocked_until: None,
            metrics: std::sync::Arc::default(),
        })
    }

    /// Counts 429s into `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Checks the token (`auth.test`), for start-up and `/readyz`.
    pub async fn check(&self) -> Result<(), String> {
        match timed(self.timeout, self.client.open_session(&self.token).auth_test()).await {
            Ok(_) => Ok(()),
            Err(Failure::Slack(e)) => Err(describe(&e)),
            Err(Failure::Timeout(t)) => Err(format!("no answer within {} ms", t.as_millis())),
        }
    }

    async fn pace(&mut self, channel: &str) {
        if let Some(until) = self.blocked_until.take() {
            tokio::time::sleep_until(until.into()).await;
        }
        let wait = self.pacer.reserve(channel, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    fn outcome(&mut self, failure: Failure) -> Outcome {
        match failure {
            Failure::Slack(e) => self.classify(&e),
            Failure::Timeout(t) => Outcome::Unknown { error: format!("no answer within {} ms", t.as_millis()) },
        }
    }

    fn classify(&mut self, error: &SlackClientError) -> Outcome {
        match error {
            SlackClientError::RateLimitError(r) => {
                self.metrics.rate_limited();
                let after = r.retry_after.unwrap_or(Duration::from_secs(1));
                self.blocked_until = Some(Instant::now() + after);
                Outcome::Retry {
                    after_ms: Some(u64::try_from(after.as_millis()).unwrap_or(u64::MAX)),
                    error: "rate limited (429)".into(),
                }
            }
            SlackClientError::ApiError(api) => match api.code.as_str() {
                "ratelimited" => Outcome::Retry { after_ms: Some(1_000), error: "ratelimited".into() },
                "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                    Outcome::Unknown { error: api.code.clone() }
                }
                code => Outcome::Failed(format!("Slack refused: {code}")),
            },
            SlackClientError::HttpError(h) if h.status_code.is_server_error() => {
                Outcome::Unknown { error: format!("HTTP {}", h.status_code.as_u16()) }
            }
            SlackClientError::HttpError(h) => Outcome::Failed(format!("HTTP {}", h.status_code.as_u16())),
            other => Outcome::Unknown { error: describe(other) },
        }
    }

    fn content(m: &SlackMessage) -> SlackMessageContent {
        let blocks: Vec<SlackBlock> = m.blocks.iter().filter_map(|b| serde_json::from_value(b.clone()).ok()).collect();
        let mut content = SlackMessageContent::new().with_text(m.text.clone());
        if !blocks.is_empty() {
            content = content.with_blocks(blocks);
        }
        content
    }

    async fn post(&mut self, item: &OutboxItem, m: &SlackMessage, store: &mut dyn Store) -> Outcome {
        match store.slack_message(&m.deployment_id) {
            Ok(Some((_, ts))) => return Outcome::Done(ts),
            Ok(None) => {}
            Err(e) => return Outcome::Retry { after_ms: Some(1_000), error: e.to_string() },
        }
        if item.status == Status::Attempting {
            match self.find_post(&m.channel, &m.deployment_id).await {
                Ok(Some((channel, ts))) => {
                    tracing::info!(message = "Found the post of an earlier attempt; not posting again.", deployment_id = %m.deployment_id, %ts);
                    if let Err(e) = store.set_slack_message(&m.deployment_id, &channel, &ts) {
                        return Outcome::Retry { after_ms: Some(1_000), error: e.to_string() };
                    }
                    return Outcome::Done(ts);
                }
                Ok(None) => {}
                Err(outcome) => return outcome,
            }
        }
        // Paced (and past any Retry-After) before the claim, so the claim's lease covers the
        // call, not the wait.
        self.pace(&m.channel).await;
        if let Err(outcome) = super::claim(store, item.id) {
            return outcome;
        }
        let metadata = SlackMessageMetadata {
            event_type: POST_EVENT_TYPE.to_owned(),
            event_payload: Some(HashMap::from([("deployment_id".to_owned(), m.deployment_id.clone())])),
        };
        let req = SlackApiChatPostMessageRequest::new(
            SlackChannelId(m.channel.clone()),
            Self::content(m).with_metadata(metadata),
        );
        let result = timed(self.timeout, self.client.open_session(&self.token).chat_post_message(&req)).await;
        match result {
            Ok(resp) => match store.set_slack_message(&m.deployment_id, &resp.channel.0, &resp.ts.0) {
                Ok(()) => Outcome::Done(resp.ts.0),
                // Posted but not recorded: the next attempt finds it by its metadata.
                Err(e) => Outcome::Unknown { error: e.to_string() },
            },
            Err(f) => self.outcome(f),
        }
    }

    /// The deployment's message in the channel's recent history, by its metadata.
    async fn find_post(&mut self, channel: &str, deployment_id: &str) -> Result<Option<(String, String)>, Outcome> {
        let req = SlackApiConversationsHistoryRequest::new()
            .with_channel(SlackChannelId(channel.to_owned()))
            .with_limit(200)
            .with_include_all_metadata(true);
        let history = match timed(self.timeout, self.client.open_session(&self.token).conversations_history(&req)).await
        {
            Ok(h) => h,
            Err(f) => return Err(self.outcome(f)),
        };
        Ok(history.messages.iter().find_map(|msg| {
            let md = msg.content.metadata.as_ref()?;
            let ours = md.event_type == POST_EVENT_TYPE
                && md.event_payload.as_ref()?.get("deployment_id").map(String::as_str) == Some(deployment_id);
            ours.then(|| {
                (
                    msg.origin.channel.as_ref().map_or_else(|| channel.to_owned(), |c| c.0.clone()),
                    msg.origin.ts.0.clone(),
                )
            })
        }))
    }

    async fn update(&mut self, item: &OutboxItem, m: &SlackMessage, store: &mut dyn Store) -> Outcome {
        let (channel, ts) = match store.slack_message(&m.deployment_id) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Outcome::Retry { after_ms: Some(1_000), error: "waiting for the message to be posted".into() };
            }
            Err(e) => return Outcome::Retry { after_ms: Some(1_000), error: e.to_string() },
        };
        self.pace(&channel).await;
        // Claimed like a post: with replicas, an update another replica is running holds off
        // the later ones of the same message, so an older state never lands last.
        if let Err(outcome) = super::claim(store, item.id) {
            return outcome;
        }
        let req = SlackApiChatUpdateRequest::new(SlackChannelId(channel), Self::content(m), SlackTs(ts.clone()));
        match timed(self.timeout, self.client.open_session(&self.token).chat_update(&req)).await {
            Ok(_) => Outcome::Done(ts),
            // An update is idempotent: an unknown outcome is simply retried.
            Err(f) => match self.outcome(f) {
                Outcome::Unknown { error } => Outcome::Retry { after_ms: None, error },
                other => other,
            },
        }
    }

    async fn reply(&mut self, item: &OutboxItem, m: &SlackMessage, store: &mut dyn Store) -> Outcome {
        let parent = m.thread_of.as_deref().unwrap_or(&m.deployment_id);
        let (channel, parent_ts) = match store.slack_message(parent) {
            Ok(Some(found)) => found,
            Ok(None) if item.attempts >= 60 => {
                return Outcome::Failed(format!("the message of {parent} was never posted"));
            }
            Ok(None) => {
                return Outcome::Retry { after_ms: Some(1_000), error: format!("waiting for the message of {parent}") };
            }
            Err(e) => return Outcome::Retry { after_ms: Some(1_000), error: e.to_string() },
        };
        if item.status == Status::Attempting {
            let req =
                SlackApiConversationsRepliesRequest::new(SlackChannelId(channel.clone()), SlackTs(parent_ts.clone()))
                    .with_limit(200);
            match timed(self.timeout, self.client.open_session(&self.token).conversations_replies(&req)).await {
                Ok(replies) => {
                    let found = replies
                        .messages
                        .iter()
                        .find(|r| r.origin.ts.0 != parent_ts && r.content.text.as_deref() == Some(m.text.as_str()));
                    if let Some(r) = found {
                        return Outcome::Done(r.origin.ts.0.clone());
                    }
                }
                Err(f) => return self.outcome(f),
            }
        }
        self.pace(&channel).await;
        if let Err(outcome) = super::claim(store, item.id) {
            return outcome;
        }
        let mut req = SlackApiChatPostMessageRequest::new(SlackChannelId(channel), Self::content(m))
            .with_thread_ts(SlackTs(parent_ts));
        if m.broadcast {
            req = req.with_reply_broadcast(true);
        }
        match timed(self.timeout, self.client.open_session(&self.token).chat_post_message(&req)).await {
            Ok(resp) => Outcome::Done(resp.ts.0),
            Err(f) => self.outcome(f),
        }
    }
}

/// Why a Slack call did not give an answer to use.
enum Failure {
    Slack(SlackClientError),
    /// No answer in time: it may or may not have happened.
    Timeout(Duration),
}

/// Runs one Slack call under `timeout`.
async fn timed<T>(timeout: Duration, call: impl Future<Output = ClientResult<T>>) -> Result<T, Failure> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Slack(e)),
        Err(_) => Err(Failure::Timeout(timeout)),
    }
}

/// An error as text, without secrets (the token travels in a header, never in a URL).
fn describe(error: &SlackClientError) -> String {
    match error {
        SlackClientError::ApiError(a) => format!("Slack API error {}", a.code),
        SlackClientError::HttpError(h) => format!("HTTP {}", h.status_code.as_u16()),
        SlackClientError::RateLimitError(_) => "rate limited (429)".to_owned(),
        SlackClientError::HttpProtocolError(e) => format!("HTTP protocol error: {e}"),
        SlackClientError::SystemError(e) => format!("system error: {e}"),
        SlackClientError::ProtocolError(e) => format!("protocol error: {e}"),
        SlackClientError::EndOfStream(e) => format!("end of stream: {e}"),
        SlackClientError::SocketModeProtocolError(e) => format!("socket mode error: {e}"),
    }
}

impl Executor for SlackExecutor {
    const LANE: Lane = Lane::Slack;

    async fn execute(&mut self, items: &[OutboxItem], store: &mut dyn Store) -> Vec<(i64, Outcome)> {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let outcome = match &item.action {
                Action::SlackUpdate(m)
                    if items[i + 1..].iter().any(
                        |later| matches!(&later.action, Action::SlackUpdate(n) if n.deployment_id == m.deployment_id),
                    ) =>
                {
                    Outcome::Superseded("a later update of the same message replaces it".into())
                }
                Action::SlackPost(m) => self.post(item, m, store).await,
                Action::SlackUpdate(m) => self.update(item, m, store).await,
                Action::SlackReply(m) => self.reply(item, m, store).await,
                other => Outcome::Failed(format!("not a Slack action: {}", other.deployment_id())),
            };
            let stop = matches!(outcome, Outcome::Retry { .. } | Outcome::Unknown { .. });
            out.push((item.id, outcome));
            // Keep the order of a deployment's messages: nothing after a post or reply that
            // did not go through runs before it.
            if stop {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_is_per_channel() {
        let mut p = Pacer::new(Duration::from_millis(1_000));
        let t0 = Instant::now();
        assert_eq!(p.reserve("a", t0), Duration::ZERO);
        assert_eq!(p.reserve("a", t0), Duration::from_millis(1_000), "second message waits a second");
        assert_eq!(p.reserve("a", t0), Duration::from_millis(2_000), "third waits behind the second");
        assert_eq!(p.reserve("b", t0), Duration::ZERO, "another channel does not wait");
        assert_eq!(p.reserve("a", t0 + Duration::from_millis(5_000)), Duration::ZERO, "idle channel sends at once");
    }
}
