//! Operator metrics, from one registry: [`REGISTRY`] names each metric once, with its kind,
//! unit, attributes and help. `/metrics` renders it as Prometheus text ([`prometheus`]), the
//! OTLP exporter registers its instruments under the same name and help, and docs/config.md's
//! table lists it (a test fails when any of the three differ). Lock-free: atomics only.
//!
//! The figures: the intake's counters, decisions by lifecycle type, detection lag
//! (`observed_at - at`), SQS receive lag, action duration and retries per executor, Slack 429s,
//! setup faults, the outbox by lane and status. Each is also recorded into an OpenTelemetry
//! instrument of the global meter (exported over OTLP when `[telemetry]` names a collector, a
//! no-op otherwise): make [`Metrics`] after [`crate::telemetry::Telemetry::init`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cutover_correlator::Action;
use cutover_events::emitted::DetailType;
use opentelemetry::KeyValue;
use opentelemetry::metrics as otel;

use crate::store::{Health, Lane, Status};

/// What kind of instrument a metric is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    /// In seconds.
    Histogram,
    Gauge,
}

/// One metric: its OpenTelemetry name, kind, attributes and help, written once.
#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

impl Def {
    /// The Prometheus name: dots become underscores, and counters get `_total`, histograms
    /// `_seconds`.
    pub fn prometheus(&self) -> String {
        let base = self.name.replace('.', "_");
        match self.kind {
            Kind::Counter => format!("{base}_total"),
            Kind::Histogram => format!("{base}_seconds"),
            Kind::Gauge => base,
        }
    }

    /// How docs/config.md's table writes its kind.
    pub fn docs_kind(&self) -> &'static str {
        match self.kind {
            Kind::Counter => "counter",
            Kind::Histogram => "histogram (s)",
            Kind::Gauge => "gauge",
        }
    }

    /// The `# HELP` and `# TYPE` lines.
    fn header(&self, out: &mut String) {
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
            Kind::Gauge => "gauge",
        };
        let name = self.prometheus();
        let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {kind}", self.help);
    }
}

