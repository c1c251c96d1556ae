//! CloudFront: an invalidation Cutover created, found by its caller reference, then followed
//! by id until `Completed`.

use cutover_correlator::{InvalidationWanted, Observation};
use cutover_events::Timestamp;

use super::{AskError, Reconciler, aws_time};

impl Reconciler {
    /// Has the invalidation been created, and has it completed? It is found by its caller
    /// reference among the distribution's invalidations created since its cut-over (the
    /// executor may not have created it yet: asked again next round), then followed by id.
    pub async fn invalidation(&mut self, w: &InvalidationWanted) -> Result<Option<Observation>, AskError> {
        let Some(cf) = self.cloudfront.clone() else { return Ok(None) };
        let get = async |this: &mut Self, id: &str| {
            this.paced().await;
            cf.get_invalidation()
                .distribution_id(&w.distribution_id)
                .id(id)
                .send()
                .await
                .map_err(|e| AskError::from_sdk(&e))
        };
        let found = match self.invalidation_ids.get(&w.caller_reference).cloned() {
            Some(id) => Some((id.clone(), get(self, &id).await?)),
            None => {
                // Created since its cut-over (a minute's slack for clocks): the executor may
                // not have created it yet, then it is asked again next round.
                let since = Some(w.decided_at.plus_millis(-60_000));
                let found = crate::executors::cloudfront::find_by_caller_reference(
                    &cf,
                    &w.distribution_id,
                    &w.caller_reference,
                    20,
                    since,
                    || {
                        self.calls += 1;
                        self.pace
                    },
                )
                .await
                .map_err(|outcome| format!("{outcome:?}"))?;
                if let Some((id, _)) = &found {
                    self.invalidation_ids.insert(w.caller_reference.clone(), id.clone());
                }
                found
            }
        };
        let Some((id, out)) = found else { return Ok(None) };
        let Some(inv) = out.invalidation() else { return Ok(None) };
        if !inv.status().eq_ignore_ascii_case("completed") {
            return Ok(None);
        }
        self.invalidation_ids.remove(&w.caller_reference);
        Ok(Some(Observation::InvalidationDone {
            deployment_id: w.deployment_id.clone(),
            distribution_id: w.distribution_id.clone(),
            invalidation_id: id,
            created_at: aws_time(Some(inv.create_time())).unwrap_or(w.decided_at),
            completed_by: Timestamp(crate::clock::now_ms()),
        }))
    }
}
