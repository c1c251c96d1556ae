//! Slack, through slack-morphism: `chat.postMessage` for a deployment's one message (its `ts`
//! kept in the store), `chat.update` of it, replies with `thread_ts` (and `reply_broadcast`
//! where the route asks for it).
//!
//! - Each method keeps to its own limit ([`pacing`]): posts and replies per channel
//!   (`[slack] messages_per_second`), updates across the workspace (`updates_per_minute`),
//!   each with a short `burst`. An action without a turn waits in the outbox for the one it
//!   was given, and other channels' actions go meanwhile.
//! - 429 is honoured (`Retry-After` holds that method's limit) and never counted as sent.
//! - Of several pending updates of one message only the last runs: the last state wins. A
//!   post that waited for its turn carries the newest state waiting for it, and the updates
//!   it carries are superseded.
//! - Each post carries message metadata naming its deployment. A post whose outcome is unknown
//!   (a crash or a timeout after sending) is looked up in the channel's recent history before
//!   it is posted again; a reply is looked up in its thread by its text.
//! - Slack refusing the token (`invalid_auth`, `token_revoked`, …) is a setup fault: the
//!   actions wait, `/readyz` says so, and the token is read again before the next round. A
//!   channel the app is not in keeps that channel's actions waiting with a warning. A message
//!   whose blocks Slack refuses (`invalid_blocks`) is sent as text alone. Only an answer that
//!   proves an action can never succeed (a deleted message for an update) ends it.

pub mod pacing;
pub mod token;

use std::collections::{HashMap, HashSet};
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
use pacing::{Method, Pacer, Turn};

/// The metadata event type of a deployment's top-level message.
pub const POST_EVENT_TYPE: &str = "cutover_deployment";

pub(crate) type Connector = SlackClientHyperConnector<hyper_rustls::HttpsConnector<HttpConnector>>;

/// A Slack Web API client for `api_url` (`https://slack.com/api`, or a stand-in's).
pub(crate) fn client(api_url: &str) -> Result<SlackClient<Connector>, SlackSetupError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(SlackSetupError::Tls)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(SlackClient::new(
        SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url.trim_end_matches('/')),
    ))
}

