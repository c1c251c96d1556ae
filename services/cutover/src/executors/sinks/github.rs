//! GitHub deployments (REST, `X-GitHub-Api-Version: 2022-11-28`; `url` for GitHub Enterprise
//! Server is `https://HOST/api/v3`).
//!
//! One GitHub deployment per Cutover deployment, made at its first event the sink takes:
//! `ref` the commit, `environment` the route's environment (else the cluster), `payload.cutover`
//! naming the deployment, `auto_merge` off and no required contexts (the code already runs).
//! Then a status per step: `in_progress` at the start and each traffic shift, `success` at the
//! cut-over (with `environment_url` and `log_url`, the Slack message) and at completion,
//! `failure` on failure and on rollback (saying so). At a cut-over the deployment that was
//! current in that repository and environment gets `inactive`, and this one becomes current:
//! a rollback deployment's cut-over thus makes the rolled-back one inactive.
//!
//! Ids are kept in the store (`<sink>/deployment/<id>`, `<sink>/current/<repo>/<environment>`).
//! After a call without an answer the deployment is looked for by its commit, environment and
//! payload, and a status among the deployment's statuses by its state and description.
//!
//! Auth: a fine-grained token (`Authorization: Bearer`), or a GitHub App: a JWT (RS256, 9
//! minutes, signed with the app's private key) traded for an installation token, kept until 5
//! minutes before it expires and traded again after a 401.

use base64::Engine as _;
use cutover_correlator::action::SinkDelivery;
use cutover_events::Timestamp;
use cutover_events::emitted::DetailType;
use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::http::Call;
use super::markers::percent_encode;
use super::{Ctx, words};
use crate::executors::Outcome;

/// `owner/repo` from a repository URL (`https://github.com/o/r`, `…/o/r.git`, `git@host:o/r`,
/// a commit URL `…/o/r/commit/<sha>`).
pub fn owner_repo(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map(|r| r.split_once('/').map_or("", |(_, path)| path))
        .or_else(|| url.strip_prefix("git@").and_then(|r| r.split_once(':').map(|(_, p)| p)))?;
    let mut parts = rest.split('/').filter(|p| !p.is_empty());
    let owner = parts.next()?;
    let repo = parts.next()?.trim_end_matches(".git");
    let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    (ok(owner) && ok(repo)).then(|| format!("{owner}/{repo}"))
}

/// The state and description of the status a step makes.
fn status_of(d: &SinkDelivery) -> (&'static str, String) {
    let detail = &d.detail;
    let state = match d.detail_type {
        DetailType::Started | DetailType::TrafficShifted => "in_progress",
        DetailType::CutOver | DetailType::Completed => "success",
        DetailType::Failed | DetailType::RolledBack => "failure",
    };
    let mut text = words::step(d.detail_type, detail);
    if let (DetailType::RolledBack, Some(by)) = (d.detail_type, &detail.rolled_back_by) {
        text = format!("{text} by {by}");
    }
    if let Some(of) = &detail.rollback_of {
        text = format!("rollback of {of}: {text}");
    }
    // GitHub refuses descriptions over 140 characters.
    (state, words::cut(&text, 140))
}

/// The environment's URL from the sink's template.
fn environment_url(template: &str, d: &SinkDelivery) -> String {
    let detail = &d.detail;
    let fill = |s: Option<&str>| percent_encode(s.unwrap_or(""));
    template
        .replace("{environment}", &fill(detail.environment.as_deref()))
        .replace("{service}", &fill(detail.service.as_deref()))
        .replace("{cluster}", &fill(detail.cluster.as_deref()))
        .replace("{version}", &fill(detail.version.as_deref()))
}

struct Api {
    base: String,
    repo: String,
    auth: String,
}

impl Api {
    fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Call {
        let url = format!("{}/repos/{}{path}", self.base, self.repo);
        let call = match body {
            Some(b) => Call::json(method, url, b),
            None => Call { method, url, headers: Vec::new(), body: None },
        };
        call.header("authorization", self.auth.clone())
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
    }
}

