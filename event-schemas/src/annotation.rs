//! A deploy annotation: what CI knows about a deployment that AWS's events do not (commit,
//! branch or tag, who ran it), for deployments no CodePipeline runs (GitHub Actions,
//! Bitbucket Pipelines, …). CI puts it on an EventBridge bus with `cutover annotate`, or as a
//! plain `PutEvents` entry:
//!
//! ```json
//! {"Source": "cutover.annotate", "DetailType": "Cutover Deploy Annotation",
//!  "Detail": "{\"cluster\":\"prod-eu\",\"service\":\"storefront\",\"image_tag\":\"v2.4.0\",\"commit\":\"9f1c2ab…\",\"branch\":\"main\",\"actor\":\"octocat\"}"}
//! ```
//!
//! A rule on that bus (`event-schemas/patterns/deploy-annotation.json`) brings it to
//! Cutover's queue, and Cutover joins it to the deployment of that service that runs that
//! image tag or task definition, whichever comes first. Its JSON Schema is
//! `event-schemas/schemas/deploy-annotation.v1.json`; fields may be added, never changed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `source` of an annotation.
pub const SOURCE: &str = "cutover.annotate";
/// The `detail-type` of an annotation.
pub const DETAIL_TYPE: &str = "Cutover Deploy Annotation";

/// The `detail` of a deploy annotation. Unknown fields are ignored (a newer CI helper may
/// send more); a known field of the wrong type is malformed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeployAnnotation {
    /// The ECS cluster name.
    pub cluster: String,
    /// The ECS service name.
    pub service: String,
    /// The image tag being deployed; with `task_definition`, at least one is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// The task definition ARN being deployed (`family:revision` also matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// The commit (full SHA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The branch the commit was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The tag the commit was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Who ran the deployment, as CI names them (a GitHub login, …): mapped to a Slack user
    /// through `[slack.people]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The Slack channel for this deployment's message (instead of its route's), when it has
    /// not been posted yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The repository's web URL (`https://github.com/org/repo`): the commit is linked to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The CI run's web URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

impl DeployAnnotation {
    /// What makes a parsed annotation unusable, if anything.
    pub fn problem(&self) -> Option<&'static str> {
        if self.cluster.trim().is_empty() || self.service.trim().is_empty() {
            Some("cluster and service must not be empty")
        } else if self.image_tag.as_deref().is_none_or(str::is_empty)
            && self.task_definition.as_deref().is_none_or(str::is_empty)
        {
            Some("names neither image_tag nor task_definition")
        } else {
            None
        }
    }

    /// The branch or tag, as the message shows it (`tag v2.4.0` or the branch).
    pub fn branch_or_tag(&self) -> Option<String> {
        match (&self.tag, &self.branch) {
            (Some(t), _) => Some(format!("tag {t}")),
            (None, Some(b)) => Some(b.clone()),
            (None, None) => None,
        }
    }
}

/// The JSON Schema of the whole annotation event (envelope and detail).
pub fn schema() -> serde_json::Value {
    let mut detail = serde_json::to_value(schemars::schema_for!(DeployAnnotation)).unwrap_or_default();
    if let Some(o) = detail.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    crate::canonical::sort_keys(serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:cutover:event:deploy-annotation:v1",
        "title": DETAIL_TYPE,
        "description": format!("A deploy annotation CI puts on EventBridge (source `{SOURCE}`) for Cutover to join to a deployment. At least one of `image_tag` and `task_definition` is required."),
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "source": {"const": SOURCE},
            "detail-type": {"const": DETAIL_TYPE},
            "detail": detail,
        },
    }))
}