/// The Slack executor.
pub struct SlackExecutor {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    /// Where the token is read again after Slack refused it.
    tokens: Option<token::TokenSource>,
    /// Slack refused the token: read it again before the next call.
    reread_token: bool,
    pacer: Pacer,
    /// How long one call may take before its outcome counts as unknown.
    timeout: Duration,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The workspace's URL (`auth.test`), for permalinks; read at start-up (`check`), else
    /// when a message first links to another. Shared with the sinks (a GitHub status's
    /// `log_url`).
    workspace: std::sync::Arc<std::sync::OnceLock<String>>,
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
        let per_second = if messages_per_second > 0.0 { messages_per_second } else { 1.0 };
        Ok(Self {
            client: client(api_url)?,
            token: SlackApiToken::new(SlackApiTokenValue(token.expose_secret().to_owned())),
            tokens: None,
            reread_token: false,
            pacer: Pacer::new(pacing::Limits { messages_per_second: per_second, ..pacing::Limits::default() }),
            timeout,
            metrics: std::sync::Arc::default(),
            workspace: std::sync::Arc::default(),
        })
    }

    /// Reads the token again from `tokens` after Slack refused it (a rotated secret).
    #[must_use]
    pub fn with_token_source(mut self, tokens: token::TokenSource) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Keeps to `limits` (`[slack]`'s `messages_per_second`, `updates_per_minute`, `burst`).
    #[must_use]
    pub fn with_limits(mut self, limits: pacing::Limits) -> Self {
        self.pacer = Pacer::new(limits);
        self
    }

    /// Counts 429s into `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The workspace's URL, once known: the sinks link to the deployment's message with it.
    pub fn workspace(&self) -> std::sync::Arc<std::sync::OnceLock<String>> {
        self.workspace.clone()
    }

    /// Checks the token (`auth.test`), for start-up and `/readyz`; learns the workspace's URL.
    pub async fn check(&self) -> Result<(), String> {
        match timed(self.timeout, self.client.open_session(&self.token).auth_test()).await {
            Ok(resp) => {
                let _ = self.workspace.set(resp.url.0.to_string());
                Ok(())
            }
            Err(Failure::Slack(e)) => Err(describe(&e)),
            Err(Failure::Timeout(t)) => Err(format!("no answer within {} ms", t.as_millis())),
        }
    }

    /// `item`'s turn at `method`: `Err` puts it back in the outbox until the turn it was given.
    fn turn(&mut self, item: &OutboxItem, method: Method, channel: &str) -> Result<bool, Outcome> {
        let now = Instant::now();
        match self.pacer.turn(item.id, method, channel, now) {
            Turn::Now { waited } => Ok(waited),
            Turn::Later(at) => {
                let wait = i64::try_from(at.saturating_duration_since(now).as_millis()).unwrap_or(i64::MAX);
                Err(Outcome::Deferred { until_ms: super::now_ms().saturating_add(wait).saturating_add(1) })
            }
        }
    }

    fn outcome(&mut self, failure: Failure, method: Method, channel: &str) -> Outcome {
        match failure {
            Failure::Slack(e) => self.classify(&e, method, channel),
            Failure::Timeout(t) => Outcome::Unknown { error: format!("no answer within {} ms", t.as_millis()) },
        }
    }

    /// What Slack's answer proves about the action (see the module docs).
    fn classify(&mut self, error: &SlackClientError, method: Method, channel: &str) -> Outcome {
        match error {
            SlackClientError::RateLimitError(r) => self.rate_limited(
                method,
                channel,
                r.retry_after.unwrap_or(Duration::from_secs(1)),
                "rate limited (429)",
            ),
            SlackClientError::ApiError(api) => match api.code.as_str() {
                "ratelimited" => self.rate_limited(method, channel, Duration::from_secs(1), "ratelimited"),
                "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                    Outcome::Unknown { error: api.code.clone() }
                }
                code if TOKEN_REFUSED.contains(&code) => {
                    self.reread_token = true;
                    Outcome::SetupFault(format!(
                        "Slack refused the bot token ({code}); it is read again before each retry"
                    ))
                }
                code @ ("channel_not_found" | "not_in_channel" | "is_archived") => {
                    tracing::warn!(
                        message = "Slack cannot post to a channel; its messages wait. Invite the app to the channel (/invite), or fix the route's channel.",
                        channel = %channel,
                        error = code
                    );
                    Outcome::Retry { after_ms: None, error: format!("Slack: {code} ({channel})") }
                }
                code @ ("message_not_found" | "cant_update_message" | "edit_window_closed" | "thread_not_found") => {
                    Outcome::Failed(format!("Slack refused: {code}"))
                }
                // Nothing proves it can never succeed: it waits, and the log says why.
                code => Outcome::Retry { after_ms: None, error: format!("Slack refused: {code}") },
            },
            SlackClientError::HttpError(h) if h.status_code.is_server_error() => {
                Outcome::Unknown { error: format!("HTTP {}", h.status_code.as_u16()) }
            }
            SlackClientError::HttpError(h) if matches!(h.status_code.as_u16(), 401 | 403 | 404) => Outcome::SetupFault(
                format!("Slack answered HTTP {} (check [slack] api_url and the token)", h.status_code.as_u16()),
            ),
            SlackClientError::HttpError(h) => {
                Outcome::Retry { after_ms: None, error: format!("HTTP {}", h.status_code.as_u16()) }
            }
            // A connection that was never made sent nothing: safe to send again, nothing to look up.
            SlackClientError::HttpProtocolError(e) if never_connected(e) => {
                Outcome::Retry { after_ms: None, error: "cannot connect to Slack".into() }
            }
            other => Outcome::Unknown { error: describe(other) },
        }
    }

    /// Slack refused a call over its limit: that limit waits `after`, the others go on.
    fn rate_limited(&mut self, method: Method, channel: &str, after: Duration, error: &str) -> Outcome {
        self.metrics.rate_limited();
        self.pacer.hold(method, channel, Instant::now() + after);
        Outcome::Retry { after_ms: Some(u64::try_from(after.as_millis()).unwrap_or(u64::MAX)), error: error.into() }
    }

    /// Reads the token again if Slack refused it; a failure is the setup fault to report.
    async fn refresh_token(&mut self) -> Result<(), Outcome> {
        if !self.reread_token {
            return Ok(());
        }
        let Some(tokens) = &self.tokens else { return Ok(()) };
        match tokens.read().await {
            Ok(t) => {
                self.token = SlackApiToken::new(SlackApiTokenValue(t.expose_secret().to_owned()));
                self.reread_token = false;
                Ok(())
            }
            Err(e) => Err(Outcome::SetupFault(e.to_string())),
        }
    }

    /// The message's content; as text alone once Slack refused its blocks.
    fn content(m: &SlackMessage, blocks: bool) -> SlackMessageContent {
        let mut content = SlackMessageContent::new().with_text(m.text.clone());
        if blocks {
            let blocks: Vec<SlackBlock> =
                m.blocks.iter().filter_map(|b| serde_json::from_value(b.clone()).ok()).collect();
            if !blocks.is_empty() {
                content = content.with_blocks(blocks);
            }
        }
        content
    }

    /// The message with Cutover's links to its other messages made permalinks of those posted
    /// (plain text for the others: the next update of the message links them).
    async fn with_links(&mut self, m: &SlackMessage, store: &mut dyn Store) -> SlackMessage {
        let mut ids = Vec::new();
        link_ids(&m.text, &mut ids);
        for b in &m.blocks {
            walk_strings(b, &mut |s| link_ids(s, &mut ids));
        }
        if ids.is_empty() {
            return m.clone();
        }
        if self.workspace.get().is_none()
            && let Ok(resp) = timed(self.timeout, self.client.open_session(&self.token).auth_test()).await
        {
            let _ = self.workspace.set(resp.url.0.to_string());
        }
        let mut permalinks: HashMap<String, String> = HashMap::new();
        if let Some(workspace) = self.workspace.get() {
            for id in ids {
                if let Ok(Some((channel, ts))) = store.slack_message(&id) {
                    permalinks.insert(id, permalink(workspace, &channel, &ts));
                }
            }
        }
        let mut out = m.clone();
        out.text = resolve_links(&out.text, &permalinks);
        for b in &mut out.blocks {
            rewrite_strings(b, &|s| resolve_links(s, &permalinks));
        }
        out
    }

    /// Posts the deployment's message. A post that waited for its turn carries the newest of
    /// `waiting` (later updates of the same message): their ids come back with a `Done`.
    async fn post(
        &mut self,
        item: &OutboxItem,
        m: &SlackMessage,
        waiting: &[&OutboxItem],
        store: &mut dyn Store,
    ) -> (Outcome, Vec<i64>) {
        let mut carried = Vec::new();
        let outcome = self.post_carrying(item, m, waiting, &mut carried, store).await;
        if !matches!(outcome, Outcome::Done(_)) {
            carried.clear();
        }
        (outcome, carried)
    }

    async fn post_carrying(
        &mut self,
        item: &OutboxItem,
        m: &SlackMessage,
        waiting: &[&OutboxItem],
        carried: &mut Vec<i64>,
        store: &mut dyn Store,
    ) -> Outcome {
        match store.slack_message(&m.deployment_id) {
            Ok(Some((_, ts))) => return Outcome::Done(ts),
            Ok(None) => {}
            Err(e) => return Outcome::Retry { after_ms: Some(1_000), error: e.to_string() },
        }
        if item.status == Status::Attempting {
            if let Err(deferred) = self.turn(item, Method::Lookup, &m.channel) {
                return deferred;
            }
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
        // Its turn (past any Retry-After) before the claim: the claim's lease covers the call.
        let waited = match self.turn(item, Method::Post, &m.channel) {
            Ok(waited) => waited,
            Err(deferred) => return deferred,
        };
        if let Err(outcome) = super::claim(store, item.id) {
            return outcome;
        }
        // It waited its turn: the newest state decided meanwhile goes in the post itself.
        let newest = waited.then(|| {
            waiting.iter().filter_map(|w| match &w.action {
                Action::SlackUpdate(u) if u.deployment_id == m.deployment_id => Some((w.id, u)),
                _ => None,
            })
        });
        let mut current = m.clone();
        for (id, u) in newest.into_iter().flatten() {
            current.text.clone_from(&u.text);
            current.blocks.clone_from(&u.blocks);
            carried.push(id);
        }
        let linked = self.with_links(&current, store).await;
        let m = &linked;
        let metadata = SlackMessageMetadata {
            event_type: POST_EVENT_TYPE.to_owned(),
            event_payload: Some(HashMap::from([("deployment_id".to_owned(), m.deployment_id.clone())])),
        };
        let request = |blocks| {
            SlackApiChatPostMessageRequest::new(
                SlackChannelId(m.channel.clone()),
                Self::content(m, blocks).with_metadata(metadata.clone()),
            )
        };
        let result = with_text_fallback(&m.deployment_id, |blocks| {
            let (req, session, timeout) = (request(blocks), self.client.open_session(&self.token), self.timeout);
            async move { timed(timeout, session.chat_post_message(&req)).await }
        })
        .await;
        match result {
            Ok(resp) => match store.set_slack_message(&m.deployment_id, &resp.channel.0, &resp.ts.0) {
                Ok(()) => Outcome::Done(resp.ts.0),
                // Posted but not recorded: the next attempt finds it by its metadata.
                Err(e) => Outcome::Unknown { error: e.to_string() },
            },
            Err(f) => self.outcome(f, Method::Post, &m.channel),
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
            Err(f) => return Err(self.outcome(f, Method::Lookup, channel)),
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
        if let Err(deferred) = self.turn(item, Method::Update, &channel) {
            return deferred;
        }
        // Claimed like a post: with replicas, an update another replica is running holds off
        // the later ones of the same message, so an older state never lands last.
        if let Err(outcome) = super::claim(store, item.id) {
            return outcome;
        }
        let linked = self.with_links(m, store).await;
        let m = &linked;
        let request = |blocks| {
            SlackApiChatUpdateRequest::new(
                SlackChannelId(channel.clone()),
                Self::content(m, blocks),
                SlackTs(ts.clone()),
            )
        };
        let result = with_text_fallback(&m.deployment_id, |blocks| {
            let (req, session, timeout) = (request(blocks), self.client.open_session(&self.token), self.timeout);
            async move { timed(timeout, session.chat_update(&req)).await }
        })
        .await;
        match result {
            Ok(_) => Outcome::Done(ts),
            // An update is idempotent: an unknown outcome is simply retried.
            Err(f) => match self.outcome(f, Method::Update, &channel) {
                Outcome::Unknown { error } => Outcome::Retry { after_ms: None, error },
                other => other,
            },
        }
    }

    async fn reply(&mut self, item: &OutboxItem, m: &SlackMessage, store: &mut dyn Store) -> Outcome {
        let parent = m.thread_of.as_deref().unwrap_or(&m.deployment_id);
        let (channel, parent_ts) = match store.slack_message(parent) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Outcome::Retry { after_ms: Some(1_000), error: format!("waiting for the message of {parent}") };
            }
            Err(e) => return Outcome::Retry { after_ms: Some(1_000), error: e.to_string() },
        };
        if item.status == Status::Attempting {
            if let Err(deferred) = self.turn(item, Method::Lookup, &channel) {
                return deferred;
            }
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
                Err(f) => return self.outcome(f, Method::Lookup, &channel),
            }
        }
        if let Err(deferred) = self.turn(item, Method::Post, &channel) {
            return deferred;
        }
        if let Err(outcome) = super::claim(store, item.id) {
            return outcome;
        }
        let linked = self.with_links(m, store).await;
        let m = &linked;
        let request = |blocks| {
            let req = SlackApiChatPostMessageRequest::new(SlackChannelId(channel.clone()), Self::content(m, blocks))
                .with_thread_ts(SlackTs(parent_ts.clone()));
            if m.broadcast { req.with_reply_broadcast(true) } else { req }
        };
        let result = with_text_fallback(&m.deployment_id, |blocks| {
            let (req, session, timeout) = (request(blocks), self.client.open_session(&self.token), self.timeout);
            async move { timed(timeout, session.chat_post_message(&req)).await }
        })
        .await;
        match result {
            Ok(resp) => Outcome::Done(resp.ts.0),
            Err(f) => self.outcome(f, Method::Post, &channel),
        }
    }
}

