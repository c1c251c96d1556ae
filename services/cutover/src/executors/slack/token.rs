//! Where the Slack bot token comes from: `SLACK_BOT_TOKEN`, else the AWS Secrets Manager secret
//! `[slack] token_secret_arn` names. Read at start (an empty or unreadable token stops `serve`
//! there) and again before each retry round after Slack refused the token, so a rotated secret
//! takes effect without a restart. Errors name where the token was looked for, never its value.

use secrecy::SecretString;

/// The token's source.
#[derive(Clone)]
pub struct TokenSource {
    secret: Option<(aws_sdk_secretsmanager::Client, String)>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource").field("secret", &self.secret.as_ref().map(|(_, arn)| arn)).finish()
    }
}

/// Why no token could be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("SLACK_BOT_TOKEN is not UTF-8")]
    NotUtf8,
    #[error("SLACK_BOT_TOKEN is empty: set it to the bot token (xoxb-…), or unset it to use [slack] token_secret_arn")]
    Empty,
    #[error("no Slack token: set SLACK_BOT_TOKEN or [slack] token_secret_arn")]
    Missing,
    #[error("reading the Slack token from the secret {arn}: {cause}")]
    Secret { arn: String, cause: String },
    #[error(
        "the secret {arn} holds no Slack token (the token itself, or JSON with a token, bot_token or SLACK_BOT_TOKEN key)"
    )]
    NoTokenInSecret { arn: String },
}

impl TokenSource {
    /// The environment, then the secret `secret_arn` names (read through `client`).
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_arn: Option<String>) -> Self {
        Self { secret: secret_arn.map(|arn| (client, arn)) }
    }

    /// Reads the token now.
    pub async fn read(&self) -> Result<SecretString, TokenError> {
        match std::env::var("SLACK_BOT_TOKEN") {
            Ok(token) if token.trim().is_empty() => return Err(TokenError::Empty),
            Ok(token) => return Ok(SecretString::from(token.trim().to_owned())),
            // Never the value: it is the secret.
            Err(std::env::VarError::NotUnicode(_)) => return Err(TokenError::NotUtf8),
            Err(std::env::VarError::NotPresent) => {}
        }
        let Some((client, arn)) = &self.secret else { return Err(TokenError::Missing) };
        let secret = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| TokenError::Secret { arn: arn.clone(), cause: crate::aws::describe(&e) })?;
        let text = SecretString::from(secret.secret_string().unwrap_or_default().to_owned());
        token_from_secret(&text).ok_or_else(|| TokenError::NoTokenInSecret { arn: arn.clone() })
    }
}

/// The token in a secret's text: the text itself, or a JSON object's `token`, `bot_token` or
/// `SLACK_BOT_TOKEN`.
pub fn token_from_secret(text: &SecretString) -> Option<SecretString> {
    crate::secrets::value_from_secret(text, crate::secrets::TOKEN_KEYS)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn tokens_come_plain_or_in_json() {
        let t = |s: &str| token_from_secret(&SecretString::from(s.to_owned())).map(|t| t.expose_secret().to_owned());
        assert_eq!(t("xoxb-1"), Some("xoxb-1".into()));
        assert_eq!(t(" xoxb-1\n"), Some("xoxb-1".into()));
        assert_eq!(t(r#"{"token": "xoxb-2"}"#), Some("xoxb-2".into()));
        assert_eq!(t(r#"{"SLACK_BOT_TOKEN": "xoxb-3"}"#), Some("xoxb-3".into()));
        assert_eq!(t(r#"{"other": "x"}"#), None);
        assert_eq!(t(""), None);
    }
}
