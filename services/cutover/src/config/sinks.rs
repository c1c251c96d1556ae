//! `[[sinks]]`: the tools that hear of deployments besides Slack and the bus. The selectors and
//! `events` are the correlator's ([`Sink`]); the rest (URLs, where the credential is) the
//! executors'. Every check `serve` would make is made here, so `check-config` refuses first.

use std::collections::BTreeMap;

use cutover_correlator::routing::{Glob, Sink, SinkKind};
use cutover_events::emitted::DetailType;
use serde::Deserialize;

/// One `[[sinks]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Unique among the sinks (letters, digits, `-`, `_`; at most 64): names its actions,
    /// metrics and log lines.
    pub name: String,
    pub kind: SinkKind,
    #[serde(default)]
    pub cluster: Option<Glob>,
    #[serde(default)]
    pub service: Option<Glob>,
    #[serde(default)]
    pub application: Option<Glob>,
    #[serde(default)]
    pub deployment_group: Option<Glob>,
    #[serde(default)]
    pub environment: Option<Glob>,
    #[serde(default)]
    pub tags: BTreeMap<String, Glob>,
    /// The lifecycle events it takes (their detail-types); the kind's default if left out.
    #[serde(default)]
    pub events: Vec<DetailType>,
    /// The API's base URL (GitHub Enterprise Server: `https://HOST/api/v3`); the webhook's URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Datadog's site (`datadoghq.com`, `datadoghq.eu`, `us5.datadoghq.com`, …).
    #[serde(default)]
    pub site: Option<String>,
    /// The environment variable holding the credential (a token, API key, routing key or the
    /// webhook's signing secret).
    #[serde(default)]
    pub token_env: Option<String>,
    /// The Secrets Manager secret holding it, when `token_env` is not set or empty.
    #[serde(default)]
    pub token_secret_arn: Option<String>,
    /// GitHub: `owner/repo`; else taken from the deployment's repository URL.
    #[serde(default)]
    pub repository: Option<String>,
    /// GitHub App: the app's id, its installation's id, and where its private key (PEM) is.
    #[serde(default)]
    pub app_id: Option<u64>,
    #[serde(default)]
    pub installation_id: Option<u64>,
    #[serde(default)]
    pub private_key_env: Option<String>,
    #[serde(default)]
    pub private_key_secret_arn: Option<String>,
    /// GitHub: the environment's URL on a `success` status; `{environment}`, `{service}`,
    /// `{cluster}` and `{version}` are replaced.
    #[serde(default)]
    pub environment_url: Option<String>,
    /// GitHub: mark the environment as production (`production_environment`); GitHub's own
    /// guess when left out.
    #[serde(default)]
    pub production: Option<bool>,
    /// Honeycomb: the dataset of the markers; `__all__` (environment-wide) by default.
    #[serde(default)]
    pub dataset: Option<String>,
    /// How long one call may take before its outcome counts as unknown.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

fn default_timeout() -> f64 {
    10.0
}

/// Datadog's sites.
pub const DATADOG_SITES: [&str; 7] = [
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
];

impl SinkConfig {
    /// The correlator's part.
    pub fn routing(&self) -> Sink {
        Sink {
            name: self.name.clone(),
            kind: self.kind,
            cluster: self.cluster.clone(),
            service: self.service.clone(),
            application: self.application.clone(),
            deployment_group: self.deployment_group.clone(),
            environment: self.environment.clone(),
            tags: self.tags.clone(),
            events: self.events.clone(),
        }
    }

    /// The API base URL, without a trailing `/`.
    pub fn base_url(&self) -> String {
        let url = match (&self.url, self.kind) {
            (Some(url), _) => url.clone(),
            (None, SinkKind::Github) => "https://api.github.com".to_owned(),
            (None, SinkKind::Datadog) => format!("https://api.{}", self.site.as_deref().unwrap_or(DATADOG_SITES[0])),
            (None, SinkKind::Pagerduty) => "https://events.pagerduty.com".to_owned(),
            (None, SinkKind::Honeycomb) => "https://api.honeycomb.io".to_owned(),
            // Required: checked when the file is read.
            (None, SinkKind::Grafana | SinkKind::Webhook) => String::new(),
        };
        url.trim_end_matches('/').to_owned()
    }

    /// Uses a GitHub App rather than a token.
    pub fn is_github_app(&self) -> bool {
        self.app_id.is_some()
    }

