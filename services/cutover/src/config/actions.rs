//! `[slack.actions]`: acting from Slack (DESIGN "Acting from Slack"). Off unless enabled, and
//! even then nobody may act until a route names them (`approvers`, `operators`). The secrets
//! (the signing secret of signed requests, the app-level token of Socket Mode) come from the
//! environment or Secrets Manager, never from this file.

use cutover_correlator::routing::{DeployTarget, Power, Route};
use serde::Deserialize;

/// How Slack's clicks and commands reach Cutover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// An outbound WebSocket with an app-level token: no inbound port.
    #[default]
    Socket,
    /// Slack POSTs to request URLs on `[http] listen`, signed with the app's signing secret.
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Http => "http",
        }
    }
}

/// `[slack.actions]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    /// Buttons on the messages and the `/cutover` command. Default false.
    pub enabled: bool,
    /// `socket` (default) or `http`.
    pub transport: Transport,
    /// Secrets Manager secret holding the signing secret, used when `SLACK_SIGNING_SECRET` is
    /// not set (`http`): the plain secret, or JSON with a `signing_secret` key.
    pub signing_secret_arn: Option<String>,
    /// Secrets Manager secret holding the app-level token (`xapp-…`), used when
    /// `SLACK_APP_TOKEN` is not set (`socket`): the plain token, or JSON with an `app_token` key.
    pub app_token_secret_arn: Option<String>,
    /// Where the request URLs live on `[http] listen` (`http`): `<path>/commands` for the slash
    /// command, `<path>/interactions` for buttons and modals. Default `/slack`.
    pub path: String,
    /// How long the members of a user group (`usergroups.users.list`) are trusted, in seconds.
    /// Default 300.
    pub usergroup_cache_secs: f64,
    /// `[[slack.actions.deploys]]`: the pipeline `/cutover deploy <environment> <service>`
    /// starts. None by default.
    pub deploys: Vec<DeployTarget>,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            transport: Transport::Socket,
            signing_secret_arn: None,
            app_token_secret_arn: None,
            path: "/slack".to_owned(),
            usergroup_cache_secs: 300.0,
            deploys: Vec::new(),
        }
    }
}

impl ActionsConfig {
    /// What `serve` could not use, as `(key, why)`.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut bad = Vec::new();
        let path_ok = self.path.starts_with('/')
            && self.path.len() > 1
            && !self.path.ends_with('/')
            && self.path.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
            && !["/healthz", "/readyz", "/metrics"].contains(&self.path.as_str());
        if !path_ok {
            bad.push((
                "slack.actions.path",
                format!(
                    "{:?} must be a URL path like \"/slack\" (a leading '/', no trailing one; letters, digits, '/', \
                     '-', '_', '.'), apart from the health endpoints",
                    self.path
                ),
            ));
        }
        if !self.usergroup_cache_secs.is_finite() || !(0.0..=86_400.0).contains(&self.usergroup_cache_secs) {
            bad.push((
                "slack.actions.usergroup_cache_secs",
                format!("{} is out of range (0 to 86400 seconds)", self.usergroup_cache_secs),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.deploys {
            let word = |w: &str| !w.is_empty() && w.len() <= 255 && w.bytes().all(|b| b.is_ascii_graphic());
            if !word(&d.environment) || !word(&d.service) || d.cluster.as_deref().is_some_and(|c| !word(c)) {
                bad.push((
                    "slack.actions.deploys",
                    format!(
                        "{:?} / {:?}: environment, service and cluster are single words (no spaces), as people type \
                         them after /cutover deploy",
                        d.environment, d.service
                    ),
                ));
            }
            // CodePipeline's own rule for a pipeline name.
            let pipeline_ok = !d.pipeline.is_empty()
                && d.pipeline.len() <= 100
                && d.pipeline.bytes().all(|b| b.is_ascii_alphanumeric() || b".@-_".contains(&b));
            if !pipeline_ok {
                bad.push((
                    "slack.actions.deploys",
                    format!("pipeline {:?} is not a CodePipeline name (1 to 100 of A-Z a-z 0-9 . @ - _)", d.pipeline),
                ));
            }
            if !seen.insert((d.environment.as_str(), d.service.as_str())) {
                bad.push((
                    "slack.actions.deploys",
                    format!("{} {} is listed twice: /cutover deploy must name one pipeline", d.environment, d.service),
                ));
            }
        }
        bad
    }

    /// The request URL of the slash command.
    pub fn commands_path(&self) -> String {
        format!("{}/commands", self.path)
    }

    /// The request URL of buttons and modals.
    pub fn interactions_path(&self) -> String {
        format!("{}/interactions", self.path)
    }
}

/// `check-config`'s lines on who may do what where.
pub fn describe(actions: &ActionsConfig, routes: &[Route]) -> Vec<String> {
    let mut out = Vec::new();
    let granted = routes.iter().any(|r| Power::ALL.iter().any(|p| !r.granted(*p).is_empty()));
    if !actions.enabled {
        out.push("actions: off (passive: no buttons, no /cutover)".to_owned());
        if granted {
            out.push(
                "note: routes name approvers or operators, but [slack.actions] enabled is false: nobody may act"
                    .to_owned(),
            );
        }
        return out;
    }
    let via = match actions.transport {
        Transport::Http => {
            format!("signed requests at {} and {}", actions.commands_path(), actions.interactions_path())
        }
        Transport::Socket => "Socket Mode".to_owned(),
    };
    out.push(format!("actions: on, {via}"));
    for (i, r) in routes.iter().enumerate() {
        let name = describe_route(i, r);
        for power in Power::ALL {
            let ids: Vec<&str> = r.granted(power).iter().map(|id| id.as_str()).collect();
            let who = if ids.is_empty() { "nobody".to_owned() } else { ids.join(", ") };
            let what = match power {
                Power::Approve => "approve or reject",
                Power::Operate => "continue, reroute, roll back, deploy",
            };
            out.push(format!("  {name}: {what}: {who}"));
        }
    }
    out.push("  deployments no route matches: nobody".to_owned());
    for d in &actions.deploys {
        let route = routes.iter().position(|r| r.matches(&d.identity()));
        let who = route.map_or_else(
            || "nobody (no route matches it)".to_owned(),
            |i| {
                let ids: Vec<&str> = routes[i].granted(Power::Operate).iter().map(|id| id.as_str()).collect();
                let who = if ids.is_empty() { "nobody".to_owned() } else { ids.join(", ") };
                format!("{who} (operators of routes[{i}])")
            },
        );
        out.push(format!("  /cutover deploy {} {}: starts pipeline {}: {who}", d.environment, d.service, d.pipeline));
    }
    if !granted {
        out.push("note: no route names approvers or operators: nobody may act yet".to_owned());
    }
    out
}

/// `routes[0] (cluster prod-*, environment production)`.
fn describe_route(i: usize, r: &Route) -> String {
    let mut parts = Vec::new();
    for (key, glob) in [
        ("cluster", &r.cluster),
        ("service", &r.service),
        ("application", &r.application),
        ("deployment_group", &r.deployment_group),
    ] {
        if let Some(g) = glob {
            parts.push(format!("{key} {}", g.as_str()));
        }
    }
    if let Some(e) = &r.environment {
        parts.push(format!("environment {e}"));
    }
    if !r.tags.is_empty() {
        parts.push(format!("{} tag(s)", r.tags.len()));
    }
    if parts.is_empty() {
        format!("routes[{i}] (every deployment)")
    } else {
        format!("routes[{i}] ({})", parts.join(", "))
    }
}
