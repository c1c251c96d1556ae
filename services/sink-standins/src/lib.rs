//! # sink-standins
//!
//! One local HTTP server that speaks the parts of six APIs Cutover's sinks call, on their real
//! paths under a prefix per API, with their auth headers and their answers:
//!
//! | prefix | API | auth |
//! |---|---|---|
//! | `/github` (as GitHub Enterprise Server's `/api/v3`) | `POST/GET /repos/{o}/{r}/deployments`, `POST/GET …/deployments/{id}/statuses`, `POST /app/installations/{id}/access_tokens` | `Authorization: Bearer` token, installation token, or an app's RS256 JWT |
//! | `/grafana` | `POST/GET /api/annotations`, `PATCH /api/annotations/{id}` | `Authorization: Bearer` |
//! | `/datadog` | `POST /api/v1/events` | `DD-API-KEY` |
//! | `/pagerduty` | `POST /v2/change/enqueue` | the body's `routing_key` |
//! | `/honeycomb` | `POST/GET /1/markers/{dataset}`, `PUT /1/markers/{dataset}/{id}` | `X-Honeycomb-Team` |
//! | `/webhook/{name}` | any receiver | `X-Hub-Signature-256` over the body |
//!
//! Wrong credentials get each API's 401 (Datadog's 403); unknown repositories and objects 404;
//! invalid bodies (a ref that is no commit, a status GitHub does not know, a description over
//! 140 characters) 422 or 400. It records every call and can be told to answer the next calls
//! of an API with a status (429 with `Retry-After`, 500, …), to stall them, or to carry a call
//! out and answer an error anyway (a lost answer). Credentials never appear in what it records.
//!
//! # Layout
//! - [`Standins`]: the state (objects per API, recorded calls, injected faults) and its
//!   [`Credentials`].
//! - [`router`] and [`serve`]: the axum routes, `/{api}/…` and `/_control/*`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What each API accepts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Credentials {
    pub github_token: String,
    /// A GitHub App: its id, installation id and private key (PEM); the stand-in checks the
    /// JWT's signature with the key's public half.
    #[serde(default)]
    pub github_app: Option<(u64, u64, String)>,
    /// Repositories that exist (`owner/repo`).
    pub github_repos: Vec<String>,
    pub grafana_token: String,
    pub datadog_key: String,
    pub pagerduty_routing_key: String,
    pub honeycomb_key: String,
    pub webhook_secret: String,
}

/// One recorded call. `authorized` says whether its credential was right; the credential
/// itself is not kept.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Call {
    /// `github`, `grafana`, `datadog`, `pagerduty`, `honeycomb`, `webhook`.
    pub api: String,
    pub method: String,
    /// The path after the API's prefix.
    pub path: String,
    pub query: String,
    pub body: Value,
    /// Headers other than credentials (`x-cutover-delivery`, `x-github-api-version`, …).
    pub headers: BTreeMap<String, String>,
    pub authorized: bool,
    /// The status answered.
    pub status: u16,
    /// Microseconds since the Unix epoch.
    pub received_at_us: u64,
}

/// A fault for the next `count` calls of `api` (every API if empty), optionally only those
/// whose `METHOD path` contains `matching`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Fault {
    #[serde(default)]
    pub api: String,
    #[serde(default)]
    pub matching: String,
    /// The status to answer; 0 to only stall.
    #[serde(default)]
    pub status: u16,
    pub count: u32,
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    #[serde(default)]
    pub stall_ms: Option<u64>,
    /// Carry the call out, then answer `status` anyway.
    #[serde(default)]
    pub after_processing: bool,
}

