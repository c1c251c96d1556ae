//! Where a deployment's messages go, which caches it invalidates and which tools hear of it:
//! the `[slack]`, `[[routes]]`, `[[invalidations]]` and `[[sinks]]` parts of the config, as
//! plain data.
//!
//! Globs are shell-style (`*`, `?`, `[...]`, `[!...]`), case-sensitive, and match whole names.

use std::fmt;

use cutover_events::emitted::DetailType;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A compiled shell-style glob.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyOne,
    AnyMany,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

/// Why a glob was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid glob {glob:?}: {reason}")]
pub struct GlobError {
    glob: String,
    reason: &'static str,
}

impl Glob {
    /// Compiles a glob; an unclosed or empty `[...]` is an error.
    pub fn new(source: &str) -> Result<Self, GlobError> {
        let err = |reason| GlobError { glob: source.to_owned(), reason };
        let chars: Vec<char> = source.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if tokens.last() != Some(&Token::AnyMany) {
                        tokens.push(Token::AnyMany);
                    }
                }
                '?' => tokens.push(Token::AnyOne),
                '[' => {
                    let mut j = i + 1;
                    let negated = matches!(chars.get(j), Some('!' | '^'));
                    if negated {
                        j += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&c) = chars.get(j) else { return Err(err("unclosed '['")) };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|&e| e != ']') {
                            let end = chars[j + 2];
                            if end < c {
                                return Err(err("range out of order in '[...]'"));
                            }
                            ranges.push((c, end));
                            j += 3;
                        } else {
                            ranges.push((c, c));
                            j += 1;
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                    i = j;
                }
                '\\' => {
                    i += 1;
                    let Some(&c) = chars.get(i) else { return Err(err("trailing '\\'")) };
                    tokens.push(Token::Literal(c));
                }
                c => tokens.push(Token::Literal(c)),
            }
            i += 1;
        }
        Ok(Self { source: source.to_owned(), tokens })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whole-string match, iterative with one backtrack point per `*` (linear in practice).
    pub fn matches(&self, text: &str) -> bool {
        // ASCII names (what AWS allows) are read byte by byte, each byte its own character.
        if text.is_ascii() {
            let bytes = text.as_bytes();
            return self.matches_chars(bytes.len(), |i| char::from(bytes[i]));
        }
        let chars: Vec<char> = text.chars().collect();
        self.matches_chars(chars.len(), |i| chars[i])
    }

    /// [`Glob::matches`] on `len` characters, the `i`th given by `at`.
    fn matches_chars(&self, len: usize, at: impl Fn(usize) -> char) -> bool {
        let (mut t, mut p) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < len {
            let step = match self.tokens.get(p) {
                Some(Token::AnyMany) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(Token::AnyOne) => true,
                Some(Token::Literal(c)) => *c == at(t),
                Some(Token::Class { negated, ranges }) => {
                    let c = at(t);
                    ranges.iter().any(|&(a, b)| (a..=b).contains(&c)) != *negated
                }
                None => false,
            };
            if step {
                t += 1;
                p += 1;
            } else if let Some((sp, st)) = star {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        self.tokens[p..].iter().all(|tok| *tok == Token::AnyMany)
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.source)
    }
}

impl Serialize for Glob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Glob::new(&s).map_err(serde::de::Error::custom)
    }
}

/// What routing and invalidation rules can match on. `None` fields match only a rule that
/// does not name them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity<'a> {
    pub cluster: Option<&'a str>,
    pub service: Option<&'a str>,
    pub application: Option<&'a str>,
    pub deployment_group: Option<&'a str>,
    pub environment: Option<&'a str>,
    /// The ECS service's tags, once the reconciler has read them.
    pub tags: Option<&'a std::collections::BTreeMap<String, String>>,
}

/// The name globs shared by routes and invalidations.
struct Selector<'a> {
    cluster: &'a Option<Glob>,
    service: &'a Option<Glob>,
    application: &'a Option<Glob>,
    deployment_group: &'a Option<Glob>,
}

