//! SQS intake: long-polling receivers send batches into a bounded channel (the wait is the
//! backpressure) to the one task that owns the correlator. That task parses, decides, commits
//! the journal and the decided actions, and only then deletes the messages.
//!
//! Malformed messages are logged with their reason, counted, sent to the dead-letter queue
//! with the reason as a message attribute, and deleted; without a dead-letter queue they are
//! left for the queue's redrive policy. Irrelevant and duplicate messages are deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageAttributeValue,
    MessageSystemAttributeName,
};
use cutover_correlator::{Action, Correlator, Input, Observation};
use cutover_events::{Timestamp, parse_body, parse_body_at};
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::SqsConfig;
use crate::executors::now_ms;
use crate::store::{Lane, NewAction, Store, StoreError};

/// Counters of what the intake saw; exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct IntakeCounters {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub ignored: AtomicU64,
    /// Of the ignored, those older than the retention behind the event clock.
    pub stale: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub deleted: AtomicU64,
    pub delete_failures: AtomicU64,
    pub receive_errors: AtomicU64,
    pub actions: AtomicU64,
    /// Rejections by [`REJECTION_REASONS`].
    pub rejected_reasons: [AtomicU64; 6],
}

/// One counter of the intake: its OpenTelemetry name, help and reader, written once; `/metrics`
/// renders it as [`prometheus_name`] and OTLP exports it under `name`.
#[derive(Debug)]
pub struct Counter {
    pub name: &'static str,
    pub help: &'static str,
    pub read: fn(&IntakeCounters) -> u64,
}

/// The intake's counters (the rejections, by reason, are rendered beside them).
pub const COUNTERS: [Counter; 10] = [
    Counter {
        name: "cutover.sqs.messages.received",
        help: "Messages received from SQS.",
        read: |c| c.received.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.messages.accepted",
        help: "Relevant messages handled.",
        read: |c| c.accepted.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.messages.ignored",
        help: "Well-formed messages Cutover does not use (stale ones among them).",
        read: |c| c.ignored.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.messages.duplicate",
        help: "Redeliveries absorbed.",
        read: |c| c.duplicates.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.messages.dead_lettered",
        help: "Malformed messages sent to the dead-letter queue.",
        read: |c| c.dead_lettered.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.sqs.messages.deleted",
        help: "Messages deleted after commit.",
        read: |c| c.deleted.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.sqs.delete_failures",
        help: "Messages whose delete failed (redelivered, deduplicated).",
        read: |c| c.delete_failures.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.sqs.receive_errors",
        help: "Failed receives.",
        read: |c| c.receive_errors.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.actions.decided",
        help: "Actions decided and committed to the outbox.",
        read: |c| c.actions.load(Ordering::Relaxed),
    },
    Counter {
        name: "cutover.messages.stale",
        help: "Messages ignored as older than the retention behind the event clock.",
        read: |c| c.stale.load(Ordering::Relaxed),
    },
];

/// The Prometheus name of a counter: dots become underscores, and `_total` is added.
pub fn prometheus_name(name: &str) -> String {
    format!("{}_total", name.replace('.', "_"))
}

/// The labels of rejected messages: the parser's kinds, and `not_allowed` for the intake's
/// allow-list.
pub const REJECTION_REASONS: [&str; 6] =
    ["too_large", "too_deep", "not_json", "bad_envelope", "invalid_field", "not_allowed"];

impl IntakeCounters {
    /// Counts one rejection of `kind` (one of [`REJECTION_REASONS`]).
    pub fn reject(&self, kind: &str) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let i = REJECTION_REASONS.iter().position(|r| *r == kind).unwrap_or(4);
        self.rejected_reasons[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Rejections per reason, every reason listed.
    pub fn rejected_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        REJECTION_REASONS.iter().zip(&self.rejected_reasons).map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
    }
}

/// A received batch.
#[derive(Debug)]
pub struct Batch {
    pub messages: Vec<Message>,
    pub received_at: Instant,
}