const fn def(name: &'static str, kind: Kind, labels: &'static [&'static str], help: &'static str) -> Def {
    Def { name, kind, labels, help }
}

pub const RECEIVED: Def = def("cutover.sqs.messages.received", Kind::Counter, &[], "Messages received from SQS.");
pub const ACCEPTED: Def = def("cutover.messages.accepted", Kind::Counter, &[], "Relevant messages handled.");
pub const IGNORED: Def = def(
    "cutover.messages.ignored",
    Kind::Counter,
    &[],
    "Well-formed messages Cutover does not use (stale ones among them).",
);
pub const STALE: Def = def(
    "cutover.messages.stale",
    Kind::Counter,
    &[],
    "Messages ignored as older than the retention behind the event clock.",
);
pub const DUPLICATE: Def = def("cutover.messages.duplicate", Kind::Counter, &[], "Redeliveries absorbed.");
pub const REJECTED: Def =
    def("cutover.messages.rejected", Kind::Counter, &["reason"], "Malformed or not allowed messages, by reason.");
pub const DEAD_LETTERED: Def =
    def("cutover.messages.dead_lettered", Kind::Counter, &[], "Malformed messages sent to the dead-letter queue.");
pub const DELETED: Def = def("cutover.sqs.messages.deleted", Kind::Counter, &[], "Messages deleted after commit.");
pub const DELETE_FAILURES: Def =
    def("cutover.sqs.delete_failures", Kind::Counter, &[], "Messages whose delete failed (redelivered, deduplicated).");
pub const RECEIVE_ERRORS: Def = def("cutover.sqs.receive_errors", Kind::Counter, &[], "Failed receives.");
pub const ACTIONS: Def =
    def("cutover.actions.decided", Kind::Counter, &[], "Actions decided and committed to the outbox.");
pub const DRIVER_CPU: Def = def(
    "cutover.driver.cpu_seconds",
    Kind::Counter,
    &[],
    "CPU time (user and system, of its thread) the driver spent parsing, deciding, journaling and committing received messages.",
);
pub const DECISIONS: Def = def("cutover.decisions", Kind::Counter, &["type"], "Lifecycle events decided, by type.");
pub const DETECTION_LAG: Def = def(
    "cutover.detection_lag",
    Kind::Histogram,
    &[],
    "Decision time minus the AWS time of the step (observed_at - at).",
);
pub const RECEIVE_LAG: Def =
    def("cutover.sqs.receive_lag", Kind::Histogram, &[], "Receipt time minus the message's SQS SentTimestamp.");
pub const DURATION: Def =
    def("cutover.action.duration", Kind::Histogram, &["lane"], "Duration of one executor round of calls.");
pub const RETRIES: Def =
    def("cutover.action.retries", Kind::Counter, &["lane"], "Actions put back for a retry, by executor.");
pub const RATE_LIMITED: Def =
    def("cutover.slack.rate_limited", Kind::Counter, &[], "Slack 429 answers (never counted as sent).");
pub const SETUP_FAULT: Def = def(
    "cutover.setup_fault",
    Kind::Gauge,
    &["lane"],
    "1 while an executor's actions wait on a setup fault (a refused Slack token, a missing bus or distribution).",
);
pub const SINK_OUTCOMES: Def = def(
    "cutover.sink.outcomes",
    Kind::Counter,
    &["sink", "outcome"],
    "Sink actions by sink and outcome (done, retry, unknown, failed, setup_fault, claimed).",
);
pub const SINK_RATE_LIMITED: Def =
    def("cutover.sink.rate_limited", Kind::Counter, &["sink"], "429 answers (and GitHub's rate-limit 403) by sink.");
pub const SLACK_REQUESTS: Def = def(
    "cutover.slack.requests",
    Kind::Counter,
    &["endpoint", "outcome"],
    "Slack requests (commands, interactions) by outcome: refused (unsigned, bad_signature, stale, replayed) or answered; the Socket Mode connection (socket): connected, failed, lost.",
);
pub const OUTBOX: Def =
    def("cutover.outbox.actions", Kind::Gauge, &["lane", "status"], "Actions in the outbox by executor and status.");

/// Every metric Cutover has, in the order `/metrics` renders them.
pub const REGISTRY: [&Def; 23] = [
    &RECEIVED,
    &ACCEPTED,
    &IGNORED,
    &DUPLICATE,
    &DEAD_LETTERED,
    &DELETED,
    &DELETE_FAILURES,
    &RECEIVE_ERRORS,
    &ACTIONS,
    &DRIVER_CPU,
    &STALE,
    &REJECTED,
    &DECISIONS,
    &DETECTION_LAG,
    &RECEIVE_LAG,
    &DURATION,
    &RETRIES,
    &RATE_LIMITED,
    &SETUP_FAULT,
    &SINK_OUTCOMES,
    &SINK_RATE_LIMITED,
    &SLACK_REQUESTS,
    &OUTBOX,
];

/// A Prometheus histogram with fixed buckets (seconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, seconds: f64) {
        let seconds = seconds.max(0.0);
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}", count.load(Ordering::Relaxed));
        }
        let total = self.count.load(Ordering::Relaxed);
        let braces = |s: &str| if s.is_empty() { String::new() } else { format!("{{{s}}}") };
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{} {total}", braces(labels));
    }
}

const LAG_BOUNDS: &[f64] = &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0];
const CALL_BOUNDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];
const LANES: [Lane; 5] = Lane::ALL;

