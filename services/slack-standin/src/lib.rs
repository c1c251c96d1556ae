//! # slack-standin
//!
//! A local HTTP server that speaks the subset of the Slack Web API Cutover uses, so tests and
//! the local demo exercise the real client (slack-morphism) over a real protocol:
//! `apps.connections.open` and Socket Mode's WebSocket ([`socket`]), `auth.test`, `chat.postMessage`, `chat.update`, `conversations.history` (with message
//! metadata), `conversations.replies`, `chat.postEphemeral`, `views.open` and `usergroups.users.list` (the groups it was given with
//! [`Standin::set_usergroup`]; another id is `no_such_subteam`). Methods accept a JSON body, a form body or a query string, like Slack.
//!
//! It records every call and can be told, through `/_control/*`, to answer the next calls with
//! 429 (with `Retry-After`), 500 or a Slack error code, or to stall them; it refuses blocks
//! past Block Kit's limits (`invalid_blocks`) and tokens it was told are revoked, as Slack
//! does. `GET /` shows the feed it received. Told to ([`Standin::limit_rates`], or
//! `slack-standin --rate-limits`), it enforces Slack's rate limits ([`limits`]).
//!
//! # Layout
//! - [`Standin`]: the state (messages per channel, recorded calls, injected faults).
//! - [`router`]: the axum routes: `/api/<method>`, `/_control/*`, `/`.
//! - [`requests`]: the other direction, Slack calling an app: slash commands and interactions
//!   POSTed to its request URLs, signed (or not, or badly, or late) as Slack signs them.

pub mod limits;
pub mod requests;
pub mod socket;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One stored message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub thread_ts: Option<String>,
    pub metadata: Option<Value>,
    pub reply_broadcast: Option<bool>,
    /// How many times `chat.update` rewrote it.
    pub updates: u32,
}

/// A message only one user sees (`chat.postEphemeral`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub text: String,
}

/// One recorded API call.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok` of the answer (false for Slack errors and injected faults).
    pub ok: bool,
    /// When the call arrived, in microseconds since the Unix epoch (for latency figures).
    pub received_at_us: u64,
}

/// A fault to inject into the next `count` calls of `methods` (all methods if empty).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Fault {
    /// 429, 500, or 0 to only stall.
    #[serde(default)]
    pub status: u16,
    pub count: u32,
    /// `Retry-After` seconds for 429.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Delay before answering, in milliseconds.
    #[serde(default)]
    pub stall_ms: Option<u64>,
    /// Carry the call out, then answer with `status` anyway: the client cannot know it worked.
    #[serde(default)]
    pub after_processing: bool,
    #[serde(default)]
    pub methods: Vec<String>,
    /// Answer `ok: false` with this Slack error code (HTTP 200, as Slack does), without
    /// carrying the call out (`invalid_blocks`, `channel_not_found`, …).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    messages: Vec<Message>,
    calls: Vec<Call>,
    faults: Vec<Fault>,
    /// Tokens Slack refuses, with the error it answers (`token_revoked`, `invalid_auth`).
    refused_tokens: BTreeMap<String, String>,
    /// User groups (`S…`) and their members, as `usergroups.users.list` answers.
    usergroups: BTreeMap<String, Vec<String>>,
    /// `chat.postEphemeral` messages: only their user sees them.
    ephemerals: Vec<Ephemeral>,
    /// The views `views.open` opened (modals), as sent.
    views: Vec<Value>,
    /// Socket Mode: its listener, tickets, open connections and the acknowledgements.
    sockets: socket::Sockets,
    /// Slack's rate limits, once told to enforce them.
    limiter: limits::Limiter,
    next_ts: u64,
}

/// The stand-in's shared state. A std `Mutex`: every critical section is short and never
/// held across an `.await`.
#[derive(Clone, Debug, Default)]
pub struct Standin {
    inner: Arc<Mutex<Inner>>,
}

