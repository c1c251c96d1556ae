//! The recorded scenario inputs on disk are exactly what their definitions produce, so a
//! change to a builder cannot silently leave stale fixtures (run `make-scenarios` to update).

use std::path::PathBuf;

use cutover_events::parse_body;

#[test]
fn inputs_on_disk_match_their_definitions() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for s in cutover_e2e::scenarios::all() {
        let on_disk = std::fs::read_to_string(root.join(s.name).join("input.jsonl"))
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let mut generated = s.lines.join("\n");
        generated.push('\n');
        assert!(
            on_disk == generated,
            "{}: input.jsonl is stale; run cargo run -p cutover-e2e --bin make-scenarios",
            s.name
        );
        if let Some(config) = s.config {
            let c = std::fs::read_to_string(root.join(s.name).join("config.toml")).unwrap();
            assert_eq!(c, config, "{}: config.toml is stale", s.name);
        }
    }
}

#[test]
fn generated_event_shapes_parse_as_inputs() {
    // Every non-noise line of the ECS, CodeDeploy and pipeline scenarios is a valid input.
    for s in cutover_e2e::scenarios::all().into_iter().filter(|s| s.name != "noise-and-malformed") {
        // (Journaled reconciler answers are not SQS bodies: replay reads them as such.)
        for (i, line) in s.lines.iter().enumerate().filter(|(_, l)| !l.starts_with("{\"cutover.observation\"")) {
            parse_body(line).unwrap_or_else(|e| panic!("{} line {}: {e}", s.name, i + 1));
        }
    }
}

#[test]
fn fixtures_on_disk_match_their_definitions() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../event-schemas/fixtures");
    for (name, body) in cutover_e2e::fixtures::all() {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = serde_json::to_string_pretty(&body).unwrap() + "\n";
        assert!(on_disk == expected, "{name} is stale; run cargo run -p cutover-e2e --bin make-scenarios");
    }
}
