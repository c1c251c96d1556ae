//! The Slack message of a deployment, as Block Kit blocks plus a plain-text fallback: the
//! context a template sees ([`MessageContext`]), rendered by [`crate::templates`]. Pure: the
//! same deployment renders to the same bytes.

use cutover_events::Timestamp;
use cutover_events::annotation::DeployAnnotation;
use cutover_events::canonical::sort_keys;
use cutover_events::emitted::{DetailType, PipelineContext};
use serde::Serialize;
use serde_json::{Value, json};

use crate::deployment::Deployment;

/// What a message template sees (see `templates/message.j2` for the documented keys).
#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    pub title: String,
    pub emoji: &'static str,
    pub status: String,
    pub state: &'static str,
    pub fields: Vec<Field>,
    pub progress: String,
    pub deployment: DeploymentContext,
    pub pipeline: Option<PipelineContext>,
}

/// One field of the default list: a label and a Slack mrkdwn value.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

/// The deployment, for templates.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeploymentContext {
    pub id: String,
    pub service: Option<String>,
    pub cluster: Option<String>,
    pub environment: Option<String>,
    pub strategy: &'static str,
    pub version: Option<String>,
    pub task_definition: Option<String>,
    pub previous_task_definition: Option<String>,
    pub application: Option<String>,
    pub deployment_group: Option<String>,
    pub rollback_of: Option<String>,
    pub commit: Option<String>,
    pub commit_link: Option<String>,
    pub branch_or_tag: Option<String>,
    pub actor: Option<String>,
    pub run_url: Option<String>,
    /// "old version kept until 10:32 UTC", "ended 10:32 UTC (old version removed)", or none.
    pub rollback_window: Option<String>,
    pub steps: Vec<StepContext>,
}

/// One decided step, for templates.
#[derive(Debug, Clone, Serialize)]
pub struct StepContext {
    /// `started`, `traffic_shifted`, `cut_over`, `completed`, `failed`, `rolled_back`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// RFC 3339.
    pub at: String,
    /// `HH:MM:SS UTC`.
    pub clock: String,
    pub percent: Option<f64>,
}

fn state_name(t: DetailType) -> &'static str {
    match t {
        DetailType::Started => "started",
        DetailType::TrafficShifted => "traffic_shifted",
        DetailType::CutOver => "cut_over",
        DetailType::Completed => "completed",
        DetailType::Failed => "failed",
        DetailType::RolledBack => "rolled_back",
    }
}