pub(crate) fn lock(s: &Standin) -> std::sync::MutexGuard<'_, Inner> {
    s.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Standin {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message received, in posting order.
    pub fn messages(&self) -> Vec<Message> {
        lock(self).messages.clone()
    }

    /// Every call received, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(self).calls.clone()
    }

    pub fn inject(&self, fault: Fault) {
        lock(self).faults.push(fault);
    }

    /// Refuses `token` from now on with `error` (`token_revoked`, `invalid_auth`, …), as Slack
    /// does once an app is uninstalled or its token rotated.
    pub fn refuse_token(&self, token: &str, error: &str) {
        lock(self).refused_tokens.insert(token.to_owned(), error.to_owned());
    }

    /// Every view `views.open` opened, in order.
    pub fn views(&self) -> Vec<Value> {
        lock(self).views.clone()
    }

    /// Every `chat.postEphemeral`, in order.
    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        lock(self).ephemerals.clone()
    }

    /// Makes `group` a user group with `members` (Slack user ids), replacing what it had.
    pub fn set_usergroup(&self, group: &str, members: &[&str]) {
        lock(self).usergroups.insert(group.to_owned(), members.iter().map(|m| (*m).to_owned()).collect());
    }

    /// Enforces `limits` from now on (429 with `Retry-After` over a limit, as Slack answers);
    /// `None` turns them off. Off by default, so tests are not paced by the stand-in.
    pub fn limit_rates(&self, limits: Option<limits::RateLimits>) {
        lock(self).limiter.limits = limits;
    }

    fn rate_limited(&self, method: &str, p: &Value) -> Option<Duration> {
        lock(self).limiter.take(method, str_param(p, "channel"), std::time::Instant::now()).err()
    }

    pub fn reset(&self) {
        let mut inner = lock(self);
        let (addr, limits) = (inner.sockets.addr, inner.limiter.limits.take());
        *inner = Inner::default();
        inner.sockets.addr = addr;
        inner.limiter.limits = limits;
    }

    /// Takes the fault that applies to `method`, if any.
    fn take_fault(&self, method: &str) -> Option<Fault> {
        let mut inner = lock(self);
        let i = inner
            .faults
            .iter()
            .position(|f| f.count > 0 && (f.methods.is_empty() || f.methods.iter().any(|m| m == method)))?;
        let fault = inner.faults[i].clone();
        inner.faults[i].count -= 1;
        if inner.faults[i].count == 0 {
            inner.faults.remove(i);
        }
        Some(fault)
    }

    fn record(&self, method: &str, params: &Value, status: u16, ok: bool, received_at_us: u64) {
        lock(self).calls.push(Call { method: method.to_owned(), params: params.clone(), status, ok, received_at_us });
    }
}

/// The routes, over `state`.
pub fn router(state: Standin) -> Router {
    Router::new()
        .route("/api/{method}", any(api))
        .route("/_control/fault", post(control_fault))
        .route("/_control/reset", post(control_reset))
        .route("/_control/calls", get(control_calls))
        .route("/_control/messages", get(control_messages))
        .route("/", get(feed_page))
        .with_state(state)
}

/// Reads the call's parameters from a JSON body, a form body, or the query string.
fn params(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Value {
    let mut map = serde_json::Map::new();
    let mut add_pairs = |text: &str| {
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v);
            let value = if k == "blocks" || k == "metadata" {
                serde_json::from_str(&v).unwrap_or(Value::String(v))
            } else {
                Value::String(v)
            };
            map.insert(decode(k), value);
        }
    };
    if let Some(q) = query {
        add_pairs(q);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
            map.extend(o);
        }
    } else if !body.is_empty() {
        add_pairs(&String::from_utf8_lossy(body));
    }
    Value::Object(map)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn str_param<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

