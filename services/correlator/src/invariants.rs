//! The lifecycle invariants every run of the correlator keeps, whatever its input: per
//! deployment, `Started` first; each lifecycle type at most once, but `Traffic Shifted` at
//! most once per percentage; nothing moves (`Started`, `Traffic Shifted`, `Cut Over`) after a
//! terminal event; at most one terminal event; `Rolled Back` only after `Failed`.
//!
//! The tests (scenarios, the ordering property) and the fuzz target check them.

use std::collections::BTreeMap;

use cutover_events::emitted::DetailType;

use crate::Action;

/// One emitted lifecycle event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step<'a> {
    pub deployment_id: &'a str,
    pub detail_type: DetailType,
    /// `None` when not known: the per-percentage rule is then not checked.
    pub traffic_percent: Option<f64>,
}

/// The steps among `actions`, in order.
pub fn steps(actions: &[Action]) -> impl Iterator<Item = Step<'_>> {
    actions.iter().filter_map(|a| match a {
        Action::Emit { detail_type, detail, .. } => Some(Step {
            deployment_id: &detail.deployment_id,
            detail_type: *detail_type,
            traffic_percent: detail.traffic_percent.map(|p| p.0),
        }),
        _ => None,
    })
}

/// Checks the invariants over `steps` in emission order; the error names the deployment, the
/// broken rule and its lifecycle so far.
pub fn check<'a>(steps: impl IntoIterator<Item = Step<'a>>) -> Result<(), String> {
    let mut per: BTreeMap<&str, Vec<(DetailType, Option<f64>)>> = BTreeMap::new();
    for s in steps {
        per.entry(s.deployment_id).or_default().push((s.detail_type, s.traffic_percent));
    }
    for (id, steps) in per {
        let types: Vec<DetailType> = steps.iter().map(|s| s.0).collect();
        let fail = |rule: &str| Err(format!("{id} {rule}: {types:?}"));
        if types.first() != Some(&DetailType::Started) {
            return fail("does not start with Started");
        }
        for t in DetailType::ALL.into_iter().filter(|t| *t != DetailType::TrafficShifted) {
            if types.iter().filter(|x| **x == t).count() > 1 {
                return fail(&format!("has two {t}"));
            }
        }
        let mut percents: Vec<u64> =
            steps.iter().filter(|s| s.0 == DetailType::TrafficShifted).filter_map(|s| s.1.map(f64::to_bits)).collect();
        let shifted = percents.len();
        percents.sort_unstable();
        percents.dedup();
        if percents.len() != shifted {
            return fail("shifted traffic to one percentage twice");
        }
        if let Some(i) = types.iter().position(|t| matches!(t, DetailType::Completed | DetailType::Failed))
            && types[i + 1..]
                .iter()
                .any(|t| matches!(t, DetailType::CutOver | DetailType::TrafficShifted | DetailType::Started))
        {
            return fail("moved after its terminal event");
        }
        if types.iter().filter(|t| matches!(t, DetailType::Completed | DetailType::Failed)).count() > 1 {
            return fail("ended twice");
        }
        if let Some(r) = types.iter().position(|t| *t == DetailType::RolledBack)
            && !types[..r].contains(&DetailType::Failed)
        {
            return fail("rolled back without failing");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, t: DetailType, p: Option<f64>) -> Step<'_> {
        Step { deployment_id: id, detail_type: t, traffic_percent: p }
    }

    #[test]
    fn each_rule_is_enforced() {
        use DetailType::*;
        let ok = [
            step("a", Started, None),
            step("a", TrafficShifted, Some(10.0)),
            step("a", TrafficShifted, Some(100.0)),
            step("a", CutOver, None),
            step("a", Failed, None),
            step("a", RolledBack, None),
        ];
        assert_eq!(check(ok), Ok(()));
        let broken: [&[Step<'_>]; 6] = [
            &[step("a", CutOver, None)],
            &[step("a", Started, None), step("a", CutOver, None), step("a", CutOver, None)],
            &[step("a", Started, None), step("a", TrafficShifted, Some(10.0)), step("a", TrafficShifted, Some(10.0))],
            &[step("a", Started, None), step("a", Completed, None), step("a", CutOver, None)],
            &[step("a", Started, None), step("a", Completed, None), step("a", Failed, None)],
            &[step("a", Started, None), step("a", RolledBack, None)],
        ];
        for b in broken {
            assert!(check(b.iter().copied()).is_err(), "{b:?}");
        }
    }
}