pub(super) async fn deliver(ctx: &mut Ctx<'_>, d: &SinkDelivery) -> Outcome {
    let config = &ctx.sink.config;
    let Some(repo) = config.repository.clone().or_else(|| d.repository.as_deref().and_then(owner_repo)) else {
        return Outcome::Failed(
            "no repository: set the sink's repository, or let the deployment name it (annotation, the image's org.opencontainers.image.source label)".into(),
        );
    };
    let Some(commit) = d.commit.clone() else {
        return Outcome::Failed(
            "no commit known for the deployment (a deploy annotation, the image's org.opencontainers.image.revision label, the pipeline's source revision, or a commit SHA as the image tag)".into(),
        );
    };
    let environment =
        d.detail.environment.clone().or_else(|| d.detail.cluster.clone()).unwrap_or_else(|| "production".into());
    let base = config.base_url();
    let token = match token(ctx, &base).await {
        Ok(t) => t,
        Err(outcome) => return outcome,
    };
    let api = Api { base, repo, auth: format!("Bearer {}", token.expose_secret()) };
    let deployment_key = format!("{}/deployment/{}", d.sink, d.detail.deployment_id);
    let id = match ensure_deployment(ctx, &api, d, &deployment_key, &commit, &environment).await {
        Ok(id) => id,
        Err(outcome) => return outcome,
    };
    let (state, description) = status_of(d);
    if let Err(outcome) = post_status(ctx, &api, d, &id, state, &description, &environment).await {
        return outcome;
    }
    if d.detail_type == DetailType::CutOver {
        let current_key = format!("{}/current/{}/{environment}", d.sink, api.repo);
        let previous = match ctx.recall(&current_key) {
            Ok(p) => p,
            Err(outcome) => return outcome,
        };
        if let Some(previous) = previous.filter(|p| *p != id) {
            let words = words::cut(&format!("replaced by {} ({})", words::version(&d.detail), d.detail.at), 140);
            match post_status(ctx, &api, d, &previous, "inactive", &words, &environment).await {
                // Gone (deleted by someone): nothing left to mark.
                Ok(()) | Err(Outcome::Failed(_)) => {}
                Err(outcome) => return outcome,
            }
        }
        if let Err(outcome) = ctx.remember(&current_key, &id) {
            return outcome;
        }
    }
    Outcome::Done(format!("deployment {id} {state}"))
}

/// The GitHub deployment of `d`: remembered, else found (after a lost answer), else made.
async fn ensure_deployment(
    ctx: &mut Ctx<'_>,
    api: &Api,
    d: &SinkDelivery,
    key: &str,
    commit: &str,
    environment: &str,
) -> Result<String, Outcome> {
    if let Some(id) = ctx.recall(key)? {
        return Ok(id);
    }
    if ctx.attempting() {
        let path = format!(
            "/deployments?sha={}&environment={}&per_page=100",
            percent_encode(commit),
            percent_encode(environment)
        );
        let reply = ctx.send(api.call(Method::GET, &path, None), "GitHub list deployments", false).await?;
        let found = reply.json().as_array().into_iter().flatten().find_map(|dep| {
            let ours =
                dep.pointer("/payload/cutover/deployment_id").and_then(Value::as_str) == Some(&d.detail.deployment_id);
            ours.then(|| dep.get("id").map(Value::to_string)).flatten()
        });
        if let Some(id) = found {
            ctx.remember(key, &id)?;
            return Ok(id);
        }
    }
    ctx.claim()?;
    let detail = &d.detail;
    let mut body = json!({
        "ref": commit,
        "environment": environment,
        "auto_merge": false,
        "required_contexts": [],
        "description": words::cut(&format!("{} {}", words::subject(detail), words::version(detail)), 140),
        "payload": {"cutover": {
            "deployment_id": detail.deployment_id,
            "cluster": detail.cluster,
            "service": detail.service,
            "version": detail.version,
            "task_definition": detail.task_definition,
            "rollback_of": detail.rollback_of,
            "started_at": detail.at,
        }},
    });
    if let Some(production) = ctx.sink.config.production {
        body["production_environment"] = json!(production);
    }
    let reply = ctx.send(api.call(Method::POST, "/deployments", Some(&body)), "GitHub create deployment", true).await?;
    let Some(id) = reply.json().get("id").filter(|v| v.is_u64()).map(Value::to_string) else {
        // 202: GitHub merged instead of deploying (never asked for: auto_merge is off).
        return Err(Outcome::Failed(format!("GitHub create deployment: no deployment in {}", reply.summary())));
    };
    ctx.remember(key, &id)?;
    Ok(id)
}

