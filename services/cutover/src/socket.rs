//! Socket Mode, `[slack.actions] transport = "socket"` (the default): Slack's commands and
//! clicks come over an outbound WebSocket, so a service in a private subnet needs no inbound
//! port.
//!
//! slack-morphism opens each connection (`apps.connections.open` with the app-level token,
//! `xapp-…`); the WebSocket is tokio-tungstenite's, the client slack-morphism's own listener
//! uses. Cutover runs the connection itself rather than through that listener, because the
//! listener says nothing when a connection is lost or cannot be made: `/readyz` must.
//!
//! - Each envelope is acknowledged (`{"envelope_id": …}`) once answered: a slash command's
//!   answer travels in the acknowledgement's `payload` (ephemeral), a click's goes as an
//!   ephemeral message, as over the request URLs ([`crate::interact`]). Both transports decide
//!   the same way, through the same functions.
//! - Envelopes are not signed: the connection is opened with the app-level token over TLS,
//!   and nothing else can write to it. A redelivered envelope (`retry_attempt`) carries the
//!   same `trigger_id`, which the correlator acts on once.
//! - Slack's `disconnect` (`refresh_requested`, `warning`) opens the next connection at once.
//!   A connection lost (closed, an error, no frame for three ping intervals) or one that
//!   cannot be made is tried again with exponential backoff and jitter (1 s doubling to 60 s).
//!   From then until Slack's next `hello`, `/readyz` answers 503 with why ([`Link`]).
//! - Neither the token nor the connection's URL (its `ticket` is a credential) is logged.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use slack_morphism::prelude::*;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::executors::Backoff;
use crate::executors::slack::{Connector, SlackSetupError, client, describe};
use crate::interact::Interact;

/// How long opening a connection (`apps.connections.open`, then the WebSocket handshake) may
/// take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection's state, for `/readyz` and the log.
#[derive(Debug)]
pub struct Link {
    state: Mutex<LinkState>,
    /// Connections that reached Slack's `hello`.
    connections: AtomicU32,
}

#[derive(Debug)]
struct LinkState {
    up: bool,
    /// Cutover's clock (Unix ms) when it last went up or down.
    since_ms: i64,
    /// Why it is down (no secret in it).
    why: String,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            state: Mutex::new(LinkState {
                up: false,
                since_ms: crate::clock::now_ms(),
                why: "not connected yet".to_owned(),
            }),
            connections: AtomicU32::new(0),
        }
    }
}

impl Link {
    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn up(&self) {
        let mut s = self.lock();
        if !s.up {
            *s = LinkState { up: true, since_ms: crate::clock::now_ms(), why: String::new() };
        }
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    fn down(&self, why: &str) {
        let mut s = self.lock();
        if s.up || s.why != why {
            let since_ms = if s.up { crate::clock::now_ms() } else { s.since_ms };
            *s = LinkState { up: false, since_ms, why: why.to_owned() };
        }
    }

    /// `Ok` while connected; else what `/readyz` says.
    pub fn ready(&self) -> Result<(), String> {
        let s = self.lock();
        if s.up {
            return Ok(());
        }
        let since = cutover_events::Timestamp(s.since_ms);
        Err(format!("slack socket mode: down since {since}: {}", s.why))
    }

    /// How many connections reached Slack's `hello` so far.
    pub fn connections(&self) -> u32 {
        self.connections.load(Ordering::Relaxed)
    }
}

/// One message of Slack's over the WebSocket.
#[derive(Debug, PartialEq)]
enum Envelope {
    Hello,
    /// Slack will close this connection: open the next one.
    Disconnect {
        reason: String,
    },
    /// A slash command or an interaction: answered, then acknowledged.
    Request {
        id: String,
        kind: Kind,
        payload: Value,
        accepts_response: bool,
        retry: u64,
    },
    /// Another type (`events_api`: Cutover subscribes to none): acknowledged and dropped.
    Other {
        id: Option<String>,
        kind: String,
    },
    /// Not JSON, or no type.
    Malformed(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    SlashCommand,
    Interactive,
}

impl Kind {
    fn endpoint(self) -> &'static str {
        match self {
            Self::SlashCommand => "commands",
            Self::Interactive => "interactions",
        }
    }
}

fn parse(text: &str) -> Envelope {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Envelope::Malformed(format!("not JSON: {e}")),
    };
    let id = v["envelope_id"].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let kind = match v["type"].as_str() {
        Some("hello") => return Envelope::Hello,
        Some("disconnect") => {
            return Envelope::Disconnect { reason: v["reason"].as_str().unwrap_or_default().to_owned() };
        }
        Some("slash_commands") => Kind::SlashCommand,
        Some("interactive") => Kind::Interactive,
        Some(other) => return Envelope::Other { id, kind: other.to_owned() },
        None => return Envelope::Malformed("no type".to_owned()),
    };
    let Some(id) = id else { return Envelope::Malformed("no envelope_id".to_owned()) };
    if !v["payload"].is_object() {
        return Envelope::Malformed("no payload object".to_owned());
    }
    Envelope::Request {
        id,
        kind,
        accepts_response: v["accepts_response_payload"].as_bool().unwrap_or(false),
        retry: v["retry_attempt"].as_u64().unwrap_or(0),
        payload: v["payload"].clone(),
    }
}

