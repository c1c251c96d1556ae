//! Dedupe keys, the event clock and sweeping: what is past the retention (in AWS time) is
//! forgotten, so memory is bounded by the retention, not by history.

use std::collections::{HashSet, VecDeque};

use cutover_events::Timestamp;
use cutover_events::ecs::TaskStatus;
use serde::{Deserialize, Serialize};

use super::Correlator;
use crate::action::Action;
use crate::facts::ServiceKey;

/// How often (event time) state past its retention is swept.
const SWEEP_EVERY_MS: i64 = 3600 * 1000;

/// Dedupe keys with their expiry, oldest first. A key is kept as the first 16 bytes of its
/// SHA-256 (fixed size, whatever the key's length; a collision needs about 2^64 keys), and
/// persisted as `{"hashed": [[expiry, "<32 hex digits>"], …]}`. State written before keeps its
/// keys as text (`{"keys": […], "order": [[expiry, key], …]}`): read, they are hashed.
#[derive(Debug, Default)]
pub(super) struct Dedupe {
    keys: HashSet<u128, std::hash::BuildHasherDefault<DigestHasher>>,
    order: VecDeque<(Timestamp, u128)>,
}

/// Hashes a key that is already a digest: its low 64 bits. SHA-256's output is uniform, and
/// nobody can aim at a bucket without finding SHA-256 prefixes, so SipHash's work (a fifth
/// of a dedupe lookup) buys nothing here.
#[derive(Debug, Default)]
pub(super) struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u128 digests are hashed with it; anything else still hashes, just not as fast.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// What a dedupe key is kept as.
fn key_hash(key: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

impl Dedupe {
    /// False if the key was already seen.
    pub(super) fn insert(&mut self, key: &str, expires: Timestamp) -> bool {
        let hash = key_hash(key);
        if !self.keys.insert(hash) {
            return false;
        }
        self.order.push_back((expires, hash));
        true
    }

    pub(super) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub(super) fn expire(&mut self, now: Timestamp) {
        while self.order.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, hash)) = self.order.pop_front() {
                self.keys.remove(&hash);
            }
        }
    }
}

impl Serialize for Dedupe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Repr<'a> {
            hashed: Vec<(&'a Timestamp, String)>,
        }
        Repr { hashed: self.order.iter().map(|(t, h)| (t, format!("{h:032x}"))).collect() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Dedupe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Repr {
            /// Written before keys were hashed: the keys themselves.
            #[serde(default)]
            order: Vec<(Timestamp, String)>,
            #[serde(default)]
            hashed: Vec<(Timestamp, String)>,
        }
        let r = Repr::deserialize(d)?;
        let mut out = Self::default();
        let old = r.order.into_iter().map(|(t, key)| Ok((t, key_hash(&key))));
        let new = r.hashed.into_iter().map(|(t, hex)| {
            u128::from_str_radix(&hex, 16)
                .map(|h| (t, h))
                .map_err(|_| serde::de::Error::custom(format!("bad dedupe hash {hex:?}")))
        });
        for entry in old.chain(new) {
            let (t, h) = entry?;
            if out.keys.insert(h) {
                out.order.push_back((t, h));
            }
        }
        Ok(out)
    }
}

impl Correlator {
    /// When [`Correlator::handle_timeout`] next has work (expiring old state).
    pub fn next_timeout(&self) -> Option<Timestamp> {
        (!self.state.deployments.is_empty() || !self.state.dedupe.is_empty()).then_some(self.state.next_sweep)
    }

    /// Time passed with no input until `now`, an event time (`serve` runs the event clock with
    /// the wall clock while the queue is quiet): the event clock moves to `now`, as an event of
    /// that time would move it, and what is past the retention behind it is expired. A message
    /// older than the retention behind the clock is stale from then on, so nothing expired here
    /// can come back as new. It decides nothing today.
    #[must_use]
    pub fn handle_timeout(&mut self, now: Timestamp) -> Vec<Action> {
        self.advance(now);
        self.sweep(self.state.clock);
        Vec::new()
    }

    pub(super) fn advance(&mut self, at: Timestamp) {
        if at > self.state.clock {
            self.state.clock = at;
        }
        if self.state.next_sweep == Timestamp::default() {
            self.state.next_sweep = at.plus_millis(SWEEP_EVERY_MS);
        }
    }

