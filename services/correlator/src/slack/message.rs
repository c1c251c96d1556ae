//! The Slack message of a deployment, as Block Kit blocks plus a plain-text fallback: the
//! context a template sees ([`MessageContext`]), rendered by the templates module. Pure: the
//! same deployment renders to the same bytes.

use cutover_events::Timestamp;
use cutover_events::annotation::DeployAnnotation;
use cutover_events::canonical::sort_keys;
use cutover_events::emitted::{DetailType, PipelineContext, SourceRevision};
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

/// Whether a context lists the deployment's steps: the default template does not read them,
/// and formatting each step's two times was most of building a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steps {
    Listed,
    Left,
}

/// The template context of the deployment's one living message, its steps listed or left out.
pub(crate) fn context(
    d: &Deployment,
    pipeline: Option<&PipelineContext>,
    joined: Option<&Joined<'_>>,
    labels: Option<&crate::deployment::ImageLabels>,
    slack_deployer: Option<&str>,
    steps: Steps,
) -> MessageContext {
    let stage = joined.and_then(|j| j.stage);
    // Every value from an event is escaped where it is read (`e`), so none can make a mention
    // or a link; the markup around them is Cutover's own.
    let name = d
        .target
        .service
        .as_deref()
        .or(d.target.deployment_group.as_deref())
        .or(d.target.application.as_deref())
        .unwrap_or(&d.id);
    let title = match &d.target.environment {
        Some(env) => format!("{} · {}", escape(name), escape(env)),
        None => escape(name).into_owned(),
    };
    let (emoji, status) = status(d);
    let annotation = d.annotation.as_ref();
    // The image's own version label, when it says more than the tag.
    let label_version = labels.and_then(|l| l.version.as_deref()).filter(|v| d.release.version.as_deref() != Some(*v));
    let version = match (d.release.version.as_deref(), label_version) {
        (Some(tag), Some(v)) => format!("`{}` ({})", escape(tag), escape(v)),
        (Some(tag), None) => format!("`{}`", escape(tag)),
        (None, Some(v)) => escape(v).into_owned(),
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
        fields.push(field("Branch or tag", escape(b).into_owned()));
    }
    if let Some(cluster) = &d.target.cluster {
        fields.push(field("Cluster", escape(cluster).into_owned()));
    }
    fields.push(field("Strategy", d.strategy.as_str().to_owned()));
    let who = annotation.and_then(|a| a.actor.clone()).or_else(|| pipeline.and_then(|p| p.trigger_detail.clone()));
    // A `/cutover deploy`: the Slack user id was checked to be letters and digits only, so
    // the mention is Cutover's own markup.
    if let Some(user) = slack_deployer {
        fields.push(field("Started by", format!("<@{user}> from Slack")));
    } else if let Some(who) = &who {
        fields.push(field("Started by", escape(who).into_owned()));
    }
    if let Some(p) = pipeline {
        let mut s = format!("{} `{}`", escape(&p.name), escape(short_id(&p.execution_id)));
        if let Some(stage) = stage {
            s.push_str(&format!(" · stage {}", escape(stage)));
        }
        if let Some(t) = &p.trigger_type {
            s.push_str(&format!(" · {}", escape(t)));
        }
        fields.push(field("Pipeline", s));
        // The change the execution carries: its first source revision's summary, linked where
        // CodePipeline gives a safe URL.
        if let Some(summary) = p.source_revisions.iter().find_map(|r| Some((r.summary.as_deref()?, r.url.as_deref()))) {
            let line = first_line(summary.0, 120);
            let text = summary.1.and_then(|url| link(url, &line)).unwrap_or_else(|| escape(&line).into_owned());
            fields.push(field("Change", text));
        }
        if let Some(at) = p.approved_at {
            // Which execution and version the approval was for: linear pipelines queue several.
            let version = d.release.version.as_deref().map(|v| format!(" of `{}`", escape(v))).unwrap_or_default();
            let by = p.approved_by.as_deref().map(|a| format!(" by {}", escape(person(a)))).unwrap_or_default();
            let comment = p
                .approval_comment
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .map(|c| format!(": {}", escape(&first_line(c, 200))))
                .unwrap_or_default();
            fields.push(field(
                "Approved",
                format!("{}{by} for execution `{}`{version}{comment}", clock(at), escape(short_id(&p.execution_id))),
            ));
        }
    }
    // One pipeline, several environments: the execution's earlier deployments, each where its
    // message is.
    if let Some(j) = joined.filter(|j| !j.earlier.is_empty()) {
        let lines: Vec<String> = j
            .earlier
            .iter()
            .map(|e| {
                format!(
                    "*{}*: {}{}{}",
                    escape(e.environment),
                    message_link(e.deployment_id, &format!("`{}`", escape(e.deployment_id))),
                    e.channel.map(|c| format!(" in #{}", escape(c))).unwrap_or_default(),
                    e.cut_over_at.map(|t| format!(", cut over {}", clock(t))).unwrap_or_default()
                )
            })
            .collect();
        fields.push(field("Earlier in this execution", lines.join("\n")));
    }
    if let Some(app) = &d.target.application {
        let group = d.target.deployment_group.as_deref().unwrap_or("?");
        fields.push(field("CodeDeploy", format!("{} / {}", escape(app), escape(group))));
    }
    if let Some(td) = &d.release.task_definition {
        fields.push(field("Task definition", escape(short_arn(td)).into_owned()));
    }
    let run_url = annotation.and_then(|a| a.run_url.clone());
    if let Some(url) = &run_url {
        fields.push(field("CI run", link(url, &link_text(url)).unwrap_or_else(|| escape(url).into_owned())));
    }
    if let Some(of) = &d.rollback.of {
        fields.push(field("Rolls back", format!("`{}`", escape(of))));
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
            id: escape(&d.id).into_owned(),
            service: escaped(d.target.service.as_deref()),
            cluster: escaped(d.target.cluster.as_deref()),
            environment: escaped(d.target.environment.as_deref()),
            strategy: d.strategy.as_str(),
            version: escaped(d.release.version.as_deref()),
            task_definition: escaped(d.release.task_definition.as_deref()),
            previous_task_definition: escaped(d.release.previous_task_definition.as_deref()),
            application: escaped(d.target.application.as_deref()),
            deployment_group: escaped(d.target.deployment_group.as_deref()),
            rollback_of: escaped(d.rollback.of.as_deref()),
            commit: escaped(commit.as_deref()),
            commit_link,
            branch_or_tag: escaped(branch.as_deref()),
            actor: escaped(who.as_deref()),
            run_url: run_url.as_deref().and_then(safe_url),
            rollback_window: window,
            steps: d
                .history
                .iter()
                .filter(|_| steps == Steps::Listed)
                .map(|s| StepContext {
                    kind: state_name(s.detail_type),
                    at: s.at.to_string(),
                    clock: clock(s.at),
                    percent: s.percent,
                })
                .collect(),
        },
        pipeline: pipeline.map(escaped_pipeline),
    }
}