async fn post_status(
    ctx: &mut Ctx<'_>,
    api: &Api,
    d: &SinkDelivery,
    id: &str,
    state: &str,
    description: &str,
    environment: &str,
) -> Result<(), Outcome> {
    if ctx.attempting() {
        let path = format!("/deployments/{id}/statuses?per_page=100");
        let reply = ctx.send(api.call(Method::GET, &path, None), "GitHub list statuses", false).await?;
        let already = reply.json().as_array().into_iter().flatten().any(|s| {
            s.get("state").and_then(Value::as_str) == Some(state)
                && s.get("description").and_then(Value::as_str) == Some(description)
        });
        if already {
            return Ok(());
        }
    }
    ctx.claim()?;
    let mut body =
        json!({"state": state, "description": description, "environment": environment, "auto_inactive": false});
    if let Some(url) = &ctx.log_url {
        body["log_url"] = json!(url);
    }
    if state == "success"
        && let Some(template) = &ctx.sink.config.environment_url
    {
        body["environment_url"] = json!(environment_url(template, d));
    }
    let call = api.call(Method::POST, &format!("/deployments/{id}/statuses"), Some(&body));
    ctx.send(call, "GitHub create deployment status", false).await.map(drop)
}

/// The token to call with: the fine-grained token, or the app's installation token.
async fn token(ctx: &mut Ctx<'_>, base: &str) -> Result<SecretString, Outcome> {
    let now = crate::clock::now_ms();
    let (Some(app_id), Some(installation)) = (ctx.sink.config.app_id, ctx.sink.config.installation_id) else {
        return ctx.credential().await;
    };
    if let Some((token, until)) = &ctx.sink.app_token
        && *until > now
    {
        return Ok(token.clone());
    }
    let Some(key) = ctx.sink.private_key.as_mut() else {
        return Err(Outcome::SetupFault("a GitHub App needs its private key".into()));
    };
    let pem = key.read().await.map_err(Outcome::SetupFault)?;
    let jwt = app_jwt(app_id, &pem, now / 1_000).map_err(Outcome::SetupFault)?;
    let call = Call::json(Method::POST, format!("{base}/app/installations/{installation}/access_tokens"), &json!({}))
        .header("authorization", format!("Bearer {}", jwt.expose_secret()))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    let reply = ctx.send(call, "GitHub App installation token", true).await?;
    let v = reply.json();
    let Some(token) = v.get("token").and_then(Value::as_str).map(|t| SecretString::from(t.to_owned())) else {
        return Err(Outcome::Retry {
            after_ms: None,
            error: "GitHub App installation token: no token in the answer".into(),
        });
    };
    // Installation tokens last an hour; used until 5 minutes before the end.
    let expires = v
        .get("expires_at")
        .and_then(Value::as_str)
        .and_then(|s| Timestamp::parse_rfc3339(s).ok())
        .map_or(now + 55 * 60_000, |t| t.millis());
    ctx.sink.app_token = Some((token.clone(), expires - 5 * 60_000));
    Ok(token)
}

/// A GitHub App's JWT: RS256 over `{"iat": now - 60, "exp": now + 540, "iss": app id}`, signed
/// with the app's private key (PEM, PKCS#1 as GitHub hands it out, or PKCS#8).
pub fn app_jwt(app_id: u64, pem: &SecretString, now_secs: i64) -> Result<SecretString, String> {
    let der = pem_der(pem.expose_secret()).ok_or("the GitHub App private key is not a PEM key")?;
    let key = ring::signature::RsaKeyPair::from_der(&der)
        .or_else(|_| ring::signature::RsaKeyPair::from_pkcs8(&der))
        .map_err(|e| format!("the GitHub App private key is not an RSA key: {e}"))?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims =
        b64.encode(json!({"iat": now_secs - 60, "exp": now_secs + 540, "iss": app_id.to_string()}).to_string());
    let signing_input = format!("{header}.{claims}");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "signing the GitHub App JWT failed".to_owned())?;
    Ok(SecretString::from(format!("{signing_input}.{}", b64.encode(signature))))
}

/// The DER inside a PEM block (`\n` or literal `\\n` line breaks, as environment variables
/// sometimes carry them).
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let pem = pem.replace("\\n", "\n");
    let body: String = pem.lines().map(str::trim).filter(|l| !l.starts_with("-----") && !l.is_empty()).collect();
    if !pem.contains("-----BEGIN") {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_from_their_urls() {
        assert_eq!(owner_repo("https://github.com/acme/web").as_deref(), Some("acme/web"));
        assert_eq!(owner_repo("https://github.com/acme/web.git").as_deref(), Some("acme/web"));
        assert_eq!(owner_repo("git@github.com:acme/web.git").as_deref(), Some("acme/web"));
        assert_eq!(owner_repo("https://ghe.example.com/acme/web/commit/0123abc").as_deref(), Some("acme/web"));
        assert_eq!(owner_repo("https://github.com/acme").as_deref(), None);
        assert_eq!(owner_repo("https://github.com/ac me/web").as_deref(), None);
    }
}
