//! The message of a pipeline's manual approval: what it would ship and to where, what each
//! earlier environment runs now, and, in words a tired person cannot miss, when the execution
//! waiting is not the one they think. Every value from an event is escaped here.

use cutover_events::Timestamp;
use cutover_events::canonical::sort_keys;
use cutover_events::emitted::{ApprovalOutcome, EnvironmentNow, OtherExecution};
use serde_json::{Value, json};

use crate::slack::message::{clock, escape, first_line, fit, link, message_link, person, short_id};

/// What an approval's message shows.
#[derive(Debug)]
pub(crate) struct ApprovalView<'a> {
    pub pipeline: &'a str,
    pub execution_id: &'a str,
    pub stage: &'a str,
    pub action: &'a str,
    /// The environment the next deploy action leads to.
    pub environment: Option<&'a str>,
    pub revision: Option<&'a str>,
    /// The revision's summary, and its URL.
    pub summary: Option<(&'a str, Option<&'a str>)>,
    pub started_by: Option<&'a str>,
    pub waiting_since: Timestamp,
    pub expires: Option<Timestamp>,
    pub review_link: Option<&'a str>,
    pub earlier: &'a [EnvironmentNow],
    pub newer_passed: Option<&'a OtherExecution>,
    pub queued_behind: &'a [OtherExecution],
    /// How it ended, when, by whom, with what comment.
    pub decision: Option<(ApprovalOutcome, Timestamp, Option<&'a str>, Option<&'a str>)>,
    /// The deployment that followed (its id, and the channel of its message).
    pub next: Option<(&'a str, Option<&'a str>)>,
}

fn code(s: &str) -> String {
    format!("`{}`", escape(s))
}

fn short_rev(rev: &str) -> String {
    code(rev.get(..8).unwrap_or(rev))
}

fn destination(env: Option<&str>) -> String {
    env.map_or_else(|| "the next environment".to_owned(), |e| format!("*{}*", escape(e)))
}

/// The warnings at the head of the message (empty when there are none).
pub(crate) fn warnings(v: &ApprovalView<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let this = format!(
        "execution {}{}",
        code(short_id(v.execution_id)),
        v.revision.map(|r| format!(" ({})", short_rev(r))).unwrap_or_default()
    );
    if let Some(n) = v.newer_passed {
        out.push(format!(
            ":rotating_light: *STOP: this is NOT the newest execution.* Execution {}{}{} already got past the stage before this one. Approving here ships the OLDER {this} to {}. Check the execution ID and the source before you approve.",
            code(short_id(&n.execution_id)),
            n.revision.as_deref().map(|r| format!(" ({})", short_rev(r))).unwrap_or_default(),
            n.started_at.map(|t| format!(" (started {})", clock(t))).unwrap_or_default(),
            destination(v.environment),
        ));
    }
    if !v.queued_behind.is_empty() {
        let names: Vec<String> = v
            .queued_behind
            .iter()
            .map(|q| {
                format!(
                    "{}{}",
                    code(short_id(&q.execution_id)),
                    q.started_at.map(|t| format!(" (started {})", clock(t))).unwrap_or_default()
                )
            })
            .collect();
        out.push(format!(
            ":warning: *A newer execution is queued behind this one:* {}. Approving here ships {this}, not the newer one.",
            names.join(", ")
        ));
    }
    out
}

