//! Everything Cutover writes in Slack, and nothing it decides: the living message of a
//! deployment (its template context, the templates, Block Kit's limits) and the words of its
//! thread replies. Each takes what the correlator decided and gives text; every value that came
//! from an event is escaped for mrkdwn here, and mentions are built only from config ids.
//!
//! - [`message`]: the message's context, Block Kit blocks and text, escaping and fitting.
//! - [`templates`]: the message templates (minijinja), the default rendered natively.
//! - [`wording`]: the thread replies (traffic steps, failures, rollbacks, invalidations).
//! - [`approval`]: the message of a pipeline's manual approval, its warnings and its decision.

pub mod approval;
pub mod message;
pub mod templates;
pub mod wording;
