//! Slack's clicks and commands in (DESIGN "Acting from Slack"). [`answer`] (the `/cutover`
//! slash command) and [`interact`] (buttons and modals) decide them whichever transport brought
//! them: Socket Mode ([`crate::socket`], the default) or the signed request URLs of
//! `[slack.actions] transport = "http"` served here, `<path>/commands` and
//! `<path>/interactions`.
//!
//! Every request to the URLs is verified before anything in it is read: Slack's `v0` signature
//! (HMAC-SHA256 of `v0:<timestamp>:<body>` with the signing secret, compared in constant time),
//! a timestamp within five minutes of now, and a signature not seen before in that window. A
//! request that fails any of them gets HTTP 401, is counted by reason
//! (`cutover_slack_requests_total`), and reaches nothing else: no state is read, no AWS call
//! is made.
//!
//! What is answered: `/cutover help`, `/cutover status [service] [environment]` (from the
//! correlator's state, asked through the driver between two batches), and a helpful answer to
//! anything else; `/cutover rollback` and `/cutover deploy`, and clicks on the messages' buttons
//! (Roll back, Continue, Reroute now, Approve, Reject with its modal), decided by the
//! correlator ([`cutover_correlator::correlator::controls`]) and journaled by the driver, their
//! AWS calls made once by the controls lane. A click is bound to its message through the store
//! and answered with an ephemeral message. The user groups the routes name are resolved
//! ([`crate::slack_web`]) before the request is journaled.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cutover_correlator::correlator::controls::{Ask, Button, Request, Verdict};
use cutover_correlator::correlator::status::Board;
use cutover_correlator::slack::message::escape;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::{mpsc, oneshot};

use crate::config::actions::ActionsConfig;

/// How far a request's timestamp may be from now, either way.
pub const FRESH_SECS: i64 = 5 * 60;

/// Why a request was refused (HTTP 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `X-Slack-Signature` or `X-Slack-Request-Timestamp`.
    Unsigned,
    /// The signature does not match the body and timestamp, or is not `v0=<64 hex>`.
    BadSignature,
    /// The timestamp is more than five minutes from now (or not a number).
    Stale,
    /// The same signed request came before.
    Replayed,
}

impl Refusal {
    pub const ALL: [Self; 4] = [Self::Unsigned, Self::BadSignature, Self::Stale, Self::Replayed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
            Self::Replayed => "replayed",
        }
    }
}

/// Checks Slack's `v0` signatures and refuses a request seen before.
pub struct Verifier {
    key: ring::hmac::Key,
    /// Signatures of verified requests within the window, oldest first (only verified ones:
    /// nobody without the secret can fill it).
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    order: VecDeque<(i64, [u8; 32])>,
    set: HashSet<[u8; 32]>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(signing_secret: &SecretString) -> Self {
        Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, signing_secret.expose_secret().as_bytes()),
            seen: Mutex::default(),
        }
    }

    /// Verifies one request at `now_s` (Unix seconds). The order matters: the signature is
    /// checked before the request is remembered, so a forged one cannot make a real one look
    /// replayed.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now_s: i64,
    ) -> Result<(), Refusal> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else { return Err(Refusal::Unsigned) };
        let ts: i64 = timestamp.trim().parse().map_err(|_| Refusal::Stale)?;
        if (now_s - ts).abs() > FRESH_SECS {
            return Err(Refusal::Stale);
        }
        let tag = signature
            .strip_prefix("v0=")
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| {
                let mut out = [0u8; 32];
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
                }
                Some(out)
            })
            .ok_or(Refusal::BadSignature)?;
        let mut message = Vec::with_capacity(body.len() + timestamp.len() + 4);
        message.extend_from_slice(b"v0:");
        message.extend_from_slice(timestamp.as_bytes());
        message.push(b':');
        message.extend_from_slice(body);
        ring::hmac::verify(&self.key, &message, &tag).map_err(|_| Refusal::BadSignature)?;
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while seen.order.front().is_some_and(|(t, _)| *t < now_s - 2 * FRESH_SECS) {
            if let Some((_, old)) = seen.order.pop_front() {
                seen.set.remove(&old);
            }
        }
        if !seen.set.insert(tag) {
            return Err(Refusal::Replayed);
        }
        seen.order.push_back((ts.max(now_s), tag));
        Ok(())
    }
}