impl Selector<'_> {
    fn matches(&self, id: &Identity<'_>) -> bool {
        let one = |glob: &Option<Glob>, value: Option<&str>| match glob {
            None => true,
            Some(g) => value.is_some_and(|v| g.matches(v)),
        };
        one(self.cluster, id.cluster)
            && one(self.service, id.service)
            && one(self.application, id.application)
            && one(self.deployment_group, id.deployment_group)
    }
}

/// One `[[routes]]` entry: first match wins. Name globs left out match anything; a glob on a
/// name not known yet (`null`) does not match.
///
/// The four name globs are repeated in [`Invalidation`] rather than shared through
/// `#[serde(flatten)]`, because serde cannot reject unknown keys of a flattened struct.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Glob on the ECS cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Glob>,
    /// Glob on the ECS service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Glob>,
    /// Glob on the CodeDeploy application name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<Glob>,
    /// Glob on the CodeDeploy deployment group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group: Option<Glob>,
    /// The environment deployments matching this route belong to (`detail.environment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The Slack channel for deployments matching this route; the default channel if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The steps whose thread reply is also sent to the channel (`reply_broadcast`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broadcast: Vec<Broadcast>,
    /// Slack user (`U…`, `W…`) or user-group (`S…`) ids mentioned when a deployment fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_on_failure: Vec<SlackId>,
    /// Slack user or user-group ids mentioned when a deployment is rolled back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_on_rollback: Vec<SlackId>,
    /// Mention the deployer (through `[slack.people]`) when a deployment fails. Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub mention_deployer: bool,
    /// ECS service tags the deployment's service must carry, each value a glob
    /// (`{ environment = "prod" }`). Read by `serve`'s reconciler; a route with tags never
    /// matches in `replay`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, Glob>,
    /// The message template of matching deployments: a file, relative to the config file
    /// (its source is in [`Routing::templates`]). Default: the built-in template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Who may approve or reject this route's pipeline approvals from Slack: user (`U…`, `W…`)
    /// and user-group (`S…`) ids. Nobody by default, and nobody at all unless `[slack.actions]`
    /// is enabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<SlackId>,
    /// Who may continue, reroute, roll back and deploy this route's deployments from Slack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<SlackId>,
}

/// What a person may do from Slack, granted per route ([`Route::granted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    /// Approve or reject a pipeline approval.
    Approve,
    /// Continue a paused hook, reroute, roll back, deploy.
    Operate,
}

impl Power {
    pub const ALL: [Self; 2] = [Self::Approve, Self::Operate];

    /// The route key that grants it.
    pub fn key(self) -> &'static str {
        match self {
            Self::Approve => "approvers",
            Self::Operate => "operators",
        }
    }
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_true(b: &bool) -> bool {
    *b
}

impl Default for Route {
    fn default() -> Self {
        Self {
            cluster: None,
            service: None,
            application: None,
            deployment_group: None,
            environment: None,
            channel: None,
            broadcast: Vec::new(),
            mention_on_failure: Vec::new(),
            mention_on_rollback: Vec::new(),
            mention_deployer: true,
            tags: std::collections::BTreeMap::new(),
            template: None,
            approvers: Vec::new(),
            operators: Vec::new(),
        }
    }
}

/// A step whose thread reply can also be sent to the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Broadcast {
    CutOver,
    Failed,
    RolledBack,
}

/// A Slack user (`U…`, `W…`) or user-group (`S…`) id, checked when the config is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SlackId(String);

