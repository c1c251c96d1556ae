//! `cutover annotate`: CI tells Cutover what it is deploying (commit, branch or tag, who), for
//! deployments no CodePipeline runs. It puts one `Cutover Deploy Annotation` event
//! ([`cutover_events::annotation`]) on an EventBridge bus; the stacks' rule on that bus brings
//! it to Cutover's queue, and the correlator joins it to the deployment.
//!
//! What the flags leave out is read from the CI's own environment: GitHub Actions
//! (`GITHUB_SHA`, `GITHUB_REF_TYPE`/`GITHUB_REF_NAME`, `GITHUB_ACTOR`, `GITHUB_SERVER_URL`/
//! `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`) and Bitbucket Pipelines (`BITBUCKET_COMMIT`,
//! `BITBUCKET_BRANCH`, `BITBUCKET_TAG`, `BITBUCKET_GIT_HTTP_ORIGIN`, `BITBUCKET_BUILD_NUMBER`).

use cutover_events::annotation::{DETAIL_TYPE, DeployAnnotation, SOURCE};

/// Fills what `a` leaves out from the CI environment `env` (a lookup, so tests need not set
/// process variables).
pub fn from_ci_env(mut a: DeployAnnotation, env: impl Fn(&str) -> Option<String>) -> DeployAnnotation {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(sha) = get("GITHUB_SHA") {
        a.commit.get_or_insert(sha);
        if let Some(name) = get("GITHUB_REF_NAME") {
            if get("GITHUB_REF_TYPE").as_deref() == Some("tag") {
                if a.branch.is_none() {
                    a.tag.get_or_insert(name);
                }
            } else if a.tag.is_none() {
                a.branch.get_or_insert(name);
            }
        }
        if let Some(actor) = get("GITHUB_ACTOR") {
            a.actor.get_or_insert(actor);
        }
        if let (Some(server), Some(repo)) = (get("GITHUB_SERVER_URL"), get("GITHUB_REPOSITORY")) {
            let repository = format!("{}/{repo}", server.trim_end_matches('/'));
            if let Some(run) = get("GITHUB_RUN_ID") {
                a.run_url.get_or_insert(format!("{repository}/actions/runs/{run}"));
            }
            a.repository.get_or_insert(repository);
        }
    } else if let Some(sha) = get("BITBUCKET_COMMIT") {
        a.commit.get_or_insert(sha);
        if a.branch.is_none() && a.tag.is_none() {
            a.tag = get("BITBUCKET_TAG");
            if a.tag.is_none() {
                a.branch = get("BITBUCKET_BRANCH");
            }
        }
        if let Some(origin) = get("BITBUCKET_GIT_HTTP_ORIGIN") {
            let repository = origin.trim_end_matches('/').trim_end_matches(".git").replace("http://", "https://");
            if let Some(build) = get("BITBUCKET_BUILD_NUMBER") {
                a.run_url.get_or_insert(format!("{repository}/pipelines/results/{build}"));
            }
            a.repository.get_or_insert(repository);
        }
    }
    a
}

/// The `PutEvents` entry of an annotation, as the AWS CLI's `--entries` JSON would give it.
pub fn entry_json(bus: &str, a: &DeployAnnotation) -> serde_json::Value {
    serde_json::json!({
        "EventBusName": bus,
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": serde_json::to_string(a).unwrap_or_default(),
    })
}

