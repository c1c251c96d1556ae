//! # cutover-e2e
//!
//! End-to-end material shared by the test suites and the benchmark: builders for SQS
//! message bodies in AWS's exact shapes, whole deployments as AWS sequences their events,
//! the recorded scenarios, and the large benchmark stream.
//!
//! # Layout
//! - [`shapes`]: one SQS body per AWS event kind, modelled on `shared/event-samples/`.
//! - [`ecs_standin`]: `DescribeServices` served from a scenario's timeline (the polling baseline).
//! - [`fixtures`]: the files in `event-schemas/fixtures/`.
//! - [`rollout`]: whole ECS rolling deployments (with the circuit breaker) as event sequences.
//! - [`scenarios`]: the definitions behind `tests/scenarios/*/input.jsonl`.
//! - [`stream`]: the large benchmark stream (about 200k events over 1,000 services).

// Event builders take every field AWS varies as an argument, like the events themselves.
#![allow(clippy::too_many_arguments)]

pub mod ecs_standin;
pub mod fixtures;
pub mod rollout;
pub mod scenarios;
pub mod shapes;
pub mod stream;