impl SlackId {
    /// Checks the shape: `U`, `W` or `S`, then upper-case letters and digits.
    pub fn new(id: &str) -> Result<Self, String> {
        let mut chars = id.chars();
        let ok = matches!(chars.next(), Some('U' | 'W' | 'S'))
            && (3..=32).contains(&id.len())
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(format!("{id:?} is not a Slack user (U…, W…) or user-group (S…) id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A user group (`S…`) rather than a person.
    pub fn is_group(&self) -> bool {
        self.0.starts_with('S')
    }

    /// How a message mentions it: `<@U…>` for a person, `<!subteam^S…>` for a group.
    pub fn mention(&self) -> String {
        if self.0.starts_with('S') { format!("<!subteam^{}>", self.0) } else { format!("<@{}>", self.0) }
    }
}

impl<'de> Deserialize<'de> for SlackId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

impl Route {
    /// The users and user groups granted `power` on this route.
    pub fn granted(&self, power: Power) -> &[SlackId] {
        match power {
            Power::Approve => &self.approvers,
            Power::Operate => &self.operators,
        }
    }

    /// Whether `user` may use `power` here: named, or a member of a named group
    /// (`groups_of_user`: the groups the caller resolved for that user).
    pub fn allows(&self, power: Power, user: &str, groups_of_user: &[String]) -> bool {
        self.granted(power)
            .iter()
            .any(|id| if id.is_group() { groups_of_user.iter().any(|g| g == id.as_str()) } else { id.as_str() == user })
    }

    /// Every tag the route names is on the service, with a matching value.
    fn tags_match(&self, id: &Identity<'_>) -> bool {
        tags_match(&self.tags, id)
    }

    /// Its selectors and tags match the deployment.
    pub fn matches(&self, id: &Identity<'_>) -> bool {
        self.selector().matches(id) && self.tags_match(id)
    }

    fn selector(&self) -> Selector<'_> {
        Selector {
            cluster: &self.cluster,
            service: &self.service,
            application: &self.application,
            deployment_group: &self.deployment_group,
        }
    }
}

/// Every tag in `wanted` is on the service, with a matching value (none wanted: any service).
fn tags_match(wanted: &std::collections::BTreeMap<String, Glob>, id: &Identity<'_>) -> bool {
    wanted.is_empty()
        || id.tags.is_some_and(|tags| wanted.iter().all(|(k, glob)| tags.get(k).is_some_and(|v| glob.matches(v))))
}

/// One `[[invalidations]]` entry: every matching entry is invalidated at cut-over.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invalidation {
    /// Glob on the ECS cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Glob>,
    /// Glob on the ECS service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Glob>,
    /// Glob on the CodeDeploy application name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<Glob>,
    /// Glob on the CodeDeploy deployment group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group: Option<Glob>,
    /// Glob on the environment the route gave the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Glob>,
    /// The CloudFront distribution id.
    pub distribution_id: String,
    /// Paths to invalidate (`/*` for everything).
    pub paths: Vec<String>,
}

impl Invalidation {
    fn selector(&self) -> Selector<'_> {
        Selector {
            cluster: &self.cluster,
            service: &self.service,
            application: &self.application,
            deployment_group: &self.deployment_group,
        }
    }
}

/// The tool a sink marks deployments in (`[[sinks]] kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// GitHub deployments and deployment statuses.
    Github,
    /// Grafana annotations.
    Grafana,
    /// Datadog events.
    Datadog,
    /// PagerDuty change events.
    Pagerduty,
    /// Honeycomb markers.
    Honeycomb,
    /// The emitted event's JSON, POSTed and signed.
    Webhook,
}

impl SinkKind {
    pub const ALL: [Self; 6] =
        [Self::Github, Self::Grafana, Self::Datadog, Self::Pagerduty, Self::Honeycomb, Self::Webhook];

    /// The kind as the config writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Grafana => "grafana",
            Self::Datadog => "datadog",
            Self::Pagerduty => "pagerduty",
            Self::Honeycomb => "honeycomb",
            Self::Webhook => "webhook",
        }
    }

    /// The lifecycle events a sink of this kind takes when its `events` is not given: what
    /// the tool shows. GitHub: a deployment in progress, live, failed, rolled back; Grafana and
    /// Honeycomb: a region from start to end with the cut-over in it; PagerDuty: the change
    /// at the cut-over; Datadog and webhooks: every step.
    pub const fn default_events(self) -> &'static [DetailType] {
        use DetailType::{Completed, CutOver, Failed, RolledBack, Started};
        match self {
            Self::Github => &[Started, CutOver, Failed, RolledBack],
            Self::Grafana | Self::Honeycomb => &[Started, CutOver, Completed, Failed, RolledBack],
            Self::Pagerduty => &[CutOver],
            Self::Datadog | Self::Webhook => &DetailType::ALL,
        }
    }
}

