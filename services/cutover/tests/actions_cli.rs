//! `[slack.actions]` and who may act, as a user meets them in `check-config`: what `serve` could
//! not use is refused first (with the line), and the output says who may do what where.

mod common;

use common::{cutover, cutover_with_env, stderr, temp_dir};

fn write(name: &str, text: &str) -> String {
    let path = temp_dir("actions-cli").join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_config_refuses_what_serve_could_not_use() {
    let cases = [
        (
            "[slack.actions]\nenabled = true\nusergroup_cache_secs = -1\n",
            "[slack.actions] usergroup_cache_secs: -1 is out of range",
        ),
        (
            "[slack.actions]\nenabled = true\ntransport = \"http\"\npath = \"/metrics\"\n",
            "line 4: [slack.actions] path: \"/metrics\" must be a URL path",
        ),
        ("[slack.actions]\ntransport = \"carrier-pigeon\"\n", "unknown variant `carrier-pigeon`"),
        ("[slack.actions]\nsigning_secret = \"abc\"\n", "unknown field `signing_secret`"),
        ("[[routes]]\noperators = [\"alice\"]\n", "\"alice\" is not a Slack user (U…, W…) or user-group (S…) id"),
        (
            "[[slack.actions.deploys]]\nenvironment = \"production\"\nservice = \"web\"\npipeline = \"web release\"\n",
            "[slack.actions] deploys: pipeline \"web release\" is not a CodePipeline name",
        ),
        (
            "[[slack.actions.deploys]]\nenvironment = \"production\"\nservice = \"web\"\npipeline = \"a\"\n\n\
             [[slack.actions.deploys]]\nenvironment = \"production\"\nservice = \"web\"\npipeline = \"b\"\n",
            "production web is listed twice",
        ),
        ("[[slack.actions.deploys]]\nenvironment = \"production\"\nservice = \"web\"\n", "missing field `pipeline`"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = write(&format!("bad-{i}.toml"), text);
        let out = cutover(&["check-config", &path], None);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(stderr(&out).contains(want), "{text}\n{}", stderr(&out));
    }
}

#[test]
fn check_config_says_who_may_act_where() {
    let routes = "[[routes]]\ncluster = \"prod-*\"\nenvironment = \"production\"\napprovers = [\"S0RELEASE\"]\noperators = [\"U0OPS\", \"W0BOB\"]\n\n[[routes]]\ncluster = \"staging-*\"\nenvironment = \"staging\"\n";
    let deploys = "[[slack.actions.deploys]]\nenvironment = \"production\"\nservice = \"storefront\"\ncluster = \"prod-eu\"\npipeline = \"storefront-release\"\n\n[[slack.actions.deploys]]\nenvironment = \"qa\"\nservice = \"storefront\"\ncluster = \"qa\"\npipeline = \"storefront-qa\"\n";
    let on = write("on.toml", &format!("[slack.actions]\nenabled = true\ntransport = \"http\"\n\n{routes}\n{deploys}"));
    let out = cutover_with_env(&["check-config", &on], None, &[("SLACK_SIGNING_SECRET", "s")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "actions: on, signed requests at /slack/commands and /slack/interactions",
        "routes[0] (cluster prod-*, environment production): approve or reject: S0RELEASE",
        "routes[0] (cluster prod-*, environment production): continue, reroute, roll back, deploy: U0OPS, W0BOB",
        "routes[1] (cluster staging-*, environment staging): approve or reject: nobody",
        "deployments no route matches: nobody",
        "/cutover deploy production storefront: starts pipeline storefront-release: U0OPS, W0BOB (operators of routes[0])",
        "/cutover deploy qa storefront: starts pipeline storefront-qa: nobody (no route matches it)",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(!text.contains("SLACK_SIGNING_SECRET is not set"), "{text}");
    let unset = cutover_with_env(&["check-config", &on], None, &[("SLACK_SIGNING_SECRET", "")]);
    assert!(String::from_utf8(unset.stdout).unwrap().contains("SLACK_SIGNING_SECRET is not set here"));

    // Socket Mode, the default transport: the app-level token is what it needs.
    let socket = write("socket.toml", &format!("[slack.actions]\nenabled = true\n\n{routes}"));
    let out = cutover_with_env(&["check-config", &socket], None, &[("SLACK_APP_TOKEN", "")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("actions: on, Socket Mode"), "{text}");
    assert!(text.contains("SLACK_APP_TOKEN (the app-level token, xapp-…) is not set here"), "{text}");
    let set = cutover_with_env(&["check-config", &socket], None, &[("SLACK_APP_TOKEN", "xapp-1-x")]);
    assert!(!String::from_utf8(set.stdout).unwrap().contains("SLACK_APP_TOKEN"));

    // Passive by default: the grants are not in effect, and it says so.
    let off = write("off.toml", routes);
    let out = cutover(&["check-config", &off], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("actions: off"), "{text}");
    assert!(text.contains("[slack.actions] enabled is false: nobody may act"), "{text}");
}
