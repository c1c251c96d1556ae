//! A local OTLP/HTTP receiver on 127.0.0.1: takes protobuf export requests on `/v1/traces`
//! and `/v1/metrics`, as a collector does, and keeps them decoded for the test to read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue as Any, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message as _;

/// What arrived.
#[derive(Clone, Debug, Default)]
pub struct Received {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    /// Requests that were not protobuf export requests: `(path, why)`.
    pub errors: Arc<Mutex<Vec<(String, String)>>>,
}

/// One received span, its ids in hex.
#[derive(Clone, Debug)]
pub struct Span {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: BTreeMap<String, String>,
    /// `service.name` of its resource.
    pub service: String,
}

/// One data point of a received metric: its attributes and value (sum, gauge or histogram count).
#[derive(Clone, Debug)]
pub struct Point {
    pub metric: String,
    pub attributes: BTreeMap<String, String>,
    pub value: f64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: Option<&Any>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter().map(|kv| (kv.key.clone(), text(kv.value.as_ref()))).collect()
}

fn protobuf(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) == Some("application/x-protobuf")
}

async fn traces(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> (StatusCode, Vec<u8>) {
    match ExportTraceServiceRequest::decode(body) {
        Ok(req) if protobuf(&headers) => {
            r.traces.lock().unwrap().push(req);
            (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
        }
        Ok(_) => {
            r.errors.lock().unwrap().push(("/v1/traces".into(), "content type".into()));
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new())
        }
        Err(e) => {
            r.errors.lock().unwrap().push(("/v1/traces".into(), e.to_string()));
            (StatusCode::BAD_REQUEST, Vec::new())
        }
    }
}

async fn metrics(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> (StatusCode, Vec<u8>) {
    match ExportMetricsServiceRequest::decode(body) {
        Ok(req) if protobuf(&headers) => {
            r.metrics.lock().unwrap().push(req);
            (StatusCode::OK, ExportMetricsServiceResponse::default().encode_to_vec())
        }
        Ok(_) => {
            r.errors.lock().unwrap().push(("/v1/metrics".into(), "content type".into()));
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new())
        }
        Err(e) => {
            r.errors.lock().unwrap().push(("/v1/metrics".into(), e.to_string()));
            (StatusCode::BAD_REQUEST, Vec::new())
        }
    }
}

/// The receiver, serving until dropped.
#[derive(Debug)]
pub struct Otlp {
    pub received: Received,
    pub port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Otlp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Received::default();
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .route("/v1/metrics", post(metrics))
            .with_state(received.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { received, port, _stop: stop }
    }

    /// The base URL, as `[telemetry] otlp_endpoint` takes it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn spans(&self) -> Vec<Span> {
        let mut out = Vec::new();
        for req in self.received.traces.lock().unwrap().iter() {
            for rs in &req.resource_spans {
                let resource = rs.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
                let service = resource.get("service.name").cloned().unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push(Span {
                            name: s.name.clone(),
                            trace_id: hex(&s.trace_id),
                            span_id: hex(&s.span_id),
                            parent_span_id: hex(&s.parent_span_id),
                            attributes: attributes(&s.attributes),
                            service: service.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Every data point of every metric export, in arrival order.
    pub fn points(&self) -> Vec<Point> {
        let mut out = Vec::new();
        for req in self.received.metrics.lock().unwrap().iter() {
            for rm in &req.resource_metrics {
                for sm in &rm.scope_metrics {
                    for m in &sm.metrics {
                        let mut push = |attrs: &[KeyValue], value: f64| {
                            out.push(Point { metric: m.name.clone(), attributes: attributes(attrs), value });
                        };
                        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
                        let number = |v: &Option<N>| match v {
                            Some(N::AsInt(i)) => *i as f64,
                            Some(N::AsDouble(d)) => *d,
                            None => f64::NAN,
                        };
                        match &m.data {
                            Some(Data::Sum(s)) => {
                                s.data_points.iter().for_each(|p| push(&p.attributes, number(&p.value)))
                            }
                            Some(Data::Gauge(g)) => {
                                g.data_points.iter().for_each(|p| push(&p.attributes, number(&p.value)))
                            }
                            Some(Data::Histogram(h)) => {
                                h.data_points.iter().for_each(|p| push(&p.attributes, p.count as f64))
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        out
    }

    pub fn metric_names(&self) -> BTreeSet<String> {
        self.points().into_iter().map(|p| p.metric).collect()
    }

    /// The latest value of `metric` with `attrs` among its attributes.
    pub fn latest(&self, metric: &str, attrs: &[(&str, &str)]) -> Option<f64> {
        self.points()
            .into_iter()
            .filter(|p| {
                p.metric == metric && attrs.iter().all(|(k, v)| p.attributes.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|p| p.value)
            .next_back()
    }
}
