//! `/healthz` (the process is alive), `/readyz` (SQS and the store answer, and no executor is
//! held back by a setup fault: a refused Slack token, a missing bus; the Socket Mode connection
//! of `[slack.actions]` is up, when that is its transport) and `/metrics`
//! (Prometheus text).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::intake::IntakeCounters;
use crate::store::Health as StoreHealth;

/// What the endpoints look at.
#[derive(Clone, Debug)]
pub struct Health {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// A connection of its own; a std `Mutex` because a check holds it only for a query.
    pub store: Arc<Mutex<Box<dyn StoreHealth>>>,
    pub counters: Arc<IntakeCounters>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The Socket Mode connection of `[slack.actions]`, when that is its transport.
    pub socket: Option<Arc<crate::socket::Link>>,
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn ready(State(h): State<Health>) -> (StatusCode, String) {
    let store = tokio::task::block_in_place(|| {
        h.store.lock().map_err(|_| "store lock poisoned".to_owned())?.ping().map_err(|e| e.to_string())
    });
    if let Err(e) = store {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n"));
    }
    // An executor held back by its setup (a refused Slack token, a missing bus): the service
    // runs but its effects wait, and whoever deploys it must know.
    let faults = h.metrics.setup_faults();
    if !faults.is_empty() {
        let text: String = faults.iter().map(|(lane, why)| format!("{}: {why}\n", lane.as_str())).collect();
        return (StatusCode::SERVICE_UNAVAILABLE, text);
    }
    // Slack's requests cannot reach Cutover while its Socket Mode connection is down.
    if let Some(Err(why)) = h.socket.as_ref().map(|l| l.ready()) {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
    }
    match h.sqs.get_queue_attributes().queue_url(&h.queue_url).send().await {
        Ok(_) => (StatusCode::OK, "ready\n".to_owned()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("sqs: GetQueueAttributes: {}\n", crate::aws::describe(&e))),
    }
}

async fn metrics(State(h): State<Health>) -> String {
    let counts = tokio::task::block_in_place(|| h.store.lock().ok().and_then(|mut s| s.outbox_counts().ok()));
    crate::metrics::prometheus(&h.counters, &h.metrics, counts)
}
