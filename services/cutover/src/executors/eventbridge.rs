//! EventBridge: `PutEvents` to the configured bus, `source` `cutover`, `detail` exactly as
//! `replay` prints it, in batches of at most 10. Only the failed entries of a partial failure
//! are retried.
//!
//! PutEvents has no idempotency key. An entry whose outcome is unknown (a crash or a timeout
//! mid-call) is first looked for among the receipts: `[eventbridge] receipts_queue_url`, a
//! queue a rule on the bus fills with Cutover's own events. `(deployment_id, detail-type,
//! traffic_percent)` names one event (the correlator emits each at most once), so a receipt
//! with that key means it was delivered. Only when none arrives within `receipt_wait_secs` is
//! it sent again. Without a receipts queue it is sent again at once (at least once), and
//! consumers dedupe on that key.

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
    receipts: Option<Receipts>,
}

/// Where the bus's own events come back, to check an unknown outcome.
#[derive(Debug, Clone)]
struct Receipts {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    wait: std::time::Duration,
}

/// The key that names one emitted event (an approval's by its `approval_id`).
fn key(detail_type: &str, detail: &serde_json::Value) -> String {
    let id = detail["approval_id"]
        .as_str()
        .or_else(|| detail["action_id"].as_str())
        .or_else(|| detail["deployment_id"].as_str())
        .unwrap_or_default();
    format!("{id}|{detail_type}|{}", detail["traffic_percent"])
}

impl EventBridgeExecutor {
    pub fn new(client: Client, bus: String) -> Self {
        Self { client, bus, receipts: None }
    }

    /// Looks for receipts in `queue_url` (via `sqs`) for up to `wait` before re-sending an
    /// event whose earlier PutEvents had no known outcome.
    pub fn with_receipts(mut self, sqs: aws_sdk_sqs::Client, queue_url: String, wait: std::time::Duration) -> Self {
        self.receipts = Some(Receipts { sqs, queue_url, wait });
        self
    }

