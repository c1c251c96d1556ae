//! Strings the state holds many times over, kept once: [`Shared`] is a reference-counted
//! string, and [`Names`] hands out one `Shared` per distinct text. The census keeps each task's
//! ARN, the deployment that started it, its task definition and its service's key this way:
//! with 10,000 deployments in flight they are most of its memory (BENCHMARKS.md, "Deployments
//! in flight: the census's strings kept once").
//!
//! A `Shared` serialises as its text, so persisted state keeps its shape. Read back, each is
//! its own copy until [`Names`] shares them again.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The hash of the state's in-memory maps by name (deployment ids, task ARNs): foldhash,
/// seeded at random per process (names come from events: nobody should be able to aim them
/// at one bucket), several times faster than SipHash on names this short. Their order differs
/// from process to process (as it did with SipHash's random keys): what walks them does not
/// depend on it.
pub(crate) type FastHash = foldhash::fast::RandomState;

/// Writes a hashed map as a map in key order: the shape and the bytes of the `BTreeMap` it
/// replaced, so a snapshot does not change with the hash.
pub(crate) fn in_key_order<K, V, S>(map: &std::collections::HashMap<K, V, FastHash>, s: S) -> Result<S::Ok, S::Error>
where
    K: Serialize + Ord,
    V: Serialize,
    S: serde::Serializer,
{
    let mut entries: Vec<(&K, &V)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    s.collect_map(entries)
}

/// A string kept once and shared by every holder. Compared, ordered and hashed as its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Shared(Arc<str>);

impl Shared {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The same allocation as `other`: of two names from one [`Names`], the same text.
    pub(crate) fn same(&self, other: &Shared) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// How many hold it.
    fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::from("")
    }
}

impl From<&str> for Shared {
    fn from(s: &str) -> Self {
        Self(Arc::from(s))
    }
}

impl From<String> for Shared {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

impl std::ops::Deref for Shared {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Shared {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Shared {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

/// One [`Shared`] per distinct text. A name nobody else holds any more is let go by
/// [`Names::let_go`], which the retention sweep calls.
#[derive(Debug, Default)]
pub(crate) struct Names(HashSet<Shared, FastHash>);

impl Names {
    /// The one `Shared` for `text`.
    pub(crate) fn get(&mut self, text: &str) -> Shared {
        if let Some(name) = self.0.get(text) {
            return name.clone();
        }
        let name = Shared::from(text);
        self.0.insert(name.clone());
        name
    }

    /// The one `Shared` for `text`, if anyone holds that text.
    pub(crate) fn find(&self, text: &str) -> Option<&Shared> {
        self.0.get(text)
    }

    /// Shares `name` if its text is already known; otherwise keeps it as the one.
    pub(crate) fn share(&mut self, name: &Shared) -> Shared {
        if let Some(known) = self.0.get(name.as_str()) {
            return known.clone();
        }
        self.0.insert(name.clone());
        name.clone()
    }

    /// Forgets the names only this set still holds.
    pub(crate) fn let_go(&mut self) {
        self.0.retain(|n| n.holders() > 1);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shared_per_text_and_let_go_once_nobody_holds_it() {
        let mut names = Names::default();
        let a = names.get("ecs-svc/1");
        let b = names.get("ecs-svc/1");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        let c = names.share(&Shared::from("ecs-svc/1"));
        assert!(Arc::ptr_eq(&a.0, &c.0));
        let d = names.get("ecs-svc/2");
        assert_eq!(names.len(), 2);
        drop(d);
        names.let_go();
        assert_eq!(names.len(), 1);
        drop((a, b, c));
        names.let_go();
        assert_eq!(names.len(), 0);
    }

    #[test]
    fn serialises_as_its_text() {
        let s = Shared::from("arn:aws:ecs:eu-west-1:1:task/c/t");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"arn:aws:ecs:eu-west-1:1:task/c/t\"");
        let back: Shared = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let map: std::collections::HashMap<Shared, u8> = serde_json::from_str("{\"k\":1}").unwrap();
        assert_eq!(map.get("k"), Some(&1));
    }
}