#[derive(Debug, Default)]
struct Inner {
    credentials: Credentials,
    calls: Vec<Call>,
    faults: Vec<Fault>,
    next_id: u64,
    /// GitHub: deployments by id (with `repo`), statuses by deployment id (oldest first).
    deployments: BTreeMap<u64, Value>,
    statuses: BTreeMap<u64, Vec<Value>>,
    installation_tokens: Vec<String>,
    annotations: BTreeMap<u64, Value>,
    datadog_events: Vec<Value>,
    change_events: Vec<Value>,
    /// Honeycomb markers by dataset.
    markers: BTreeMap<String, Vec<Value>>,
    /// Webhook deliveries: (receiver, body).
    deliveries: Vec<(String, Value)>,
}

/// The stand-ins' shared state. A std `Mutex`, never held across an `.await`.
#[derive(Clone, Debug, Default)]
pub struct Standins {
    inner: Arc<Mutex<Inner>>,
}

fn lock(s: &Standins) -> std::sync::MutexGuard<'_, Inner> {
    s.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

impl Standins {
    pub fn new(credentials: Credentials) -> Self {
        let s = Self::default();
        lock(&s).credentials = credentials;
        s
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(self).calls.clone()
    }

    pub fn inject(&self, fault: Fault) {
        lock(self).faults.push(fault);
    }

    /// GitHub forgets every installation token it handed out (as when one expires or the
    /// installation's permissions change): the next call with one gets 401.
    pub fn revoke_installation_tokens(&self) {
        lock(self).installation_tokens.clear();
    }

    /// Drops every fault not used up yet.
    pub fn clear_faults(&self) {
        lock(self).faults.clear();
    }

    /// GitHub deployments, by id.
    pub fn deployments(&self) -> Vec<Value> {
        lock(self).deployments.values().cloned().collect()
    }

    /// A GitHub deployment's statuses, oldest first.
    pub fn statuses(&self, deployment: u64) -> Vec<Value> {
        lock(self).statuses.get(&deployment).cloned().unwrap_or_default()
    }

    pub fn annotations(&self) -> Vec<Value> {
        lock(self).annotations.values().cloned().collect()
    }

    pub fn datadog_events(&self) -> Vec<Value> {
        lock(self).datadog_events.clone()
    }

    pub fn change_events(&self) -> Vec<Value> {
        lock(self).change_events.clone()
    }

    pub fn markers(&self, dataset: &str) -> Vec<Value> {
        lock(self).markers.get(dataset).cloned().unwrap_or_default()
    }

    pub fn deliveries(&self) -> Vec<(String, Value)> {
        lock(self).deliveries.clone()
    }

    fn take_fault(&self, api: &str, what: &str) -> Option<Fault> {
        let mut inner = lock(self);
        let i = inner.faults.iter().position(|f| {
            f.count > 0 && (f.api.is_empty() || f.api == api) && (f.matching.is_empty() || what.contains(&f.matching))
        })?;
        let fault = inner.faults[i].clone();
        inner.faults[i].count -= 1;
        if inner.faults[i].count == 0 {
            inner.faults.remove(i);
        }
        Some(fault)
    }
}

