//! The Slack Web API calls of `[slack.actions]`, with the bot token: who is in the user groups
//! the routes name as `approvers` or `operators` ([`UserGroups`]: `usergroups.users.list`, each
//! group's members kept for `usergroup_cache_secs`), and [`SlackWeb`]: the ephemeral answer to
//! a click (`chat.postEphemeral`) and the rejection's modal (`views.open`).
//!
//! A request to act is journaled with the groups its user was found in ([`UserGroups::of`]),
//! so a rebuild from the journal decides what was decided then, whoever is in the group now.
//! A group Slack will not list (a missing `usergroups:read` scope, an id that is not a group,
//! no answer) counts as having nobody in it: acting is refused rather than allowed on a guess.
//! Members read before are used while Slack does not answer, until twice the cache's time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::*;

use crate::executors::slack::{Connector, SlackSetupError, client};

/// The groups of `[slack.actions]`, and what Slack said of each.
pub struct UserGroups {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    /// Every user-group id a route names.
    named: Vec<String>,
    ttl: Duration,
    timeout: Duration,
    members: tokio::sync::Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl std::fmt::Debug for UserGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("UserGroups").field("named", &self.named).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl UserGroups {
    /// `named`: the group ids (`S…`) the routes name; none means no call is ever made.
    pub fn new(
        api_url: &str,
        token: &SecretString,
        named: Vec<String>,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Self, SlackSetupError> {
        Ok(Self {
            client: client(api_url)?,
            token: SlackApiToken::new(SlackApiTokenValue(token.expose_secret().to_owned())),
            named,
            ttl,
            timeout,
            members: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The groups the routes name that `user` is in.
    pub async fn of(&self, user: &str) -> Vec<String> {
        let mut of = Vec::new();
        for group in &self.named {
            if self.members(group).await.iter().any(|m| m == user) {
                of.push(group.clone());
            }
        }
        of
    }

    /// A group's members: cached while fresh, else asked; while Slack does not answer, what it
    /// said before (up to twice the cache's time), else nobody.
    async fn members(&self, group: &str) -> Vec<String> {
        let now = Instant::now();
        let mut cache = self.members.lock().await;
        if let Some((at, members)) = cache.get(group)
            && now.duration_since(*at) < self.ttl
        {
            return members.clone();
        }
        let request = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group.to_owned()));
        let session = self.client.open_session(&self.token);
        let asked = tokio::time::timeout(self.timeout, session.usergroups_users_list(&request)).await;
        match asked {
            Ok(Ok(answer)) => {
                let members: Vec<String> = answer.users.into_iter().map(|u| u.0).collect();
                tracing::debug!(message = "Read a user group's members.", usergroup = %group, members = members.len());
                cache.insert(group.to_owned(), (now, members.clone()));
                members
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => crate::executors::slack::describe(&e),
                    _ => "no answer in time".to_owned(),
                };
                tracing::warn!(message = "Slack did not list a user group's members: only those it listed lately may act as its members.", usergroup = %group, %error);
                match cache.get(group) {
                    Some((at, members)) if now.duration_since(*at) < self.ttl * 2 => members.clone(),
                    _ => Vec::new(),
                }
            }
        }
    }
}

/// The Slack Web API calls of `[slack.actions]` besides the groups: the ephemeral answer to a
/// click (`chat.postEphemeral`: a click's HTTP answer is not shown to anyone).
pub struct SlackWeb {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    timeout: Duration,
}

impl std::fmt::Debug for SlackWeb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackWeb").finish_non_exhaustive()
    }
}

impl SlackWeb {
    pub fn new(api_url: &str, token: &SecretString, timeout: Duration) -> Result<Self, SlackSetupError> {
        Ok(Self {
            client: client(api_url)?,
            token: SlackApiToken::new(SlackApiTokenValue(token.expose_secret().to_owned())),
            timeout,
        })
    }

    /// `text` for `user` alone, in `channel`. A failure is logged (the decision stands; it is
    /// in the journal, the thread and the log either way).
    pub async fn ephemeral(&self, channel: &str, user: &str, text: &str) {
        let request = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackUserId(user.to_owned()),
            SlackMessageContent::new().with_text(text.to_owned()),
        );
        let session = self.client.open_session(&self.token);
        match tokio::time::timeout(self.timeout, session.chat_post_ephemeral(&request)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(
                message = "Slack did not take an ephemeral answer to a click.",
                channel = %channel,
                user_id = %user,
                error = %crate::executors::slack::describe(&e)
            ),
            Err(_) => {
                tracing::warn!(message = "Slack did not answer in time to an ephemeral answer to a click.", channel = %channel, user_id = %user)
            }
        }
    }
}

/// The modal a Reject button opens: a comment, then Reject. What the view carries back
/// (`private_metadata`) names the approval and the message clicked.
pub const REJECT_CALLBACK: &str = "cutover.reject";

impl SlackWeb {
    /// Opens the rejection's modal for `trigger_id` (Slack wants it within 3 s of the click).
    /// `private_metadata` comes back with the submission.
    pub async fn open_reject(&self, trigger_id: &str, title: &str, private_metadata: String) -> bool {
        let comment = SlackInputBlock::new(
            SlackBlockPlainTextOnly::from("Why (the pipeline keeps it with the rejection)".to_owned()),
            SlackInputBlockElement::PlainTextInput(
                SlackBlockPlainTextInputElement::new()
                    .with_action_id(SlackActionId("comment".to_owned()))
                    .with_multiline(true)
                    .with_max_length(400),
            ),
        )
        .with_block_id(SlackBlockId("comment".to_owned()));
        let intro =
            SlackSectionBlock::new().with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(title.to_owned())));
        let view = SlackModalView::new(
            SlackBlockPlainTextOnly::from("Reject the approval".to_owned()),
            vec![intro.into(), comment.into()],
        )
        .with_submit(SlackBlockPlainTextOnly::from("Reject".to_owned()))
        .with_close(SlackBlockPlainTextOnly::from("Cancel".to_owned()))
        .with_callback_id(SlackCallbackId(REJECT_CALLBACK.to_owned()))
        .with_private_metadata(private_metadata);
        let request = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.to_owned()), SlackView::Modal(view));
        let session = self.client.open_session(&self.token);
        match tokio::time::timeout(self.timeout, session.views_open(&request)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::warn!(message = "Slack did not open the rejection's modal.", error = %crate::executors::slack::describe(&e));
                false
            }
            Err(_) => {
                tracing::warn!(message = "Slack did not answer in time to open the rejection's modal.");
                false
            }
        }
    }
}