/// A slash command's payload (a JSON object of the form's fields) as the form's fields.
fn fields(payload: &Value) -> std::collections::HashMap<String, String> {
    payload.as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
}

/// Answers one request: the acknowledgement to send back.
async fn answer(i: &Interact, kind: Kind, id: &str, payload: &Value, accepts_response: bool) -> String {
    match kind {
        Kind::SlashCommand => {
            let fields = fields(payload);
            let text = crate::interact::answer(i, &fields).await;
            if accepts_response {
                return json!({"envelope_id": id, "payload": {"response_type": "ephemeral", "text": text}}).to_string();
            }
            // Slack always takes a command's answer in the acknowledgement; should it not,
            // the answer goes as an ephemeral message.
            if let (Some(channel), Some(user)) = (fields.get("channel_id"), fields.get("user_id")) {
                let (replies, channel, user) = (i.replies.clone(), channel.clone(), user.clone());
                tokio::spawn(async move { replies.ephemeral(&channel, &user, &text).await });
            }
        }
        Kind::Interactive => crate::interact::interact(i, payload).await,
    }
    json!({ "envelope_id": id }).to_string()
}

/// Why one connection ended.
#[derive(Debug)]
enum Ended {
    Stopped,
    /// Slack asked for the next connection.
    Refresh(String),
    /// It never reached `hello`.
    Failed(String),
    /// It was up and is gone.
    Lost(String),
}

/// The Socket Mode client.
pub struct SocketMode {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    interact: Interact,
    link: Arc<Link>,
    backoff: Backoff,
    ping_every: Duration,
}

impl std::fmt::Debug for SocketMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("SocketMode").field("link", &self.link).finish_non_exhaustive()
    }
}

impl SocketMode {
    /// `api_url` is where `apps.connections.open` is (`https://slack.com/api`, or a stand-in).
    pub fn new(
        api_url: &str,
        app_token: &SecretString,
        interact: Interact,
        link: Arc<Link>,
    ) -> Result<Self, SlackSetupError> {
        Ok(Self {
            client: client(api_url)?,
            token: SlackApiToken::new(SlackApiTokenValue(app_token.expose_secret().to_owned())),
            interact,
            link,
            backoff: Backoff { initial_ms: 1_000, max_ms: 60_000 },
            ping_every: Duration::from_secs(10),
        })
    }

