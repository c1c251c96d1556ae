//! EventBridge: `PutEvents` to the configured bus, `source` `cutover`, `detail` exactly as
//! `replay` prints it, in batches of at most 10. Only the failed entries of a partial failure
//! are retried. PutEvents has no idempotency key: an entry whose outcome is unknown after a
//! crash is sent again (at least once), and consumers dedupe on
//! `(deployment_id, detail-type, traffic_percent)`.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use cutover_correlator::Action;

use super::Outcome;
use super::lane::Executor;
use crate::store::{Lane, OutboxItem, Status, Store};

/// The EventBridge executor.
#[derive(Debug, Clone)]
pub struct EventBridgeExecutor {
    client: Client,
    bus: String,
}

impl EventBridgeExecutor {
    pub fn new(client: Client, bus: String) -> Self {
        Self { client, bus }
    }

    fn entry(&self, action: &Action) -> Result<PutEventsRequestEntry, String> {
        let Action::Emit { source, detail_type, detail } = action else {
            return Err(format!("not an emit: {}", action.deployment_id()));
        };
        let json = serde_json::to_string(detail).map_err(|e| e.to_string())?;
        Ok(PutEventsRequestEntry::builder()
            .source(source)
            .detail_type(detail_type.as_str())
            .detail(json)
            .event_bus_name(&self.bus)
            .time(DateTime::from_millis(detail.at.millis()))
            .resources(detail.deployment_id.clone())
            .build())
    }
}

/// PutEvents entry error codes worth another try (BOTO events + EB docs).
fn retryable(code: &str) -> bool {
    matches!(code, "InternalFailure" | "ThrottlingException" | "InternalException")
}

impl Executor for EventBridgeExecutor {
    const LANE: Lane = Lane::EventBridge;

    async fn execute(&mut self, items: &[OutboxItem], store: &mut dyn Store) -> Vec<(i64, Outcome)> {
        let mut out = Vec::new();
        let mut batch = Vec::new();
        for item in items.iter().take(10) {
            match self.entry(&item.action) {
                Ok(entry) => batch.push((item, entry)),
                Err(e) => out.push((item.id, Outcome::Failed(e))),
            }
        }
        if batch.is_empty() {
            return out;
        }
        for (item, _) in &batch {
            if item.status == Status::Attempting {
                tracing::warn!(
                    message = "Re-sending an event whose earlier PutEvents had no known outcome.",
                    id = item.id,
                    deployment_id = item.action.deployment_id()
                );
            }
            if let Err(e) = store.mark_attempting(item.id) {
                out.push((item.id, Outcome::Retry { after_ms: Some(1_000), error: e.to_string() }));
                return out;
            }
        }
        let entries: Vec<PutEventsRequestEntry> = batch.iter().map(|(_, e)| e.clone()).collect();
        match self.client.put_events().set_entries(Some(entries)).send().await {
            Ok(resp) => {
                let results = resp.entries();
                for (i, (item, _)) in batch.iter().enumerate() {
                    let outcome = match results.get(i) {
                        Some(r) if r.error_code().is_none() => {
                            Outcome::Done(r.event_id().unwrap_or_default().to_owned())
                        }
                        Some(r) => {
                            let code = r.error_code().unwrap_or_default().to_owned();
                            let message = r.error_message().unwrap_or_default();
                            if retryable(&code) {
                                Outcome::Retry { after_ms: None, error: format!("{code}: {message}") }
                            } else {
                                Outcome::Failed(format!("{code}: {message}"))
                            }
                        }
                        None => Outcome::Unknown { error: "PutEvents answered fewer entries than sent".into() },
                    };
                    out.push((item.id, outcome));
                }
            }
            Err(e) => {
                let outcome = match &e {
                    SdkError::ServiceError(s) => {
                        let code = s.err().code().unwrap_or("Unknown").to_owned();
                        if retryable(&code) || code.contains("Throttl") {
                            Outcome::Retry { after_ms: None, error: code }
                        } else if matches!(
                            code.as_str(),
                            "ResourceNotFoundException" | "AccessDeniedException" | "ValidationException"
                        ) {
                            Outcome::Failed(format!("EventBridge refused: {code}"))
                        } else {
                            Outcome::Unknown { error: code }
                        }
                    }
                    SdkError::DispatchFailure(_) => Outcome::Retry { after_ms: None, error: "dispatch failed".into() },
                    _ => Outcome::Unknown { error: "timeout or unreadable response".into() },
                };
                for (item, _) in &batch {
                    out.push((item.id, outcome.clone()));
                }
            }
        }
        out
    }
}