    /// Forgets what is past the retention in event time: finished deployments, deployments
    /// with no activity, stopped tasks, pipeline executions, dedupe keys.
    pub(super) fn sweep(&mut self, clock: Timestamp) {
        let horizon = clock.plus_millis(-self.retention_ms);
        let expired: Vec<String> =
            self.state.deployments.values().filter(|d| d.settled_at() < horizon).map(|d| d.id.clone()).collect();
        for id in &expired {
            if let Some(d) = self.state.deployments.remove(id) {
                self.state.aliases.forget(&d);
                self.state.pipelines.by_deployment.remove(id);
                if let Some(svc) = d.target.service_key.as_ref().and_then(|k| self.state.census.services.get_mut(k)) {
                    svc.deployments.retain(|x| x != id);
                    svc.open.retain(|x| x.id.as_str() != id);
                }
                if let Some(undone) = &d.rollback.of {
                    self.state.rollbacks_of.forget(undone, id);
                }
            }
        }
        let stopped: Vec<_> = self
            .state
            .census
            .tasks
            .iter()
            .filter(|(_, r)| r.last_status == TaskStatus::Stopped && r.last_at < horizon)
            .map(|(arn, _)| arn.clone())
            .collect();
        for arn in stopped {
            if let Some(r) = self.state.census.tasks.remove(&arn) {
                if let Some(svc) = self.state.census.services.get_mut(&r.service_key) {
                    svc.tasks.remove(&arn);
                }
                self.state.census.ungrouped(&r.service_key, &r.deployment, &arn);
            }
        }
        self.state.census.services.retain(|_, s| !s.tasks.is_empty() || !s.deployments.is_empty());
        self.state.census.names.let_go();
        self.state.pipelines.executions.retain(|_, p| p.last_at >= horizon);
        let deployments = &self.state.deployments;
        self.state.controls.sweep(horizon, |id| deployments.contains_key(id));
        self.state.approvals.records.retain(|_, a| a.last_at >= horizon);
        self.state.approvals.pending_notices.retain(|_, n| n.at >= horizon);
        let executions = &self.state.pipelines.executions;
        self.state.approvals.structures.retain(|key, _| {
            let name = key.rsplit_once('@').map_or(key.as_str(), |(n, _)| n);
            executions.values().any(|e| e.context.name == name)
        });
        // A deploy action joins deployments that start while it runs: one that finished an
        // hour ago (or started past the retention) joins no more, and is not kept to be
        // scanned at every decision.
        let executions = &self.state.pipelines.executions;
        let finished_before = clock.plus_millis(-super::pipelines::KEEP_FINISHED_ACTION_MS);
        self.state.pipelines.deploy_actions.retain(|_, a| {
            executions.contains_key(&a.execution_id)
                && a.finished_at.map_or(a.started_at >= horizon, |end| end >= finished_before)
        });
        for list in self.state.annotations.by_service.values_mut() {
            list.retain(|r| r.at >= horizon);
        }
        self.state.annotations.by_service.retain(|_, l| !l.is_empty());
        // What the deployments held still name, gathered once (not a scan per label or tag),
        // borrowed from them, and only when there are labels or tags to keep or let go.
        let deployments = &self.state.deployments;
        if !self.state.labels.is_empty() {
            let task_definitions: HashSet<&str> =
                deployments.values().filter_map(|d| d.release.task_definition.as_deref()).collect();
            self.state.labels.retain(|td, _| task_definitions.contains(td.as_str()));
        }
        if !self.state.service_tags.is_empty() {
            // A tag's key is a deployment's service key, or its `<cluster>/<service>`
            // (`Deployment::tags_key`, `Deployment::ecs_service`).
            let mut keys: HashSet<&str> = HashSet::new();
            let mut named: HashSet<(&str, &str)> = HashSet::new();
            for d in deployments.values() {
                keys.extend(d.target.service_key.as_ref().map(ServiceKey::as_str));
                if let (Some(cluster), Some(service)) = (d.target.cluster.as_deref(), d.target.service.as_deref()) {
                    named.insert((cluster, service));
                }
            }
            self.state
                .service_tags
                .retain(|key, _| keys.contains(key.as_str()) || key.named_splits().any(|pair| named.contains(&pair)));
        }
        let live = &self.state.pipelines.executions;
        self.state.pipelines.by_deployment.retain(|_, e| live.contains_key(e));
        self.state.dedupe.expire(clock);
        self.state.next_sweep = clock.plus_millis(SWEEP_EVERY_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_keeps_the_tags_and_labels_of_deployments_held_and_lets_the_others_go() {
        use cutover_events::emitted::Strategy;

        use crate::deployment::Deployment;
        use crate::routing::Routing;
        let mut c = Correlator::new(Routing::default());
        let at = Timestamp(1_800_000_000_000);
        let mut held = Deployment::new("ecs-svc/1", Strategy::EcsRolling, at);
        held.target.service_key = Some(ServiceKey::new("eu-west-1", "111122223333", "prod", "web"));
        held.target.cluster = Some("prod".into());
        held.target.service = Some("web".into());
        held.release.task_definition = Some("arn:aws:ecs:eu-west-1:111122223333:task-definition/web:7".into());
        let mut blue_green = Deployment::new("d-AAAAAAAAA", Strategy::CodedeployBlueGreen, at);
        blue_green.target.cluster = Some("edge".into());
        blue_green.target.service = Some("api/v2".into());
        c.state.deployments.insert(held.id.clone(), Box::new(held));
        c.state.deployments.insert(blue_green.id.clone(), Box::new(blue_green));
        let tags = std::collections::BTreeMap::from([("team".to_owned(), "web".to_owned())]);
        for key in [
            ServiceKey::new("eu-west-1", "111122223333", "prod", "web"),
            ServiceKey::named("prod", "web"),
            ServiceKey::named("edge", "api/v2"),
            ServiceKey::new("us-east-1", "111122223333", "prod", "web"),
            ServiceKey::named("prod", "gone"),
            ServiceKey::named("edge/api", "v2"),
        ] {
            c.state.service_tags.insert(key, tags.clone());
        }
        for td in [
            "arn:aws:ecs:eu-west-1:111122223333:task-definition/web:7",
            "arn:aws:ecs:eu-west-1:111122223333:task-definition/web:6",
        ] {
            c.state.labels.insert(td.to_owned(), Default::default());
        }
        c.sweep(at);
        let kept: Vec<&str> = c.state.service_tags.keys().map(ServiceKey::as_str).collect();
        assert_eq!(kept, vec!["edge/api/v2", "eu-west-1:111122223333:prod/web", "prod/web"]);
        let labels: Vec<&str> = c.state.labels.keys().map(String::as_str).collect();
        assert_eq!(labels, vec!["arn:aws:ecs:eu-west-1:111122223333:task-definition/web:7"]);
    }

    #[test]
    fn dedupe_keys_are_kept_hashed_and_state_written_with_keys_as_text_still_reads() {
        let mut d = Dedupe::default();
        let long = format!("eb:{}", "x".repeat(500));
        assert!(d.insert(&long, Timestamp(10)));
        assert!(!d.insert(&long, Timestamp(20)), "the same key again");
        assert!(d.insert("sns:1", Timestamp(30)));
        let text = serde_json::to_string(&d).unwrap();
        assert!(!text.contains("xxxx") && text.contains("hashed"), "{text}");
        let back: Dedupe = serde_json::from_str(&text).unwrap();
        let mut back = back;
        assert!(!back.insert(&long, Timestamp(40)) && !back.insert("sns:1", Timestamp(40)));
        // As a snapshot written before this kept it.
        let old = format!(
            r#"{{"keys": ["{long}", "sns:1"], "order": [["1970-01-01T00:00:00.010Z", "{long}"], ["1970-01-01T00:00:00.030Z", "sns:1"]]}}"#
        );
        let mut old: Dedupe = serde_json::from_str(&old).unwrap();
        assert!(!old.insert(&long, Timestamp(40)), "an old key is still a duplicate");
        old.expire(Timestamp(10));
        assert!(old.insert(&long, Timestamp(50)), "expired in order");
        assert!(!old.insert("sns:1", Timestamp(50)));
        assert!(serde_json::from_str::<Dedupe>(r#"{"hashed": [[0, "zz"]]}"#).is_err());
    }
}
