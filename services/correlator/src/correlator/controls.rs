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
use cutover_events::emitted::{ActionDetail, ActionDetailType, DetailType, SOURCE, Strategy};
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
    /// `/cutover deploy <environment> <service>`.
    Deploy { environment: String, service: String },
    /// A button on a deployment's message: `deployment_id` is the deployment its value names;
    /// `bound`, that the message clicked is that deployment's (the store says so);
    /// `message_of`, the deployment whose message was clicked, as the message's own metadata
    /// says, where it says.
    Click {
        button: Button,
        deployment_id: String,
        bound: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_of: Option<String>,
        /// What they wrote (a rejection's comment, from its modal).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// The pause hook a Continue button names.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hook: Option<String>,
    },
}

/// The buttons Cutover puts on a deployment's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Button {
    /// Roll back (in flight, or inside its rollback window).
    Rollback,
    /// Approve a pipeline's manual approval waiting.
    Approve,
    /// Reject it (with a comment, from the modal the button opens).
    Reject,
    /// Continue an ECS-native deployment waiting at a pause hook.
    Continue,
    /// Reroute now: a CodeDeploy blue/green deployment waiting to reroute (`READY`).
    Reroute,
}

impl Button {
    pub const ALL: [Self; 5] = [Self::Rollback, Self::Approve, Self::Reject, Self::Continue, Self::Reroute];

    /// The button's `action_id`.
    pub const fn action_id(self) -> &'static str {
        match self {
            Self::Rollback => "cutover.rollback",
            Self::Approve => "cutover.approve",
            Self::Reject => "cutover.reject",
            Self::Continue => "cutover.continue",
            Self::Reroute => "cutover.reroute",
        }
    }

    /// The button named by an `action_id`.
    pub fn from_action_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.action_id() == id)
    }
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
    /// The last deploy asked for each pipeline, until the retention forgets it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    deploys: BTreeMap<String, DeployRecord>,
    /// The decision asked for each approval (`approval/…`): by whom, when, approved or not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    approvals: BTreeMap<String, (String, Timestamp, bool)>,
    /// The Continue asked for each pause hook: by whom, when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    continues: BTreeMap<String, (String, Timestamp)>,
    /// The Reroute asked for each CodeDeploy deployment waiting to reroute: by whom, when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    reroutes: BTreeMap<String, (String, Timestamp)>,
}

/// A `/cutover deploy` accepted: who asked, where, and the execution it started once that
/// execution's STARTED event came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DeployRecord {
    request_id: String,
    user: String,
    channel: String,
    asked_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution: Option<String>,
}

/// How long after a deploy was asked for its execution may start and still be the one it
/// started (the call, its retries, and the event's way to the queue).
const DEPLOY_JOIN_MS: i64 = 10 * 60 * 1000;
/// How much earlier than the request the execution's start may be stamped (the clocks of
/// Slack's request, Cutover and CodePipeline are not one).
const DEPLOY_SKEW_MS: i64 = 60 * 1000;

impl Controls {
    /// Forgets requests older than `horizon`, rollbacks of deployments no longer held, and
    /// deploys asked for before `horizon`.
    pub(super) fn sweep(&mut self, horizon: Timestamp, held: impl Fn(&str) -> bool) {
        self.requests.retain(|_, at| *at >= horizon);
        self.rollbacks.retain(|id, _| held(id));
        self.deploys.retain(|_, d| d.asked_at >= horizon);
        self.approvals.retain(|_, (_, at, _)| *at >= horizon);
        self.continues.retain(|_, (_, at)| *at >= horizon);
        self.reroutes.retain(|id, _| held(id));
    }
}

