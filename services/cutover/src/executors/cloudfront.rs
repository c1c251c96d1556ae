//! CloudFront: `CreateInvalidation` with the decided `caller_reference`; the invalidation id
//! is the result. Throttling and `TooManyInvalidationsInProgress` are retried. Idempotency is
//! ours, not the API's (the emulator ignores caller references): an invalidation whose outcome
//! is unknown is looked up by its caller reference before it is created again.

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use cutover_correlator::Action;
use cutover_correlator::action::Invalidation;

use super::Outcome;
use super::lane::Executor;
use crate::store::{Lane, OutboxItem, Status, Store};

/// The CloudFront executor.
#[derive(Debug, Clone)]
pub struct CloudFrontExecutor {
    client: Client,
}

impl CloudFrontExecutor {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// An existing invalidation of the distribution with this caller reference.
    async fn find(&self, inv: &Invalidation) -> Result<Option<String>, Outcome> {
        let list = self
            .client
            .list_invalidations()
            .distribution_id(&inv.distribution_id)
            .max_items(100)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let ids: Vec<String> =
            list.invalidation_list().map(|l| l.items().iter().map(|s| s.id().to_owned()).collect()).unwrap_or_default();
        for id in ids {
            let got = self
                .client
                .get_invalidation()
                .distribution_id(&inv.distribution_id)
                .id(&id)
                .send()
                .await
                .map_err(|e| classify(&e))?;
            let reference = got.invalidation().and_then(|i| i.invalidation_batch()).map(|b| b.caller_reference());
            if reference == Some(inv.caller_reference.as_str()) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    async fn invalidate(&self, item: &OutboxItem, inv: &Invalidation, store: &mut dyn Store) -> Outcome {
        if item.status == Status::Attempting {
            match self.find(inv).await {
                Ok(Some(id)) => {
                    tracing::info!(message = "Found the invalidation of an earlier attempt.", deployment_id = %inv.deployment_id, %id);
                    return Outcome::Done(id);
                }
                Ok(None) => {}
                Err(outcome) => return outcome,
            }
        }
        if let Err(e) = store.mark_attempting(item.id) {
            return Outcome::Retry { after_ms: Some(1_000), error: e.to_string() };
        }
        let paths = match Paths::builder()
            .quantity(i32::try_from(inv.paths.len()).unwrap_or(i32::MAX))
            .set_items(Some(inv.paths.clone()))
            .build()
        {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("invalid paths: {e}")),
        };
        let batch = match InvalidationBatch::builder().paths(paths).caller_reference(&inv.caller_reference).build() {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("invalid invalidation: {e}")),
        };
        let sent = self
            .client
            .create_invalidation()
            .distribution_id(&inv.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await;
        match sent {
            Ok(out) => match out.invalidation() {
                Some(i) => Outcome::Done(i.id().to_owned()),
                None => Outcome::Unknown { error: "CreateInvalidation answered without an invalidation".into() },
            },
            Err(e) => classify(&e),
        }
    }
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(error: &SdkError<E, R>) -> Outcome {
    match error {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("Unknown").to_owned();
            match code.as_str() {
                "TooManyInvalidationsInProgress" | "Throttling" | "ThrottlingException" | "ServiceUnavailable" => {
                    Outcome::Retry { after_ms: None, error: code }
                }
                "NoSuchDistribution"
                | "AccessDenied"
                | "InvalidArgument"
                | "MissingBody"
                | "BatchTooLarge"
                | "TooManyInvalidationsInProgressForPath"
                | "InconsistentQuantities" => Outcome::Failed(format!("CloudFront refused: {code}")),
                _ => Outcome::Unknown { error: code },
            }
        }
        // Never sent: safe to send again.
        SdkError::ConstructionFailure(_) => Outcome::Failed(format!("{error:?}")),
        SdkError::DispatchFailure(d) if d.is_io() => Outcome::Unknown { error: "connection failed".into() },
        SdkError::DispatchFailure(_) => Outcome::Retry { after_ms: None, error: "dispatch failed".into() },
        _ => Outcome::Unknown { error: "timeout or unreadable response".into() },
    }
}

impl Executor for CloudFrontExecutor {
    const LANE: Lane = Lane::CloudFront;

    async fn execute(&mut self, items: &[OutboxItem], store: &mut dyn Store) -> Vec<(i64, Outcome)> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let outcome = match &item.action {
                Action::Invalidate(inv) => self.invalidate(item, inv, store).await,
                other => Outcome::Failed(format!("not an invalidation: {}", other.deployment_id())),
            };
            out.push((item.id, outcome));
        }
        out
    }
}
