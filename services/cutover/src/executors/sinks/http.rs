//! The sinks' HTTP: one hyper client (rustls with the system's roots, or plain HTTP for a local
//! stand-in), a timeout per call, and what each answer means for the action.
//!
//! An answer's text reaches logs and `/readyz` only through [`Reply::summary`]: the API's own
//! `message` (or `error`, `errors`), control characters removed, cut to 200 characters.
//! Request headers (the credentials) are never logged.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::executors::Outcome;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The client every sink shares.
#[derive(Clone, Debug)]
pub struct Http {
    client: Client<Https, Full<Bytes>>,
}

/// One request. Header values may be secrets: they are sent, never shown.
#[derive(Debug)]
pub struct Call {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

impl Call {
    pub fn get(url: String) -> Self {
        Self { method: http::Method::GET, url, headers: Vec::new(), body: None }
    }

    /// A JSON body with `method`.
    pub fn json(method: http::Method, url: String, body: &serde_json::Value) -> Self {
        Self {
            method,
            url,
            headers: vec![("content-type", "application/json".to_owned())],
            body: Some(body.to_string().into_bytes()),
        }
    }

    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// An answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// A call that got no answer.
#[derive(Debug)]
pub enum NoReply {
    /// It never left (no connection): known not done.
    NotSent(String),
    /// Sent, no answer within the timeout (or the connection broke): maybe done.
    Lost(String),
}

impl NoReply {
    /// What it means for an action: a retry, or a look before the next attempt.
    pub fn outcome(self, what: &str) -> Outcome {
        match self {
            Self::NotSent(e) => Outcome::Retry { after_ms: None, error: format!("{what}: {e}") },
            Self::Lost(e) => Outcome::Unknown { error: format!("{what}: {e}") },
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("TLS roots: {0}")]
pub struct TlsError(std::io::Error);

impl Http {
    pub fn new() -> Result<Self, TlsError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(TlsError)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self { client: Client::builder(TokioExecutor::new()).build(https) })
    }

    /// Sends `call`; waits at most `timeout` for the whole answer.
    pub async fn send(&self, call: Call, timeout: Duration) -> Result<Reply, NoReply> {
        let mut request = http::Request::builder().method(call.method).uri(&call.url);
        request = request.header("user-agent", concat!("cutover/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(call.body.unwrap_or_default())))
            .map_err(|e| NoReply::NotSent(format!("bad request: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    NoReply::NotSent(format!("cannot connect: {}", describe(&e)))
                } else {
                    NoReply::Lost(format!("no answer: {}", describe(&e)))
                }
            })?;
            let (parts, body) = response.into_parts();
            let body =
                body.collect().await.map_err(|e| NoReply::Lost(format!("answer cut off: {e}")))?.to_bytes().to_vec();
            Ok(Reply { status: parts.status.as_u16(), headers: parts.headers, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(NoReply::Lost(format!("no answer within {} ms", timeout.as_millis()))),
        }
    }
}

/// The error and its causes on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The API's own words about the answer, made safe for a log line.
    pub fn summary(&self) -> String {
        let v = self.json();
        let text = ["message", "error", "errors", "detail"]
            .iter()
            .find_map(|k| match v.get(*k) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(other @ serde_json::Value::Array(_)) => Some(other.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        let clean: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
        if clean.is_empty() { format!("HTTP {}", self.status) } else { format!("HTTP {}: {clean}", self.status) }
    }

    /// How long a 429 (or GitHub's rate-limit 403) asks to wait: `Retry-After` in seconds, else
    /// `X-RateLimit-Reset` (epoch seconds) from `now_ms`.
    pub fn retry_after_ms(&self, now_ms: i64) -> Option<u64> {
        let header = |name: &str| self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        if let Some(secs) = header("retry-after").and_then(|v| v.parse::<f64>().ok()).filter(|s| s.is_finite()) {
            return Some((secs.clamp(0.0, 3_600.0) * 1_000.0) as u64);
        }
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok())?;
        Some(u64::try_from((reset * 1_000 - now_ms).clamp(0, 3_600_000)).unwrap_or(0))
    }

    /// GitHub says the rate limit is spent (a 403 or 429 with no calls left, or a secondary
    /// limit).
    pub fn rate_limited(&self) -> bool {
        self.status == 429
            || (self.status == 403
                && (self.headers.get("x-ratelimit-remaining").is_some_and(|v| v.as_bytes() == b"0")
                    || self.headers.contains_key("retry-after")
                    || self.summary().to_ascii_lowercase().contains("rate limit")))
    }

    /// How long a failed answer asks the whole sink to wait: a rate limit's reset, or any
    /// `Retry-After` (a 503 saying when to come back). `None`: only this action waits.
    pub fn hold_ms(&self, now_ms: i64) -> Option<u64> {
        if self.ok() || !(self.rate_limited() || self.headers.contains_key("retry-after")) {
            return None;
        }
        self.retry_after_ms(now_ms)
    }

    /// What a non-2xx answer means for the action. `what` names the call (`GitHub create
    /// deployment`); `creates` says the call makes a new object: a 404 then means the place
    /// it is made in is missing or hidden (the setup's fault), and a 5xx may come after the
    /// object was made (an unknown outcome: looked for first).
    pub fn failure(&self, what: &str, creates: bool, now_ms: i64) -> Outcome {
        let why = format!("{what}: {}", self.summary());
        match self.status {
            _ if self.rate_limited() => Outcome::Retry { after_ms: self.retry_after_ms(now_ms), error: why },
            401 | 403 => Outcome::SetupFault(why),
            404 if creates => Outcome::SetupFault(why),
            // A server error on a create may come after the object was made: look first.
            500..=599 if creates => Outcome::Unknown { error: why },
            408 | 500..=599 => Outcome::Retry { after_ms: self.retry_after_ms(now_ms), error: why },
            _ => Outcome::Failed(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Reply { status, headers: map, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn answers_mean_what_the_apis_say() {
        let r = reply(429, &[("retry-after", "7")], r#"{"message":"slow down"}"#);
        assert_eq!(
            r.failure("x", true, 0),
            Outcome::Retry { after_ms: Some(7_000), error: "x: HTTP 429: slow down".into() }
        );
        let r = reply(403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "100")], "{}");
        assert!(matches!(r.failure("x", true, 40_000), Outcome::Retry { after_ms: Some(60_000), .. }));
        assert!(
            matches!(reply(401, &[], r#"{"message":"Bad credentials"}"#).failure("x", true, 0), Outcome::SetupFault(w) if w == "x: HTTP 401: Bad credentials")
        );
        assert!(matches!(reply(404, &[], "{}").failure("x", true, 0), Outcome::SetupFault(_)));
        assert!(matches!(reply(404, &[], "{}").failure("x", false, 0), Outcome::Failed(_)));
        assert!(
            matches!(reply(422, &[], r#"{"message":"No ref found for: abc"}"#).failure("x", true, 0), Outcome::Failed(w) if w.contains("No ref found"))
        );
        assert!(matches!(reply(503, &[], "down").failure("x", false, 0), Outcome::Retry { after_ms: None, .. }));
        assert!(
            matches!(reply(502, &[], "down").failure("x", true, 0), Outcome::Unknown { .. }),
            "a create may have been made"
        );
    }

    #[test]
    fn a_summary_is_short_and_has_no_control_characters() {
        let long = format!("{{\"message\":\"a\\nb{}\"}}", "x".repeat(500));
        let s = reply(400, &[], &long).summary();
        assert!(!s.contains('\n') && s.chars().count() <= 210, "{s}");
        assert_eq!(reply(500, &[], "").summary(), "HTTP 500");
    }
}
