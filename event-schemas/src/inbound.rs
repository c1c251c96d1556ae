//! One SQS message body → one [`Inbound`] message, or a [`Malformed`] reason.
//!
//! Three envelopes reach the queue:
//! - an EventBridge event (`detail-type`, `source`, `time`, `detail`; `account` may be missing,
//!   the emulator omits it), also in the CodeStar-Notifications "processed" form (`detailType`);
//! - an SNS notification whose `Message` is a CodeDeploy trigger, an EventBridge event or a
//!   manual-approval message;
//! - a bare CodeDeploy trigger (SNS raw message delivery).
//!
//! The top level is read once with `detail` kept as raw JSON, and `detail` is then read into
//! the type its `detail-type` names, so a message costs about one pass over its bytes.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::codedeploy::{self, Trigger};
use crate::codepipeline::{ApprovalNotification, ExecutionStateChange};
use crate::ecs::{DeploymentStateChange, HookStateChange, ServiceAction, TaskStateChange};
use crate::time::Timestamp;

/// A message from the queue, parsed and typed.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// The key that identifies redeliveries of this message (see [`parse_body`]).
    pub dedupe_key: String,
    /// Present when the message came wrapped in an SNS notification.
    pub sns: Option<SnsDelivery>,
    pub event: Event,
}

/// What the SNS envelope said about a delivery.
#[derive(Clone, Debug)]
pub struct SnsDelivery {
    pub message_id: String,
    pub topic_arn: Option<String>,
    pub subject: Option<String>,
    pub timestamp: Option<Timestamp>,
}

/// The EventBridge envelope's fields.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Absent only in the "processed" notification form.
    pub id: Option<String>,
    pub source: String,
    pub detail_type: String,
    /// The emulator omits it.
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Timestamp,
    pub resources: Vec<String>,
}

/// The event a message carries.
#[derive(Clone, Debug)]
pub enum Event {
    EcsTask {
        envelope: Envelope,
        detail: TaskStateChange,
    },
    EcsDeployment {
        envelope: Envelope,
        detail: DeploymentStateChange,
    },
    EcsHook {
        envelope: Envelope,
        detail: HookStateChange,
    },
    EcsServiceAction {
        envelope: Envelope,
        detail: ServiceAction,
    },
    CodeDeployDeployment {
        envelope: Envelope,
        detail: codedeploy::StateChange,
    },
    CodeDeployInstance {
        envelope: Envelope,
        detail: codedeploy::StateChange,
    },
    /// A deployment-group trigger; `sns_timestamp` is the SNS `Timestamp`, the last fallback time.
    CodeDeployTrigger {
        trigger: Trigger,
        sns_timestamp: Option<Timestamp>,
    },
    Pipeline {
        envelope: Envelope,
        detail: ExecutionStateChange,
    },
    ApprovalNotification(ApprovalNotification),
    /// A deploy annotation from CI (`cutover annotate`).
    Annotation {
        envelope: Envelope,
        detail: crate::annotation::DeployAnnotation,
    },
    /// A well-formed EventBridge event of a type Cutover does not read.
    Other {
        envelope: Envelope,
    },
    /// An SNS message that is not a notification (`SubscriptionConfirmation`, …).
    SnsControl {
        sns_type: String,
    },
}

/// Where a message comes from, as far as it says: `(account, region)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub account: Option<String>,
    pub region: Option<String>,
}

fn arn_account_region(arn: &str) -> (Option<String>, Option<String>) {
    let mut parts = arn.split(':');
    if parts.next() != Some("arn") {
        return (None, None);
    }
    let region = parts.nth(2).filter(|r| !r.is_empty()).map(str::to_owned);
    let account = parts.next().filter(|a| !a.is_empty()).map(str::to_owned);
    (account, region)
}

