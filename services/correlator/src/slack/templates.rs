//! Slack message templates (minijinja). Each route may name its own; the rest use the
//! default, shipped as `templates/message.j2` and compiled in. A template renders two blocks:
//! `text` (the plain-text fallback) and `blocks` (a JSON array of Block Kit blocks). Routes'
//! templates may `{% extends "default" %}` and override one of them.
//!
//! Pure: sources come in as strings (the config loads the files), rendering does no IO.
//! Undefined variables are errors, so a typo is caught by `check` (and `cutover check-config`)
//! rather than rendering empty.

use std::collections::BTreeMap;

use cutover_events::Timestamp;
use cutover_events::canonical::{sort_in_place, sort_keys};
use cutover_events::emitted::PipelineContext;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::slack::message::{DeploymentContext, Field, MessageContext, StepContext};

/// The name of the default template.
pub const DEFAULT: &str = "default";
/// The default template's source.
pub const DEFAULT_SOURCE: &str = include_str!("../../templates/message.j2");

/// Why a template cannot be used: which template, which part, which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template}{}{}: {message}", part.map(|p| format!(", block {p}")).unwrap_or_default(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct TemplateError {
    /// The template's name (its path as the config wrote it).
    pub template: String,
    /// `text` or `blocks`, when rendering failed in one of them.
    pub part: Option<&'static str>,
    /// The line in the template (or, for output that is not JSON, in the rendered output).
    pub line: Option<usize>,
    pub message: String,
}

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

fn error(template: &str, part: Option<&'static str>, e: &minijinja::Error) -> TemplateError {
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message}: {detail}");
    }
    TemplateError { template: e.name().unwrap_or(template).to_owned(), part, line: e.line(), message }
}

impl Templates {
    /// Compiles the default and `sources` (name → source). The ones that do not compile are
    /// returned as errors and left out (their routes use the default).
    pub fn new(sources: &BTreeMap<String, String>) -> (Self, Vec<TemplateError>) {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut errors = Vec::new();
        if let Err(e) = env.add_template(DEFAULT, DEFAULT_SOURCE) {
            errors.push(error(DEFAULT, None, &e));
        }
        for (name, source) in sources {
            if let Err(e) = env.add_template_owned(name.clone(), source.clone()) {
                errors.push(error(name, None, &e));
            }
        }
        (Self { env }, errors)
    }

    /// Renders `(text, blocks)` with template `name`. The default template is rendered by
    /// [`render_default`], its native twin (a test keeps the two byte-identical): replay
    /// renders tens of thousands of messages, and the engine costs about 20 µs each.
    pub fn render(&self, name: &str, ctx: &MessageContext) -> Result<(String, Vec<Value>), TemplateError> {
        if name == DEFAULT {
            return Ok(render_default(ctx));
        }
        self.render_with_engine(name, ctx)
    }

    /// Renders with the template engine, the default template too.
    pub fn render_with_engine(&self, name: &str, ctx: &MessageContext) -> Result<(String, Vec<Value>), TemplateError> {
        let template = self.env.get_template(name).map_err(|e| error(name, None, &e))?;
        let mut captured = template
            .render_captured(minijinja::Value::from(minijinja::value::Serde(ctx)))
            .map_err(|e| error(name, None, &e))?;
        let text =
            captured.with_state_mut(|state| state.render_block("text")).map_err(|e| error(name, Some("text"), &e))?;
        let raw = captured
            .with_state_mut(|state| state.render_block("blocks"))
            .map_err(|e| error(name, Some("blocks"), &e))?;
        let blocks: Vec<Value> = serde_json::from_str(&raw).map_err(|e| TemplateError {
            template: name.to_owned(),
            part: Some("blocks"),
            line: Some(e.line()),
            message: format!("the rendered blocks are not a JSON array: {e} (line of the rendered output)"),
        })?;
        if let Some(bad) = blocks.iter().position(|b| b.get("type").and_then(Value::as_str).is_none()) {
            return Err(TemplateError {
                template: name.to_owned(),
                part: Some("blocks"),
                line: None,
                message: format!("block {bad} has no \"type\": each block is an object with a Block Kit type"),
            });
        }
        Ok((text.trim().to_owned(), blocks.into_iter().map(sort_keys).collect()))
    }

    /// Renders template `name` against sample deployments in every state (with and without
    /// pipeline and CI context): the first error, if any.
    pub fn check(&self, name: &str) -> Result<(), TemplateError> {
        for ctx in samples() {
            self.render_with_engine(name, &ctx)?;
        }
        // A misspelt name passed to a filter (`{{ deployment.verison|tojson }}`) renders as
        // nothing rather than failing: every name the template reads must be one it is given.
        let template = self.env.get_template(name).map_err(|e| error(name, None, &e))?;
        let mut unknown: Vec<String> =
            template.undeclared_variables(true).into_iter().filter(|v| !known_name(v)).collect();
        unknown.sort();
        if let Some(v) = unknown.first() {
            let source = template.source();
            let line = source.lines().position(|l| l.contains(v.as_str())).map(|i| i + 1);
            return Err(TemplateError {
                template: name.to_owned(),
                part: None,
                line,
                message: format!("unknown name `{v}` (see the context in the default template's header)"),
            });
        }
        Ok(())
    }
}