/// The template context of the deployment's one living message.
pub(crate) fn context(
    d: &Deployment,
    pipeline: Option<&PipelineContext>,
    labels: Option<&crate::correlator::ImageLabels>,
) -> MessageContext {
    let name = d.service.as_deref().or(d.deployment_group.as_deref()).or(d.application.as_deref()).unwrap_or(&d.id);
    let title = match &d.environment {
        Some(env) => format!("{name} · {env}"),
        None => name.to_owned(),
    };
    let (emoji, status) = status(d);
    let annotation = d.annotation.as_ref();
    // The image's own version label, when it says more than the tag.
    let label_version = labels.and_then(|l| l.version.as_deref()).filter(|v| d.version.as_deref() != Some(*v));
    let version = match (d.version.as_deref(), label_version) {
        (Some(tag), Some(v)) => format!("`{tag}` ({v})"),
        (Some(tag), None) => format!("`{tag}`"),
        (None, Some(v)) => v.to_owned(),
        (None, None) => "not known yet".to_owned(),
    };
    let mut fields = vec![field("Version", version)];
    // The commit: CI's annotation, else the pipeline's source revision, else the image's label.
    let commit = annotation
        .and_then(|a| a.commit.clone())
        .or_else(|| pipeline.and_then(|p| p.revision.clone()))
        .or_else(|| labels.and_then(|l| l.revision.clone()));
    let repository = annotation.and_then(|a| a.repository.as_deref()).or(labels.and_then(|l| l.source.as_deref()));
    let commit_link = commit.as_deref().map(|sha| commit_link(sha, repository));
    if let Some(link) = &commit_link {
        fields.push(field("Commit", link.clone()));
    }
    let branch =
        annotation.and_then(DeployAnnotation::branch_or_tag).or_else(|| pipeline.and_then(|p| p.branch_or_tag.clone()));
    if let Some(b) = &branch {
        fields.push(field("Branch or tag", b.clone()));
    }
    if let Some(cluster) = &d.cluster {
        fields.push(field("Cluster", cluster.clone()));
    }
    fields.push(field("Strategy", d.strategy.as_str().to_owned()));
    let who = annotation.and_then(|a| a.actor.clone()).or_else(|| pipeline.and_then(|p| p.trigger_detail.clone()));
    if let Some(who) = &who {
        fields.push(field("Started by", who.clone()));
    }
    if let Some(p) = pipeline {
        let mut s = format!("{} `{}`", p.name, short_id(&p.execution_id));
        if let Some(t) = &p.trigger_type {
            s.push_str(&format!(" · {t}"));
        }
        fields.push(field("Pipeline", s));
        if let Some(at) = p.approved_at {
            // Which execution and version the approval was for: linear pipelines queue several.
            let version = d.version.as_deref().map(|v| format!(" of `{v}`")).unwrap_or_default();
            let by = p.approved_by.as_deref().map(|a| format!(" by {}", person(a))).unwrap_or_default();
            fields.push(field(
                "Approved",
                format!("{}{by} for execution `{}`{version}", clock(at), short_id(&p.execution_id)),
            ));
        }
    }
    if let Some(app) = &d.application {
        let group = d.deployment_group.as_deref().unwrap_or("?");
        fields.push(field("CodeDeploy", format!("{app} / {group}")));
    }
    if let Some(td) = &d.task_definition {
        fields.push(field("Task definition", short_arn(td).to_owned()));
    }
    let run_url = annotation.and_then(|a| a.run_url.clone());
    if let Some(url) = &run_url {
        fields.push(field("CI run", format!("<{url}|{}>", link_text(url))));
    }
    if let Some(of) = &d.rollback_of {
        fields.push(field("Rolls back", format!("`{of}`")));
    }
    // The rollback window: while it runs the old version can take the traffic back at once.
    let window = d.rollback_window_until.and_then(|until| match d.terminal() {
        None => Some(format!("old version kept until {}", hh_mm(until))),
        Some((DetailType::Completed, _)) => Some(format!("ended {} (old version removed)", hh_mm(until))),
        Some(_) => None,
    });
    if let Some(w) = &window {
        fields.push(field("Rollback window", w.clone()));
    }
    MessageContext {
        title,
        emoji,
        status,
        state: d.history.last().map_or("waiting", |s| state_name(s.detail_type)),
        fields,
        progress: progress(
            d,
            pipeline,
            labels.and_then(|l| l.created.as_deref()).and_then(|c| Timestamp::parse(c).ok()),
        ),
        deployment: DeploymentContext {
            id: d.id.clone(),
            service: d.service.clone(),
            cluster: d.cluster.clone(),
            environment: d.environment.clone(),
            strategy: d.strategy.as_str(),
            version: d.version.clone(),
            task_definition: d.task_definition.clone(),
            previous_task_definition: d.previous_task_definition.clone(),
            application: d.application.clone(),
            deployment_group: d.deployment_group.clone(),
            rollback_of: d.rollback_of.clone(),
            commit,
            commit_link,
            branch_or_tag: branch,
            actor: who,
            run_url,
            rollback_window: window,
            steps: d
                .history
                .iter()
                .map(|s| StepContext {
                    kind: state_name(s.detail_type),
                    at: s.at.to_string(),
                    clock: clock(s.at),
                    percent: s.percent,
                })
                .collect(),
        },
        pipeline: pipeline.cloned(),
    }
}

/// A thread reply: one line of text in one section.
pub(crate) fn reply(text: String) -> (String, Vec<Value>) {
    let blocks = vec![sort_keys(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}))];
    (text, blocks)
}