/// The routing part of one `[[sinks]]` entry: which deployments and which of their lifecycle
/// events it takes. Every sink whose selectors match takes the event (not first match). The
/// rest of the entry (URLs, credentials) is the executor's, in the service's config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sink {
    /// Unique among the sinks: names its actions, its metrics and its log lines.
    pub name: String,
    pub kind: SinkKind,
    /// Glob on the ECS cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Glob>,
    /// Glob on the ECS service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Glob>,
    /// Glob on the CodeDeploy application name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<Glob>,
    /// Glob on the CodeDeploy deployment group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group: Option<Glob>,
    /// Glob on the environment the route gave the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Glob>,
    /// ECS service tags the service must carry, each value a glob (as on routes).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, Glob>,
    /// The lifecycle events it takes (`"Deployment Cut Over"`, …); the kind's default if empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<DetailType>,
}

impl Sink {
    /// The events it takes.
    pub fn takes(&self, detail_type: DetailType) -> bool {
        if self.events.is_empty() {
            self.kind.default_events().contains(&detail_type)
        } else {
            self.events.contains(&detail_type)
        }
    }

    /// Its selectors match the deployment.
    pub fn matches(&self, id: &Identity<'_>) -> bool {
        let selector = Selector {
            cluster: &self.cluster,
            service: &self.service,
            application: &self.application,
            deployment_group: &self.deployment_group,
        };
        selector.matches(id)
            && self.environment.as_ref().is_none_or(|g| id.environment.is_some_and(|e| g.matches(e)))
            && tags_match(&self.tags, id)
    }
}

/// One `[[slack.actions.deploys]]` entry: what `/cutover deploy <environment> <service>`
/// starts. Who may start it: the `operators` of the route its `cluster` and `service` fall in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployTarget {
    /// The environment as people type it.
    pub environment: String,
    /// The service as people type it (the ECS service name).
    pub service: String,
    /// The ECS cluster it runs in: picks the route (who may deploy) as a deployment of it
    /// would. Left out, only routes that do not select on a cluster match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The CodePipeline pipeline started (`StartPipelineExecution`).
    pub pipeline: String,
}

impl DeployTarget {
    /// The identity a route is picked by.
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            cluster: self.cluster.as_deref(),
            service: Some(&self.service),
            application: None,
            deployment_group: None,
            environment: Some(&self.environment),
            tags: None,
        }
    }
}

/// All the routing the correlator needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Routing {
    /// The channel of deployments no route matches.
    pub default_channel: String,
    pub routes: Vec<Route>,
    pub invalidations: Vec<Invalidation>,
    /// Who deploys, as AWS or CI names them (a pipeline's trigger detail, an annotation's
    /// actor, or the last `/` part of an IAM ARN) → their Slack user id (`[slack.people]`).
    #[serde(default)]
    pub people: std::collections::BTreeMap<String, SlackId>,
    /// The routes' templates: name (as a route's `template` writes it) → source.
    #[serde(default)]
    pub templates: std::collections::BTreeMap<String, String>,
    /// The sinks (`[[sinks]]`): every one that matches takes the event.
    #[serde(default)]
    pub sinks: Vec<Sink>,
    /// What `/cutover deploy` may start (`[[slack.actions.deploys]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploys: Vec<DeployTarget>,
    /// `[slack.actions] enabled`: the messages carry buttons where a route names operators.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub actions: bool,
}

impl Default for Routing {
    /// The built-in defaults: channel `deployments`, no routes, no invalidations.
    fn default() -> Self {
        Self {
            default_channel: "deployments".to_owned(),
            routes: Vec::new(),
            invalidations: Vec::new(),
            people: std::collections::BTreeMap::new(),
            templates: std::collections::BTreeMap::new(),
            sinks: Vec::new(),
            deploys: Vec::new(),
            actions: false,
        }
    }
}

impl Routing {
    /// The first route that matches, if any.
    pub fn route(&self, id: &Identity<'_>) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(id))
    }

    /// Some route or sink selects on service tags: only then are tags worth reading.
    pub fn uses_tags(&self) -> bool {
        self.routes_use_tags() || self.sinks.iter().any(|s| !s.tags.is_empty())
    }