/// Everything `/metrics` shows besides the intake counters.
#[derive(Debug)]
pub struct Metrics {
    decisions: [AtomicU64; 6],
    /// `observed_at - at` of each lifecycle event.
    detection_lag: Histogram,
    /// Now minus the SQS `SentTimestamp` of each message received.
    receive_lag: Histogram,
    durations: [Histogram; LANES.len()],
    retries: [AtomicU64; LANES.len()],
    slack_rate_limited: AtomicU64,
    /// Nanoseconds of the driver's CPU time on received messages ([`ThreadCpu`]).
    driver_cpu_ns: AtomicU64,
    /// Per lane, the setup fault it meets now (a refused token, a missing bus or
    /// distribution), for `/readyz` and the `cutover_setup_fault` gauge. A std `Mutex`: held
    /// only to copy a string.
    setup_faults: Mutex<[Option<String>; LANES.len()]>,
    /// Per sink: actions by outcome, and 429s; and Slack's requests by outcome. Rare: a `Mutex` is enough.
    sinks: Mutex<SinkFigures>,
    otel: Instruments,
}

#[derive(Debug, Default)]
struct SinkFigures {
    outcomes: std::collections::BTreeMap<(String, &'static str), u64>,
    rate_limited: std::collections::BTreeMap<String, u64>,
    /// Slack requests by endpoint and outcome.
    slack_requests: std::collections::BTreeMap<(&'static str, &'static str), u64>,
    /// Per sink, the setup fault it meets now: one sink's refused token is not mended by
    /// another sink's success.
    faults: std::collections::BTreeMap<String, String>,
}

/// The OpenTelemetry side of the same figures.
#[derive(Debug)]
struct Instruments {
    decisions: otel::Counter<u64>,
    detection_lag: otel::Histogram<f64>,
    receive_lag: otel::Histogram<f64>,
    duration: otel::Histogram<f64>,
    retries: otel::Counter<u64>,
    slack_rate_limited: otel::Counter<u64>,
    driver_cpu: otel::Counter<f64>,
    sink_outcomes: otel::Counter<u64>,
    sink_rate_limited: otel::Counter<u64>,
    slack_requests: otel::Counter<u64>,
}

impl Instruments {
    fn new() -> Self {
        let meter = opentelemetry::global::meter("cutover");
        let histogram = |d: &Def, bounds: &[f64]| {
            meter.f64_histogram(d.name).with_unit("s").with_description(d.help).with_boundaries(bounds.to_vec()).build()
        };
        let counter = |d: &Def| meter.u64_counter(d.name).with_description(d.help).build();
        Self {
            decisions: counter(&DECISIONS),
            detection_lag: histogram(&DETECTION_LAG, LAG_BOUNDS),
            receive_lag: histogram(&RECEIVE_LAG, LAG_BOUNDS),
            duration: histogram(&DURATION, CALL_BOUNDS),
            retries: counter(&RETRIES),
            slack_rate_limited: counter(&RATE_LIMITED),
            driver_cpu: meter.f64_counter(DRIVER_CPU.name).with_unit("s").with_description(DRIVER_CPU.help).build(),
            sink_outcomes: counter(&SINK_OUTCOMES),
            sink_rate_limited: counter(&SINK_RATE_LIMITED),
            slack_requests: counter(&SLACK_REQUESTS),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            decisions: Default::default(),
            detection_lag: Histogram::new(LAG_BOUNDS),
            receive_lag: Histogram::new(LAG_BOUNDS),
            durations: LANES.map(|_| Histogram::new(CALL_BOUNDS)),
            retries: Default::default(),
            slack_rate_limited: AtomicU64::new(0),
            driver_cpu_ns: AtomicU64::new(0),
            setup_faults: Mutex::default(),
            sinks: Mutex::default(),
            otel: Instruments::new(),
        }
    }
}

/// The CPU time of the calling thread, from a start: what a stretch of synchronous work cost
/// (kernel time of its `fsync` included, the wait for the disk not).
#[derive(Debug)]
pub struct ThreadCpu {
    thread: std::thread::ThreadId,
    start: Option<std::time::Duration>,
}

/// The calling thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_now() -> Option<std::time::Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every Linux and macOS kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    (rc == 0).then(|| {
        std::time::Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
    })
}

impl ThreadCpu {
    pub fn start() -> Self {
        Self { thread: std::thread::current().id(), start: thread_cpu_now() }
    }

