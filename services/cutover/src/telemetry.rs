//! OpenTelemetry: traces and metrics of `serve`, exported over OTLP/HTTP (protobuf) when
//! `[telemetry] otlp_endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) names a collector.
//!
//! Traces: one trace per SQS message. Its root span `sqs.message` has the children `parse`,
//! `decide`, `commit` (the batch's transaction, one span in each message's trace) and
//! `dead_letter`; each action decided for it is carried out later, maybe after a restart, in
//! an `execute` span whose parent is the message's span, read back from the outbox (the W3C
//! `traceparent` is stored with the action). The trace id also goes into the emitted events'
//! `detail.trace_id`, so subscribers can link back.
//!
//! Without a collector a tracer provider is still installed, with no exporter and sampling
//! off: trace ids are made (for emitted events, the outbox's `traceparent` and log lines), but
//! spans are not recorded, since nothing would read them.
//!
//! Metrics: the same figures `/metrics` shows, under OpenTelemetry names (`cutover.*`, see
//! docs/config.md): histograms and counters are recorded as they happen; the intake counters
//! and the outbox depth are observed from their sources at each export.

use std::collections::HashMap;

use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_otlp::{MetricExporter, Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TelemetryConfig;

/// The installed providers; [`Telemetry::shutdown`] flushes them.
#[derive(Debug)]
pub struct Telemetry {
    tracer: SdkTracerProvider,
    meter: Option<SdkMeterProvider>,
    /// Where traces and metrics go, if anywhere.
    pub endpoint: Option<String>,
}

/// An OTLP exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("the OTLP {what} exporter for {base}")]
pub struct TelemetryError {
    what: &'static str,
    base: String,
    source: opentelemetry_otlp::ExporterBuildError,
}

impl Telemetry {
    /// Builds the providers and installs the meter provider globally (instruments made after
    /// this export). Call before the runtime starts: building an exporter makes its HTTP client.
    pub fn init(cfg: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let endpoint = cfg
            .otlp_endpoint
            .clone()
            .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
            .map(|e| e.trim().trim_end_matches('/').to_owned())
            .filter(|e| !e.is_empty());
        let resource = Resource::builder()
            .with_service_name(cfg.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let mut tracer = SdkTracerProvider::builder().with_resource(resource.clone());
        let mut meter = None;
        if let Some(base) = &endpoint {
            let timeout = Duration::from_secs_f64(cfg.export_timeout_secs.max(0.1));
            let spans = SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{base}/v1/traces"))
                .with_timeout(timeout)
                .build()
                .map_err(|source| TelemetryError { what: "span", base: base.clone(), source })?;
            tracer = tracer.with_batch_exporter(spans);
            let metrics = MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{base}/v1/metrics"))
                .with_timeout(timeout)
                .build()
                .map_err(|source| TelemetryError { what: "metric", base: base.clone(), source })?;
            let reader = PeriodicReader::builder(metrics)
                .with_interval(Duration::from_secs_f64(cfg.metrics_interval_secs.max(0.1)))
                .build();
            let provider = SdkMeterProvider::builder().with_resource(resource).with_reader(reader).build();
            global::set_meter_provider(provider.clone());
            meter = Some(provider);
        }
        if endpoint.is_none() {
            tracer = tracer.with_sampler(Sampler::AlwaysOff);
        }
        Ok(Self { tracer: tracer.build(), meter, endpoint })
    }

    /// The tracer for the `tracing` layer.
    pub fn tracer(&self) -> Tracer {
        self.tracer.tracer("cutover")
    }

    /// Flushes and stops the exporters. Blocking: call outside the runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.tracer.shutdown() {
            tracing::warn!(message = "Failed to flush the traces.", %error);
        }
        if let Some(meter) = self.meter
            && let Err(error) = meter.shutdown()
        {
            tracing::warn!(message = "Failed to flush the metrics.", %error);
        }
    }
}

/// The W3C `traceparent` of `span`, when it is traced.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// The trace id (32 hex digits) of `span`, when it is traced.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// Makes `span` a child of the span a `traceparent` names (a remote parent: it may have ended
/// in an earlier process). An unreadable value is ignored: the span starts a trace of its own.
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract_with_context(&Context::new(), &carrier);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// The `traceparent` of a span made under `telemetry`'s tracer.
    fn a_traceparent(telemetry: &Telemetry) -> Option<String> {
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(telemetry.tracer()));
        tracing::subscriber::with_default(subscriber, || traceparent(&tracing::info_span!("sqs.message")))
    }

    #[test]
    fn without_a_collector_trace_ids_are_made_and_spans_not_recorded() {
        let telemetry = Telemetry::init(&TelemetryConfig::default()).unwrap();
        assert_eq!(telemetry.endpoint, None);
        let tp = a_traceparent(&telemetry).expect("a trace id without a collector");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{tp}");
        assert_eq!(parts[3], "00", "not sampled: nothing would read the span");
        // With a collector, the same span is recorded (sampled).
        let cfg = TelemetryConfig {
            otlp_endpoint: Some("http://127.0.0.1:9".into()),
            export_timeout_secs: 0.1,
            ..TelemetryConfig::default()
        };
        let telemetry = Telemetry::init(&cfg).unwrap();
        assert!(a_traceparent(&telemetry).unwrap().ends_with("-01"));
    }
}