/// How a link to another of Cutover's messages starts: `<cutover:message:<id>|<text>>`.
pub const MESSAGE_LINK: &str = "cutover:message:";

/// A link to another of Cutover's messages (a deployment's, an approval's) by its id, with
/// `text` (mrkdwn, escaped already): the Slack executor makes it a link to that message (its
/// permalink) once it is posted, and leaves `text` alone until then. An id that could end the
/// link early is not linked.
pub(crate) fn message_link(id: &str, text: &str) -> String {
    if id.is_empty()
        || id.contains(|c: char| matches!(c, '|' | '<' | '>' | '&') || c.is_whitespace())
        || text.contains(['|', '>', '<'])
    {
        return text.to_owned();
    }
    format!("<{MESSAGE_LINK}{id}|{text}>")
}

/// How a deployment was joined to its execution's deploy action: the stage, and the
/// execution's earlier deployments (other environments).
#[derive(Debug, Default)]
pub(crate) struct Joined<'a> {
    pub stage: Option<&'a str>,
    pub earlier: Vec<EarlierRun<'a>>,
}

/// An earlier deployment of the same execution.
#[derive(Debug)]
pub(crate) struct EarlierRun<'a> {
    pub environment: &'a str,
    pub deployment_id: &'a str,
    pub channel: Option<&'a str>,
    pub cut_over_at: Option<Timestamp>,
}

/// Text from an event, made data in Slack's mrkdwn: `&`, `<` and `>` escaped as Slack asks, so
/// no value can open a mention (`<!channel>`), a link or a user reference.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['&', '<', '>']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn escaped(text: Option<&str>) -> Option<String> {
    text.map(|t| escape(t).into_owned())
}

/// The pipeline context a template sees, its text escaped.
fn escaped_pipeline(p: &PipelineContext) -> PipelineContext {
    let e = |v: &Option<String>| escaped(v.as_deref());
    PipelineContext {
        name: escape(&p.name).into_owned(),
        execution_id: escape(&p.execution_id).into_owned(),
        stage: e(&p.stage),
        action: e(&p.action),
        trigger_type: e(&p.trigger_type),
        trigger_detail: e(&p.trigger_detail),
        revision: e(&p.revision),
        branch_or_tag: e(&p.branch_or_tag),
        approved_by: e(&p.approved_by),
        approval_comment: e(&p.approval_comment),
        source_revisions: p
            .source_revisions
            .iter()
            .map(|r| SourceRevision {
                artifact: e(&r.artifact),
                revision_id: e(&r.revision_id),
                summary: e(&r.summary),
                url: r.url.as_deref().and_then(safe_url),
            })
            .collect(),
        ..p.clone()
    }
}