    /// The CPU time since [`ThreadCpu::start`], if still on the same thread (work that moved
    /// to another thread mid-way is not measured rather than measured wrong).
    pub fn elapsed(&self) -> Option<std::time::Duration> {
        if std::thread::current().id() != self.thread {
            return None;
        }
        thread_cpu_now()?.checked_sub(self.start?)
    }
}

fn lane_index(lane: Lane) -> usize {
    LANES.iter().position(|l| *l == lane).unwrap_or(0)
}

impl Metrics {
    /// Counts the lifecycle decisions among `actions` and their detection lag.
    pub fn decided(&self, actions: &[Action]) {
        for a in actions {
            if let Action::Emit { detail_type, detail, .. } = a {
                let i = DetailType::ALL.iter().position(|t| t == detail_type).unwrap_or(0);
                self.decisions[i].fetch_add(1, Ordering::Relaxed);
                self.otel.decisions.add(1, &[KeyValue::new("type", detail_type.as_str())]);
                let lag = (detail.observed_at.millis() - detail.at.millis()) as f64 / 1000.0;
                self.detection_lag.observe(lag);
                self.otel.detection_lag.record(lag.max(0.0), &[]);
            }
        }
    }

    /// A message was received `seconds` after SQS accepted it.
    pub fn received(&self, seconds: f64) {
        self.receive_lag.observe(seconds);
        self.otel.receive_lag.record(seconds.max(0.0), &[]);
    }

    /// One executor call of `lane` took `seconds`.
    pub fn call(&self, lane: Lane, seconds: f64) {
        self.durations[lane_index(lane)].observe(seconds);
        self.otel.duration.record(seconds, &[KeyValue::new("lane", lane.as_str())]);
    }

    pub fn retry(&self, lane: Lane) {
        self.retries[lane_index(lane)].fetch_add(1, Ordering::Relaxed);
        self.otel.retries.add(1, &[KeyValue::new("lane", lane.as_str())]);
    }

    /// Slack answered 429.
    pub fn rate_limited(&self) {
        self.slack_rate_limited.fetch_add(1, Ordering::Relaxed);
        self.otel.slack_rate_limited.add(1, &[]);
    }

    /// A sink's action ended in `outcome` (its [`crate::executors::Outcome::name`]).
    pub fn sink_outcome(&self, sink: &str, outcome: &'static str) {
        let mut f = self.sinks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *f.outcomes.entry((sink.to_owned(), outcome)).or_default() += 1;
        self.otel.sink_outcomes.add(1, &[KeyValue::new("sink", sink.to_owned()), KeyValue::new("outcome", outcome)]);
    }

    /// A Slack request to `endpoint` ended in `outcome` (a refusal's reason, or how it was
    /// answered).
    pub fn slack_request(&self, endpoint: &'static str, outcome: &'static str) {
        let mut f = self.sinks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *f.slack_requests.entry((endpoint, outcome)).or_default() += 1;
        self.otel.slack_requests.add(1, &[KeyValue::new("endpoint", endpoint), KeyValue::new("outcome", outcome)]);
    }

    /// A sink answered 429 (or GitHub's rate-limit 403).
    pub fn sink_rate_limited(&self, sink: &str) {
        let mut f = self.sinks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *f.rate_limited.entry(sink.to_owned()).or_default() += 1;
        self.otel.sink_rate_limited.add(1, &[KeyValue::new("sink", sink.to_owned())]);
    }

    /// A sink met a setup fault (`Some(why)`), or went through (`None`).
    pub fn sink_setup(&self, sink: &str, fault: Option<&str>) {
        let mut f = self.sinks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match fault {
            Some(why) => f.faults.insert(sink.to_owned(), why.to_owned()),
            None => f.faults.remove(sink),
        };
    }

    /// `lane` met a setup fault (`why`, a few words): its actions wait and are retried.
    pub fn setup_fault(&self, lane: Lane, why: &str) {
        let mut faults = self.setup_faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        faults[lane_index(lane)] = Some(why.to_owned());
    }

    /// An action of `lane` went through: whatever held it back is mended.
    pub fn setup_ok(&self, lane: Lane) {
        let mut faults = self.setup_faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        faults[lane_index(lane)] = None;
    }

