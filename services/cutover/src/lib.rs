//! # cutover
//!
//! Says the moment production traffic moved to the new version of an ECS service.
//!
//! # Layout
//! - [`annotate`]: `cutover annotate`, CI's deploy annotation onto EventBridge.
//! - [`cli`]: the subcommands and their exit codes (`main.rs` only calls it).
//! - [`config`]: the TOML config with environment overrides.
//! - [`driver`]: the core loop: decide, journal, commit, wake the lanes, snapshot, catch up,
//!   rebuild ([`driver::recover`]).
//! - [`reconciler`]: what the AWS APIs say that events leave out.
//! - [`replay`]: recorded SQS bodies through the correlator, offline.
//! - [`store`]: durable state: journal, snapshots, outbox (SQLite).
//! - [`telemetry`]: OpenTelemetry traces and metrics (OTLP/HTTP).

pub mod annotate;
pub mod aws;
pub mod cli;
pub mod config;
pub mod driver;
pub mod executors;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod reconciler;
pub mod replay;
pub mod serve;
pub mod store;
pub mod telemetry;