impl Inbound {
    /// The account and region the event names: the envelope's, else its resources' ARNs; a
    /// trigger's `accountId` and `region`; for SNS, the topic's ARN last.
    pub fn origin(&self) -> Origin {
        let mut origin = Origin::default();
        match &self.event {
            Event::EcsTask { envelope, .. }
            | Event::EcsDeployment { envelope, .. }
            | Event::EcsHook { envelope, .. }
            | Event::EcsServiceAction { envelope, .. }
            | Event::CodeDeployDeployment { envelope, .. }
            | Event::CodeDeployInstance { envelope, .. }
            | Event::Pipeline { envelope, .. }
            | Event::Annotation { envelope, .. }
            | Event::Other { envelope } => {
                origin.account.clone_from(&envelope.account);
                origin.region.clone_from(&envelope.region);
                for r in &envelope.resources {
                    let (a, g) = arn_account_region(r);
                    origin.account = origin.account.or(a);
                    origin.region = origin.region.or(g);
                }
            }
            Event::CodeDeployTrigger { trigger, .. } => {
                origin.account.clone_from(&trigger.account_id);
                origin.region.clone_from(&trigger.region);
            }
            Event::ApprovalNotification(a) => origin.region.clone_from(&a.region),
            Event::SnsControl { .. } => {}
        }
        if let Some(topic) = self.sns.as_ref().and_then(|s| s.topic_arn.as_deref()) {
            let (a, g) = arn_account_region(topic);
            origin.account = origin.account.or(a);
            origin.region = origin.region.or(g);
        }
        origin
    }
}

/// Why a message body was rejected. Its `Display` is the reason `replay` prints and the
/// dead-letter attribute carries; [`Malformed::kind`] is its label for metrics.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Over SQS's own limit.
    #[error("message of {bytes} bytes exceeds the {MAX_BODY_BYTES}-byte limit")]
    TooLarge { bytes: usize },
    /// Objects and arrays nested deeper than [`MAX_DEPTH`] (in the body, or in an SNS `Message`).
    #[error("{}JSON nested deeper than {MAX_DEPTH} levels", sns(*in_sns))]
    TooDeep { in_sns: bool },
    #[error("{}not JSON: {error}", sns(*in_sns))]
    NotJson { in_sns: bool, error: String },
    #[error("{}not a JSON object", sns(*in_sns))]
    NotAnObject { in_sns: bool },
    /// Not a known envelope, or a broken one (the text says which).
    #[error("{0}")]
    BadEnvelope(String),
    /// A known field of the wrong type or form, or a time or id without AWS's shape (the text
    /// names the field).
    #[error("{0}")]
    InvalidField(String),
}

fn sns(in_sns: bool) -> &'static str {
    if in_sns { "SNS Message: " } else { "" }
}

impl Malformed {
    /// The kind of problem, a short label for metrics: `too_large`, `too_deep`, `not_json`,
    /// `bad_envelope` or `invalid_field`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::TooDeep { .. } => "too_deep",
            Self::NotJson { .. } | Self::NotAnObject { .. } => "not_json",
            Self::BadEnvelope(_) => "bad_envelope",
            Self::InvalidField(_) => "invalid_field",
        }
    }

    /// The same problem, found in an SNS notification's `Message`.
    fn in_sns(self) -> Self {
        match self {
            Self::TooDeep { .. } => Self::TooDeep { in_sns: true },
            Self::NotJson { error, .. } => Self::NotJson { in_sns: true, error },
            Self::NotAnObject { .. } => Self::NotAnObject { in_sns: true },
            Self::BadEnvelope(s) => Self::BadEnvelope(format!("SNS Message: {s}")),
            Self::InvalidField(s) => Self::InvalidField(format!("SNS Message: {s}")),
            other @ Self::TooLarge { .. } => other,
        }
    }
}

/// Messages larger than SQS's own limit (1 MiB) cannot come from AWS.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// AWS events nest fewer than ten levels; anything deeper is hostile.
pub const MAX_DEPTH: usize = 64;

/// True when objects and arrays nest deeper than `limit` (strings skipped). Most bytes of an
/// AWS event are inside strings, so strings are crossed by searching for the next `"` or `\\`.
fn nesting_exceeds(body: &[u8], limit: usize) -> bool {
    // Depth cannot pass the number of `{` and `[` in the body: counting them (a SIMD search
    // that stops at `limit + 1`) spares the scan for every body with fewer, as AWS events have.
    if memchr::memchr2_iter(b'{', b'[', body).take(limit + 1).count() <= limit {
        return false;
    }
    let (mut depth, mut i) = (0usize, 0usize);
    while i < body.len() {
        match body[i] {
            b'"' => {
                i += 1;
                loop {
                    match body[i.min(body.len())..].iter().position(|&b| b == b'"' || b == b'\\') {
                        None => return false,
                        Some(p) if body[i + p] == b'\\' => i += p + 2,
                        Some(p) => {
                            i += p + 1;
                            break;
                        }
                    }
                }
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    #[serde(rename = "detailType")]
    detail_type_processed: Option<String>,
    source: Option<String>,
    id: Option<String>,
    account: Option<String>,
    time: Option<String>,
    region: Option<String>,
    resources: Option<Vec<String>>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
    #[serde(rename = "Type")]
    sns_type: Option<String>,
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "Subject")]
    subject: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "Timestamp")]
    timestamp: Option<String>,
    #[serde(rename = "deploymentId")]
    deployment_id: Option<IgnoredAny>,
    approval: Option<IgnoredAny>,
}

