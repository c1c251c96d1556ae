//! # cutover-events
//!
//! Serde types for every AWS event Cutover consumes and every event it emits.
//!
//! # Layout
//! - [`inbound`]: one SQS message body → [`inbound::Inbound`] (EventBridge, SNS, raw
//!   CodeDeploy trigger), or a [`inbound::Malformed`] reason.
//! - [`ecs`], [`codedeploy`], [`codepipeline`]: the event details, modelled on the
//!   published samples (see `shared/event-samples/SOURCES.md`).
//! - [`sns`]: the SNS envelope in its SQS and Lambda casings.
//! - [`emitted`]: the lifecycle events Cutover emits, a public contract.
//! - [`annotation`]: the deploy annotation CI sends (`cutover annotate`), a public contract.
//! - [`shapes`]: the times and ids a true message has; what `replay` and the intake admit.
//! - [`time`]: AWS time in its four wire forms, written back as RFC 3339 with milliseconds.
//! - [`canonical`]: sorted-key JSON, so output bytes never depend on build features.
//! - [`wire`]: the wire quirks: states with an `Unknown` fallback, numbers as strings,
//!   JSON-encoded objects inside strings.

pub mod annotation;
pub mod canonical;
pub mod codedeploy;
pub mod codepipeline;
pub mod ecs;
pub mod emitted;
pub mod inbound;
pub mod shapes;
pub mod sns;
pub mod time;
pub mod wire;

pub use inbound::{Event, Inbound, Malformed, Origin, parse_body};
pub use shapes::parse_body_at;
pub use time::Timestamp;
