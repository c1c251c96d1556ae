//! # cutover-e2e
//!
//! End-to-end material: the service under test wrapped as a binary, the polling baseline's ECS
//! stand-in, and (re-exported from `cutover-testkit`, which the correlator's tests use without
//! the service) the event builders, scenarios and benchmark stream.
//!
//! # Layout
//! - [`ecs_standin`]: `DescribeServices` served from a scenario's timeline (the polling baseline).
//! - [`sqs_standin`]: an in-memory SQS on the SDK's JSON protocol (the `serve` throughput bench).
//!
//! `fixtures`, `rollout`, `scenarios`, `shapes` and `stream` are `cutover-testkit`'s, re-exported.

pub mod ecs_standin;
pub mod sqs_standin;

pub use cutover_testkit::{fixtures, rollout, scenarios, shapes, stream};