async fn api(
    State(s): State<Standin>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at_us = now_us();
    let p = params(&headers, query.as_deref(), &body);
    let fault = s.take_fault(&method);
    if let Some(f) = fault.as_ref().filter(|f| !f.after_processing) {
        if let Some(ms) = f.stall_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        match f.status {
            429 => return too_many_requests(&s, &method, &p, f.retry_after_secs.unwrap_or(1), received_at_us),
            500..=599 => return server_error(&s, &method, &p, f.status, received_at_us),
            _ => {}
        }
        if let Some(code) = &f.error {
            s.record(&method, &p, 200, false, received_at_us);
            return (StatusCode::OK, axum::Json(json!({"ok": false, "error": code}))).into_response();
        }
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| str_param(&p, "token"))
        .unwrap_or_default()
        .to_owned();
    let refused = lock(&s).refused_tokens.get(&token).cloned();
    if let Some(code) = refused {
        s.record(&method, &p, 200, false, received_at_us);
        return (StatusCode::OK, axum::Json(json!({"ok": false, "error": code}))).into_response();
    }
    let authed = token.starts_with("xox");
    if authed && let Some(wait) = s.rate_limited(&method, &p) {
        // Slack's Retry-After is in whole seconds, rounded up.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return too_many_requests(&s, &method, &p, secs.max(1), received_at_us);
    }
    let result = if method == "apps.connections.open" {
        // Only an app-level token opens a connection; a bot token is the wrong type.
        if token.starts_with("xapp-") {
            lock(&s).sockets.ticket().map(|url| json!({"ok": true, "url": url})).ok_or("socket_mode_unavailable")
        } else if authed {
            Err("not_allowed_token_type")
        } else {
            Err("not_authed")
        }
    } else if authed {
        match method.as_str() {
            "auth.test" => Ok(json!({"ok": true, "url": "https://standin.slack.local/", "team": "Stand-in",
                "user": "cutover", "team_id": "T0STANDIN", "user_id": "U0CUTOVER", "bot_id": "B0CUTOVER"})),
            "chat.postMessage" => post_message(&s, &p),
            "chat.update" => update(&s, &p),
            "conversations.history" => history(&s, &p),
            "conversations.replies" => replies(&s, &p),
            "chat.postEphemeral" => match (str_param(&p, "channel"), str_param(&p, "user")) {
                (Some(channel), Some(user)) => {
                    let text = str_param(&p, "text").unwrap_or_default().to_owned();
                    lock(&s).ephemerals.push(Ephemeral { channel: channel.to_owned(), user: user.to_owned(), text });
                    Ok(json!({"ok": true, "message_ts": "1773481020.000200"}))
                }
                _ => Err("invalid_arguments"),
            },
            "views.open" => {
                let view = match p.get("view") {
                    Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
                    Some(v) => v.clone(),
                    None => Value::Null,
                };
                if str_param(&p, "trigger_id").is_none() || !view.is_object() {
                    Err("invalid_arguments")
                } else {
                    let mut inner = lock(&s);
                    inner.views.push(view.clone());
                    let mut answer = view;
                    answer["id"] = json!(format!("V0STANDIN{}", inner.views.len()));
                    answer["team_id"] = json!("T0STANDIN");
                    answer["hash"] = json!("1773481020.standin");
                    answer["state"] = json!({"values": {}});
                    Ok(json!({"ok": true, "view": answer}))
                }
            }
            "usergroups.users.list" => {
                let group = str_param(&p, "usergroup").unwrap_or_default();
                match lock(&s).usergroups.get(group) {
                    Some(users) => Ok(json!({"ok": true, "users": users})),
                    None => Err("no_such_subteam"),
                }
            }
            _ => Err("unknown_method"),
        }
    } else {
        Err("not_authed")
    };
    // Carried out; now answer late, or with an error, as the fault says. A client that gave up
    // meanwhile cannot know that the call happened.
    if let Some(f) = fault.filter(|f| f.after_processing) {
        if let Some(ms) = f.stall_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if f.status >= 500 {
            return server_error(&s, &method, &p, f.status, received_at_us);
        }
    }
    // Slack answers its own errors with HTTP 200 and `ok: false`.
    s.record(&method, &p, 200, result.is_ok(), received_at_us);
    match result {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(error) => (StatusCode::OK, axum::Json(json!({"ok": false, "error": error}))).into_response(),
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn too_many_requests(s: &Standin, method: &str, p: &Value, retry_after_secs: u64, received_at_us: u64) -> Response {
    s.record(method, p, 429, false, received_at_us);
    let mut r =
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"ok": false, "error": "ratelimited"}))).into_response();
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after_secs.to_string()).unwrap_or(HeaderValue::from_static("1")),
    );
    r
}