/// What the endpoints ask the driver, which alone holds the correlator.
#[derive(Debug)]
pub enum Query {
    /// `/cutover status`.
    Status { service: Option<String>, environment: Option<String>, reply: oneshot::Sender<Board> },
    /// A request to act (`/cutover rollback`): decided and journaled by the driver, answered
    /// once its call is in the outbox.
    Act { request: Box<Request>, reply: oneshot::Sender<Verdict> },
}

/// `/cutover`'s subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Status {
        service: Option<String>,
        environment: Option<String>,
    },
    Deploy {
        environment: String,
        service: String,
    },
    Rollback {
        service: String,
        environment: String,
    },
    /// A subcommand that is not one, or one with the wrong words.
    Unknown {
        text: String,
        hint: &'static str,
    },
}

impl Command {
    /// The command's text (what follows `/cutover`).
    pub fn parse(text: &str) -> Self {
        let words: Vec<&str> = text.split_whitespace().collect();
        let unknown = |hint| Self::Unknown { text: text.trim().to_owned(), hint };
        match words.as_slice() {
            [] | ["help" | "-h" | "--help" | "?"] => Self::Help,
            ["status"] => Self::Status { service: None, environment: None },
            ["status", service] => Self::Status { service: Some((*service).to_owned()), environment: None },
            ["status", service, environment] => {
                Self::Status { service: Some((*service).to_owned()), environment: Some((*environment).to_owned()) }
            }
            ["status", ..] => unknown("status takes at most a service and an environment"),
            ["deploy", environment, service] => {
                Self::Deploy { environment: (*environment).to_owned(), service: (*service).to_owned() }
            }
            ["deploy", ..] => unknown("deploy takes an environment and a service: `/cutover deploy production web`"),
            ["rollback", service, environment] => {
                Self::Rollback { service: (*service).to_owned(), environment: (*environment).to_owned() }
            }
            ["rollback", ..] => {
                unknown("rollback takes a service and an environment: `/cutover rollback web production`")
            }
            _ => unknown("that is not a subcommand of /cutover"),
        }
    }
}

/// The help text.
pub const HELP: &str = "*/cutover* — what Cutover knows about your deployments\n\
    • `/cutover status [service] [environment]`: what runs where, since when, and what is in flight\n\
    • `/cutover deploy <environment> <service>`: start the pipeline of that service and environment\n\
    • `/cutover rollback <service> <environment>`: roll back the deployment in flight or in its rollback window\n\
    • `/cutover help`: this text";

/// What answers Slack's requests, whichever transport brought them (the signed request URLs
/// here, Socket Mode in [`crate::socket`]).
#[derive(Clone, Debug)]
pub struct Interact {
    pub metrics: Arc<crate::metrics::Metrics>,
    pub queries: mpsc::Sender<Query>,
    /// Who is in the user groups the routes name.
    pub groups: Arc<crate::slack_web::UserGroups>,
    /// Where Cutover's messages are (the store), to tell a button on its own message.
    pub messages: Arc<Messages>,
    /// Ephemeral answers to clicks.
    pub replies: Arc<crate::slack_web::SlackWeb>,
}

/// Cutover's messages as the store records them.
pub struct Messages(pub Mutex<Box<dyn crate::store::Store>>);

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages").finish_non_exhaustive()
    }
}

impl Messages {
    /// The deployment's message is `ts` in `channel`. A store that cannot say counts as no.
    fn is_message_of(&self, deployment_id: &str, channel: &str, ts: &str) -> bool {
        let found = tokio::task::block_in_place(|| {
            let mut store = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            store.slack_message(deployment_id)
        });
        match found {
            Ok(Some((c, t))) => c == channel && t == ts,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(message = "Cannot read where a deployment's message is; the click is refused.", error = %e);
                false
            }
        }
    }
}

/// How long a request may wait for Slack to list the user groups of the routes: Slack wants
/// its answer within 3 s, and the decision comes after. Not listed in time: in none of them.
const GROUPS_BUDGET: std::time::Duration = std::time::Duration::from_millis(1_500);

/// How long a request may take from its arrival to its answer, all told (Slack's 3 s, less
/// the way there and back).
const ANSWER_BUDGET: std::time::Duration = std::time::Duration::from_millis(2_500);

/// The request URLs' state: what answers, and what checks the signatures first.
#[derive(Clone, Debug)]
struct Signed {
    interact: Interact,
    verifier: Arc<Verifier>,
}

