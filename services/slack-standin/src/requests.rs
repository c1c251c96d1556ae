//! What Slack sends an app's request URLs: a slash command's form, or an interaction's
//! `payload=` form, signed the way Slack signs them (`X-Slack-Signature: v0=<hex>`, HMAC-SHA256
//! of `v0:<timestamp>:<body>` with the app's signing secret, and `X-Slack-Request-Timestamp`).
//! Tests use it to type commands and click buttons as Slack does; it also sends them unsigned,
//! badly signed, stale or twice.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Slack's signature of `body` sent at `timestamp` (Unix seconds, as text).
pub fn sign(signing_secret: &str, timestamp: &str, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, signing_secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A slash command as Slack posts it (`application/x-www-form-urlencoded`).
#[derive(Clone, Debug)]
pub struct SlashCommand {
    pub command: String,
    pub text: String,
    pub user_id: String,
    pub user_name: String,
    pub channel_id: String,
    pub team_id: String,
    /// Unique per command, as Slack's are.
    pub trigger_id: String,
}

static TRIGGERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl SlashCommand {
    /// `/cutover <text>` typed by `user_id` in `channel_id`.
    pub fn cutover(text: &str, user_id: &str, channel_id: &str) -> Self {
        Self {
            command: "/cutover".to_owned(),
            text: text.to_owned(),
            user_id: user_id.to_owned(),
            user_name: user_id.to_lowercase(),
            channel_id: channel_id.to_owned(),
            team_id: "T0STANDIN".to_owned(),
            trigger_id: format!(
                "{}.{}.standin",
                TRIGGERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                std::process::id()
            ),
        }
    }

    /// The fields Slack sends, in its order.
    fn fields(&self) -> [(&'static str, &str); 12] {
        [
            ("token", "deprecated-verification-token"),
            ("team_id", &self.team_id),
            ("team_domain", "standin"),
            ("channel_id", &self.channel_id),
            ("channel_name", "deploys"),
            ("user_id", &self.user_id),
            ("user_name", &self.user_name),
            ("command", &self.command),
            ("text", &self.text),
            ("api_app_id", "A0STANDIN"),
            ("response_url", "http://127.0.0.1:9/commands/T0STANDIN/1/standin"),
            ("trigger_id", &self.trigger_id),
        ]
    }

    /// The form body a request URL gets.
    pub fn body(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.fields() {
            form.append_pair(k, v);
        }
        form.finish()
    }

    /// The same fields as the JSON object a Socket Mode envelope carries.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::Value::Object(self.fields().into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect())
    }
}

/// A click on a button of a message, as Slack posts it to the interactivity request URL: a
/// form with one `payload` field, the `block_actions` JSON.
#[derive(Clone, Debug)]
pub struct BlockAction {
    pub user_id: String,
    pub channel_id: String,
    /// The message clicked.
    pub message_ts: String,
    /// The message's own metadata, as Slack includes it.
    pub metadata: Option<serde_json::Value>,
    pub action_id: String,
    pub block_id: String,
    pub value: String,
    /// Unique per click, as Slack's are.
    pub trigger_id: String,
}

impl BlockAction {
    /// `user_id` clicks the button `action_id` of `message`, whose value is `value` (Cutover
    /// writes the button's value; a forged click names another).
    pub fn on(message: &crate::Message, user_id: &str, action_id: &str, value: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            channel_id: message.channel.clone(),
            message_ts: message.ts.clone(),
            metadata: message.metadata.clone(),
            action_id: action_id.to_owned(),
            block_id: "cutover.controls".to_owned(),
            value: value.to_owned(),
            trigger_id: format!(
                "{}.{}.standin-click",
                TRIGGERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                std::process::id()
            ),
        }
    }

    /// The `block_actions` payload.
    pub fn payload(&self) -> serde_json::Value {
        let mut message = serde_json::json!({"type": "message", "ts": self.message_ts, "user": "U0CUTOVER"});
        if let Some(m) = &self.metadata {
            message["metadata"] = m.clone();
        }
        serde_json::json!({
            "type": "block_actions",
            "user": {"id": self.user_id, "username": self.user_id.to_lowercase(), "team_id": "T0STANDIN"},
            "api_app_id": "A0STANDIN",
            "token": "deprecated-verification-token",
            "container": {"type": "message", "message_ts": self.message_ts, "channel_id": self.channel_id, "is_ephemeral": false},
            "trigger_id": self.trigger_id,
            "team": {"id": "T0STANDIN", "domain": "standin"},
            "channel": {"id": self.channel_id, "name": "deploys"},
            "message": message,
            "response_url": "http://127.0.0.1:9/actions/T0STANDIN/1/standin",
            "actions": [{
                "type": "button",
                "action_id": self.action_id,
                "block_id": self.block_id,
                "value": self.value,
                "text": {"type": "plain_text", "text": "Roll back"},
                "action_ts": "1773481020.000100",
            }],
        })
    }

    /// The form body: `payload=<the JSON>`.
    pub fn body(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).append_pair("payload", &self.payload().to_string()).finish()
    }
}

