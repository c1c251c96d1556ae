//! The driver: the service's core loop, and the one task that owns the correlator. For each
//! batch the intake hands over (and each answer of the reconciler) it decides, journals the
//! inputs that changed the state, commits them with the decided actions in one transaction,
//! wakes the lanes, and only then lets the queue delete the messages. It snapshots every
//! `[store] snapshot_every` entries; with replicas it catches up on what the others committed
//! before deciding, and rebuilds from the store when it lost a commit race. [`recover`] is the
//! one way state is rebuilt: at start, after a lost race, and from a compacted journal.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use cutover_correlator::correlator::controls::{Request, Verdict};
use cutover_correlator::{Action, Correlator, Input, Observation, State};
use cutover_events::{Timestamp, parse_body, parse_body_at};
use tokio::sync::{Notify, mpsc, watch};
use tracing::Instrument as _;

use crate::clock::now_ms;
use crate::config::Config;
use crate::intake::{Batch, IntakeCounters, Queue};
use crate::store::{Journal, JournalEntry, Lane, NewAction, StoreError};

/// The one task that owns the correlator: decides each batch and observation, journals and
/// commits it with its actions, wakes the lanes, snapshots, and catches up with (or rebuilds
/// from) what other replicas committed.
pub struct Driver {
    correlator: Correlator,
    store: Box<dyn Journal>,
    queue: Queue,
    wake: Vec<(Lane, Arc<Notify>)>,
    counters: Arc<IntakeCounters>,
    /// Decisions, detection lag, receive lag.
    metrics: Arc<crate::metrics::Metrics>,
    snapshot_every: u32,
    /// Where events may come from.
    allow: crate::config::IntakeConfig,
    /// Journal entries since the last snapshot, and the last journal seq.
    since_snapshot: u32,
    last_seq: i64,
    /// Rebuilds the correlator from the store (snapshot + journal): `(correlator, last seq,
    /// entries replayed)`. Needed with a shared store, after losing a commit race.
    rebuild: Option<Rebuild>,
    /// What the reconciler learned from the AWS APIs, handled between batches.
    observations: Option<mpsc::Receiver<Observation>>,
    /// Kept current after each batch: what the reconciler should ask about.
    in_flight: Option<watch::Sender<cutover_correlator::Wanted>>,
    /// Readings asked from Slack (`/cutover status`), answered between batches.
    queries: Option<mpsc::Receiver<crate::interact::Query>>,
    /// The wall clock (ms) and the event clock when the last input was handled: while no input
    /// comes, the event clock is taken to run with the wall clock from there.
    quiet_since: (i64, Timestamp),
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

/// The key of a journaled request from Slack: `{"cutover.control": <Request>}`. No SQS body
/// Cutover accepts has it.
pub const CONTROL_KEY: &str = "cutover.control";

/// The journal entry of a request from Slack.
pub fn control_entry(r: &Request) -> String {
    let mut entry = serde_json::Map::new();
    entry.insert(CONTROL_KEY.to_owned(), serde_json::to_value(r).unwrap_or_default());
    serde_json::Value::Object(entry).to_string()
}

/// The journal entry of a timeout: `{"cutover.timeout": {}}`, its `now` the entry's own. No SQS
/// body Cutover accepts has the key.
pub const TIMEOUT_ENTRY: &str = r#"{"cutover.timeout":{}}"#;

/// `first` and the batches already waiting behind it, as one, up to about `max` messages (the
/// store's [`Journal::gather_max`]): under a backlog, one transaction (one `fsync`) for several
/// receives instead of one each. Nothing waits for more: with no backlog it is `first` alone.
/// The oldest receipt time is kept, so a visibility extension is not missed.
fn gather(first: Batch, rx: &mut mpsc::Receiver<Batch>, max: usize) -> Batch {
    let mut batch = first;
    while batch.messages.len() < max {
        let Ok(more) = rx.try_recv() else { break };
        batch.messages.extend(more.messages);
        batch.received_at = batch.received_at.min(more.received_at);
    }
    batch
}

/// What a journal entry was.
#[derive(Debug)]
pub enum Entry {
    /// An SQS body or an observation, for [`Correlator::handle`].
    Input(Input),
    /// Time passed with no input: [`Correlator::handle_timeout`].
    Timeout,
}

/// A journal entry back into what it was; `None` for a body this version cannot read (it is
/// skipped, as an earlier version skips a timeout entry).
pub fn journal_entry(body: &str) -> Option<Entry> {
    if body == TIMEOUT_ENTRY {
        return Some(Entry::Timeout);
    }
    journal_input(body).map(Entry::Input)
}

/// A journal entry (an SQS body or an observation) back into the input it was.
pub fn journal_input(body: &str) -> Option<Input> {
    if body.starts_with(&format!("{{\"{OBSERVATION_KEY}\"")) {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        return serde_json::from_value(v.get(OBSERVATION_KEY)?.clone()).ok().map(Input::Observed);
    }
    if body.starts_with(&format!("{{\"{CONTROL_KEY}\"")) {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        return serde_json::from_value::<Request>(v.get(CONTROL_KEY)?.clone())
            .ok()
            .map(|r| Input::Control(Box::new(r)));
    }
    parse_body(body).ok().map(|m| Input::Message(Box::new(m)))
}

/// Rebuilds the correlator from the store: `(correlator, last seq, entries replayed)`.
pub type Rebuild = Arc<dyn Fn(&mut dyn Journal) -> Result<(Correlator, i64, u32), RecoverError> + Send + Sync>;

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("queue_url", &self.queue.url)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

/// Why the driver stopped: the store refused a commit several times. The process exits and a
/// restart recovers; nothing uncommitted was deleted from the queue.
#[derive(Debug, thiserror::Error)]
#[error("cannot commit to the store")]
pub struct CommitFailed(#[from] pub StoreError);

impl Driver {
    /// A driver over `correlator` and `store`, for `queue`: fresh counters and metrics, no
    /// allow-list, nothing to wake, a snapshot every 1,000 journal entries, no reconciler.
    pub fn new(correlator: Correlator, store: Box<dyn Journal>, queue: Queue) -> Self {
        Self {
            correlator,
            store,
            queue,
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
            queries: None,
            quiet_since: (now_ms(), Timestamp::default()),
        }
    }

    /// The lanes to wake when actions of theirs are committed.
    #[must_use]
    pub fn with_wake(mut self, wake: Vec<(Lane, Arc<Notify>)>) -> Self {
        self.wake = wake;
        self
    }

    /// Counters and metrics shared with the health endpoints and telemetry.
    #[must_use]
    pub fn with_counters(mut self, counters: Arc<IntakeCounters>, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.counters = counters;
        self.metrics = metrics;
        self
    }

    /// `[store] snapshot_every` and `[intake]`, and how to rebuild from the store ([`recover`]
    /// with this config) after losing a commit race.
    #[must_use]
    pub fn with_config(mut self, config: &Config) -> Self {
        self.snapshot_every = config.store.snapshot_every.max(1);
        self.allow = config.intake.clone();
        let config = config.clone();
        self.rebuild = Some(Arc::new(move |store: &mut dyn Journal| recover(store, &config)));
        self
    }

    /// Where the recovered state stands: the last journal seq and the entries since the
    /// snapshot.
    #[must_use]
    pub fn recovered_at(mut self, last_seq: i64, since_snapshot: u32) -> Self {
        self.last_seq = last_seq;
        self.since_snapshot = since_snapshot;
        self
    }

    /// The reconciler's answers in, and what it should ask about out.
    #[must_use]
    pub fn with_reconciler(
        mut self,
        observations: mpsc::Receiver<Observation>,
        in_flight: watch::Sender<cutover_correlator::Wanted>,
    ) -> Self {
        self.observations = Some(observations);
        self.in_flight = Some(in_flight);
        self
    }

    /// Readings asked from Slack, answered between two inputs.
    #[must_use]
    pub fn with_queries(mut self, queries: mpsc::Receiver<crate::interact::Query>) -> Self {
        self.queries = Some(queries);
        self
    }

    /// Handles batches until every receiver has stopped and the channel is drained; when no
    /// input comes until the correlator's next timeout, handles that.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Batch>) -> Result<(), CommitFailed> {
        let mut observations = self.observations.take();
        let mut queries = self.queries.take();
        self.quiet_since = (now_ms(), self.correlator.clock());
        self.publish_in_flight();
        loop {
            let timer = self.timeout_in();
            let sleep = async move {
                match timer {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                b = rx.recv() => Next::Batch(b),
                o = next_of(&mut observations) => Next::Observation(o),
                q = next_of(&mut queries) => Next::Query(q),
                () = sleep => Next::Timeout,
            };
            match next {
                Next::Batch(Some(batch)) => {
                    let max = self.store.gather_max();
                    self.handle(gather(batch, &mut rx, max)).await?;
                }
                Next::Batch(None) => break,
                Next::Observation(Some(o)) => self.observe(o).await?,
                Next::Observation(None) => observations = None,
                // A request to act is an input: journaled, and the quiet clock restarts.
                Next::Query(Some(crate::interact::Query::Act { request, reply })) => {
                    let verdict = self.act(*request).await?;
                    let _ = reply.send(verdict);
                }
                // A reading changes nothing: the quiet clock goes on from the last input.
                Next::Query(Some(q)) => {
                    self.answer(q);
                    continue;
                }
                Next::Query(None) => {
                    queries = None;
                    continue;
                }
                Next::Timeout => self.timeout().await?,
            }
            self.quiet_since = (now_ms(), self.correlator.clock());
            self.publish_in_flight();
        }
        self.snapshot();
        Ok(())
    }

    /// Answers a reading from Slack (`/cutover status`) from the correlator's state. With
    /// replicas, another one's latest commits may not be applied yet: the answer is as of this
    /// replica's last batch.
    pub fn answer(&self, query: crate::interact::Query) {
        match query {
            crate::interact::Query::Status { service, environment, reply } => {
                let _ = reply.send(self.correlator.status(service.as_deref(), environment.as_deref()));
            }
            crate::interact::Query::Act { reply, .. } => {
                let _ = reply.send(Verdict::Refused("Cutover could not take the request; nothing was done.".into()));
            }
        }
    }

    /// Decides a request from Slack, and journals it with what it decided, in one commit: the
    /// verdict is sent only once the call is in the outbox (or known refused). With replicas,
    /// it first catches up, so a request another replica already decided is refused here.
    pub async fn act(&mut self, request: Request) -> Result<Verdict, CommitFailed> {
        let mut attempt = 0;
        loop {
            if self.store.shared() {
                self.catch_up()?;
            }
            let now = Timestamp(now_ms());
            let (verdict, decided) = self.correlator.act(&request);
            self.metrics.decided(&decided);
            let actions: Vec<NewAction> = decided.into_iter().map(NewAction::from).collect();
            match self.commit(&[(now, control_entry(&request))], &actions).await {
                Err(CommitFailed(StoreError::Conflict { .. })) if attempt < 10 => {
                    attempt += 1;
                    self.rebuild()?;
                }
                Err(e) => return Err(e),
                Ok(()) => {
                    let accepted = matches!(verdict, Verdict::Accepted(_));
                    tracing::info!(
                        message = if accepted { "Acting for a Slack user." } else { "Refused a Slack user's request." },
                        user_id = %request.user,
                        request_id = %request.id,
                        ask = ?request.ask,
                        verdict = %verdict.text(),
                    );
                    return Ok(verdict);
                }
            }
        }
    }

    /// The event time now, had the event clock run with the wall clock since the last input.
    fn quiet_clock(&self) -> Timestamp {
        let (wall, clock) = self.quiet_since;
        clock.plus_millis((now_ms() - wall).max(0))
    }

    /// How long until the correlator's next timeout, counted on the wall clock from the last
    /// input (`None`: it has nothing to expire).
    fn timeout_in(&self) -> Option<Duration> {
        let next = self.correlator.next_timeout()?;
        let ahead = next.millis() - self.quiet_clock().millis();
        Some(Duration::from_millis(u64::try_from(ahead).unwrap_or(0)))
    }

    /// No input came until the correlator's next timeout: it expires what is past the retention
    /// at the event time the quiet stretch has reached, and the timeout is journaled (so a
    /// rebuild expires the same state at the same point) with whatever it decided.
    pub async fn timeout(&mut self) -> Result<(), CommitFailed> {
        let mut attempt = 0;
        loop {
            if self.store.shared() {
                self.catch_up()?;
            }
            let now = self.quiet_clock();
            let decided = self.correlator.handle_timeout(now);
            self.metrics.decided(&decided);
            let actions: Vec<NewAction> = decided.into_iter().map(NewAction::from).collect();
            match self.commit(&[(now, TIMEOUT_ENTRY.to_owned())], &actions).await {
                Err(CommitFailed(StoreError::Conflict { .. })) if attempt < 10 => {
                    attempt += 1;
                    self.rebuild()?;
                }
                other => return other,
            }
        }
    }

    fn publish_in_flight(&self) {
        if let Some(tx) = &self.in_flight {
            let wanted = self.correlator.wanted();
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
            > Duration::from_secs(u64::try_from(self.queue.cfg.visibility_timeout_secs / 2).unwrap_or(30))
        {
            self.queue.extend_visibility(&batch.messages).await;
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
        self.since_snapshot += u32::try_from(entries.len()).unwrap_or(u32::MAX);
        if let Some(last) = apply(&mut self.correlator, entries) {
            self.last_seq = last;
        }
        Ok(())
    }

    /// Replaces the state with the store's (snapshot + journal).
    fn rebuild(&mut self) -> Result<(), CommitFailed> {
        let Some(rebuild) = self.rebuild.clone() else {
            return Err(CommitFailed(StoreError::Conflict { operation: "rebuild (no way to rebuild the state)" }));
        };
        let (correlator, last_seq, replayed) =
            tokio::task::block_in_place(|| rebuild(self.store.as_mut())).map_err(|e| match e {
                RecoverError::Store(e) => CommitFailed(e),
                RecoverError::Snapshot(e) => {
                    CommitFailed(StoreError::Corrupt { operation: "rebuild", detail: format!("the snapshot: {e}") })
                }
            })?;
        self.correlator = correlator;
        self.last_seq = last_seq;
        self.since_snapshot = replayed;
        Ok(())
    }

    async fn handle_once(&mut self, batch: &Batch) -> Result<(), CommitFailed> {
        // Parse, decide, journal and commit: synchronous work on this thread (the commit
        // blocks in place), measured as its CPU time.
        let cpu = crate::metrics::ThreadCpu::start();
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
        if let Some(spent) = cpu.elapsed() {
            self.metrics.driver_cpu(spent);
        }
        for (msg, reason, span) in rejected {
            if self
                .queue
                .dead_letter(msg, &reason, &self.counters)
                .instrument(tracing::info_span!(parent: &span, "dead_letter"))
                .await
            {
                done.push(msg);
            }
        }
        self.queue.delete(&done, &self.counters).await;
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

/// Why the state could not be rebuilt from the store.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("reading the journal")]
    Store(#[source] StoreError),
    #[error("reading the snapshot")]
    Snapshot(#[source] serde_json::Error),
}

/// Rebuilds the correlator from the latest snapshot and the journal after it. The actions the
/// replay decides are dropped: the outbox already holds them. Returns the correlator, the last
/// journal seq and how many entries were replayed.
pub fn recover(store: &mut dyn Journal, config: &Config) -> Result<(Correlator, i64, u32), RecoverError> {
    let recovery = store.recover().map_err(RecoverError::Store)?;
    let mut correlator = Correlator::new(config.routing()).with_retention_ms(config.retention_ms());
    let mut last_seq = 0;
    if let Some((seq, state)) = &recovery.snapshot {
        let state: State = serde_json::from_str(state).map_err(RecoverError::Snapshot)?;
        correlator = correlator.with_state(state);
        last_seq = *seq;
    }
    let replayed = u32::try_from(recovery.journal.len()).unwrap_or(u32::MAX);
    last_seq = apply(&mut correlator, recovery.journal).unwrap_or(last_seq);
    Ok((correlator, last_seq, replayed))
}

/// Applies journal entries to `correlator` (what they decided is already in the outbox); the
/// last entry's seq, if any.
fn apply(correlator: &mut Correlator, entries: Vec<JournalEntry>) -> Option<i64> {
    let mut last = None;
    for entry in entries {
        let _ = match journal_entry(&entry.body) {
            Some(Entry::Input(input)) => correlator.handle(entry.now, input),
            Some(Entry::Timeout) => correlator.handle_timeout(entry.now),
            None => Vec::new(),
        };
        last = Some(entry.seq);
    }
    last
}

/// What the driver's loop woke for.
enum Next {
    Batch(Option<Batch>),
    Observation(Option<Observation>),
    Query(Option<crate::interact::Query>),
    Timeout,
}

/// The next item of `rx`; never, when there is none.
async fn next_of<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::GATHER_MAX;

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

    /// A driver over an SQLite store in memory that has journaled the rolling scenario, as
    /// `serve` would have, and its correlator (the queue is never called).
    fn quiet_driver() -> (Driver, Vec<String>) {
        let lines: Vec<String> =
            include_str!("../../../tests/scenarios/rolling/input.jsonl").lines().map(str::to_owned).collect();
        let mut store = crate::store::sqlite::SqliteStore::in_memory().expect("store");
        let mut correlator = Correlator::new(Config::default().routing());
        for line in &lines {
            let now = correlator.clock().plus_millis(250);
            let decided = correlator.handle(now, journal_input(line).expect("a scenario line reads back"));
            let actions: Vec<NewAction> = decided.into_iter().map(NewAction::from).collect();
            Journal::commit(&mut store, &[(now, line.clone())], &actions).expect("commit");
        }
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(aws_sdk_sqs::config::Region::new("eu-west-1"))
                .build(),
        );
        let queue = Queue { sqs, url: "http://127.0.0.1:9/queue".into(), cfg: Config::default().sqs };
        let last = i64::try_from(lines.len()).expect("few lines");
        let driver = Driver::new(correlator, Box::new(store), queue).recovered_at(last, 0);
        (driver, lines)
    }

    #[test]
    fn a_quiet_queue_times_out_at_the_next_sweep_counted_from_the_last_input() {
        let (mut driver, _) = quiet_driver();
        let clock = driver.correlator.clock();
        let next = driver.correlator.next_timeout().expect("state to expire");
        driver.quiet_since = (now_ms(), clock);
        let wait = driver.timeout_in().expect("a timer").as_millis();
        let gap = u128::try_from(next.millis() - clock.millis()).expect("ahead");
        assert!(wait <= gap && wait + 5_000 >= gap, "waits {wait} ms for a sweep {gap} ms of event time ahead");
        // Quiet for longer than that: due now.
        driver.quiet_since = (now_ms() - i64::try_from(gap).expect("small") - 1, clock);
        assert_eq!(driver.timeout_in(), Some(Duration::ZERO));
    }

    /// Eight quiet days: the timeout expires everything, is journaled, and a rebuild from the
    /// store (snapshot-less, journal only) comes to the same state: the scenario's lines
    /// redelivered decide nothing on either.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timeout_is_journaled_so_a_rebuild_expires_the_same_state() {
        let (mut driver, lines) = quiet_driver();
        assert!(driver.correlator.deployments_held() > 0);
        let clock = driver.correlator.clock();
        driver.quiet_since = (now_ms() - 8 * 24 * 3600 * 1000, clock);
        driver.timeout().await.expect("the timeout commits");
        assert_eq!(driver.correlator.deployments_held(), 0, "eight quiet days: all past the retention");
        let recovery = tokio::task::block_in_place(|| driver.store.recover()).expect("recover");
        assert_eq!(recovery.journal.last().map(|e| e.body.as_str()), Some(TIMEOUT_ENTRY), "journaled last");
        let (mut rebuilt, last_seq, _) =
            tokio::task::block_in_place(|| recover(driver.store.as_mut(), &Config::default())).expect("rebuild");
        assert_eq!(last_seq, i64::try_from(lines.len() + 1).expect("few"), "the timeout has its seq");
        assert_eq!(rebuilt.deployments_held(), 0, "the rebuild expired the same state");
        assert_eq!(rebuilt.clock(), driver.correlator.clock());
        for line in &lines {
            let input = || journal_input(line).expect("reads back");
            assert!(rebuilt.handle(rebuilt.clock(), input()).is_empty(), "stale after the rebuild: {line}");
            assert!(driver.correlator.handle(rebuilt.clock(), input()).is_empty(), "stale in the driver");
        }
    }

    /// A journal that counts its transactions.
    #[derive(Debug)]
    struct Counted {
        store: crate::store::sqlite::SqliteStore,
        commits: Arc<std::sync::atomic::AtomicUsize>,
        /// The bodies journaled, in order.
        journaled: Arc<std::sync::Mutex<Vec<String>>>,
        /// What it says of [`Journal::gather_max`]: SQLite's, or a bounded store's.
        gather: usize,
    }

    impl Journal for Counted {
        fn recover(&mut self) -> Result<crate::store::Recovery, StoreError> {
            self.store.recover()
        }

        fn commit(&mut self, entries: &[(Timestamp, String)], actions: &[NewAction]) -> Result<Vec<i64>, StoreError> {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.journaled.lock().expect("journaled").extend(entries.iter().map(|(_, b)| b.clone()));
            Journal::commit(&mut self.store, entries, actions)
        }

        fn journal_since(&mut self, seq: i64) -> Result<Option<Vec<JournalEntry>>, StoreError> {
            self.store.journal_since(seq)
        }

        fn snapshot(&mut self, seq: i64, state: &str) -> Result<(), StoreError> {
            self.store.snapshot(seq, state)
        }

        fn gather_max(&self) -> usize {
            self.gather
        }
    }

    /// A backlog: the batches already waiting when the driver takes one are decided and
    /// committed with it, in one transaction, in the order received; the journal is the same
    /// as one batch at a time would have made it. A store with bounded transactions
    /// (DynamoDB's 100 items) keeps to one receive a transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_waiting_together_are_committed_in_one_transaction_in_order() {
        let (_, lines) = quiet_driver();
        let batches = lines.len().div_ceil(3);
        assert_eq!(drain_in_batches_of_three(&lines, GATHER_MAX).await, 1, "{batches} batches, one transaction");
        assert_eq!(drain_in_batches_of_three(&lines, 3).await, batches, "bounded: one transaction a batch");
        let default = crate::store::sqlite::SqliteStore::in_memory().expect("store");
        assert_eq!(Journal::gather_max(&default), GATHER_MAX, "SQLite gathers");
    }

    /// Runs `lines` through a driver as batches of three, all waiting at once, over a journal
    /// that gathers up to `gather`; the number of transactions it made.
    async fn drain_in_batches_of_three(lines: &[String], gather: usize) -> usize {
        let (quiet, _) = quiet_driver();
        let commits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let store = crate::store::sqlite::SqliteStore::in_memory().expect("store");
        let journaled = Arc::new(std::sync::Mutex::new(Vec::new()));
        let journal = Counted { store, commits: commits.clone(), journaled: journaled.clone(), gather };
        let driver = Driver::new(Correlator::new(Config::default().routing()), Box::new(journal), quiet.queue.clone());
        let (tx, rx) = mpsc::channel(lines.len());
        for (b, chunk) in lines.chunks(3).enumerate() {
            let messages = chunk
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    Message::builder()
                        .message_id(format!("m-{b}-{i}"))
                        .receipt_handle(format!("r-{b}-{i}"))
                        .body(line)
                        .build()
                })
                .collect();
            tx.send(Batch { messages, received_at: std::time::Instant::now() }).await.expect("queued");
        }
        drop(tx);
        // Runs until the channel is closed and empty.
        driver.run(rx).await.expect("decided and committed");
        assert_eq!(*journaled.lock().expect("journaled"), lines, "every line, in the order received");
        commits.load(Ordering::Relaxed)
    }

    #[test]
    fn gathering_stops_at_its_bound_and_never_waits() {
        let (tx, mut rx) = mpsc::channel(64);
        let batch = |n: usize| Batch {
            messages: (0..n).map(|i| Message::builder().message_id(i.to_string()).build()).collect(),
            received_at: std::time::Instant::now(),
        };
        for _ in 0..30 {
            tx.try_send(batch(10)).expect("room");
        }
        let first = rx.try_recv().expect("one");
        assert_eq!(gather(first, &mut rx, GATHER_MAX).messages.len(), GATHER_MAX);
        assert_eq!(rx.len(), 30 - GATHER_MAX / 10, "the rest waits for the next round");
        let lone = gather(batch(3), &mut mpsc::channel(1).1, GATHER_MAX);
        assert_eq!(lone.messages.len(), 3, "nothing waiting: the batch alone");
    }
}