/// `<path>/commands` and `<path>/interactions`, each request verified with `verifier` before
/// anything in it is read.
pub fn router(config: &ActionsConfig, interact: Interact, verifier: Verifier) -> Router {
    Router::new()
        .route(&config.commands_path(), post(command))
        .route(&config.interactions_path(), post(interaction))
        .with_state(Signed { interact, verifier: Arc::new(verifier) })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The rejection's modal submitted: decided as a Reject click on the message it was opened
/// from (named in the view's `private_metadata`, which Cutover wrote), with the comment.
async fn submission(i: &Interact, payload: &serde_json::Value) {
    let view = &payload["view"];
    if view["callback_id"] != crate::slack_web::REJECT_CALLBACK {
        i.metrics.slack_request("interactions", "unknown");
        return;
    }
    let metadata: serde_json::Value =
        serde_json::from_str(view["private_metadata"].as_str().unwrap_or_default()).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let (Some(approval), Some(channel), Some(ts), Some(user), Some(trigger)) = (
        text(&metadata["approval"]),
        text(&metadata["channel"]),
        text(&metadata["ts"]),
        text(&payload["user"]["id"]),
        text(&payload["trigger_id"]),
    ) else {
        i.metrics.slack_request("interactions", "malformed");
        tracing::warn!(message = "A rejection's form came back without what Cutover put in it; nothing was done.");
        return;
    };
    let comment = text(&view["state"]["values"]["comment"]["comment"]["value"]);
    let bound = i.messages.is_message_of(&approval, &channel, &ts);
    let ask = Ask::Click {
        button: Button::Reject,
        deployment_id: approval,
        bound,
        message_of: text(&metadata["message_of"]),
        comment,
        hook: None,
    };
    let answer = decide(i, "interactions", &trigger, &user, &channel, ask).await;
    let replies = i.replies.clone();
    tokio::spawn(async move { replies.ephemeral(&channel, &user, &answer).await });
}

/// Verifies a request, counts and logs a refusal: `Some(the 401)` when refused.
fn refuse(s: &Signed, endpoint: &'static str, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    let verdict = s.verifier.verify(
        header(headers, "x-slack-request-timestamp"),
        header(headers, "x-slack-signature"),
        body,
        crate::clock::now_ms() / 1000,
    );
    match verdict {
        Ok(()) => None,
        Err(refusal) => {
            s.interact.metrics.slack_request(endpoint, refusal.as_str());
            tracing::warn!(
                message = "Refused a Slack request.",
                endpoint,
                reason = refusal.as_str(),
                retry = header(headers, "x-slack-retry-num").unwrap_or("")
            );
            Some((StatusCode::UNAUTHORIZED, format!("refused: {}\n", refusal.as_str())).into_response())
        }
    }
}