/// A Slack channel id (`C…`, `G…`, `D…`): letters and digits, as the message is posted to.
fn is_channel_id(channel: &str) -> bool {
    channel.len() > 1 && channel.len() <= 32 && channel.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Who the route lets `power` (`doing` it): "Its operators: <@U…>, <!subteam^S…>." or, when
/// it names nobody, that nobody may.
fn who_may(route: Option<&crate::routing::Route>, power: Power, doing: &str) -> String {
    let named: Vec<String> =
        route.map(|r| r.granted(power).iter().map(|id| id.mention()).collect()).unwrap_or_default();
    let key = power.key();
    if named.is_empty() {
        format!("Nobody may {doing} there: its route names no `{key}`.")
    } else {
        format!("Its {key}: {}.", named.join(", "))
    }
}

fn emit_action(detail: ActionDetail) -> Action {
    Action::EmitAction { source: SOURCE.to_owned(), detail_type: ActionDetailType::Taken, detail: Box::new(detail) }
}

/// CodePipeline's `clientRequestToken` (`[a-zA-Z0-9-]+`, at most 128) from a Slack request id.
fn request_token(id: &str) -> String {
    let token: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(120).collect();
    format!("cutover-{token}")
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
            Ask::Deploy { environment, service } => self.deploy(request, environment, service, &mut out),
            Ask::Click {
                button: button @ (Button::Approve | Button::Reject),
                deployment_id,
                bound,
                message_of,
                comment,
                ..
            } => self.approve(
                request,
                *button == Button::Approve,
                deployment_id,
                *bound,
                message_of.as_deref(),
                comment.as_deref(),
                &mut out,
            ),
            Ask::Click { button: Button::Rollback, deployment_id, bound, message_of, .. } => {
                self.click(request, deployment_id, *bound, message_of.as_deref(), &mut out)
            }
            Ask::Click { button: Button::Continue, deployment_id, bound, message_of, hook, .. } => {
                self.continue_hook(request, deployment_id, hook.as_deref(), *bound, message_of.as_deref(), &mut out)
            }
            Ask::Click { button: Button::Reroute, deployment_id, bound, message_of, .. } => {
                self.reroute(request, deployment_id, *bound, message_of.as_deref(), &mut out)
            }
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
        let id = d.id.clone();
        self.rollback_of(request, &id, environment, out)
    }

    /// A click on a message's button: acted on only when the button is the one Cutover put on
    /// that deployment's message (`bound`: the caller found the message clicked to be the
    /// deployment's own, in the store) and the deployment is still in the state the button was
    /// made for. Otherwise refused, and the message clicked brought up to date.
    fn click(
        &mut self,
        request: &Request,
        deployment_id: &str,
        bound: bool,
        message_of: Option<&str>,
        out: &mut Vec<Action>,
    ) -> Verdict {
        let d = match self.clicked(deployment_id, bound, message_of, out) {
            Ok(d) => d,
            Err(refused) => return refused,
        };
        let newer = target(d).and_then(|t| {
            self.state
                .deployments
                .values()
                .filter(|o| o.id != d.id && target(o).as_deref() == Some(t.as_str()))
                .filter(|o| (o.started_at(), o.first_seen, &o.id) > (d.started_at(), d.first_seen, &d.id))
                .max_by_key(|o| (o.started_at(), o.first_seen))
                .map(|o| o.id.clone())
        });
        let stale = match (&newer, self.rollback_call(d)) {
            (Some(n), _) => Some(format!("a newer deployment (`{}`) replaced it", escape(n))),
            (None, Err(why)) => Some(why.trim_end_matches('.').to_owned()),
            (None, Ok(_)) => None,
        };
        if let Some(why) = stale {
            let id = d.id.clone();
            self.update(&id, out);
            return Verdict::Refused(format!(
                "This button is out of date: {why}. Its message is brought up to date; nothing was done."
            ));
        }
        let environment = d.target.environment.clone().unwrap_or_default();
        let id = d.id.clone();
        self.rollback_of(request, &id, &environment, out)
    }

    /// A call decided for a deployment: the controls lane's action, the thread reply saying
    /// who asked (`asked`, then "by @them at HH:MM (`operation`)"), the message brought up to
    /// date (its button gives way to who asked), and the `Action Taken` event.
    fn decided_call(
        &self,
        request: &Request,
        id: &str,
        asked: &str,
        call: Call,
        taken: ActionDetail,
        out: &mut Vec<Action>,
    ) {
        let operation = call.operation();
        out.push(Action::Control(Box::new(Control {
            request_id: request.id.clone(),
            deployment_id: id.to_owned(),
            user: request.user.clone(),
            asked_at: request.at,
            call,
        })));
        self.reply(
            id,
            format!("{asked} asked for by <@{}> at {} (`{operation}`).", request.user, clock_time(request.at)),
            false,
            out,
        );
        self.update(id, out);
        out.push(emit_action(taken));
    }

    /// What every click on a deployment's message checks first: the button is the one Cutover
    /// put on that message (`bound`), and the deployment is still held.
    fn clicked(
        &self,
        id: &str,
        bound: bool,
        message_of: Option<&str>,
        out: &mut Vec<Action>,
    ) -> Result<&Deployment, Verdict> {
        if !bound {
            return Err(self.forged(message_of, out));
        }
        self.state.deployments.get(id).ok_or_else(|| {
            Verdict::Refused(format!(
                "Cutover no longer holds `{}` (past its retention); nothing was done.",
                escape(id)
            ))
        })
    }

    /// Reroute now on a CodeDeploy blue/green deployment's message: `ContinueDeployment`
    /// (`READY_WAIT`), while it still waits to reroute and no rollback was asked for.
    fn reroute(
        &mut self,
        request: &Request,
        id: &str,
        bound: bool,
        message_of: Option<&str>,
        out: &mut Vec<Action>,
    ) -> Verdict {
        let d = match self.clicked(id, bound, message_of, out) {
            Ok(d) => d,
            Err(refused) => return refused,
        };
        let what = target(d).map_or_else(|| escape(id).into_owned(), |t| escape(&t).into_owned());
        if d.strategy != Strategy::CodedeployBlueGreen || d.waiting_to_reroute().is_none() {
            self.update(id, out);
            return Verdict::Refused(format!(
                "This button is out of date: {what} no longer waits to reroute. Its message is brought up to date; \
                 nothing was done."
            ));
        }
        let route = self.routing.route(&self.identity_of(d));
        if !route.is_some_and(|r| r.allows(Power::Operate, &request.user, &request.groups)) {
            let who = who_may(route, Power::Operate, "reroute");
            return Verdict::Refused(format!("You may not reroute {what}. {who} Nothing was done."));
        }
        if let Some((by, at)) = self.state.controls.rollbacks.get(id) {
            return Verdict::Refused(format!(
                "A rollback of {what} was already asked for by <@{by}> at {}; nothing was done.",
                clock_time(*at)
            ));
        }
        if let Some((by, at)) = self.state.controls.reroutes.get(id) {
            return Verdict::Refused(format!(
                "Rerouting {what} was already asked for by <@{by}> at {}; nothing more was done.",
                clock_time(*at)
            ));
        }
        let Some(deployment_id) = std::iter::once(&d.id).chain(&d.aliases).find(|a| a.starts_with("d-")).cloned()
        else {
            return Verdict::Refused(format!(
                "Cutover does not know the CodeDeploy deployment id of {what}; nothing was done."
            ));
        };
        let call = Call::CodedeployContinueDeployment { deployment_id };
        let taken = ActionDetail {
            deployment_id: Some(d.id.clone()),
            cluster: d.target.cluster.clone(),
            service: d.target.service.clone(),
            environment: d.target.environment.clone(),
            ..self.taken(request, "reroute", &call)
        };
        let operation = call.operation();
        let id = d.id.clone();
        self.state.controls.reroutes.insert(id.clone(), (request.user.clone(), request.at));
        self.decided_call(request, &id, "Reroute", call, taken, out);
        Verdict::Accepted(format!("Rerouting production traffic of {what} to the replacement (`{operation}`)."))
    }

    /// A button whose value names another object than the message it is on: refused, and the
    /// message clicked (a deployment's or an approval's) brought up to date.
    fn forged(&self, message_of: Option<&str>, out: &mut Vec<Action>) -> Verdict {
        if let Some(m) = message_of {
            if self.state.deployments.contains_key(m) {
                self.update(m, out);
            } else if self.state.approvals.records.contains_key(m) {
                self.update_approval(m, out);
            }
        }
        Verdict::Refused("This button does not belong to the message it is on; nothing was done.".into())
    }

    /// Continue on an ECS-native deployment's message: `ContinueServiceDeployment` of the
    /// pause hook the button names, while the deployment still waits at it.
    fn continue_hook(
        &mut self,
        request: &Request,
        id: &str,
        hook: Option<&str>,
        bound: bool,
        message_of: Option<&str>,
        out: &mut Vec<Action>,
    ) -> Verdict {
        let d = match self.clicked(id, bound, message_of, out) {
            Ok(d) => d,
            Err(refused) => return refused,
        };
        let what = target(d).map_or_else(|| escape(id).into_owned(), |t| escape(&t).into_owned());
        let waiting = d.paused.as_ref().filter(|p| d.is_in_flight() && Some(p.hook_id.as_str()) == hook).cloned();
        let Some(paused) = waiting else {
            self.update(id, out);
            return Verdict::Refused(format!(
                "This button is out of date: {what} no longer waits at that pause. Its message is brought up to \
                 date; nothing was done."
            ));
        };
        let route = self.routing.route(&self.identity_of(d));
        if !route.is_some_and(|r| r.allows(Power::Operate, &request.user, &request.groups)) {
            let who = who_may(route, Power::Operate, "continue");
            return Verdict::Refused(format!("You may not continue {what}. {who} Nothing was done."));
        }
        if let Some((by, at)) = self.state.controls.continues.get(&paused.hook_id) {
            return Verdict::Refused(format!(
                "Continuing {what} was already asked for by <@{by}> at {}; nothing more was done.",
                clock_time(*at)
            ));
        }
        let arn = std::iter::once(&d.id).chain(&d.aliases).find(|a| a.contains(":service-deployment/")).cloned();
        let Some(arn) = arn else {
            return Verdict::Refused(format!(
                "Cutover does not know the service deployment ARN of {what}; nothing was done."
            ));
        };
        let call = Call::EcsContinueServiceDeployment { service_deployment_arn: arn, hook_id: paused.hook_id.clone() };
        let taken = ActionDetail {
            deployment_id: Some(d.id.clone()),
            cluster: d.target.cluster.clone(),
            service: d.target.service.clone(),
            environment: d.target.environment.clone(),
            ..self.taken(request, "continue", &call)
        };
        let operation = call.operation();
        let id = d.id.clone();
        self.state.controls.continues.insert(paused.hook_id.clone(), (request.user.clone(), request.at));
        let asked = format!("Continue past `{}`", escape(&paused.stage));
        self.decided_call(request, &id, &asked, call, taken, out);
        Verdict::Accepted(format!("Continuing {what} past `{}` (`{operation}`).", escape(&paused.stage)))
    }

    /// Approve or Reject on an approval's message: `PutApprovalResult` with the token of that
    /// approval's notification, for the approvers of the route its message went to, while it
    /// waits and no decision was asked for yet.
    #[allow(clippy::too_many_arguments)]
    fn approve(
        &mut self,
        request: &Request,
        approve: bool,
        id: &str,
        bound: bool,
        message_of: Option<&str>,
        comment: Option<&str>,
        out: &mut Vec<Action>,
    ) -> Verdict {
        if !bound {
            return self.forged(message_of, out);
        }
        let Some(rec) = self.state.approvals.records.get(id) else {
            return Verdict::Refused(format!(
                "Cutover no longer holds approval `{}` (past its retention); nothing was done.",
                escape(id)
            ));
        };
        let what = format!(
            "{} `{}` ({} / {})",
            escape(&rec.pipeline),
            escape(crate::slack::message::short_id(&rec.execution_id)),
            escape(&rec.stage),
            escape(&rec.action)
        );
        if let Some(d) = &rec.decision {
            self.update_approval(id, out);
            return Verdict::Refused(format!(
                "This button is out of date: {what} was already {} at {}. Its message is brought up to date; nothing \
                 was done.",
                d.outcome.as_str(),
                clock_time(d.at)
            ));
        }
        let route = self.approval_route(rec);
        if !route.is_some_and(|r| r.allows(Power::Approve, &request.user, &request.groups)) {
            let who = who_may(route, Power::Approve, "approve");
            return Verdict::Refused(format!("You may not approve or reject {what}. {who} Nothing was done."));
        }
        if let Some((by, at, approved)) = self.state.controls.approvals.get(id) {
            return Verdict::Refused(format!(
                "{} of {what} was already asked for by <@{by}> at {}; nothing more was done.",
                if *approved { "Approval" } else { "Rejection" },
                clock_time(*at)
            ));
        }
        let Some(token) = rec.notice.as_ref().and_then(|n| n.token.clone()) else {
            return Verdict::Refused(format!(
                "Cutover has not seen the approval notification of {what} (its token): approve or reject it in \
                 CodePipeline. Nothing was done."
            ));
        };
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        let verb = if approve { "Approved" } else { "Rejected" };
        let summary = match comment {
            Some(c) => format!("{verb} from Slack by {}: {c}", request.user),
            None => format!("{verb} from Slack by {}", request.user),
        };
        let call = Call::CodepipelinePutApprovalResult {
            pipeline: rec.pipeline.clone(),
            stage: rec.stage.clone(),
            action: rec.action.clone(),
            token,
            approved: approve,
            // CodePipeline keeps at most 512 characters of it.
            summary: summary.chars().take(512).collect(),
        };
        let taken = ActionDetail {
            pipeline: Some(rec.pipeline.clone()),
            environment: self.next_route(rec).1,
            ..self.taken(request, if approve { "approve" } else { "reject" }, &call)
        };
        let operation = call.operation();
        self.state.controls.approvals.insert(id.to_owned(), (request.user.clone(), request.at, approve));
        out.push(Action::Control(Box::new(Control {
            request_id: request.id.clone(),
            deployment_id: id.to_owned(),
            user: request.user.clone(),
            asked_at: request.at,
            call,
        })));
        let said = comment.map(|c| format!(": {}", escape(c))).unwrap_or_default();
        self.approval_reply(
            id,
            format!(
                "{} asked for by <@{}> at {} (`{operation}`){said}",
                if approve { "Approval" } else { "Rejection" },
                request.user,
                clock_time(request.at)
            ),
            out,
        );
        self.update_approval(id, out);
        out.push(emit_action(taken));
        Verdict::Accepted(format!(
            "{} {what} (`{operation}`). Its message follows the pipeline.",
            if approve { "Approving" } else { "Rejecting" }
        ))
    }

    /// The buttons of an approval's message: Approve and Reject while it waits, when actions
    /// are on, its route names approvers and its notification's token came; once a decision
    /// was asked for, who asked instead.
    pub(super) fn approval_buttons(&self, id: &str) -> Option<serde_json::Value> {
        use serde_json::json;
        if !self.routing.actions {
            return None;
        }
        let rec = self.state.approvals.records.get(id)?;
        if rec.decision.is_some() || self.approval_route(rec)?.granted(Power::Approve).is_empty() {
            return None;
        }
        if let Some((by, at, approved)) = self.state.controls.approvals.get(id) {
            let text = format!(
                "{} asked for by <@{by}> at {}",
                if *approved { ":white_check_mark: Approval" } else { ":no_entry: Rejection" },
                clock_time(*at)
            );
            return Some(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}));
        }
        rec.notice.as_ref()?.token.as_ref()?;
        let button = |b: Button, text: &str, style: &str| {
            json!({"type": "button", "action_id": b.action_id(), "text": {"type": "plain_text", "text": text},
                "style": style, "value": id})
        };
        Some(json!({
            "type": "actions",
            "block_id": "cutover.controls",
            "elements": [button(Button::Approve, "Approve", "primary"), button(Button::Reject, "Reject…", "danger")],
        }))
    }

    /// Rolls back deployment `id` (held) for `request`, after the route's and the state's checks.
    fn rollback_of(&mut self, request: &Request, id: &str, environment: &str, out: &mut Vec<Action>) -> Verdict {
        let Some(d) = self.state.deployments.get(id) else {
            return Verdict::Refused("Cutover no longer holds that deployment; nothing was done.".into());
        };
        let env_e = escape(environment);
        let what = target(d).map_or_else(|| escape(id).into_owned(), |t| escape(&t).into_owned());
        let route = self.routing.route(&self.identity_of(d));
        let allowed = route.is_some_and(|r| r.allows(Power::Operate, &request.user, &request.groups));
        if !allowed {
            let who = who_may(route, Power::Operate, "roll back");
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
        let taken = ActionDetail {
            deployment_id: Some(id.clone()),
            cluster: d.target.cluster.clone(),
            service: d.target.service.clone().or_else(|| d.target.deployment_group.clone()),
            environment: Some(environment.to_owned()),
            ..self.taken(request, "rollback", &call)
        };
        self.decided_call(request, &id, &format!("Rollback{back_to}"), call, taken, out);
        let version = version.map(|v| format!(" of `{}`", escape(&v))).unwrap_or_default();
        Verdict::Accepted(format!(
            "Rolling back {what}{version} in {env_e}{back_to} (`{operation}`). Its thread follows the rollback."
        ))
    }

    /// `/cutover deploy`: the pipeline the config maps to the environment and service, started
    /// unless an execution of it is in progress (or a deploy of it was asked for and its
    /// execution has not started yet).
    fn deploy(&mut self, request: &Request, environment: &str, service: &str, out: &mut Vec<Action>) -> Verdict {
        let (env_e, service_e) = (escape(environment), escape(service));
        let Some(target) = self.routing.deploys.iter().find(|d| d.environment == environment && d.service == service)
        else {
            let known: Vec<String> = self
                .routing
                .deploys
                .iter()
                .map(|d| format!("`{} {}`", escape(&d.environment), escape(&d.service)))
                .collect();
            let known = if known.is_empty() {
                "The config maps no deploys (`[[slack.actions.deploys]]`).".to_owned()
            } else {
                format!("What may be deployed: {}.", known.join(", "))
            };
            return Verdict::Refused(format!(
                "Cutover knows no pipeline for {service_e} in {env_e}. {known} Nothing was done."
            ));
        };
        let pipeline = target.pipeline.clone();
        let pipeline_e = escape(&pipeline).into_owned();
        let route = self.routing.route(&target.identity());
        if !route.is_some_and(|r| r.allows(Power::Operate, &request.user, &request.groups)) {
            let who = who_may(route, Power::Operate, "deploy");
            return Verdict::Refused(format!("You may not deploy {service_e} to {env_e}. {who} Nothing was done."));
        }
        if !is_channel_id(&request.channel) {
            return Verdict::Refused("The request names no Slack channel; nothing was done.".into());
        }
        let running = self
            .state
            .pipelines
            .executions
            .values()
            .filter(|r| r.context.name == pipeline && r.ended_at.is_none())
            .max_by_key(|r| r.first_at);
        if let Some(r) = running {
            let since = r.started_at.or(r.first_at).map(clock_time).unwrap_or_else(|| "a while".into());
            return Verdict::Refused(format!(
                "Pipeline {pipeline_e} is already running execution `{}` (since {since}): one deploy at a time. \
                 Nothing was done.",
                escape(&r.context.execution_id)
            ));
        }
        if let Some(d) = self.state.controls.deploys.get(&pipeline)
            && d.execution.is_none()
            && request.at < d.asked_at.plus_millis(DEPLOY_JOIN_MS)
        {
            return Verdict::Refused(format!(
                "A deploy of {service_e} to {env_e} was already asked for by <@{}> at {} and its execution has not \
                 started yet; nothing more was done.",
                d.user,
                clock_time(d.asked_at)
            ));
        }
        self.state.controls.deploys.insert(
            pipeline.clone(),
            DeployRecord {
                request_id: request.id.clone(),
                user: request.user.clone(),
                channel: request.channel.clone(),
                asked_at: request.at,
                execution: None,
            },
        );
        let call = Call::CodepipelineStartPipelineExecution {
            pipeline: pipeline.clone(),
            client_request_token: request_token(&request.id),
        };
        let taken = ActionDetail {
            pipeline: Some(pipeline.clone()),
            cluster: target.cluster.clone(),
            service: Some(service.to_owned()),
            environment: Some(environment.to_owned()),
            ..self.taken(request, "deploy", &call)
        };
        out.push(Action::Control(Box::new(Control {
            request_id: request.id.clone(),
            deployment_id: String::new(),
            user: request.user.clone(),
            asked_at: request.at,
            call,
        })));
        out.push(emit_action(taken));
        Verdict::Accepted(format!(
            "Starting pipeline {pipeline_e} for {service_e} in {env_e} (`codepipeline:StartPipelineExecution`). \
             Its deployment's message names you, and you are mentioned if it fails."
        ))
    }

    /// The `Action Taken` detail of an accepted request, its target left for the caller.
    fn taken(&self, request: &Request, asked: &str, call: &Call) -> ActionDetail {
        ActionDetail {
            action_id: format!("action/{}", request.id),
            request_id: request.id.clone(),
            user: request.user.clone(),
            channel: request.channel.clone(),
            asked: asked.to_owned(),
            operation: call.operation().to_owned(),
            resource: call.resource().to_owned(),
            deployment_id: None,
            pipeline: None,
            cluster: None,
            service: None,
            environment: None,
            at: request.at,
            observed_at: self.state.clock.max(request.at),
        }
    }

    /// An execution of `pipeline` started at `at`: the deploy asked for from Slack just before
    /// it (and not bound yet) is the one that started it.
    pub(super) fn bind_deploy(&mut self, pipeline: &str, execution_id: &str, at: Timestamp, trigger: Option<&str>) {
        let Some(d) = self.state.controls.deploys.get_mut(pipeline) else { return };
        let started_by_call = trigger.is_none_or(|t| t == "StartPipelineExecution");
        let in_window = at >= d.asked_at.plus_millis(-DEPLOY_SKEW_MS) && at <= d.asked_at.plus_millis(DEPLOY_JOIN_MS);
        if d.execution.is_none() && started_by_call && in_window {
            d.execution = Some(execution_id.to_owned());
        }
    }

    /// Who started the deployment's execution from Slack, and in which channel.
    pub(super) fn slack_deployer(&self, id: &str) -> Option<(&str, &str)> {
        let exec = self.state.deployments.get(id)?.pipeline_execution.as_deref()?;
        self.state
            .controls
            .deploys
            .values()
            .find(|d| d.execution.as_deref() == Some(exec))
            .map(|d| (d.user.as_str(), d.channel.as_str()))
    }

    /// The buttons of deployment `id`'s message, when actions are on and its route names
    /// operators: Continue while it waits at a pause hook, Roll back while it can be rolled
    /// back; once one was asked for, who asked instead.
    pub(super) fn buttons(&self, id: &str) -> Vec<serde_json::Value> {
        use serde_json::json;
        let context = |text: String| json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]});
        let Some(d) = self.state.deployments.get(id).filter(|_| self.routing.actions) else { return Vec::new() };
        let Some(route) = self.routing.route(&self.identity_of(d)) else { return Vec::new() };
        if route.granted(Power::Operate).is_empty() {
            return Vec::new();
        }
        let (mut blocks, mut elements) = (Vec::new(), Vec::new());
        let rollback = self.state.controls.rollbacks.get(id);
        if let Some(p) = d.paused.as_ref().filter(|_| d.is_in_flight()) {
            match self.state.controls.continues.get(&p.hook_id) {
                Some((by, at)) => blocks
                    .push(context(format!(":arrow_forward: Continue asked for by <@{by}> at {}", clock_time(*at)))),
                None if rollback.is_none() => {
                    let until =
                        p.expires_at.map(|t| format!(" (its timeout acts at {})", clock_time(t))).unwrap_or_default();
                    blocks.push(context(format!(
                        ":double_vertical_bar: Paused at `{}` since {}{until}: Continue goes on.",
                        escape(&p.stage),
                        clock_time(p.since)
                    )));
                    elements.push(json!({"type": "button", "action_id": Button::Continue.action_id(),
                        "text": {"type": "plain_text", "text": "Continue"}, "style": "primary",
                        "value": format!("{}#{}", d.id, p.hook_id)}));
                }
                None => {}
            }
        }
        let ready = d.waiting_to_reroute().filter(|_| d.strategy == Strategy::CodedeployBlueGreen);
        if let Some(since) = ready {
            match self.state.controls.reroutes.get(id) {
                Some((by, at)) => blocks.push(context(format!(
                    ":twisted_rightwards_arrows: Reroute asked for by <@{by}> at {}",
                    clock_time(*at)
                ))),
                None if rollback.is_none() => {
                    blocks.push(context(format!(
                        ":hourglass_flowing_sand: Replacement ready since {}, waiting to reroute production traffic: \
                         Reroute now shifts it.",
                        clock_time(since)
                    )));
                    elements.push(json!({"type": "button", "action_id": Button::Reroute.action_id(),
                        "text": {"type": "plain_text", "text": "Reroute now"}, "style": "primary", "value": d.id}));
                }
                None => {}
            }
        }
        if let Some((by, at)) = rollback {
            blocks.push(context(format!(
                ":leftwards_arrow_with_hook: Rollback asked for by <@{by}> at {}",
                clock_time(*at)
            )));
        } else if let Ok(call) = self.rollback_call(d) {
            let what = target(d).unwrap_or_else(|| d.id.clone());
            let to = match &call {
                Call::EcsUpdateService { task_definition, .. } => {
                    format!(" to `{}`", escape(task_definition.rsplit('/').next().unwrap_or(task_definition)))
                }
                _ => String::new(),
            };
            // Waiting to reroute, nothing has moved yet: the rollback stops it.
            let label = if ready.is_some() { "Stop and roll back" } else { "Roll back" };
            let confirm = format!("{label} {}{to}? (`{}`)", escape(&what), call.operation());
            elements.push(json!({
                "type": "button",
                "action_id": Button::Rollback.action_id(),
                "text": {"type": "plain_text", "text": label},
                "style": "danger",
                "value": d.id,
                "confirm": {
                    "title": {"type": "plain_text", "text": "Roll back?"},
                    "text": {"type": "mrkdwn", "text": confirm},
                    "confirm": {"type": "plain_text", "text": "Roll back"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                    "style": "danger",
                },
            }));
        }
        if !elements.is_empty() {
            blocks.push(json!({"type": "actions", "block_id": "cutover.controls", "elements": elements}));
        }
        blocks
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
        assert!(is_channel_id("C0DEPLOYS") && !is_channel_id("#deploys") && !is_channel_id("C0<!here>"));
        assert_eq!(
            request_token("13345224609.738474920.8088930838d88f"),
            "cutover-13345224609-738474920-8088930838d88f"
        );
    }
}
