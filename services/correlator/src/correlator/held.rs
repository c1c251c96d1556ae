//! The deployments held, by id: found by a hash of the id, walked and written in id order.
//!
//! Lookups are the hot path: each event settles its service's open deployments, a few lookups
//! each. A B-tree by id made each lookup a dozen compares of ids that share their `ecs-svc/`
//! prefix, and with 10,000 deployments in flight each compare followed a key to memory the
//! cache no longer held (BENCHMARKS.md, "Cost per event against history (issue 17, fourth
//! step)"). The order is kept beside the index for what walks them (whose results, ties and
//! snapshots are in id order, as they were) and is never read per event.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::deployment::Deployment;
use crate::shared::{FastHash, Shared};

/// Every deployment held, each in a slot. A removed one's slot is reused by the next.
#[derive(Default)]
pub(super) struct Held {
    slots: Vec<Option<Box<Deployment>>>,
    free: Vec<u32>,
    /// Each id's slot: what a lookup reads.
    by_id: HashMap<Shared, u32, FastHash>,
    /// The same, in id order: what a walk reads (the ids are the index's, shared).
    order: BTreeMap<Shared, u32>,
}

impl Held {
    pub(super) fn get(&self, id: &str) -> Option<&Deployment> {
        let slot = *self.by_id.get(id)?;
        self.slots[slot as usize].as_deref()
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut Deployment> {
        let slot = *self.by_id.get(id)?;
        self.slots[slot as usize].as_deref_mut()
    }

    pub(super) fn contains_key(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Holds `d` under `id`, in place of the one held under it before.
    pub(super) fn insert(&mut self, id: String, d: Box<Deployment>) {
        if let Some(&slot) = self.by_id.get(id.as_str()) {
            self.slots[slot as usize] = Some(d);
            return;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(d);
                slot
            }
            None => {
                self.slots.push(Some(d));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 deployments held")
            }
        };
        let id = Shared::from(id);
        self.by_id.insert(id.clone(), slot);
        self.order.insert(id, slot);
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<Box<Deployment>> {
        let slot = self.by_id.remove(id)?;
        self.order.remove(id);
        self.free.push(slot);
        self.slots[slot as usize].take()
    }

    /// Every deployment held, in id order.
    pub(super) fn values(&self) -> impl Iterator<Item = &Deployment> + '_ {
        self.order.values().filter_map(|&slot| self.slots[slot as usize].as_deref())
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.order.iter().map(|(id, &slot)| (id, &self.slots[slot as usize]))).finish()
    }
}

/// Written as a map by id, in id order: the snapshot's shape from before the index.
impl Serialize for Held {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.order.iter().filter_map(|(id, &slot)| Some((id.as_str(), self.slots[slot as usize].as_ref()?))),
        )
    }
}

impl<'de> Deserialize<'de> for Held {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut held = Self::default();
        for (id, deployment) in BTreeMap::<String, Box<Deployment>>::deserialize(d)? {
            held.insert(id, deployment);
        }
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use cutover_events::Timestamp;
    use cutover_events::emitted::Strategy;

    use super::*;

    fn deployment(id: &str) -> Box<Deployment> {
        Box::new(Deployment::new(id, Strategy::EcsRolling, Timestamp(1_800_000_000_000)))
    }

    #[test]
    fn walks_and_writes_in_id_order_whatever_the_order_held_and_reuses_slots() {
        let mut held = Held::default();
        for id in ["ecs-svc/3", "d-ABC", "ecs-svc/1", "ecs-svc/2"] {
            held.insert(id.to_owned(), deployment(id));
        }
        assert!(held.remove("ecs-svc/1").is_some());
        assert!(held.remove("ecs-svc/1").is_none());
        held.insert("a".to_owned(), deployment("a"));
        // The slot let go is the one taken: no slot grows while as many are held.
        assert_eq!(held.slots.len(), 4);
        assert_eq!(held.len(), 4);
        let ids: Vec<&str> = held.values().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a", "d-ABC", "ecs-svc/2", "ecs-svc/3"]);
        assert_eq!(held.get("ecs-svc/2").map(|d| d.id.as_str()), Some("ecs-svc/2"));
        assert!(held.get("ecs-svc/1").is_none() && !held.contains_key("ecs-svc/1"));

        // Written in id order too (read from the text: a map read back may sort it itself).
        let json = serde_json::to_string(&held).unwrap();
        let at = |id: &str| json.find(&format!("\"{id}\":{{")).unwrap();
        assert!(at("a") < at("d-ABC") && at("d-ABC") < at("ecs-svc/2") && at("ecs-svc/2") < at("ecs-svc/3"));
        let back: Held = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn holding_an_id_again_replaces_it_in_its_slot() {
        let mut held = Held::default();
        held.insert("ecs-svc/1".to_owned(), deployment("ecs-svc/1"));
        let mut again = deployment("ecs-svc/1");
        again.first_seen = Timestamp(1_800_000_000_005);
        held.insert("ecs-svc/1".to_owned(), again);
        assert_eq!(held.len(), 1);
        assert_eq!(held.slots.len(), 1);
        assert_eq!(held.get("ecs-svc/1").map(|d| d.first_seen), Some(Timestamp(1_800_000_000_005)));
    }
}