fn server_error(s: &Standin, method: &str, p: &Value, status: u16, received_at_us: u64) -> Response {
    s.record(method, p, status, false, received_at_us);
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "internal error").into_response()
}

fn message_json(m: &Message) -> Value {
    let mut v = json!({"type": "message", "ts": m.ts, "text": m.text, "bot_id": "B0CUTOVER", "user": "U0CUTOVER"});
    if let Some(b) = &m.blocks {
        v["blocks"] = b.clone();
    }
    if let Some(t) = &m.thread_ts {
        v["thread_ts"] = json!(t);
    }
    if let Some(md) = &m.metadata {
        v["metadata"] = md.clone();
    }
    if m.updates > 0 {
        v["edited"] = json!({"user": "U0CUTOVER", "ts": m.ts});
    }
    v
}

fn post_message(s: &Standin, p: &Value) -> Result<Value, &'static str> {
    let Some(channel) = str_param(p, "channel") else { return Err("channel_not_found") };
    let text = str_param(p, "text").map(str::to_owned);
    let blocks = p.get("blocks").cloned().filter(|b| !b.is_null());
    if text.is_none() && blocks.is_none() {
        return Err("no_text");
    }
    check_blocks(blocks.as_ref())?;
    let mut inner = lock(s);
    inner.next_ts += 1;
    let ts = format!("1700000000.{:06}", inner.next_ts);
    let thread_ts = str_param(p, "thread_ts").map(str::to_owned);
    if let Some(parent) = &thread_ts
        && !inner.messages.iter().any(|m| m.channel == channel && &m.ts == parent)
    {
        return Err("thread_not_found");
    }
    let m = Message {
        channel: channel.to_owned(),
        ts: ts.clone(),
        text,
        blocks,
        thread_ts,
        metadata: p.get("metadata").cloned().filter(|m| !m.is_null()),
        reply_broadcast: p.get("reply_broadcast").and_then(|v| v.as_bool().or_else(|| v.as_str().map(|s| s == "true"))),
        updates: 0,
    };
    let body = json!({"ok": true, "channel": channel, "ts": ts, "message": message_json(&m)});
    inner.messages.push(m);
    Ok(body)
}

fn update(s: &Standin, p: &Value) -> Result<Value, &'static str> {
    let (Some(channel), Some(ts)) = (str_param(p, "channel"), str_param(p, "ts")) else {
        return Err("message_not_found");
    };
    check_blocks(p.get("blocks").filter(|b| !b.is_null()))?;
    let mut inner = lock(s);
    let Some(m) = inner.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts) else {
        return Err("message_not_found");
    };
    if let Some(t) = str_param(p, "text") {
        m.text = Some(t.to_owned());
    }
    if let Some(b) = p.get("blocks").filter(|b| !b.is_null()) {
        m.blocks = Some(b.clone());
    }
    if let Some(md) = p.get("metadata").filter(|b| !b.is_null()) {
        m.metadata = Some(md.clone());
    }
    m.updates += 1;
    Ok(json!({"ok": true, "channel": channel, "ts": ts, "text": m.text, "message": message_json(m)}))
}

/// Block Kit's limits, as Slack checks them: at most 50 blocks, a header's text at most 150
/// characters, a section's 3,000, at most 10 fields of 2,000 each. A breach is `invalid_blocks`.
fn check_blocks(blocks: Option<&Value>) -> Result<(), &'static str> {
    let Some(blocks) = blocks else { return Ok(()) };
    let Some(list) = blocks.as_array() else { return Err("invalid_blocks_format") };
    let chars = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, |t| t.chars().count());
    let bad = list.len() > 50
        || list.iter().any(|b| {
            let header = b["type"] == "header";
            let text = chars(b.pointer("/text/text"));
            let fields = b["fields"].as_array();
            (header && text > 150)
                || text > 3_000
                || fields.is_some_and(|f| f.len() > 10 || f.iter().any(|f| chars(f.get("text")) > 2_000))
        });
    if bad { Err("invalid_blocks") } else { Ok(()) }
}