/// Parses one SQS message body.
///
/// Deduplication keys: an EventBridge event's `id` (the inner event's when SNS wraps one),
/// an SNS notification's `MessageId` otherwise, and a SHA-256 of the content for raw
/// CodeDeploy triggers and "processed" notifications, which carry no id.
pub fn parse_body(body: &str) -> Result<Inbound, Malformed> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Malformed::TooLarge { bytes: body.len() });
    }
    if nesting_exceeds(body.as_bytes(), MAX_DEPTH) {
        return Err(Malformed::TooDeep { in_sns: false });
    }
    let probe = probe(body)?;
    if probe.message_id.is_some() && (probe.message.is_some() || probe.sns_type.is_some()) {
        return parse_sns(probe);
    }
    let (event, key) = parse_unwrapped(body, probe, None)?;
    Ok(Inbound { dedupe_key: key.unwrap_or_else(|| content_key(body)), sns: None, event })
}

fn probe(body: &str) -> Result<Probe<'_>, Malformed> {
    let trimmed = body.trim_start();
    if !trimmed.starts_with('{') {
        return Err(match serde_json::from_str::<IgnoredAny>(body) {
            Ok(_) => Malformed::NotAnObject { in_sns: false },
            Err(e) => Malformed::NotJson { in_sns: false, error: e.to_string() },
        });
    }
    serde_json::from_str::<Probe<'_>>(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Malformed::NotJson { in_sns: false, error: e.to_string() }
        } else {
            Malformed::BadEnvelope(format!("bad envelope: {e}"))
        }
    })
}

fn parse_sns(probe: Probe<'_>) -> Result<Inbound, Malformed> {
    let message_id = probe.message_id.unwrap_or_default();
    let timestamp = match probe.timestamp.as_deref() {
        Some(t) => Some(Timestamp::parse(t).map_err(|e| Malformed::InvalidField(format!("SNS Timestamp: {e}")))?),
        None => None,
    };
    let sns =
        SnsDelivery { message_id: message_id.clone(), topic_arn: probe.topic_arn, subject: probe.subject, timestamp };
    let sns_type = probe.sns_type.unwrap_or_else(|| "Notification".to_owned());
    if sns_type != "Notification" {
        return Ok(Inbound {
            dedupe_key: format!("sns:{message_id}"),
            sns: Some(sns),
            event: Event::SnsControl { sns_type },
        });
    }
    let Some(message) = probe.message else {
        return Err(Malformed::BadEnvelope("SNS notification without a Message".into()));
    };
    if nesting_exceeds(message.as_bytes(), MAX_DEPTH) {
        return Err(Malformed::TooDeep { in_sns: true });
    }
    let inner = probe_inner(&message)?;
    if inner.message_id.is_some() && inner.message.is_some() {
        return Err(Malformed::BadEnvelope("SNS Message is itself an SNS envelope".into()));
    }
    let (event, inner_key) = parse_unwrapped(&message, inner, timestamp)?;
    // An EventBridge event keeps its own id across paths; anything else is keyed by SNS.
    let dedupe_key = match &event {
        Event::CodeDeployTrigger { .. } | Event::ApprovalNotification(_) | Event::SnsControl { .. } => {
            format!("sns:{message_id}")
        }
        _ => inner_key.unwrap_or_else(|| format!("sns:{message_id}")),
    };
    Ok(Inbound { dedupe_key, sns: Some(sns), event })
}

fn probe_inner(message: &str) -> Result<Probe<'_>, Malformed> {
    probe(message).map_err(Malformed::in_sns)
}

/// The key of a message that carries no id of its own: a SHA-256 of its content.
fn content_key(body: &str) -> String {
    format!("sha256:{}", hex_sha256(body.trim()))
}

