//! Operator metrics beyond the intake counters, rendered as Prometheus text on `/metrics`:
//! decisions by lifecycle type, detection lag (`observed_at - at`), SQS receive lag, action
//! duration and retries per executor, Slack 429s. Lock-free: atomics only.
//!
//! Each figure is also recorded into an OpenTelemetry instrument of the global meter (exported
//! over OTLP when `[telemetry]` names a collector, a no-op otherwise): make [`Metrics`] after
//! [`crate::telemetry::Telemetry::init`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cutover_correlator::Action;
use cutover_events::emitted::DetailType;
use opentelemetry::KeyValue;
use opentelemetry::metrics as otel;

use crate::store::{Health, Lane};

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
const LANES: [Lane; 3] = [Lane::Slack, Lane::CloudFront, Lane::EventBridge];

/// Everything `/metrics` shows besides the intake counters.
#[derive(Debug)]
pub struct Metrics {
    decisions: [AtomicU64; 6],
    /// `observed_at - at` of each lifecycle event.
    detection_lag: Histogram,
    /// Now minus the SQS `SentTimestamp` of each message received.
    receive_lag: Histogram,
    durations: [Histogram; 3],
    retries: [AtomicU64; 3],
    slack_rate_limited: AtomicU64,
    /// Per lane, the setup fault it meets now (a refused token, a missing bus or
    /// distribution), for `/readyz` and the `cutover_setup_fault` gauge. A std `Mutex`: held
    /// only to copy a string.
    setup_faults: Mutex<[Option<String>; 3]>,
    otel: Instruments,
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
}

impl Instruments {
    fn new() -> Self {
        let meter = opentelemetry::global::meter("cutover");
        let histogram = |name: &'static str, description: &'static str, bounds: &[f64]| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(bounds.to_vec())
                .build()
        };
        Self {
            decisions: meter
                .u64_counter("cutover.decisions")
                .with_description("Lifecycle events decided, by type.")
                .build(),
            detection_lag: histogram(
                "cutover.detection_lag",
                "Decision time minus the AWS time of the step (observed_at - at).",
                LAG_BOUNDS,
            ),
            receive_lag: histogram(
                "cutover.sqs.receive_lag",
                "Receipt time minus the message's SQS SentTimestamp.",
                LAG_BOUNDS,
            ),
            duration: histogram("cutover.action.duration", "Duration of one executor round of calls.", CALL_BOUNDS),
            retries: meter
                .u64_counter("cutover.action.retries")
                .with_description("Actions put back for a retry, by executor.")
                .build(),
            slack_rate_limited: meter
                .u64_counter("cutover.slack.rate_limited")
                .with_description("Slack 429 answers (never counted as sent).")
                .build(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            decisions: Default::default(),
            detection_lag: Histogram::new(LAG_BOUNDS),
            receive_lag: Histogram::new(LAG_BOUNDS),
            durations: [Histogram::new(CALL_BOUNDS), Histogram::new(CALL_BOUNDS), Histogram::new(CALL_BOUNDS)],
            retries: Default::default(),
            slack_rate_limited: AtomicU64::new(0),
            setup_faults: Mutex::default(),
            otel: Instruments::new(),
        }
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

    /// The lanes held back by a setup fault now, with why.
    pub fn setup_faults(&self) -> Vec<(Lane, String)> {
        let faults = self.setup_faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        LANES.iter().zip(faults.iter()).filter_map(|(l, f)| Some((*l, f.clone()?))).collect()
    }

    /// Appends the Prometheus text.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP cutover_decisions_total Lifecycle events decided, by type.\n# TYPE cutover_decisions_total counter\n");
        for (t, n) in DetailType::ALL.iter().zip(&self.decisions) {
            let _ = writeln!(out, "cutover_decisions_total{{type=\"{}\"}} {}", t.as_str(), n.load(Ordering::Relaxed));
        }
        out.push_str("# HELP cutover_detection_lag_seconds Decision time minus the AWS time of the step (observed_at - at).\n# TYPE cutover_detection_lag_seconds histogram\n");
        self.detection_lag.render(out, "cutover_detection_lag_seconds", "");
        out.push_str("# HELP cutover_sqs_receive_lag_seconds Receipt time minus the message's SQS SentTimestamp.\n# TYPE cutover_sqs_receive_lag_seconds histogram\n");
        self.receive_lag.render(out, "cutover_sqs_receive_lag_seconds", "");
        out.push_str("# HELP cutover_action_duration_seconds Duration of one executor round of calls.\n# TYPE cutover_action_duration_seconds histogram\n");
        for (lane, h) in LANES.iter().zip(&self.durations) {
            h.render(out, "cutover_action_duration_seconds", &format!("lane=\"{}\"", lane.as_str()));
        }
        out.push_str("# HELP cutover_action_retries_total Actions put back for a retry, by executor.\n# TYPE cutover_action_retries_total counter\n");
        for (lane, n) in LANES.iter().zip(&self.retries) {
            let _ = writeln!(
                out,
                "cutover_action_retries_total{{lane=\"{}\"}} {}",
                lane.as_str(),
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cutover_slack_rate_limited_total Slack 429 answers (never counted as sent).\n# TYPE cutover_slack_rate_limited_total counter\ncutover_slack_rate_limited_total {}",
            self.slack_rate_limited.load(Ordering::Relaxed)
        );
        out.push_str("# HELP cutover_setup_fault 1 while an executor's actions wait on a setup fault (a refused Slack token, a missing bus or distribution).\n# TYPE cutover_setup_fault gauge\n");
        let faults = self.setup_faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for (lane, fault) in LANES.iter().zip(faults.iter()) {
            let _ = writeln!(out, "cutover_setup_fault{{lane=\"{}\"}} {}", lane.as_str(), u8::from(fault.is_some()));
        }
    }
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

/// Registers the counters kept as atomics (the intake's) and the outbox depth as observable
/// instruments, read at each export. A no-op without a meter provider.
pub fn observe(counters: &Arc<IntakeCounters>, store: Arc<Mutex<Box<dyn Health>>>) {
    let meter = opentelemetry::global::meter("cutover");
    for counter in &COUNTERS {
        let (c, read) = (counters.clone(), counter.read);
        meter
            .u64_observable_counter(counter.name)
            .with_description(counter.help)
            .with_callback(move |o| o.observe(read(&c), &[]))
            .build();
    }
    let rejected = counters.clone();
    meter
        .u64_observable_counter("cutover.messages.rejected")
        .with_description("Malformed or not allowed messages, by reason.")
        .with_callback(move |o| {
            for (reason, n) in rejected.rejected_by_reason() {
                o.observe(n, &[KeyValue::new("reason", reason)]);
            }
        })
        .build();
    meter
        .u64_observable_gauge("cutover.outbox.actions")
        .with_description("Actions in the outbox by executor and status.")
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

    #[test]
    fn every_intake_counter_is_in_the_docs_table_under_its_name() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md")).unwrap();
        for c in &COUNTERS {
            assert!(docs.contains(&format!("| `{}` | counter |", c.name)), "docs/config.md misses {}", c.name);
        }
        assert_eq!(prometheus_name("cutover.sqs.receive_errors"), "cutover_sqs_receive_errors_total");
    }
}