    /// Keeps a connection open until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let ended = self.connection(&stop).await;
            let pause = match ended {
                Ended::Stopped => return,
                Ended::Refresh(reason) => {
                    tracing::info!(message = "Slack asked for a new Socket Mode connection.", reason = %reason);
                    failures = 0;
                    continue;
                }
                Ended::Lost(why) => {
                    tracing::warn!(message = "Socket Mode connection lost; reconnecting.", why = %why);
                    self.interact.metrics.slack_request("socket", "lost");
                    self.link.down(&why);
                    failures = 0;
                    self.backoff.delay_ms(0, crate::clock::now_ms() as u64)
                }
                Ended::Failed(why) => {
                    let pause = self.backoff.delay_ms(failures, crate::clock::now_ms() as u64);
                    tracing::warn!(message = "Socket Mode connection failed.", why = %why, retry_in_ms = pause);
                    self.interact.metrics.slack_request("socket", "failed");
                    self.link.down(&why);
                    failures = failures.saturating_add(1);
                    pause
                }
            };
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(pause)) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Opens one connection and serves it until it ends.
    async fn connection(&self, stop: &CancellationToken) -> Ended {
        let open = async {
            let session = self.client.open_session(&self.token);
            let opened = session
                .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
                .await
                .map_err(|e| format!("apps.connections.open: {}", describe(&e)))?;
            let url = opened.url.0;
            let host = url.host_str().unwrap_or_default().to_owned();
            tokio_tungstenite::connect_async(url.as_str())
                .await
                .map(|(ws, _)| ws)
                .map_err(|e| format!("connecting to {host}: {e}"))
        };
        let ws = tokio::select! {
            () = stop.cancelled() => return Ended::Stopped,
            opened = tokio::time::timeout(CONNECT_TIMEOUT, open) => match opened {
                Ok(Ok(ws)) => ws,
                Ok(Err(why)) => return Ended::Failed(why),
                Err(_) => return Ended::Failed(format!("no connection within {} s", CONNECT_TIMEOUT.as_secs())),
            },
        };
        let (mut write, mut read) = ws.split();
        let (acks_tx, mut acks) = mpsc::channel::<String>(64);
        let mut ping = tokio::time::interval(self.ping_every);
        ping.tick().await;
        let mut heard = Instant::now();
        let mut hello = false;
        let lost = |hello: bool, why: String| if hello { Ended::Lost(why) } else { Ended::Failed(why) };
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    let _ = write.send(Message::Close(None)).await;
                    return Ended::Stopped;
                }
                Some(ack) = acks.recv() => {
                    if let Err(e) = write.send(Message::Text(ack.into())).await {
                        return lost(hello, format!("sending an acknowledgement: {e}"));
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() > 3 * self.ping_every {
                        return lost(hello, format!("nothing from Slack for {} s", heard.elapsed().as_secs()));
                    }
                    if let Err(e) = write.send(Message::Ping(Vec::new().into())).await {
                        return lost(hello, format!("sending a ping: {e}"));
                    }
                }
                frame = read.next() => {
                    heard = Instant::now();
                    let text = match frame {
                        None => return lost(hello, "the connection closed".to_owned()),
                        Some(Err(e)) => return lost(hello, format!("the connection failed: {e}")),
                        Some(Ok(Message::Close(_))) => return lost(hello, "Slack closed the connection".to_owned()),
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(_)) => continue,
                    };
                    match parse(text.as_str()) {
                        Envelope::Hello => {
                            hello = true;
                            self.link.up();
                            self.interact.metrics.slack_request("socket", "connected");
                            tracing::info!(message = "Socket Mode connected.", connections = self.link.connections());
                        }
                        Envelope::Disconnect { reason } => return Ended::Refresh(reason),
                        Envelope::Request { id, kind, payload, accepts_response, retry } => {
                            if retry > 0 {
                                tracing::info!(message = "Slack sent an envelope again.", endpoint = kind.endpoint(), retry);
                            }
                            let (i, acks) = (self.interact.clone(), acks_tx.clone());
                            tokio::spawn(async move {
                                let ack = answer(&i, kind, &id, &payload, accepts_response).await;
                                let _ = acks.send(ack).await;
                            });
                        }
                        Envelope::Other { id, kind } => {
                            self.interact.metrics.slack_request("socket", "unknown");
                            tracing::info!(
                                message = "A Socket Mode envelope Cutover does not use; acknowledged.",
                                kind = %cutover_correlator::slack::message::escape(&kind)
                            );
                            if let Some(id) = id {
                                let _ = acks_tx.send(json!({ "envelope_id": id }).to_string()).await;
                            }
                        }
                        Envelope::Malformed(why) => {
                            self.interact.metrics.slack_request("socket", "malformed");
                            tracing::warn!(message = "An unreadable Socket Mode message; nothing was done.", why = %why);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let path = format!("{}/../../../shared/event-samples/slack/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn slacks_envelopes_parse_as_slack_sends_them() {
        // python-slack-sdk's mock Socket Mode server (event-samples/SOURCES.md).
        let Envelope::Request { id, kind, payload, accepts_response, retry } =
            parse(&sample("slack-socket-mode.envelope.slash-commands.python-sdk-test.json"))
        else {
            panic!("a slash command is a request");
        };
        assert_eq!(
            (id.as_str(), kind, accepts_response, retry),
            ("1d3c79ab-0ffb-41f3-a080-d19e85f53649", Kind::SlashCommand, true, 0)
        );
        let f = fields(&payload);
        assert_eq!(
            (f["user_id"].as_str(), f["trigger_id"].as_str(), f["channel_id"].as_str()),
            ("U111", "111.222.xxx", "C111")
        );
        let Envelope::Request { kind, accepts_response, .. } =
            parse(&sample("slack-socket-mode.envelope.interactive-shortcut.python-sdk-test.json"))
        else {
            panic!("an interaction is a request");
        };
        assert_eq!((kind, accepts_response), (Kind::Interactive, false));
        assert_eq!(
            parse(&sample("slack-socket-mode.envelope.events-api.python-sdk-test.json")),
            Envelope::Other {
                id: Some("cda4159a-72a5-4744-aba3-4d66eb52682b".to_owned()),
                kind: "events_api".to_owned()
            }
        );
    }

    #[test]
    fn hello_disconnect_and_bad_messages_are_told_apart() {
        assert_eq!(parse(r#"{"type":"hello","num_connections":1}"#), Envelope::Hello);
        assert_eq!(
            parse(r#"{"type":"disconnect","reason":"refresh_requested"}"#),
            Envelope::Disconnect { reason: "refresh_requested".to_owned() }
        );
        assert!(matches!(parse("not json"), Envelope::Malformed(_)));
        assert!(matches!(parse(r#"{"envelope_id":"e"}"#), Envelope::Malformed(_)));
        assert!(matches!(parse(r#"{"type":"slash_commands","payload":{}}"#), Envelope::Malformed(_)));
        assert!(matches!(parse(r#"{"type":"interactive","envelope_id":"e","payload":"x"}"#), Envelope::Malformed(_)));
    }

    #[test]
    fn the_link_says_why_it_is_down_until_hello() {
        let link = Link::default();
        assert!(link.ready().unwrap_err().contains("not connected yet"));
        link.up();
        assert_eq!(link.ready(), Ok(()));
        link.down("the connection closed");
        let why = link.ready().unwrap_err();
        assert!(why.starts_with("slack socket mode: down since ") && why.ends_with("the connection closed"), "{why}");
        link.up();
        assert_eq!((link.ready(), link.connections()), (Ok(()), 2));
    }
}