/// The routes, over `state`.
pub fn router(state: Standins) -> Router {
    Router::new()
        .route("/_control/fault", post(control_fault))
        .route("/_control/calls", get(control_calls))
        .route("/{api}/{*path}", any(handle))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Standins,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

async fn control_fault(State(s): State<Standins>, axum::Json(fault): axum::Json<Fault>) -> StatusCode {
    s.inject(fault);
    StatusCode::NO_CONTENT
}

async fn control_calls(State(s): State<Standins>) -> axum::Json<Vec<Call>> {
    axum::Json(s.calls())
}

/// An answer: status, JSON body, extra headers.
struct Answer(u16, Value, Vec<(&'static str, String)>);

impl Answer {
    fn json(status: u16, body: Value) -> Self {
        Self(status, body, Vec::new())
    }
}

const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "dd-api-key", "x-honeycomb-team"];

async fn handle(
    State(s): State<Standins>,
    Path((api, path)): Path<(String, String)>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at_us = now_us();
    let path = format!("/{path}");
    let query = query.unwrap_or_default();
    let what = format!("{method} {path}");
    let fault = s.take_fault(&api, &what);
    if let Some(ms) = fault.as_ref().and_then(|f| f.stall_ms) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let answer = match &fault {
        Some(f) if f.status != 0 && !f.after_processing => {
            let mut extra = Vec::new();
            if let Some(secs) = f.retry_after_secs {
                extra.push(("retry-after", secs.to_string()));
            }
            Answer(f.status, json!({"message": format!("injected {}", f.status)}), extra)
        }
        _ => dispatch(&s, &api, &method, &path, &query, &headers, &body),
    };
    let answer = match &fault {
        Some(f) if f.after_processing && f.status != 0 => {
            Answer::json(f.status, json!({"message": "injected after processing"}))
        }
        _ => answer,
    };
    let authorized = answer.0 != 401 && answer.0 != 403;
    let kept: BTreeMap<String, String> = headers
        .iter()
        .filter(|(k, _)| !CREDENTIAL_HEADERS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut recorded_body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(o) = recorded_body.as_object_mut() {
        o.remove("routing_key");
    }
    lock(&s).calls.push(Call {
        api: api.clone(),
        method: method.to_string(),
        path,
        query,
        body: recorded_body,
        headers: kept,
        authorized,
        status: answer.0,
        received_at_us,
    });
    let mut response =
        (StatusCode::from_u16(answer.0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(answer.1))
            .into_response();
    for (k, v) in answer.2 {
        if let Ok(v) = v.parse() {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = header(headers, "authorization")?;
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token "))
}

fn dispatch(
    s: &Standins,
    api: &str,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match api {
        "github" => github(s, method, &segments, query, headers, &json),
        "grafana" => grafana(s, method, &segments, query, headers, &json),
        "datadog" => datadog(s, method, &segments, headers, &json),
        "pagerduty" => pagerduty(s, method, &segments, &json),
        "honeycomb" => honeycomb(s, method, &segments, headers, &json),
        "webhook" => webhook(s, &segments, headers, body, &json),
        _ => Answer::json(404, json!({"message": "Not Found"})),
    }
}

fn params(query: &str) -> Vec<(String, String)> {
    query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), decode(v))).collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const GITHUB_STATES: [&str; 7] = ["error", "failure", "inactive", "in_progress", "queued", "pending", "success"];

fn github(s: &Standins, method: &Method, seg: &[&str], query: &str, headers: &HeaderMap, body: &Value) -> Answer {
    let unauthorized = || {
        Answer::json(
            401,
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
        )
    };
    let not_found = || Answer::json(404, json!({"message": "Not Found", "status": "404"}));
    let mut inner = lock(s);
    // An app trades its JWT for an installation token.
    if let (&Method::POST, ["app", "installations", id, "access_tokens"]) = (method, seg) {
        let Some((app_id, installation, pem)) = inner.credentials.github_app.clone() else { return not_found() };
        if id.parse::<u64>().ok() != Some(installation) {
            return not_found();
        }
        if bearer(headers).is_none_or(|jwt| !jwt_valid(jwt, app_id, &pem)) {
            return Answer::json(401, json!({"message": "A JSON web token could not be decoded", "status": "401"}));
        }
        inner.next_id += 1;
        let token = format!("ghs_standin{}", inner.next_id);
        inner.installation_tokens.push(token.clone());
        let expires = now_us() / 1_000_000 + 3_600;
        return Answer::json(
            201,
            json!({"token": token, "expires_at": rfc3339(expires), "permissions": {"deployments": "write"}}),
        );
    }
    let token = bearer(headers).unwrap_or("");
    if token != inner.credentials.github_token && !inner.installation_tokens.iter().any(|t| t == token) {
        return unauthorized();
    }
    let ["repos", owner, repo, rest @ ..] = seg else { return not_found() };
    let full = format!("{owner}/{repo}");
    if !inner.credentials.github_repos.contains(&full) {
        return not_found();
    }
    match (method, rest) {
        (&Method::POST, ["deployments"]) => {
            let Some(reference) = body.get("ref").and_then(Value::as_str) else {
                return Answer::json(
                    422,
                    json!({"message": "Invalid request.\n\n\"ref\" wasn't supplied.", "status": "422"}),
                );
            };
            let is_sha = (7..=40).contains(&reference.len()) && reference.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_sha && reference != "main" {
                return Answer::json(
                    422,
                    json!({"message": format!("No ref found for: {reference}"), "status": "422"}),
                );
            }
            inner.next_id += 1;
            let id = inner.next_id;
            let deployment = json!({
                "id": id,
                "repo": full,
                "sha": reference,
                "ref": reference,
                "environment": body.get("environment").cloned().unwrap_or(json!("production")),
                "description": body.get("description").cloned().unwrap_or(Value::Null),
                "payload": body.get("payload").cloned().unwrap_or(json!({})),
                "production_environment": body.get("production_environment").cloned().unwrap_or(json!(false)),
                "created_at": rfc3339(now_us() / 1_000_000),
            });
            inner.deployments.insert(id, deployment.clone());
            Answer::json(201, deployment)
        }
        (&Method::GET, ["deployments"]) => {
            let p = params(query);
            let want = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            let (sha, env) = (want("sha"), want("environment"));
            let list: Vec<Value> = inner
                .deployments
                .values()
                .rev()
                .filter(|d| d["repo"] == full.as_str())
                .filter(|d| sha.as_ref().is_none_or(|s| d["sha"] == s.as_str()))
                .filter(|d| env.as_ref().is_none_or(|e| d["environment"] == e.as_str()))
                .cloned()
                .collect();
            Answer::json(200, Value::Array(list))
        }
        (_, ["deployments", id, "statuses"]) => {
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| inner.deployments.get(id).is_some_and(|d| d["repo"] == full.as_str()))
            else {
                return not_found();
            };
            if method == Method::GET {
                let mut list = inner.statuses.get(&id).cloned().unwrap_or_default();
                list.reverse();
                return Answer::json(200, Value::Array(list));
            }
            let state = body.get("state").and_then(Value::as_str).unwrap_or("");
            if !GITHUB_STATES.contains(&state) {
                return Answer::json(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "DeploymentStatus", "code": "custom", "field": "state", "message": format!("state is not included in the list")}]}),
                );
            }
            if body.get("description").and_then(Value::as_str).is_some_and(|d| d.chars().count() > 140) {
                return Answer::json(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "DeploymentStatus", "code": "custom", "field": "description", "message": "description is too long (maximum is 140 characters)"}]}),
                );
            }
            inner.next_id += 1;
            let status = json!({
                "id": inner.next_id,
                "state": state,
                "description": body.get("description").cloned().unwrap_or(json!("")),
                "environment": body.get("environment").cloned().unwrap_or(Value::Null),
                "environment_url": body.get("environment_url").cloned().unwrap_or(json!("")),
                "log_url": body.get("log_url").cloned().unwrap_or(json!("")),
                "created_at": rfc3339(now_us() / 1_000_000),
            });
            inner.statuses.entry(id).or_default().push(status.clone());
            Answer::json(201, status)
        }
        _ => not_found(),
    }
}

