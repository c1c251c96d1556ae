//! An emitted lifecycle detail to start a test's own from: `LifecycleDetail { version: …,
//! ..example::detail("ecs-svc/1") }`.

use cutover_events::Timestamp;
use cutover_events::emitted::{LifecycleDetail, Strategy};

/// A rolling deployment of `prod/web` cut over at 2023-11-14T22:13:20Z (observed 500 ms
/// later), everything optional left out.
pub fn detail(deployment_id: &str) -> LifecycleDetail {
    LifecycleDetail {
        deployment_id: deployment_id.to_owned(),
        cluster: Some("prod".into()),
        service: Some("web".into()),
        environment: None,
        strategy: Strategy::EcsRolling,
        task_definition: None,
        previous_task_definition: None,
        version: None,
        at: Timestamp(1_700_000_000_000),
        observed_at: Timestamp(1_700_000_000_500),
        traffic_percent: None,
        application: None,
        deployment_group: None,
        rollback_of: None,
        pipeline: None,
        reason: None,
        rolled_back_by: None,
        trace_id: None,
        annotation: None,
    }
}