/// A URL Cutover may link to: `https://` with a host, nothing that could end the link or
/// start markup (`<`, `>`, `|`, white space, control characters), `&` escaped.
fn safe_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host_ok = rest.split(['/', '?', '#']).next().is_some_and(|h| !h.is_empty());
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '|' | '`'));
    (host_ok && clean && url.len() <= 2_000).then(|| url.replace('&', "&amp;"))
}

/// `<url|text>`, made by Cutover: `None` when the URL is not one to link to.
pub(crate) fn link(url: &str, text: &str) -> Option<String> {
    Some(format!("<{}|{}>", safe_url(url)?, escape(text)))
}

/// A thread reply: one line of text in one section.
pub(crate) fn reply(text: String) -> (String, Vec<Value>) {
    let blocks = vec![sort_keys(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}))];
    fit((text, blocks))
}

/// Block Kit's limits, in characters (Slack refuses a message that breaks one).
const HEADER_CHARS: usize = 150;
const SECTION_CHARS: usize = 3_000;
const FIELD_CHARS: usize = 2_000;
const FIELDS_PER_SECTION: usize = 10;
/// Slack truncates longer fallback texts; Cutover shortens them itself.
const TEXT_CHARS: usize = 4_000;

/// A message shortened to Block Kit's limits (header 150, field 2,000, section and context
/// text 3,000, ten fields a section), with `…` where something was cut: whatever a template
/// or an event made, Slack gets blocks it accepts.
pub fn fit((text, mut blocks): (String, Vec<Value>)) -> (String, Vec<Value>) {
    fn cap(v: &mut Value, max: usize) {
        // A string of at most `max` bytes has at most `max` characters: only longer ones are counted.
        if let Some(s) = v.as_str()
            && s.len() > max
            && s.chars().count() > max
        {
            *v = Value::String(shorten(s, max));
        }
    }
    for block in &mut blocks {
        let header = block.get("type").and_then(Value::as_str) == Some("header");
        let text_max = if header { HEADER_CHARS } else { SECTION_CHARS };
        if let Some(t) = block.get_mut("text").and_then(|t| t.get_mut("text")) {
            cap(t, text_max);
        }
        if let Some(fields) = block.get_mut("fields").and_then(Value::as_array_mut) {
            fields.truncate(FIELDS_PER_SECTION);
            for f in fields {
                if let Some(t) = f.get_mut("text") {
                    cap(t, FIELD_CHARS);
                }
            }
        }
        if let Some(elements) = block.get_mut("elements").and_then(Value::as_array_mut) {
            for e in elements {
                if let Some(t) = e.get_mut("text") {
                    cap(t, SECTION_CHARS);
                }
            }
        }
    }
    let text =
        if text.len() > TEXT_CHARS && text.chars().count() > TEXT_CHARS { shorten(&text, TEXT_CHARS) } else { text };
    (text, blocks)
}

/// `text` cut to at most `max` characters, ending in `…`; never inside an escape (`&amp;`) or
/// a link or mention (`<…>`), which would leave broken markup.
pub fn shorten(text: &str, max: usize) -> String {
    let keep = max.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut cut = &text[..end];
    if let Some(amp) = cut.rfind('&')
        && !cut[amp..].contains(';')
    {
        cut = &cut[..amp];
    }
    if let Some(open) = cut.rfind('<')
        && !cut[open..].contains('>')
    {
        cut = &cut[..open];
    }
    format!("{cut}…")
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
            (":x:", format!("failed: {}", escape(reason)))
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

/// The short commit, linked to the repository's commit page when the repository is known and
/// the commit is a hex object id (anything else is shown as text, escaped).
fn commit_link(sha: &str, repository: Option<&str>) -> String {
    let short = escape(short_id(sha));
    let is_hex = (4..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit());
    let repo = repository.map(|r| r.trim_end_matches('/').trim_end_matches(".git")).filter(|_| is_hex);
    let url = repo.map(|repo| {
        if repo.contains("bitbucket.org") { format!("{repo}/commits/{sha}") } else { format!("{repo}/commit/{sha}") }
    });
    match url.as_deref().and_then(safe_url) {
        Some(url) => format!("<{url}|`{short}`>"),
        None => format!("`{short}`"),
    }
}

/// Who an IAM ARN names: the user or role session (`arn:aws:iam::1:user/mary` → `mary`).
pub(crate) fn person(arn: &str) -> &str {
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

/// The first line of a text, cut at `max` characters (with `…`).
pub(crate) fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

pub(crate) fn short_id(id: &str) -> &str {
    id.char_indices().nth(8).map_or(id, |(i, _)| &id[..i])
}