/// The approval's one message: text and Block Kit blocks.
pub(crate) fn approval_message(v: &ApprovalView<'_>) -> (String, Vec<Value>) {
    let to = v.environment.map(|e| format!(" → {}", escape(e))).unwrap_or_default();
    let header = format!("Approval: {}{to}", escape(v.pipeline));
    let status = match v.decision {
        None => format!(":raised_hand: *waiting for approval* since {}", clock(v.waiting_since)),
        Some((outcome, at, by, comment)) => {
            let (emoji, word) = match outcome {
                ApprovalOutcome::Approved => (":white_check_mark:", "approved"),
                ApprovalOutcome::Rejected => (":no_entry:", "rejected"),
                ApprovalOutcome::Expired => (":hourglass:", "expired: nobody approved it in time"),
                ApprovalOutcome::Abandoned => {
                    (":heavy_minus_sign:", "no longer waiting (the execution went on without it)")
                }
            };
            let by = by.map(|b| format!(" by {}", escape(person(b)))).unwrap_or_default();
            let comment = comment
                .filter(|c| !c.trim().is_empty())
                .map(|c| format!(": {}", escape(&first_line(c, 200))))
                .unwrap_or_default();
            format!("{emoji} *{word}*{by} at {}{comment}", clock(at))
        }
    };
    let mut fields = vec![
        ("Pipeline", format!("{} execution {}", escape(v.pipeline), code(short_id(v.execution_id)))),
        ("Stage", format!("{} / {}", escape(v.stage), escape(v.action))),
    ];
    if let Some(r) = v.revision {
        fields.push(("Revision", short_rev(r)));
    }
    if let Some((summary, url)) = v.summary {
        let line = first_line(summary, 120);
        fields.push(("Change", url.and_then(|u| link(u, &line)).unwrap_or_else(|| escape(&line).into_owned())));
    }
    if let Some(who) = v.started_by {
        // A person's ARN by its name; anything else (a connection, a rule) as it is.
        let who = if who.contains(":user/") || who.contains(":assumed-role/") { person(who) } else { who };
        fields.push(("Started by", escape(who).into_owned()));
    }
    if let Some(at) = v.expires
        && v.decision.is_none()
    {
        fields.push(("Expires", clock(at)));
    }
    for e in v.earlier {
        let name = e.environment.as_deref().or(e.cluster.as_deref()).unwrap_or("earlier environment");
        let service = e.service.as_deref().map(|s| format!("{} ", escape(s))).unwrap_or_default();
        let runs = match (e.version.as_deref(), e.cut_over_at) {
            (Some(version), Some(at)) => format!("{service}runs {} since {}", code(version), clock(at)),
            (None, Some(at)) => format!("{service}cut over {}", clock(at)),
            _ => format!("{service}nothing Cutover saw cut over"),
        };
        let exec = e
            .execution_id
            .as_deref()
            .map(|x| {
                if x == v.execution_id {
                    " (this execution)".to_owned()
                } else {
                    format!(" (execution {})", code(short_id(x)))
                }
            })
            .unwrap_or_default();
        fields.push(("Now in", format!("*{}*: {runs}{exec}", escape(name))));
    }
    if let Some((deployment, channel)) = v.next {
        let whereto = channel.map(|c| format!(" in #{}", escape(c))).unwrap_or_default();
        fields.push(("Deploying", format!("{}{whereto}", message_link(deployment, &code(deployment)))));
    }
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text", "text": header}})];
    let warned = if v.decision.is_none() { warnings(v) } else { Vec::new() };
    for w in &warned {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": w}}));
    }
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": status}}));
    for chunk in fields.chunks(10) {
        let f: Vec<Value> =
            chunk.iter().map(|(l, v)| json!({"type": "mrkdwn", "text": format!("*{l}*\n{v}")})).collect();
        blocks.push(json!({"type": "section", "fields": f}));
    }
    if let Some(url) = v.review_link.filter(|_| v.decision.is_none())
        && let Some(l) = link(url, "Review in CodePipeline")
    {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": l}]}));
    }
    let blocks = blocks.into_iter().map(sort_keys).collect();
    let plain_status = match v.decision {
        None => "waiting for approval".to_owned(),
        Some((o, ..)) => o.as_str().to_owned(),
    };
    let alarm = if warned.is_empty() { "" } else { " (WARNING: not the newest execution)" };
    let text = format!(
        "Approval{}: {} execution {}: {plain_status}{alarm}",
        v.environment.map(|e| format!(" for {}", escape(e))).unwrap_or_default(),
        escape(v.pipeline),
        escape(short_id(v.execution_id)),
    );
    fit((text, blocks))
}
