//! Markers in the tools teams look at, each at AWS's time of the step:
//!
//! - **Grafana** (`/api/annotations`, `Authorization: Bearer <service-account token>`): at the
//!   start a region (`time` = `timeEnd` = the start), at the cut-over a point tagged `cut-over`,
//!   at the end (`Completed`, `Failed`, `Rolled Back`) the region's `timeEnd` and text set by
//!   `PATCH`. Tags: `cutover`, `service:…`, `environment:…`, `version:…`, `cluster:…`. The text
//!   is HTML-escaped. A create whose answer was lost is looked for by its time and tags.
//! - **Datadog** (`POST /api/v1/events`, `DD-API-KEY`): an event per step, `date_happened` the
//!   step's time, tags as Grafana's, `aggregation_key` the deployment, `alert_type` by step.
//!   `@` in event text is broken so it notifies no one.
//! - **PagerDuty** (`POST /v2/change/enqueue`, the routing key in the body): a change event
//!   with the step's `timestamp`, the deployment in `custom_details`, the Slack message in
//!   `links`.
//! - **Honeycomb** (`/1/markers/<dataset>`, `X-Honeycomb-Team`): one marker per deployment,
//!   made at the start (`start_time`), its message set at the cut-over, its `end_time` at the
//!   end, with the cut-over kept in the message.

use cutover_correlator::action::SinkDelivery;
use cutover_events::emitted::{DetailType, LifecycleDetail};
use http::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::http::Call;
use super::{Ctx, words};
use crate::executors::Outcome;

/// The tags of a deployment: `service:web`, `environment:production`, `version:v124`,
/// `cluster:prod`, each as given (Grafana) or made into Datadog's tag characters.
fn tags(d: &LifecycleDetail) -> Vec<String> {
    let mut out = vec!["cutover".to_owned()];
    let mut add = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            out.push(format!("{k}:{v}"));
        }
    };
    add("service", d.service.as_deref().or(d.deployment_group.as_deref()));
    add("environment", d.environment.as_deref());
    add("version", d.version.as_deref());
    add("cluster", d.cluster.as_deref());
    out
}

fn is_end(t: DetailType) -> bool {
    matches!(t, DetailType::Completed | DetailType::Failed | DetailType::RolledBack)
}

/// `<`, `>`, `&`, `"` and `'` as HTML entities.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn grafana_text(ctx: &Ctx<'_>, d: &SinkDelivery) -> String {
    let mut text = format!(
        "{}<br>deployment {}",
        html_escape(&words::line(d.detail_type, &d.detail)),
        html_escape(&d.detail.deployment_id)
    );
    if let Some(url) = &ctx.log_url {
        text.push_str(&format!(" · <a href=\"{}\">Slack</a>", html_escape(url)));
    }
    text
}

pub(super) async fn grafana(ctx: &mut Ctx<'_>, d: &SinkDelivery) -> Outcome {
    let token = match ctx.credential().await {
        Ok(t) => t,
        Err(outcome) => return outcome,
    };
    let auth = format!("Bearer {}", token.expose_secret());
    let base = ctx.sink.config.base_url();
    let region_key = format!("{}/grafana-region/{}", d.sink, d.detail.deployment_id);
    let at = d.detail.at.millis();
    let mut tags = tags(&d.detail);
    let text = grafana_text(ctx, d);
    let region = match ctx.recall(&region_key) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    if let (true, Some(id)) = (is_end(d.detail_type), &region) {
        if let Err(outcome) = ctx.claim() {
            return outcome;
        }
        tags.push(step_tag(d.detail_type).to_owned());
        let body = json!({"timeEnd": at, "text": text, "tags": tags});
        let call =
            Call::json(Method::PATCH, format!("{base}/api/annotations/{id}"), &body).header("authorization", auth);
        return match ctx.send(call, "Grafana end the region", false).await {
            Ok(_) => Outcome::Done(format!("annotation {id}")),
            Err(outcome) => outcome,
        };
    }
    // A region at the start (or at the first step seen), a point at every other step.
    let is_region = d.detail_type == DetailType::Started || (region.is_none() && is_end(d.detail_type));
    if d.detail_type == DetailType::Started && region.is_some() {
        return Outcome::Done(format!("annotation {}", region.unwrap_or_default()));
    }
    if !is_region {
        tags.push(step_tag(d.detail_type).to_owned());
    }
    if ctx.attempting() {
        match grafana_find(ctx, &base, &auth, at, &tags, &d.detail.deployment_id).await {
            Ok(Some(id)) => {
                if is_region && let Err(outcome) = ctx.remember(&region_key, &id) {
                    return outcome;
                }
                return Outcome::Done(format!("annotation {id}"));
            }
            Ok(None) => {}
            Err(outcome) => return outcome,
        }
    }
    if let Err(outcome) = ctx.claim() {
        return outcome;
    }
    let mut body = json!({"time": at, "tags": tags, "text": text});
    if is_region {
        body["timeEnd"] = json!(at);
    }
    let call = Call::json(Method::POST, format!("{base}/api/annotations"), &body).header("authorization", auth);
    let reply = match ctx.send(call, "Grafana create annotation", true).await {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let Some(id) = id_of(&reply.json()) else {
        return Outcome::Unknown { error: format!("Grafana create annotation: no id in {}", reply.summary()) };
    };
    if is_region && let Err(outcome) = ctx.remember(&region_key, &id) {
        return outcome;
    }
    Outcome::Done(format!("annotation {id}"))
}

fn step_tag(t: DetailType) -> &'static str {
    match t {
        DetailType::Started => "started",
        DetailType::TrafficShifted => "traffic-shifted",
        DetailType::CutOver => "cut-over",
        DetailType::Completed => "completed",
        DetailType::Failed => "failed",
        DetailType::RolledBack => "rolled-back",
    }
}

