//! What a parsed message must look like to be true (DESIGN.md, "Times that cannot be true" and
//! "Identifiers"): every time that drives a decision lies between 2015-01-01 and 15 minutes
//! ahead of the wall clock, and every identifier has AWS's shape (`ecs-svc/<digits>`, `d-` and
//! nine upper-case letters or digits, ARNs of the named service with an account, names
//! of at most 255 visible characters). A message that breaks one is malformed, with the field
//! named, so no control character, no impossible time and no 200,000-character id reaches the
//! correlator, a log, a store key or a Slack message.
//!
//! The check needs the wall clock, so it runs at the edge (`replay` and the SQS intake both
//! call [`parse_body_at`]), never in the correlator.

use crate::codedeploy::Trigger;
use crate::inbound::{Envelope, Event, Inbound, Malformed};
use crate::time::Timestamp;

/// Longest name AWS gives a cluster, service, application, group, pipeline, stage or action.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest ARN AWS writes.
pub const MAX_ARN_CHARS: usize = 2048;

/// [`crate::inbound::parse_body`], then the shapes of its times and ids against `wall`, the
/// wall clock ([`check`]): what `replay` and the SQS intake admit.
pub fn parse_body_at(body: &str, wall: Timestamp) -> Result<Inbound, Malformed> {
    let message = crate::inbound::parse_body(body)?;
    check(&message, wall)?;
    Ok(message)
}

/// Checks every time and id of `message` against `wall`, the wall clock.
pub fn check(message: &Inbound, wall: Timestamp) -> Result<(), Malformed> {
    let mut c = Checker { wall, context: "" };
    if let Some(sns) = &message.sns {
        c.context = "SNS";
        c.visible("MessageId", Some(&sns.message_id), MAX_NAME_CHARS)?;
        c.time("Timestamp", sns.timestamp)?;
    }
    match &message.event {
        Event::EcsTask { envelope, detail: d } => {
            c.envelope(envelope)?;
            c.arn("taskArn", Some(&d.task_arn), "ecs")?;
            c.arn("clusterArn", Some(&d.cluster_arn), "ecs")?;
            c.arn("taskDefinitionArn", d.task_definition_arn.as_deref(), "ecs")?;
            c.visible("group", d.group.as_deref(), MAX_NAME_CHARS + "service:".len())?;
            match d.started_by.as_deref() {
                Some(s) if s.starts_with("ecs-svc/") => c.ecs_deployment_id("startedBy", s)?,
                other => c.visible("startedBy", other, MAX_NAME_CHARS)?,
            }
            for container in &d.containers {
                c.visible("containers[].image", container.image.as_deref(), MAX_ARN_CHARS)?;
            }
            c.time("createdAt", d.created_at)?;
            c.time("updatedAt", d.updated_at)?;
            c.time("stoppingAt", d.stopping_at)
        }
        Event::EcsDeployment { envelope, detail } => {
            c.envelope(envelope)?;
            c.ecs_deployment_id("deploymentId", &detail.deployment_id)?;
            c.time("updatedAt", detail.updated_at)
        }
        Event::EcsHook { envelope, detail } => {
            c.envelope(envelope)?;
            c.arn("serviceDeploymentArn", Some(&detail.service_deployment_arn), "ecs")?;
            c.arn("serviceArn", detail.service_arn.as_deref(), "ecs")?;
            c.arn("clusterArn", detail.cluster_arn.as_deref(), "ecs")?;
            c.visible("hookId", detail.hook_id.as_deref(), MAX_NAME_CHARS)?;
            c.time("updatedAt", detail.updated_at)
        }
        Event::CodeDeployDeployment { envelope, detail } | Event::CodeDeployInstance { envelope, detail } => {
            c.envelope(envelope)?;
            c.codedeploy_id("deploymentId", &detail.deployment_id)?;
            c.visible("application", detail.application.as_deref(), MAX_NAME_CHARS)?;
            c.visible("deploymentGroup", detail.deployment_group.as_deref(), MAX_NAME_CHARS)?;
            c.visible("instanceId", detail.instance_id.as_deref(), MAX_ARN_CHARS)
        }
        Event::CodeDeployTrigger { trigger, .. } => {
            c.context = "CodeDeploy trigger";
            c.trigger(trigger)
        }
        Event::Pipeline { envelope, detail } => {
            c.envelope(envelope)?;
            c.visible("pipeline", Some(&detail.pipeline), MAX_NAME_CHARS)?;
            c.visible("execution-id", Some(&detail.execution_id), MAX_NAME_CHARS)?;
            c.visible("stage", detail.stage.as_deref(), MAX_NAME_CHARS)?;
            c.visible("action", detail.action.as_deref(), MAX_NAME_CHARS)?;
            c.time("start-time", detail.start_time)
        }
        Event::Annotation { envelope, detail } => {
            c.envelope(envelope)?;
            c.visible("cluster", Some(&detail.cluster), MAX_NAME_CHARS)?;
            c.visible("service", Some(&detail.service), MAX_NAME_CHARS)?;
            c.visible("image_tag", detail.image_tag.as_deref(), MAX_NAME_CHARS)?;
            c.visible("task_definition", detail.task_definition.as_deref(), MAX_ARN_CHARS)?;
            c.visible("channel", detail.channel.as_deref(), MAX_NAME_CHARS)
        }
        Event::EcsServiceAction { envelope, .. } | Event::Other { envelope } => c.envelope(envelope),
        Event::ApprovalNotification(n) => {
            // Joined to an approval by these names, and shown in its message: names, not text.
            // (`expires` is days ahead by design; it only says when the approval lapses.)
            c.context = "approval";
            let a = &n.approval;
            c.visible("pipelineName", Some(&a.pipeline_name), MAX_NAME_CHARS)?;
            c.visible("stageName", Some(&a.stage_name), MAX_NAME_CHARS)?;
            c.visible("actionName", Some(&a.action_name), MAX_NAME_CHARS)?;
            c.visible("token", a.token.as_deref(), MAX_NAME_CHARS)?;
            c.visible("approvalReviewLink", a.approval_review_link.as_deref(), MAX_ARN_CHARS)
        }
        Event::SnsControl { .. } => Ok(()),
    }
}

