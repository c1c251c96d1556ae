//! A small SQS stand-in speaking the AWS JSON 1.0 protocol the SDK for Rust uses
//! (`X-Amz-Target: AmazonSQS.<Operation>`, `application/x-amz-json-1.0`), for the `serve`
//! throughput benchmark: moto answers about 300 messages a second, so a backlog drained from
//! it measures moto. This one keeps its queues in memory and answers at once.
//!
//! Served: `ReceiveMessage` (long polling, visibility timeout, `ApproximateReceiveCount` and
//! `SentTimestamp`), `DeleteMessage`, `DeleteMessageBatch`, `ChangeMessageVisibilityBatch`,
//! `SendMessage`, `SendMessageBatch`, `GetQueueAttributes` (the approximate counts),
//! `GetQueueUrl` and `CreateQueue`. A queue is named by the last segment of its URL and made on
//! first use. Left out: FIFO queues, redrive, and the `MD5Of…` digests (the SDK for Rust does
//! not check them). Anything else is answered as SQS answers an unknown operation.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The stand-in: its address, and its queues for a benchmark to fill and watch.
#[derive(Clone)]
pub struct SqsStandin {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

struct Inner {
    queues: Mutex<HashMap<String, Queue>>,
    /// Woken when a message is sent or becomes visible again.
    arrived: Notify,
}

#[derive(Default)]
struct Queue {
    visible: VecDeque<Msg>,
    /// By receipt handle: the message and when it becomes visible again.
    hidden: HashMap<String, (Msg, Instant)>,
    sequence: u64,
    deleted: u64,
}

#[derive(Clone)]
struct Msg {
    id: String,
    body: String,
    attributes: Value,
    sent_ms: u64,
    receives: u32,
}

/// What a queue holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub visible: usize,
    pub in_flight: usize,
    pub deleted: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl std::fmt::Debug for SqsStandin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsStandin").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl SqsStandin {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the SQS stand-in");
        let addr = listener.local_addr().expect("its address");
        let inner = Arc::new(Inner { queues: Mutex::new(HashMap::new()), arrived: Notify::new() });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner }
    }

    /// The endpoint for `AWS_ENDPOINT_URL_SQS`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of queue `name`.
    pub fn queue_url(&self, name: &str) -> String {
        format!("http://{}/000000000000/{name}", self.addr)
    }

    /// Puts `bodies` in queue `name`, as `SendMessage` would.
    pub fn load<I: IntoIterator<Item = String>>(&self, name: &str, bodies: I) {
        {
            let mut queues = self.inner.queues.lock().expect("queues");
            let q = queues.entry(name.to_owned()).or_default();
            for body in bodies {
                q.push(body, json!({}));
            }
        }
        self.inner.arrived.notify_waiters();
    }

    /// What queue `name` holds now.
    pub fn counts(&self, name: &str) -> Counts {
        let queues = self.inner.queues.lock().expect("queues");
        queues.get(name).map_or_else(Counts::default, |q| Counts {
            visible: q.visible.len(),
            in_flight: q.hidden.len(),
            deleted: q.deleted,
        })
    }
}

impl Queue {
    fn push(&mut self, body: String, attributes: Value) -> String {
        self.sequence += 1;
        let id = format!("00000000-0000-4000-8000-{:012x}", self.sequence);
        self.visible.push_back(Msg { id: id.clone(), body, attributes, sent_ms: now_ms(), receives: 0 });
        id
    }

    /// Messages whose visibility timeout ran out are visible again.
    fn reveal(&mut self, now: Instant) -> bool {
        let due: Vec<String> = self.hidden.iter().filter(|(_, (_, at))| *at <= now).map(|(r, _)| r.clone()).collect();
        for receipt in &due {
            if let Some((m, _)) = self.hidden.remove(receipt) {
                self.visible.push_front(m);
            }
        }
        !due.is_empty()
    }

    fn receive(&mut self, max: usize, visibility: Duration) -> Vec<Value> {
        let now = Instant::now();
        self.reveal(now);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(mut m) = self.visible.pop_front() else { break };
            m.receives += 1;
            self.sequence += 1;
            let receipt = format!("{}#{}", m.id, self.sequence);
            let mut entry = json!({
                "MessageId": m.id,
                "ReceiptHandle": receipt,
                "Body": m.body,
                "Attributes": {
                    "SentTimestamp": m.sent_ms.to_string(),
                    "ApproximateReceiveCount": m.receives.to_string(),
                },
            });
            if m.attributes.as_object().is_some_and(|a| !a.is_empty()) {
                entry["MessageAttributes"] = m.attributes.clone();
            }
            out.push(entry);
            self.hidden.insert(receipt, (m, now + visibility));
        }
        out
    }
}

/// The queue a request names by its `QueueUrl` (or `QueueName`).
fn queue_name(req: &Value) -> Option<String> {
    let url = req["QueueUrl"].as_str().or_else(|| req["QueueName"].as_str())?;
    url.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_owned)
}

