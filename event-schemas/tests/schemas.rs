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
fn approval_schemas_on_disk_match_the_types() {
    use cutover_events::emitted::{ApprovalDetailType, approval_event_schema};
    for t in ApprovalDetailType::ALL {
        let slug = t.as_str().to_ascii_lowercase().replace(' ', "-");
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas").join(format!("{slug}.v1.json"));
        let generated = serde_json::to_string_pretty(&approval_event_schema(t)).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{} differs from the types (UPDATE_SCHEMAS=1 once it is a new version)",
            path.display()
        );
    }
    let waiting = approval_event_schema(ApprovalDetailType::Waiting);
    assert!(waiting["properties"]["detail"]["properties"].get("outcome").is_none(), "no decision while waiting");
    let decided = approval_event_schema(ApprovalDetailType::Decided);
    assert!(decided["properties"]["detail"]["required"].as_array().unwrap().iter().any(|f| f == "outcome"));
}

#[test]
fn the_action_schema_on_disk_matches_the_type() {
    use cutover_events::emitted::{ActionDetail, ActionDetailType, action_event_schema};
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas").join("action-taken.v1.json");
    let generated = serde_json::to_string_pretty(&action_event_schema(ActionDetailType::Taken)).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} differs from the types (UPDATE_SCHEMAS=1 once it is a new version)",
        path.display()
    );
    // Every field of an emitted detail is one the schema names, and every required one is there.
    let detail = ActionDetail {
        action_id: "action/t-1".into(),
        request_id: "t-1".into(),
        user: "U0OPS".into(),
        channel: "C0DEPLOYS".into(),
        asked: "rollback".into(),
        operation: "ecs:UpdateService".into(),
        resource: "storefront:41".into(),
        deployment_id: Some("ecs-svc/1".into()),
        pipeline: None,
        cluster: Some("prod-eu".into()),
        service: Some("storefront".into()),
        environment: Some("production".into()),
        at: Timestamp(0),
        observed_at: Timestamp(1),
    };
    let value = serde_json::to_value(&detail).unwrap();
    let schema = action_event_schema(ActionDetailType::Taken);
    let props = schema["properties"]["detail"]["properties"].as_object().unwrap();
    let fields = value.as_object().unwrap();
    let names =
        |m: &serde_json::Map<String, serde_json::Value>| m.keys().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(names(props), names(fields));
    for r in schema["properties"]["detail"]["required"].as_array().unwrap() {
        assert!(fields.contains_key(r.as_str().unwrap()), "{r}");
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
        annotation: Some(cutover_events::emitted::AnnotationContext {
            commit: Some("9f1c2ab".into()),
            actor: Some("octocat".into()),
            ..Default::default()
        }),
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

#[test]
fn the_annotation_schema_on_disk_matches_the_type_and_a_sample_fits_it() {
    use cutover_events::annotation::{DETAIL_TYPE, DeployAnnotation, SOURCE, schema};
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/deploy-annotation.v1.json");
    let generated = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), generated, "rerun with UPDATE_SCHEMAS=1");
    let s = schema();
    assert_eq!(s["properties"]["source"]["const"], SOURCE);
    assert_eq!(s["properties"]["detail-type"]["const"], DETAIL_TYPE);
    let props = s["properties"]["detail"]["properties"].as_object().unwrap();
    let full = DeployAnnotation {
        cluster: "prod-eu".into(),
        service: "storefront".into(),
        image_tag: Some("v2.4.0".into()),
        task_definition: Some("storefront:42".into()),
        commit: Some("9f1c2ab".into()),
        branch: Some("main".into()),
        tag: Some("v2.4.0".into()),
        actor: Some("octocat".into()),
        channel: Some("C0DEPLOYS".into()),
        repository: Some("https://github.com/example/storefront".into()),
        run_url: Some("https://github.com/example/storefront/actions/runs/1".into()),
    };
    let value = serde_json::to_value(&full).unwrap();
    let mut keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    let mut in_schema: Vec<&String> = props.keys().collect();
    keys.sort();
    in_schema.sort();
    assert_eq!(keys, in_schema, "every field is in the schema");
    let required: Vec<&str> =
        s["properties"]["detail"]["required"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(required, vec!["cluster", "service"]);
}