struct Checker {
    wall: Timestamp,
    /// What the fields belong to, for the reason (`ECS Task State Change detail`).
    context: &'static str,
}

impl Checker {
    fn fail(&self, field: &str, why: impl std::fmt::Display) -> Malformed {
        if self.context.is_empty() {
            Malformed::InvalidField(format!("{field}: {why}"))
        } else {
            Malformed::InvalidField(format!("{} {field}: {why}", self.context))
        }
    }

    fn envelope(&mut self, e: &Envelope) -> Result<(), Malformed> {
        self.context = "";
        self.visible("EventBridge id", e.id.as_deref(), MAX_NAME_CHARS)?;
        if let Some(account) = &e.account
            && !is_account(account)
        {
            return Err(self.fail("EventBridge account", format!("{} is not an account id", shown(account))));
        }
        if let Some(region) = &e.region
            && !is_region(region)
        {
            return Err(self.fail("EventBridge region", format!("{} is not a region", shown(region))));
        }
        for r in &e.resources {
            self.visible("EventBridge resources[]", Some(r), MAX_ARN_CHARS)?;
        }
        self.time("EventBridge time", Some(e.time))?;
        self.context = "detail";
        Ok(())
    }

    fn trigger(&self, t: &Trigger) -> Result<(), Malformed> {
        self.codedeploy_id("deploymentId", &t.deployment_id)?;
        if let Some(account) = &t.account_id
            && !is_account(account)
        {
            return Err(self.fail("accountId", format!("{} is not an account id", shown(account))));
        }
        if let Some(region) = &t.region
            && !is_region(region)
        {
            return Err(self.fail("region", format!("{} is not a region", shown(region))));
        }
        self.visible("applicationName", t.application_name.as_deref(), MAX_NAME_CHARS)?;
        self.visible("deploymentGroupName", t.deployment_group_name.as_deref(), MAX_NAME_CHARS)?;
        self.visible("instanceId", t.instance_id.as_deref(), MAX_ARN_CHARS)?;
        if let Some(r) = &t.rollback_information {
            if let Some(id) = r.0.rollback_triggering_deployment_id.as_deref() {
                self.codedeploy_id("rollbackInformation.rollbackTriggeringDeploymentId", id)?;
            }
            if let Some(id) = r.0.rollback_deployment_id.as_deref() {
                self.codedeploy_id("rollbackInformation.rollbackDeploymentId", id)?;
            }
        }
        self.time("createTime", t.create_time)?;
        self.time("completeTime", t.complete_time)?;
        self.time("lastUpdatedAt", t.last_updated_at)?;
        for e in t.lifecycle_events.iter().flatten() {
            self.time("lifecycleEvents[].StartTime", e.start_time)?;
            self.time("lifecycleEvents[].EndTime", e.end_time)?;
        }
        Ok(())
    }