/// A modal submitted, as Slack posts it to the interactivity request URL (`view_submission`):
/// the view as the app opened it (its `callback_id`, `private_metadata`), with what was typed
/// into its plain-text input `block_id`/`action_id`.
#[derive(Clone, Debug)]
pub struct ViewSubmission {
    pub user_id: String,
    pub view: serde_json::Value,
    /// `(block_id, action_id, value)` of each input filled in.
    pub inputs: Vec<(String, String, String)>,
    pub trigger_id: String,
}

impl ViewSubmission {
    /// `user_id` submits `view` (one the stand-in recorded from `views.open`).
    pub fn of(view: &serde_json::Value, user_id: &str, inputs: &[(&str, &str, &str)]) -> Self {
        Self {
            user_id: user_id.to_owned(),
            view: view.clone(),
            inputs: inputs.iter().map(|(b, a, v)| ((*b).to_owned(), (*a).to_owned(), (*v).to_owned())).collect(),
            trigger_id: format!(
                "{}.{}.standin-submit",
                TRIGGERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                std::process::id()
            ),
        }
    }

    pub fn payload(&self) -> serde_json::Value {
        let mut values = serde_json::Map::new();
        for (block, action, value) in &self.inputs {
            let entry = values.entry(block.clone()).or_insert_with(|| serde_json::json!({}));
            entry[action] = serde_json::json!({"type": "plain_text_input", "value": value});
        }
        let mut view = self.view.clone();
        view["id"] = serde_json::json!("V0STANDIN1");
        view["state"] = serde_json::json!({ "values": values });
        serde_json::json!({
            "type": "view_submission",
            "team": {"id": "T0STANDIN", "domain": "standin"},
            "user": {"id": self.user_id, "username": self.user_id.to_lowercase(), "team_id": "T0STANDIN"},
            "api_app_id": "A0STANDIN",
            "token": "deprecated-verification-token",
            "trigger_id": self.trigger_id,
            "view": view,
        })
    }

    /// The form body: `payload=<the JSON>`.
    pub fn body(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).append_pair("payload", &self.payload().to_string()).finish()
    }
}

/// How a request is signed.
#[derive(Clone, Copy, Debug)]
pub enum Signing<'a> {
    /// Signed with this secret, now.
    Now(&'a str),
    /// Signed with this secret at this Unix second (a stale or a replayed request).
    At(&'a str, i64),
    /// With a signature that is not the body's.
    Forged,
    /// No signature headers at all.
    Unsigned,
}

/// One answer: status and body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// The headers of a request signed as `signing` says, with `X-Slack-Retry-Num` when `retry` is set.
pub fn headers(signing: Signing<'_>, body: &str, retry: Option<u32>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match signing {
        Signing::Now(secret) => {
            let ts = now_secs().to_string();
            out.push(("X-Slack-Signature".to_owned(), sign(secret, &ts, body)));
            out.push(("X-Slack-Request-Timestamp".to_owned(), ts));
        }
        Signing::At(secret, at) => {
            let ts = at.to_string();
            out.push(("X-Slack-Signature".to_owned(), sign(secret, &ts, body)));
            out.push(("X-Slack-Request-Timestamp".to_owned(), ts));
        }
        Signing::Forged => {
            let ts = now_secs().to_string();
            out.push(("X-Slack-Signature".to_owned(), sign("not-the-signing-secret", &ts, body)));
            out.push(("X-Slack-Request-Timestamp".to_owned(), ts));
        }
        Signing::Unsigned => {}
    }
    if let Some(n) = retry {
        out.push(("X-Slack-Retry-Num".to_owned(), n.to_string()));
        out.push(("X-Slack-Retry-Reason".to_owned(), "http_timeout".to_owned()));
    }
    out
}

/// POSTs a form `body` to `http://127.0.0.1:<port><path>` with `headers`, over plain HTTP/1.1.
pub async fn post(port: u16, path: &str, headers: &[(String, String)], body: &str) -> anyhow::Result<Answer> {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let mut stream = tokio::time::timeout(Duration::from_secs(2), connect).await??;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nUser-Agent: Slackbot 1.0 (+https://api.slack.com/robots)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await??;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_slacks_documented_example() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            sign("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn a_command_body_is_form_encoded() {
        let body = SlashCommand::cutover("status web <!channel>", "U0ALICE", "C0DEPLOYS").body();
        assert!(body.contains("command=%2Fcutover"), "{body}");
        assert!(body.contains("text=status+web+%3C%21channel%3E"), "{body}");
        assert!(body.contains("user_id=U0ALICE"), "{body}");
    }
}