    /// The event ids of the receipts found for `sought` (outbox id → key), looking until all
    /// are found or the wait is over. Receipts are left in the queue (they expire with its
    /// retention).
    ///
    /// A receive hides what it reads for [`hide_secs`] of the wait, so a look mostly reads
    /// receipts it has not seen yet; and since that is shorter than the wait, receipts that an
    /// earlier look hid (one a crash cut short, in this process's previous life or on another
    /// replica before its claim ran out) are visible again before this look ends.
    async fn receipts_for(&self, sought: &[(i64, String)]) -> Vec<(i64, String)> {
        let Some(r) = &self.receipts else { return Vec::new() };
        let deadline = tokio::time::Instant::now() + r.wait;
        let hide = hide_secs(r.wait);
        let mut found: Vec<(i64, String)> = Vec::new();
        // Bounded: at most 1,000 receives of 10 per look.
        for _ in 0..1_000 {
            if found.len() == sought.len() {
                break;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let received = r
                .sqs
                .receive_message()
                .queue_url(&r.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(hide)
                .wait_time_seconds(i32::try_from(left.as_secs().min(1)).unwrap_or(1))
                .send()
                .await;
            let messages = match received {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(error) => {
                    tracing::warn!(message = "Failed to read the receipts queue.", error = %crate::aws::describe(&error));
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            for m in messages {
                let Ok(event) = serde_json::from_str::<serde_json::Value>(m.body().unwrap_or_default()) else {
                    continue;
                };
                let k = key(event["detail-type"].as_str().unwrap_or_default(), &event["detail"]);
                for (id, wanted) in sought {
                    if *wanted == k && !found.iter().any(|(f, _)| f == id) {
                        found.push((*id, event["id"].as_str().unwrap_or("delivered").to_owned()));
                    }
                }
            }
        }
        found
    }

    fn entry(&self, action: &Action) -> Result<PutEventsRequestEntry, String> {
        let (source, detail_type, json, at, resource) = match action {
            Action::Emit { source, detail_type, detail } => {
                (source, detail_type.as_str(), serde_json::to_string(detail), detail.at, &detail.deployment_id)
            }
            Action::EmitApproval { source, detail_type, detail } => {
                (source, detail_type.as_str(), serde_json::to_string(detail), detail.at, &detail.approval_id)
            }
            Action::EmitAction { source, detail_type, detail } => {
                (source, detail_type.as_str(), serde_json::to_string(detail), detail.at, &detail.action_id)
            }
            _ => return Err(format!("not an emit: {}", action.deployment_id())),
        };
        Ok(PutEventsRequestEntry::builder()
            .source(source)
            .detail_type(detail_type)
            .detail(json.map_err(|e| e.to_string())?)
            .event_bus_name(&self.bus)
            .time(DateTime::from_millis(at.millis()))
            .resources(resource.clone())
            .build())
    }
}

/// How long a look's receive hides the receipts it reads: a second less than the wait, so
/// whatever one look hid is visible again within the next look's wait.
fn hide_secs(wait: std::time::Duration) -> i32 {
    i32::try_from(wait.as_secs().saturating_sub(1)).unwrap_or(i32::MAX).min(43_200)
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
        // The claim comes before the look for receipts: a look hides the receipts it reads from
        // every other reader, so two replicas looking at once could each miss the other's and
        // send again. Claimed, the look is this replica's alone (the lease outlasts the wait).
        let mut claimed = Vec::with_capacity(batch.len());
        for (item, entry) in batch {
            match super::claim(store, item.id) {
                Ok(()) => claimed.push((item, entry)),
                // Another replica sends it.
                Err(Outcome::Claimed) => out.push((item.id, Outcome::Claimed)),
                Err(outcome) => {
                    out.push((item.id, outcome));
                    break;
                }
            }
        }
        let mut batch = claimed;
        if batch.is_empty() {
            return out;
        }
        // Events whose earlier PutEvents had no known outcome: delivered if a receipt says so.
        let sought: Vec<(i64, String)> = batch
            .iter()
            .filter(|(item, _)| item.status == Status::Attempting)
            .filter_map(|(item, _)| match &item.action {
                Action::Emit { detail_type, detail, .. } => {
                    Some((item.id, key(detail_type.as_str(), &serde_json::to_value(detail).ok()?)))
                }
                Action::EmitApproval { detail_type, detail, .. } => {
                    Some((item.id, key(detail_type.as_str(), &serde_json::to_value(detail).ok()?)))
                }
                Action::EmitAction { detail_type, detail, .. } => {
                    Some((item.id, key(detail_type.as_str(), &serde_json::to_value(detail).ok()?)))
                }
                _ => None,
            })
            .collect();
        if !sought.is_empty() && self.receipts.is_some() {
            for (id, event_id) in self.receipts_for(&sought).await {
                tracing::info!(message = "Found the receipt of an event with no known outcome; not sending it again.", id, event_id = %event_id);
                out.push((id, Outcome::Done(event_id)));
                batch.retain(|(item, _)| item.id != id);
            }
            if batch.is_empty() {
                return out;
            }
        }
        for (item, _) in &batch {
            if item.status == Status::Attempting {
                tracing::warn!(
                    message = "Re-sending an event whose earlier PutEvents had no known outcome.",
                    id = item.id,
                    deployment_id = item.action.deployment_id()
                );
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
                            } else if code.starts_with("NotAuthorized") || code.contains("AccessDenied") {
                                Outcome::SetupFault(format!("EventBridge refused an entry on bus {}: {code}", self.bus))
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
                        } else if code == "ResourceNotFoundException" {
                            // A setup fault, not a reason to drop the event: it waits for the bus.
                            Outcome::SetupFault(format!("EventBridge bus {} not found", self.bus))
                        } else if matches!(code.as_str(), "AccessDeniedException" | "UnrecognizedClientException") {
                            Outcome::SetupFault(format!("EventBridge refused PutEvents on bus {}: {code}", self.bus))
                        } else if code == "ValidationException" {
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
    use cutover_events::emitted::{DetailType, SOURCE};

    use super::*;
    use crate::executors::Backoff;
    use crate::executors::lane::record;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Claim, Health, Journal, Outbox, SinkRefs, SlackMessages, StoreError};

    fn emit(id: &str) -> Action {
        Action::Emit {
            source: SOURCE.to_owned(),
            detail_type: DetailType::CutOver,
            detail: Box::new(cutover_testkit::example::detail(id)),
        }
    }

    /// A store whose every claim another replica won.
    #[derive(Debug)]
    struct ClaimedElsewhere(SqliteStore);

    impl Journal for ClaimedElsewhere {
        fn recover(&mut self) -> Result<crate::store::Recovery, StoreError> {
            self.0.recover()
        }

        fn commit(
            &mut self,
            entries: &[(Timestamp, String)],
            actions: &[crate::store::NewAction],
        ) -> Result<Vec<i64>, StoreError> {
            self.0.commit(entries, actions)
        }

        fn journal_since(&mut self, seq: i64) -> Result<Option<Vec<crate::store::JournalEntry>>, StoreError> {
            self.0.journal_since(seq)
        }

        fn snapshot(&mut self, seq: i64, state: &str) -> Result<(), StoreError> {
            self.0.snapshot(seq, state)
        }
    }

    impl Outbox for ClaimedElsewhere {
        fn due(&mut self, lane: Lane, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
            self.0.due(lane, now_ms, limit)
        }

        fn next_due(&mut self, lane: Lane) -> Result<Option<i64>, StoreError> {
            self.0.next_due(lane)
        }

        fn mark_retry(&mut self, id: i64, status: Status, next_attempt_ms: i64, error: &str) -> Result<(), StoreError> {
            self.0.mark_retry(id, status, next_attempt_ms, error)
        }

        fn defer(&mut self, id: i64, next_attempt_ms: i64) -> Result<(), StoreError> {
            self.0.defer(id, next_attempt_ms)
        }

        fn finish(&mut self, id: i64, status: Status, result: &str) -> Result<(), StoreError> {
            self.0.finish(id, status, result)
        }
    }

    impl Claim for ClaimedElsewhere {
        fn mark_attempting(&mut self, _id: i64) -> Result<(), StoreError> {
            Err(StoreError::Conflict { operation: "mark_attempting" })
        }
    }

    impl SlackMessages for ClaimedElsewhere {
        fn slack_message(&mut self, deployment_id: &str) -> Result<Option<(String, String)>, StoreError> {
            self.0.slack_message(deployment_id)
        }

        fn set_slack_message(&mut self, deployment_id: &str, channel: &str, ts: &str) -> Result<(), StoreError> {
            self.0.set_slack_message(deployment_id, channel, ts)
        }
    }

    impl SinkRefs for ClaimedElsewhere {
        fn sink_ref(&mut self, key: &str) -> Result<Option<String>, StoreError> {
            self.0.sink_ref(key)
        }

        fn set_sink_ref(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
            self.0.set_sink_ref(key, value)
        }
    }

    impl Health for ClaimedElsewhere {
        fn outbox_counts(&mut self) -> Result<Vec<(Lane, Status, u64)>, StoreError> {
            self.0.outbox_counts()
        }

        fn ping(&mut self) -> Result<(), StoreError> {
            self.0.ping()
        }
    }

    /// A look for receipts hides them from every other reader, so only the replica holding the
    /// claim may look: an event another replica claimed is neither looked for nor sent.
    #[tokio::test]
    async fn an_event_claimed_by_another_replica_is_not_looked_for_or_sent() {
        // The receipts queue's endpoint: a listener that counts who connects.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        let aws = crate::config::AwsConfig {
            region: Some("eu-west-1".into()),
            endpoint_url: Some(format!("http://127.0.0.1:{port}")),
            max_attempts: Some(1),
        };
        let sdk = crate::aws::sdk_config(&aws)
            .await
            .into_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("test", "test", None, None, "test"),
            ))
            .build();
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let put = mock!(Client::put_events).then_output(|| PutEventsOutput::builder().build());
        let client = mock_client!(aws_sdk_eventbridge, [&put]);
        let mut executor = EventBridgeExecutor::new(client, "cutover".into()).with_receipts(
            sqs,
            format!("http://127.0.0.1:{port}/123456789012/receipts"),
            std::time::Duration::from_secs(1),
        );
        let mut store = ClaimedElsewhere(SqliteStore::in_memory().unwrap());
        store.commit(&[], &[emit("ecs-svc/1").into()]).unwrap();
        let [first] = &store.due(Lane::EventBridge, i64::MAX, 10).unwrap()[..] else { panic!("one action due") };
        // Its first PutEvents had no known outcome (a replica died mid-call).
        store.mark_retry(first.id, Status::Attempting, 0, "timeout").unwrap();
        let items = store.due(Lane::EventBridge, i64::MAX, 10).unwrap();
        assert_eq!(items[0].status, Status::Attempting);

        let outcomes = executor.execute(&items, &mut store).await;
        assert_eq!(outcomes, vec![(items[0].id, Outcome::Claimed)]);
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "looked for receipts without the claim");
        assert_eq!(put.num_calls(), 0);
        accept.abort();
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