    fn time(&self, field: &str, t: Option<Timestamp>) -> Result<(), Malformed> {
        match t {
            Some(t) => t.plausible(self.wall).map_err(|why| self.fail(field, format!("time {t} is {why}"))),
            None => Ok(()),
        }
    }

    fn visible(&self, field: &str, value: Option<&str>, max_chars: usize) -> Result<(), Malformed> {
        let Some(v) = value else { return Ok(()) };
        // Printable ASCII (what AWS writes) has no control character and a byte per character.
        if v.len() <= max_chars && v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Ok(());
        }
        if let Some(c) = v.chars().find(|c| c.is_control()) {
            return Err(self.fail(field, format!("contains the control character U+{:04X}", u32::from(c))));
        }
        let n = v.chars().count();
        if n > max_chars {
            return Err(self.fail(field, format!("{n} characters, more than {max_chars}")));
        }
        Ok(())
    }

    fn arn(&self, field: &str, value: Option<&str>, service: &str) -> Result<(), Malformed> {
        let Some(v) = value else { return Ok(()) };
        self.visible(field, Some(v), MAX_ARN_CHARS)?;
        let mut parts = v.splitn(6, ':');
        let ok = parts.next() == Some("arn")
            && parts.next().is_some_and(|p| !p.is_empty())
            && parts.next() == Some(service)
            && parts.next().is_some_and(|r| r.is_empty() || is_region(r))
            && parts.next().is_some_and(is_account)
            && parts.next().is_some_and(|r| !r.is_empty() && !has_whitespace(r));
        if ok { Ok(()) } else { Err(self.fail(field, format!("{} is not an {service} ARN", shown(v)))) }
    }

    fn ecs_deployment_id(&self, field: &str, v: &str) -> Result<(), Malformed> {
        let digits = v.strip_prefix("ecs-svc/").unwrap_or("");
        if !digits.is_empty() && digits.len() <= 32 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(self.fail(field, format!("{} is not an ECS deployment id (ecs-svc/<digits>)", shown(v))))
        }
    }

    fn codedeploy_id(&self, field: &str, v: &str) -> Result<(), Malformed> {
        if is_codedeploy_id(v) {
            Ok(())
        } else {
            Err(self
                .fail(field, format!("{} is not a CodeDeploy deployment id (d- and 9 letters or digits)", shown(v))))
        }
    }
}

/// Whether `v` has a white-space character; ASCII (what AWS writes) is read byte by byte.
fn has_whitespace(v: &str) -> bool {
    if v.is_ascii() { v.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b) } else { v.contains(char::is_whitespace) }
}

