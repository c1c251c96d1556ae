//! `cutover annotate` end to end: the CLI puts a deploy annotation on the emulator's default
//! bus, the stack's rule (event-schemas/patterns/deploy-annotation.json) brings it to the
//! queue, and `cutover serve` joins it to the deployment that runs its image tag: the Slack
//! message gains the commit (linked to the repository), the branch and who deployed.

mod common;

use common::{Moto, Service, Slack, Stack, eventually, scenario_lines, temp_dir, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_annotation_from_the_cli_reaches_serve_and_updates_the_deployments_message() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("annotate");
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let service = Service::start(&config, &dir.join("cutover.log"));
    for line in scenario_lines("rolling") {
        stack.inject(&line).await;
    }
    let done = eventually(60, async || stack.emitted_steps().await.iter().any(|s| s.1 == "Deployment Completed")).await;
    assert!(done, "{}", service.log_text());

    // CI annotates (here after the deployment; before works the same): GitHub Actions' own
    // environment gives the branch, actor and repository.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover-under-test"))
        .args(["annotate", "--cluster", "prod-eu", "--service", "storefront", "--image-tag", "v123"])
        .args(["--config", &config.display().to_string()])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("GITHUB_SHA", "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b")
        .env("GITHUB_REF_TYPE", "branch")
        .env("GITHUB_REF_NAME", "main")
        .env("GITHUB_ACTOR", "octocat")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "example/storefront")
        .env("GITHUB_RUN_ID", "9876543210")
        .output()
        .await
        .expect("run cutover annotate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty(), "prints the event id");

    let link = "<https://github.com/example/storefront/commit/9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b|`9f1c2ab7`>";
    let top = || slack.state.messages().into_iter().find(|m| m.thread_ts.is_none());
    let updated =
        eventually(30, async || top().and_then(|m| m.blocks).is_some_and(|b| b.to_string().contains(link))).await;
    assert!(updated, "{:?}\n{}", top(), service.log_text());
    let blocks = top().and_then(|m| m.blocks).unwrap().to_string();
    assert!(blocks.contains("*Started by*\\noctocat") && blocks.contains("*Branch or tag*\\nmain"), "{blocks}");
    assert!(blocks.contains("actions/runs/9876543210"), "{blocks}");
    assert_eq!(slack.top_level_posts().values().sum::<usize>(), 1, "updated, never posted again");

    // A malformed annotation (neither image tag nor task definition) is refused by the CLI.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover-under-test"))
        .args(["annotate", "--cluster", "prod-eu", "--service", "storefront", "--image-tag", ""])
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("names neither image_tag nor task_definition"));
    assert!(service.terminate().await.success());
    slack.stop();
}