/// `id` as a string, whether the API wrote a number or a string.
fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// An annotation made by an earlier attempt: at `at`, with these tags, naming the deployment.
async fn grafana_find(
    ctx: &mut Ctx<'_>,
    base: &str,
    auth: &str,
    at: i64,
    tags: &[String],
    deployment_id: &str,
) -> Result<Option<String>, Outcome> {
    let mut url = format!("{base}/api/annotations?from={at}&to={at}&type=annotation&limit=100");
    for t in tags {
        url.push_str("&tags=");
        url.push_str(&percent_encode(t));
    }
    let reply = ctx.send(Call::get(url).header("authorization", auth), "Grafana find annotation", false).await?;
    let found = reply.json().as_array().into_iter().flatten().find_map(|a| {
        let same = a.get("time").and_then(Value::as_i64) == Some(at)
            && a.get("text").and_then(Value::as_str).is_some_and(|t| t.contains(&html_escape(deployment_id)));
        same.then(|| id_of(a)).flatten()
    });
    Ok(found)
}

/// A query value, percent-encoded (RFC 3986 unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Datadog's tag characters: letters, digits, `_ - : . /`, lower case; others become `_`;
/// at most 200 characters.
fn datadog_tag(t: &str) -> String {
    t.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || "_-:./".contains(c) { c } else { '_' }
        })
        .take(200)
        .collect()
}

/// Event text as Datadog shows it: `@` followed by a zero-width space so no handle in AWS's
/// words notifies anyone, and never the `%%%` that would make it markdown.
fn datadog_text(s: &str) -> String {
    s.replace('@', "@\u{200b}").replace("%%%", "%\u{200b}%%")
}

pub(super) async fn datadog(ctx: &mut Ctx<'_>, d: &SinkDelivery) -> Outcome {
    let key = match ctx.credential().await {
        Ok(t) => t,
        Err(outcome) => return outcome,
    };
    if let Err(outcome) = ctx.claim() {
        return outcome;
    }
    let alert_type = match d.detail_type {
        DetailType::CutOver | DetailType::Completed => "success",
        DetailType::Failed => "error",
        DetailType::RolledBack => "warning",
        DetailType::Started | DetailType::TrafficShifted => "info",
    };
    let mut text = format!("{}\ndeployment {}", words::line(d.detail_type, &d.detail), d.detail.deployment_id);
    if let Some(url) = &ctx.log_url {
        text.push_str(&format!("\nSlack: {url}"));
    }
    let body = json!({
        "title": words::cut(&datadog_text(&format!("{} {}", words::subject(&d.detail), words::step(d.detail_type, &d.detail))), 100),
        "text": words::cut(&datadog_text(&text), 4_000),
        "date_happened": d.detail.at.millis().div_euclid(1_000),
        "tags": tags(&d.detail).iter().map(|t| datadog_tag(t)).chain([format!("deployment_step:{}", step_tag(d.detail_type))]).collect::<Vec<_>>(),
        "alert_type": alert_type,
        "aggregation_key": words::cut(&d.detail.deployment_id, 100),
        "source_type_name": "cutover",
    });
    let call = Call::json(Method::POST, format!("{}/api/v1/events", ctx.sink.config.base_url()), &body)
        .header("dd-api-key", key.expose_secret());
    match ctx.send(call, "Datadog post event", true).await {
        Ok(reply) => {
            let id = reply.json().pointer("/event/id").map(Value::to_string).unwrap_or_default();
            Outcome::Done(format!("event {id}"))
        }
        Err(outcome) => outcome,
    }
}

pub(super) async fn pagerduty(ctx: &mut Ctx<'_>, d: &SinkDelivery) -> Outcome {
    let key = match ctx.credential().await {
        Ok(t) => t,
        Err(outcome) => return outcome,
    };
    if let Err(outcome) = ctx.claim() {
        return outcome;
    }
    let detail = &d.detail;
    let mut links = Vec::new();
    if let Some(url) = &ctx.log_url {
        links.push(json!({"href": url, "text": "Slack message"}));
    }
    let body = json!({
        "routing_key": key.expose_secret(),
        "payload": {
            "summary": words::cut(&words::line(d.detail_type, detail), 1_024),
            "timestamp": detail.at,
            "source": detail.cluster.as_deref().unwrap_or("cutover"),
            "custom_details": {
                "event": d.detail_type.as_str(),
                "deployment_id": detail.deployment_id,
                "cluster": detail.cluster,
                "service": detail.service,
                "environment": detail.environment,
                "version": detail.version,
                "task_definition": detail.task_definition,
                "previous_task_definition": detail.previous_task_definition,
                "strategy": detail.strategy,
                "pipeline_execution": detail.pipeline.as_ref().map(|p| &p.execution_id),
                "commit": d.commit,
            },
        },
        "links": links,
    });
    let call = Call::json(Method::POST, format!("{}/v2/change/enqueue", ctx.sink.config.base_url()), &body);
    match ctx.send(call, "PagerDuty change event", true).await {
        Ok(reply) => Outcome::Done(format!("HTTP {}", reply.status)),
        Err(outcome) => outcome,
    }
}