fn field(label: &'static str, value: String) -> Field {
    Field { label, value }
}

fn status(d: &Deployment) -> (&'static str, String) {
    let Some(last) = d.history.last() else { return (":hourglass:", "waiting".to_owned()) };
    match last.detail_type {
        DetailType::Started => (":large_blue_circle:", "deploying".to_owned()),
        DetailType::TrafficShifted => {
            (":arrows_counterclockwise:", format!("shifting traffic: {} %", percent(last.percent.unwrap_or(0.0))))
        }
        DetailType::CutOver => (":white_check_mark:", "cut over: production traffic is on the new version".to_owned()),
        DetailType::Completed => (":white_check_mark:", "completed".to_owned()),
        DetailType::Failed => {
            let reason = d.evidence.failed.as_ref().map(|(_, r)| r.as_str()).unwrap_or("failed");
            (":x:", format!("failed: {reason}"))
        }
        DetailType::RolledBack => (":rewind:", "failed and rolled back".to_owned()),
    }
}

/// `built 09:12:40 → approved 09:29:10 → started 09:30:00 → 10 % 09:31:00 (1m 0s) → *cut over* 09:33:04 (3m 4s) → completed …`.
fn progress(d: &Deployment, pipeline: Option<&PipelineContext>, built: Option<Timestamp>) -> String {
    let start = d.started_at();
    let built = built.map(|at| format!("built {}", clock(at)));
    let approved = pipeline.and_then(|p| p.approved_at).map(|at| format!("approved {}", clock(at)));
    let parts: Vec<String> = built
        .into_iter()
        .chain(approved)
        .chain(d.history.iter().map(|s| {
            let label = match s.detail_type {
                DetailType::Started => "started".to_owned(),
                DetailType::TrafficShifted => format!("{} %", percent(s.percent.unwrap_or(0.0))),
                DetailType::CutOver => "*cut over*".to_owned(),
                DetailType::Completed => "completed".to_owned(),
                DetailType::Failed => "failed".to_owned(),
                DetailType::RolledBack => "rolled back".to_owned(),
            };
            match (s.detail_type, start) {
                (DetailType::Started, _) | (_, None) => format!("{label} {}", clock(s.at)),
                (_, Some(t0)) => format!("{label} {} ({})", clock(s.at), duration(t0, s.at)),
            }
        }))
        .collect();
    parts.join(" → ")
}

pub(crate) fn percent(p: f64) -> String {
    if p.fract() == 0.0 { format!("{}", p as i64) } else { format!("{p}") }
}

/// `HH:MM:SS UTC`.
pub(crate) fn clock(t: Timestamp) -> String {
    let s = t.to_string();
    format!("{} UTC", &s[11..19])
}

/// `HH:MM UTC`.
pub(crate) fn hh_mm(t: Timestamp) -> String {
    let s = t.to_string();
    format!("{} UTC", &s[11..16])
}

pub(crate) fn duration(from: Timestamp, to: Timestamp) -> String {
    let secs = (to.millis() - from.millis()).max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// The short commit, linked to the repository's commit page when the repository is known.
fn commit_link(sha: &str, repository: Option<&str>) -> String {
    let short = short_id(sha);
    match repository.map(|r| r.trim_end_matches('/').trim_end_matches(".git")).filter(|r| r.starts_with("https://")) {
        Some(repo) if repo.contains("bitbucket.org") => format!("<{repo}/commits/{sha}|`{short}`>"),
        Some(repo) => format!("<{repo}/commit/{sha}|`{short}`>"),
        None => format!("`{short}`"),
    }
}

/// Who an IAM ARN names: the user or role session (`arn:aws:iam::1:user/mary` → `mary`).
fn person(arn: &str) -> &str {
    arn.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or(arn)
}

/// A link's text: the URL without its scheme, shortened to its last two parts.
fn link_text(url: &str) -> String {
    let parts: Vec<&str> = url.trim_end_matches('/').rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