    /// The lanes held back by a setup fault now, with why (the sink lane once per faulty sink).
    pub fn setup_faults(&self) -> Vec<(Lane, String)> {
        let faults = self.setup_faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<(Lane, String)> =
            LANES.iter().zip(faults.iter()).filter_map(|(l, f)| Some((*l, f.clone()?))).collect();
        let sinks = self.sinks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        out.extend(sinks.faults.values().map(|why| (Lane::Sinks, why.clone())));
        out
    }

    /// The driver spent `cpu` on received messages.
    pub fn driver_cpu(&self, cpu: std::time::Duration) {
        self.driver_cpu_ns.fetch_add(u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.otel.driver_cpu.add(cpu.as_secs_f64(), &[]);
    }

    /// Appends the Prometheus text of the figures it keeps.
    pub fn render(&self, out: &mut String) {
        DRIVER_CPU.header(out);
        let _ =
            writeln!(out, "{} {}", DRIVER_CPU.prometheus(), self.driver_cpu_ns.load(Ordering::Relaxed) as f64 / 1e9);
        DECISIONS.header(out);
        for (t, n) in DetailType::ALL.iter().zip(&self.decisions) {
            let _ =
                writeln!(out, "{}{{type=\"{}\"}} {}", DECISIONS.prometheus(), t.as_str(), n.load(Ordering::Relaxed));
        }
        DETECTION_LAG.header(out);
        self.detection_lag.render(out, &DETECTION_LAG.prometheus(), "");
        RECEIVE_LAG.header(out);
        self.receive_lag.render(out, &RECEIVE_LAG.prometheus(), "");
        DURATION.header(out);
        for (lane, h) in LANES.iter().zip(&self.durations) {
            h.render(out, &DURATION.prometheus(), &format!("lane=\"{}\"", lane.as_str()));
        }
        RETRIES.header(out);
        for (lane, n) in LANES.iter().zip(&self.retries) {
            let _ =
                writeln!(out, "{}{{lane=\"{}\"}} {}", RETRIES.prometheus(), lane.as_str(), n.load(Ordering::Relaxed));
        }
        RATE_LIMITED.header(out);
        let _ = writeln!(out, "{} {}", RATE_LIMITED.prometheus(), self.slack_rate_limited.load(Ordering::Relaxed));
        SETUP_FAULT.header(out);
        for (lane, faulty) in self.setup_fault_flags() {
            let _ = writeln!(out, "{}{{lane=\"{}\"}} {}", SETUP_FAULT.prometheus(), lane.as_str(), u8::from(faulty));
        }
        let sinks = self.sinks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        SINK_OUTCOMES.header(out);
        for ((sink, outcome), n) in &sinks.outcomes {
            let _ = writeln!(out, "{}{{sink=\"{sink}\",outcome=\"{outcome}\"}} {n}", SINK_OUTCOMES.prometheus());
        }
        SINK_RATE_LIMITED.header(out);
        for (sink, n) in &sinks.rate_limited {
            let _ = writeln!(out, "{}{{sink=\"{sink}\"}} {n}", SINK_RATE_LIMITED.prometheus());
        }
        SLACK_REQUESTS.header(out);
        for ((endpoint, outcome), n) in &sinks.slack_requests {
            let _ =
                writeln!(out, "{}{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} {n}", SLACK_REQUESTS.prometheus());
        }
    }

    /// Per lane, whether a setup fault holds it back now.
    fn setup_fault_flags(&self) -> Vec<(Lane, bool)> {
        let sink_fault = !self.sinks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).faults.is_empty();
        let faults = self.setup_faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        LANES.iter().zip(faults.iter()).map(|(l, f)| (*l, f.is_some() || (*l == Lane::Sinks && sink_fault))).collect()
    }
}

