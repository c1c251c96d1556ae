//! The JSON Schemas in `event-schemas/schemas/` are the ones generated from the emitted-event
//! types (`UPDATE_SCHEMAS=1` rewrites them), and an emitted detail fits its schema's fields.

use std::path::PathBuf;

use cutover_events::Timestamp;
use cutover_events::emitted::{DetailType, LifecycleDetail, Percent, Strategy, event_schema};

fn file(detail_type: DetailType) -> PathBuf {
    let slug = detail_type.as_str().to_ascii_lowercase().replace(' ', "-");
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas").join(format!("{slug}.v1.json"))
}

#[test]
fn schemas_on_disk_match_the_types() {
    for t in DetailType::ALL {
        let generated = serde_json::to_string_pretty(&event_schema(t)).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::create_dir_all(file(t).parent().unwrap()).unwrap();
            std::fs::write(file(t), &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(file(t)).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{} differs from the types: a schema change is a new version (see docs/events.md); \
             rerun with UPDATE_SCHEMAS=1 once it is one",
            file(t).display()
        );
    }
}

#[test]
fn an_emitted_detail_has_exactly_the_schema_fields() {
    let detail = |t: DetailType| LifecycleDetail {
        deployment_id: "ecs-svc/1".into(),
        cluster: Some("prod".into()),
        service: Some("web".into()),
        environment: None,
        strategy: Strategy::EcsRolling,
        task_definition: None,
        previous_task_definition: None,
        version: Some("v1".into()),
        at: Timestamp(0),
        observed_at: Timestamp(1),
        traffic_percent: (t == DetailType::TrafficShifted).then_some(Percent(10.0)),
        application: None,
        deployment_group: None,
        rollback_of: None,
        pipeline: None,
        reason: (t == DetailType::Failed).then(|| "why".into()),
        rolled_back_by: (t == DetailType::RolledBack).then(|| "ecs-svc/2".into()),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
    };
    for t in DetailType::ALL {
        let schema = event_schema(t);
        let props = schema["properties"]["detail"]["properties"].as_object().unwrap();
        let required: Vec<&str> =
            schema["properties"]["detail"]["required"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
        let value = serde_json::to_value(detail(t)).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        for k in &keys {
            assert!(props.contains_key(*k), "{t}: {k} not in the schema");
        }
        for r in &required {
            assert!(value.get(*r).is_some(), "{t}: required {r} missing");
        }
        assert_eq!(schema["properties"]["detail-type"]["const"], t.as_str());
    }
}