/// Slack's permalink of a message: `<workspace URL>archives/<channel>/p<ts without the dot>`.
pub fn permalink(workspace: &str, channel: &str, ts: &str) -> String {
    format!("{}/archives/{channel}/p{}", workspace.trim_end_matches('/'), ts.replace('.', ""))
}

const LINK_OPEN: &str = "<cutover:message:";

/// The ids `text` links to (`<cutover:message:<id>|…>`), added to `ids` once each.
fn link_ids(text: &str, ids: &mut Vec<String>) {
    let mut rest = text;
    while let Some(i) = rest.find(LINK_OPEN) {
        let after = &rest[i + LINK_OPEN.len()..];
        let Some(bar) = after.find('|') else { return };
        let id = &after[..bar];
        if !id.contains('>') && !ids.iter().any(|x| x == id) {
            ids.push(id.to_owned());
        }
        rest = &after[bar..];
    }
}

/// `text` with each `<cutover:message:<id>|label>` made `<permalink|label>`, or `label` when
/// the message of `id` is not posted (not in `permalinks`).
fn resolve_links(text: &str, permalinks: &HashMap<String, String>) -> String {
    if !text.contains(LINK_OPEN) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(LINK_OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + LINK_OPEN.len()..];
        let (Some(bar), Some(end)) = (after.find('|'), after.find('>')) else {
            out.push_str(&rest[i..]);
            return out;
        };
        if end < bar {
            // Not one of Cutover's links after all: kept as it was.
            out.push_str(&rest[i..i + LINK_OPEN.len() + end + 1]);
            rest = &after[end + 1..];
            continue;
        }
        let (id, label) = (&after[..bar], &after[bar + 1..end]);
        match permalinks.get(id) {
            Some(url) => {
                out.push('<');
                out.push_str(url);
                out.push('|');
                out.push_str(label);
                out.push('>');
            }
            None => out.push_str(label),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn walk_strings(v: &serde_json::Value, f: &mut impl FnMut(&str)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        serde_json::Value::Object(o) => o.values().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

fn rewrite_strings(v: &mut serde_json::Value, f: &impl Fn(&str) -> String) {
    match v {
        serde_json::Value::String(s) => *s = f(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| rewrite_strings(x, f)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| rewrite_strings(x, f)),
        _ => {}
    }
}

/// Slack's answers that a message's blocks are not acceptable; its text alone is.
const BLOCKS_REFUSED: [&str; 3] = ["invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"];

/// Slack's answers that the token is not good (the app was uninstalled, the token revoked or
/// rotated, a scope is missing): nothing will go through until the token is mended.
const TOKEN_REFUSED: [&str; 8] = [
    "not_authed",
    "invalid_auth",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "missing_scope",
    "not_allowed_token_type",
    "no_permission",
];

/// Sends with blocks (`call(true)`); when Slack refuses the blocks, again as text alone
/// (`call(false)`): a message is never dropped for its blocks.
async fn with_text_fallback<T, F: Future<Output = Result<T, Failure>>>(
    deployment_id: &str,
    call: impl Fn(bool) -> F,
) -> Result<T, Failure> {
    let result = call(true).await;
    if blocks_refused(&result, deployment_id) { call(false).await } else { result }
}

/// True (and logged) when Slack refused the blocks of a message: it is then sent as text alone,
/// never dropped.
fn blocks_refused<T>(result: &Result<T, Failure>, deployment_id: &str) -> bool {
    let refused = matches!(result, Err(Failure::Slack(SlackClientError::ApiError(a))) if BLOCKS_REFUSED.contains(&a.code.as_str()));
    if refused {
        tracing::warn!(message = "Slack refused a message's blocks; sending its text alone.", deployment_id = %deployment_id);
    }
    refused
}

/// The call never reached Slack: the connection was refused or could not be made.
fn never_connected(e: &errors::SlackClientHttpProtocolError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.cause.as_deref().map(|c| c as _);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<hyper_util::client::legacy::Error>() {
            return h.is_connect();
        }
        cause = c.source();
    }
    false
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
pub(crate) fn describe(error: &SlackClientError) -> String {
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
    /// Enough to see past one busy channel's actions to the other channels', and a post's
    /// waiting updates.
    const BATCH: usize = 50;

    async fn execute(&mut self, items: &[OutboxItem], store: &mut dyn Store) -> Vec<(i64, Outcome)> {
        let mut out = Vec::with_capacity(items.len());
        if let Err(outcome) = self.refresh_token().await
            && let Some(first) = items.first()
        {
            return vec![(first.id, outcome)];
        }
        // Actions already given an outcome (updates a post carried), and deployments whose
        // later actions wait for an earlier one: a deployment's messages keep their order.
        let mut decided = HashSet::new();
        let mut held = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let deployment = item.action.deployment_id();
            if decided.contains(&item.id) || held.contains(deployment) {
                continue;
            }
            let later = || items[i + 1..].iter().filter(|l| !decided.contains(&l.id));
            let mut carried = Vec::new();
            let outcome = match &item.action {
                Action::SlackUpdate(m) => match later()
                    .find(|l| matches!(&l.action, Action::SlackUpdate(n) if n.deployment_id == m.deployment_id))
                {
                    Some(newer) => {
                        self.pacer.hand_over(item.id, newer.id, Method::Update);
                        Outcome::Superseded("a later update of the same message replaces it".into())
                    }
                    None => self.update(item, m, store).await,
                },
                Action::SlackPost(m) => {
                    let waiting: Vec<&OutboxItem> = later().collect();
                    let (outcome, ids) = self.post(item, m, &waiting, store).await;
                    carried = ids;
                    outcome
                }
                Action::SlackReply(m) => self.reply(item, m, store).await,
                other => Outcome::Failed(format!("not a Slack action: {}", other.deployment_id())),
            };
            let stop = matches!(outcome, Outcome::SetupFault(_));
            if !matches!(outcome, Outcome::Done(_) | Outcome::Superseded(_) | Outcome::Failed(_)) {
                held.insert(deployment);
            }
            out.push((item.id, outcome));
            for id in carried {
                decided.insert(id);
                out.push((id, Outcome::Superseded("the post carried this state".into())));
            }
            // A refused token refuses every call: the round ends.
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
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Journal, Outbox};

    /// A port on 127.0.0.1 that refuses connections: bound, then closed.
    fn refused_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_refused_connection_sent_nothing_so_the_post_is_retried_without_a_lookup() {
        let url = format!("http://127.0.0.1:{}/api", refused_port());
        let mut slack =
            SlackExecutor::new(&url, &SecretString::from("xoxb-test"), 50.0, Duration::from_secs(5)).unwrap();
        let mut store = SqliteStore::in_memory().unwrap();
        let post = Action::SlackPost(SlackMessage {
            deployment_id: "ecs-svc/1".into(),
            channel: "deployments".into(),
            thread_of: None,
            text: "hello".into(),
            blocks: Vec::new(),
            broadcast: false,
        });
        let ids = store.commit(&[], &[post.into()]).unwrap();
        let items = store.due(Lane::Slack, i64::MAX, 10).unwrap();
        assert_eq!(items.len(), 1);
        let out = slack.execute(&items, &mut store).await;
        assert_eq!(out.len(), 1);
        assert!(
            matches!(&out[0].1, Outcome::Retry { error, .. } if error == "cannot connect to Slack"),
            "{out:?} {ids:?}"
        );
    }

    #[test]
    fn cutovers_links_become_permalinks_of_the_messages_posted_and_text_for_the_others() {
        let text = "*staging*: <cutover:message:ecs-svc/1|`ecs-svc/1`> in #deploys-staging; \
                    <cutover:message:d-NOTYET|`d-NOTYET`>; <https://example.com|a link> stays";
        let mut ids = Vec::new();
        link_ids(text, &mut ids);
        link_ids(text, &mut ids);
        assert_eq!(ids, ["ecs-svc/1", "d-NOTYET"], "each once");
        let posted = HashMap::from([(
            "ecs-svc/1".to_owned(),
            permalink("https://acme.slack.com/", "C0123ABCD", "1773480600.000200"),
        )]);
        assert_eq!(
            resolve_links(text, &posted),
            "*staging*: <https://acme.slack.com/archives/C0123ABCD/p1773480600000200|`ecs-svc/1`> in #deploys-staging; \
             `d-NOTYET`; <https://example.com|a link> stays"
        );
        // Not Cutover's markup: left as it is.
        assert_eq!(resolve_links("<cutover:message:x> y", &posted), "<cutover:message:x> y");
        assert_eq!(resolve_links("no links", &posted), "no links");
        let mut block = serde_json::json!({"fields": [{"text": text}], "type": "section"});
        rewrite_strings(&mut block, &|s| resolve_links(s, &posted));
        assert!(block.to_string().contains("p1773480600000200"), "{block}");
    }
}