/// The whole `/metrics` text: the intake's counters, the rejections, what [`Metrics`] keeps,
/// and the outbox (when the store answered).
pub fn prometheus(counters: &IntakeCounters, metrics: &Metrics, outbox: Option<Vec<(Lane, Status, u64)>>) -> String {
    let mut out = String::new();
    for counter in &COUNTERS {
        counter.def.header(&mut out);
        let _ = writeln!(out, "{} {}", counter.def.prometheus(), (counter.read)(counters));
    }
    REJECTED.header(&mut out);
    for (reason, n) in counters.rejected_by_reason() {
        let _ = writeln!(out, "{}{{reason=\"{reason}\"}} {n}", REJECTED.prometheus());
    }
    metrics.render(&mut out);
    if let Some(counts) = outbox {
        OUTBOX.header(&mut out);
        for (lane, status, n) in counts {
            let _ = writeln!(
                out,
                "{}{{lane=\"{}\",status=\"{}\"}} {n}",
                OUTBOX.prometheus(),
                lane.as_str(),
                status.as_str()
            );
        }
    }
    out
}

/// Counters of what the intake saw; exposed on `/metrics` and over OTLP from [`COUNTERS`].
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

/// One counter of the intake: its metric and how to read it.
#[derive(Debug)]
pub struct Counter {
    pub def: &'static Def,
    pub read: fn(&IntakeCounters) -> u64,
}

/// The intake's counters (the rejections, by reason, are rendered beside them).
pub const COUNTERS: [Counter; 10] = [
    Counter { def: &RECEIVED, read: |c| c.received.load(Ordering::Relaxed) },
    Counter { def: &ACCEPTED, read: |c| c.accepted.load(Ordering::Relaxed) },
    Counter { def: &IGNORED, read: |c| c.ignored.load(Ordering::Relaxed) },
    Counter { def: &DUPLICATE, read: |c| c.duplicates.load(Ordering::Relaxed) },
    Counter { def: &DEAD_LETTERED, read: |c| c.dead_lettered.load(Ordering::Relaxed) },
    Counter { def: &DELETED, read: |c| c.deleted.load(Ordering::Relaxed) },
    Counter { def: &DELETE_FAILURES, read: |c| c.delete_failures.load(Ordering::Relaxed) },
    Counter { def: &RECEIVE_ERRORS, read: |c| c.receive_errors.load(Ordering::Relaxed) },
    Counter { def: &ACTIONS, read: |c| c.actions.load(Ordering::Relaxed) },
    Counter { def: &STALE, read: |c| c.stale.load(Ordering::Relaxed) },
];

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