    /// Some route selects on service tags: a first Slack post waits for them (a sink's tags
    /// hold back nothing but that sink).
    pub fn routes_use_tags(&self) -> bool {
        self.routes.iter().any(|r| !r.tags.is_empty())
    }

    /// Every sink that takes `detail_type` of the deployment.
    pub fn sinks<'a>(&'a self, id: &'a Identity<'a>, detail_type: DetailType) -> impl Iterator<Item = &'a Sink> + 'a {
        self.sinks.iter().filter(move |s| s.takes(detail_type) && s.matches(id))
    }

    /// Every invalidation entry that matches.
    /// The Slack user a deployer's name maps to: the name itself, else the last `/` part of
    /// an ARN (`arn:aws:iam::123456789012:user/alice` → `alice`; an assumed role's session).
    pub fn person(&self, who: &str) -> Option<&SlackId> {
        self.people.get(who).or_else(|| self.people.get(who.rsplit('/').next()?))
    }

    pub fn invalidations<'a>(&'a self, id: &'a Identity<'a>) -> impl Iterator<Item = &'a Invalidation> + 'a {
        self.invalidations.iter().filter(move |inv| {
            inv.selector().matches(id)
                && inv.environment.as_ref().is_none_or(|g| id.environment.is_some_and(|e| g.matches(e)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, text: &str) -> bool {
        Glob::new(glob).unwrap().matches(text)
    }

    #[test]
    fn nobody_may_act_unless_named_or_in_a_named_group() {
        let id = |s: &str| SlackId::new(s).unwrap();
        let r =
            Route { approvers: vec![id("U0ALICE"), id("S0RELEASE")], operators: vec![id("W0BOB")], ..Route::default() };
        assert!(
            Route::default().granted(Power::Approve).is_empty() && Route::default().granted(Power::Operate).is_empty()
        );
        assert!(!Route::default().allows(Power::Operate, "U0ALICE", &["S0RELEASE".to_owned()]));
        assert!(r.allows(Power::Approve, "U0ALICE", &[]));
        assert!(!r.allows(Power::Operate, "U0ALICE", &[]), "approving is not operating");
        assert!(r.allows(Power::Approve, "U0CAROL", &["S0RELEASE".to_owned()]), "a member of the group");
        assert!(!r.allows(Power::Approve, "U0CAROL", &["S0OTHER".to_owned()]));
        assert!(!r.allows(Power::Approve, "S0RELEASE", &[]), "a group id is not a user");
        assert!(r.allows(Power::Operate, "W0BOB", &[]));
    }

    #[test]
    fn shell_globs() {
        assert!(m("prod-*", "prod-eu"));
        assert!(m("prod-*", "prod-"));
        assert!(!m("prod-*", "Prod-eu"), "case-sensitive");
        assert!(!m("prod-*", "xprod-eu"), "anchored");
        assert!(m("*", ""));
        assert!(m("web-?", "web-1"));
        assert!(!m("web-?", "web-10"));
        assert!(m("web-[0-9]", "web-7"));
        assert!(!m("web-[!0-9]", "web-7"));
        assert!(m("web-[]x]", "web-]"));
        assert!(m("*a*b*c", "xxaxxbxxbc"));
        assert!(!m("*a*b*c", "xxaxxbxxb"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        // Not ASCII: matched by character, not by byte.
        assert!(m("caf?", "café") && m("*é", "résumé") && !m("caf??", "café"));
        assert!(m("[à-ê]x", "éx") && !m("[!à-ê]x", "éx") && m("?", "日"));
    }

    #[test]
    fn bad_globs_are_rejected_with_the_reason() {
        assert_eq!(Glob::new("prod-[").unwrap_err().to_string(), "invalid glob \"prod-[\": unclosed '['");
        assert!(Glob::new("[z-a]").is_err());
        assert!(Glob::new("x\\").is_err());
    }

    #[test]
    fn unknown_fields_do_not_match_a_named_glob() {
        let r = Route { cluster: Some(Glob::new("*").unwrap()), ..Route::default() };
        assert!(!r.selector().matches(&Identity::default()));
        assert!(r.selector().matches(&Identity { cluster: Some("c"), ..Identity::default() }));
        assert!(Route::default().selector().matches(&Identity::default()));
    }
}