/// One long-polling receiver.
pub async fn poll(
    sqs: Client,
    queue_url: String,
    cfg: SqsConfig,
    tx: mpsc::Sender<Batch>,
    shutdown: CancellationToken,
    counters: Arc<IntakeCounters>,
) {
    let mut failures = 0u32;
    loop {
        let receive = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(cfg.max_messages.clamp(1, 10))
            .wait_time_seconds(cfg.wait_time_secs.clamp(0, 20))
            .visibility_timeout(cfg.visibility_timeout_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_attribute_names("All")
            .send();
        let result = tokio::select! {
            r = receive => r,
            () = shutdown.cancelled() => return,
        };
        match result {
            Ok(out) => {
                failures = 0;
                let messages = out.messages.unwrap_or_default();
                if messages.is_empty() {
                    continue;
                }
                counters.received.fetch_add(messages.len() as u64, Ordering::Relaxed);
                let batch = Batch { messages, received_at: Instant::now() };
                // Waiting here is the backpressure. On shutdown the batch is dropped: its
                // messages become visible again after the visibility timeout, nothing is lost.
                tokio::select! {
                    sent = tx.send(batch) => if sent.is_err() { return },
                    () = shutdown.cancelled() => return,
                }
            }
            Err(error) => {
                failures += 1;
                counters.receive_errors.fetch_add(1, Ordering::Relaxed);
                let delay = Duration::from_millis((250u64 << failures.min(6)).min(10_000));
                tracing::warn!(message = "Failed to receive messages.", error = %crate::aws::describe(&error), retry_in_ms = delay.as_millis() as u64);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// The task that owns the correlator.
pub struct Owner {
    pub correlator: Correlator,
    pub store: Box<dyn Store>,
    pub sqs: Client,
    pub queue_url: String,
    pub cfg: SqsConfig,
    pub wake: Vec<(Lane, Arc<Notify>)>,
    pub counters: Arc<IntakeCounters>,
    /// Decisions, detection lag, receive lag.
    pub metrics: Arc<crate::metrics::Metrics>,
    pub snapshot_every: u32,
    /// Where events may come from.
    pub allow: crate::config::IntakeConfig,
    /// Journal entries since the last snapshot, and the last journal seq.
    pub since_snapshot: u32,
    pub last_seq: i64,
    /// Rebuilds the correlator from the store (snapshot + journal): `(correlator, last seq,
    /// entries replayed)`. Needed with a shared store, after losing a commit race.
    pub rebuild: Option<Rebuild>,
    /// What the reconciler learned from the AWS APIs, handled between batches.
    pub observations: Option<mpsc::Receiver<Observation>>,
    /// Kept current after each batch: what the reconciler should ask about.
    pub in_flight: Option<watch::Sender<crate::reconciler::Wanted>>,
}

/// The key of a journaled observation: `{"cutover.observation": <Observation>}`. No SQS body
/// Cutover accepts has it.
pub const OBSERVATION_KEY: &str = "cutover.observation";

/// The journal entry of an observation.
pub fn observation_entry(o: &Observation) -> String {
    let mut entry = serde_json::Map::new();
    entry.insert(OBSERVATION_KEY.to_owned(), serde_json::to_value(o).unwrap_or_default());
    serde_json::Value::Object(entry).to_string()
}

/// A journal entry (an SQS body or an observation) back into the input it was.
pub fn journal_input(body: &str) -> Option<Input> {
    if body.starts_with(&format!("{{\"{OBSERVATION_KEY}\"")) {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        return serde_json::from_value(v.get(OBSERVATION_KEY)?.clone()).ok().map(Input::Observed);
    }
    parse_body(body).ok().map(|m| Input::Message(Box::new(m)))
}

/// See [`Owner::rebuild`].
pub type Rebuild = Arc<dyn Fn(&mut dyn Store) -> anyhow::Result<(Correlator, i64, u32)> + Send + Sync>;

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner")
            .field("queue_url", &self.queue_url)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

/// Why the owner stopped: the store refused a commit several times. The process exits and a
/// restart recovers; nothing uncommitted was deleted from the queue.
#[derive(Debug, thiserror::Error)]
#[error("cannot commit to the store")]
pub struct CommitFailed(#[from] pub StoreError);

impl Owner {
    /// An owner with fresh counters and metrics, no allow-list, nothing to wake, and a
    /// snapshot every 1,000 journal entries; set the public fields to change them.
    pub fn new(correlator: Correlator, store: Box<dyn Store>, sqs: Client, queue_url: String, cfg: SqsConfig) -> Self {
        Self {
            correlator,
            store,
            sqs,
            queue_url,
            cfg,
            wake: Vec::new(),
            counters: Arc::default(),
            metrics: Arc::default(),
            snapshot_every: 1000,
            allow: crate::config::IntakeConfig::default(),
            since_snapshot: 0,
            last_seq: 0,
            rebuild: None,
            observations: None,
            in_flight: None,
        }
    }

    /// Handles batches until every receiver has stopped and the channel is drained.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Batch>) -> Result<(), CommitFailed> {
        let mut observations = self.observations.take();
        self.publish_in_flight();
        loop {
            let (batch, observation) = match observations.as_mut() {
                Some(o) => tokio::select! {
                    b = rx.recv() => (Some(b), None),
                    o = o.recv() => (None, Some(o)),
                },
                None => (Some(rx.recv().await), None),
            };
            match (batch, observation) {
                (Some(Some(batch)), _) => self.handle(batch).await?,
                (Some(None), _) => break,
                (_, Some(Some(o))) => self.observe(o).await?,
                (_, Some(None)) => observations = None,
                (None, None) => {}
            }
            self.publish_in_flight();
        }
        self.snapshot();
        Ok(())
    }

    fn publish_in_flight(&self) {
        if let Some(tx) = &self.in_flight {
            let wanted = crate::reconciler::Wanted {
                in_flight: self.correlator.in_flight(),
                census: self.correlator.census_wanted(),
                invalidations: self.correlator.invalidations_wanted(),
                labels: self.correlator.labels_wanted(),
                tags: self.correlator.tags_wanted(),
                approvals: self.correlator.approvals_wanted(),
            };
            tx.send_if_modified(|current| {
                let changed = *current != wanted;
                if changed {
                    current.clone_from(&wanted);
                }
                changed
            });
        }
    }

    /// Handles one observation of the reconciler: decide, and journal it with what it decided
    /// (only when it decided something: a weight already known changes nothing).
    pub async fn observe(&mut self, o: Observation) -> Result<(), CommitFailed> {
        let mut attempt = 0;
        loop {
            if self.store.shared() {
                self.catch_up()?;
            }
            let now = Timestamp(now_ms());
            let body = observation_entry(&o);
            let decided = self.correlator.handle(now, Input::Observed(o.clone()));
            if decided.is_empty() {
                return Ok(());
            }
            self.metrics.decided(&decided);
            let actions: Vec<NewAction> = decided.into_iter().map(NewAction::from).collect();
            match self.commit(&[(now, body)], &actions).await {
                Err(CommitFailed(StoreError::Conflict { .. })) if attempt < 10 => {
                    attempt += 1;
                    self.rebuild()?;
                }
                other => return other,
            }
        }
    }

    /// Handles one received batch: decide, commit, dead-letter, delete. With a shared store
    /// (replicas) it first catches up on what the others committed; when another replica
    /// committed between that and this commit, it rebuilds its state from the store and
    /// decides the batch again.
    pub async fn handle(&mut self, batch: Batch) -> Result<(), CommitFailed> {
        if batch.received_at.elapsed()
            > Duration::from_secs(u64::try_from(self.cfg.visibility_timeout_secs / 2).unwrap_or(30))
        {
            self.extend_visibility(&batch.messages).await;
        }
        let mut attempt = 0;
        loop {
            if self.store.shared() {
                self.catch_up()?;
            }
            match self.handle_once(&batch).await {
                Err(CommitFailed(StoreError::Conflict { .. })) if attempt < 10 => {
                    attempt += 1;
                    tracing::info!(message = "Another replica committed first; deciding the batch again.", attempt);
                    self.rebuild()?;
                }
                other => return other,
            }
        }
    }

    /// Applies the journal entries other replicas committed since `last_seq`.
    fn catch_up(&mut self) -> Result<(), CommitFailed> {
        let since = tokio::task::block_in_place(|| self.store.journal_since(self.last_seq))?;
        let Some(entries) = since else { return self.rebuild() };
        for entry in entries {
            if let Some(input) = journal_input(&entry.body) {
                let _ = self.correlator.handle(entry.now, input);
            }
            self.last_seq = entry.seq;
            self.since_snapshot += 1;
        }
        Ok(())
    }

    /// Replaces the state with the store's (snapshot + journal).
    fn rebuild(&mut self) -> Result<(), CommitFailed> {
        let Some(rebuild) = self.rebuild.clone() else {
            return Err(CommitFailed(StoreError::Conflict { operation: "rebuild (no way to rebuild the state)" }));
        };
        let (correlator, last_seq, replayed) = tokio::task::block_in_place(|| rebuild(self.store.as_mut()))
            .map_err(|e| CommitFailed(StoreError::Remote { operation: "rebuild", cause: format!("{e:#}") }))?;
        self.correlator = correlator;
        self.last_seq = last_seq;
        self.since_snapshot = replayed;
        Ok(())
    }

    async fn handle_once(&mut self, batch: &Batch) -> Result<(), CommitFailed> {
        let mut entries: Vec<(Timestamp, String)> = Vec::new();
        let mut actions: Vec<NewAction> = Vec::new();
        let mut done: Vec<&Message> = Vec::new();
        let mut rejected: Vec<(&Message, String, tracing::Span)> = Vec::new();
        // One trace per message; the spans end once the batch is deleted.
        let mut spans: Vec<tracing::Span> = Vec::with_capacity(batch.messages.len());
        let mut journaled: Vec<usize> = Vec::new();
        for msg in &batch.messages {
            let body = msg.body().unwrap_or_default();
            let span = tracing::info_span!(
                "sqs.message",
                otel.kind = "consumer",
                messaging.system = "aws_sqs",
                messaging.message.id = msg.message_id().unwrap_or_default(),
                messaging.message.body.size = body.len(),
                cutover.outcome = tracing::field::Empty,
                trace_id = tracing::field::Empty,
            );
            let traceparent = crate::telemetry::traceparent(&span);
            let trace_id = crate::telemetry::trace_id(&span);
            if let Some(id) = &trace_id {
                span.record("trace_id", id.as_str());
            }
            let sent_ms = msg
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse::<i64>().ok());
            if let Some(sent) = sent_ms {
                self.metrics.received((now_ms() - sent) as f64 / 1000.0);
            }
            let parsed = tracing::info_span!(parent: &span, "parse").in_scope(|| {
                parse_body_at(body, Timestamp::wall_clock())
                    .map_err(|m| (m.kind(), m.to_string()))
                    .and_then(|m| self.allow.admit(&m).map(|()| m).map_err(|reason| ("not_allowed", reason)))
            });
            match parsed {
                Err((kind, reason)) => {
                    self.counters.reject(kind);
                    span.record("cutover.outcome", "rejected");
                    span.in_scope(|| {
                        tracing::warn!(message = "Rejected a message.", message_id = msg.message_id().unwrap_or_default(), kind, reason = %reason);
                    });
                    rejected.push((msg, reason, span.clone()));
                }
                Ok(parsed) => {
                    let now = Timestamp(now_ms());
                    let before = self.correlator.stats();
                    let decide = tracing::info_span!(parent: &span, "decide", cutover.actions = tracing::field::Empty);
                    let decided = decide.in_scope(|| self.correlator.handle(now, Input::Message(Box::new(parsed))));
                    decide.record("cutover.actions", decided.len());
                    let after = self.correlator.stats();
                    self.count(before, after);
                    self.metrics.decided(&decided);
                    span.record("cutover.outcome", outcome(before, after));
                    // Only what changed the state is journaled; duplicates and irrelevant
                    // messages replay to nothing.
                    if after.accepted > before.accepted || !decided.is_empty() {
                        entries.push((now, body.to_owned()));
                        journaled.push(spans.len());
                    }
                    actions.extend(decided.into_iter().map(|mut action| {
                        if let Action::Emit { detail, .. } = &mut action {
                            detail.trace_id.clone_from(&trace_id);
                        }
                        NewAction { action, traceparent: traceparent.clone() }
                    }));
                    done.push(msg);
                }
            }
            spans.push(span);
        }
        if !entries.is_empty() || !actions.is_empty() {
            // The batch's one transaction, shown in the trace of each message it journals.
            let commit: Vec<tracing::Span> = journaled
                .iter()
                .map(|i| {
                    tracing::info_span!(parent: &spans[*i], "commit", cutover.batch.entries = entries.len(), cutover.batch.actions = actions.len())
                })
                .collect();
            self.commit(&entries, &actions).await?;
            drop(commit);
        }
        for (msg, reason, span) in rejected {
            if self.dead_letter(msg, &reason).instrument(tracing::info_span!(parent: &span, "dead_letter")).await {
                done.push(msg);
            }
        }
        self.delete(&done).await;
        Ok(())
    }

    fn count(&self, before: cutover_correlator::Stats, after: cutover_correlator::Stats) {
        let c = &self.counters;
        c.accepted.fetch_add(after.accepted - before.accepted, Ordering::Relaxed);
        c.ignored.fetch_add(after.ignored - before.ignored, Ordering::Relaxed);
        c.stale.fetch_add(after.stale - before.stale, Ordering::Relaxed);
        c.duplicates.fetch_add(after.duplicates - before.duplicates, Ordering::Relaxed);
    }

    async fn commit(&mut self, entries: &[(Timestamp, String)], actions: &[NewAction]) -> Result<(), CommitFailed> {
        let mut attempt = 0;
        let seqs = loop {
            match tokio::task::block_in_place(|| self.store.commit(entries, actions)) {
                Ok(seqs) => break seqs,
                // Another replica committed first: the caller rebuilds and decides again.
                Err(error @ StoreError::Conflict { .. }) => return Err(CommitFailed(error)),
                Err(error) if attempt < 3 => {
                    attempt += 1;
                    tracing::error!(message = "Failed to commit; retrying.", %error, attempt);
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
                Err(error) => return Err(CommitFailed(error)),
            }
        };
        self.counters.actions.fetch_add(actions.len() as u64, Ordering::Relaxed);
        for (lane, notify) in &self.wake {
            if actions.iter().any(|a| Lane::of(&a.action) == *lane) {
                notify.notify_one();
            }
        }
        if let Some(last) = seqs.last() {
            self.last_seq = *last;
            self.since_snapshot += u32::try_from(seqs.len()).unwrap_or(u32::MAX);
            if self.since_snapshot >= self.snapshot_every {
                self.snapshot();
            }
        }
        Ok(())
    }

    /// Saves the correlator state and compacts the journal. A failure only delays compaction.
    pub fn snapshot(&mut self) {
        if self.since_snapshot == 0 {
            return;
        }
        let state = match serde_json::to_string(self.correlator.state()) {
            Ok(s) => s,
            Err(error) => {
                tracing::error!(message = "Failed to serialise the state.", %error);
                return;
            }
        };
        match tokio::task::block_in_place(|| self.store.snapshot(self.last_seq, &state)) {
            Ok(()) => self.since_snapshot = 0,
            Err(error) => tracing::error!(message = "Failed to save a snapshot.", %error),
        }
    }

    /// True when the message is safely in the dead-letter queue (it may be deleted).
    async fn dead_letter(&self, msg: &Message, reason: &str) -> bool {
        let Some(dlq) = &self.cfg.dead_letter_queue_url else { return false };
        let reason: String = reason.chars().take(1024).collect();
        let sent = self
            .sqs
            .send_message()
            .queue_url(dlq)
            .message_body(msg.body().unwrap_or_default())
            .set_message_attributes(Some(
                [
                    ("cutover.rejection", reason.as_str()),
                    ("cutover.source-message-id", msg.message_id().unwrap_or("unknown")),
                ]
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), string_attribute(v)?)))
                .collect(),
            ))
            .send()
            .await;
        match sent {
            Ok(_) => {
                self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(error) => {
                tracing::warn!(message = "Failed to dead-letter a message; it stays for redrive.", error = %crate::aws::describe(&error));
                false
            }
        }
    }

    async fn delete(&self, messages: &[&Message]) {
        for chunk in messages.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle()?)
                        .build()
                        .ok()
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            let n = entries.len() as u64;
            match self.sqs.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await {
                Ok(out) => {
                    let failed = out.failed();
                    self.counters.deleted.fetch_add(n - failed.len() as u64, Ordering::Relaxed);
                    for f in failed {
                        // Redelivered later and deduplicated: nothing is lost or repeated.
                        self.counters.delete_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            message = "Failed to delete message.",
                            entry = f.id(),
                            code = f.code(),
                            reason = f.message().unwrap_or_default()
                        );
                    }
                }
                Err(error) => {
                    self.counters.delete_failures.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(message = "Failed to delete messages.", error = %crate::aws::describe(&error));
                }
            }
        }
    }

    async fn extend_visibility(&self, messages: &[Message]) {
        let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = messages
            .iter()
            .take(10)
            .enumerate()
            .filter_map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .visibility_timeout(self.cfg.visibility_timeout_secs)
                    .build()
                    .ok()
            })
            .collect();
        if let Err(error) = self
            .sqs
            .change_message_visibility_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(message = "Failed to extend visibility of a waiting batch.", error = %crate::aws::describe(&error));
        }
    }
}

