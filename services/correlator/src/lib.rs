//! # cutover-correlator
//!
//! The pure deployment state machine, Cutover's equivalent of `quinn-proto`: no tokio, no
//! AWS SDK, no clock, no IO. Parsed messages (and the reconciler's observations) go in with
//! `now`; lifecycle decisions come out as plain [`Action`]s, deterministically: the same
//! inputs in the same order give the same actions, byte for byte.
//!
//! ```text
//! Input ──► facts::normalise ──► evidence per deployment ──► settle ──► Vec<Action>
//! ```
//!
//! # Layout
//! - [`correlator`]: [`Correlator::handle`] / [`Correlator::handle_timeout`] /
//!   [`Correlator::next_timeout`] / [`Correlator::wanted`] and the decisions; a folder of rooms,
//!   each owning its records and rules (input, evidence, held, census, aliases, rollback,
//!   pipelines, annotations, context, retention, wanted, status).
//! - [`facts`]: typed events → normalised facts with their AWS time, or "irrelevant".
//! - [`deployment`]: one deployment's identity, evidence and decided steps.
//! - [`action`]: the decided actions (`emit`, `slack.*`, `cloudfront.invalidate`).
//! - [`invariants`]: the lifecycle rules every run keeps (checked by tests and the fuzzer).
//! - [`routing`]: routes, invalidation rules, sinks, who may act where, and their globs
//!   (config data).
//! - `shared`: strings the state holds many times over (task ARNs, the deployments and task
//!   definitions they name, service keys), kept once.
//! - [`slack`]: everything written in Slack, no decisions: the message of a deployment
//!   (Block Kit + text, every event value escaped, fitted to Block Kit's limits), its
//!   templates (minijinja), and the words of its thread replies.

pub mod action;
pub mod correlator;
pub mod deployment;
pub mod facts;
pub mod invariants;
pub mod routing;
mod shared;
pub mod slack;

pub use action::Action;
pub use correlator::{
    ActionStructure, ActionTarget, ActionWanted, CensusRequest, CensusTask, Correlator, InFlight, Input,
    InvalidationWanted, NativeStatus, Observation, StageStructure, State, Stats, Wanted,
};
pub use deployment::ImageLabels;
pub use facts::{CodeDeployChange, CodeDeployFact, EcsDeploymentChange};
pub use routing::Routing;
