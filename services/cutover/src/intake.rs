//! SQS intake: long-polling receivers send batches into a bounded channel (the wait is the
//! backpressure) to the driver, which parses, decides, commits the journal
//! and the decided actions, and only then has the [`Queue`] delete the messages.
//!
//! Malformed messages are logged with their reason, counted, sent to the dead-letter queue
//! with the reason as a message attribute, and deleted; without a dead-letter queue they are
//! left for the queue's redrive policy. Irrelevant and duplicate messages are deleted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageAttributeValue,
    MessageSystemAttributeName,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::SqsConfig;

pub use crate::metrics::{COUNTERS, Counter, IntakeCounters, REJECTION_REASONS};

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

/// The queue the intake reads: what is done with a message after the driver decided it
/// (deleted once committed, dead-lettered when malformed, its visibility extended while it
/// waits).
#[derive(Debug, Clone)]
pub struct Queue {
    pub sqs: Client,
    pub url: String,
    pub cfg: SqsConfig,
}

impl Queue {
    /// True when the message is safely in the dead-letter queue (it may be deleted).
    pub async fn dead_letter(&self, msg: &Message, reason: &str, counters: &IntakeCounters) -> bool {
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
                counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(error) => {
                tracing::warn!(message = "Failed to dead-letter a message; it stays for redrive.", error = %crate::aws::describe(&error));
                false
            }
        }
    }

    pub async fn delete(&self, messages: &[&Message], counters: &IntakeCounters) {
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
            match self.sqs.delete_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await {
                Ok(out) => {
                    let failed = out.failed();
                    counters.deleted.fetch_add(n - failed.len() as u64, Ordering::Relaxed);
                    for f in failed {
                        // Redelivered later and deduplicated: nothing is lost or repeated.
                        counters.delete_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            message = "Failed to delete message.",
                            entry = f.id(),
                            code = f.code(),
                            reason = f.message().unwrap_or_default()
                        );
                    }
                }
                Err(error) => {
                    counters.delete_failures.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(message = "Failed to delete messages.", error = %crate::aws::describe(&error));
                }
            }
        }
    }

    /// Extends the visibility of every message of a waiting batch (ten a call, as SQS allows).
    pub async fn extend_visibility(&self, messages: &[Message]) {
        for chunk in messages.chunks(10) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
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
            if let Err(error) =
                self.sqs.change_message_visibility_batch().queue_url(&self.url).set_entries(Some(entries)).send().await
            {
                tracing::warn!(message = "Failed to extend visibility of a waiting batch.", error = %crate::aws::describe(&error));
            }
        }
    }
}

fn string_attribute(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().ok()
}