/// Puts the annotation on `bus`; returns the event id.
pub async fn put(client: &aws_sdk_eventbridge::Client, bus: &str, a: &DeployAnnotation) -> Result<String, String> {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(SOURCE)
        .detail_type(DETAIL_TYPE)
        .detail(serde_json::to_string(a).map_err(|e| e.to_string())?)
        .build();
    let out = client
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| format!("EventBridge PutEvents on bus {bus}: {}", crate::aws::describe(&e)))?;
    match out.entries().first() {
        Some(r) if r.error_code().is_none() => Ok(r.event_id().unwrap_or_default().to_owned()),
        Some(r) => Err(format!(
            "EventBridge refused the annotation: {}: {}",
            r.error_code().unwrap_or_default(),
            r.error_message().unwrap_or_default()
        )),
        None => Err("EventBridge answered without an entry".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base() -> DeployAnnotation {
        DeployAnnotation {
            cluster: "prod-eu".into(),
            service: "storefront".into(),
            image_tag: Some("v123".into()),
            ..DeployAnnotation::default()
        }
    }

    #[test]
    fn github_actions_fills_commit_branch_actor_repository_and_run() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("GITHUB_SHA", "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b"),
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_ACTOR", "octocat"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "example/storefront"),
            ("GITHUB_RUN_ID", "9876543210"),
        ]);
        let a = from_ci_env(base(), |k| env.get(k).map(|v| (*v).to_owned()));
        assert_eq!(a.commit.as_deref(), Some("9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b"));
        assert_eq!((a.branch.as_deref(), a.tag.as_deref()), (Some("main"), None));
        assert_eq!(a.actor.as_deref(), Some("octocat"));
        assert_eq!(a.repository.as_deref(), Some("https://github.com/example/storefront"));
        assert_eq!(a.run_url.as_deref(), Some("https://github.com/example/storefront/actions/runs/9876543210"));
        // A flag wins over the environment; a tag build names the tag.
        let tagged: HashMap<&str, &str> =
            HashMap::from([("GITHUB_SHA", "abc"), ("GITHUB_REF_TYPE", "tag"), ("GITHUB_REF_NAME", "v1.2.0")]);
        let a = from_ci_env(DeployAnnotation { actor: Some("release-bot".into()), ..base() }, |k| {
            tagged.get(k).map(|v| (*v).to_owned())
        });
        assert_eq!(
            (a.branch.as_deref(), a.tag.as_deref(), a.actor.as_deref()),
            (None, Some("v1.2.0"), Some("release-bot"))
        );
    }

    #[test]
    fn bitbucket_pipelines_fills_commit_tag_and_repository() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("BITBUCKET_COMMIT", "1234567890abcdef"),
            ("BITBUCKET_TAG", "v2.0.0"),
            ("BITBUCKET_BRANCH", ""),
            ("BITBUCKET_GIT_HTTP_ORIGIN", "http://bitbucket.org/example/storefront"),
            ("BITBUCKET_BUILD_NUMBER", "42"),
        ]);
        let a = from_ci_env(base(), |k| env.get(k).map(|v| (*v).to_owned()));
        assert_eq!(a.commit.as_deref(), Some("1234567890abcdef"));
        assert_eq!((a.branch.as_deref(), a.tag.as_deref()), (None, Some("v2.0.0")));
        assert_eq!(a.repository.as_deref(), Some("https://bitbucket.org/example/storefront"));
        assert_eq!(a.run_url.as_deref(), Some("https://bitbucket.org/example/storefront/pipelines/results/42"));
    }

    #[test]
    fn outside_ci_nothing_is_invented() {
        assert_eq!(from_ci_env(base(), |_| None), base());
    }

    #[test]
    fn the_entry_parses_back_as_an_annotation_cutover_reads() {
        let a = DeployAnnotation { commit: Some("9f1c2ab".into()), ..base() };
        let entry = entry_json("default", &a);
        // As EventBridge delivers it to the queue.
        let body = serde_json::json!({"version": "0", "id": "1", "detail-type": entry["DetailType"], "source": entry["Source"],
            "account": "123456789012", "time": "2026-03-14T09:29:50Z", "region": "eu-west-1", "resources": [],
            "detail": serde_json::from_str::<serde_json::Value>(entry["Detail"].as_str().unwrap()).unwrap()});
        let m = cutover_events::parse_body(&body.to_string()).unwrap();
        assert!(matches!(m.event, cutover_events::Event::Annotation { detail, .. } if detail == a));
    }
}