/// `d-` and nine upper-case letters or digits.
pub fn is_codedeploy_id(v: &str) -> bool {
    v.strip_prefix("d-")
        .is_some_and(|rest| rest.len() == 9 && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
}

/// Twelve digits in AWS; published samples redact them (`xxxxxxxxxxxx`, `000000000`,
/// `<ACCOUNT_ID_REDACTED>`), so any short printable ASCII word.
fn is_account(v: &str) -> bool {
    (1..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

fn is_region(v: &str) -> bool {
    (2..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A value for a reason: quoted with escapes, at most 64 characters, so a hostile value cannot
/// break the log line or the dead-letter attribute that carries the reason.
fn shown(v: &str) -> String {
    let mut s: String = v.chars().take(64).collect();
    if s.len() < v.len() {
        s.push('…');
    }
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::parse_body;

    const WALL: Timestamp = Timestamp(1_800_000_000_000);

    fn deployment(id: &str, updated: &str, resource: &str) -> String {
        serde_json::json!({"version":"0","id":"e-1","detail-type":"ECS Deployment State Change","source":"aws.ecs",
            "account":"111122223333","time":"2026-03-14T09:30:00Z","region":"eu-west-1","resources":[resource],
            "detail":{"eventType":"INFO","eventName":"SERVICE_DEPLOYMENT_IN_PROGRESS","deploymentId":id,"updatedAt":updated}})
        .to_string()
    }

    fn reason(body: &str) -> Option<String> {
        check(&parse_body(body).ok()?, WALL).err().map(|m| m.to_string())
    }

    const SERVICE: &str = "arn:aws:ecs:eu-west-1:111122223333:service/prod/web";

    #[test]
    fn the_ascii_readings_agree_with_the_unicode_ones() {
        // The fast paths read ASCII byte by byte; every character must be judged as before.
        let c = Checker { wall: WALL, context: "" };
        for code in (0..0x3100).chain([0xfeff, 0x1_f600]) {
            let Some(ch) = char::from_u32(code) else { continue };
            let v = format!("arn{ch}x");
            assert_eq!(has_whitespace(&v), v.contains(char::is_whitespace), "U+{code:04X}");
            assert_eq!(c.visible("f", Some(&v), 255).is_ok(), !ch.is_control(), "U+{code:04X}");
        }
        let long = "x".repeat(256);
        assert!(c.visible("f", Some(&long), 256).is_ok() && c.visible("f", Some(&long), 255).is_err());
        let wide = "é".repeat(200);
        assert!(c.visible("f", Some(&wide), 200).is_ok() && c.visible("f", Some(&wide), 199).is_err());
    }

    #[test]
    fn a_true_message_passes() {
        assert_eq!(reason(&deployment("ecs-svc/123", "2026-03-14T09:30:00.000Z", SERVICE)), None);
    }

    #[test]
    fn ids_without_aws_shapes_are_named() {
        let r = reason(&deployment("ecs-svc/12\u{0}3", "2026-03-14T09:30:00Z", SERVICE)).unwrap();
        assert!(r.contains("deploymentId") && r.contains("not an ECS deployment id"), "{r}");
        let long = format!("{SERVICE}{}", "x".repeat(200_000));
        let r = reason(&deployment("ecs-svc/1", "2026-03-14T09:30:00Z", &long)).unwrap();
        assert!(r.contains("resources[]") && r.len() < 200, "{r}");
        let r = reason(&deployment("ecs-svc/1", "2026-03-14T09:30:00Z", "arn:aws:ecs:eu-west-1:1:service/a\u{1b}[31m"))
            .unwrap();
        assert!(r.contains("control character U+001B"), "{r}");
        assert!(is_codedeploy_id("d-75I7MBT7C") && !is_codedeploy_id("d-75i7mbt7c") && !is_codedeploy_id("d-1\n"));
    }

    #[test]
    fn times_outside_2015_to_a_quarter_of_an_hour_ahead_are_named() {
        let r = reason(&deployment("ecs-svc/1", "2099-01-01T00:00:00Z", SERVICE)).unwrap();
        assert!(r.starts_with("detail updatedAt: time 2099-01-01T00:00:00.000Z is more than 15 minutes ahead"), "{r}");
        let r = reason(&deployment("ecs-svc/1", "2014-06-01T00:00:00Z", SERVICE)).unwrap();
        assert!(r.contains("updatedAt") && r.contains("before 2015-01-01"), "{r}");
    }
}