/// An EventBridge event, a processed notification, a trigger or an approval message, with the
/// event's own key (`eb:<id>`) when it has an id. Without one it is keyed by what wraps it: its
/// SNS notification's id, or at the top level its content ([`content_key`], made only then: a
/// SHA-256 of every trigger SNS delivers was most of its parse, and was thrown away).
fn parse_unwrapped(
    body: &str,
    probe: Probe<'_>,
    sns_timestamp: Option<Timestamp>,
) -> Result<(Event, Option<String>), Malformed> {
    let detail_type = probe.detail_type.or(probe.detail_type_processed);
    if let (Some(detail_type), Some(source)) = (detail_type, probe.source) {
        let Some(detail) = probe.detail else {
            return Err(Malformed::InvalidField(format!("EventBridge event {detail_type:?} without a detail")));
        };
        if !detail.get().trim_start().starts_with('{') {
            return Err(Malformed::InvalidField(format!("EventBridge event {detail_type:?}: detail is not an object")));
        }
        let Some(time) = probe.time.as_deref() else {
            return Err(Malformed::InvalidField(format!("EventBridge event {detail_type:?} without a time")));
        };
        let time =
            Timestamp::parse_rfc3339(time).map_err(|e| Malformed::InvalidField(format!("EventBridge time: {e}")))?;
        let key = probe.id.as_ref().map(|id| format!("eb:{id}"));
        let envelope = Envelope {
            id: probe.id,
            source,
            detail_type,
            account: probe.account,
            region: probe.region,
            time,
            resources: probe.resources.unwrap_or_default(),
        };
        return Ok((typed_event(envelope, detail, detail_column(body, detail))?, key));
    }
    if probe.deployment_id.is_some() {
        let trigger: Trigger =
            serde_json::from_str(body).map_err(|e| Malformed::InvalidField(format!("CodeDeploy trigger: {e}")))?;
        return Ok((Event::CodeDeployTrigger { trigger, sns_timestamp }, None));
    }
    if probe.approval.is_some() {
        let approval: ApprovalNotification =
            serde_json::from_str(body).map_err(|e| Malformed::InvalidField(format!("approval notification: {e}")))?;
        return Ok((Event::ApprovalNotification(approval), None));
    }
    Err(Malformed::BadEnvelope(
        "not a known envelope (expected an EventBridge event, an SNS notification or a CodeDeploy trigger)".into(),
    ))
}

/// Where `detail` starts in `body`: its line (0-based) and the column of its first byte on it,
/// so an error inside `detail` names the position in the input line, not in `detail`.
fn detail_column(body: &str, detail: &RawValue) -> (usize, usize) {
    let start = (detail.get().as_ptr() as usize).wrapping_sub(body.as_ptr() as usize).min(body.len());
    let before = &body.as_bytes()[..start];
    let line = before.iter().filter(|&&b| b == b'\n').count();
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count();
    (line, column)
}

fn typed_event(envelope: Envelope, detail: &RawValue, at: (usize, usize)) -> Result<Event, Malformed> {
    let event = match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.ecs", "ECS Task State Change") => {
            Event::EcsTask { detail: read_detail(&envelope, detail, at)?, envelope }
        }
        ("aws.ecs", "ECS Deployment State Change") => {
            Event::EcsDeployment { detail: read_detail(&envelope, detail, at)?, envelope }
        }
        ("aws.ecs", "ECS Hook State Change") => {
            Event::EcsHook { detail: read_detail(&envelope, detail, at)?, envelope }
        }
        ("aws.ecs", "ECS Service Action") => {
            Event::EcsServiceAction { detail: read_detail(&envelope, detail, at)?, envelope }
        }
        ("aws.codedeploy", "CodeDeploy Deployment State-change Notification") => {
            Event::CodeDeployDeployment { detail: read_detail(&envelope, detail, at)?, envelope }
        }
        ("aws.codedeploy", "CodeDeploy Instance State-change Notification") => {
            Event::CodeDeployInstance { detail: read_detail(&envelope, detail, at)?, envelope }
        }
        (
            "aws.codepipeline",
            "CodePipeline Pipeline Execution State Change"
            | "CodePipeline Stage Execution State Change"
            | "CodePipeline Action Execution State Change",
        ) => Event::Pipeline { detail: read_detail(&envelope, detail, at)?, envelope },
        (crate::annotation::SOURCE, crate::annotation::DETAIL_TYPE) => {
            let detail: crate::annotation::DeployAnnotation = read_detail(&envelope, detail, at)?;
            if let Some(problem) = detail.problem() {
                return Err(Malformed::InvalidField(format!("{} detail: {problem}", envelope.detail_type)));
            }
            Event::Annotation { detail, envelope }
        }
        _ => Event::Other { envelope },
    };
    Ok(event)
}

