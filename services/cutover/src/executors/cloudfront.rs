//! CloudFront: `CreateInvalidation` with the decided `caller_reference`; the invalidation id
//! is the result. Throttling and `TooManyInvalidationsInProgress` are retried. Idempotency is
//! ours, not the API's (the emulator ignores caller references): an invalidation whose outcome
//! is unknown is looked up by its caller reference before it is created again.

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use cutover_correlator::Action;
use cutover_correlator::action::Invalidation;
use cutover_events::Timestamp;

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

    async fn invalidate(&self, item: &OutboxItem, inv: &Invalidation, store: &mut dyn Store) -> Outcome {
        if item.status == Status::Attempting {
            match find_by_caller_reference(&self.client, &inv.distribution_id, &inv.caller_reference, 100, None, || {
                std::time::Duration::ZERO
            })
            .await
            {
                Ok(Some((id, _))) => {
                    tracing::info!(message = "Found the invalidation of an earlier attempt.", deployment_id = %inv.deployment_id, %id);
                    return Outcome::Done(id);
                }
                Ok(None) => {}
                Err(outcome) => return outcome,
            }
        }
        if let Err(outcome) = super::claim(store, item.id) {
            return outcome;
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
            Err(e) => classify_create(&e),
        }
    }
}

/// CreateInvalidation errors by their modelled variant first, then by code.
/// The invalidation of `distribution_id` whose caller reference is `reference`, with its
/// `GetInvalidation` answer: looked for among the distribution's newest `max_items`
/// (`ListInvalidations`; only those created at or after `since`, when given), each read until
/// one has it. Before each call it waits what `pace` says. Idempotency is ours (the emulator ignores caller
/// references): the executor looks before creating again, the reconciler to follow one.
pub async fn find_by_caller_reference(
    client: &Client,
    distribution_id: &str,
    reference: &str,
    max_items: i32,
    since: Option<Timestamp>,
    mut pace: impl FnMut() -> std::time::Duration + Send,
) -> Result<Option<(String, GetInvalidationOutput)>, Outcome> {
    tokio::time::sleep(pace()).await;
    let list = client
        .list_invalidations()
        .distribution_id(distribution_id)
        .max_items(max_items)
        .send()
        .await
        .map_err(|e| classify(&e))?;
    let recent: Vec<String> = list
        .invalidation_list()
        .map(|l| l.items())
        .unwrap_or_default()
        .iter()
        .filter(|s| since.is_none_or(|since| s.create_time().to_millis().is_ok_and(|t| t >= since.millis())))
        .map(|s| s.id().to_owned())
        .collect();
    for id in recent {
        tokio::time::sleep(pace()).await;
        let got = client
            .get_invalidation()
            .distribution_id(distribution_id)
            .id(&id)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        if got.invalidation().and_then(|i| i.invalidation_batch()).map(|b| b.caller_reference()) == Some(reference) {
            return Ok(Some((id, got)));
        }
    }
    Ok(None)
}

fn classify_create<R: std::fmt::Debug>(error: &SdkError<CreateInvalidationError, R>) -> Outcome {
    use CreateInvalidationError as E;
    match error.as_service_error() {
        Some(E::TooManyInvalidationsInProgress(_)) => {
            Outcome::Retry { after_ms: None, error: "TooManyInvalidationsInProgress".into() }
        }
        // A setup fault: the invalidation waits for the distribution (or the permission).
        Some(e @ (E::NoSuchDistribution(_) | E::AccessDenied(_))) => {
            Outcome::SetupFault(format!("CloudFront refused: {}", variant_name(e)))
        }
        Some(e @ (E::InvalidArgument(_) | E::BatchTooLarge(_) | E::MissingBody(_) | E::InconsistentQuantities(_))) => {
            Outcome::Failed(format!("CloudFront refused: {}", variant_name(e)))
        }
        _ => classify(error),
    }
}

