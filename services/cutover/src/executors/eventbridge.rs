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
                    // The one modelled error: by variant, since a modelled error may carry no code.
                    SdkError::ServiceError(s)
                        if matches!(
                            s.err(),
                            aws_sdk_eventbridge::operation::put_events::PutEventsError::InternalException(_)
                        ) =>
                    {
                        Outcome::Retry { after_ms: None, error: "InternalException".into() }
                    }
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

#[cfg(test)]
mod tests {
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use cutover_events::Timestamp;
    use cutover_events::emitted::{DetailType, LifecycleDetail, SOURCE, Strategy};

    use super::*;
    use crate::executors::Backoff;
    use crate::executors::lane::record;
    use crate::store::sqlite::SqliteStore;

    fn emit(id: &str) -> Action {
        Action::Emit {
            source: SOURCE.to_owned(),
            detail_type: DetailType::CutOver,
            detail: Box::new(LifecycleDetail {
                deployment_id: id.to_owned(),
                cluster: Some("prod".into()),
                service: Some("web".into()),
                environment: None,
                strategy: Strategy::EcsRolling,
                task_definition: None,
                previous_task_definition: None,
                version: None,
                at: Timestamp(1_700_000_000_000),
                observed_at: Timestamp(1_700_000_000_500),
                traffic_percent: None,
                application: None,
                deployment_group: None,
                rollback_of: None,
                pipeline: None,
                reason: None,
                rolled_back_by: None,
                trace_id: None,
            }),
        }
    }

    /// The emulator cannot fail one entry of a PutEvents: the response is recorded, in the
    /// shape of AWS's documented partial failure (shared/event-samples).
    #[tokio::test]
    async fn only_the_failed_entries_of_a_partial_failure_are_retried() {
        let partial = mock!(Client::put_events)
            .match_requests(|r| {
                r.entries().len() == 3 && r.entries().iter().all(|e| e.event_bus_name() == Some("cutover"))
            })
            .then_output(|| {
                PutEventsOutput::builder()
                    .failed_entry_count(1)
                    .entries(PutEventsResultEntry::builder().event_id("11710aed-b79e-4468-a20b-bb3c0c3b4860").build())
                    .entries(
                        PutEventsResultEntry::builder()
                            .error_code("InternalFailure")
                            .error_message("Internal Service Failure")
                            .build(),
                    )
                    .entries(PutEventsResultEntry::builder().event_id("d804d26a-88db-4b66-9eaf-9a11c708ae82").build())
                    .build()
            });
        let retry = mock!(Client::put_events)
            .match_requests(|r| {
                r.entries().len() == 1
                    && r.entries()[0].detail().is_some_and(|d| d.contains("\"deployment_id\":\"ecs-svc/2\""))
            })
            .then_output(|| {
                PutEventsOutput::builder()
                    .failed_entry_count(0)
                    .entries(PutEventsResultEntry::builder().event_id("5a5a5a5a-0000-4000-8000-000000000002").build())
                    .build()
            });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&partial, &retry]);
        let mut executor = EventBridgeExecutor::new(client, "cutover".into());
        let mut store = SqliteStore::in_memory().unwrap();
        store.commit(&[], &[emit("ecs-svc/1").into(), emit("ecs-svc/2").into(), emit("ecs-svc/3").into()]).unwrap();
        let backoff = Backoff { initial_ms: 1, max_ms: 1 };

        let items = store.due(Lane::EventBridge, i64::MAX, 10).unwrap();
        let outcomes = executor.execute(&items, &mut store).await;
        assert!(matches!(outcomes[0].1, Outcome::Done(ref id) if id.starts_with("11710aed")));
        assert!(matches!(outcomes[1].1, Outcome::Retry { .. }), "{:?}", outcomes[1]);
        assert!(matches!(outcomes[2].1, Outcome::Done(_)));
        for (id, outcome) in outcomes {
            let item = items.iter().find(|i| i.id == id).unwrap();
            record(&mut store, item, outcome, &backoff).unwrap();
        }
        let again = store.due(Lane::EventBridge, i64::MAX, 10).unwrap();
        assert_eq!(again.len(), 1, "only the failed entry is due again");
        assert_eq!(again[0].action.deployment_id(), "ecs-svc/2");
        let outcomes = executor.execute(&again, &mut store).await;
        assert!(matches!(outcomes[0].1, Outcome::Done(_)), "{outcomes:?}");
        assert_eq!(partial.num_calls(), 1);
        assert_eq!(retry.num_calls(), 1);
    }
}