/// What became of an accepted message, from the correlator's counters around it.
fn outcome(before: cutover_correlator::Stats, after: cutover_correlator::Stats) -> &'static str {
    if after.duplicates > before.duplicates {
        "duplicate"
    } else if after.ignored > before.ignored {
        "ignored"
    } else {
        "accepted"
    }
}

fn string_attribute(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_journal_entry_reads_back_as_that_observation_and_never_as_a_message() {
        let o =
            Observation::TrafficWeight { deployment_id: "d-1".into(), percent: 10.0, at: Timestamp(1_773_481_000_000) };
        let body = observation_entry(&o);
        assert!(matches!(journal_input(&body), Some(Input::Observed(back)) if back == o), "{body}");
        assert!(parse_body(&body).is_err(), "no SQS body Cutover accepts looks like an observation");
        let message = include_str!("../../../event-schemas/fixtures/codedeploy-deployment.start.json");
        assert!(matches!(journal_input(message), Some(Input::Message(_))));
        assert!(journal_input("not json").is_none());
    }

    /// Journals outlive releases: a CodeDeploy observation as journaled before still reads
    /// back, and is written the same way.
    #[test]
    fn every_intake_counter_is_in_the_docs_table_under_its_name() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md")).unwrap();
        for c in &COUNTERS {
            assert!(docs.contains(&format!("| `{}` | counter |", c.name)), "docs/config.md misses {}", c.name);
        }
        assert_eq!(prometheus_name("cutover.sqs.receive_errors"), "cutover_sqs_receive_errors_total");
    }

    #[test]
    fn a_service_tags_entry_written_before_the_arn_was_kept_reads_back_and_keeps_its_form() {
        let old =
            r#"{"cutover.observation":{"service_tags":{"cluster":"prod-eu","service":"web","tags":{"team":"web"}}}}"#;
        let Some(Input::Observed(o @ Observation::ServiceTags { service_arn: None, .. })) = journal_input(old) else {
            panic!("not read back as a tags observation without an ARN")
        };
        assert_eq!(observation_entry(&o), old, "written the same");
        let arn = "arn:aws:ecs:eu-west-1:111122223333:service/prod-eu/web";
        let new = Observation::ServiceTags {
            cluster: "prod-eu".into(),
            service: "web".into(),
            tags: [("team".to_owned(), "web".to_owned())].into(),
            service_arn: Some(arn.into()),
        };
        assert!(matches!(journal_input(&observation_entry(&new)), Some(Input::Observed(o)) if o == new));
    }

    #[test]
    fn a_codedeploy_observation_keeps_its_journal_form() {
        let journaled = r#"{"cutover.observation":{"code_deploy":{"deployment_id":"d-MAIN4XQ2Z","application":"AppECS-prod-eu-orders","target":["prod-eu","orders"],"change":{"failed":{"reason":"unhealthy"}},"at":"2026-03-14T09:37:32.000Z"}}}"#;
        let Some(Input::Observed(Observation::CodeDeploy(fact))) = journal_input(journaled) else {
            panic!("not read back as a CodeDeploy observation")
        };
        assert_eq!(fact.deployment_id, "d-MAIN4XQ2Z");
        assert_eq!(fact.application.as_deref(), Some("AppECS-prod-eu-orders"));
        assert_eq!(fact.deployment_group, None);
        assert_eq!(fact.target, Some(("prod-eu".into(), "orders".into())));
        assert_eq!(fact.change, cutover_correlator::CodeDeployChange::Failed { reason: Some("unhealthy".into()) });
        assert_eq!(fact.at, Timestamp(1_773_481_052_000));
        assert_eq!(observation_entry(&Observation::CodeDeploy(fact)), journaled);
    }
}