fn variant_name(e: &CreateInvalidationError) -> &'static str {
    use CreateInvalidationError as E;
    match e {
        E::NoSuchDistribution(_) => "NoSuchDistribution",
        E::AccessDenied(_) => "AccessDenied",
        E::InvalidArgument(_) => "InvalidArgument",
        E::BatchTooLarge(_) => "BatchTooLarge",
        E::MissingBody(_) => "MissingBody",
        E::InconsistentQuantities(_) => "InconsistentQuantities",
        _ => "error",
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
                "NoSuchDistribution" | "AccessDenied" => Outcome::SetupFault(format!("CloudFront refused: {code}")),
                "InvalidArgument"
                | "MissingBody"
                | "BatchTooLarge"
                | "TooManyInvalidationsInProgressForPath"
                | "InconsistentQuantities" => Outcome::Failed(format!("CloudFront refused: {code}")),
                _ => Outcome::Unknown { error: code },
            }
        }
        // Never sent: safe to send again.
        SdkError::ConstructionFailure(_) => Outcome::Failed("the CloudFront request could not be built".to_owned()),
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

#[cfg(test)]
mod tests {
    use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationOutput;
    use aws_sdk_cloudfront::types::error::{NoSuchDistribution, TooManyInvalidationsInProgress};
    use aws_sdk_cloudfront::types::{Invalidation as CfInvalidation, InvalidationBatch, Paths};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Journal, Outbox};

    fn action(dep: &str) -> Action {
        Action::Invalidate(Invalidation {
            deployment_id: dep.into(),
            distribution_id: "E2QWRUHAPOMQZL".into(),
            paths: vec!["/*".into()],
            caller_reference: format!("cutover-E2QWRUHAPOMQZL-{dep}"),
        })
    }

    fn created(id: &str) -> CreateInvalidationOutput {
        let batch = InvalidationBatch::builder()
            .paths(Paths::builder().quantity(1).items("/*").build().unwrap())
            .caller_reference("r")
            .build()
            .unwrap();
        CreateInvalidationOutput::builder()
            .invalidation(
                CfInvalidation::builder()
                    .id(id)
                    .status("InProgress")
                    .create_time(aws_sdk_cloudfront::primitives::DateTime::from_secs(1_700_000_000))
                    .invalidation_batch(batch)
                    .build()
                    .unwrap(),
            )
            .build()
    }

    /// The emulator never answers these errors: recorded responses shaped like AWS's.
    #[tokio::test]
    async fn too_many_in_progress_is_retried_and_a_missing_distribution_is_given_up() {
        let busy = mock!(Client::create_invalidation)
            .match_requests(|r| {
                r.invalidation_batch().is_some_and(|b| b.caller_reference() == "cutover-E2QWRUHAPOMQZL-d-1")
            })
            .sequence()
            .error(|| {
                CreateInvalidationError::TooManyInvalidationsInProgress(
                    TooManyInvalidationsInProgress::builder().message("Processing your request").build(),
                )
            })
            .output(|| created("I2J0I21PCUYOIK"))
            .build();
        let missing = mock!(Client::create_invalidation)
            .then_error(|| CreateInvalidationError::NoSuchDistribution(NoSuchDistribution::builder().build()));
        let client = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&busy, &missing]);
        let mut executor = CloudFrontExecutor::new(client);
        let mut store = SqliteStore::in_memory().unwrap();
        store.commit(&[], &[action("d-1").into()]).unwrap();
        let items = store.due(Lane::CloudFront, i64::MAX, 10).unwrap();
        let first = executor.execute(&items, &mut store).await;
        assert!(
            matches!(&first[0].1, Outcome::Retry { error, .. } if error == "TooManyInvalidationsInProgress"),
            "{first:?}"
        );
        let second = executor.execute(&items, &mut store).await;
        assert_eq!(second[0].1, Outcome::Done("I2J0I21PCUYOIK".into()), "the invalidation id is the result");
        assert_eq!(busy.num_calls(), 2);

        store.commit(&[], &[action("d-2").into()]).unwrap();
        let items: Vec<_> = store
            .due(Lane::CloudFront, i64::MAX, 10)
            .unwrap()
            .into_iter()
            .filter(|i| i.action.deployment_id() == "d-2")
            .collect();
        let out = executor.execute(&items, &mut store).await;
        assert!(matches!(&out[0].1, Outcome::SetupFault(why) if why.contains("NoSuchDistribution")), "{out:?}");
    }
}