fn answer(body: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-amz-json-1.0")], body.to_string()).into_response()
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"__type": format!("com.amazonaws.sqs#{code}"), "message": message});
    (status, [(header::CONTENT_TYPE, "application/x-amz-json-1.0")], body.to_string()).into_response()
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(op) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSQS."))
        .map(str::to_owned)
    else {
        return refuse(StatusCode::BAD_REQUEST, "InvalidAction", "no X-Amz-Target");
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "MalformedInput", "the body is not JSON");
    };
    let Some(name) = queue_name(&req) else {
        return refuse(StatusCode::BAD_REQUEST, "MissingParameter", "no QueueUrl");
    };
    match op.as_str() {
        "ReceiveMessage" => receive(&inner, &name, &req).await,
        "GetQueueUrl" | "CreateQueue" => {
            let url = format!(
                "http://{}/000000000000/{name}",
                headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("")
            );
            inner.queues.lock().expect("queues").entry(name).or_default();
            answer(json!({"QueueUrl": url}))
        }
        _ => {
            let mut queues = inner.queues.lock().expect("queues");
            let q = queues.entry(name).or_default();
            let out = match op.as_str() {
                "SendMessage" => {
                    let body = req["MessageBody"].as_str().unwrap_or_default().to_owned();
                    let id = q.push(body, req["MessageAttributes"].clone());
                    json!({"MessageId": id})
                }
                "SendMessageBatch" => {
                    let mut ok = Vec::new();
                    for e in req["Entries"].as_array().into_iter().flatten() {
                        let id = q.push(
                            e["MessageBody"].as_str().unwrap_or_default().to_owned(),
                            e["MessageAttributes"].clone(),
                        );
                        ok.push(json!({"Id": e["Id"], "MessageId": id}));
                    }
                    json!({"Successful": ok, "Failed": []})
                }
                "DeleteMessage" => {
                    if q.hidden.remove(req["ReceiptHandle"].as_str().unwrap_or_default()).is_some() {
                        q.deleted += 1;
                    }
                    json!({})
                }
                "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
                    let (mut ok, mut failed) = (Vec::new(), Vec::new());
                    for e in req["Entries"].as_array().into_iter().flatten() {
                        let receipt = e["ReceiptHandle"].as_str().unwrap_or_default();
                        let found = if op == "DeleteMessageBatch" {
                            q.hidden.remove(receipt).inspect(|_| q.deleted += 1).is_some()
                        } else {
                            let secs = e["VisibilityTimeout"].as_u64().unwrap_or(30);
                            q.hidden
                                .get_mut(receipt)
                                .map(|(_, at)| *at = Instant::now() + Duration::from_secs(secs))
                                .is_some()
                        };
                        if found {
                            ok.push(json!({"Id": e["Id"]}));
                        } else {
                            failed.push(json!({"Id": e["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": true, "Message": "not in flight"}));
                        }
                    }
                    json!({"Successful": ok, "Failed": failed})
                }
                "GetQueueAttributes" => json!({"Attributes": {
                    "ApproximateNumberOfMessages": q.visible.len().to_string(),
                    "ApproximateNumberOfMessagesNotVisible": q.hidden.len().to_string(),
                }}),
                _ => {
                    return refuse(StatusCode::BAD_REQUEST, "UnsupportedOperation", "not served by the stand-in");
                }
            };
            drop(queues);
            if op.starts_with("Send") {
                inner.arrived.notify_waiters();
            }
            answer(out)
        }
    }
}

/// `ReceiveMessage`, waiting up to `WaitTimeSeconds` (at most 20, as SQS) for a message.
async fn receive(inner: &Inner, name: &str, req: &Value) -> Response {
    let max = req["MaxNumberOfMessages"].as_u64().unwrap_or(1).clamp(1, 10) as usize;
    let visibility = Duration::from_secs(req["VisibilityTimeout"].as_u64().unwrap_or(30));
    let deadline = Instant::now() + Duration::from_secs(req["WaitTimeSeconds"].as_u64().unwrap_or(0).min(20));
    loop {
        let arrived = inner.arrived.notified();
        let got = inner.queues.lock().expect("queues").entry(name.to_owned()).or_default().receive(max, visibility);
        let left = deadline.saturating_duration_since(Instant::now());
        if !got.is_empty() || left.is_zero() {
            return answer(json!({"Messages": got}));
        }
        // Woken by a send, or at least once a second for messages whose timeout ran out.
        let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), arrived).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_received_message_is_hidden_until_deleted_or_its_timeout_runs_out() {
        let mut q = Queue::default();
        q.push("a".into(), json!({}));
        q.push("b".into(), json!({}));
        let got = q.receive(10, Duration::from_secs(0));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["Body"], "a");
        assert_eq!(got[0]["Attributes"]["ApproximateReceiveCount"], "1");
        assert!(q.visible.is_empty());
        // A zero timeout: visible again at once, received a second time.
        let again = q.receive(1, Duration::from_secs(60));
        assert_eq!(again[0]["Attributes"]["ApproximateReceiveCount"], "2");
        let receipt = again[0]["ReceiptHandle"].as_str().unwrap().to_owned();
        assert!(q.hidden.remove(&receipt).is_some());
        assert_eq!(q.receive(10, Duration::from_secs(60)).len(), 1, "the other one");
        assert!(q.receive(10, Duration::from_secs(60)).is_empty());
    }
}