pub(super) async fn honeycomb(ctx: &mut Ctx<'_>, d: &SinkDelivery) -> Outcome {
    let key = match ctx.credential().await {
        Ok(t) => t,
        Err(outcome) => return outcome,
    };
    let team = key.expose_secret().to_owned();
    let dataset = ctx.sink.config.dataset.clone().unwrap_or_else(|| "__all__".to_owned());
    let markers = format!("{}/1/markers/{}", ctx.sink.config.base_url(), percent_encode(&dataset));
    let marker_key = format!("{}/honeycomb-marker/{}", d.sink, d.detail.deployment_id);
    let cut_over_key = format!("{}/honeycomb-cut-over/{}", d.sink, d.detail.deployment_id);
    let secs = d.detail.at.millis().div_euclid(1_000);
    let tag = format!(" [{}]", d.detail.deployment_id);
    let marker = match ctx.recall(&marker_key) {
        Ok(m) => m,
        Err(outcome) => return outcome,
    };
    let mut message = words::line(d.detail_type, &d.detail);
    if d.detail_type == DetailType::CutOver
        && let Err(outcome) = ctx.remember(&cut_over_key, &message)
    {
        return outcome;
    }
    if is_end(d.detail_type) {
        match ctx.recall(&cut_over_key) {
            Ok(Some(cut_over)) => message = format!("{cut_over}; {}", words::step(d.detail_type, &d.detail)),
            Ok(None) => {}
            Err(outcome) => return outcome,
        }
    }
    let message = words::cut(&format!("{message}{tag}"), 1_000);
    let mut body = json!({"message": message, "type": "deploy"});
    if let Some(url) = &ctx.log_url {
        body["url"] = json!(url);
    }
    match marker {
        Some(id) if d.detail_type == DetailType::Started => Outcome::Done(format!("marker {id}")),
        Some(id) => {
            if is_end(d.detail_type) {
                body["end_time"] = json!(secs);
            }
            if let Err(outcome) = ctx.claim() {
                return outcome;
            }
            let call = Call::json(Method::PUT, format!("{markers}/{}", percent_encode(&id)), &body)
                .header("x-honeycomb-team", team);
            match ctx.send(call, "Honeycomb update marker", false).await {
                Ok(_) => Outcome::Done(format!("marker {id}")),
                Err(outcome) => outcome,
            }
        }
        None => {
            body["start_time"] = json!(secs);
            if is_end(d.detail_type) {
                body["end_time"] = json!(secs);
            }
            if ctx.attempting() {
                let list = Call::get(markers.clone()).header("x-honeycomb-team", team.clone());
                let found = match ctx.send(list, "Honeycomb list markers", false).await {
                    Ok(reply) => reply.json().as_array().into_iter().flatten().find_map(|m| {
                        let same = m.get("start_time").and_then(Value::as_i64) == Some(secs)
                            && m.get("message").and_then(Value::as_str).is_some_and(|t| t.ends_with(&tag));
                        same.then(|| id_of(m)).flatten()
                    }),
                    Err(outcome) => return outcome,
                };
                if let Some(id) = found {
                    return match ctx.remember(&marker_key, &id) {
                        Ok(()) => Outcome::Done(format!("marker {id}")),
                        Err(outcome) => outcome,
                    };
                }
            }
            if let Err(outcome) = ctx.claim() {
                return outcome;
            }
            let call = Call::json(Method::POST, markers, &body).header("x-honeycomb-team", team);
            let reply = match ctx.send(call, "Honeycomb create marker", true).await {
                Ok(r) => r,
                Err(outcome) => return outcome,
            };
            let Some(id) = id_of(&reply.json()) else {
                return Outcome::Unknown { error: format!("Honeycomb create marker: no id in {}", reply.summary()) };
            };
            match ctx.remember(&marker_key, &id) {
                Ok(()) => Outcome::Done(format!("marker {id}")),
                Err(outcome) => outcome,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_events_is_never_markup() {
        assert_eq!(html_escape("<img src=x onerror=\"a\">&"), "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;");
        assert_eq!(datadog_text("@oncall %%% **x**"), "@\u{200b}oncall %\u{200b}%% **x**");
        assert_eq!(datadog_tag("Environment:Prod EU"), "environment:prod_eu");
        assert_eq!(percent_encode("service:web a/b"), "service%3Aweb%20a%2Fb");
    }
}
