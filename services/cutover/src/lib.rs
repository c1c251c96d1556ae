//! # cutover
//!
//! Says the moment production traffic moved to the new version of an ECS service.
//!
//! # Layout
//! - [`cli`]: the subcommands and their exit codes (`main.rs` only calls it).
//! - [`config`]: the TOML config with environment overrides, every value checked at load.
//! - [`serve`]: `cutover serve`'s wiring and shutdown.
//! - [`driver`]: the core loop: decide, journal, commit, wake the lanes, snapshot, catch up,
//!   rebuild ([`driver::recover`]).
//! - [`intake`]: SQS: long-polling receivers, and the [`intake::Queue`] that deletes,
//!   dead-letters and extends visibility.
//! - [`reconciler`]: what the AWS APIs say that events leave out: one asker per AWS service,
//!   typed errors (throttled, denied, other), the paced rounds.
//! - [`executors`]: one lane per effect (Slack, CloudFront, EventBridge, the sinks) over the
//!   outbox.
//! - [`store`]: durable state, split by caller: journal (driver), outbox and claim (lanes),
//!   Slack messages, the sinks' remembered ids, health; SQLite and DynamoDB implement all of it.
//! - [`metrics`]: one registry of every metric, rendered to `/metrics` and OTLP.
//! - [`telemetry`]: OpenTelemetry traces and the OTLP exporters.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`interact`]: Slack's signed requests (`/cutover`, clicks) in, verified before anything
//!   is read.
//! - [`socket`]: Slack's Socket Mode (the default transport of `[slack.actions]`): the same
//!   requests over an outbound WebSocket, reconnected with backoff, its state on `/readyz`.
//! - [`slack_web`]: the Slack Web API calls of [`interact`]: who is in the user groups routes
//!   name (`usergroups.users.list`, cached), ephemeral answers, the rejection's modal.
//! - [`secrets`]: credentials from the environment or Secrets Manager.
//! - [`replay`]: recorded SQS bodies through the correlator, offline.
//! - [`annotate`]: `cutover annotate`, CI's deploy annotation onto EventBridge.
//! - [`aws`]: the SDK configuration every client shares, and errors as people read them.
//! - [`clock`]: the wall clock.

pub mod annotate;
pub mod aws;
pub mod cli;
pub mod clock;
pub mod config;
pub mod driver;
pub mod executors;
pub mod http;
pub mod intake;
pub mod interact;
pub mod metrics;
pub mod reconciler;
pub mod replay;
pub mod secrets;
pub mod serve;
pub mod slack_web;
pub mod socket;
pub mod store;
pub mod telemetry;