    /// Every problem `serve` would refuse, as `(key, why)`.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut bad: Vec<(&'static str, String)> = Vec::new();
        let name_ok = (1..=64).contains(&self.name.len())
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            bad.push(("name", format!("{:?} must be 1 to 64 letters, digits, '-' or '_'", self.name)));
        }
        if !self.timeout_secs.is_finite() || !(0.1..=300.0).contains(&self.timeout_secs) {
            bad.push(("timeout_secs", format!("{} is out of range (0.1 to 300 seconds)", self.timeout_secs)));
        }
        let kind = self.kind.as_str();
        let only = |key: &'static str, set: bool, kinds: &[SinkKind], bad: &mut Vec<(&'static str, String)>| {
            if set && !kinds.contains(&self.kind) {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                bad.push((key, format!("applies to kind {} only, not {kind}", names.join(", "))));
            }
        };
        use SinkKind::{Datadog, Github, Grafana, Honeycomb, Pagerduty, Webhook};
        only("site", self.site.is_some(), &[Datadog], &mut bad);
        only("repository", self.repository.is_some(), &[Github], &mut bad);
        only("app_id", self.app_id.is_some(), &[Github], &mut bad);
        only("installation_id", self.installation_id.is_some(), &[Github], &mut bad);
        only("private_key_env", self.private_key_env.is_some(), &[Github], &mut bad);
        only("private_key_secret_arn", self.private_key_secret_arn.is_some(), &[Github], &mut bad);
        only("environment_url", self.environment_url.is_some(), &[Github], &mut bad);
        only("production", self.production.is_some(), &[Github], &mut bad);
        only("dataset", self.dataset.is_some(), &[Honeycomb], &mut bad);
        if let Some(url) = &self.url
            && let Err(why) = super::check_url(url)
        {
            bad.push(("url", why));
        }
        if self.url.is_none() && matches!(self.kind, Grafana | Webhook) {
            bad.push(("url", format!("is required for kind {kind}")));
        }
        if let Some(site) = &self.site
            && !DATADOG_SITES.contains(&site.as_str())
        {
            bad.push(("site", format!("{site:?} is not a Datadog site ({})", DATADOG_SITES.join(", "))));
        }
        if let Some(repo) = &self.repository
            && !is_owner_repo(repo)
        {
            bad.push(("repository", format!("{repo:?} is not owner/repo")));
        }
        if let Some(url) = &self.environment_url
            && let Err(why) = super::check_url(url)
        {
            bad.push(("environment_url", why));
        }
        if self.dataset.as_deref().is_some_and(|d| d.is_empty() || d.contains('/') || d.len() > 255) {
            bad.push(("dataset", "must be a dataset's slug (no '/', at most 255 characters)".to_owned()));
        }
        for (key, var) in [("token_env", &self.token_env), ("private_key_env", &self.private_key_env)] {
            if let Some(var) = var
                && let Err(why) = check_env_name(var)
            {
                bad.push((key, why));
            }
        }
        let token = self.token_env.is_some() || self.token_secret_arn.is_some();
        let key = self.private_key_env.is_some() || self.private_key_secret_arn.is_some();
        if self.kind == Github && self.is_github_app() {
            if token {
                bad.push(("app_id", "a GitHub sink uses either a token or an app, not both".to_owned()));
            }
            if self.installation_id.is_none() {
                bad.push(("installation_id", "is required with app_id".to_owned()));
            }
            if !key {
                bad.push((
                    "private_key_env",
                    "an app needs its private key: private_key_env or private_key_secret_arn".to_owned(),
                ));
            }
        } else {
            if self.installation_id.is_some() || key {
                bad.push(("app_id", "installation_id and the private key need app_id".to_owned()));
            }
            if !token {
                let what = match self.kind {
                    Github => "a fine-grained token (or app_id, installation_id and the private key)",
                    Grafana => "a service-account token",
                    Datadog => "an API key",
                    Pagerduty => "the integration's routing key",
                    Honeycomb => "an API key",
                    Webhook => "the signing secret",
                };
                bad.push(("token_env", format!("kind {kind} needs {what}: set token_env or token_secret_arn")));
            }
        }
        bad
    }
}

fn is_owner_repo(s: &str) -> bool {
    let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    matches!(s.split_once('/'), Some((o, r)) if ok(o) && ok(r))
}

/// An environment variable's name that is not one of Cutover's own config overrides.
fn check_env_name(var: &str) -> Result<(), String> {
    if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("{var:?} is not an environment variable's name"));
    }
    if var.starts_with("CUTOVER_") {
        return Err(format!(
            "{var:?} starts with CUTOVER_, which names config overrides; call it something else (GITHUB_TOKEN, …)"
        ));
    }
    Ok(())
}

/// The first problem of the sinks: which entry, which key, why. Names are unique.
pub(super) fn check(sinks: &[SinkConfig]) -> Option<(usize, &'static str, String)> {
    for (i, sink) in sinks.iter().enumerate() {
        if let Some((key, why)) = sink.problems().into_iter().next() {
            return Some((i, key, why));
        }
        if let Some(first) = sinks[..i].iter().position(|s| s.name == sink.name) {
            return Some((i, "name", format!("{:?} is already the name of sinks[{first}]", sink.name)));
        }
    }
    None
}

