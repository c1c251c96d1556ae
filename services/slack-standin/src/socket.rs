//! Socket Mode as Slack runs it: `apps.connections.open`, called with an app-level token
//! (`xapp-…`), answers a one-time `ws://…/link/?ticket=…` URL; the WebSocket there starts
//! with `hello`, then carries envelopes (`{envelope_id, type, payload,
//! accepts_response_payload}`) and expects each acknowledged with its `envelope_id` (a slash
//! command's answer in the acknowledgement's `payload`). A ticket works once.
//!
//! Tests drive it through [`crate::Standin`]: [`crate::Standin::deliver`] sends an envelope
//! over the newest connection, [`crate::Standin::acks`] lists what came back,
//! [`crate::Standin::drop_sockets`] cuts every connection as a network would,
//! [`crate::Standin::refresh_sockets`] sends Slack's `disconnect` (`refresh_requested`) first,
//! and [`crate::Standin::refuse_sockets`] refuses new connections until told otherwise.

use std::net::SocketAddr;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use crate::{Standin, lock};

/// What a connection's task is told to send.
#[derive(Debug)]
pub(crate) enum Out {
    Text(String),
    /// Closed without a close frame, as a lost network connection looks.
    Cut,
}

/// Socket Mode's part of the state.
#[derive(Debug, Default)]
pub(crate) struct Sockets {
    /// Where the WebSocket listener is, once started.
    pub(crate) addr: Option<SocketAddr>,
    /// Issued and not used yet.
    tickets: std::collections::BTreeSet<String>,
    next: u64,
    /// Open connections, oldest first.
    pub(crate) open: Vec<(u64, mpsc::UnboundedSender<Out>)>,
    /// Connections that reached `hello`.
    pub(crate) opened: u32,
    /// Every acknowledgement received, in order.
    pub(crate) acks: Vec<Value>,
    /// New connections are refused while set.
    pub(crate) refusing: bool,
}

impl Sockets {
    /// A one-time URL for `apps.connections.open`; `None` before the listener started.
    pub(crate) fn ticket(&mut self) -> Option<String> {
        let addr = self.addr?;
        self.next += 1;
        let ticket = format!("standin-ticket-{}", self.next);
        self.tickets.insert(ticket.clone());
        Some(format!("ws://{addr}/link/?ticket={ticket}&app_id=A0STANDIN"))
    }
}

impl Standin {
    /// Serves Socket Mode's WebSockets on `listener` (in the background) and answers
    /// `apps.connections.open` with URLs there.
    pub fn serve_sockets(&self, listener: tokio::net::TcpListener) -> std::io::Result<SocketAddr> {
        let addr = listener.local_addr()?;
        lock(self).sockets.addr = Some(addr);
        let s = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(s.clone(), stream));
            }
        });
        Ok(addr)
    }

    /// Sends an envelope of `kind` (`slash_commands`, `interactive`) with `payload` over the
    /// newest open connection: its `envelope_id`, or `None` when none is open.
    pub fn deliver(&self, kind: &str, payload: Value) -> Option<String> {
        let mut inner = lock(self);
        inner.sockets.next += 1;
        let id = format!("standin-envelope-{}", inner.sockets.next);
        let envelope = json!({"envelope_id": id, "payload": payload, "type": kind,
            "accepts_response_payload": kind == "slash_commands"});
        send(&inner.sockets, envelope).then_some(id)
    }

    /// Sends an envelope again, as Slack does when it was not acknowledged in time
    /// (`retry_attempt`, `retry_reason`).
    pub fn redeliver(&self, envelope_id: &str, kind: &str, payload: Value, attempt: u32) -> bool {
        let envelope = json!({"envelope_id": envelope_id, "payload": payload, "type": kind,
            "accepts_response_payload": kind == "slash_commands", "retry_attempt": attempt, "retry_reason": "timeout"});
        send(&lock(self).sockets, envelope)
    }

    /// Every acknowledgement received, in order.
    pub fn acks(&self) -> Vec<Value> {
        lock(self).sockets.acks.clone()
    }

    /// The acknowledgement of `envelope_id`, once it came.
    pub fn ack_of(&self, envelope_id: &str) -> Option<Value> {
        lock(self).sockets.acks.iter().find(|a| a["envelope_id"] == envelope_id).cloned()
    }

    /// Connections open now.
    pub fn sockets_open(&self) -> usize {
        lock(self).sockets.open.len()
    }

    /// Connections that reached `hello` so far.
    pub fn sockets_opened(&self) -> u32 {
        lock(self).sockets.opened
    }

    /// Cuts every open connection without a close frame.
    pub fn drop_sockets(&self) {
        for (_, tx) in lock(self).sockets.open.drain(..) {
            let _ = tx.send(Out::Cut);
        }
    }

    /// Sends Slack's `disconnect` (`refresh_requested`) on every open connection, then closes it.
    pub fn refresh_sockets(&self) {
        let text = json!({"type": "disconnect", "reason": "refresh_requested",
            "debug_info": {"host": "applink-standin"}})
        .to_string();
        for (_, tx) in lock(self).sockets.open.drain(..) {
            let _ = tx.send(Out::Text(text.clone()));
            let _ = tx.send(Out::Cut);
        }
    }

    /// Refuses new connections (the handshake answers 503) while `refusing`.
    pub fn refuse_sockets(&self, refusing: bool) {
        lock(self).sockets.refusing = refusing;
    }
}

fn send(sockets: &Sockets, envelope: Value) -> bool {
    sockets.open.last().is_some_and(|(_, tx)| tx.send(Out::Text(envelope.to_string())).is_ok())
}

async fn connection(s: Standin, stream: tokio::net::TcpStream) {
    // tungstenite's handshake callback returns its own error type.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let ticket = request
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("ticket=")))
            .unwrap_or_default()
            .to_owned();
        let mut inner = lock(&s);
        let refuse = |status: StatusCode| {
            let mut r = ErrorResponse::new(Some(status.canonical_reason().unwrap_or_default().to_owned()));
            *r.status_mut() = status;
            r
        };
        if inner.sockets.refusing {
            return Err(refuse(StatusCode::SERVICE_UNAVAILABLE));
        }
        if request.uri().path() != "/link/" || !inner.sockets.tickets.remove(&ticket) {
            return Err(refuse(StatusCode::UNAUTHORIZED));
        }
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else { return };
    let (mut write, mut read) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, hello) = {
        let mut inner = lock(&s);
        inner.sockets.next += 1;
        let id = inner.sockets.next;
        inner.sockets.open.push((id, tx));
        inner.sockets.opened += 1;
        let hello = json!({"type": "hello", "num_connections": inner.sockets.open.len(),
            "debug_info": {"host": "applink-standin", "build_number": 1, "approximate_connection_time": 18_060},
            "connection_info": {"app_id": "A0STANDIN"}});
        (id, hello)
    };
    if write.send(Message::Text(hello.to_string().into())).await.is_ok() {
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Out::Text(text)) => {
                        if write.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    Some(Out::Cut) | None => break,
                },
                frame = read.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(ack) = serde_json::from_str::<Value>(text.as_str()) {
                            lock(&s).sockets.acks.push(ack);
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    // Pings are answered by tungstenite itself.
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    lock(&s).sockets.open.retain(|(i, _)| *i != id);
}