/// Registers the counters kept as atomics (the intake's) and the outbox depth as observable
/// instruments, read at each export. A no-op without a meter provider.
pub fn observe(counters: &Arc<IntakeCounters>, metrics: &Arc<Metrics>, store: Arc<Mutex<Box<dyn Health>>>) {
    let meter = opentelemetry::global::meter("cutover");
    for counter in &COUNTERS {
        let (c, read) = (counters.clone(), counter.read);
        meter
            .u64_observable_counter(counter.def.name)
            .with_description(counter.def.help)
            .with_callback(move |o| o.observe(read(&c), &[]))
            .build();
    }
    let rejected = counters.clone();
    meter
        .u64_observable_counter(REJECTED.name)
        .with_description(REJECTED.help)
        .with_callback(move |o| {
            for (reason, n) in rejected.rejected_by_reason() {
                o.observe(n, &[KeyValue::new("reason", reason)]);
            }
        })
        .build();
    let faults = metrics.clone();
    meter
        .u64_observable_gauge(SETUP_FAULT.name)
        .with_description(SETUP_FAULT.help)
        .with_callback(move |o| {
            for (lane, faulty) in faults.setup_fault_flags() {
                o.observe(u64::from(faulty), &[KeyValue::new("lane", lane.as_str())]);
            }
        })
        .build();
    meter
        .u64_observable_gauge(OUTBOX.name)
        .with_description(OUTBOX.help)
        .with_callback(move |o| {
            let Some(counts) = store.lock().ok().and_then(|mut s| s.outbox_counts().ok()) else { return };
            for (lane, status, n) in counts {
                o.observe(n, &[KeyValue::new("lane", lane.as_str()), KeyValue::new("status", status.as_str())]);
            }
        })
        .build();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_counts_this_threads_work_and_is_not_read_from_another_thread() {
        let cpu = ThreadCpu::start();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i.wrapping_mul(i)));
        }
        assert!(cpu.elapsed().is_some_and(|d| d > std::time::Duration::ZERO), "{x}");
        let moved = std::thread::spawn(move || cpu.elapsed()).join().expect("joined");
        assert_eq!(moved, None, "started on another thread");
        let m = Metrics::default();
        m.driver_cpu(std::time::Duration::from_millis(1500));
        m.driver_cpu(std::time::Duration::from_millis(250));
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("\ncutover_driver_cpu_seconds_total 1.75\n"), "{out}");
    }

    #[test]
    fn histograms_are_cumulative_and_render_as_prometheus_text() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(7.0);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "lane=\"slack\"");
        assert!(out.contains("x_seconds_bucket{lane=\"slack\",le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{lane=\"slack\",le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{lane=\"slack\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_count{lane=\"slack\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_sum{lane=\"slack\"} 7.55\n"), "{out}");
    }

    /// docs/config.md's table: `(instrument, kind, attributes)` of each row.
    fn docs_rows() -> Vec<(String, String, Vec<String>)> {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md")).unwrap();
        docs.lines()
            .filter(|l| l.starts_with("| `cutover."))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').skip(1).map(str::trim).collect();
                let name = cells[0].trim_matches('`').to_owned();
                // `lane`, `status`; `reason`: `too_large`, … (the values after a colon).
                let names = cells[2].split(':').next().unwrap_or("");
                let labels = names.split('`').skip(1).step_by(2).map(str::to_owned).collect();
                (name, cells[1].to_owned(), labels)
            })
            .collect()
    }

    #[test]
    fn the_registry_and_the_docs_table_name_the_same_metrics_with_the_same_kind_and_attributes() {
        let rows = docs_rows();
        for d in REGISTRY {
            let row = rows.iter().find(|(n, _, _)| n == d.name);
            let Some((_, kind, labels)) = row else { panic!("docs/config.md misses {}", d.name) };
            assert_eq!(kind, d.docs_kind(), "{}: kind", d.name);
            assert_eq!(labels, &d.labels.to_vec(), "{}: attributes", d.name);
        }
        for (name, _, _) in &rows {
            assert!(REGISTRY.iter().any(|d| d.name == name), "docs/config.md names {name}, which Cutover has not");
        }
        let names: std::collections::BTreeSet<&str> = REGISTRY.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), REGISTRY.len(), "each metric once");
    }

    /// `/metrics` has exactly the registry's metrics, each with its help and type once, and
    /// every sample line under a name the registry gives.
    #[test]
    fn the_prometheus_text_renders_every_registered_metric_and_nothing_else() {
        let metrics = Metrics::default();
        metrics.setup_fault(Lane::Slack, "token_revoked");
        let text = prometheus(&IntakeCounters::default(), &metrics, Some(vec![(Lane::Slack, Status::Done, 2)]));
        for d in REGISTRY {
            let help = format!("# HELP {} {}\n", d.prometheus(), d.help);
            assert_eq!(text.matches(&help).count(), 1, "{} once, with its help:\n{text}", d.prometheus());
        }
        let helped = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(helped, REGISTRY.len(), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            let base = name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
            assert!(REGISTRY.iter().any(|d| d.prometheus() == base || d.prometheus() == name), "{line}");
        }
        assert!(text.contains("cutover_setup_fault{lane=\"slack\"} 1\n"), "{text}");
        assert!(text.contains("cutover_outbox_actions{lane=\"slack\",status=\"done\"} 2\n"), "{text}");
        assert_eq!(RECEIVE_ERRORS.prometheus(), "cutover_sqs_receive_errors_total");
        assert_eq!(DETECTION_LAG.prometheus(), "cutover_detection_lag_seconds");
    }
}