/// A name a template may read: the context's keys, their fields, and the engine's globals.
fn known_name(path: &str) -> bool {
    const TOP: [&str; 8] = ["title", "emoji", "status", "state", "fields", "progress", "deployment", "pipeline"];
    const GLOBALS: [&str; 7] = ["range", "dict", "debug", "namespace", "lipsum", "cycler", "joiner"];
    const DEPLOYMENT: [&str; 18] = [
        "id",
        "service",
        "cluster",
        "environment",
        "strategy",
        "version",
        "task_definition",
        "previous_task_definition",
        "application",
        "deployment_group",
        "rollback_of",
        "commit",
        "commit_link",
        "branch_or_tag",
        "actor",
        "run_url",
        "rollback_window",
        "steps",
    ];
    const PIPELINE: [&str; 12] = [
        "name",
        "execution_id",
        "stage",
        "action",
        "trigger_type",
        "trigger_detail",
        "revision",
        "branch_or_tag",
        "approved_at",
        "approved_by",
        "approval_comment",
        "source_revisions",
    ];
    let mut parts = path.split('.');
    let head = parts.next().unwrap_or_default();
    let field = parts.next();
    match (head, field) {
        ("deployment", Some(f)) => DEPLOYMENT.contains(&f),
        ("pipeline", Some(f)) => PIPELINE.contains(&f),
        (h, None) => TOP.contains(&h) || GLOBALS.contains(&h),
        (h, Some(_)) => TOP.contains(&h) && h != "deployment" && h != "pipeline",
    }
}

/// What `templates/message.j2` renders, without the engine.
pub fn render_default(ctx: &MessageContext) -> (String, Vec<Value>) {
    use serde_json::json;
    let text = match &ctx.deployment.version {
        Some(v) => format!("{} {} {v}: {}", ctx.emoji, ctx.title, ctx.status),
        None => format!("{} {}: {}", ctx.emoji, ctx.title, ctx.status),
    };
    // Keys written in sorted order, so the canonical sort below only reads them.
    let mut blocks = vec![
        json!({"text": {"text": ctx.title, "type": "plain_text"}, "type": "header"}),
        json!({"text": {"text": format!("{} *{}*", ctx.emoji, ctx.status), "type": "mrkdwn"}, "type": "section"}),
    ];
    for chunk in ctx.fields.chunks(10) {
        let fields: Vec<Value> =
            chunk.iter().map(|f| json!({"text": format!("*{}*\n{}", f.label, f.value), "type": "mrkdwn"})).collect();
        blocks.push(json!({"fields": fields, "type": "section"}));
    }
    blocks.push(json!({"elements": [{"text": ctx.progress, "type": "mrkdwn"}], "type": "context"}));
    blocks.push(
        json!({"elements": [{"text": format!("deployment `{}`", ctx.deployment.id), "type": "mrkdwn"}], "type": "context"}),
    );
    blocks.iter_mut().for_each(sort_in_place);
    (text, blocks)
}

/// Sample contexts: every state, the optional parts present and absent.
pub fn samples() -> Vec<MessageContext> {
    let states = ["waiting", "started", "traffic_shifted", "cut_over", "completed", "failed", "rolled_back"];
    let mut out = Vec::new();
    for (i, state) in states.into_iter().enumerate() {
        let rich = i % 2 == 1;
        let steps: Vec<StepContext> = states[1..=i.max(1).min(states.len() - 1)]
            .iter()
            .take(i)
            .enumerate()
            .map(|(n, kind)| StepContext {
                kind,
                at: Timestamp(1_773_480_600_000 + n as i64 * 60_000).to_string(),
                clock: format!("09:3{n}:00 UTC"),
                percent: (*kind == "traffic_shifted").then_some(10.0),
            })
            .collect();
        out.push(MessageContext {
            title: if rich { "storefront · production".into() } else { "DgpECS-prod-eu-storefront".into() },
            emoji: ":large_blue_circle:",
            status: format!("sample {state}"),
            state,
            fields: vec![Field { label: "Version", value: "`v123`".into() }],
            progress: "started 09:30:00 UTC".into(),
            deployment: DeploymentContext {
                id: if rich { "ecs-svc/5211643699352071000".into() } else { "d-7QHX0M2PB".into() },
                service: rich.then(|| "storefront".into()),
                cluster: rich.then(|| "prod-eu".into()),
                environment: rich.then(|| "production".into()),
                strategy: if rich { "ecs-rolling" } else { "codedeploy-blue-green" },
                version: rich.then(|| "v123".into()),
                task_definition: rich
                    .then(|| "arn:aws:ecs:eu-west-1:123456789012:task-definition/storefront:42".into()),
                previous_task_definition: None,
                application: (!rich).then(|| "AppECS-prod-eu-storefront".into()),
                deployment_group: (!rich).then(|| "DgpECS-prod-eu-storefront".into()),
                rollback_of: None,
                commit: rich.then(|| "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b".into()),
                commit_link: rich.then(|| "`9f1c2ab7`".into()),
                branch_or_tag: rich.then(|| "main".into()),
                actor: rich.then(|| "octocat".into()),
                run_url: None,
                rollback_window: (!rich).then(|| "old version kept until 10:32 UTC".into()),
                steps,
            },
            pipeline: (!rich).then(|| PipelineContext {
                name: "storefront-release".into(),
                execution_id: "e17b5773-0000-0000-0000-000000000000".into(),
                approved_at: Some(Timestamp(1_773_480_000_000)),
                ..PipelineContext::default()
            }),
        });
    }
    out
}