/// The line of `key` in the `index`-th `[[sinks]]` entry of `text` (else of its header).
pub(super) fn line_of(text: &str, index: usize, key: &str) -> Option<usize> {
    let mut seen = None;
    let mut header = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            if t.starts_with("[[sinks]]") {
                seen = Some(seen.map_or(0, |s: usize| s + 1));
                if seen == Some(index) {
                    header = Some(n + 1);
                }
            } else if seen == Some(index) && !t.starts_with("[sinks.") {
                break;
            }
            continue;
        }
        if seen == Some(index) && t.split('=').next().unwrap_or("").trim().trim_matches('"') == key && t.contains('=') {
            return Some(n + 1);
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(extra: &str) -> Result<Vec<SinkConfig>, String> {
        #[derive(Deserialize)]
        struct File {
            sinks: Vec<SinkConfig>,
        }
        let f: File = toml::from_str(&format!("[[sinks]]\n{extra}")).map_err(|e| e.to_string())?;
        match check(&f.sinks) {
            Some((i, key, why)) => Err(format!("sinks[{i}] {key}: {why}")),
            None => Ok(f.sinks),
        }
    }

    #[test]
    fn each_kind_needs_its_credential_and_keys() {
        let e = sink("name = \"gh\"\nkind = \"github\"\n").unwrap_err();
        assert!(e.contains("token_env") && e.contains("fine-grained token"), "{e}");
        assert!(sink("name = \"gh\"\nkind = \"github\"\ntoken_env = \"GITHUB_TOKEN\"\n").is_ok());
        let e = sink("name = \"g\"\nkind = \"grafana\"\ntoken_env = \"T\"\n").unwrap_err();
        assert!(e.contains("url: is required for kind grafana"), "{e}");
        let e = sink("name = \"w\"\nkind = \"webhook\"\nurl = \"https://x.example\"\n").unwrap_err();
        assert!(e.contains("signing secret"), "{e}");
        let e = sink("name = \"d\"\nkind = \"datadog\"\ntoken_env = \"DD\"\nsite = \"datadog.com\"\n").unwrap_err();
        assert!(e.contains("not a Datadog site"), "{e}");
        let e = sink("name = \"p\"\nkind = \"pagerduty\"\ntoken_env = \"PD\"\nrepository = \"a/b\"\n").unwrap_err();
        assert!(e.contains("repository: applies to kind github only, not pagerduty"), "{e}");
        let e = sink("name = \"gh\"\nkind = \"github\"\napp_id = 1\nprivate_key_env = \"K\"\n").unwrap_err();
        assert!(e.contains("installation_id: is required"), "{e}");
        assert!(
            sink("name = \"gh\"\nkind = \"github\"\napp_id = 1\ninstallation_id = 2\nprivate_key_env = \"K\"\n")
                .is_ok()
        );
        let e = sink("name = \"gh\"\nkind = \"github\"\ntoken_env = \"CUTOVER_GH\"\n").unwrap_err();
        assert!(e.contains("config overrides"), "{e}");
        let e = sink("name = \"a b\"\nkind = \"pagerduty\"\ntoken_env = \"PD\"\n").unwrap_err();
        assert!(e.contains("name:"), "{e}");
        let e = sink("name = \"p\"\nkind = \"pagerduty\"\ntoken_env = \"PD\"\nevents = [\"Deployment Live\"]\n")
            .unwrap_err();
        assert!(e.contains("Deployment Cut Over"), "the error lists the detail-types: {e}");
    }

    #[test]
    fn names_are_unique_and_lines_are_found() {
        let text = "[[sinks]]\nname = \"a\"\nkind = \"pagerduty\"\ntoken_env = \"PD\"\n\n[[sinks]]\nname = \"a\"\nkind = \"pagerduty\"\ntoken_env = \"PD\"\n";
        #[derive(Deserialize)]
        struct File {
            sinks: Vec<SinkConfig>,
        }
        let f: File = toml::from_str(text).unwrap();
        let (i, key, why) = check(&f.sinks).unwrap();
        assert_eq!((i, key), (1, "name"));
        assert!(why.contains("sinks[0]"), "{why}");
        assert_eq!(line_of(text, 1, "name"), Some(7));
        assert_eq!(line_of(text, 0, "token_env"), Some(4));
        assert_eq!(line_of(text, 1, "url"), Some(6), "a key left out: the entry's header");
    }

    #[test]
    fn base_urls_per_kind() {
        let s = sink("name = \"d\"\nkind = \"datadog\"\ntoken_env = \"DD\"\nsite = \"datadoghq.eu\"\n").unwrap();
        assert_eq!(s[0].base_url(), "https://api.datadoghq.eu");
        let s = sink("name = \"g\"\nkind = \"github\"\ntoken_env = \"T\"\nurl = \"https://ghe.example.com/api/v3/\"\n")
            .unwrap();
        assert_eq!(s[0].base_url(), "https://ghe.example.com/api/v3");
    }
}