fn history(s: &Standin, p: &Value) -> Result<Value, &'static str> {
    let Some(channel) = str_param(p, "channel") else { return Err("channel_not_found") };
    let limit = str_param(p, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .or_else(|| p.get("limit")?.as_u64().map(|l| l as usize))
        .unwrap_or(100);
    let with_metadata = p.get("include_all_metadata").is_some_and(|v| v == "true" || v == &json!(true));
    let inner = lock(s);
    // Top-level messages only, newest first, like Slack.
    let mut messages: Vec<Value> = inner
        .messages
        .iter()
        .filter(|m| m.channel == channel && m.thread_ts.is_none())
        .rev()
        .take(limit)
        .map(|m| {
            let mut v = message_json(m);
            if !with_metadata {
                v.as_object_mut().map(|o| o.remove("metadata"));
            }
            v
        })
        .collect();
    messages.truncate(limit);
    Ok(json!({"ok": true, "messages": messages, "has_more": false}))
}

fn replies(s: &Standin, p: &Value) -> Result<Value, &'static str> {
    let (Some(channel), Some(ts)) = (str_param(p, "channel"), str_param(p, "ts")) else {
        return Err("thread_not_found");
    };
    let inner = lock(s);
    let Some(parent) = inner.messages.iter().find(|m| m.channel == channel && m.ts == ts) else {
        return Err("thread_not_found");
    };
    // The parent first, then its replies, oldest first, like Slack.
    let mut messages = vec![message_json(parent)];
    messages.extend(
        inner.messages.iter().filter(|m| m.channel == channel && m.thread_ts.as_deref() == Some(ts)).map(message_json),
    );
    Ok(json!({"ok": true, "messages": messages, "has_more": false}))
}

async fn control_fault(State(s): State<Standin>, axum::Json(fault): axum::Json<Fault>) -> StatusCode {
    s.inject(fault);
    StatusCode::NO_CONTENT
}

async fn control_reset(State(s): State<Standin>) -> StatusCode {
    s.reset();
    StatusCode::NO_CONTENT
}

async fn control_calls(State(s): State<Standin>) -> axum::Json<Vec<Call>> {
    axum::Json(s.calls())
}

async fn control_messages(State(s): State<Standin>) -> axum::Json<Vec<Message>> {
    axum::Json(s.messages())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The feed as a page: each top-level message with its thread, per channel.
async fn feed_page(State(s): State<Standin>) -> Html<String> {
    let messages = s.messages();
    let mut channels: BTreeMap<&str, Vec<&Message>> = BTreeMap::new();
    for m in messages.iter().filter(|m| m.thread_ts.is_none()) {
        channels.entry(m.channel.as_str()).or_default().push(m);
    }
    let mut html = String::from(
        "<!doctype html><meta charset=utf-8><title>Slack stand-in feed</title>\
         <style>body{font:14px system-ui;margin:2em;max-width:60em}h2{border-bottom:1px solid #ccc}\
         .m{border-left:4px solid #36c;padding:.4em .8em;margin:.8em 0}.r{margin-left:2em;border-color:#aaa}\
         small{color:#777}</style><h1>Slack stand-in feed</h1>",
    );
    for (channel, tops) in channels {
        html.push_str(&format!("<h2>#{}</h2>", escape(channel)));
        for m in tops {
            html.push_str(&format!(
                "<div class=m>{}<br><small>ts {} · updated {} times</small></div>",
                escape(m.text.as_deref().unwrap_or("")),
                m.ts,
                m.updates
            ));
            for r in messages.iter().filter(|r| r.thread_ts.as_deref() == Some(m.ts.as_str()) && r.channel == m.channel)
            {
                html.push_str(&format!("<div class='m r'>{}</div>", escape(r.text.as_deref().unwrap_or(""))));
            }
        }
    }
    Html(html)
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Standin,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