/// An ephemeral answer (only the caller sees it).
fn ephemeral(text: &str) -> Response {
    let body = serde_json::json!({ "response_type": "ephemeral", "text": text });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

async fn command(State(s): State<Signed>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = refuse(&s, "commands", &headers, &body) {
        return refused;
    }
    ephemeral(&answer(&s.interact, &form(&body)).await)
}

/// What `/cutover <text>` answers (only whoever typed it sees it), from the command's fields
/// (`user_id`, `text`, `trigger_id`, `channel_id`), whichever transport brought them.
pub async fn answer(i: &Interact, fields: &std::collections::HashMap<String, String>) -> String {
    let user = fields.get("user_id").map_or("", String::as_str);
    let text = fields.get("text").map_or("", String::as_str);
    let parsed = Command::parse(text);
    tracing::info!(message = "Slack command.", user_id = %user, command = ?parsed);
    match parsed {
        Command::Help => {
            i.metrics.slack_request("commands", "answered");
            HELP.to_owned()
        }
        Command::Status { service, environment } => {
            let (reply, answer) = oneshot::channel();
            let query = Query::Status { service: service.clone(), environment: environment.clone(), reply };
            let board = match i.queries.send(query).await {
                Ok(()) => tokio::time::timeout(std::time::Duration::from_millis(2_500), answer).await.ok(),
                Err(_) => None,
            };
            match board.and_then(Result::ok) {
                Some(board) => {
                    i.metrics.slack_request("commands", "answered");
                    status_text(&board, service.as_deref(), environment.as_deref())
                }
                None => {
                    i.metrics.slack_request("commands", "busy");
                    "Cutover is busy (catching up or shutting down); ask again in a moment.".to_owned()
                }
            }
        }
        Command::Rollback { service, environment } => {
            act(i, fields, user, Ask::Rollback { service, environment }).await
        }
        Command::Deploy { environment, service } => act(i, fields, user, Ask::Deploy { environment, service }).await,
        Command::Unknown { text, hint } => {
            i.metrics.slack_request("commands", "unknown");
            format!("`{}`: {hint}.\n\n{HELP}", escape(&text))
        }
    }
}

/// A request to act, decided by the correlator through the driver (which journals it first).
async fn act(i: &Interact, fields: &std::collections::HashMap<String, String>, user: &str, ask: Ask) -> String {
    let Some(id) = fields.get("trigger_id").filter(|t| !t.is_empty()) else {
        i.metrics.slack_request("commands", "malformed");
        return "The request carries no `trigger_id`; nothing was done.".to_owned();
    };
    let channel = fields.get("channel_id").cloned().unwrap_or_default();
    decide(i, "commands", id, user, &channel, ask).await
}

/// Asks the driver to decide a request (journaled first), and counts how it ended: the text
/// for whoever asked.
async fn decide(i: &Interact, endpoint: &'static str, id: &str, user: &str, channel: &str, ask: Ask) -> String {
    // Slack shows an error when it has no answer within 3 s: the groups and the decision
    // share what is left of that.
    let deadline = tokio::time::Instant::now() + ANSWER_BUDGET;
    let groups = tokio::time::timeout(GROUPS_BUDGET, i.groups.of(user)).await.unwrap_or_default();
    let request = Request {
        id: id.to_owned(),
        user: user.to_owned(),
        groups,
        channel: channel.to_owned(),
        at: cutover_events::Timestamp(crate::clock::now_ms()),
        ask,
    };
    let (reply, answer) = oneshot::channel();
    let verdict = match i.queries.send(Query::Act { request: Box::new(request), reply }).await {
        // The driver answers once the request is journaled; a slow store still answers
        // Slack within its 3 s, and the request, once journaled, is acted on.
        Ok(()) => tokio::time::timeout_at(deadline, answer).await.ok(),
        Err(_) => None,
    };
    match verdict.and_then(Result::ok) {
        Some(verdict @ Verdict::Accepted(_)) => {
            i.metrics.slack_request(endpoint, "acted");
            verdict.text().to_owned()
        }
        Some(verdict) => {
            i.metrics.slack_request(endpoint, "refused");
            verdict.text().to_owned()
        }
        None => {
            i.metrics.slack_request(endpoint, "busy");
            "Cutover is busy (catching up or shutting down): it may still act on this; `/cutover status` will \
             show it. Ask again in a moment if nothing happens."
                .to_owned()
        }
    }
}

/// A click on one of Cutover's buttons, as read from a `block_actions` payload.
#[derive(Debug, PartialEq, Eq)]
struct Click {
    button: Button,
    /// The deployment the button's value names.
    value: String,
    user: String,
    channel: String,
    message_ts: String,
    trigger_id: String,
    /// The deployment whose message was clicked, as the message's metadata says.
    message_of: Option<String>,
    /// The pause hook a Continue button names (its value is `<deployment>#<hook id>`).
    hook: Option<String>,
}

impl Click {
    /// `None` for a payload that is not a click on a Cutover button (another kind, another
    /// action, a field missing).
    fn parse(payload: &serde_json::Value) -> Option<Self> {
        let s = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        if payload["type"] != "block_actions" {
            return None;
        }
        let action = payload["actions"].as_array()?.first()?;
        let metadata = &payload["message"]["metadata"];
        let message_of = (metadata["event_type"] == crate::executors::slack::POST_EVENT_TYPE)
            .then(|| s(&metadata["event_payload"]["deployment_id"]))
            .flatten();
        let button = Button::from_action_id(action["action_id"].as_str()?)?;
        let value = s(&action["value"])?;
        let (value, hook) = match (button, value.split_once('#')) {
            (Button::Continue, Some((deployment, hook))) => (deployment.to_owned(), Some(hook.to_owned())),
            _ => (value, None),
        };
        Some(Self {
            button,
            value,
            hook,
            user: s(&payload["user"]["id"])?,
            channel: s(&payload["container"]["channel_id"]).or_else(|| s(&payload["channel"]["id"]))?,
            message_ts: s(&payload["container"]["message_ts"])?,
            trigger_id: s(&payload["trigger_id"])?,
            message_of,
        })
    }
}

async fn interaction(State(s): State<Signed>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = refuse(&s, "interactions", &headers, &body) {
        return refused;
    }
    let payload = form(&body).get("payload").and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
    match payload {
        Some(payload) => interact(&s.interact, &payload).await,
        None => {
            s.interact.metrics.slack_request("interactions", "malformed");
            tracing::warn!(message = "A Slack interaction without a readable payload; nothing was done.");
        }
    }
    // Acknowledged in every case, so Slack does not send the same again. An empty answer
    // also closes a submitted modal.
    StatusCode::OK.into_response()
}

/// One interaction (a click on a button, a modal submitted), whichever transport brought it.
/// Its answers go as ephemeral messages, never in the acknowledgement.
pub async fn interact(i: &Interact, payload: &serde_json::Value) {
    if payload["type"] == "view_submission" {
        return submission(i, payload).await;
    }
    let Some(click) = Click::parse(payload) else {
        i.metrics.slack_request("interactions", "unknown");
        tracing::info!(
            message = "A Slack interaction that is no click on a Cutover button; nothing was done.",
            kind = %escape(payload["type"].as_str().unwrap_or_default())
        );
        return;
    };
    // Is the message clicked the one Cutover posted for the deployment the button names?
    let bound = i.messages.is_message_of(&click.value, &click.channel, &click.message_ts);
    if click.button == Button::Reject && bound {
        // A rejection takes a comment: the modal first, the decision when it is submitted.
        let metadata = serde_json::json!({"approval": click.value, "channel": click.channel,
            "ts": click.message_ts, "message_of": click.message_of});
        if i.replies
            .open_reject(
                &click.trigger_id,
                "Reject this approval: the pipeline execution stops here.",
                metadata.to_string(),
            )
            .await
        {
            i.metrics.slack_request("interactions", "modal");
        } else {
            i.metrics.slack_request("interactions", "busy");
            let replies = i.replies.clone();
            tokio::spawn(async move {
                replies
                    .ephemeral(
                        &click.channel,
                        &click.user,
                        "Slack did not open the rejection's form; nothing was done. Click Reject again.",
                    )
                    .await;
            });
        }
        return;
    }
    let ask = Ask::Click {
        button: click.button,
        deployment_id: click.value,
        bound,
        message_of: click.message_of,
        comment: None,
        hook: click.hook,
    };
    let text = decide(i, "interactions", &click.trigger_id, &click.user, &click.channel, ask).await;
    // A click's answer is not shown from the HTTP response: it is an ephemeral message.
    let replies = i.replies.clone();
    tokio::spawn(async move { replies.ephemeral(&click.channel, &click.user, &text).await });
}

/// The ephemeral answer of `/cutover status`. Every value from an event is escaped.
pub fn status_text(board: &Board, service: Option<&str>, environment: Option<&str>) -> String {
    let scope = match (service, environment) {
        (None, None) => String::new(),
        (Some(s), None) => format!(" for {}", escape(s)),
        (None, Some(e)) => format!(" in {}", escape(e)),
        (Some(s), Some(e)) => format!(" for {} in {}", escape(s), escape(e)),
    };
    if board.running.is_empty() && board.in_flight.is_empty() {
        return format!("Cutover holds no deployment{scope} (within its retention).");
    }
    let mut out = String::new();
    let env = |e: &Option<String>| e.as_deref().map(|e| format!(" ({})", escape(e))).unwrap_or_default();
    let version = |v: &Option<String>| {
        v.as_deref().map_or_else(|| "an unknown version".to_owned(), |v| format!("`{}`", escape(v)))
    };
    if !board.running.is_empty() {
        out.push_str(&format!("*Running{scope}*\n"));
        for r in &board.running {
            out.push_str(&format!(
                "• {}{}: {} since {} (`{}`)\n",
                escape(&r.target),
                env(&r.environment),
                version(&r.version),
                r.since,
                escape(&r.deployment_id)
            ));
        }
    }
    if !board.in_flight.is_empty() {
        out.push_str(&format!("*In flight{scope}*\n"));
        for m in &board.in_flight {
            out.push_str(&format!(
                "• {}{}: {} ({}), started {}, last {} at {} (`{}`)\n",
                escape(&m.target),
                env(&m.environment),
                version(&m.version),
                m.strategy.as_str(),
                m.started,
                m.step.as_str(),
                m.step_at,
                escape(&m.deployment_id)
            ));
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let mut m = format!("v0:{ts}:").into_bytes();
        m.extend_from_slice(body);
        let tag = ring::hmac::sign(&key, &m);
        format!("v0={}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // https://api.slack.com/authentication/verifying-requests-from-slack: the example
        // request, its signing secret and the signature Slack sends.
        let secret = SecretString::from("8f742231b10e8888abcd99yyyzzz85a5".to_owned());
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let v = Verifier::new(&secret);
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(v.verify(Some("1531420618"), Some(sig), body, 1_531_420_618), Ok(()));
        assert_eq!(sign("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body), sig);
    }

    #[test]
    fn unsigned_bad_stale_and_replayed_requests_are_refused() {
        let secret = SecretString::from("s3cret".to_owned());
        let v = Verifier::new(&secret);
        let now = 1_800_000_000;
        let ts = now.to_string();
        let body = b"command=%2Fcutover&text=help";
        let good = sign("s3cret", &ts, body);
        assert_eq!(v.verify(None, Some(&good), body, now), Err(Refusal::Unsigned));
        assert_eq!(v.verify(Some(&ts), None, body, now), Err(Refusal::Unsigned));
        assert_eq!(v.verify(Some(&ts), Some(&sign("other", &ts, body)), body, now), Err(Refusal::BadSignature));
        assert_eq!(
            v.verify(Some(&ts), Some(&good), b"command=%2Fcutover&text=deploy", now),
            Err(Refusal::BadSignature)
        );
        assert_eq!(v.verify(Some(&ts), Some("v0=zz"), body, now), Err(Refusal::BadSignature));
        assert_eq!(v.verify(Some(&ts), Some(&good.replace("v0=", "v1=")), body, now), Err(Refusal::BadSignature));
        let old = (now - FRESH_SECS - 1).to_string();
        assert_eq!(v.verify(Some(&old), Some(&sign("s3cret", &old, body)), body, now), Err(Refusal::Stale));
        let ahead = (now + FRESH_SECS + 1).to_string();
        assert_eq!(v.verify(Some(&ahead), Some(&sign("s3cret", &ahead, body)), body, now), Err(Refusal::Stale));
        assert_eq!(v.verify(Some("soon"), Some(&good), body, now), Err(Refusal::Stale));
        // Refusals before this one did not count it as seen.
        assert_eq!(v.verify(Some(&ts), Some(&good), body, now), Ok(()));
        assert_eq!(v.verify(Some(&ts), Some(&good), body, now + 10), Err(Refusal::Replayed));
        // The same body signed at another second is another request.
        let later = (now + 1).to_string();
        assert_eq!(v.verify(Some(&later), Some(&sign("s3cret", &later, body)), body, now + 1), Ok(()));
    }

    #[test]
    fn the_window_of_seen_requests_is_pruned() {
        let v = Verifier::new(&SecretString::from("k".to_owned()));
        let body = b"text=status";
        for i in 0..50 {
            let now = 1_800_000_000 + i * 60;
            let ts = now.to_string();
            assert_eq!(v.verify(Some(&ts), Some(&sign("k", &ts, body)), body, now), Ok(()));
        }
        let seen = v.seen.lock().unwrap();
        assert!(seen.order.len() <= 11, "only the last ten minutes are kept: {}", seen.order.len());
        assert_eq!(seen.order.len(), seen.set.len());
    }

    #[test]
    fn subcommands_parse_and_the_rest_gets_a_hint() {
        assert_eq!(Command::parse(""), Command::Help);
        assert_eq!(Command::parse("  help "), Command::Help);
        assert_eq!(Command::parse("status"), Command::Status { service: None, environment: None });
        assert_eq!(
            Command::parse("status web production"),
            Command::Status { service: Some("web".into()), environment: Some("production".into()) }
        );
        assert_eq!(
            Command::parse("deploy production web"),
            Command::Deploy { environment: "production".into(), service: "web".into() }
        );
        assert_eq!(
            Command::parse("rollback web production"),
            Command::Rollback { service: "web".into(), environment: "production".into() }
        );
        assert!(
            matches!(Command::parse("deploy web"), Command::Unknown { hint, .. } if hint.contains("environment and a service"))
        );
        assert!(matches!(Command::parse("status a b c"), Command::Unknown { .. }));
        assert!(
            matches!(Command::parse("launch <!channel>"), Command::Unknown { text, .. } if text == "launch <!channel>")
        );
    }
}
