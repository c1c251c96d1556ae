//! A scenario harness in the style of quinn-proto's `Pair`: feeds SQS bodies to a
//! [`Correlator`] with a simulated clock (`now` runs a fixed delay behind AWS time) and
//! collects every action, so tests assert on decisions, never on IO.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use cutover_correlator::routing::Routing;
use cutover_correlator::{Action, Correlator, Input, Observation};
use cutover_events::emitted::DetailType;
use cutover_events::{Timestamp, parse_body};

/// The recorded scenarios whose every line is a valid input.
pub const SCENARIOS: [&str; 8] = [
    "rolling",
    "rolling-circuit-breaker",
    "codedeploy-sns",
    "codedeploy-eventbridge",
    "codedeploy-rollback",
    "pipeline-linked",
    "two-clusters-same-service",
    "ecs-native-hooks",
];

/// One lifecycle decision: `(deployment, type, at)`.
pub type Decision = (String, DetailType, Timestamp);

pub struct Harness {
    pub correlator: Correlator,
    /// Simulated wall clock: how far Cutover runs behind AWS time.
    pub lag_ms: i64,
    pub now: Timestamp,
    pub actions: Vec<Action>,
}

impl Harness {
    pub fn new(routing: Routing) -> Self {
        Self { correlator: Correlator::new(routing), lag_ms: 250, now: Timestamp(0), actions: Vec::new() }
    }

    /// Feeds one SQS body; the clock advances to just after the event's AWS time.
    pub fn feed(&mut self, body: &str) -> &[Action] {
        let message = parse_body(body).unwrap_or_else(|e| panic!("fixture must parse: {e}"));
        let start = self.actions.len();
        let out = self.correlator.handle(self.now, Input::Message(Box::new(message)));
        self.now = self.now.max(self.correlator.clock().plus_millis(self.lag_ms));
        self.actions.extend(out);
        &self.actions[start..]
    }

    pub fn feed_all<'a>(&mut self, bodies: impl IntoIterator<Item = &'a str>) {
        for b in bodies {
            self.feed(b);
        }
    }

    pub fn observe(&mut self, deployment_id: &str, percent: f64, at: Timestamp) -> Vec<Action> {
        let out = self.correlator.handle(
            self.now,
            Input::Observed(Observation::TrafficWeight { deployment_id: deployment_id.to_owned(), percent, at }),
        );
        self.actions.extend(out.clone());
        out
    }

    pub fn decisions(&self) -> Vec<Decision> {
        decisions(&self.actions)
    }
}

pub fn decisions(actions: &[Action]) -> Vec<Decision> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit { detail_type, detail, .. } => Some((detail.deployment_id.clone(), *detail_type, detail.at)),
            _ => None,
        })
        .collect()
}

/// Decisions grouped per deployment, each in emission order.
pub fn per_deployment(decisions: &[Decision]) -> BTreeMap<String, Vec<(DetailType, Timestamp)>> {
    let mut map: BTreeMap<String, Vec<(DetailType, Timestamp)>> = BTreeMap::new();
    for (id, t, at) in decisions {
        map.entry(id.clone()).or_default().push((*t, *at));
    }
    map
}

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// The recorded scenario inputs (`tests/scenarios/<name>/input.jsonl`), parseable lines only.
pub fn scenario_lines(name: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios").join(name).join("input.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| parse_body(l).is_ok())
        .map(str::to_owned)
        .collect()
}

pub fn scenario_routing(name: &str) -> Routing {
    #[derive(serde::Deserialize)]
    struct Slack {
        channel: String,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        slack: Slack,
        routes: Vec<cutover_correlator::routing::Route>,
        invalidations: Vec<cutover_correlator::routing::Invalidation>,
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios").join(name).join("config.toml");
    let Ok(text) = std::fs::read_to_string(path) else { return Routing::default() };
    let c: Config = toml::from_str(&text).expect("scenario config");
    Routing { default_channel: c.slack.channel, routes: c.routes, invalidations: c.invalidations, ..Routing::default() }
}

/// The lifecycle invariants ([`cutover_correlator::invariants`]) over decisions, whose
/// percentages are not kept here.
pub fn assert_consistent(decisions: &[Decision], context: &str) {
    let steps = decisions.iter().map(|(id, t, _)| cutover_correlator::invariants::Step {
        deployment_id: id,
        detail_type: *t,
        traffic_percent: None,
    });
    if let Err(broken) = cutover_correlator::invariants::check(steps) {
        panic!("{context}: {broken}");
    }
}
