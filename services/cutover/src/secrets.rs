//! Credentials: a secret's value from the environment, else from AWS Secrets Manager, never
//! from the config file and never shown (`Debug` names where it comes from, not what it is).

use secrecy::{ExposeSecret as _, SecretString};

/// The keys a secret's JSON may hold a token under.
pub const TOKEN_KEYS: &[&str] = &["token", "bot_token", "SLACK_BOT_TOKEN"];

/// The value in a secret's text: the text itself, or a JSON object's first non-empty `keys`.
pub fn value_from_secret(text: &SecretString, keys: &[&str]) -> Option<SecretString> {
    let raw = text.expose_secret().trim();
    if raw.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(raw).ok()?;
        return keys
            .iter()
            .find_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
            .filter(|t| !t.trim().is_empty())
            .map(|t| SecretString::from(t.trim().to_owned()));
    }
    (!raw.is_empty()).then(|| SecretString::from(raw.to_owned()))
}

/// Where a credential comes from: an environment variable, else a Secrets Manager secret (the
/// value itself, or JSON with one of the keys [`Credential::with_keys`] names).
#[derive(Clone)]
pub struct Credential {
    what: &'static str,
    env: Option<String>,
    secret: Option<(aws_sdk_secretsmanager::Client, String)>,
    cached: Option<SecretString>,
    /// The JSON keys a secret may hold it under.
    keys: &'static [&'static str],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("env", &self.env)
            .field("secret", &self.secret.as_ref().map(|(_, arn)| arn))
            .finish_non_exhaustive()
    }
}

impl Credential {
    pub fn new(
        what: &'static str,
        env: Option<String>,
        secret_arn: Option<String>,
        client: &aws_sdk_secretsmanager::Client,
    ) -> Self {
        Self { what, env, secret: secret_arn.map(|arn| (client.clone(), arn)), cached: None, keys: TOKEN_KEYS }
    }

    /// A secret holding JSON keeps it under one of `keys` (default: `token`, `bot_token`,
    /// `SLACK_BOT_TOKEN`).
    #[must_use]
    pub fn with_keys(mut self, keys: &'static [&'static str]) -> Self {
        self.keys = keys;
        self
    }

    /// The credential: the variable's value, else the secret's (read once, again after
    /// [`Credential::forget`]). The error names where it was looked for, never a value.
    pub async fn read(&mut self) -> Result<SecretString, String> {
        if let Some(var) = &self.env {
            match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => return Ok(SecretString::from(v.trim().to_owned())),
                Err(std::env::VarError::NotUnicode(_)) => return Err(format!("{var} is not UTF-8")),
                _ => {}
            }
        }
        if let Some(c) = &self.cached {
            return Ok(c.clone());
        }
        let Some((client, arn)) = &self.secret else {
            let var = self.env.as_deref().unwrap_or("token_env");
            return Err(format!("no {}: {var} is not set", self.what));
        };
        let secret =
            client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
                format!("reading the {} from the secret {arn}: {}", self.what, crate::aws::describe(&e))
            })?;
        let text = SecretString::from(secret.secret_string().unwrap_or_default().to_owned());
        let value = value_from_secret(&text, self.keys).ok_or_else(|| {
            format!(
                "the secret {arn} holds no {} (the value itself, or JSON with a {} key)",
                self.what,
                self.keys.join(", ")
            )
        })?;
        self.cached = Some(value.clone());
        Ok(value)
    }

    /// The API refused it: read it again next time (a rotated secret).
    pub fn forget(&mut self) {
        self.cached = None;
    }
}