/// `detail` read into `T`; an error names its line and column in the input (`at` is where
/// `detail` starts), since serde_json counts from `detail`'s own first byte.
fn read_detail<'a, T: Deserialize<'a>>(
    envelope: &Envelope,
    detail: &'a RawValue,
    at: (usize, usize),
) -> Result<T, Malformed> {
    serde_json::from_str(detail.get()).map_err(|e| {
        let text = e.to_string();
        let what = text.rsplit_once(" at line ").map_or(text.as_str(), |(w, _)| w);
        let (line, column) = if e.line() <= 1 { (at.0 + 1, at.1 + e.column()) } else { (at.0 + e.line(), e.column()) };
        Malformed::InvalidField(format!("{} detail: {what} at line {line} column {column}", envelope.detail_type))
    })
}

fn hex_sha256(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(body: &str) -> String {
        parse_body(body).unwrap_err().to_string()
    }

    #[test]
    fn malformed_inputs_say_why() {
        assert!(reason("not json").starts_with("not JSON"));
        assert_eq!(reason("[1,2]"), "not a JSON object");
        assert_eq!(reason("\"text\""), "not a JSON object");
        assert!(reason(r#"{"hello":"world"}"#).starts_with("not a known envelope"));
        assert!(
            reason(r#"{"Type":"Notification","MessageId":"m","Message":"plain text"}"#)
                .starts_with("SNS Message: not JSON")
        );
        assert!(
            reason(r#"{"detail-type":"X","source":"s","time":"2020-01-01T00:00:00Z","detail":[]}"#)
                .contains("detail is not an object")
        );
        assert!(
            reason(r#"{"detail-type":"X","source":"s","time":"yesterday","detail":{}}"#).contains("EventBridge time")
        );
        let wrong_type = r#"{"id":"1","detail-type":"ECS Task State Change","source":"aws.ecs","time":"2020-01-01T00:00:00Z",
            "detail":{"taskArn":"t","clusterArn":"c","lastStatus":"RUNNING","desiredStatus":"RUNNING","version":"six"}}"#;
        assert!(reason(wrong_type).starts_with("ECS Task State Change detail: invalid type"), "{}", reason(wrong_type));
    }

    #[test]
    fn an_error_inside_detail_names_its_column_in_the_input_line() {
        let body = r#"{"id":"1","detail-type":"ECS Task State Change","source":"aws.ecs","time":"2020-01-01T00:00:00Z","detail":{"taskArn":"t","clusterArn":"c","lastStatus":"RUNNING","desiredStatus":"RUNNING","version":"six"}}"#;
        let r = reason(body);
        let column: usize = r.rsplit("column ").next().unwrap().parse().unwrap();
        assert_eq!(&body[column - 5..column], "\"six\"", "{r}");
        assert!(r.contains("at line 1 column"), "{r}");
    }

    #[test]
    fn a_bad_eventbridge_time_is_reported_as_not_rfc3339() {
        let r = reason(r#"{"detail-type":"X","source":"s","time":"Thu Oct 13 15:50:45 UTC 2022","detail":{}}"#);
        assert!(r.contains("not RFC 3339"), "{r}");
    }

    #[test]
    fn sns_wrapped_eventbridge_keeps_the_inner_id() {
        let inner =
            r#"{"id":"abc","detail-type":"Something Else","source":"x","time":"2020-01-01T00:00:00Z","detail":{}}"#;
        let body = serde_json::json!({"Type":"Notification","MessageId":"m-1","Message":inner}).to_string();
        let m = parse_body(&body).unwrap();
        assert_eq!(m.dedupe_key, "eb:abc");
        assert!(matches!(m.event, Event::Other { .. }));
        assert_eq!(m.sns.unwrap().message_id, "m-1");
    }

    #[test]
    fn origin_from_envelope_resources_trigger_and_topic() {
        let eb = r#"{"id":"1","detail-type":"X","source":"s","time":"2020-01-01T00:00:00Z","region":"eu-west-1",
            "resources":["arn:aws:ecs:eu-west-1:111122223333:service/c/s"],"detail":{}}"#;
        let o = parse_body(eb).unwrap().origin();
        assert_eq!((o.account.as_deref(), o.region.as_deref()), (Some("111122223333"), Some("eu-west-1")));
        let t = r#"{"deploymentId":"d-1","accountId":"444455556666","region":"us-east-1","status":"CREATED"}"#;
        assert_eq!(parse_body(t).unwrap().origin().account.as_deref(), Some("444455556666"));
        let sns = serde_json::json!({"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:ap-south-1:777788889999:t",
            "Message":"{\"deploymentId\":\"d-2\",\"status\":\"CREATED\"}"}).to_string();
        let o = parse_body(&sns).unwrap().origin();
        assert_eq!((o.account.as_deref(), o.region.as_deref()), (Some("777788889999"), Some("ap-south-1")));
    }

    #[test]
    fn deeply_nested_json_is_rejected_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let body =
            format!(r#"{{"detail-type":"X","source":"s","time":"2020-01-01T00:00:00Z","detail":{{"a":{deep}}}}}"#);
        assert_eq!(parse_body(&body).unwrap_err().to_string(), "JSON nested deeper than 64 levels");
        // Brackets inside strings do not count.
        let in_string = format!(r#"{{"hello":"{}"}}"#, "[".repeat(1000));
        assert!(parse_body(&in_string).unwrap_err().to_string().starts_with("not a known envelope"));
        let huge = format!(r#"{{"hello":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert!(parse_body(&huge).unwrap_err().to_string().contains("exceeds"));
        // The limit itself, and many objects side by side (more `{` than the limit, shallow).
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!nesting_exceeds(nested(MAX_DEPTH).as_bytes(), MAX_DEPTH));
        assert!(nesting_exceeds(nested(MAX_DEPTH + 1).as_bytes(), MAX_DEPTH));
        let wide = format!("[{}]", vec![r#"{"a":[1]}"#; 200].join(","));
        assert!(!nesting_exceeds(wide.as_bytes(), MAX_DEPTH));
        assert!(!nesting_exceeds(format!("[{}{wide}]", nested(MAX_DEPTH - 1)).as_bytes(), MAX_DEPTH));
        assert!(nesting_exceeds(
            format!("{}{wide}{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1)).as_bytes(),
            MAX_DEPTH
        ));
    }

    #[test]
    fn each_rejection_has_a_kind_for_metrics() {
        let kind = |body: &str| parse_body(body).unwrap_err().kind();
        assert_eq!(kind(&format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES))), "too_large");
        assert_eq!(kind(&format!(r#"{{"a":{}{}}}"#, "[".repeat(100), "]".repeat(100))), "too_deep");
        assert_eq!(kind("not json"), "not_json");
        assert_eq!(kind("[1]"), "not_json");
        assert_eq!(kind(r#"{"Type":"Notification","MessageId":"m","Message":"plain"}"#), "not_json");
        assert_eq!(kind(r#"{"hello":"world"}"#), "bad_envelope");
        assert_eq!(kind(r#"{"Type":"Notification","MessageId":"m"}"#), "bad_envelope");
        assert_eq!(kind(r#"{"detail-type":"X","source":"s","time":"yesterday","detail":{}}"#), "invalid_field");
        let wrong_type = r#"{"id":"1","detail-type":"ECS Task State Change","source":"aws.ecs","time":"2020-01-01T00:00:00Z",
            "detail":{"taskArn":"t","clusterArn":"c","lastStatus":"RUNNING","desiredStatus":"RUNNING","version":"six"}}"#;
        assert_eq!(kind(wrong_type), "invalid_field");
    }

    #[test]
    fn what_carries_no_id_is_keyed_by_its_sns_notification_or_else_its_content() {
        let trigger = r#"{"deploymentId":"d-1","status":"CREATED"}"#;
        let processed = r#"{"detailType":"X","source":"s","time":"2020-01-01T00:00:00Z","detail":{}}"#;
        let wrap = |m: &str| serde_json::json!({"Type":"Notification","MessageId":"m-1","Message":m}).to_string();
        assert_eq!(parse_body(&wrap(trigger)).unwrap().dedupe_key, "sns:m-1");
        assert_eq!(parse_body(&wrap(processed)).unwrap().dedupe_key, "sns:m-1");
        let top = parse_body(processed).unwrap().dedupe_key;
        assert_eq!(top, format!("sha256:{}", hex_sha256(processed)));
        assert_eq!(top.len(), "sha256:".len() + 64);
    }

    #[test]
    fn raw_trigger_is_keyed_by_content() {
        let body = r#"{"deploymentId":"d-1","status":"CREATED","createTime":"Thu Oct 13 15:50:45 UTC 2022"}"#;
        let a = parse_body(body).unwrap();
        let b = parse_body(&format!("{body}\n")).unwrap();
        assert!(a.dedupe_key.starts_with("sha256:"));
        assert_eq!(a.dedupe_key, b.dedupe_key);
    }
}
