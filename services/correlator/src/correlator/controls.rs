//! Acting from Slack (DESIGN "Acting from Slack"): a person's request, journaled like any
//! other input, checked against the state it names, and decided into one AWS call (a
//! [`Control`] for the controls lane) and a thread reply, or refused with a reason. The
//! refusal and the acceptance are the [`Verdict`], the ephemeral answer to whoever asked.
//!
//! What is checked, in this order: the request was not handled before (its `trigger_id`);
//! the user id is a Slack user id; the service and environment name one target; the user
//! may operate there (the route's `operators`, by id or by a user group the caller resolved);
//! that deployment can still be rolled back the way its strategy allows; no rollback of it was
//! asked for already. Nobody may act where the route names nobody.

use std::collections::BTreeMap;

use cutover_events::Timestamp;
use cutover_events::emitted::{DetailType, Strategy};
use serde::{Deserialize, Serialize};

use super::Correlator;
use super::status::{selected, target};
use crate::action::{Action, Call, Control};
use crate::deployment::Deployment;
use crate::routing::Power;
use crate::slack::message::escape;

/// A request from Slack, as journaled (`{"cutover.control": <Request>}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Slack's id of the request (the command's or the click's `trigger_id`): the same request
    /// twice is decided once.
    pub id: String,
    /// The Slack user id of who asked.
    pub user: String,
    /// The user groups named by the routes that the user is a member of, as resolved when the
    /// request came (so a replay of the journal decides the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Where they asked.
    pub channel: String,
    /// Cutover's clock when it came.
    pub at: Timestamp,
    pub ask: Ask,
}

/// What was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ask {
    /// `/cutover rollback <service> <environment>`.
    Rollback { service: String, environment: String },
}

/// The answer to whoever asked (an ephemeral message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Decided: the call is in the outbox.
    Accepted(String),
    /// Nothing was done, and why.
    Refused(String),
}

impl Verdict {
    pub fn text(&self) -> &str {
        match self {
            Self::Accepted(t) | Self::Refused(t) => t,
        }
    }
}

/// The controls' records.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Controls {
    /// Requests decided, by id, with when they came: forgotten after the retention.
    #[serde(default)]
    requests: BTreeMap<String, Timestamp>,
    /// The rollback asked for each deployment: by whom, when.
    #[serde(default)]
    rollbacks: BTreeMap<String, (String, Timestamp)>,
}

impl Controls {
    /// Forgets requests older than `horizon` and rollbacks of deployments no longer held.
    pub(super) fn sweep(&mut self, horizon: Timestamp, held: impl Fn(&str) -> bool) {
        self.requests.retain(|_, at| *at >= horizon);
        self.rollbacks.retain(|id, _| held(id));
    }
}

