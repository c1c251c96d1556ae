//! `[[sinks]]` as a user meets them: `check-config` refuses what `serve` would (with the file,
//! line and key) and says what each sink takes and where its credential comes from; `replay`
//! prints each delivery as a `sink` line carrying the emitted detail.

mod common;

use common::{actions, cutover, cutover_with_env, scenarios_dir, stderr, temp_dir};

fn write(name: &str, text: &str) -> String {
    let path = temp_dir("sinks-cli").join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_config_refuses_a_sink_serve_could_not_use_and_names_the_line() {
    let cases = [
        (
            "[[sinks]]\nname = \"gh\"\nkind = \"github\"\n",
            "line 1: sinks[0] token_env: kind github needs a fine-grained token",
        ),
        (
            "[[sinks]]\nname = \"g\"\nkind = \"grafana\"\ntoken_env = \"T\"\n",
            "line 1: sinks[0] url: is required for kind grafana",
        ),
        (
            "[[sinks]]\nname = \"w\"\nkind = \"webhook\"\ntoken_env = \"T\"\nurl = \"ftp://x\"\n",
            "line 5: sinks[0] url: \"ftp://x\" is not an http:// or https:// URL",
        ),
        (
            "[[sinks]]\nname = \"a\"\nkind = \"pagerduty\"\ntoken_env = \"T\"\n[[sinks]]\nname = \"a\"\nkind = \"datadog\"\ntoken_env = \"T\"\n",
            "line 6: sinks[1] name: \"a\" is already the name of sinks[0]",
        ),
        (
            "[[sinks]]\nname = \"d\"\nkind = \"datadog\"\ntoken = \"abc\"\n",
            "secrets never go in the config file: name the environment variable that holds it with token_env",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = write(&format!("bad-{i}.toml"), text);
        let out = cutover(&["check-config", &path], None);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(stderr(&out).contains(want), "{text}\n{}", stderr(&out));
    }
}

#[test]
fn check_config_says_what_each_sink_takes_and_where_its_credential_is() {
    let path = write(
        "ok.toml",
        "[[sinks]]\nname = \"github-prod\"\nkind = \"github\"\nenvironment = \"production\"\ntoken_env = \"GH_TOKEN_FOR_TEST\"\n\n[[sinks]]\nname = \"pd\"\nkind = \"pagerduty\"\ntoken_env = \"PD_FOR_TEST\"\n",
    );
    let out = cutover_with_env(&["check-config", &path], None, &[("GH_TOKEN_FOR_TEST", "ghp_x")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("sink github-prod (github, https://api.github.com): Deployment Started, Deployment Cut Over, Deployment Failed, Deployment Rolled Back; credential from $GH_TOKEN_FOR_TEST"), "{text}");
    assert!(
        text.contains(
            "sink pd (pagerduty, https://events.pagerduty.com): Deployment Cut Over; credential from $PD_FOR_TEST"
        ),
        "{text}"
    );
    assert!(text.contains("note: sink pd: PD_FOR_TEST is not set here"), "{text}");
    assert!(!text.contains("ghp_x") && !text.contains("note: sink github-prod"), "{text}");
}

#[test]
fn replay_prints_each_delivery_with_the_emitted_detail() {
    let config = std::fs::read_to_string(scenarios_dir().join("rolling/config.toml")).unwrap();
    let path = write(
        "replay.toml",
        &format!(
            "{config}\n[[sinks]]\nname = \"pd\"\nkind = \"pagerduty\"\ncluster = \"prod-*\"\ntoken_env = \"PD\"\n"
        ),
    );
    let input = scenarios_dir().join("rolling/input.jsonl").display().to_string();
    let out = cutover(&["replay", "--config", &path, &input], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = actions(&out);
    let sinks: Vec<_> = lines.iter().filter(|a| a["action"] == "sink").collect();
    assert_eq!(sinks.len(), 1, "PagerDuty takes the cut-over");
    let s = sinks[0];
    assert_eq!(
        (s["sink"].as_str(), s["kind"].as_str(), s["detail_type"].as_str()),
        (Some("pd"), Some("pagerduty"), Some("Deployment Cut Over"))
    );
    let emit = lines.iter().find(|a| a["action"] == "emit" && a["detail_type"] == "Deployment Cut Over").unwrap();
    assert_eq!(s["detail"], emit["detail"]);
    // Without sinks, not one line more.
    let plain = cutover(
        &["replay", "--config", &scenarios_dir().join("rolling/config.toml").display().to_string(), &input],
        None,
    );
    assert_eq!(actions(&plain).len(), lines.len() - 1);
}

#[test]
fn every_config_in_docs_sinks_md_passes_check_config() {
    let docs = std::fs::read_to_string(common::workspace().join("docs/sinks.md")).unwrap();
    let blocks: Vec<&str> = docs.split("```toml\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert_eq!(blocks.len(), 6, "one config per sink");
    for (i, block) in blocks.iter().enumerate() {
        let path = write(&format!("docs-{i}.toml"), block);
        let out = cutover(&["check-config", &path], None);
        assert_eq!(out.status.code(), Some(0), "{block}\n{}", stderr(&out));
    }
}