/// An RS256 JWT for `app_id`, signed by `pem`'s key, within its `iat`/`exp`.
fn jwt_valid(jwt: &str, app_id: u64, pem: &str) -> bool {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else { return false };
    let (Ok(claims_json), Ok(signature)) = (b64.decode(claims), b64.decode(signature)) else { return false };
    let Some(der) = pem_der(pem) else { return false };
    let Ok(key) =
        ring::signature::RsaKeyPair::from_der(&der).or_else(|_| ring::signature::RsaKeyPair::from_pkcs8(&der))
    else {
        return false;
    };
    use ring::signature::KeyPair as _;
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        key.public_key().as_ref(),
    );
    if public.verify(format!("{header}.{claims}").as_bytes(), &signature).is_err() {
        return false;
    }
    let Ok(c) = serde_json::from_slice::<Value>(&claims_json) else { return false };
    let now = (now_us() / 1_000_000) as i64;
    let iss_ok = c["iss"].as_u64().or_else(|| c["iss"].as_str()?.parse().ok()) == Some(app_id);
    let (iat, exp) = (c["iat"].as_i64().unwrap_or(i64::MAX), c["exp"].as_i64().unwrap_or(0));
    // GitHub: at most 10 minutes long, not issued in the future.
    iss_ok && iat <= now + 60 && exp > now && exp - iat <= 600
}

fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().map(str::trim).filter(|l| !l.starts_with("-----") && !l.is_empty()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// `YYYY-MM-DDTHH:MM:SSZ` of epoch seconds.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

fn grafana(s: &Standins, method: &Method, seg: &[&str], query: &str, headers: &HeaderMap, body: &Value) -> Answer {
    let mut inner = lock(s);
    if bearer(headers) != Some(inner.credentials.grafana_token.as_str()) {
        return Answer::json(
            401,
            json!({"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401}),
        );
    }
    match (method, seg) {
        (&Method::POST, ["api", "annotations"]) => {
            if body.get("text").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Answer::json(400, json!({"message": "Failed to save annotation: text is required"}));
            }
            inner.next_id += 1;
            let id = inner.next_id;
            let mut a = body.clone();
            a["id"] = json!(id);
            if a.get("timeEnd").is_none() {
                a["timeEnd"] = a["time"].clone();
            }
            inner.annotations.insert(id, a);
            Answer::json(200, json!({"id": id, "message": "Annotation added"}))
        }
        (&Method::PATCH, ["api", "annotations", id]) => {
            let Some(a) = id.parse::<u64>().ok().and_then(|id| inner.annotations.get_mut(&id)) else {
                return Answer::json(404, json!({"message": "Could not find annotation to update"}));
            };
            if let (Some(a), Some(patch)) = (a.as_object_mut(), body.as_object()) {
                for (k, v) in patch {
                    a.insert(k.clone(), v.clone());
                }
            }
            Answer::json(200, json!({"message": "Annotation patched"}))
        }
        (&Method::GET, ["api", "annotations"]) => {
            let p = params(query);
            let num = |k: &str| p.iter().find(|(key, _)| key == k).and_then(|(_, v)| v.parse::<i64>().ok());
            let (from, to) = (num("from").unwrap_or(i64::MIN), num("to").unwrap_or(i64::MAX));
            let tags: Vec<&String> = p.iter().filter(|(k, _)| k == "tags").map(|(_, v)| v).collect();
            let list: Vec<Value> = inner
                .annotations
                .values()
                .filter(|a| {
                    a["time"].as_i64().is_some_and(|t| t <= to) && a["timeEnd"].as_i64().is_some_and(|t| t >= from)
                })
                .filter(|a| {
                    tags.iter().all(|t| a["tags"].as_array().is_some_and(|ts| ts.iter().any(|x| x == t.as_str())))
                })
                .cloned()
                .collect();
            Answer::json(200, Value::Array(list))
        }
        _ => Answer::json(404, json!({"message": "Not found"})),
    }
}

fn datadog(s: &Standins, method: &Method, seg: &[&str], headers: &HeaderMap, body: &Value) -> Answer {
    let mut inner = lock(s);
    if header(headers, "dd-api-key") != Some(inner.credentials.datadog_key.as_str()) {
        return Answer::json(403, json!({"errors": ["Forbidden"]}));
    }
    match (method, seg) {
        (&Method::POST, ["api", "v1", "events"]) => {
            let title = body.get("title").and_then(Value::as_str).unwrap_or("");
            if title.is_empty() || body.get("text").and_then(Value::as_str).is_none() {
                return Answer::json(400, json!({"errors": ["Event title and text are required"]}));
            }
            if title.chars().count() > 100 {
                return Answer::json(400, json!({"errors": ["Event title is limited to 100 characters"]}));
            }
            inner.next_id += 1;
            let mut e = body.clone();
            e["id"] = json!(inner.next_id);
            inner.datadog_events.push(e.clone());
            Answer::json(202, json!({"status": "ok", "event": e}))
        }
        _ => Answer::json(404, json!({"errors": ["Not found"]})),
    }
}

fn pagerduty(s: &Standins, method: &Method, seg: &[&str], body: &Value) -> Answer {
    let mut inner = lock(s);
    match (method, seg) {
        (&Method::POST, ["v2", "change", "enqueue"]) => {
            if body.get("routing_key").and_then(Value::as_str) != Some(inner.credentials.pagerduty_routing_key.as_str())
            {
                return Answer::json(
                    400,
                    json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid routing key"]}),
                );
            }
            if body.pointer("/payload/summary").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Answer::json(
                    400,
                    json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["'payload.summary' is missing or blank"]}),
                );
            }
            let mut e = body.clone();
            if let Some(o) = e.as_object_mut() {
                o.remove("routing_key");
            }
            inner.change_events.push(e);
            Answer::json(202, json!({"status": "success", "message": "Change event processed"}))
        }
        _ => Answer::json(404, json!({"status": "not found"})),
    }
}

