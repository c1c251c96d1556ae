//! One lane: takes the due actions of one executor from the outbox, in decision order, runs
//! them, and records each outcome. Woken when the intake commits new actions, and by timers
//! for retries. On shutdown it keeps running due actions until none is due or the grace
//! (counted from the signal) is over, then stops; what is left stays in the outbox for the
//! next start.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Backoff, Outcome, now_ms};
use crate::store::{Lane, Outbox, OutboxItem, Status, Store, StoreError};

/// Runs the actions of one lane.
pub trait Executor: Send {
    const LANE: Lane;
    /// Items taken per round.
    const BATCH: usize = 10;
    /// The executor reports setup faults itself, per target (the sinks: one sink's refused
    /// token is not mended by another's success); the lane then leaves them alone.
    const OWN_SETUP_FAULTS: bool = false;

    /// Runs `items` (due, in decision order) and says how each ended. Items it does not
    /// return an outcome for are left as they are (taken again next round).
    fn execute(
        &mut self,
        items: &[OutboxItem],
        store: &mut dyn Store,
    ) -> impl Future<Output = Vec<(i64, Outcome)>> + Send;
}

/// Records `outcome` of `item`.
pub fn record(
    store: &mut dyn Outbox,
    item: &OutboxItem,
    outcome: Outcome,
    backoff: &Backoff,
) -> Result<(), StoreError> {
    let retry_at = |after: Option<u64>| {
        let delay =
            after.unwrap_or_else(|| backoff.delay_ms(item.attempts, item.id.unsigned_abs() ^ now_ms().unsigned_abs()));
        now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX))
    };
    match outcome {
        Outcome::Done(result) => store.finish(item.id, Status::Done, &result),
        Outcome::Claimed => Ok(()),
        Outcome::Deferred { until_ms } => store.defer(item.id, until_ms),
        Outcome::Superseded(why) => store.finish(item.id, Status::Superseded, &why),
        Outcome::Failed(why) => {
            tracing::warn!(message = "Action failed for good.", lane = ?Lane::of(&item.action), id = item.id, deployment_id = item.action.deployment_id(), error = %why);
            store.finish(item.id, Status::Failed, &why)
        }
        Outcome::SetupFault(error) => {
            tracing::warn!(message = "Action waits on a setup fault; will be retried.", lane = ?Lane::of(&item.action), id = item.id, attempts = item.attempts + 1, %error);
            store.mark_retry(item.id, Status::Pending, retry_at(None), &error)
        }
        Outcome::Retry { after_ms, error } => {
            tracing::info!(message = "Action will be retried.", lane = ?Lane::of(&item.action), id = item.id, attempts = item.attempts + 1, %error);
            store.mark_retry(item.id, Status::Pending, retry_at(after_ms), &error)
        }
        Outcome::Unknown { error } => {
            tracing::warn!(message = "Action outcome unknown; will check before retrying.", lane = ?Lane::of(&item.action), id = item.id, %error);
            store.mark_retry(item.id, Status::Attempting, retry_at(None), &error)
        }
    }
}

/// The span of one action's execution: a child of the span of the message that decided it
/// (read back from the outbox), so it joins that message's trace even after a restart. It
/// covers the executor's round the action ran in.
fn execute_span<E: Executor>(item: &OutboxItem) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "execute",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        cutover.lane = E::LANE.as_str(),
        cutover.action = item.action.name(),
        cutover.deployment_id = item.action.deployment_id(),
        cutover.outbox_id = item.id,
        cutover.attempt = item.attempts + 1,
        cutover.outcome = tracing::field::Empty,
    );
    if let Some(traceparent) = &item.traceparent {
        crate::telemetry::set_parent(&span, traceparent);
    }
    span
}

/// Runs the lane until `shutdown` (the intake has stopped) and nothing is due, or until
/// `hard_stop` (the end of the shutdown grace, counted from the signal), whichever comes first:
/// a hard stop ends even a round in flight, whose actions are then found `attempting` and
/// looked up at the next start, as after a crash.
pub async fn run<E: Executor>(
    mut executor: E,
    mut store: Box<dyn Store>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    backoff: Backoff,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let stopped_at_grace = |store: &mut dyn Store| {
        let waiting = store.next_due(E::LANE).ok().flatten().is_some();
        tracing::info!(message = "Lane stopped at the end of the shutdown grace.", lane = ?E::LANE, actions_left = waiting);
    };
    loop {
        if hard_stop.is_cancelled() {
            stopped_at_grace(store.as_mut());
            return;
        }
        let items = match store.due(E::LANE, now_ms(), E::BATCH) {
            Ok(items) => items,
            Err(error) => {
                tracing::error!(message = "Failed to read the outbox.", lane = ?E::LANE, %error);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = hard_stop.cancelled() => {}
                }
                continue;
            }
        };
        if items.is_empty() {
            let next = store.next_due(E::LANE).ok().flatten();
            if shutdown.is_cancelled() {
                match next {
                    None => tracing::info!(message = "Lane drained.", lane = ?E::LANE),
                    // Not drained: they wait for a retry, and run at the next start.
                    Some(_) => {
                        tracing::info!(message = "Lane stopped with actions waiting for a retry; they run at the next start.", lane = ?E::LANE)
                    }
                }
                return;
            }
            let wait_ms = match next {
                Some(next) => (next - now_ms()).clamp(1, 1_000),
                None => 1_000,
            };
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(wait_ms.unsigned_abs())) => {}
                () = shutdown.cancelled() => {}
                () = hard_stop.cancelled() => {}
            }
            continue;
        }
        let spans: Vec<tracing::Span> = items.iter().map(execute_span::<E>).collect();
        let started = std::time::Instant::now();
        let outcomes = tokio::select! {
            outcomes = executor.execute(&items, store.as_mut()) => outcomes,
            () = hard_stop.cancelled() => {
                tracing::info!(message = "Lane stopped mid-round at the end of the shutdown grace; its actions are looked up at the next start.", lane = ?E::LANE);
                return;
            }
        };
        metrics.call(E::LANE, started.elapsed().as_secs_f64());
        for (id, outcome) in outcomes {
            match &outcome {
                Outcome::Retry { .. } | Outcome::Unknown { .. } => metrics.retry(E::LANE),
                Outcome::SetupFault(why) => {
                    metrics.retry(E::LANE);
                    if !E::OWN_SETUP_FAULTS {
                        metrics.setup_fault(E::LANE, why);
                    }
                }
                Outcome::Done(_) if !E::OWN_SETUP_FAULTS => metrics.setup_ok(E::LANE),
                _ => {}
            }
            let Some(index) = items.iter().position(|i| i.id == id) else { continue };
            let item = &items[index];
            spans[index].record("cutover.outcome", outcome.name());
            if let Outcome::Failed(_) = outcome {
                spans[index].record("otel.status_code", "ERROR");
            }
            match record(store.as_mut(), item, outcome, &backoff) {
                Ok(()) => {}
                // A replica sharing the store finished it first (a superseded Slack update).
                Err(StoreError::Conflict { .. }) => {
                    tracing::info!(message = "Another replica finished the action first.", lane = ?E::LANE, id);
                }
                Err(error) => {
                    tracing::error!(message = "Failed to record an action's outcome.", lane = ?E::LANE, id, %error);
                }
            }
        }
    }
}
