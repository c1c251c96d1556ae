//! The words of a deployment's thread replies. Each function is given what was decided and
//! returns mrkdwn; every value from an event is escaped here, and mentions come only from the
//! Slack ids of the config (or the deployer the config maps to one).

use cutover_events::Timestamp;

use crate::routing::SlackId;
use crate::slack::message::{clock, escape, percent};

/// ` cc <@U…> <!subteam^S…>`: the deployer first, each id once; empty when there is no one.
pub fn mentions(ids: &[SlackId], deployer: Option<&SlackId>) -> String {
    let mut all: Vec<&SlackId> = deployer.into_iter().collect();
    for id in ids {
        if !all.contains(&id) {
            all.push(id);
        }
    }
    if all.is_empty() {
        return String::new();
    }
    format!(" cc {}", all.iter().map(|id| id.mention()).collect::<Vec<_>>().join(" "))
}

/// `` `v42` ``, or `fallback` when the version is not known.
fn version_or(version: Option<&str>, fallback: &str) -> String {
    version.map_or_else(|| fallback.to_owned(), |v| format!("`{}`", escape(v)))
}

/// A task of the deployment stopped with a failure.
pub fn task_stopped(task_arn: &str, at: Timestamp, reason: Option<&str>) -> String {
    let reason = escape(reason.unwrap_or("stopped"));
    let task_id = escape(task_arn.rsplit('/').next().unwrap_or(task_arn));
    format!(":warning: Task `{task_id}` stopped at {}: {reason}", clock(at))
}

/// A rollback started, in the thread of the deployment it undoes.
pub fn rollback_started(id: &str, at: Timestamp, returning_to: Option<&str>, mention: &[SlackId]) -> String {
    format!(
        ":rewind: Rolling back: deployment `{}` started at {} to undo this one{}.{}",
        escape(id),
        clock(at),
        returning_to.map(|t| format!(", returning to `{}`", escape(t))).unwrap_or_default(),
        mentions(mention, None)
    )
}

/// A rollback cut over: production is back on the version it returns to.
pub fn rollback_cut_over(id: &str, at: Timestamp, version: Option<&str>) -> String {
    format!(
        ":rewind: Rollback `{}` cut over at {}: production traffic is back on {}.",
        escape(id),
        clock(at),
        version_or(version, "the previous version")
    )
}

/// A rollback failed.
pub fn rollback_failed(id: &str, at: Timestamp, mention: &[SlackId]) -> String {
    format!(":x: Rollback `{}` failed at {}.{}", escape(id), clock(at), mentions(mention, None))
}

/// A traffic step of the deployment's own rollout.
pub fn traffic_shifted(share: f64, version: Option<&str>, at: Timestamp) -> String {
    format!(
        ":arrows_counterclockwise: {} % of production traffic on {} at {}.",
        percent(share),
        version_or(version, "the new version"),
        clock(at)
    )
}

/// The cut-over, when the route sends it to the channel too.
pub fn cut_over(version: Option<&str>, at: Timestamp) -> String {
    format!(
        ":white_check_mark: Cut over at {}: production traffic is on {}.",
        clock(at),
        version_or(version, "the new version")
    )
}

/// The deployment failed, with its reason and whom to tell (`who`, from [`mentions`]).
pub fn failed(at: Timestamp, reason: &str, who: &str) -> String {
    format!(":x: Failed at {}: {}.{who}", clock(at), escape(reason.trim_end_matches('.')))
}

/// A CloudFront invalidation decided at the cut-over completed.
pub fn invalidation_done(
    invalidation_id: &str,
    distribution_id: &str,
    paths: &[String],
    created_at: Timestamp,
    completed_by: Timestamp,
) -> String {
    let paths = paths.iter().map(|p| format!("`{}`", escape(p))).collect::<Vec<_>>().join(" ");
    format!(
        ":broom: CloudFront invalidation `{}` of `{}` ({paths}): created {}, completed by {}.",
        escape(invalidation_id),
        escape(distribution_id),
        clock(created_at),
        clock(completed_by)
    )
}