fn honeycomb(s: &Standins, method: &Method, seg: &[&str], headers: &HeaderMap, body: &Value) -> Answer {
    let mut inner = lock(s);
    if header(headers, "x-honeycomb-team") != Some(inner.credentials.honeycomb_key.as_str()) {
        return Answer::json(401, json!({"error": "unknown API key - check your credentials"}));
    }
    match (method, seg) {
        (&Method::POST, ["1", "markers", dataset]) => {
            inner.next_id += 1;
            let mut m = body.clone();
            m["id"] = json!(format!("mk{}", inner.next_id));
            m["created_at"] = json!(rfc3339(now_us() / 1_000_000));
            inner.markers.entry((*dataset).to_owned()).or_default().push(m.clone());
            Answer::json(201, m)
        }
        (&Method::PUT, ["1", "markers", dataset, id]) => {
            let Some(m) = inner.markers.get_mut(*dataset).and_then(|ms| ms.iter_mut().find(|m| m["id"] == *id)) else {
                return Answer::json(404, json!({"error": "marker not found"}));
            };
            if let (Some(m), Some(patch)) = (m.as_object_mut(), body.as_object()) {
                for (k, v) in patch {
                    m.insert(k.clone(), v.clone());
                }
            }
            Answer::json(200, m.clone())
        }
        (&Method::GET, ["1", "markers", dataset]) => {
            Answer::json(200, Value::Array(inner.markers.get(*dataset).cloned().unwrap_or_default()))
        }
        _ => Answer::json(404, json!({"error": "not found"})),
    }
}

fn webhook(s: &Standins, seg: &[&str], headers: &HeaderMap, body: &[u8], json: &Value) -> Answer {
    let mut inner = lock(s);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, inner.credentials.webhook_secret.as_bytes());
    let signed = header(headers, "x-hub-signature-256")
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex| {
            (0..hex.len())
                .step_by(2)
                .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
                .collect::<Option<Vec<u8>>>()
        })
        .is_some_and(|tag| ring::hmac::verify(&key, body, &tag).is_ok());
    if !signed {
        return Answer::json(401, json!({"message": "signature does not match"}));
    }
    inner.deliveries.push((seg.join("/"), json.clone()));
    Answer::json(200, json!({"ok": true}))
}