/// A Slack user id (`U…`, `W…`): letters and digits only, so it can be written as a mention.
fn is_user_id(user: &str) -> bool {
    user.len() > 1
        && user.len() <= 32
        && user.starts_with(['U', 'W'])
        && user.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `HH:MM UTC` of a time.
fn clock_time(at: Timestamp) -> String {
    let s = at.to_string();
    format!("{} UTC", s.get(11..16).unwrap_or(&s))
}

impl Correlator {
    /// Decides a request from Slack: the verdict for whoever asked, and the actions (the AWS
    /// call and the thread reply), none when refused. [`Correlator::handle`] of the same
    /// request decides the same actions (a rebuild from the journal).
    pub fn act(&mut self, request: &Request) -> (Verdict, Vec<Action>) {
        let mut out = Vec::new();
        if self.state.controls.requests.contains_key(&request.id) {
            return (Verdict::Refused("This request was already handled; nothing more was done.".into()), out);
        }
        self.state.controls.requests.insert(request.id.clone(), request.at);
        if !is_user_id(&request.user) {
            return (Verdict::Refused("The request names no Slack user; nothing was done.".into()), out);
        }
        let verdict = match &request.ask {
            Ask::Rollback { service, environment } => self.rollback(request, service, environment, &mut out),
        };
        (verdict, out)
    }

    fn rollback(&mut self, request: &Request, service: &str, environment: &str, out: &mut Vec<Action>) -> Verdict {
        let (service_e, env_e) = (escape(service), escape(environment));
        let mut targets: BTreeMap<String, &Deployment> = BTreeMap::new();
        for d in self.state.deployments.values().filter(|d| selected(d, Some(service), Some(environment))) {
            let Some(t) = target(d) else { continue };
            let newer = |o: &&Deployment| (o.started_at(), o.first_seen, &o.id) < (d.started_at(), d.first_seen, &d.id);
            if targets.get(&t).is_none_or(newer) {
                targets.insert(t, d);
            }
        }
        let d = match targets.len() {
            0 => {
                return Verdict::Refused(format!(
                    "Cutover holds no deployment of {service_e} in {env_e} (within its retention); nothing was done."
                ));
            }
            1 => targets.into_values().next().unwrap_or_else(|| unreachable!("one target")),
            _ => {
                let names: Vec<String> = targets.keys().map(|t| format!("`{}`", escape(t))).collect();
                return Verdict::Refused(format!(
                    "{service_e} in {env_e} names {} targets ({}): name one as `cluster/service`; nothing was done.",
                    names.len(),
                    names.join(", ")
                ));
            }
        };
        let what = target(d).map_or_else(|| service_e.to_string(), |t| escape(&t).into_owned());
        let route = self.routing.route(&self.identity_of(d));
        let allowed = route.is_some_and(|r| r.allows(Power::Operate, &request.user, &request.groups));
        if !allowed {
            let named: Vec<String> =
                route.map(|r| r.granted(Power::Operate).iter().map(|id| id.mention()).collect()).unwrap_or_default();
            let who = if named.is_empty() {
                "Nobody may roll back there: its route names no `operators`.".to_owned()
            } else {
                format!("Its operators: {}.", named.join(", "))
            };
            return Verdict::Refused(format!("You may not roll back {what} in {env_e}. {who} Nothing was done."));
        }
        if let Some((by, at)) = self.state.controls.rollbacks.get(&d.id) {
            return Verdict::Refused(format!(
                "A rollback of {what} (`{}`) was already asked for by <@{by}> at {}; nothing more was done.",
                escape(&d.id),
                clock_time(*at)
            ));
        }
        let call = match self.rollback_call(d) {
            Ok(call) => call,
            Err(why) => return Verdict::Refused(format!("{what} in {env_e}: {why} Nothing was done.")),
        };
        let id = d.id.clone();
        let version = d.release.version.clone();
        let back_to = match &call {
            Call::EcsUpdateService { task_definition, .. } => {
                format!(" to `{}`", escape(task_definition.rsplit('/').next().unwrap_or(task_definition)))
            }
            _ => String::new(),
        };
        self.state.controls.rollbacks.insert(id.clone(), (request.user.clone(), request.at));
        let operation = call.operation();
        out.push(Action::Control(Box::new(Control {
            request_id: request.id.clone(),
            deployment_id: id.clone(),
            user: request.user.clone(),
            asked_at: request.at,
            call,
        })));
        self.reply(
            &id,
            format!(
                "Rollback{back_to} asked for by <@{}> at {} (`{operation}`).",
                request.user,
                clock_time(request.at)
            ),
            false,
            out,
        );
        let version = version.map(|v| format!(" of `{}`", escape(&v))).unwrap_or_default();
        Verdict::Accepted(format!(
            "Rolling back {what}{version} in {env_e}{back_to} (`{operation}`). Its thread follows the rollback."
        ))
    }

    /// How `d` is rolled back now, or why it cannot be.
    fn rollback_call(&self, d: &Deployment) -> Result<Call, String> {
        let undone = d.decided(DetailType::RolledBack).is_some();
        let failed = d.terminal().is_some_and(|(t, _)| t == DetailType::Failed);
        if undone || failed {
            return Err(format!(
                "its last deployment (`{}`) {} already.",
                escape(&d.id),
                if undone { "was rolled back" } else { "failed" }
            ));
        }
        match d.strategy {
            Strategy::EcsRolling => {
                let (Some(cluster), Some(service)) = (&d.target.cluster, &d.target.service) else {
                    return Err("Cutover does not know its cluster and service.".into());
                };
                let Some(previous) = &d.release.previous_task_definition else {
                    return Err("Cutover does not know the task definition it replaced.".into());
                };
                Ok(Call::EcsUpdateService {
                    cluster: cluster.clone(),
                    service: service.clone(),
                    task_definition: previous.clone(),
                })
            }
            Strategy::CodedeployBlueGreen => {
                let window = d.rollback_window_until.is_some_and(|until| until > self.state.clock);
                if !d.is_in_flight() && !window {
                    return Err("its deployment completed and its rollback window is over.".into());
                }
                let id = std::iter::once(&d.id).chain(&d.aliases).find(|a| a.starts_with("d-"));
                let Some(id) = id else { return Err("Cutover does not know its CodeDeploy deployment id.".into()) };
                Ok(Call::CodedeployStopDeployment { deployment_id: id.clone() })
            }
            Strategy::EcsBlueGreen | Strategy::EcsCanary | Strategy::EcsLinear => {
                if !d.is_in_flight() {
                    return Err("its deployment completed; roll forward with a new one.".into());
                }
                let arn = std::iter::once(&d.id).chain(&d.aliases).find(|a| a.contains(":service-deployment/"));
                let Some(arn) = arn else { return Err("Cutover does not know its service deployment ARN.".into()) };
                Ok(Call::EcsStopServiceDeployment { service_deployment_arn: arn.clone() })
            }
            Strategy::Unknown => Err("Cutover does not know how it was deployed.".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slack_user_ids_are_users() {
        assert!(is_user_id("U0ALICE") && is_user_id("W012ABC"));
        for bad in ["", "U", "u0alice", "S0GROUP", "U0<!channel>", "U0 A", "C0DEPLOYS"] {
            assert!(!is_user_id(bad), "{bad}");
        }
        assert_eq!(clock_time(Timestamp(1_773_481_020_000)), "09:37 UTC");
    }
}
